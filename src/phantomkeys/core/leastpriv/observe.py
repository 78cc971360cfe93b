"""Whose activity, and what it did: the TARGET, the CloudTrail records that are
the principal's, and the IAM actions each recorded call needed. Pure."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from phantomkeys.core import target as core_target
from phantomkeys.core.keys import KeyKind
from phantomkeys.core.leastpriv.catalog import (
    LeastPrivilegeCatalog,
)
from phantomkeys.core.timeparse import parse_iso_or_none
from phantomkeys.surfaces import SURFACES, Surface, SurfaceId, partition_for_region

_VERSIONED_NAME_RE = re.compile(r"^(?P<name>[A-Za-z]+?)(?P<version>\d{8})$")

#: CloudTrail ``eventSource`` values whose IAM prefix is not the host's first label.
_SOURCE_PREFIX = {
    "monitoring.amazonaws.com": "cloudwatch",
    "email.amazonaws.com": "ses",
    "api.ecr.amazonaws.com": "ecr",
    "runtime.sagemaker.amazonaws.com": "sagemaker",
    "elasticfilesystem.amazonaws.com": "elasticfilesystem",
    "bedrock-agent.amazonaws.com": "bedrock",
    "bedrock-runtime.amazonaws.com": "bedrock",
}

#: eventName -> the IAM actions that authorise it, where they differ.
#: Sources: the Bedrock API reference ("This operation requires permission for
#: the bedrock:InvokeModel action" on Converse, StartAsyncInvoke and
#: InvokeModelWithBidirectionalStream; ConverseStream requires
#: bedrock:InvokeModelWithResponseStream). The Claude Platform names are [INF]:
#: the Messages API is authorised by ``aws-external-anthropic:CreateInference``.
_ACTION_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("bedrock", "Converse"): ("bedrock:InvokeModel",),
    ("bedrock", "ConverseStream"): ("bedrock:InvokeModelWithResponseStream",),
    ("bedrock", "StartAsyncInvoke"): ("bedrock:InvokeModel",),
    ("bedrock", "InvokeModelWithBidirectionalStream"): ("bedrock:InvokeModel",),
    ("aws-external-anthropic", "CreateMessage"): ("aws-external-anthropic:CreateInference",),
    ("aws-external-anthropic", "CountMessageTokens"): ("aws-external-anthropic:CountTokens",),
}

#: Error codes that mean "not authorised": such calls are never granted.
_DENIED_CODES = frozenset(
    {
        "accessdenied",
        "accessdeniedexception",
        "unauthorizedoperation",
        "client.unauthorizedoperation",
        "unauthorizedaccess",
        "unauthorizedexception",
        "notauthorized",
        "forbidden",
    }
)


# ------------------------------------------------------------------ the target


class TargetKind(StrEnum):
    USER = "user"
    LONG_TERM_KEY = "long-term-key"
    SHORT_TERM_KEY = "short-term-key"


class TargetError(ValueError):
    """TARGET is neither a key nor a user name; the message never holds key material."""


@dataclass(frozen=True, slots=True)
class Target:
    """Whose activity to read: a user (or role session) name, or a key's signer."""

    kind: TargetKind
    #: A user name, or a redacted key: safe to print.
    label: str
    username: str | None = None
    access_key_id: str | None = None
    account_id: str | None = None
    surface: SurfaceId | None = None
    region: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    token_sha256: str | None = None

    @property
    def lookup_attribute(self) -> tuple[str, str]:
        """The CloudTrail ``LookupEvents`` attribute that finds this principal's calls."""
        if self.username:
            return "Username", self.username
        assert self.access_key_id is not None
        return "AccessKeyId", self.access_key_id

    @property
    def cli_reference(self) -> str:
        """How later commands name the target: the user, or ``-`` (the key on stdin)."""
        if self.kind is TargetKind.SHORT_TERM_KEY or not self.username:
            return "-"
        return self.username

    @property
    def principal_name(self) -> str:
        """Plain ASCII name for role descriptions and tags (never key material)."""
        if self.username:
            return self.username
        return f"short-term key signed by {self.access_key_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "label": self.label,
            "username": self.username,
            "access_key_id": self.access_key_id,
            "account_id": self.account_id,
            "surface": self.surface.value if self.surface else None,
            "region": self.region,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "token_sha256": self.token_sha256,
        }


