"""Parsing IAM policy documents in every shape AWS returns them."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from phantomkeys.core.policy import (
    Condition,
    Effect,
    Policy,
    PolicyKind,
    PolicyParseError,
    StatementRef,
    parse_policy,
)

# The inline policy the Bedrock console adds under "Advanced permissions", as
# GetAccountAuthorizationDetails returns it: RFC 3986 URL-encoded JSON.
DOC = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "InvokeClaude",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*",
            "Condition": {
                "StringEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]},
                "Bool": {"aws:SecureTransport": True},
                "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
            },
        },
        {
            "Effect": "Deny",
            "NotAction": "bedrock:*",
            "NotResource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
            "Principal": {"AWS": "*"},
        },
    ],
}


def _check(policy: Policy) -> None:
    assert policy.name == "inline:BedrockAPIKey-hr8l/extra"
    assert policy.kind is PolicyKind.INLINE
    assert policy.version == "2012-10-17"
    first, second = policy.statements
    assert first.sid == "InvokeClaude"
    assert first.effect is Effect.ALLOW
    assert first.actions == ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
    assert first.not_actions == ()
    assert first.resources == ("arn:aws:bedrock:*::foundation-model/anthropic.*",)
    assert first.conditions == (
        Condition("StringEquals", "aws:RequestedRegion", ("us-east-1", "us-west-2")),
        Condition("Bool", "aws:SecureTransport", ("true",)),
        Condition("NumericLessThan", "aws:MultiFactorAuthAge", ("3600",)),
    )
    assert first.conditional
    assert not second.conditional
    assert second.sid is None
    assert second.index == 1
    assert second.effect is Effect.DENY
    assert second.not_actions == ("bedrock:*",)
    assert second.not_resources == ("arn:aws:s3:::logs", "arn:aws:s3:::logs/*")
    assert second.resources == ()


@pytest.mark.parametrize(
    "document",
    [
        DOC,
        json.dumps(DOC),
        json.dumps(DOC, indent=2).encode(),
        quote(json.dumps(DOC), safe=""),  # GetAccountAuthorizationDetails
        quote(json.dumps(DOC, indent=4), safe="-_.~"),
        json.dumps(json.dumps(DOC)),  # double-encoded string
    ],
    ids=["dict", "json", "bytes", "url-encoded", "url-encoded-indented", "double-encoded"],
)
def test_parse_every_shape(document: object) -> None:
    policy = Policy.parse(
        document,
        name="inline:BedrockAPIKey-hr8l/extra",  # type: ignore[arg-type]
        kind="inline",
    )
    _check(policy)


def test_single_statement_object_and_string_elements() -> None:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
        },
        name="p",
        kind=PolicyKind.MANAGED,
        via="DataScientists",
    )
    (st,) = policy.statements
    assert st.actions == ("iam:PassRole",)
    assert st.resources == ("*",)
    assert policy.via == "DataScientists"
    ref = StatementRef.of(policy, st)
    assert ref.label == "p#statement-1"
    assert ref.via == "DataScientists"
    assert ref.to_dict()["resources"] == ["*"]


def test_version_defaults_to_2008_which_disables_variables() -> None:
    policy = parse_policy(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        name="old",
        kind="managed",
    )
    assert policy.version == "2008-10-17"


def test_scp_without_resource_is_lenient_but_strict_mode_refuses() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "bedrock:CallWithBearerToken"}],
    }
    assert parse_policy(doc, name="scp", kind="scp").statements[0].resources == ("*",)
    with pytest.raises(PolicyParseError, match="needs Resource or NotResource"):
        parse_policy(doc, name="scp", kind="scp", strict=True)
    with pytest.raises(PolicyParseError, match="needs Resource or NotResource"):
        parse_policy(doc, name="inline", kind="inline")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "empty policy document"),
        ("{not json", "not valid JSON"),
        ("%7Bnot%20json", "also after URL-decoding"),
        ("[1, 2]", "expected a JSON object"),
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Version": "2019-01-01", "Statement": []}, "unsupported Version"),
        ({"Statement": "nope"}, "Statement must be an object or a list"),
        ({"Statement": ["nope"]}, "statement 1: a statement must be an object"),
        (
            {"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]},
            "Effect must be Allow or Deny",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
            "needs exactly one of Action or NotAction",
        ),
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"}
                ]
            },
            "needs exactly one of Action or NotAction",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]},
            "Action is an empty list",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": [3], "Resource": "*"}]},
            "Action entries must be non-empty strings",
        ),
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "x"}
                ]
            },
            "both Resource and NotResource",
        ),
        (
            {
                "Statement": [
                    {
                        "Sid": "S1",
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": "x"},
                    }
                ]
            },
            "statement 'S1': Condition operator 'StringEquals' must map",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"k": {"nested": 1}}},
                    }
                ]
            },
            "condition values must be strings",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"k": []}},
                    }
                ]
            },
            "has no values",
        ),
    ],
)
def test_parse_errors_say_why(document: object, message: str) -> None:
    with pytest.raises(PolicyParseError, match=message) as info:
        parse_policy(
            document,
            name="arn:aws:iam::123456789012:policy/Broken",  # type: ignore[arg-type]
            kind="managed",
        )
    assert "policy arn:aws:iam::123456789012:policy/Broken" in str(info.value)


def test_strict_mode_rejects_unknown_elements_and_bare_actions() -> None:
    typo = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Conditon": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    assert parse_policy(typo, name="p", kind="scp").statements[0].conditions == ()
    with pytest.raises(PolicyParseError, match="unknown element"):
        parse_policy(typo, name="p", kind="scp", strict=True)
    bare = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "bedrock", "Resource": "*"}],
    }
    with pytest.raises(PolicyParseError, match="no service prefix"):
        parse_policy(bare, name="p", kind="scp", strict=True)


def test_parsed_policies_are_hashable_values() -> None:
    a = parse_policy(DOC, name="x", kind="inline")
    b = parse_policy(json.dumps(DOC), name="x", kind="inline")
    assert a == b
    assert hash(a) == hash(b)
    assert a != parse_policy(DOC, name="y", kind="inline")
