"""Least privilege from real activity: CloudTrail records -> a minimal role. Pure.

A phantom user carries a broad managed policy (``AmazonBedrockLimitedAccess``:
44 Bedrock actions including guardrail and model deletion, provisioned
throughput, recon). What the workload behind its key really does is usually
two or three inference calls on one or two models in one region. This module
turns the principal's CloudTrail records into:

* the **minimal identity policy** covering every successful recorded call:
  IAM actions mapped from ``eventSource`` + ``eventName`` (Converse is
  authorised as ``bedrock:InvokeModel``, ConverseStream as
  ``bedrock:InvokeModelWithResponseStream``, per the Bedrock API reference),
  resources where the records name them (``requestParameters.modelId`` ->
  foundation-model / inference-profile ARNs, guardrails, ``resources[]``),
  and the regions used (``aws:RequestedRegion``);
* a **role** with a trust policy for the workload that will assume it;
* the **commands** to switch the workload over and then revoke and clean up
  the phantom user;
* **checks** run with the scan's policy engine (:mod:`phantomkeys.core.policy`):
  every recorded call is allowed, and nothing destructive that was not
  recorded is;
* Terraform and CloudFormation renderings.

Calls that were refused (``AccessDenied``) are never granted: the principal
did not really do them. Recorded calls that are destructive or outside the
key's surface (an attacker's ``DeleteGuardrail`` or ``iam:CreateAccessKey``
through a leaked key look exactly like the workload's calls) are granted,
because they *were* made, but listed for review; ``exclude`` drops them.

Nothing here reads the clock, the environment or files: records, time and
the IAM catalog are passed in.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import yaml

from phantomkeys.core import target as core_target
from phantomkeys.core.controls.iac import hcl_string, hcl_value
from phantomkeys.core.findings import Finding, Location, Rule, Severity
from phantomkeys.core.keys import KeyKind
from phantomkeys.core.policy import Decision, PolicyKind, Request, evaluate, parse_policy
from phantomkeys.core.timeparse import parse_iso_or_none
from phantomkeys.surfaces import SURFACES, Surface, SurfaceId, partition_for_region

__all__ = [
    "DESTRUCTIVE_PROBES",
    "EXTERNAL_ID_PLACEHOLDER",
    "BuildOptions",
    "Check",
    "LeastPrivilege",
    "LeastPrivilegeCatalog",
    "Target",
    "TargetError",
    "TargetKind",
    "TrustPrincipal",
    "build_least_privilege",
    "document",
    "observe",
    "parse_trust_principal",
    "render_cloudformation",
    "render_terraform",
    "resolve_target",
    "select_records",
    "switch_over_commands",
    "validate_policy",
    "verify_policy",
]

#: Marks the value a user must replace before deploying the trust policy.
EXTERNAL_ID_PLACEHOLDER = "REPLACE-ME-with-a-secret-external-id"

#: IAM limit on the inline policies of one role, whitespace not counted
#: (IAM User Guide, "IAM and AWS STS quotas": role policy size 10,240 characters).
ROLE_INLINE_POLICY_MAX_CHARS = 10_240

#: ``MaxSessionDuration`` of the role: one hour, like a short-term key should live.
DEFAULT_MAX_SESSION_SECONDS = 3_600

_IAM_NAME_RE = re.compile(r"[^\w+=,.@-]", re.ASCII)
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ARN_PRINCIPAL_RE = re.compile(
    r"^arn:(aws|aws-us-gov|aws-cn):(iam|sts)::(\d{12}):(root|user/.+|role/.+|assumed-role/.+)$"
)
_SERVICE_PRINCIPAL_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")
_VERSIONED_NAME_RE = re.compile(r"^(?P<name>[A-Za-z]+?)(?P<version>\d{8})$")

#: Cross-region inference profile ids start with a geography (Bedrock user
#: guide, "Supported Regions and models for inference profiles").
_PROFILE_GEOGRAPHIES = ("us", "eu", "apac", "au", "ca", "jp", "global", "us-gov", "apne")

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

#: Calls every principal may make without any permission.
_NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})

#: Actions whose ``modelId`` names the model the call runs on.
_MODEL_ACTIONS = frozenset(
    {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:CountTokens",
    }
)

#: Inference and bearer-token actions: what a workload is expected to call.
_INFERENCE_ACTIONS = frozenset(
    {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:ApplyGuardrail",
        "bedrock:CountTokens",
        "bedrock:Retrieve",
        "bedrock:RetrieveAndGenerate",
        "bedrock:InvokeAgent",
        "bedrock:InvokeFlow",
        "bedrock:RenderPrompt",
        "bedrock-mantle:CreateInference",
        "bedrock-mantle:CountTokens",
        "aws-external-anthropic:CreateInference",
        "aws-external-anthropic:CountTokens",
        *(a for s in SURFACES for a in s.bearer_token_actions),
    }
)

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

#: Destructive, costly or escalating actions checked to be denied unless recorded
#: (docs/aws-facts.md "Managed policies": what AmazonBedrockLimitedAccess allows and attackers use).
DESTRUCTIVE_PROBES: tuple[str, ...] = (
    "bedrock:DeleteGuardrail",
    "bedrock:UpdateGuardrail",
    "bedrock:CreateProvisionedModelThroughput",
    "bedrock:UpdateProvisionedModelThroughput",
    "bedrock:DeleteProvisionedModelThroughput",
    "bedrock:DeleteCustomModel",
    "bedrock:DeleteImportedModel",
    "bedrock:DeleteInferenceProfile",
    "bedrock:CreateModelCustomizationJob",
    "bedrock:CreateModelInvocationJob",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
    "bedrock:GetModelInvocationLoggingConfiguration",
    "bedrock:TagResource",
    "bedrock:UntagResource",
    "bedrock-mantle:CreateReservation",
    "aws-external-anthropic:DeleteVault",
    "aws-external-anthropic:ArchiveWorkspace",
    "aws-marketplace:Subscribe",
    "iam:CreateAccessKey",
    "iam:CreateUser",
    "iam:CreateLoginProfile",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:PassRole",
    "iam:CreateServiceSpecificCredential",
    "iam:ListRoles",
    "sts:AssumeRole",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
    "kms:Decrypt",
    "s3:GetObject",
    "ec2:RunInstances",
)

#: Access levels (``phantomkeys.catalog.AccessLevel`` values) that change things.
_CHANGING_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})


# ------------------------------------------------------------------ catalog seam


class LeastPrivilegeCatalog(Protocol):
    """What this module needs from :class:`phantomkeys.catalog.IamCatalog`."""

    def canonical_action(self, action: str) -> str | None: ...

    def access_level(self, action: str) -> Any: ...

    def actions_of(self, prefix: str) -> Collection[str]: ...

    def expand(self, pattern: str) -> frozenset[str]: ...

    def resource_arn_formats(self, action: str) -> tuple[str, ...] | None: ...

    def __hash__(self) -> int: ...


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


# ------------------------------------------------------------------ grants


class GrantKind(StrEnum):
    #: Allowed on the resource in the regions it was used (``aws:RequestedRegion``).
    REGIONAL = "regional"
    #: Foundation models reached through a cross-region inference profile: any
    #: region the profile routes to, only through that profile.
    VIA_PROFILE = "via-inference-profile"


@dataclass(frozen=True, slots=True)
class Grant:
    action: str
    resource: str
    kind: GrantKind
    region: str
    #: Extra condition values, e.g. (("bedrock:InferenceProfileArn", arn),).
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What ``modelId`` named, as the ARNs IAM authorises."""

    resources: tuple[str, ...]
    via_profile: tuple[str, ...] = ()
    profile_arn: str | None = None
    note: str | None = None