def resolve_target(text: str, *, partition: str = "aws") -> Target:
    """A TARGET argument: a long-term key, a short-term key, or a user / role-session name
    (classified by :func:`phantomkeys.core.target.resolve_target`)."""
    try:
        found = core_target.resolve_target(text, partition=partition)
    except core_target.TargetError as exc:
        if exc.problem is core_target.TargetProblem.EMPTY:
            raise TargetError("empty TARGET") from None
        if exc.problem is core_target.TargetProblem.BAD_KEY:
            raise TargetError(
                f"TARGET looks like a key but does not decode: {exc.reason}"
            ) from None
        raise TargetError(
            "TARGET is not a key and not an IAM user or role-session name "
            "([A-Za-z0-9+=,.@_-], 1-64 characters)"
        ) from None
    decoded = found.key
    if decoded is None:
        assert found.username is not None
        return Target(kind=TargetKind.USER, label=found.username, username=found.username)
    label = found.redacted or ""
    if decoded.kind is KeyKind.LONG_TERM:
        return Target(
            kind=TargetKind.LONG_TERM_KEY,
            label=label,
            username=decoded.username,
            account_id=decoded.account_id,
            surface=decoded.surface,
            token_sha256=decoded.token_sha256,
        )
    return Target(
        kind=TargetKind.SHORT_TERM_KEY,
        label=label,
        access_key_id=decoded.access_key_id,
        account_id=decoded.account_id,
        surface=decoded.surface,
        region=decoded.region,
        valid_from=decoded.issued_at,
        valid_until=decoded.expires_at,
        token_sha256=decoded.token_sha256,
    )


# ------------------------------------------------------------------ records


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _parse_time(value: Any) -> datetime | None:
    return parse_iso_or_none(value)


def _record_username(record: Mapping[str, Any]) -> str | None:
    """The name LookupEvents' ``Username`` matches: IAM user, role session, or root."""
    ident = record.get("userIdentity") or {}
    if not isinstance(ident, Mapping):
        return None
    kind = ident.get("type")
    arn = str(ident.get("arn") or "")
    if kind == "IAMUser":
        return str(ident.get("userName") or arn.rsplit("/", 1)[-1] or "") or None
    if kind == "AssumedRole":
        return arn.rsplit("/", 1)[-1] or None
    if kind == "Root":
        return "root"
    name = ident.get("userName")
    return str(name) if name else None


def bearer_flag(record: Mapping[str, Any]) -> bool:
    """True when the call was authorised by an API key (docs/aws-facts.md "CloudTrail")."""
    for section in ("additionalEventData", "requestParameters"):
        block = record.get(section)
        if isinstance(block, Mapping):
            value = block.get("callWithBearerToken")
            if value is True or (isinstance(value, str) and value.lower() == "true"):
                return True
    return False


