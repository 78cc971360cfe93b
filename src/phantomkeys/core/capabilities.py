"""Named dangerous capabilities, and which of them an identity effectively holds.

A capability is data: an id, a severity, the IAM actions (patterns) that
constitute it, why it matters and what to do. :func:`assess_capabilities`
evaluates an identity's policies (identity, boundary, SCPs) with the policy
engine and reports each capability it holds as a :class:`Grant`, naming the
statements that grant it and which credentials reach it:

* ``api-key`` — the action belongs to a service the surface's bearer token can
  call (``Surface.key_service_prefixes``) *and* the identity may use a
  long-term key there (``<prefix>:CallWithBearerToken`` is allowed with
  ``BearerTokenType=LONG_TERM``). When the bearer-token action is denied the
  key reaches nothing.
* ``other-credentials`` — any IAM credential of the user (access keys, a
  console session) can use every granted action.

Facts about what the managed policies grant are in ``docs/aws-facts.md``
("Managed policies").
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

from phantomkeys.core import policy as _policy
from phantomkeys.core.findings import Severity
from phantomkeys.core.policy import (
    ActionCatalog,
    Decision,
    EffectivePermissions,
    Policy,
    Request,
    StatementRef,
    effective_permissions,
    evaluate,
)
from phantomkeys.surfaces import Surface

__all__ = [
    "CAPABILITIES",
    "LONG_TERM",
    "Capability",
    "Grant",
    "Reach",
    "assess_capabilities",
    "beyond_managed_policy",
    "capability",
    "capability_actions",
    "clear_caches",
]


#: ``BearerTokenType`` value of a long-term key (docs/aws-facts.md "Controlling
#: keys"). Not a secret.
LONG_TERM = "LONG_TERM"
#: Other values a long-term key's type may take where AWS has not published them:
#: Mantle's CloudTrail example records ``bearerTokenType: "ABSK"``.
UNPUBLISHED_TYPE_VALUES = (LONG_TERM, "ABSK")


class Reach(StrEnum):
    API_KEY = "api-key"
    OTHER_CREDENTIALS = "other-credentials"


@dataclass(frozen=True, slots=True)
class Capability:
    """A named ability an attacker holding the identity's credentials would have."""

    id: str
    title: str
    severity: Severity
    description: str
    #: IAM action patterns (expanded with the catalog) that constitute it.
    actions: tuple[str, ...]
    rationale: str
    remediation: str
    #: Concrete actions left out of ``actions`` (e.g. a harmless ``Create*`` match).
    exclude: tuple[str, ...] = ()
    #: Held only when *every* concrete action is allowed (full-admin); otherwise any one.
    requires_all: bool = False
    references: tuple[str, ...] = ()
    #: MITRE ATT&CK technique ids.
    attack: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "description": self.description,
            "actions": list(self.actions),
            "exclude": list(self.exclude),
            "requires_all": self.requires_all,
            "rationale": self.rationale,
            "remediation": self.remediation,
            "references": list(self.references),
            "attack": list(self.attack),
        }


_BEDROCK_KEYS_DOC = "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-permissions.html"
_LIMITED_DOC = (
    "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/"
    "AmazonBedrockLimitedAccess.html"
)
_IAM_ESCALATION_DOC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
)

CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        id="full-admin",
        title="Full administrator access",
        severity=Severity.CRITICAL,
        description=(
            "Effectively AdministratorAccess: every IAM action plus a sample of high-impact "
            "actions across compute, storage, keys, logging, Organizations and Bedrock."
        ),
        # Sound test: all of IAM (which alone lets a principal grant itself anything
        # its boundary and SCPs permit) and one or more sensitive actions in each
        # major service. A boundary or SCP that removes any of them breaks the match.
        actions=(
            "iam:*",
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteBucket",
            "ec2:RunInstances",
            "ec2:TerminateInstances",
            "kms:Decrypt",
            "kms:ScheduleKeyDeletion",
            "lambda:CreateFunction",
            "lambda:InvokeFunction",
            "sts:AssumeRole",
            "organizations:LeaveOrganization",
            "cloudtrail:StopLogging",
            "dynamodb:Scan",
            "secretsmanager:GetSecretValue",
            "ssm:GetParameter",
            "rds:DeleteDBInstance",
            "route53:ChangeResourceRecordSets",
            "cloudformation:CreateStack",
            "bedrock:InvokeModel",
            "bedrock:PutModelInvocationLoggingConfiguration",
        ),
        requires_all=True,
        rationale=(
            "Whoever holds any credential of this user owns the account: data, keys, logs and "
            "every other identity."
        ),
        remediation=(
            "Remove the administrator policy from the API-key user; keep API-key users on "
            "least-privilege policies (phantomkeys least-privilege USER)."
        ),
        references=(_IAM_ESCALATION_DOC,),
        attack=("T1078.004",),
    ),
    Capability(
        id="iam-write",
        title="IAM writes (privilege escalation)",
        severity=Severity.CRITICAL,
        description=(
            "Create or change users, roles, policies, access keys, passwords, MFA, boundaries "
            "and service-specific credentials."
        ),
        actions=(
            "iam:Create*",
            "iam:Attach*",
            "iam:Put*",
            "iam:Update*",
            "iam:Add*",
            "iam:Upload*",
            "iam:SetDefaultPolicyVersion",
            "iam:ResetServiceSpecificCredential",
            "iam:EnableMFADevice",
            "iam:Delete*PermissionsBoundary",
            "iam:DeleteUserPolicy",
            "iam:DeleteGroupPolicy",
            "iam:DeleteRolePolicy",
            "iam:Detach*Policy",
        ),
        # Service-linked roles can only be assumed by their service; a description
        # change grants nothing.
        exclude=("iam:CreateServiceLinkedRole", "iam:UpdateRoleDescription"),
        rationale=(
            "IAM writes turn a Bedrock key holder into anyone: attach AdministratorAccess, "
            "create an access key or console password on the phantom user, or mint new API "
            "keys that survive the revocation of this one."
        ),
        remediation=(
            "Remove IAM write permissions from the API-key user; deny iam:* on phantom users "
            "with an SCP (phantomkeys scp generate --preset block-pivot)."
        ),
        references=(_IAM_ESCALATION_DOC,),
        attack=("T1098", "T1136.003"),
    ),
    Capability(
        id="pass-role",
        title="Pass IAM roles to services",
        severity=Severity.HIGH,
        description="iam:PassRole: hand a role to Bedrock jobs, Lambda, EC2 or any other service.",
        actions=("iam:PassRole",),
        rationale=(
            "PassRole lets the holder run a service job with another role's permissions; the "
            "customization, import, batch and evaluation jobs Bedrock's limited policy allows "
            "need it, and with it they read and write whatever that role can."
        ),
        remediation=(
            "Scope iam:PassRole to the one Bedrock service role it needs, with an "
            "iam:PassedToService condition."
        ),
        references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html",),
        attack=("T1098",),
    ),
    Capability(
        id="invocation-logging-tampering",
        title="Tamper with invocation logging and audit trails",
        severity=Severity.HIGH,
        description=(
            "Change or delete Bedrock model-invocation logging, stop or change CloudTrail "
            "trails and event data stores, delete the log groups that hold the records."
        ),
        actions=(
            "bedrock:PutModelInvocationLoggingConfiguration",
            "bedrock:DeleteModelInvocationLoggingConfiguration",
            "cloudtrail:StopLogging",
            "cloudtrail:DeleteTrail",
            "cloudtrail:UpdateTrail",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:DeleteEventDataStore",
            "cloudtrail:UpdateEventDataStore",
            "cloudtrail:StopEventDataStoreIngestion",
            "logs:DeleteLogGroup",
            "logs:DeleteLogStream",
            "logs:PutRetentionPolicy",
        ),
        rationale=(
            "Turning logging off hides model abuse and the rest of the intrusion; "
            "AmazonBedrockLimitedAccess deliberately does not grant it (docs/aws-facts.md)."
        ),
        remediation=(
            "Remove these actions from the user; protect logging configuration with an SCP "
            "deny outside a security role."
        ),
        references=(
            "https://docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html",
        ),
        attack=("T1562.008",),
    ),
    Capability(
        id="guardrail-tampering",
        title="Weaken or delete guardrails",
        severity=Severity.HIGH,
        description="Update or delete Bedrock guardrails and account-enforced guardrail settings.",
        actions=(
            "bedrock:UpdateGuardrail",
            "bedrock:DeleteGuardrail",
            "bedrock:CreateGuardrailVersion",
            "bedrock:PutEnforcedGuardrailConfiguration",
            "bedrock:DeleteEnforcedGuardrailConfiguration",
        ),
        rationale=(
            "Guardrails are the content and data-leak controls of every application using "
            "them; AmazonBedrockLimitedAccess grants UpdateGuardrail and DeleteGuardrail to "
            "every API key."
        ),
        remediation=(
            "Deny bedrock:UpdateGuardrail/DeleteGuardrail to API-key users (inline deny or SCP) "
            "and manage guardrails from a dedicated role."
        ),
        references=(_LIMITED_DOC,),
        attack=("T1562",),
    ),
    Capability(
        id="model-deletion",
        title="Delete models and model endpoints",
        severity=Severity.HIGH,
        description=(
            "Delete custom and imported models, deployments, provisioned throughput, inference "
            "profiles, prompt routers and marketplace endpoints."
        ),
        actions=(
            "bedrock:DeleteCustomModel",
            "bedrock:DeleteImportedModel",
            "bedrock:DeleteCustomModelDeployment",
            "bedrock:DeleteProvisionedModelThroughput",
            "bedrock:DeleteInferenceProfile",
            "bedrock:DeletePromptRouter",
            "bedrock:DeleteMarketplaceModelEndpoint",
            "bedrock-mantle:DeleteCustomizedModel",
        ),
        rationale=(
            "Custom models embody training data and compute spend; deleting them or their "
            "endpoints is destruction and an outage. The limited policy grants the deletes."
        ),
        remediation="Deny the Delete* actions to API-key users; keep model lifecycle in a role.",
        references=(_LIMITED_DOC,),
        attack=("T1485",),
    ),
    Capability(
        id="provisioned-throughput",
        title="Buy provisioned throughput and other committed capacity",
        severity=Severity.HIGH,
        description=(
            "Create or enlarge provisioned model throughput, mantle reservations, custom model "
            "deployments, marketplace endpoints and marketplace subscriptions."
        ),
        actions=(
            "bedrock:CreateProvisionedModelThroughput",
            "bedrock:UpdateProvisionedModelThroughput",
            "bedrock:CreateCustomModelDeployment",
            "bedrock:CreateMarketplaceModelEndpoint",
            "bedrock-mantle:CreateReservation",
            "bedrock-mantle:UpdateReservation",
            "aws-marketplace:Subscribe",
        ),
        rationale=(
            "Provisioned throughput is billed per model unit per hour, with commitments of "
            "one to six months: a leaked key can commit the account to large bills."
        ),
        remediation=(
            "Deny bedrock:CreateProvisionedModelThroughput/UpdateProvisionedModelThroughput to "
            "API-key users; set a budget alarm."
        ),
        references=(_LIMITED_DOC,),
        attack=("T1496",),
    ),
    Capability(
        id="invoke-models",
        title="Invoke models (cost abuse)",
        severity=Severity.MEDIUM,
        description=(
            "Run inference: InvokeModel (which also authorizes Converse/ConverseStream), "
            "streaming, batch jobs, agents and flows, bedrock-mantle and Claude Platform "
            "inference."
        ),
        # Converse and ConverseStream have no IAM action of their own: they are
        # authorized by bedrock:InvokeModel / InvokeModelWithResponseStream.
        actions=(
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream",
            "bedrock:CreateModelInvocationJob",
            "bedrock:InvokeAgent",
            "bedrock:InvokeInlineAgent",
            "bedrock:InvokeFlow",
            "bedrock:RetrieveAndGenerate",
            "bedrock-mantle:CreateInference",
            "aws-external-anthropic:CreateInference",
            "aws-external-anthropic:CreateBatchInference",
        ),
        rationale=(
            'This is what a leaked key is used for ("LLMjacking"): model calls billed to the '
            "account, possibly to generate abusive content under its name."
        ),
        remediation=(
            "Limit which models can be invoked (resource ARNs, bedrock-mantle:Model), use "
            "short-term keys, and alert on bearer-token use (phantomkeys alerts generate)."
        ),
        references=(_BEDROCK_KEYS_DOC,),
        attack=("T1496",),
    ),
    Capability(
        id="data-exfiltration",
        title="Exfiltrate models or training data",
        severity=Severity.HIGH,
        description=(
            "Copy or export models, read and write S3 objects, open buckets through policies, "
            "ACLs and replication, download bedrock-mantle files."
        ),
        actions=(
            "bedrock:CreateModelCopyJob",
            "bedrock:ExportAutomatedReasoningPolicyVersion",
            "bedrock-mantle:GetFile",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutBucketAcl",
            "s3:PutBucketPolicy",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutReplicationConfiguration",
            "s3:ReplicateObject",
        ),
        rationale=(
            "Models and their training data are often the most valuable data in an AI "
            "account; copies and bucket-policy changes move them out."
        ),
        remediation=(
            "Remove S3 and model copy/export permissions from API-key users; add a data "
            "perimeter (aws:ResourceOrgID) SCP."
        ),
        attack=("T1530", "T1537"),
    ),
    Capability(
        id="s3-data-read",
        title="Read S3 data",
        severity=Severity.MEDIUM,
        description="List buckets and read objects.",
        actions=(
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:ListAllMyBuckets",
        ),
        rationale="Training data, prompts, invocation logs and batch outputs usually live in S3.",
        remediation="Scope S3 read access to the buckets the workload needs, away from the key.",
        attack=("T1530",),
    ),
    Capability(
        id="kms-decrypt",
        title="Decrypt with KMS keys",
        severity=Severity.MEDIUM,
        description="kms:Decrypt and re-encryption from any key the key policies allow.",
        actions=("kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant"),
        rationale=(
            "Decrypt opens encrypted S3 objects, secrets and logs; CreateGrant hands the same "
            "power to another principal."
        ),
        remediation="Remove KMS decrypt from the user, or restrict it with kms:ViaService.",
        attack=("T1552",),
    ),
    Capability(
        id="claude-platform-agents",
        title="Access Claude Platform agents and their data",
        severity=Severity.HIGH,
        description=(
            "Read and change Managed Agents data: agents, sessions, environments, files, "
            "skills, vaults, memory stores, webhooks and deployments."
        ),
        actions=(
            "aws-external-anthropic:*Agent*",
            "aws-external-anthropic:*Session*",
            "aws-external-anthropic:*Environment*",
            "aws-external-anthropic:*File*",
            "aws-external-anthropic:*Skill*",
            "aws-external-anthropic:*Vault*",
            "aws-external-anthropic:*MemoryStore*",
            "aws-external-anthropic:*Webhook*",
            "aws-external-anthropic:*Deployment*",
        ),
        rationale=(
            "AnthropicLimitedAccess grants Get* on file, skill, session and memory content and "
            "the creation of webhooks that send events out (docs/aws-facts.md, Managed policies)."
        ),
        remediation=(
            "Give inference-only workloads AnthropicInferenceAccess instead of "
            "AnthropicLimitedAccess; watch CloudTrail data events for the workspace."
        ),
        references=(
            "https://docs.aws.amazon.com/claude-platform/latest/userguide/authentication.html",
        ),
        attack=("T1530", "T1567"),
    ),
    Capability(
        id="reconnaissance",
        title="Reconnaissance",
        severity=Severity.LOW,
        description=(
            "Enumerate IAM, networks, keys, buckets, the Organization, Bedrock configuration "
            "(including whether invocation logging is on) and Claude Platform workspaces."
        ),
        actions=(
            "iam:List*",
            "iam:Get*",
            "iam:GenerateCredentialReport",
            "ec2:Describe*",
            "bedrock:List*",
            "bedrock:Get*",
            "bedrock-mantle:List*",
            "bedrock-mantle:Get*",
            "kms:DescribeKey",
            "kms:List*",
            "s3:ListAllMyBuckets",
            "organizations:List*",
            "organizations:Describe*",
            "aws-external-anthropic:List*",
            "aws-external-anthropic:GetAccountStatus",
        ),
        rationale=(
            "Discovery tells an intruder which roles, networks and models exist and whether "
            "anyone is logging; the limited policy grants iam:ListRoles, EC2 describes and "
            "bedrock:Get*."
        ),
        remediation="Keep discovery permissions off API-key users where the workload allows.",
        attack=("T1526", "T1580", "T1087.004"),
    ),
)