def model_resources(
    model_id: str, *, region: str, account_id: str | None, partition: str
) -> ModelRef:
    """ARNs that ``InvokeModel`` with this ``modelId`` is authorised on.

    * ``anthropic.claude-…`` -> the foundation model in the call's region;
    * ``us.anthropic.claude-…`` (a cross-region inference profile) -> the
      profile in the call's region, plus the foundation model in every region,
      allowed only through that profile (``bedrock:InferenceProfileArn``), as
      the Bedrock user guide's "Prerequisites for inference profiles" requires;
    * an ARN -> itself (application inference profiles and provisioned or
      custom models route to models the records do not name: noted).
    """
    if model_id.startswith("arn:"):
        parts = model_id.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        if resource.startswith("inference-profile/"):
            base = _profile_base_model(resource.split("/", 1)[1])
            if base:
                fm = f"arn:{parts[1]}:bedrock:*::foundation-model/{base}"
                return ModelRef((model_id,), via_profile=(fm,), profile_arn=model_id)
        note = None
        if not resource.startswith("foundation-model/"):
            note = (
                f"{resource.split('/', 1)[0]} {model_id}: the foundation models it routes "
                "to are not in the records; add them if calls fail"
            )
        return ModelRef((model_id,), note=note)
    base = _profile_base_model(model_id)
    if base is not None:
        acct = account_id or "*"
        profile = f"arn:{partition}:bedrock:{region}:{acct}:inference-profile/{model_id}"
        fm = f"arn:{partition}:bedrock:*::foundation-model/{base}"
        return ModelRef((profile,), via_profile=(fm,), profile_arn=profile)
    if "/" in model_id or not model_id:
        return ModelRef(
            (f"arn:{partition}:bedrock:{region}:{account_id or '*'}:*",),
            note=f"model {model_id!r} is not a model id or ARN",
        )
    return ModelRef((f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}",))


def _profile_base_model(profile_id: str) -> str | None:
    geography, dot, rest = profile_id.partition(".")
    if dot and geography in _PROFILE_GEOGRAPHIES and "." in rest:
        return rest
    return None


def guardrail_arn(identifier: str, *, region: str, account_id: str | None, partition: str) -> str:
    if identifier.startswith("arn:"):
        return identifier
    return f"arn:{partition}:bedrock:{region}:{account_id or '*'}:guardrail/{identifier}"


# ------------------------------------------------------------------ trust


class TrustKind(StrEnum):
    ACCOUNT_ROOT = "account-root"
    AWS_PRINCIPAL = "aws-principal"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class TrustPrincipal:
    kind: TrustKind
    value: str
    #: The trust policy carries an ``sts:ExternalId`` placeholder to replace.
    external_id: bool = False

    def trust_policy(self) -> dict[str, Any]:
        principal_key = "Service" if self.kind is TrustKind.SERVICE else "AWS"
        statement: dict[str, Any] = {
            "Sid": "AssumedByTheWorkload",
            "Effect": "Allow",
            "Principal": {principal_key: self.value},
            "Action": "sts:AssumeRole",
        }
        if self.external_id:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}}
        return {"Version": "2012-10-17", "Statement": [statement]}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "value": self.value, "external_id": self.external_id}


