"""Property tests: wildcard semantics against reference implementations, and the
set-based effective permissions against the per-request evaluator."""

from __future__ import annotations

import fnmatch
import itertools
import json
from typing import Any, ClassVar
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from phantomkeys.core.policy import (
    Decision,
    Policy,
    Request,
    action_matches,
    effective_permissions,
    evaluate,
    parse_policy,
    wildcard_match,
)

# ------------------------------------------------------------ wildcards

# fnmatch treats "[" as a character class; IAM does not, so keep it out of the
# comparison alphabet (test_policy_conditions checks brackets are literal).
_TEXT = st.text(alphabet="ab:/-", max_size=8)
_PATTERN = st.text(alphabet="ab:/-*?", max_size=6)


@given(_PATTERN, _TEXT)
def test_wildcard_match_agrees_with_fnmatch(pattern: str, text: str) -> None:
    assert wildcard_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


@given(st.text(alphabet="aAbB:*?", max_size=6), st.text(alphabet="aAbB:", max_size=8))
def test_action_match_is_case_insensitive_fnmatch(pattern: str, action: str) -> None:
    assert action_matches(pattern, action) == fnmatch.fnmatchcase(action.lower(), pattern.lower())


# A literal-only alphabet for the language checks; "c" stands for "anything else".
_SMALL = st.text(alphabet="ab*?", min_size=1, max_size=3)


def _strings(max_len: int) -> list[str]:
    return ["".join(p) for n in range(max_len + 1) for p in itertools.product("abc", repeat=n)]


def _p(*statements: dict[str, Any]) -> Policy:
    return parse_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, name="p", kind="inline"
    )


@settings(max_examples=150, deadline=None)
@given(_SMALL, _SMALL)
def test_some_resource_question_is_pattern_intersection(granted: str, asked: str) -> None:
    """Request(resource=<pattern>) asks "some resource matching it": allowed exactly
    when a string matches both patterns (brute force over short strings)."""
    bound = len(granted) + len(asked) + 1
    witness = any(
        fnmatch.fnmatchcase(s, granted) and fnmatch.fnmatchcase(s, asked) for s in _strings(bound)
    )
    result = evaluate(
        Request("s3:GetObject", asked),
        identity=[_p({"Effect": "Allow", "Action": "s3:GetObject", "Resource": granted})],
    )
    assert result.allowed is witness


@settings(max_examples=150, deadline=None)
@given(_SMALL, st.lists(_SMALL, min_size=1, max_size=2))
def test_deny_is_total_exactly_when_it_covers_the_question(asked: str, denied: list[str]) -> None:
    bound = len(asked) + sum(map(len, denied)) + 1
    escapes = any(
        fnmatch.fnmatchcase(s, asked) and not any(fnmatch.fnmatchcase(s, d) for d in denied)
        for s in _strings(bound)
    )
    result = evaluate(
        Request("s3:GetObject", asked),
        identity=[
            _p(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:*", "Resource": denied},
            )
        ],
    )
    assert result.decision is (Decision.ALLOWED if escapes else Decision.EXPLICIT_DENY)
    if escapes:
        assert bool(result.partial_denies) == any(
            fnmatch.fnmatchcase(s, asked) and fnmatch.fnmatchcase(s, d)
            for s in _strings(bound)
            for d in denied
        )


# ------------------------------------------------------ parse round trip