_BY_ID = {c.id: c for c in CAPABILITIES}


def capability(capability_id: str) -> Capability:
    return _BY_ID[capability_id]


# ------------------------------------------------------------------- grants


@dataclass(frozen=True, slots=True)
class Grant:
    """One capability an identity holds."""

    capability: str
    title: str
    severity: Severity
    #: Concrete granted actions, sorted.
    actions: tuple[str, ...]
    #: Labels of the identity statements that grant them (``<policy>#<Sid>``).
    granted_by: tuple[str, ...]
    #: True when every granted action depends on a condition (or a conditional deny).
    conditional: bool
    #: ``api-key`` and/or ``other-credentials`` (see the module docstring).
    reach: tuple[Reach, ...]
    #: The granted actions the surface's API key itself can call.
    api_key_actions: tuple[str, ...] = ()
    #: True when using the key depends on a condition (e.g. a conditional deny on
    #: CallWithBearerToken).
    api_key_conditional: bool = False
    #: Granted actions that depend on a condition.
    conditional_actions: tuple[str, ...] = ()
    #: Resource patterns of the granting statements (``NOT <arn>`` for NotResource).
    resources: tuple[str, ...] = ()
    statements: tuple[StatementRef, ...] = ()

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """The grant for reports; ``limit`` cuts the action lists (full-admin
        grants thousands) without copying them first."""
        return {
            "id": self.capability,
            "title": self.title,
            "severity": self.severity.value,
            "actions": list(self.actions[:limit]),
            "granted_by": list(self.granted_by),
            "conditional": self.conditional,
            "reach": [r.value for r in self.reach],
            "api_key_actions": list(self.api_key_actions[:limit]),
            "api_key_conditional": self.api_key_conditional,
            "conditional_actions": list(self.conditional_actions[:limit]),
            "resources": list(self.resources),
        }