def parse_trust_principal(text: str | None, *, account_id: str, partition: str) -> TrustPrincipal:
    """``--trust-principal``: an ARN, a 12-digit account, a service host, or None (the default).

    The default trusts the account root *with an ExternalId placeholder*: every
    principal of the account whose own policy allows ``sts:AssumeRole`` on the
    role, and only when it presents the external id. Narrow it to the workload's
    principal (a role ARN, or ``lambda.amazonaws.com``) when you know it.
    """
    if text is None or not text.strip():
        return TrustPrincipal(
            TrustKind.ACCOUNT_ROOT, f"arn:{partition}:iam::{account_id}:root", external_id=True
        )
    value = text.strip()
    if _ACCOUNT_RE.match(value):
        return TrustPrincipal(
            TrustKind.ACCOUNT_ROOT, f"arn:{partition}:iam::{value}:root", external_id=True
        )
    m = _ARN_PRINCIPAL_RE.match(value)
    if m:
        if m.group(4).startswith("assumed-role/"):
            raise TargetError(
                "--trust-principal: trust the role ARN "
                "(arn:…:iam::<account>:role/<name>), not one of its sessions"
            )
        if m.group(4) == "root":
            return TrustPrincipal(TrustKind.ACCOUNT_ROOT, value, external_id=True)
        return TrustPrincipal(TrustKind.AWS_PRINCIPAL, value)
    if _SERVICE_PRINCIPAL_RE.match(value):
        return TrustPrincipal(TrustKind.SERVICE, value)
    raise TargetError(
        f"--trust-principal: {value!r} is not an IAM role/user ARN, a 12-digit "
        "account id or a service principal such as lambda.amazonaws.com"
    )


# ------------------------------------------------------------------ the result


@dataclass(frozen=True, slots=True)
class BuildOptions:
    account_id: str
    partition: str = "aws"
    role_name: str | None = None
    policy_name: str = "least-privilege"
    trust: TrustPrincipal | None = None
    #: Grant the surface's bearer-token action when the records show API-key use,
    #: so the workload can keep using short-term keys minted from the role.
    bearer_token: bool = True
    #: Action patterns (``bedrock:Delete*``) to leave out even though recorded.
    exclude: tuple[str, ...] = ()
    max_session_seconds: int = DEFAULT_MAX_SESSION_SECONDS


@dataclass(frozen=True, slots=True)
class ActionUse:
    """How one IAM action was used in the records."""

    action: str
    calls: int
    first_seen: datetime
    last_seen: datetime
    regions: tuple[str, ...]
    resources: tuple[str, ...]
    event_names: tuple[str, ...]
    source_ips: tuple[str, ...]
    bearer_token_calls: int
    access_level: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "calls": self.calls,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "regions": list(self.regions),
            "resources": list(self.resources),
            "event_names": list(self.event_names),
            "source_ips": list(self.source_ips),
            "bearer_token_calls": self.bearer_token_calls,
            "access_level": self.access_level,
        }


@dataclass(frozen=True, slots=True)
class Review:
    action: str
    reason: str
    calls: int
    excluded: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "calls": self.calls,
            "excluded": self.excluded,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """Calls that are not in the policy, and why."""

    event_source: str
    event_name: str
    calls: int
    reason: str
    error_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_source": self.event_source,
            "event_name": self.event_name,
            "calls": self.calls,
            "reason": self.reason,
        }
        if self.error_code:
            out["error_code"] = self.error_code
        return out


@dataclass(frozen=True, slots=True)
class LeastPrivilege:
    """Everything ``least-privilege`` produces, before checks and rendering."""

    target: Target
    account_id: str
    partition: str
    since: datetime | None
    until: datetime | None
    records_matched: int
    calls_used: int
    policy_name: str
    policy: dict[str, Any]
    role_name: str
    role_description: str
    trust: TrustPrincipal
    max_session_seconds: int
    grants: tuple[Grant, ...]
    actions: tuple[ActionUse, ...]
    review: tuple[Review, ...]
    excluded: tuple[str, ...]
    denied: tuple[Skipped, ...]
    unmapped: tuple[Skipped, ...]
    regions: tuple[str, ...]
    primary_region: str | None
    surfaces: tuple[SurfaceId, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def trust_policy(self) -> dict[str, Any]:
        return self.trust.trust_policy()

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.role_name}"

    @property
    def recorded_actions(self) -> frozenset[str]:
        return frozenset(a.action for a in self.actions)

    @property
    def empty(self) -> bool:
        return not self.policy.get("Statement")


def default_role_name(target: Target) -> str:
    base = target.username or (
        f"{(target.surface or SurfaceId.BEDROCK).value}-"
        f"{(target.access_key_id or 'key')[-6:].lower()}"
    )
    name = _IAM_NAME_RE.sub("-", f"{base}-workload")
    return name[:64]


def _sid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text) or "Statement"


def _pascal(prefix: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", prefix) if p)


def _matches_any(action: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.strip().lower()) for p in patterns)