def select_records(
    records: Iterable[Mapping[str, Any]],
    target: Target,
    *,
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """The target's records in ``[since, until]``, oldest first, de-duplicated by eventID.

    A user (or role session) matches on its name, as LookupEvents' ``Username``
    does. A short-term key matches the bearer-token calls signed with its access
    key id inside the key's validity: the same signer's SigV4 calls were not made
    with the key.
    """
    lo = since
    hi = until
    if target.kind is TargetKind.SHORT_TERM_KEY:
        if target.valid_from and (lo is None or target.valid_from > lo):
            lo = target.valid_from
        if target.valid_until and (hi is None or target.valid_until < hi):
            hi = target.valid_until
    out: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for n, record in enumerate(records):
        if not isinstance(record, Mapping):
            continue
        when = _parse_time(record.get("eventTime"))
        if when is None or (lo is not None and when < lo) or (hi is not None and when > hi):
            continue
        if target.kind is TargetKind.SHORT_TERM_KEY:
            ident = record.get("userIdentity") or {}
            if not isinstance(ident, Mapping) or ident.get("accessKeyId") != target.access_key_id:
                continue
            if not bearer_flag(record):
                continue
        elif _record_username(record) != target.username:
            continue
        key = str(record.get("eventID") or f"#{n}")
        out.setdefault(key, (when, dict(record)))
    return [rec for _, rec in sorted(out.values(), key=lambda item: item[0])]


# ------------------------------------------------------------------ observing calls


@dataclass(frozen=True, slots=True)
class ObservedCall:
    """One CloudTrail record, reduced to what the policy needs."""

    event_id: str
    event_time: datetime
    event_source: str
    event_name: str
    region: str
    account_id: str | None
    source_ip: str | None
    error_code: str | None
    bearer: bool
    model_id: str | None
    guardrail_id: str | None
    resource_arns: tuple[str, ...]

    @property
    def denied(self) -> bool:
        if not self.error_code:
            return False
        return self.error_code.strip().lower() in _DENIED_CODES


def observe(record: Mapping[str, Any]) -> ObservedCall | None:
    """Reduce one record; ``None`` when it lacks a source, name, region or time."""
    when = _parse_time(record.get("eventTime"))
    source = record.get("eventSource")
    name = record.get("eventName")
    region = record.get("awsRegion")
    if (
        when is None
        or not isinstance(source, str)
        or not isinstance(name, str)
        or not isinstance(region, str)
        or not source
        or not name
        or not region
    ):
        return None
    params = record.get("requestParameters")
    params = params if isinstance(params, Mapping) else {}
    model = params.get("modelId") or params.get("modelIdentifier")
    guardrail = params.get("guardrailIdentifier")
    config = params.get("guardrailConfig")
    if not guardrail and isinstance(config, Mapping):
        guardrail = config.get("guardrailIdentifier")
    arns: list[str] = []
    for res in record.get("resources") or ():
        if isinstance(res, Mapping):
            arn = res.get("ARN") or res.get("arn")
            if isinstance(arn, str) and arn.startswith("arn:"):
                arns.append(arn)
    account = record.get("recipientAccountId")
    error = record.get("errorCode")
    return ObservedCall(
        event_id=str(record.get("eventID") or ""),
        event_time=when,
        event_source=source,
        event_name=name,
        region=region,
        account_id=str(account) if account else None,
        source_ip=str(record.get("sourceIPAddress")) if record.get("sourceIPAddress") else None,
        error_code=str(error) if error else None,
        bearer=bearer_flag(record),
        model_id=str(model) if isinstance(model, str) and model else None,
        guardrail_id=str(guardrail) if isinstance(guardrail, str) and guardrail else None,
        resource_arns=tuple(arns),
    )


def service_prefix(event_source: str) -> str:
    """IAM service prefix of a CloudTrail ``eventSource`` (``bedrock.amazonaws.com`` -> bedrock)."""
    if event_source in _SOURCE_PREFIX:
        return _SOURCE_PREFIX[event_source]
    return event_source.split(".", 1)[0]


def map_actions(
    event_source: str, event_name: str, catalog: LeastPrivilegeCatalog
) -> tuple[str, ...] | None:
    """The IAM actions that authorise a CloudTrail event, by catalog name; None if unknown."""
    prefix = service_prefix(event_source)
    alias = _ACTION_ALIASES.get((prefix, event_name))
    if alias is not None:
        mapped = tuple(c for c in (catalog.canonical_action(a) for a in alias) if c)
        return mapped or None
    candidates = [f"{prefix}:{event_name}"]
    versioned = _VERSIONED_NAME_RE.match(event_name)  # lambda ListFunctions20150331
    if versioned:
        candidates.append(f"{prefix}:{versioned.group('name')}")
    for candidate in candidates:
        canonical = catalog.canonical_action(candidate)
        if canonical is not None:
            return (canonical,)
    return None


def _surface_for_source(event_source: str) -> Surface | None:
    for surface in SURFACES:
        if event_source in surface.event_sources:
            return surface
    return None


def _bearer_action(event_source: str) -> str | None:
    """The bearer-token action that authorised an API-key call to this event source."""
    surface = _surface_for_source(event_source)
    if surface is None:
        return None
    prefix = service_prefix(event_source)
    for action in surface.bearer_token_actions:
        if action.split(":", 1)[0] == prefix:
            return action
    return surface.bearer_token_actions[0]


def partition_of(records: Sequence[Mapping[str, Any]], default: str = "aws") -> str:
    for record in records:
        region = record.get("awsRegion")
        if isinstance(region, str) and region:
            return partition_for_region(region)
    return default


def account_of(records: Sequence[Mapping[str, Any]]) -> str | None:
    """The account most of the records were recorded in."""
    counts = Counter(
        str(r.get("recipientAccountId")) for r in records if r.get("recipientAccountId")
    )
    return counts.most_common(1)[0][0] if counts else None
