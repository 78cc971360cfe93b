"""The least-privilege role from observed calls: grants, resources, trust and the
policy document (:func:`build_least_privilege`). Pure; the IAM catalog is passed in."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from phantomkeys.core.leastpriv.catalog import (
    LeastPrivilegeCatalog,
)
from phantomkeys.core.leastpriv.observe import (
    ObservedCall,
    Target,
    TargetError,
    TargetKind,
    _bearer_action,
    _iso,
    _surface_for_source,
    map_actions,
    observe,
)
from phantomkeys.surfaces import SURFACES, SurfaceId

#: Marks the value a user must replace before deploying the trust policy.
EXTERNAL_ID_PLACEHOLDER = "REPLACE-ME-with-a-secret-external-id"

#: ``MaxSessionDuration`` of the role: one hour, like a short-term key should live.
DEFAULT_MAX_SESSION_SECONDS = 3_600

_IAM_NAME_RE = re.compile(r"[^\w+=,.@-]", re.ASCII)
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ARN_PRINCIPAL_RE = re.compile(
    r"^arn:(aws|aws-us-gov|aws-cn):(iam|sts)::(\d{12}):(root|user/.+|role/.+|assumed-role/.+)$"
)
_SERVICE_PRINCIPAL_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")

#: Cross-region inference profile ids start with a geography (Bedrock user
#: guide, "Supported Regions and models for inference profiles").
_PROFILE_GEOGRAPHIES = ("us", "eu", "apac", "au", "ca", "jp", "global", "us-gov", "apne")

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