def build_least_privilege(
    records: Iterable[Mapping[str, Any]],
    target: Target,
    options: BuildOptions,
    catalog: LeastPrivilegeCatalog,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> LeastPrivilege:
    """The minimal policy, role and review list for the target's (already selected) records."""
    partition = options.partition
    account = options.account_id
    grants: list[Grant] = []
    uses: dict[str, dict[str, Any]] = {}
    denied: Counter[tuple[str, str, str]] = Counter()
    unmapped: Counter[tuple[str, str, str]] = Counter()
    notes: list[str] = []
    regions: Counter[str] = Counter()
    surfaces: set[SurfaceId] = set()
    matched = 0
    used = 0

    def use(action: str, call: ObservedCall, resources: Iterable[str]) -> None:
        entry = uses.setdefault(
            action,
            {
                "calls": 0,
                "first": call.event_time,
                "last": call.event_time,
                "regions": set(),
                "resources": set(),
                "events": set(),
                "ips": set(),
                "bearer": 0,
            },
        )
        entry["calls"] += 1
        entry["first"] = min(entry["first"], call.event_time)
        entry["last"] = max(entry["last"], call.event_time)
        entry["regions"].add(call.region)
        entry["resources"].update(resources)
        entry["events"].add(f"{call.event_source}:{call.event_name}")
        if call.source_ip:
            entry["ips"].add(call.source_ip)
        if call.bearer:
            entry["bearer"] += 1

    for record in records:
        call = observe(record)
        if call is None:
            continue
        matched += 1
        if call.denied:
            denied[(call.event_source, call.event_name, call.error_code or "")] += 1
            continue
        actions = map_actions(call.event_source, call.event_name, catalog)
        if actions is None:
            unmapped[
                (call.event_source, call.event_name, "no IAM action of that name in the catalog")
            ] += 1
            continue
        actions = tuple(a for a in actions if a not in _NO_PERMISSION_NEEDED)
        if not actions:
            unmapped[(call.event_source, call.event_name, "needs no permission")] += 1
            continue
        used += 1
        regions[call.region] += 1
        surface = _surface_for_source(call.event_source)
        if surface is not None:
            surfaces.add(surface.id)
        for action in actions:
            resources: list[str] = []
            if action in _MODEL_ACTIONS and call.model_id:
                ref = model_resources(
                    call.model_id, region=call.region, account_id=account, partition=partition
                )
                resources.extend(ref.resources)
                for arn in ref.resources:
                    grants.append(Grant(action, arn, GrantKind.REGIONAL, call.region))
                for arn in ref.via_profile:
                    assert ref.profile_arn is not None
                    grants.append(
                        Grant(
                            action,
                            arn,
                            GrantKind.VIA_PROFILE,
                            call.region,
                            (("bedrock:InferenceProfileArn", ref.profile_arn),),
                        )
                    )
                    resources.append(arn)
                if ref.note and ref.note not in notes:
                    notes.append(ref.note)
            elif action == "bedrock:ApplyGuardrail" and call.guardrail_id:
                arn = guardrail_arn(
                    call.guardrail_id, region=call.region, account_id=account, partition=partition
                )
                resources.append(arn)
                grants.append(Grant(action, arn, GrantKind.REGIONAL, call.region))
            elif call.resource_arns and action.split(":", 1)[0] not in ("bedrock",):
                resources.extend(call.resource_arns)
                grants.extend(
                    Grant(action, arn, GrantKind.REGIONAL, call.region)
                    for arn in call.resource_arns
                )
            else:
                resources.append("*")
                grants.append(Grant(action, "*", GrantKind.REGIONAL, call.region))
            use(action, call, resources)
        if (
            call.guardrail_id
            and "bedrock:ApplyGuardrail" not in actions
            and call.event_source == "bedrock.amazonaws.com"
        ):
            # Inference with a guardrail also needs bedrock:ApplyGuardrail on it
            # (Bedrock user guide, "Permissions for using guardrails").
            arn = guardrail_arn(
                call.guardrail_id, region=call.region, account_id=account, partition=partition
            )
            grants.append(Grant("bedrock:ApplyGuardrail", arn, GrantKind.REGIONAL, call.region))
            use("bedrock:ApplyGuardrail", call, [arn])
        if call.bearer and options.bearer_token:
            bearer = _bearer_action(call.event_source)
            if bearer is not None:
                grants.append(Grant(bearer, "*", GrantKind.REGIONAL, call.region))
                use(bearer, call, ["*"])

    action_uses: list[ActionUse] = []
    for action, entry in sorted(uses.items()):
        level = catalog.access_level(action)
        action_uses.append(
            ActionUse(
                action=action,
                calls=entry["calls"],
                first_seen=entry["first"],
                last_seen=entry["last"],
                regions=tuple(sorted(entry["regions"])),
                resources=tuple(sorted(entry["resources"])),
                event_names=tuple(sorted(entry["events"])),
                source_ips=tuple(sorted(entry["ips"])),
                bearer_token_calls=entry["bearer"],
                access_level=str(getattr(level, "value", level)) if level is not None else None,
            )
        )

    review: list[Review] = []
    excluded: list[str] = []
    key_prefixes = {p for s in SURFACES for p in s.key_service_prefixes}
    for au in action_uses:
        is_excluded = _matches_any(au.action, options.exclude)
        if is_excluded:
            excluded.append(au.action)
        reasons: list[str] = []
        prefix = au.action.split(":", 1)[0]
        if au.access_level in _CHANGING_LEVELS and au.action not in _INFERENCE_ACTIONS:
            reasons.append(
                f"{au.access_level} action: make sure the workload, not someone "
                "holding a leaked key, made these calls"
            )
        if (
            target.kind is not TargetKind.SHORT_TERM_KEY
            and prefix not in key_prefixes
            and target.username
            and any(s.is_phantom_name(target.username) for s in SURFACES)
        ):
            reasons.append(
                "a phantom user called a service outside its surface "
                "(an API-key user needs only Bedrock / Claude Platform)"
            )
        if au.action in DESTRUCTIVE_PROBES and not reasons:
            reasons.append("destructive or sensitive action")
        if reasons:
            review.append(Review(au.action, "; ".join(reasons), au.calls, is_excluded))
    kept = [g for g in grants if not _matches_any(g.action, options.exclude)]

    policy = _policy_document(kept)
    role_name = options.role_name or default_role_name(target)
    trust = options.trust or parse_trust_principal(None, account_id=account, partition=partition)
    window = f"{_iso(since) or 'the start'} to {_iso(until) or 'now'}"
    description = (
        f"Least-privilege replacement for {target.principal_name}, generated by "
        "phantomkeys "
        f"from {used} CloudTrail calls ({window})."
    )[:1000]
    return LeastPrivilege(
        target=target,
        account_id=account,
        partition=partition,
        since=since,
        until=until,
        records_matched=matched,
        calls_used=used,
        policy_name=options.policy_name,
        policy=policy,
        role_name=role_name,
        role_description=description,
        trust=trust,
        max_session_seconds=options.max_session_seconds,
        grants=tuple(kept),
        actions=tuple(action_uses),
        review=tuple(review),
        excluded=tuple(excluded),
        denied=tuple(
            Skipped(s, n, c, "refused by AWS at the time: not granted", code)
            for (s, n, code), c in sorted(denied.items())
        ),
        unmapped=tuple(Skipped(s, n, c, reason) for (s, n, reason), c in sorted(unmapped.items())),
        regions=tuple(sorted(regions)),
        primary_region=regions.most_common(1)[0][0] if regions else None,
        surfaces=tuple(sorted(surfaces)),
        notes=tuple(notes),
    )


def _policy_document(grants: Sequence[Grant]) -> dict[str, Any]:
    """Group grants into statements: same resources, regions and conditions -> one statement."""
    per_action: dict[
        tuple[str, GrantKind, tuple[tuple[str, str], ...]], tuple[set[str], set[str]]
    ] = {}
    for g in grants:
        res_set, region_set = per_action.setdefault((g.action, g.kind, g.context), (set(), set()))
        res_set.add(g.resource)
        if g.kind is GrantKind.REGIONAL:
            region_set.add(g.region)
    groups: dict[
        tuple[frozenset[str], frozenset[str], GrantKind, tuple[tuple[str, str], ...]], list[str]
    ] = {}
    for (action, kind, context), (res_set, region_set) in per_action.items():
        scope = frozenset({"*"}) if "*" in res_set else frozenset(res_set)
        groups.setdefault((scope, frozenset(region_set), kind, context), []).append(action)

    bearer_actions = {x for s in SURFACES for x in s.bearer_token_actions}

    def purpose(scope: frozenset[str], kind: GrantKind, actions: list[str]) -> tuple[int, str]:
        if kind is GrantKind.VIA_PROFILE:
            return 1, "ThroughInferenceProfile"
        if all(a in _INFERENCE_ACTIONS for a in actions) and scope != {"*"}:
            return 0, "OnRecordedModels" if len(actions) > 1 else ""
        if all(a in bearer_actions for a in actions):
            return 2, ""
        return 3, "RecordedCalls" if len(actions) > 1 else ""

    ranked = []
    for (scope, scope_regions, kind, context), actions in groups.items():
        actions.sort()
        rank, label = purpose(scope, kind, actions)
        ranked.append((rank, actions, sorted(scope), scope_regions, kind, context, label))
    ranked.sort(key=lambda item: (item[0], item[1], item[2]))

    statements: list[dict[str, Any]] = []
    used_sids: set[str] = set()
    for _, actions, resource_list, regions, _kind, context, label in ranked:
        prefixes = sorted({a.split(":", 1)[0] for a in actions})
        if len(actions) == 1:
            prefix, name = actions[0].split(":", 1)
            base = _sid(_pascal(prefix) + name + label)
        else:
            base = _sid("".join(_pascal(p) for p in prefixes) + label)
        sid, n = base, 2
        while sid in used_sids:
            sid, n = f"{base}{n}", n + 1
        used_sids.add(sid)
        conditions: dict[str, dict[str, Any]] = {}
        if regions:
            region_list = sorted(regions)
            conditions.setdefault("StringEquals", {})["aws:RequestedRegion"] = (
                region_list[0] if len(region_list) == 1 else region_list
            )
        for condition_key, value in context:
            conditions.setdefault("StringEquals", {})[condition_key] = value
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource_list[0] if len(resource_list) == 1 else resource_list,
        }
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