def _hashable(catalog: ActionCatalog) -> Hashable:
    return cast(Hashable, catalog)


@lru_cache(maxsize=16)
def _concrete_actions(catalog: ActionCatalog) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for cap in CAPABILITIES:
        found: set[str] = set()
        for pattern in cap.actions:
            expanded = catalog.expand(pattern)
            if expanded:
                found |= expanded
            elif "*" not in pattern and "?" not in pattern:
                found.add(pattern)
        excluded = {a.lower() for a in cap.exclude}
        out[cap.id] = tuple(sorted(a for a in found if a.lower() not in excluded))
    return out


def capability_actions(capability_id: str, catalog: ActionCatalog) -> tuple[str, ...]:
    """The concrete actions a capability consists of in this catalog, sorted."""
    return _concrete_actions(_hashable(catalog))[capability_id]


def _bearer_action(surface: Surface, prefix: str) -> str:
    for action in surface.bearer_token_actions:
        if action.split(":", 1)[0].lower() == prefix:
            return action
    return surface.bearer_token_actions[0]


def _key_decisions(
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    surface: Surface,
    catalog: ActionCatalog,
    token_type: str,
) -> dict[str, Decision]:
    """Per service prefix the key reaches: may a long-term key be used there?

    Where AWS has not published a type key's values (``Surface.unpublished_type_keys``)
    the key is also tried with the value CloudTrail records (``ABSK``), and the
    most permissive answer wins: a deny written for one spelling does not count
    as closing the door (docs/aws-facts.md "Bearer-token type values").
    """
    out: dict[str, Decision] = {}
    for prefix in surface.key_service_prefixes:
        action = _bearer_action(surface, prefix)
        values = [token_type]
        if token_type == LONG_TERM and surface.unpublished_type_keys:
            values += [v for v in UNPUBLISHED_TYPE_VALUES if v != token_type]
        decisions = []
        for value in values:
            # Only the unpublished keys take the other spellings.
            context = {
                key: [value if key in surface.unpublished_type_keys else token_type]
                for key in surface.bearer_token_type_keys
            }
            request = Request(action, context=context, context_is_complete=False)
            decisions.append(
                evaluate(
                    request, identity=identity, boundary=boundary, scps=scps, catalog=catalog
                ).decision
            )
        out[prefix] = min(decisions, key=_PERMISSIVE.index)
    return out


