"""IAM policy parsing and effective-permission evaluation, offline and pure.

The evaluation follows AWS's documented order for a request inside one account
(IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
and "How AWS enforcement code logic evaluates requests",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html);
nccgroup/PMapper's ``querying/query_interface.py`` walks the same order:

1. an explicit ``Deny`` in any policy (identity, boundary, any SCP) wins;
2. SCPs: *every* level of the Organization path (root, each OU, the account)
   must allow the action;
3. the permissions boundary, when present, must allow it;
4. an identity policy (attached managed, inline, group) must allow it.

Resource-based and session policies are out of scope: the scan asks what an
IAM user's own credentials can do.

Three-valued answers
--------------------
A :class:`Request` without a context means "the request context is unknown":
every ``Condition`` is *unknown*, so a conditional ``Allow`` yields
:attr:`Decision.CONDITIONAL` and a conditional ``Deny`` does not deny but is
reported in :attr:`Result.conditional_denies` (and makes an allow conditional).
With a context, conditions are evaluated exactly (see :func:`evaluate_condition`).
``context_is_complete=False`` evaluates the keys given and treats every other
key as unknown (used for "a long-term key calls CallWithBearerToken").

Resources
---------
``Request.resource`` is one of:

* a concrete ARN: statements match it exactly (IAM globbing, case-sensitive);
* ``"*"`` (the default): "some resource this action can act on". The catalog
  gives the action's resource ARN formats (``arn:${Partition}:kms:${Region}:
  ${Account}:key/${KeyId}``; each placeholder stands for one or more
  characters, without ``:`` except in object keys and paths, so the
  ``arn:*:kms:*:::*`` of AmazonBedrockLimitedAccess matches no key). Without a
  catalog, "some resource" is any string. An action with no resource types is
  evaluated against the
  literal resource ``*``, as AWS does. An ``Allow`` matches when one of its
  ``Resource`` patterns can match one of those ARNs (so ``s3:*`` on
  ``arn:aws:s3:::bucket`` grants bucket actions but not object actions, and
  ``Resource: arn:aws:s3:::b/*`` grants nothing for ``iam:ListRoles``). The
  statement still grants the action *on those resources only*: its
  :attr:`StatementRef.resources` says which. A ``Deny`` denies the action only
  when its patterns cover *every* resource of the action; a deny that covers
  some resources is listed in :attr:`Result.partial_denies`, and an allow whose
  resources are entirely covered by unconditional denies no longer counts.
  Resource scopes of different layers (SCP vs boundary vs identity) are not
  intersected with each other: the answer may over-state what is allowed,
  never under-state it;
* a pattern with ``*``/``?`` (``arn:aws:s3:::reports/*``): "some resource
  matching it".

Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``,
``${*}``) are resolved from the context in ``2012-10-17`` policies. When the
context does not give them, a pattern is *unknown* for a concrete ARN; for a
"some resource" question, a pattern that only uses keys every IAM user request
carries (``aws:username``, ``aws:userid``, ``aws:PrincipalArn`` …) certainly
reaches one resource: the user's own (``user/${aws:username}``).

Performance: :func:`evaluate` and :func:`effective_permissions` are memoised on
their (hashable, frozen) inputs, so 1,000 identities sharing one policy set
cost one evaluation; :func:`effective_permissions` also shares work between
policy sets that differ only in policy names (per-user inline policies).
:func:`clear_caches` empties the memos.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from functools import lru_cache, partial
from itertools import chain
from types import MappingProxyType
from typing import Any, Protocol, cast, runtime_checkable
from urllib.parse import unquote

from phantomkeys.core.timeparse import parse_iso_or_none

__all__ = [
    "ActionCatalog",
    "Condition",
    "Decision",
    "Effect",
    "EffectivePermissions",
    "Policy",
    "PolicyKind",
    "PolicyParseError",
    "Request",
    "ResourceCatalog",
    "Result",
    "Statement",
    "StatementRef",
    "Truth",
    "action_matches",
    "clear_caches",
    "effective_permissions",
    "evaluate",
    "evaluate_condition",
    "parse_policy",
    "wildcard_match",
]


# ---------------------------------------------------------------- catalog seam


@runtime_checkable
class ActionCatalog(Protocol):
    """What the engine needs from an IAM action catalog (``phantomkeys.catalog.IamCatalog``).

    ``expand`` returns canonical ``service:Action`` names for a pattern,
    case-insensitively; ``expand("*")`` is every known action.
    """

    def expand(self, pattern: str) -> frozenset[str]: ...


@runtime_checkable
class ResourceCatalog(ActionCatalog, Protocol):
    """A catalog that also knows each action's resource ARN formats.

    ``resource_arn_formats`` returns ``()`` for an action without resource
    types (evaluated against ``*``) and ``None`` for an unknown action.
    """

    def resource_arn_formats(self, action: str) -> tuple[str, ...] | None: ...


# ------------------------------------------------------------------ the model


class PolicyKind(StrEnum):
    MANAGED = "managed"
    INLINE = "inline"
    GROUP_MANAGED = "group-managed"
    GROUP_INLINE = "group-inline"
    BOUNDARY = "boundary"
    SCP = "scp"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(StrEnum):
    ALLOWED = "allowed"
    #: Allowed only if some condition holds, or a conditional deny might apply.
    CONDITIONAL = "conditional"
    IMPLICIT_DENY = "implicit-deny"
    EXPLICIT_DENY = "explicit-deny"

    @property
    def allowed(self) -> bool:
        """True for ALLOWED and CONDITIONAL (the capability exists, maybe conditionally)."""
        return self in (Decision.ALLOWED, Decision.CONDITIONAL)


class Truth(IntEnum):
    """Kleene three-valued logic: AND is ``min``, OR is ``max``."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2

    def negate(self) -> Truth:
        return Truth(2 - self.value)