# ------------------------------------------------------------------ checks


class CheckKind(StrEnum):
    RECORDED_ALLOWED = "recorded-call-allowed"
    UNRECORDED_DENIED = "unrecorded-destructive-denied"
    EXCLUDED_DENIED = "excluded-call-denied"
    OTHER_REGION_DENIED = "other-region-denied"


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    action: str
    resource: str
    region: str | None
    decision: Decision
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "action": self.action,
            "resource": self.resource,
            "region": self.region,
            "decision": self.decision.value,
            "ok": self.ok,
        }


def verify_policy(result: LeastPrivilege, catalog: LeastPrivilegeCatalog) -> tuple[Check, ...]:
    """Prove the policy with the scan's policy engine.

    * every recorded call (action, resource, region, profile) is ``allowed``;
    * every destructive probe (:data:`DESTRUCTIVE_PROBES`), every
      Write / Permissions-management / Tagging action of the services the
      principal used, and every IAM and STS action, not recorded, is
      ``implicit-deny`` even with an unknown request context;
    * excluded actions are denied;
    * a recorded call is denied from a region it was never used in.
    """
    policy = (
        parse_policy(result.policy, name=result.policy_name, kind=PolicyKind.INLINE)
        if not result.empty
        else None
    )
    identity = (policy,) if policy else ()
    checks: list[Check] = []
    seen: set[tuple[str, str, str, tuple[tuple[str, str], ...]]] = set()
    for g in result.grants:
        resource = g.resource
        if g.kind is GrantKind.VIA_PROFILE:
            resource = resource.replace(":bedrock:*::", f":bedrock:{g.region}::")
        key = (g.action, resource, g.region, g.context)
        if key in seen:
            continue
        seen.add(key)
        context = {"aws:RequestedRegion": [g.region], **{k: [v] for k, v in g.context}}
        decision = evaluate(
            Request(g.action, resource, context=context), identity=identity, catalog=catalog
        ).decision
        checks.append(
            Check(
                CheckKind.RECORDED_ALLOWED,
                g.action,
                resource,
                g.region,
                decision,
                decision is Decision.ALLOWED,
            )
        )
    recorded = result.recorded_actions
    excluded = set(result.excluded)
    probes: set[str] = set()
    for action in DESTRUCTIVE_PROBES:
        canonical = catalog.canonical_action(action)
        if canonical:
            probes.add(canonical)
    for prefix in {a.split(":", 1)[0] for a in recorded} | {"iam", "sts"}:
        for action in catalog.actions_of(prefix):
            level = catalog.access_level(action)
            if str(getattr(level, "value", level)) in _CHANGING_LEVELS or prefix in ("iam", "sts"):
                probes.add(action)
    for action in sorted(probes - recorded):
        decision = evaluate(Request(action), identity=identity, catalog=catalog).decision
        checks.append(
            Check(
                CheckKind.UNRECORDED_DENIED,
                action,
                "*",
                None,
                decision,
                decision is Decision.IMPLICIT_DENY,
            )
        )
    for action in sorted(excluded):
        decision = evaluate(Request(action), identity=identity, catalog=catalog).decision
        checks.append(
            Check(
                CheckKind.EXCLUDED_DENIED,
                action,
                "*",
                None,
                decision,
                decision is Decision.IMPLICIT_DENY,
            )
        )
    other = _unused_region(result.regions)
    if other:
        for g in result.grants:
            if g.kind is not GrantKind.REGIONAL or g.resource != "*":
                continue
            decision = evaluate(
                Request(g.action, "*", context={"aws:RequestedRegion": [other]}),
                identity=identity,
                catalog=catalog,
            ).decision
            checks.append(
                Check(
                    CheckKind.OTHER_REGION_DENIED,
                    g.action,
                    "*",
                    other,
                    decision,
                    not decision.allowed,
                )
            )
            break
    return tuple(checks)