#: Decisions, most permissive first.
_PERMISSIVE = (
    Decision.ALLOWED,
    Decision.CONDITIONAL,
    Decision.IMPLICIT_DENY,
    Decision.EXPLICIT_DENY,
)


def _dedupe(refs: Iterable[StatementRef]) -> tuple[StatementRef, ...]:
    seen: dict[tuple[str, int], StatementRef] = {}
    for r in refs:
        seen.setdefault((r.policy, r.index), r)
    return tuple(sorted(seen.values(), key=lambda r: (r.policy, r.index)))


def _grant(
    cap: Capability,
    concrete: tuple[str, ...],
    perms: EffectivePermissions,
    key_decisions: dict[str, Decision] | None,
    surface: Surface | None,
) -> Grant | None:
    decisions = {a: perms.decision(a) for a in concrete}
    granted = tuple(a for a in concrete if decisions[a].allowed)
    if not granted or (cap.requires_all and len(granted) != len(concrete)):
        return None
    conditional_actions = tuple(a for a in granted if decisions[a] is Decision.CONDITIONAL)
    refs = _dedupe(r for a in granted for r in perms.granted_by(a))

    key_actions: list[str] = []
    key_conditional = False
    if surface is not None and key_decisions is not None:
        for a in granted:
            prefix = a.split(":", 1)[0].lower()
            use = key_decisions.get(prefix)
            if surface.key_reaches(a) and use is not None and use.allowed:
                key_actions.append(a)
                key_conditional = key_conditional or use is Decision.CONDITIONAL
    # A capability that needs every action (full-admin) is in the key's reach
    # only if the key reaches every one of them.
    key_holds = len(key_actions) == len(granted) if cap.requires_all else bool(key_actions)
    reach = ((Reach.API_KEY,) if key_holds else ()) + (Reach.OTHER_CREDENTIALS,)
    resources: list[str] = []
    for r in refs:
        for pattern in r.resources:
            label = f"NOT {pattern}" if r.not_resource else pattern
            if label not in resources:
                resources.append(label)
    return Grant(
        capability=cap.id,
        title=cap.title,
        severity=cap.severity,
        actions=granted,
        granted_by=tuple(r.label for r in refs),
        conditional=len(conditional_actions) == len(granted),
        reach=reach,
        api_key_actions=tuple(key_actions),
        api_key_conditional=key_conditional,
        conditional_actions=conditional_actions,
        resources=tuple(resources),
        statements=refs,
    )