class PolicyParseError(ValueError):
    """A policy document could not be read; the message says why and where."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``operator: {key: values}`` entry of a statement's ``Condition``."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement. Exactly one of ``actions``/``not_actions`` is non-empty, same for
    ``resources``/``not_resources``. ``index`` is the 0-based position in the policy."""

    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]
    index: int

    @property
    def conditional(self) -> bool:
        return bool(self.conditions)


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy. ``name`` labels it in reports: the policy ARN for managed
    policies, ``inline:<user>/<PolicyName>`` for inline ones; ``via`` names the
    group a group policy comes from."""

    name: str
    kind: PolicyKind
    statements: tuple[Statement, ...]
    via: str | None = None
    #: ``2012-10-17`` enables policy variables (``${aws:username}``); with
    #: ``2008-10-17`` (the default when Version is omitted) they are literal text.
    version: str = "2012-10-17"
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # Policies key every memoised evaluation: hash the statements once, not per lookup.
        h = self._hash
        if h is None:
            h = hash((self.name, self.kind, self.statements, self.via, self.version))
            object.__setattr__(self, "_hash", h)
        return h

    @classmethod
    def parse(
        cls,
        document: str | bytes | Mapping[str, Any],
        *,
        name: str,
        kind: PolicyKind | str,
        via: str | None = None,
        strict: bool = False,
    ) -> Policy:
        return parse_policy(document, name=name, kind=kind, via=via, strict=strict)

    def refs(self) -> tuple[StatementRef, ...]:
        return tuple(StatementRef.of(self, s) for s in self.statements)


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Where a decision came from, citable in a report."""

    policy: str
    kind: PolicyKind
    index: int
    sid: str | None
    effect: Effect
    via: str | None
    conditional: bool
    #: The statement's ``Resource`` patterns, or its ``NotResource`` patterns
    #: when ``not_resource`` is true.
    resources: tuple[str, ...]
    not_resource: bool = False

    @classmethod
    def of(cls, policy: Policy, st: Statement) -> StatementRef:
        return cls(
            policy=policy.name,
            kind=policy.kind,
            index=st.index,
            sid=st.sid,
            effect=st.effect,
            via=policy.via,
            conditional=st.conditional,
            resources=st.resources or st.not_resources,
            not_resource=bool(st.not_resources),
        )

    @property
    def label(self) -> str:
        """``<policy>#<Sid>``, or ``<policy>#statement-<n>`` (1-based) without a Sid."""
        if self.sid:
            return f"{self.policy}#{self.sid}"
        return f"{self.policy}#statement-{self.index + 1}"

    def __str__(self) -> str:
        return self.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "kind": self.kind.value,
            "sid": self.sid,
            "index": self.index,
            "effect": self.effect.value,
            "via": self.via,
            "conditional": self.conditional,
            "resources": list(self.resources),
            "not_resource": self.not_resource,
        }