def _unused_region(used: Sequence[str]) -> str | None:
    for candidate in ("ap-southeast-2", "sa-east-1", "eu-north-1", "us-west-1"):
        if candidate not in used:
            return candidate
    return None


# ------------------------------------------------------------------ validation

RULE_POLICY_TOO_LARGE = Rule(
    id="least-privilege-policy-too-large",
    title="Role policy exceeds IAM's inline size limit",
    severity=Severity.HIGH,
    rationale="IAM refuses inline role policies over 10,240 characters (whitespace excluded).",
    remediation="Narrow the window (--days), exclude actions, or split the policy into "
    "customer managed policies.",
    references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",),
    tags=("least-privilege", "validate"),
)
RULE_UNKNOWN_ACTION = Rule(
    id="least-privilege-unknown-action",
    title="Policy names an action the IAM catalog does not know",
    severity=Severity.HIGH,
    rationale="A misspelt action grants nothing; the workload would fail after the switch.",
    remediation="Report it: the event-to-action mapping needs a fix.",
    tags=("least-privilege", "validate"),
)

#: The SCP checker's rules that concern SCP size, not identity policies.
_SCP_ONLY_RULES = frozenset({"scp-too-large", "scp-not-minified"})


def validate_policy(
    result: LeastPrivilege, catalog: LeastPrivilegeCatalog, checker: Any | None = None
) -> list[Finding]:
    """Validate the generated policy: every action in the catalog, IAM's size limit, and
    ``scp validate``'s checker (grammar, condition keys and operators) when given.

    ``checker`` is ``(policy_text, path) -> list[Finding]``; the CLI passes
    :func:`phantomkeys.core.controls.validate.validate_policies` bound to the catalog.
    """
    path = f"{result.policy_name}.json"
    text = json.dumps(result.policy, indent=2)
    findings: list[Finding] = []
    for statement in result.policy.get("Statement", []):
        for action in statement.get("Action", []):
            if catalog.canonical_action(action) != action:
                findings.append(
                    Finding.from_rule(
                        RULE_UNKNOWN_ACTION,
                        subject=f"{path}#{statement.get('Sid')}",
                        account_id=result.account_id,
                        evidence={"action": action},
                        identity=(action,),
                        location=Location(path=path),
                    )
                )
    size = len(re.sub(r"\s+", "", json.dumps(result.policy, separators=(",", ":"))))
    if size > ROLE_INLINE_POLICY_MAX_CHARS:
        findings.append(
            Finding.from_rule(
                RULE_POLICY_TOO_LARGE,
                subject=path,
                account_id=result.account_id,
                evidence={"characters": size, "limit": ROLE_INLINE_POLICY_MAX_CHARS},
                location=Location(path=path),
            )
        )
    if checker is not None:
        findings.extend(f for f in checker(text, path) if f.rule_id not in _SCP_ONLY_RULES)
    return findings


# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class CommandStep:
    step: int
    title: str
    commands: tuple[str, ...]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "title": self.title,
            "commands": list(self.commands),
        }
        if self.note:
            out["note"] = self.note
        return out


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def switch_over_commands(
    result: LeastPrivilege, fmt: str, *, output_name: str | None = None, rerun: str | None = None
) -> tuple[CommandStep, ...]:
    """Deploy the role, move the workload to it, then revoke and clean up the old key holder."""
    role = result.role_name
    region = result.primary_region or "us-east-1"
    q = _shell_quote
    steps: list[CommandStep] = []
    external = result.trust.external_id
    deploy: tuple[str, ...]
    match fmt:
        case "terraform":
            file = output_name or "least-privilege.tf"
            apply = "terraform apply"
            if external:
                apply += " -var external_id=" + q("<your-external-id>")
            deploy = ("terraform init", f"{apply}   # in the folder holding {file}")
        case "cloudformation":
            file = output_name or "least-privilege.yaml"
            overrides = (
                " --parameter-overrides ExternalId=" + q("<your-external-id>") if external else ""
            )
            deploy = (
                f"aws cloudformation deploy --template-file {q(file)} "
                f"--stack-name {q(role)} --capabilities CAPABILITY_NAMED_IAM{overrides}",
            )
        case _:
            file = output_name if fmt == "json" and output_name else "least-privilege.json"
            produce: tuple[str, ...] = ()
            if not (fmt == "json" and output_name):
                base = rerun or f"phantomkeys least-privilege {q(result.target.cli_reference)}"
                produce = (f"{base} --format json -o {q(file)}",)
            deploy = (
                *produce,
                f"jq .role.trust_policy {q(file)} > trust-policy.json",
                f"jq .policy {q(file)} > policy.json",
                *(
                    ("# replace the ExternalId placeholder in trust-policy.json",)
                    if external
                    else ()
                ),
                f"aws iam create-role --role-name {q(role)} "
                "--assume-role-policy-document file://trust-policy.json "
                f"--max-session-duration {result.max_session_seconds}",
                f"aws iam put-role-policy --role-name {q(role)} "
                f"--policy-name {q(result.policy_name)} --policy-document file://policy.json",
            )
    steps.append(
        CommandStep(
            1,
            "Create the least-privilege role",
            deploy,
            "Review the policy first: it allows exactly what the records show.",
        )
    )

    use: list[str] = []
    if result.trust.kind is TrustKind.SERVICE:
        use.append(
            f"# make {result.role_arn} the execution role of the "
            f"{result.trust.value.split('.', 1)[0]} workload, for example:"
        )
        use.append(
            f"aws lambda update-function-configuration --function-name <function> "
            f"--role {result.role_arn}"
        )
    else:
        use.append(f"aws configure set profile.{role}.role_arn {result.role_arn}")
        use.append(f"aws configure set profile.{role}.source_profile <the workload's profile>")
        if external:
            use.append(f"aws configure set profile.{role}.external_id <your-external-id>")
    for surface_id in result.surfaces or (SurfaceId.BEDROCK,):
        surface = next(s for s in SURFACES if s.id is surface_id)
        mint = (
            f"phantomkeys mint --profile {q(role)} --surface {surface.id.value} "
            f"--region {region} --duration 12h"
        )
        if surface.token_env_var:
            use.append(f'export {surface.token_env_var}="$({mint})"')
        else:
            use.append(f"{mint} -o {surface.id.value}-key.txt   # pass it as the API key")
    steps.append(
        CommandStep(
            2,
            "Move the workload to the role",
            tuple(use),
            "Best: let the SDK sign with the role's credentials (SigV4) and drop API keys. If the "
            "client needs a bearer token, mint a short-term key from the role (at most 12 hours; "
            "it dies with the session).",
        )
    )

    ref = result.target.cli_reference
    steps.append(
        CommandStep(
            3,
            "Confirm the old key is no longer used",
            (f"phantomkeys timeline {q(ref)} --days 1",),
            "Wait until the workload has run on the role for a full cycle.",
        )
    )
    if result.target.kind is TargetKind.SHORT_TERM_KEY:
        steps.append(
            CommandStep(
                4,
                "Revoke the short-term key and retire its signer",
                ("phantomkeys revoke -   # paste the key on stdin",),
                "A short-term key dies within 12 hours; revoke it now if it leaked. If it was "
                "signed with an AKIA access key, deactivate that key: it can mint more.",
            )
        )
        return tuple(steps)
    steps.append(
        CommandStep(
            4,
            "Revoke the phantom user's keys (reversible)",
            (f"phantomkeys revoke {q(ref)}",),
            "Deactivates the keys and denies bearer-token use; 'phantomkeys restore' undoes it.",
        )
    )
    steps.append(
        CommandStep(
            5,
            "Delete the phantom user, with a backup",
            (f"phantomkeys cleanup --user {q(ref)} --include-expired",),
            "After a quiet period with the keys revoked (revoked keys are inactive, hence "
            "--include-expired); cleanup shows its plan and backs the user up first.",
        )
    )
    return tuple(steps)


# ------------------------------------------------------------------ rendering


def _comment_block(prefix: str, lines: Iterable[str]) -> str:
    return "".join(f"{prefix} {line}".rstrip() + "\n" for line in lines)


def _summary_lines(result: LeastPrivilege, steps: Sequence[CommandStep]) -> list[str]:
    lines = [
        f"Least-privilege role for {result.target.label} (account {result.account_id}),",
        f"generated by phantomkeys from {result.calls_used} CloudTrail calls "
        f"({_iso(result.since) or 'start'} to {_iso(result.until) or 'now'}).",
    ]
    if result.trust.external_id:
        lines.append("The trust policy requires an external id: set it before deploying.")
    if result.review:
        lines.append("REVIEW before deploying (recorded, but destructive or unexpected):")
        lines.extend(
            f"  - {r.action} ({r.calls} calls){' [excluded]' if r.excluded else ''}"
            for r in result.review
        )
    lines.append("")
    lines.append("Switch-over:")
    for step in steps:
        lines.append(f"{step.step}. {step.title}")
        lines.extend(f"     {c}" for c in step.commands)
    return lines


def _tag_value(target: Target) -> str:
    """IAM tag values allow letters, digits, spaces and ``_.:/=+-@`` (IAM API reference, Tag)."""
    return re.sub(r"[^\w .:/=+@-]", "-", target.username or target.access_key_id or "key")[:256]