def assess_capabilities(
    identity: Sequence[Policy],
    *,
    boundary: Policy | None = None,
    scps: Sequence[Sequence[Policy]] = (),
    surface: Surface | None,
    catalog: ActionCatalog,
    bearer_token_type: str = LONG_TERM,
) -> tuple[Grant, ...]:
    """The capabilities an identity holds, worst first (memoised).

    ``identity`` holds every identity policy, group policies included;
    ``scps`` one sequence per Organization level, root first (see
    :func:`phantomkeys.core.policy.evaluate`). ``surface`` enables the
    ``api-key`` reach; ``bearer_token_type`` is the key kind to check it for.
    """
    return _assess_cached(
        tuple(identity),
        boundary,
        tuple(tuple(level) for level in scps),
        surface,
        _hashable(catalog),
        bearer_token_type,
    )


@lru_cache(maxsize=4096)
def _assess_cached(
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    surface: Surface | None,
    catalog: ActionCatalog,
    bearer_token_type: str,
) -> tuple[Grant, ...]:
    perms = effective_permissions(identity, boundary=boundary, scps=scps, catalog=catalog)
    key_decisions = (
        _key_decisions(identity, boundary, scps, surface, catalog, bearer_token_type)
        if surface is not None
        else None
    )
    concrete = _concrete_actions(_hashable(catalog))
    grants = []
    for cap in CAPABILITIES:
        grant = _grant(cap, concrete[cap.id], perms, key_decisions, surface)
        if grant is not None:
            grants.append(grant)
    grants.sort(key=lambda g: (-g.severity.rank, CAPABILITIES.index(_BY_ID[g.capability])))
    return tuple(grants)


def clear_caches() -> None:
    """Drop memoised assessments and evaluations (benchmarks, long-running processes)."""
    _assess_cached.cache_clear()
    _concrete_actions.cache_clear()
    _policy.clear_caches()


def beyond_managed_policy(
    identity: Sequence[Policy],
    boundary: Policy | None,
    scps: Sequence[Sequence[Policy]],
    managed: Policy,
    catalog: ActionCatalog,
) -> tuple[str, ...]:
    """Actions the identity may effectively call that ``managed`` alone would not allow.

    Compares effective decisions action by action (resource scopes aside): an
    action counts when the identity is allowed it and the managed policy is
    not, or the identity is allowed it unconditionally and the managed policy
    only conditionally. Boundaries and SCPs apply to the identity side, so a
    boundary that limits an administrator back to Bedrock leaves nothing
    beyond. Group policies are simply more identity policies. Sorted.
    """
    mine = effective_permissions(identity, boundary=boundary, scps=scps, catalog=catalog)
    base = effective_permissions((managed,), catalog=catalog)
    out = []
    for action, decision in mine.decisions.items():
        if not decision.allowed:
            continue
        theirs = base.decision(action)
        if not theirs.allowed or (decision is Decision.ALLOWED and theirs is Decision.CONDITIONAL):
            out.append(action)
    return tuple(sorted(out))