def _freeze_context(
    context: Mapping[str, Sequence[str] | str] | None,
) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    if context is None:
        return None
    out: dict[str, tuple[str, ...]] = {}
    for key, values in context.items():
        vals = (values,) if isinstance(values, str) else tuple(str(v) for v in values)
        out[key.strip().lower()] = out.get(key.strip().lower(), ()) + vals
    return tuple(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization question: may the principal call ``action`` on ``resource``?

    ``context`` maps condition keys (any case) to their values; ``None`` means
    the context is unknown. See the module docstring for ``resource``.
    """

    action: str
    resource: str = "*"
    context: Mapping[str, Sequence[str]] | None = field(default=None, compare=False, hash=False)
    #: False: keys absent from ``context`` are unknown rather than missing.
    context_is_complete: bool = True
    _context: tuple[tuple[str, tuple[str, ...]], ...] | None = field(
        init=False, repr=False, default=None
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_context", _freeze_context(self.context))

    def context_values(self) -> Mapping[str, tuple[str, ...]] | None:
        return None if self._context is None else dict(self._context)


@dataclass(frozen=True, slots=True)
class Result:
    request: Request
    decision: Decision
    #: Identity statements that allow the request (conditional ones flagged).
    allowed_by: tuple[StatementRef, ...] = ()
    #: Deny statements that decided EXPLICIT_DENY.
    denied_by: tuple[StatementRef, ...] = ()
    #: Deny statements that apply only if a condition holds.
    conditional_denies: tuple[StatementRef, ...] = ()
    #: Deny statements that cover some, not all, of the resources asked about.
    partial_denies: tuple[StatementRef, ...] = ()
    #: Layers with no allow: ``scp-level-1`` (root) …, ``boundary``, ``identity``.
    missing_allow: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def conditional(self) -> bool:
        return self.decision is Decision.CONDITIONAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.request.action,
            "resource": self.request.resource,
            "decision": self.decision.value,
            "allowed_by": [r.label for r in self.allowed_by],
            "denied_by": [r.label for r in self.denied_by],
            "conditional_denies": [r.label for r in self.conditional_denies],
            "partial_denies": [r.label for r in self.partial_denies],
            "missing_allow": list(self.missing_allow),
        }


# -------------------------------------------------------------------- parsing

_VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
        "NotPrincipal",
    }
)
_DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})


def _load_document(document: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        return document
    if isinstance(document, bytes | bytearray):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyParseError(f"not UTF-8 text ({exc.reason})") from None
    if not isinstance(document, str):
        raise PolicyParseError(f"expected a JSON object, got {type(document).__name__}")
    text = document.strip()
    if not text:
        raise PolicyParseError("empty policy document")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as first:
        # GetAccountAuthorizationDetails and Get*Policy return RFC 3986
        # URL-encoded documents (IAM API reference, "PolicyDocument").
        if "%" not in text:
            raise PolicyParseError(f"not valid JSON: {first.msg} at line {first.lineno}") from None
        try:
            loaded = json.loads(unquote(text))
        except json.JSONDecodeError as exc:
            raise PolicyParseError(
                f"not valid JSON (also after URL-decoding): {exc.msg} at line {exc.lineno}"
            ) from None
    if isinstance(loaded, str):  # double-encoded JSON string
        return _load_document(loaded)
    if not isinstance(loaded, Mapping):
        raise PolicyParseError(f"expected a JSON object, got {type(loaded).__name__}")
    return loaded


def _string_list(value: object, element: str, where: str) -> tuple[str, ...]:
    items: Iterable[object]
    if isinstance(value, str):
        items = (value,)
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise PolicyParseError(f"{where}: {element} must be a string or a list of strings")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise PolicyParseError(f"{where}: {element} entries must be non-empty strings")
        out.append(item.strip())
    if not out:
        raise PolicyParseError(f"{where}: {element} is an empty list")
    return tuple(out)


def _condition_value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise PolicyParseError(f"{where}: condition values must be strings, numbers or booleans")


def _parse_conditions(raw: object, where: str) -> tuple[Condition, ...]:
    if not isinstance(raw, Mapping):
        raise PolicyParseError(f"{where}: Condition must be an object")
    out = []
    for operator, block in raw.items():
        if not isinstance(block, Mapping) or not block:
            raise PolicyParseError(
                f"{where}: Condition operator {operator!r} must map condition keys to values"
            )
        for key, values in block.items():
            if not isinstance(key, str) or not key:
                raise PolicyParseError(f"{where}: empty condition key under {operator!r}")
            seq = values if isinstance(values, list | tuple) else [values]
            if not seq:
                raise PolicyParseError(f"{where}: condition key {key!r} has no values")
            vals = tuple(_condition_value(v, f"{where} {operator} {key}") for v in seq)
            out.append(Condition(operator=str(operator), key=key, values=vals))
    return tuple(out)


def parse_policy(
    document: str | bytes | Mapping[str, Any],
    *,
    name: str,
    kind: PolicyKind | str,
    via: str | None = None,
    strict: bool = False,
) -> Policy:
    """Parse an IAM policy document (JSON text, URL-encoded JSON, or a dict).

    ``Principal``/``NotPrincipal`` are ignored (identity policies, SCPs).
    ``strict`` rejects unknown elements, actions without a service prefix and a
    missing ``Resource`` in SCPs; the default is lenient, because documents
    read back from AWS were already validated by AWS.
    """
    kind = PolicyKind(kind)
    where_policy = f"policy {name}"
    try:
        doc = _load_document(document)
    except PolicyParseError as exc:
        raise PolicyParseError(f"{where_policy}: {exc}") from None
    version = doc.get("Version", "2008-10-17")
    if version not in _VERSIONS:
        raise PolicyParseError(f"{where_policy}: unsupported Version {version!r}")
    if strict:
        unknown = set(doc) - _DOCUMENT_KEYS
        if unknown:
            raise PolicyParseError(f"{where_policy}: unknown element(s) {sorted(unknown)}")
    if "Statement" not in doc:
        raise PolicyParseError(f"{where_policy}: no Statement")
    raw_statements = doc["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise PolicyParseError(f"{where_policy}: Statement must be an object or a list")
    statements = []
    for index, raw in enumerate(raw_statements):
        statements.append(_parse_statement(raw, index, where_policy, kind, strict))
    return Policy(name=name, kind=kind, statements=tuple(statements), via=via, version=version)


def _parse_statement(
    raw: object, index: int, where_policy: str, kind: PolicyKind, strict: bool
) -> Statement:
    where = f"{where_policy} statement {index + 1}"
    if not isinstance(raw, Mapping):
        raise PolicyParseError(f"{where}: a statement must be an object")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyParseError(f"{where}: Sid must be a string")
    if sid:
        where = f"{where_policy} statement {sid!r}"
    if strict:
        unknown = set(raw) - _STATEMENT_KEYS
        if unknown:
            raise PolicyParseError(f"{where}: unknown element(s) {sorted(unknown)}")
    effect_raw = raw.get("Effect")
    if not isinstance(effect_raw, str) or effect_raw.strip().lower() not in ("allow", "deny"):
        raise PolicyParseError(f"{where}: Effect must be Allow or Deny, got {effect_raw!r}")
    effect = Effect.ALLOW if effect_raw.strip().lower() == "allow" else Effect.DENY

    has_a, has_na = "Action" in raw, "NotAction" in raw
    if has_a == has_na:
        raise PolicyParseError(f"{where}: needs exactly one of Action or NotAction")
    actions = _string_list(raw["Action"], "Action", where) if has_a else ()
    not_actions = _string_list(raw["NotAction"], "NotAction", where) if has_na else ()
    if strict:
        for a in actions + not_actions:
            if a != "*" and ":" not in a:
                raise PolicyParseError(f"{where}: action {a!r} has no service prefix")

    has_r, has_nr = "Resource" in raw, "NotResource" in raw
    if has_r and has_nr:
        raise PolicyParseError(f"{where}: has both Resource and NotResource")
    if not has_r and not has_nr:
        if kind is PolicyKind.SCP and not strict:
            # SCPs written before AWS required Resource behave as Resource "*".
            resources: tuple[str, ...] = ("*",)
        else:
            raise PolicyParseError(f"{where}: needs Resource or NotResource")
    else:
        resources = _string_list(raw["Resource"], "Resource", where) if has_r else ()
    not_resources = _string_list(raw["NotResource"], "NotResource", where) if has_nr else ()
    conditions = _parse_conditions(raw["Condition"], where) if "Condition" in raw else ()
    return Statement(
        sid=sid or None,
        effect=effect,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        conditions=conditions,
        index=index,
    )


# --------------------------------------------------------- wildcard languages
#
# Patterns are compiled to token tuples: a 1-character string is a literal,
# _STAR matches any run of characters (including none), _ONE exactly one. With
# literals kept separate, the resource "*" of a resource-less action is the
# literal star, which only a wildcard pattern matches. Questions about patterns
# ("can these two patterns match a common ARN?", "does this deny cover every
# ARN of that format?") are answered exactly by a breadth-first search over the
# product of the patterns' automata.

_STAR = "**"
_ONE = "??"
#: One character / any run of characters other than ":" (an ARN's partition,
#: region and account fields never contain one).
_SEG_ONE = "?:"
_SEG_STAR = "*:"
_OTHER = "<other>"
Glob = tuple[str, ...]
_ANY: Glob = (_STAR,)
_SEARCH_LIMIT = 20_000


def _glob(pattern: str) -> Glob:
    return tuple(_STAR if c == "*" else _ONE if c == "?" else c for c in pattern)


def _literal(text: str) -> Glob:
    return tuple(text)


_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
_FREE_FORM = re.compile(r"(?i)object|path|\{resource\}")


@lru_cache(maxsize=8192)
def _arn_format_glob(fmt: str) -> Glob:
    """``arn:${Partition}:kms:…:key/${KeyId}`` as a pattern.

    Each placeholder stands for one or more characters other than ``:``
    (partitions, regions, accounts and resource ids do not contain one), except
    object keys and paths (``${ObjectName}``, ``${…Path}``), which may.
    So ``arn:*:kms:*:::*`` (the DescribeKey statement of
    AmazonBedrockLimitedAccess, docs/aws-facts.md "Managed policies") matches no KMS key ARN.
    """
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(fmt):
        out.extend(fmt[pos : m.start()])
        if fmt.count(":", 0, m.start()) >= 5 and _FREE_FORM.search(m.group(0)):
            out.extend((_ONE, _STAR))
        else:
            out.extend((_SEG_ONE, _SEG_STAR))
        pos = m.end()
    out.extend(fmt[pos:])
    return tuple(out)


def _closure(states: Iterable[int], g: Glob) -> frozenset[int]:
    out = set(states)
    stack = list(out)
    while stack:
        s = stack.pop()
        if s < len(g) and g[s] in (_STAR, _SEG_STAR) and s + 1 not in out:
            out.add(s + 1)
            stack.append(s + 1)
    return frozenset(out)


def _step(states: frozenset[int], g: Glob, sym: str) -> frozenset[int]:
    nxt = set()
    for s in states:
        if s < len(g):
            t = g[s]
            if t == _STAR or (t == _SEG_STAR and sym != ":"):
                nxt.add(s)
            elif t in (_ONE, sym) or (t == _SEG_ONE and sym != ":"):
                nxt.add(s + 1)
    return _closure(nxt, g) if nxt else frozenset()


@lru_cache(maxsize=65_536)
def _exists(pos: tuple[Glob, ...], neg: tuple[Glob, ...] = ()) -> bool:
    """Is there a string every ``pos`` pattern matches and no ``neg`` pattern matches?

    Exact; gives up after ``_SEARCH_LIMIT`` product states and answers True,
    which callers treat as "may match" (an allow counts, a deny is not total).
    """
    if not pos:
        return False
    if not neg and len(pos) == 1:
        return True
    if any(g == _ANY for g in neg):
        return False
    if not _ends_compatible(pos):
        return False
    start = (
        tuple(_closure((0,), g) for g in pos),
        tuple(_closure((0,), g) for g in neg),
    )
    seen = {start}
    queue = deque([start])
    while queue:
        p_states, n_states = queue.popleft()
        if all(len(g) in s for g, s in zip(pos, p_states, strict=True)) and not any(
            len(g) in s for g, s in zip(neg, n_states, strict=True)
        ):
            return True
        # Only the literals the automata are waiting for can behave differently
        # from "any other character" (and ":" for the ARN-field wildcards).
        alphabet = {_OTHER, ":"}
        for g, states in chain(zip(pos, p_states, strict=True), zip(neg, n_states, strict=True)):
            for i in states:
                if i < len(g) and len(g[i]) == 1:
                    alphabet.add(g[i])
        for sym in alphabet:
            p_next = tuple(_step(s, g, sym) for g, s in zip(pos, p_states, strict=True))
            if not all(p_next):
                continue
            n_next = tuple(_step(s, g, sym) for g, s in zip(neg, n_states, strict=True))
            state = (p_next, n_next)
            if state not in seen:
                if len(seen) >= _SEARCH_LIMIT:
                    return True
                seen.add(state)
                queue.append(state)
    return False


def _ends_compatible(pos: tuple[Glob, ...]) -> bool:
    """Cheap rejection: the literal prefixes (and suffixes) of the patterns agree."""
    for forward in (True, False):
        seqs = [g if forward else g[::-1] for g in pos]
        for i in range(min(len(g) for g in seqs)):
            column = [g[i] for g in seqs]
            if any(len(t) != 1 for t in column):
                break  # a wildcard: stop comparing from this end
            if len(set(column)) > 1:
                return False
    return True


def _covered(glob: Glob, by: Sequence[Glob]) -> bool:
    """Does every string ``glob`` matches also match one of ``by``?"""
    if not by:
        return False
    if any(g == _ANY for g in by):
        return True
    return not _exists((glob,), tuple(by))


@lru_cache(maxsize=8192)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run (also across ``:`` and ``/``), ``?`` one character."""
    return _glob_regex(pattern, ignore_case).fullmatch(text) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Case-insensitive action match (``bedrock:Invoke*`` vs ``BEDROCK:InvokeModel``)."""
    return wildcard_match(pattern.strip(), action.strip(), ignore_case=True)


@lru_cache(maxsize=8192)
def _actions_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for a statement's action list; None means "matches everything"."""
    if any(p == "*" for p in patterns):
        return None
    parts = []
    for p in patterns:
        parts.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p))
    return re.compile("|".join(f"(?:{x})" for x in parts), re.IGNORECASE | re.DOTALL)