def _tf_label(name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "workload"
    return label if label[0].isalpha() else f"r_{label}"


def render_terraform(result: LeastPrivilege, steps: Sequence[CommandStep] = ()) -> str:
    """``aws_iam_role`` + ``aws_iam_role_policy``; the external id is a sensitive variable."""
    label = _tf_label(result.role_name)
    trust = hcl_value(result.trust_policy, 1)
    if result.trust.external_id:
        trust = trust.replace(hcl_string(EXTERNAL_ID_PLACEHOLDER), "var.external_id")
    out = [_comment_block("#", _summary_lines(result, steps)), "\n"]
    if result.trust.external_id:
        out.append(
            'variable "external_id" {\n'
            '  description = "Secret the workload presents when assuming the role '
            '(sts:ExternalId)."\n'
            "  type        = string\n"
            "  sensitive   = true\n"
            "}\n\n"
        )
    out.append(
        f'resource "aws_iam_role" "{label}" {{\n'
        f"  name                 = {hcl_string(result.role_name)}\n"
        f"  description          = {hcl_string(result.role_description)}\n"
        f"  max_session_duration = {result.max_session_seconds}\n"
        f"  assume_role_policy   = jsonencode({trust})\n"
        "  tags = {\n"
        f"    {hcl_string('phantomkeys:replaces')} = {hcl_string(_tag_value(result.target))}\n"
        "  }\n"
        "}\n\n"
        f'resource "aws_iam_role_policy" "{label}" {{\n'
        f"  name   = {hcl_string(result.policy_name)}\n"
        f"  role   = aws_iam_role.{label}.id\n"
        f"  policy = jsonencode({hcl_value(result.policy, 1)})\n"
        "}\n\n"
        'output "role_arn" {\n'
        f"  value = aws_iam_role.{label}.arn\n"
        "}\n"
    )
    return "".join(out)


class _NoAliasDumper(yaml.SafeDumper):
    """CloudFormation rejects YAML aliases (&id001)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _cfn_logical_id(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    logical = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return logical if logical[:1].isalpha() else f"R{logical}"


def _replace_placeholder(value: Any) -> Any:
    if value == EXTERNAL_ID_PLACEHOLDER:
        return {"Ref": "ExternalId"}
    if isinstance(value, dict):
        return {k: _replace_placeholder(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_placeholder(v) for v in value]
    return value


def render_cloudformation(result: LeastPrivilege, steps: Sequence[CommandStep] = ()) -> str:
    """An ``AWS::IAM::Role`` with the policy inline; the external id is a NoEcho parameter."""
    logical = _cfn_logical_id(result.role_name) + "Role"
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": result.role_description,
    }
    if result.trust.external_id:
        template["Parameters"] = {
            "ExternalId": {
                "Type": "String",
                "NoEcho": True,
                "MinLength": 2,
                "MaxLength": 1224,
                "AllowedPattern": "[\\w+=,.@:/-]*",
                "Description": "Secret the workload presents when assuming the role "
                "(sts:ExternalId).",
            }
        }
    template["Resources"] = {
        logical: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": result.role_name,
                "Description": result.role_description,
                "MaxSessionDuration": result.max_session_seconds,
                "AssumeRolePolicyDocument": _replace_placeholder(result.trust_policy),
                "Policies": [{"PolicyName": result.policy_name, "PolicyDocument": result.policy}],
                "Tags": [{"Key": "phantomkeys:replaces", "Value": _tag_value(result.target)}],
            },
        }
    }
    template["Outputs"] = {
        "RoleArn": {
            "Description": "ARN of the least-privilege role",
            "Value": {"Fn::GetAtt": [logical, "Arn"]},
        }
    }
    body = yaml.dump(
        template, Dumper=_NoAliasDumper, sort_keys=False, width=1_000_000, allow_unicode=False
    )
    return _comment_block("#", _summary_lines(result, steps)) + body


def document(
    result: LeastPrivilege,
    *,
    checks: Sequence[Check],
    findings: Sequence[Finding],
    steps: Sequence[CommandStep],
) -> dict[str, Any]:
    """The JSON body of ``least-privilege --format json`` (the CLI adds the envelope)."""
    failed = [c for c in checks if not c.ok]
    return {
        "target": result.target.to_dict(),
        "account_id": result.account_id,
        "window": {"since": _iso(result.since), "until": _iso(result.until)},
        "records": {
            "matched": result.records_matched,
            "used": result.calls_used,
            "denied": sum(s.calls for s in result.denied),
            "unmapped": sum(s.calls for s in result.unmapped),
        },
        "regions": list(result.regions),
        "policy_name": result.policy_name,
        "policy": result.policy,
        "role": {
            "name": result.role_name,
            "arn": result.role_arn,
            "description": result.role_description,
            "max_session_duration": result.max_session_seconds,
            "trust_principal": result.trust.to_dict(),
            "trust_policy": result.trust_policy,
        },
        "placeholders": (
            [
                {
                    "value": EXTERNAL_ID_PLACEHOLDER,
                    "where": "role.trust_policy",
                    "meaning": "a secret external id the workload presents on "
                    "sts:AssumeRole; replace it before deploying",
                }
            ]
            if result.trust.external_id
            else []
        ),
        "actions": [a.to_dict() for a in result.actions],
        "review": [r.to_dict() for r in result.review],
        "excluded": list(result.excluded),
        "denied_calls": [s.to_dict() for s in result.denied],
        "unmapped_calls": [s.to_dict() for s in result.unmapped],
        "checks": {
            "passed": not failed,
            "total": len(checks),
            "recorded_calls_allowed": sum(
                1 for c in checks if c.kind is CheckKind.RECORDED_ALLOWED and c.ok
            ),
            "unrecorded_actions_denied": sum(
                1 for c in checks if c.kind is CheckKind.UNRECORDED_DENIED and c.ok
            ),
            "failures": [c.to_dict() for c in failed],
        },
        "validation": {
            "passed": not any(f.severity.at_least(Severity.HIGH) for f in findings),
            "findings": [f.to_dict() for f in findings],
        },
        "commands": [s.to_dict() for s in steps],
        "notes": list(result.notes),
    }


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