_ACTIONS = [
    "*",
    "bedrock:*",
    "bedrock:Get*",
    "bedrock:InvokeModel",
    "iam:*",
    "iam:Get*",
    "iam:PassRole",
    "s3:*Object",
    "s3:GetObject",
    "s3:ListBucket",
    "kms:Describe*",
    "unknownsvc:DoThing",
]
_RESOURCES = [
    "*",
    "arn:aws:s3:::bucket",
    "arn:aws:s3:::bucket/*",
    "arn:aws:bedrock:*::foundation-model/*",
    "arn:aws:iam::*:role/*",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:*:kms:*:::*",
]
_CONDITIONS = [
    None,
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"aws:RequestedRegion": ["us-east-1"]}},
]


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    acts = draw(st.lists(st.sampled_from(_ACTIONS), min_size=1, max_size=3))
    stmt["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = acts
    res = draw(st.lists(st.sampled_from(_RESOURCES), min_size=1, max_size=2))
    stmt["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = res
    cond = draw(st.sampled_from(_CONDITIONS))
    if cond:
        stmt["Condition"] = cond
    return stmt


def _policy(stmts: list[dict[str, Any]], name: str, kind: str = "inline") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": stmts}, name=name, kind=kind)


@given(st.lists(statements(), min_size=1, max_size=4))
def test_parse_round_trips_through_json_and_url_encoding(stmts: list[dict[str, Any]]) -> None:
    doc = {"Version": "2012-10-17", "Statement": stmts}
    direct = parse_policy(doc, name="x", kind="inline")
    assert parse_policy(json.dumps(doc), name="x", kind="inline") == direct
    assert parse_policy(quote(json.dumps(doc), safe=""), name="x", kind="inline") == direct


# --------------------------------- effective permissions == evaluate, per action


class SmallCatalog:
    """A five-service catalog with real ARN formats: fast enough for hypothesis."""

    ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "bedrock:InvokeModel": (
            "arn:${Partition}:bedrock:${Region}::foundation-model/${ResourceId}",
        ),
        "bedrock:GetGuardrail": (
            "arn:${Partition}:bedrock:${Region}:${Account}:guardrail/${GuardrailId}",
        ),
        "bedrock:ListFoundationModels": (),
        "bedrock:CallWithBearerToken": (),
        "iam:PassRole": ("arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",),
        "iam:GetUser": ("arn:${Partition}:iam::${Account}:user/${UserNameWithPath}",),
        "iam:CreateAccessKey": ("arn:${Partition}:iam::${Account}:user/${UserNameWithPath}",),
        "iam:ListRoles": (),
        "s3:GetObject": ("arn:${Partition}:s3:::${BucketName}/${ObjectName}",),
        "s3:ListBucket": ("arn:${Partition}:s3:::${BucketName}",),
        "s3:ListAllMyBuckets": (),
        "kms:DescribeKey": ("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",),
        "kms:Decrypt": ("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",),
    }

    def expand(self, pattern: str) -> frozenset[str]:
        p = pattern.strip()
        if ":" not in p and p != "*":
            return frozenset()
        return frozenset(a for a in self.ACTIONS if action_matches(p, a))

    def resource_arn_formats(self, action: str) -> tuple[str, ...] | None:
        for a, formats in self.ACTIONS.items():
            if a.lower() == action.strip().lower():
                return formats
        return None


_CATALOG = SmallCatalog()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(statements(), min_size=1, max_size=3), min_size=1, max_size=2),
    st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2)),
    st.lists(st.lists(statements(), min_size=1, max_size=2), max_size=2),
)
def test_effective_permissions_agree_with_evaluate(
    identity_docs: list[list[dict[str, Any]]],
    boundary_doc: list[dict[str, Any]] | None,
    scp_docs: list[list[dict[str, Any]]],
) -> None:
    identity = [_policy(d, f"id{i}") for i, d in enumerate(identity_docs)]
    boundary = _policy(boundary_doc, "boundary", "boundary") if boundary_doc else None
    scps = [[_policy(d, f"scp{i}", "scp")] for i, d in enumerate(scp_docs)]
    perms = effective_permissions(identity, boundary=boundary, scps=scps, catalog=_CATALOG)
    actions = list(SmallCatalog.ACTIONS)
    # Actions the catalog does not know are covered when a policy names them.
    if "unknownsvc:DoThing" in json.dumps([identity_docs, boundary_doc, scp_docs]):
        actions.append("unknownsvc:DoThing")
    for action in actions:
        single = evaluate(
            Request(action), identity=identity, boundary=boundary, scps=scps, catalog=_CATALOG
        )
        assert perms.decision(action).allowed == single.allowed, action
        if single.allowed:
            assert perms.decision(action) is single.decision
            assert perms.granted_by(action) == single.allowed_by