def _statement_matches_action(st: Statement, action: str) -> bool:
    if st.actions:
        rx = _actions_regex(st.actions)
        return rx is None or rx.fullmatch(action) is not None
    rx = _actions_regex(st.not_actions)
    return rx is not None and rx.fullmatch(action) is None


# ----------------------------------------------------------- policy variables

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")

Context = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Env:
    context: Context | None
    complete: bool

    def lookup(self, key: str) -> tuple[str, ...] | None:
        if self.context is None:
            return None
        vals = self.context.get(key.lower())
        return vals or None

    def key_state(self, key: str) -> tuple[str, ...] | Truth:
        """Values of ``key``; Truth.FALSE when missing; Truth.UNKNOWN when unknowable."""
        if self.context is None:
            return Truth.UNKNOWN
        vals = self.context.get(key.lower())
        if vals:
            return vals
        return Truth.FALSE if self.complete else Truth.UNKNOWN


#: Keys in every request an IAM user makes (IAM User Guide, "AWS global
#: condition context keys", availability of each key). A Resource that uses
#: only these variables always names *some* resource: the user's own.
_USER_KEYS = frozenset(
    {"aws:username", "aws:userid", "aws:principalarn", "aws:principalaccount", "aws:principaltype"}
)


@dataclass(frozen=True, slots=True)
class _Resolved:
    text: str
    tokens: Glob
    #: TRUE resolved; UNKNOWN an unknown variable stands for "*"; FALSE a variable
    #: is missing from a complete context (the entry matches nothing).
    state: Truth
    #: Every unknown variable is one an IAM user's requests always carry.
    user_keys_only: bool = True


def _substitute(text: str, env: _Env) -> _Resolved:
    """Resolve ``${…}`` policy variables (IAM User Guide, "IAM policy elements:
    Variables and tags"), including ``${*}``/``${?}``/``${$}`` and defaults
    (``${aws:username, 'none'}``)."""
    state = Truth.TRUE
    user_only = True
    texts: list[str] = []
    tokens: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(text):
        before = text[pos : m.start()]
        texts.append(before)
        tokens.extend(_glob(before))
        pos = m.end()
        inner = m.group(1).strip()
        if inner in ("*", "?", "$"):
            texts.append(inner)
            tokens.append(inner)
            continue
        key, default = inner, None
        dm = _DEFAULT.match(inner)
        if dm:
            key, default = dm.group(1), dm.group(2)
        vals = env.lookup(key)
        if vals:
            texts.append(vals[0])
            tokens.extend(vals[0])
        elif default is not None and env.context is not None and env.complete:
            texts.append(default)
            tokens.extend(default)
        elif env.context is not None and env.complete:
            return _Resolved("", (), Truth.FALSE, False)
        else:
            state = Truth.UNKNOWN
            user_only = user_only and key.lower() in _USER_KEYS
            texts.append("*")
            tokens.append(_STAR)
    tail = text[pos:]
    texts.append(tail)
    tokens.extend(_glob(tail))
    return _Resolved("".join(texts), tuple(tokens), state, user_only)


# --------------------------------------------------------------- conditions

_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


def _to_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _to_time(text: str) -> datetime | None:
    raw = text.strip()
    number = _to_number(raw)
    if number is not None:  # epoch seconds (aws:EpochTime)
        try:
            return datetime.fromtimestamp(float(number), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_iso_or_none(raw)


def _ip_in(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) in ipaddress.ip_network(
            network.strip(), strict=False
        )
    except ValueError:
        return False


def _arn_like(value: str, pattern: str) -> bool:
    # "Each of the six colon-delimited components of the ARN is checked
    # separately" (IAM User Guide, condition operators, ARN operators).
    v_parts = value.split(":", 5)
    p_parts = pattern.split(":", 5)
    if len(v_parts) != 6 or len(p_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _holds(op: str, cmp: int) -> bool:
    """Does ``op`` hold for a three-way comparison result (-1, 0, 1)?"""
    match op:
        case "equals":
            return cmp == 0
        case "lessthan":
            return cmp < 0
        case "lessthanequals":
            return cmp <= 0
        case "greaterthan":
            return cmp > 0
        case "greaterthanequals":
            return cmp >= 0
    return False


def _predicate(base: str) -> Callable[[str, str], bool] | None:
    """``(request value, policy value) -> bool`` for a positive base operator."""
    if base == "stringequals":
        return lambda v, p: v == p
    if base == "stringequalsignorecase":
        return lambda v, p: v.casefold() == p.casefold()
    if base == "stringlike":
        return lambda v, p: wildcard_match(p, v)
    if base == "bool":
        return lambda v, p: v.strip().lower() == p.strip().lower()
    if base == "binaryequals":
        return lambda v, p: v == p
    if base == "ipaddress":
        return _ip_in
    if base in ("arnequals", "arnlike"):
        return _arn_like
    if base.startswith("numeric"):
        op = base.removeprefix("numeric")
        if op not in ("equals", "lessthan", "lessthanequals", "greaterthan", "greaterthanequals"):
            return None

        def numeric(v: str, p: str) -> bool:
            a, b = _to_number(v), _to_number(p)
            return a is not None and b is not None and _holds(op, (a > b) - (a < b))

        return numeric
    if base.startswith("date"):
        op = base.removeprefix("date")
        if op not in ("equals", "lessthan", "lessthanequals", "greaterthan", "greaterthanequals"):
            return None

        def date(v: str, p: str) -> bool:
            a, b = _to_time(v), _to_time(p)
            return a is not None and b is not None and _holds(op, (a > b) - (a < b))

        return date
    return None


def evaluate_condition(
    cond: Condition,
    context: Mapping[str, Sequence[str]] | None,
    *,
    complete: bool = True,
    variables: bool = True,
) -> Truth:
    """Evaluate one condition entry per the IAM User Guide, "Condition operators":

    * several values for one key are ORed; a negated operator (``StringNotEquals``,
      ``NotIpAddress`` …) is true when the value matches *none* of them;
    * "If the key that you specify in a policy condition is not present in the
      request context, the values do not match and the condition is false. If
      the policy condition requires that the key is not matched, such as
      StringNotLike or ArnNotLike, and the right key is not present, the
      condition is true" — except ``…IfExists`` (true when missing) and
      ``Null``;
    * ``ForAllValues:`` is true when every request value matches (and when the
      key is missing or empty); ``ForAnyValue:`` when at least one does (false
      when missing: IAM User Guide, "Single-valued vs. multivalued context
      keys"). ``ForAnyValue:…IfExists`` stays false on a missing key, as AWS
      was observed to answer (re:Post QU9HFmDzP0QGuU-fd7rS6B7w);
    * an operator this engine does not know yields UNKNOWN, never an error.
    """
    ctx = _freeze_context(context)
    env = _Env(None if ctx is None else dict(ctx), complete)
    return _evaluate_condition(cond, env, variables)


def _evaluate_condition(cond: Condition, env: _Env, variables: bool) -> Truth:
    if env.context is None:
        return Truth.UNKNOWN
    op = cond.operator.strip()
    qualifier = ""
    if ":" in op:
        qualifier, op = (part.strip().lower() for part in op.split(":", 1))
        if qualifier not in ("forallvalues", "foranyvalue"):
            return Truth.UNKNOWN
    base = op.lower()
    if_exists = base.endswith("ifexists")
    if if_exists:
        base = base.removesuffix("ifexists")
    state = env.key_state(cond.key)

    if base == "null":
        if if_exists or qualifier:
            return Truth.UNKNOWN
        if state is Truth.UNKNOWN:
            return Truth.UNKNOWN
        absent = state is Truth.FALSE
        wanted = {v.strip().lower() for v in cond.values}
        if not wanted <= {"true", "false"}:
            return Truth.FALSE
        return Truth.TRUE if ("true" if absent else "false") in wanted else Truth.FALSE

    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    pred = _predicate(positive)
    if pred is None:
        return Truth.UNKNOWN

    if isinstance(state, Truth):
        if state is Truth.UNKNOWN:
            return Truth.UNKNOWN
        # The key is missing from a complete context.
        if qualifier == "forallvalues":
            return Truth.TRUE
        if qualifier == "foranyvalue":
            return Truth.FALSE
        return Truth.TRUE if (if_exists or negated) else Truth.FALSE
    request_values = state

    policy_values: list[tuple[str, Truth]] = []
    for raw in cond.values:
        if variables and "${" in raw:
            resolved = _substitute(raw, env)
            if resolved.state is Truth.FALSE:
                continue
            policy_values.append((resolved.text, resolved.state))
        else:
            policy_values.append((raw, Truth.TRUE))

    def matches_any(value: str) -> Truth:
        best = Truth.FALSE
        for p, known in policy_values:
            if known is Truth.TRUE and pred(value, p):
                return Truth.TRUE
            if known is Truth.UNKNOWN:
                best = Truth.UNKNOWN
        return best

    def per_value(value: str) -> Truth:
        m = matches_any(value)
        return m.negate() if negated else m

    if qualifier == "forallvalues":
        return min((per_value(v) for v in request_values), default=Truth.TRUE)
    if qualifier == "foranyvalue":
        return max((per_value(v) for v in request_values), default=Truth.FALSE)
    # No qualifier: a positive operator matches when any request value matches;
    # a negated one when none does.
    any_match = max((matches_any(v) for v in request_values), default=Truth.FALSE)
    return any_match.negate() if negated else any_match


def _evaluate_conditions(st: Statement, env: _Env, variables: bool) -> Truth:
    if not st.conditions:
        return Truth.TRUE
    if env.context is None:
        return Truth.UNKNOWN
    result = Truth.TRUE
    for cond in st.conditions:
        result = min(result, _evaluate_condition(cond, env, variables))
        if result is Truth.FALSE:
            return result
    return result


# ------------------------------------------------------------ resources


@dataclass(frozen=True, slots=True)
class _Patterns:
    """A statement's resource patterns after variable substitution."""

    known: tuple[Glob, ...]  # fully resolved
    unknown: tuple[Glob, ...]  # an unknown variable stands for "*"
    #: The subset of ``unknown`` whose variables every IAM user request carries.
    user: tuple[Glob, ...] = ()


def _resolve_patterns(patterns: tuple[str, ...], env: _Env, variables: bool) -> _Patterns:
    known: list[Glob] = []
    unknown: list[Glob] = []
    user: list[Glob] = []
    for p in patterns:
        if variables and "${" in p:
            resolved = _substitute(p, env)
            if resolved.state is Truth.TRUE:
                known.append(resolved.tokens)
            elif resolved.state is Truth.UNKNOWN:
                unknown.append(resolved.tokens)
                if resolved.user_keys_only:
                    user.append(resolved.tokens)
        else:
            known.append(_glob(p))
    return _Patterns(tuple(known), tuple(unknown), tuple(user))


@dataclass(frozen=True, slots=True)
class _ResourceMatch:
    some: Truth  # the statement applies to at least one resource asked about
    every: Truth  # …to every resource asked about


def _resource_match(
    st: Statement,
    universe_of: Callable[[], tuple[Glob, ...]],
    env: _Env,
    variables: bool,
    subtract: tuple[Glob, ...] = (),
    *,
    open_question: bool = False,
) -> _ResourceMatch:
    """How a statement's Resource/NotResource relates to the resources asked about.

    ``subtract``: resources already denied unconditionally; an allow must reach
    a resource outside them to count. ``open_question``: the request asks about
    "some resource", so a pattern naming the user's own resources
    (``user/${aws:username}``) certainly reaches one.
    """
    if st.resources:
        if not subtract and any(r == "*" for r in st.resources):
            return _ResourceMatch(Truth.TRUE, Truth.TRUE)
        universe = universe_of()
        pats = _resolve_patterns(st.resources, env, variables)
        certain = pats.known + pats.user if open_question else pats.known
        some = Truth.FALSE
        for u in universe:
            if any(_exists((u, r), subtract) for r in certain):
                some = Truth.TRUE
                break
            if any(_exists((u, r), subtract) for r in pats.unknown):
                some = Truth.UNKNOWN
        if all(_covered(u, pats.known) for u in universe):
            every = Truth.TRUE
        elif all(_covered(u, pats.known + pats.unknown) for u in universe):
            every = Truth.UNKNOWN
        else:
            every = Truth.FALSE
        return _ResourceMatch(some, every)
    universe = universe_of()
    pats = _resolve_patterns(st.not_resources, env, variables)
    widest = pats.known + pats.unknown  # the most an unknown variable could exclude
    some = Truth.FALSE
    for u in universe:
        if _exists((u,), widest + subtract):
            some = Truth.TRUE
            break
        if _exists((u,), pats.known + subtract):
            some = Truth.UNKNOWN
    if not any(_exists((u, n)) for u in universe for n in widest):
        every = Truth.TRUE
    elif not any(_exists((u, n)) for u in universe for n in pats.known):
        every = Truth.UNKNOWN
    else:
        every = Truth.FALSE
    return _ResourceMatch(some, every)


def _universe(action: str, resource: str, catalog: ActionCatalog | None) -> tuple[Glob, ...]:
    if resource != "*":
        if "*" in resource or "?" in resource:
            return (_glob(resource),)
        return (_literal(resource),)
    formats_of = getattr(catalog, "resource_arn_formats", None)
    if callable(formats_of):
        formats = formats_of(action)
        if formats is not None:
            if not formats:
                return (_literal("*"),)
            return tuple(_arn_format_glob(f) for f in formats)
    return (_ANY,)


# ------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class _Layer:
    name: str
    policies: tuple[Policy, ...]


def _layers(
    identity: tuple[Policy, ...], boundary: Policy | None, scps: tuple[tuple[Policy, ...], ...]
) -> tuple[_Layer, ...]:
    out = [_Layer(f"scp-level-{i + 1}", level) for i, level in enumerate(scps)]
    if boundary is not None:
        out.append(_Layer("boundary", (boundary,)))
    out.append(_Layer("identity", identity))
    return tuple(out)


def _decide(
    request: Request,
    layers: tuple[_Layer, ...],
    catalog: ActionCatalog | None,
    relevant: Callable[[Statement], bool],
) -> Result:
    """The decision for one request; ``relevant`` filters statements by action."""
    action = request.action.strip()
    env = _Env(request.context_values(), request.context_is_complete)
    cached: list[tuple[Glob, ...]] = []

    def universe() -> tuple[Glob, ...]:  # the catalog lookup, only when a pattern needs it
        if not cached:
            cached.append(_universe(action, request.resource, catalog))
        return cached[0]

    open_question = request.resource == "*" or "*" in request.resource or "?" in request.resource

    denied: list[StatementRef] = []
    conditional_denies: list[StatementRef] = []
    partial: list[StatementRef] = []
    subtract: list[Glob] = []
    seen_policies: set[int] = set()
    for layer in layers:
        for policy in layer.policies:
            if id(policy) in seen_policies:
                continue
            seen_policies.add(id(policy))
            variables = policy.version == "2012-10-17"
            for st in policy.statements:
                if st.effect is not Effect.DENY or not relevant(st):
                    continue
                cond = _evaluate_conditions(st, env, variables)
                if cond is Truth.FALSE:
                    continue
                rm = _resource_match(st, universe, env, variables, open_question=open_question)
                full = min(rm.every, cond)
                if full is Truth.TRUE:
                    denied.append(StatementRef.of(policy, st))
                elif full is Truth.UNKNOWN:
                    conditional_denies.append(StatementRef.of(policy, st))
                elif min(rm.some, cond) is not Truth.FALSE:
                    partial.append(StatementRef.of(policy, st))
                    if cond is Truth.TRUE and st.resources:
                        subtract.extend(_resolve_patterns(st.resources, env, variables).known)
    if denied:
        return Result(
            request,
            Decision.EXPLICIT_DENY,
            denied_by=tuple(denied),
            conditional_denies=tuple(conditional_denies),
            partial_denies=tuple(partial),
        )

    sub = tuple(subtract)
    missing: list[str] = []
    overall = Truth.TRUE
    allowed_by: tuple[StatementRef, ...] = ()
    defeated = False
    for layer in layers:
        best = Truth.FALSE
        best_before = Truth.FALSE
        refs: list[StatementRef] = []
        for policy in layer.policies:
            variables = policy.version == "2012-10-17"
            for st in policy.statements:
                if st.effect is not Effect.ALLOW or not relevant(st):
                    continue
                cond = _evaluate_conditions(st, env, variables)
                if cond is Truth.FALSE:
                    continue
                rm = _resource_match(st, universe, env, variables, open_question=open_question)
                before = min(rm.some, cond)
                if before is Truth.FALSE:
                    continue
                best_before = max(best_before, before)
                if sub:
                    rm = _resource_match(
                        st, universe, env, variables, sub, open_question=open_question
                    )
                truth = min(rm.some, cond)
                if truth is Truth.FALSE:
                    continue
                best = max(best, truth)
                refs.append(StatementRef.of(policy, st))
        if best is Truth.FALSE:
            missing.append(layer.name)
            if best_before is not Truth.FALSE:
                defeated = True
        overall = min(overall, best)
        if layer.name == "identity":
            allowed_by = tuple(refs)
    if defeated and missing:
        # Every resource an allow reaches is denied by an unconditional deny.
        return Result(
            request,
            Decision.EXPLICIT_DENY,
            denied_by=tuple(partial),
            conditional_denies=tuple(conditional_denies),
            missing_allow=tuple(missing),
        )
    if overall is Truth.FALSE:
        decision = Decision.IMPLICIT_DENY
    elif overall is Truth.UNKNOWN or conditional_denies:
        decision = Decision.CONDITIONAL
    else:
        decision = Decision.ALLOWED
    return Result(
        request,
        decision,
        allowed_by=allowed_by,
        conditional_denies=tuple(conditional_denies),
        partial_denies=tuple(partial),
        missing_allow=tuple(missing),
    )


def _hashable(catalog: ActionCatalog | None) -> Hashable:
    """Catalogs are memoisation keys: any object with the default (identity) hash."""
    return cast(Hashable, catalog)


def _as_levels(scps: Sequence[Sequence[Policy]]) -> tuple[tuple[Policy, ...], ...]:
    return tuple(tuple(level) for level in scps)


def evaluate(
    request: Request,
    *,
    identity: Sequence[Policy],
    boundary: Policy | None = None,
    scps: Sequence[Sequence[Policy]] = (),
    catalog: ActionCatalog | None = None,
) -> Result:
    """Decide one request for a principal with these policies.

    ``identity``: every identity policy (attached managed, inline, group managed
    and group inline). ``scps``: one sequence per level of the Organization
    path, root first, each holding the SCPs attached at that level; ``()``
    means no SCPs apply (no Organization, or the management account). A level
    with no policies allows nothing, as AWS requires at least one SCP per
    level. ``catalog`` (optional) supplies resource ARN formats for
    ``resource="*"``.
    """
    return _evaluate_cached(
        request, tuple(identity), boundary, _as_levels(scps), _hashable(catalog)
    )


@lru_cache(maxsize=16_384)
def _evaluate_cached(
    request: Request,
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    catalog: ActionCatalog | None,
) -> Result:
    action = request.action.strip()
    return _decide(
        request,
        _layers(identity, boundary, scps),
        catalog,
        lambda st: _statement_matches_action(st, action),
    )


# ------------------------------------------------- effective permission sets


@dataclass(frozen=True, slots=True, eq=False)
class EffectivePermissions:
    """Every catalog action a principal may call, with the statements that grant it.

    Computed for ``Request(action)`` with an unknown context and "some
    resource" (see the module docstring), for every catalog action an identity
    ``Allow`` grants, plus actions the catalog does not know when a policy
    names them literally; consistent with :func:`evaluate` by construction.
    """

    decisions: Mapping[str, Decision]
    _grants: Mapping[str, tuple[StatementRef, ...]] = field(repr=False)
    _lower: Mapping[str, str] = field(repr=False)
    #: Maps the statements of a shared (anonymous) evaluation to this
    #: principal's own policies; applied on demand, per action asked about.
    _relabel: Callable[[StatementRef], StatementRef] | None = field(default=None, repr=False)
    _relabelled: dict[str, tuple[StatementRef, ...]] = field(default_factory=dict, repr=False)

    def decision(self, action: str) -> Decision:
        key = self._lower.get(action.strip().lower())
        return self.decisions.get(key, Decision.IMPLICIT_DENY) if key else Decision.IMPLICIT_DENY

    def granted_by(self, action: str) -> tuple[StatementRef, ...]:
        key = self._lower.get(action.strip().lower())
        return self._granted(key) if key else ()

    def _granted(self, key: str) -> tuple[StatementRef, ...]:
        found = self._grants.get(key, ())
        if self._relabel is None or not found:
            return found
        hit = self._relabelled.get(key)
        if hit is None:
            hit = self._relabelled[key] = tuple(self._relabel(r) for r in found)
        return hit

    @property
    def grants(self) -> Mapping[str, tuple[StatementRef, ...]]:
        """Every allowed action with the statements that grant it."""
        return MappingProxyType({a: self._granted(a) for a in self._grants})

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(a for a, d in self.decisions.items() if d is Decision.ALLOWED)

    @property
    def conditional(self) -> frozenset[str]:
        return frozenset(a for a, d in self.decisions.items() if d is Decision.CONDITIONAL)

    @property
    def reachable(self) -> frozenset[str]:
        """Allowed or conditionally allowed."""
        return frozenset(a for a, d in self.decisions.items() if d.allowed)


def _statement_actions(
    st: Statement, catalog: ActionCatalog, universe: frozenset[str], extras: frozenset[str]
) -> frozenset[str]:
    """The actions of ``universe`` a statement's Action/NotAction matches.

    ``extras``: actions the catalog does not know but a policy names; wildcards
    match them too.
    """

    def expand(patterns: tuple[str, ...]) -> set[str]:
        out: set[str] = set()
        for p in patterns:
            out |= catalog.expand(p)
            out.update(x for x in extras if action_matches(p, x))
        return out

    if st.actions:
        return frozenset(expand(st.actions))
    rx = _actions_regex(st.not_actions)
    if rx is None:  # NotAction "*" matches no action
        return frozenset()
    excluded = expand(st.not_actions)
    return frozenset(a for a in universe if a not in excluded and not rx.fullmatch(a))


def effective_permissions(
    identity: Sequence[Policy],
    *,
    boundary: Policy | None = None,
    scps: Sequence[Sequence[Policy]] = (),
    catalog: ActionCatalog,
) -> EffectivePermissions:
    """Decisions for every action any identity ``Allow`` grants (memoised).

    Memoised twice: on the policies as given, and on their content alone, so
    identities whose inline policies differ only by name (one per user) share
    one evaluation and differ only in the statement labels.
    """
    return _effective_named(tuple(identity), boundary, _as_levels(scps), _hashable(catalog))


def clear_caches() -> None:
    """Drop every memoised evaluation (for long-running processes and benchmarks)."""
    for fn in (
        _evaluate_cached,
        _effective_named,
        _effective_cached,
        _exists,
        _glob_regex,
        _actions_regex,
        _arn_format_glob,
    ):
        fn.cache_clear()


def _anonymous(policy: Policy, tag: str) -> Policy:
    return Policy(name=tag, kind=policy.kind, statements=policy.statements, version=policy.version)


@lru_cache(maxsize=1024)
def _effective_named(
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    catalog: ActionCatalog,
) -> EffectivePermissions:
    tags = {f"#{n}": p for n, p in enumerate(identity)}
    base = _effective_cached(
        tuple(_anonymous(p, tag) for tag, p in tags.items()),
        None if boundary is None else _anonymous(boundary, "#boundary"),
        tuple(
            tuple(_anonymous(p, f"#scp{i}.{j}") for j, p in enumerate(level))
            for i, level in enumerate(scps)
        ),
        _hashable(catalog),
    )
    refs: dict[tuple[str, int], StatementRef] = {}

    def real(ref: StatementRef) -> StatementRef:
        key = (ref.policy, ref.index)
        if key not in refs:
            policy = tags[ref.policy]
            refs[key] = StatementRef.of(policy, policy.statements[ref.index])
        return refs[key]

    return EffectivePermissions(
        decisions=base.decisions, _grants=base._grants, _lower=base._lower, _relabel=real
    )


def _in_set(sets: Mapping[int, frozenset[str]], action: str, st: Statement) -> bool:
    return action in sets[id(st)]


@lru_cache(maxsize=256)
def _effective_cached(
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    catalog: ActionCatalog,
) -> EffectivePermissions:
    layers = _layers(identity, boundary, scps)
    all_policies = [p for layer in layers for p in layer.policies]
    named: dict[str, str] = {}
    for p in all_policies:
        for st in p.statements:
            for a in st.actions + st.not_actions:
                if "*" not in a and "?" not in a and ":" in a and not catalog.expand(a):
                    named.setdefault(a.lower(), a)
    extras = frozenset(named.values())
    universe = catalog.expand("*") | extras

    # Keyed by statement object: the action set depends only on the statement.
    sets: dict[int, frozenset[str]] = {}
    for p in all_policies:
        for st in p.statements:
            if id(st) not in sets:
                sets[id(st)] = _statement_actions(st, catalog, universe, extras)

    candidates: set[str] = set()
    for p in identity:
        for st in p.statements:
            if st.effect is Effect.ALLOW:
                candidates |= sets[id(st)]

    # The decision for "some resource" with an unknown context depends only on
    # which statements match the action and, where a statement names
    # resources, on the action's resource ARN formats. Actions that agree on
    # both share one evaluation (an AdministratorAccess user has ~20k actions
    # but a handful of such classes).
    unique = list({id(st): st for p in all_policies for st in p.statements}.values())
    matching: dict[str, list[int]] = {a: [] for a in candidates}
    needs_universe: set[int] = set()
    for i, st in enumerate(unique):
        if st.not_resources or (st.resources and "*" not in st.resources):
            needs_universe.add(i)
        for a in sets[id(st)]:
            found = matching.get(a)
            if found is not None:
                found.append(i)
    resource_formats = getattr(catalog, "resource_arn_formats", None)
    classes: dict[Hashable, Result] = {}
    decisions: dict[str, Decision] = {}
    grants: dict[str, tuple[StatementRef, ...]] = {}
    for action in sorted(candidates):
        signature = tuple(matching[action])
        formats: Hashable = None
        if callable(resource_formats) and any(i in needs_universe for i in signature):
            formats = ("formats", resource_formats(action))
        key = (signature, formats)
        result = classes.get(key)
        if result is None:
            result = _decide(Request(action), layers, catalog, partial(_in_set, sets, action))
            classes[key] = result
        decisions[action] = result.decision
        if result.decision.allowed:
            grants[action] = result.allowed_by
    lower = {a.lower(): a for a in decisions}
    return EffectivePermissions(
        decisions=MappingProxyType(decisions),
        _grants=MappingProxyType(grants),
        _lower=MappingProxyType(lower),
    )
