"""Scenarios: what the lab seeds, and the ground truth phantomkeys must find.

A scenario is data: :class:`LabPlan` lists accounts, their users (with every
credential, policy, group and boundary) and the organization around them.
Each :class:`UserSpec` also carries the *expected* classification (issue 4):

* ``kind``: ``phantom`` (the surface's phantom user-name prefix),
  ``suspected-phantom`` (phantom shape without the name: renamed, or holding
  only the surface credential and the surface managed policy), ``human`` (any
  other user holding a surface credential); ``None`` = must NOT be reported.
  Users with the surface managed policy but no credential are reported too.
* ``status`` (fail-closed): ``at-risk`` if the user has a way in beyond the API
  key (an active access key, a console password) or effective permissions
  beyond the surface's managed policy (a boundary that limits them back counts
  as not beyond); else ``active`` (an active, unexpired API key); else
  ``expired`` (only expired or inactive API keys); else ``orphaned``. An MFA
  device alone is not a way in.

Pure: no I/O. ``seed.py`` executes a plan; ``manifest()`` renders the truth.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

from phantomkeys.lab.accounts import MANAGEMENT_ACCOUNT_ID, ORG_ACCESS_ROLE, member_account_id
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, Surface, SurfaceId, get_surface

#: The capability ids the manifest judges (a scan may name more).
CAPABILITY_IDS = (
    "invoke-models",
    "iam-write",
    "pass-role",
    "full-admin",
    "s3-data-read",
    "kms-decrypt",
)

AWS_POLICY = "arn:aws:iam::aws:policy/"

#: Demo users the CloudTrail story and the guided demo refer to.
DEMO_VICTIM = BEDROCK.phantom_user_prefix + "p1v0"  # its key leaked; the attack uses it
DEMO_APP = BEDROCK.phantom_user_prefix + "a1b2"  # benign daily use
DEMO_CLAUDE_APP = CLAUDE_PLATFORM.phantom_user_prefix + "cp01"
ADMIN_POLICY = AWS_POLICY + "AdministratorAccess"
POWER_USER_POLICY = AWS_POLICY + "PowerUserAccess"
S3_READ_POLICY = AWS_POLICY + "AmazonS3ReadOnlyAccess"
S3_FULL_POLICY = AWS_POLICY + "AmazonS3FullAccess"
IAM_READ_POLICY = AWS_POLICY + "IAMReadOnlyAccess"


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    service: str
    #: CredentialAgeDays; None = never expires (no ExpirationDate).
    age_days: int | None
    #: How many days ago it was created (backdated after creation).
    created_days_ago: float = 1.0
    active: bool = True
    #: The demo hands this key out as "leaked" (never printed, only decoded).
    leaked: bool = False

    def expired(self) -> bool:
        return self.age_days is not None and self.created_days_ago >= self.age_days

    def usable(self) -> bool:
        return self.active and not self.expired()


@dataclass(frozen=True, slots=True)
class AccessKeySpec:
    active: bool = True
    created_days_ago: float = 1.0
    last_used_days_ago: float | None = None
    last_used_service: str = "iam"
    last_used_region: str = "us-east-1"


@dataclass(frozen=True, slots=True)
class UserSpec:
    name: str
    surface: SurfaceId | None = None
    #: Expected classification; None = a plain user phantomkeys must not report.
    kind: str | None = None
    status: str | None = None
    managed_policies: tuple[str, ...] = ()
    inline_policies: tuple[tuple[str, dict[str, Any]], ...] = ()
    groups: tuple[str, ...] = ()
    boundary: str | None = None
    credentials: tuple[CredentialSpec, ...] = ()
    access_keys: tuple[AccessKeySpec, ...] = ()
    password: bool = False
    mfa: bool = False
    created_days_ago: float = 30.0
    capabilities: tuple[str, ...] = ()
    case: str = ""

    @property
    def reported(self) -> bool:
        return self.kind is not None

    def facts(self) -> dict[str, Any]:
        surface_creds = [
            c
            for c in self.credentials
            if self.surface and c.service == get_surface(self.surface).credential_service
        ]
        return {
            "has_access_key": any(k.active for k in self.access_keys),
            "has_inactive_access_key": any(not k.active for k in self.access_keys),
            "has_password": self.password,
            "has_mfa": self.mfa,
            "extra_policies": [
                p
                for p in self.managed_policies
                if not self.surface or p not in get_surface(self.surface).managed_policy_arns()
            ]
            + [name for name, _ in self.inline_policies],
            "groups": list(self.groups),
            "permissions_boundary": self.boundary,
            "api_keys": len(surface_creds),
            "active_api_keys": sum(1 for c in surface_creds if c.usable()),
            "never_expiring_key": any(c.age_days is None for c in surface_creds),
            "key_age_days": [round(c.created_days_ago, 1) for c in surface_creds],
        }


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    managed_policies: tuple[str, ...] = ()
    inline_policies: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class AccountPlan:
    account_id: str
    name: str
    users: tuple[UserSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    ou: str | None = None
    #: The role the management account uses to enter (None: the management account).
    access_role: str | None = None
    #: False when OrganizationAccountAccessRole is missing (AssumeRole is denied).
    reachable_with_org_role: bool = True
    faults: str | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class ScpSpec:
    name: str
    description: str
    document: dict[str, Any]
    targets: tuple[str, ...]  # OU names


@dataclass(frozen=True, slots=True)
class LabPlan:
    scenario: str
    description: str
    seed: int
    accounts: tuple[AccountPlan, ...]
    organization: bool = False
    ous: tuple[str, ...] = ()
    scps: tuple[ScpSpec, ...] = ()
    history: str = "creation"  # "demo" | "creation" | "none"

    @property
    def faults(self) -> str | None:
        rules = [a.faults for a in self.accounts if a.faults]
        return ",".join(rules) or None

    def manifest(self) -> dict[str, Any]:
        accounts = []
        for acct in self.accounts:
            identities = []
            for u in acct.users:
                if not u.reported:
                    continue
                surface = get_surface(u.surface) if u.surface else None
                identities.append(
                    {
                        "username": u.name,
                        "arn": f"arn:aws:iam::{acct.account_id}:user/{u.name}",
                        "surface": surface.id.value if surface else None,
                        "kind": u.kind,
                        "status": u.status,
                        "case": u.case,
                        "facts": u.facts(),
                        "capabilities": list(u.capabilities),
                    }
                )
            accounts.append(
                {
                    "account_id": acct.account_id,
                    "name": acct.name,
                    "ou": acct.ou,
                    "access_role": acct.access_role,
                    "reachable_with_org_role": acct.reachable_with_org_role,
                    "faults": acct.faults,
                    "notes": acct.notes,
                    "user_count": len(acct.users),
                    "identities": identities,
                    "not_reported": [u.name for u in acct.users if not u.reported],
                }
            )
        return {
            "scenario": self.scenario,
            "description": self.description,
            # Each identity's "capabilities" lists exactly which of these ids it has;
            # ids outside this list are not judged by the manifest.
            "capability_ids": list(CAPABILITY_IDS),
            "seed": self.seed,
            "management_account_id": MANAGEMENT_ACCOUNT_ID,
            "organization": {
                "ous": list(self.ous),
                "scps": [{"name": s.name, "targets": list(s.targets)} for s in self.scps],
            }
            if self.organization
            else None,
            "faults": self.faults,
            "accounts": accounts,
        }


# ------------------------------------------------------------------ helpers


def surface_policy(surface: Surface) -> str:
    return surface.managed_policy_arn()


def _key(
    surface: Surface,
    age_days: int | None = 90,
    created_days_ago: float = 5,
    active: bool = True,
    leaked: bool = False,
) -> CredentialSpec:
    return CredentialSpec(
        service=surface.credential_service,
        age_days=age_days,
        created_days_ago=created_days_ago,
        active=active,
        leaked=leaked,
    )


def _phantom(surface: Surface, suffix: str, **kw: Any) -> UserSpec:
    kw.setdefault("managed_policies", (surface_policy(surface),))
    kw.setdefault("kind", "phantom")
    kw.setdefault("capabilities", ("invoke-models",))
    return UserSpec(name=surface.phantom_user_prefix + suffix, surface=surface.id, **kw)


def _statement(actions: list[str], resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
    }


PASS_ROLE_POLICY = _statement(["iam:PassRole", "bedrock:CreateModelCustomizationJob"])
KMS_DECRYPT_POLICY = _statement(["kms:Decrypt", "kms:GenerateDataKey"])
CI_DEPLOY_POLICY = _statement(["cloudformation:*", "s3:PutObject", "lambda:UpdateFunctionCode"])

# ------------------------------------------------------------------ demo


def demo_plan(seed: int = 0) -> LabPlan:
    """One account holding every case the scan must classify."""
    b, c = BEDROCK, CLAUDE_PLATFORM
    users = (
        _phantom(
            b,
            "0rph",
            status="orphaned",
            created_days_ago=120,
            case="orphaned phantom: its key was deleted, the user and policy remain",
        ),
        _phantom(
            b,
            "a1b2",
            status="active",
            credentials=(_key(b, 30, 5),),
            case="active phantom: one 30-day key, created 5 days ago",
        ),
        _phantom(
            b,
            "p1v0",
            status="at-risk",
            credentials=(_key(b, 90, 20, leaked=True),),
            access_keys=(
                AccessKeySpec(created_days_ago=2, last_used_days_ago=1, last_used_service="iam"),
            ),
            case="pivot: an IAM access key was added to the phantom (its API key leaked)",
        ),
        _phantom(
            b,
            "c0n5",
            status="at-risk",
            credentials=(_key(b, 90, 10),),
            password=True,
            case="console password on a phantom user",
        ),
        _phantom(
            b,
            "mf4a",
            status="active",
            credentials=(_key(b, 90, 8),),
            mfa=True,
            case="MFA device on a phantom (a risk reason, not a way in)",
        ),
        _phantom(
            b,
            "adm1",
            status="at-risk",
            credentials=(_key(b, 365, 40),),
            managed_policies=(surface_policy(b), ADMIN_POLICY),
            capabilities=(
                "invoke-models",
                "full-admin",
                "iam-write",
                "pass-role",
                "s3-data-read",
                "kms-decrypt",
            ),
            case="extra policy: AdministratorAccess",
        ),
        _phantom(
            b,
            "pr0l",
            status="at-risk",
            credentials=(_key(b, 90, 12),),
            inline_policies=(("bedrock-customization", PASS_ROLE_POLICY),),
            capabilities=("invoke-models", "pass-role"),
            case="extra inline policy: iam:PassRole",
        ),
        _phantom(
            b,
            "d4ta",
            status="at-risk",
            credentials=(_key(b, 90, 15),),
            managed_policies=(surface_policy(b), S3_READ_POLICY),
            inline_policies=(("kms-decrypt", KMS_DECRYPT_POLICY),),
            capabilities=("invoke-models", "s3-data-read", "kms-decrypt"),
            case="extra data access: S3 read and KMS decrypt",
        ),
        _phantom(
            b,
            "gr0p",
            status="at-risk",
            credentials=(_key(b, 90, 9),),
            groups=("data-science",),
            capabilities=("invoke-models", "s3-data-read"),
            case="extra permissions through a group (AmazonS3ReadOnlyAccess)",
        ),
        _phantom(
            b,
            "bnd1",
            status="active",
            credentials=(_key(b, 90, 6),),
            managed_policies=(surface_policy(b), S3_FULL_POLICY),
            boundary=surface_policy(b),
            case="extra policy limited back by a permissions boundary (= the surface "
            "policy): not beyond",
        ),
        UserSpec(
            name="ml-inference-svc",
            surface=b.id,
            kind="suspected-phantom",
            status="active",
            managed_policies=(surface_policy(b),),
            credentials=(_key(b, 180, 25),),
            capabilities=("invoke-models",),
            case="renamed phantom: phantom shape without the BedrockAPIKey- name",
        ),
        UserSpec(
            name="bedrock-sandbox",
            surface=b.id,
            kind="suspected-phantom",
            status="orphaned",
            managed_policies=(surface_policy(b),),
            capabilities=("invoke-models",),
            case="surface managed policy and nothing else (no credential)",
        ),
        UserSpec(
            name="alice",
            surface=b.id,
            kind="human",
            status="at-risk",
            managed_policies=(POWER_USER_POLICY,),
            password=True,
            mfa=True,
            access_keys=(
                AccessKeySpec(
                    created_days_ago=200,
                    last_used_days_ago=0.5,
                    last_used_service="bedrock",
                    last_used_region="us-west-2",
                ),
            ),
            credentials=(_key(b, 30, 3),),
            # PowerUserAccess allows everything but iam:*, organizations:*, account:*
            capabilities=("invoke-models", "s3-data-read", "kms-decrypt"),
            case="human user holding a Bedrock API key",
        ),
        _phantom(
            b,
            "n3vr",
            status="active",
            credentials=(_key(b, None, 60),),
            case="never-expiring key (created without CredentialAgeDays)",
        ),
        _phantom(
            b,
            "3xpd",
            status="expired",
            credentials=(_key(b, 30, 45),),
            case="expired key (30-day key created 45 days ago)",
        ),
        _phantom(
            b,
            "1nac",
            status="expired",
            credentials=(_key(b, 90, 20, active=False),),
            case="inactive key",
        ),
        _phantom(
            b,
            "tw0k",
            status="active",
            credentials=(_key(b, 30, 50), _key(b, 90, 4)),
            case="two keys: an expired one and a newer one (the +1 marker)",
        ),
        _phantom(
            c,
            "cp01",
            status="active",
            credentials=(_key(c, 90, 7),),
            case="Claude Platform phantom with an active key",
        ),
        _phantom(
            c,
            "cpin",
            status="active",
            managed_policies=(c.managed_policy_arns()[1],),
            credentials=(_key(c, 30, 3),),
            case="Claude Platform phantom with AnthropicInferenceAccess (the policy AWS's "
            "IAM guide names; write-ups name AnthropicLimitedAccess)",
        ),
        _phantom(
            b,
            "cc0m",
            status="at-risk",
            credentials=(CredentialSpec(service="codecommit.amazonaws.com", age_days=None),),
            case="phantom holding a CodeCommit credential (another way in, no API key)",
        ),
        _phantom(
            c,
            "cp0o",
            status="orphaned",
            created_days_ago=90,
            case="Claude Platform orphaned phantom",
        ),
        _phantom(
            c,
            "cpak",
            status="at-risk",
            credentials=(_key(c, 30, 2),),
            access_keys=(AccessKeySpec(created_days_ago=1),),
            case="Claude Platform phantom with an access key",
        ),
        UserSpec(
            name="bob",
            managed_policies=(POWER_USER_POLICY,),
            password=True,
            access_keys=(
                AccessKeySpec(created_days_ago=90, last_used_days_ago=2, last_used_service="s3"),
            ),
            case="plain developer (no API key): not reported",
        ),
        UserSpec(
            name="ci-deploy",
            inline_policies=(("deploy", CI_DEPLOY_POLICY),),
            access_keys=(
                AccessKeySpec(
                    created_days_ago=300, last_used_days_ago=0.2, last_used_service="cloudformation"
                ),
                AccessKeySpec(active=False, created_days_ago=400),
            ),
            case="CI user with access keys: not reported",
        ),
        UserSpec(
            name="carol",
            managed_policies=(IAM_READ_POLICY,),
            password=True,
            mfa=True,
            case="console user with MFA: not reported",
        ),
    )
    groups = (GroupSpec("data-science", managed_policies=(S3_READ_POLICY,)),)
    account = AccountPlan(
        account_id=MANAGEMENT_ACCOUNT_ID,
        name="demo",
        users=users,
        groups=groups,
        notes="single account with every case",
    )
    return LabPlan(
        scenario="demo",
        seed=seed,
        accounts=(account,),
        history="demo",
        description="One account with every case the scan must classify, "
        "and CloudTrail history of benign use and an attack chain.",
    )


# ------------------------------------------------------------------ org

#: aws-samples/service-control-policy-examples Deny-Bedrock-api-keys.json
#: (docs/aws-facts.md "Controlling keys"), with the bedrock-mantle action of the newer copy.
DENY_BEDROCK_API_KEYS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyBedrockApiKeyCreation",
            "Effect": "Deny",
            "Action": "iam:CreateServiceSpecificCredential",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "iam:ServiceSpecificCredentialServiceName": BEDROCK.credential_service
                }
            },
        },
        {
            "Sid": "DenyBedrockApiKeyUse",
            "Effect": "Deny",
            "Action": list(BEDROCK.bearer_token_actions),
            "Resource": "*",
        },
    ],
}


def org_plan(seed: int = 0) -> LabPlan:
    b, c = BEDROCK, CLAUDE_PLATFORM
    mgmt = AccountPlan(
        account_id=MANAGEMENT_ACCOUNT_ID,
        name="management",
        users=(
            _phantom(b, "m9t1", status="active", credentials=(_key(b, 30, 4),)),
            UserSpec(
                name="org-admin",
                managed_policies=(ADMIN_POLICY,),
                password=True,
                mfa=True,
                case="plain admin: not reported",
            ),
        ),
    )
    prod = AccountPlan(
        account_id=member_account_id(1),
        name="prod-apps",
        ou="Production",
        access_role=ORG_ACCESS_ROLE,
        users=(
            _phantom(b, "pr0d", status="active", credentials=(_key(b, 90, 10),)),
            _phantom(
                b,
                "pk3y",
                status="at-risk",
                credentials=(_key(b, 90, 30),),
                access_keys=(AccessKeySpec(created_days_ago=3),),
            ),
            _phantom(b, "x0ld", status="orphaned"),
            UserSpec(
                name="deploy-bot",
                inline_policies=(("deploy", CI_DEPLOY_POLICY),),
                access_keys=(AccessKeySpec(created_days_ago=60),),
            ),
        ),
        notes="Production OU: the SCP denies Bedrock API keys here",
    )
    data = AccountPlan(
        account_id=member_account_id(2),
        name="prod-data",
        ou="Production",
        access_role="AWSControlTowerExecution",
        reachable_with_org_role=False,
        users=(
            _phantom(b, "dt01", status="active", credentials=(_key(b, None, 70),)),
            _phantom(c, "dtc1", status="active", credentials=(_key(c, 30, 2),)),
        ),
        notes="created with RoleName=AWSControlTowerExecution: OrganizationAccountAccessRole "
        "does not exist, so AssumeRole of it is denied",
    )
    sandbox = AccountPlan(
        account_id=member_account_id(3),
        name="sandbox",
        ou="Sandbox",
        access_role=ORG_ACCESS_ROLE,
        faults=f"iam:ListServiceSpecificCredentials@{member_account_id(3)}=throttle:1.0",
        users=(
            _phantom(b, "sb01", status="active", credentials=(_key(b, 30, 1),)),
            _phantom(b, "sb02", status="expired", credentials=(_key(b, 7, 10),)),
            _phantom(b, "sb03", status="at-risk", credentials=(_key(b, 30, 5),), password=True),
        ),
        notes="every ListServiceSpecificCredentials call is throttled: a scan must report "
        "these identities as unknown, never orphaned",
    )
    research = AccountPlan(
        account_id=member_account_id(4),
        name="research",
        ou="Sandbox",
        access_role=ORG_ACCESS_ROLE,
        users=(
            _phantom(c, "rs01", status="active", credentials=(_key(c, 90, 12),)),
            _phantom(c, "rs02", status="orphaned"),
            UserSpec(
                name="researcher",
                surface=b.id,
                kind="human",
                status="at-risk",
                password=True,
                managed_policies=(POWER_USER_POLICY,),
                credentials=(_key(b, 30, 2),),
                capabilities=("invoke-models", "s3-data-read", "kms-decrypt"),
            ),
        ),
    )
    scp = ScpSpec(
        name="DenyBedrockApiKeys",
        description="Deny creating and using Amazon Bedrock API keys",
        document=DENY_BEDROCK_API_KEYS,
        targets=("Production",),
    )
    return LabPlan(
        scenario="org",
        seed=seed,
        organization=True,
        ous=("Production", "Sandbox"),
        accounts=(mgmt, prod, data, sandbox, research),
        scps=(scp,),
        history="creation",
        description="An Organization: management + 4 members in 2 OUs; one member without "
        "OrganizationAccountAccessRole, one throttled, an SCP denying Bedrock "
        "API keys on the Production OU.",
    )


def empty_plan(seed: int = 0) -> LabPlan:
    return LabPlan(
        scenario="empty",
        seed=seed,
        history="none",
        accounts=(AccountPlan(account_id=MANAGEMENT_ACCOUNT_ID, name="empty"),),
        description="One empty account, to seed by hand.",
    )


# ------------------------------------------------------------------ counts

#: Phantom states cycled through in count mode (name, builder).
_COUNT_STATES = (
    "active",
    "orphaned",
    "access-key",
    "expired",
    "never-expiring",
    "console",
    "inactive",
    "claude-active",
    "active",
    "extra-admin",
)


def _count_phantom(state: str, suffix: str) -> UserSpec:
    b, c = BEDROCK, CLAUDE_PLATFORM
    match state:
        case "active":
            return _phantom(b, suffix, status="active", credentials=(_key(b, 30, 3),), case=state)
        case "orphaned":
            return _phantom(b, suffix, status="orphaned", case=state)
        case "access-key":
            return _phantom(
                b,
                suffix,
                status="at-risk",
                credentials=(_key(b, 90, 9),),
                access_keys=(AccessKeySpec(created_days_ago=2),),
                case=state,
            )
        case "expired":
            return _phantom(b, suffix, status="expired", credentials=(_key(b, 30, 40),), case=state)
        case "never-expiring":
            return _phantom(
                b, suffix, status="active", credentials=(_key(b, None, 20),), case=state
            )
        case "console":
            return _phantom(
                b,
                suffix,
                status="at-risk",
                credentials=(_key(b, 30, 4),),
                password=True,
                case=state,
            )
        case "inactive":
            return _phantom(
                b, suffix, status="expired", credentials=(_key(b, 90, 6, active=False),), case=state
            )
        case "claude-active":
            return _phantom(c, suffix, status="active", credentials=(_key(c, 30, 3),), case=state)
        case "extra-admin":
            return _phantom(
                b,
                suffix,
                status="at-risk",
                credentials=(_key(b, 90, 12),),
                managed_policies=(surface_policy(b), ADMIN_POLICY),
                capabilities=(
                    "invoke-models",
                    "full-admin",
                    "iam-write",
                    "pass-role",
                    "s3-data-read",
                    "kms-decrypt",
                ),
                case=state,
            )
    raise ValueError(state)


def count_plan(users: int, phantoms: int, accounts: int, seed: int = 0) -> LabPlan:
    """``users`` IAM users per account, ``phantoms`` of them phantoms in varied states."""
    if users < 0 or phantoms < 0 or accounts < 0:
        raise ValueError("counts must not be negative")
    if phantoms > users:
        raise ValueError(f"--phantoms ({phantoms}) cannot exceed --users ({users})")
    plans = []
    for index in range(accounts + 1):
        account_id = MANAGEMENT_ACCOUNT_ID if index == 0 else member_account_id(index)
        rng = random.Random(f"{seed}|{account_id}")
        suffixes: set[str] = set()
        specs: list[UserSpec] = []
        for i in range(phantoms):
            while True:
                suffix = "".join(rng.choices(string.ascii_lowercase + string.digits, k=4))
                if suffix not in suffixes:
                    suffixes.add(suffix)
                    break
            specs.append(_count_phantom(_COUNT_STATES[i % len(_COUNT_STATES)], suffix))
        width = max(4, len(str(users)))
        for i in range(users - phantoms):
            keys = (AccessKeySpec(created_days_ago=100),) if i % 20 == 0 else ()
            specs.append(UserSpec(name=f"user-{i:0{width}d}", access_keys=keys))
        plans.append(
            AccountPlan(
                account_id=account_id,
                name="management" if index == 0 else f"member-{index}",
                ou=None if index == 0 else "Workloads",
                access_role=None if index == 0 else ORG_ACCESS_ROLE,
                users=tuple(specs),
            )
        )
    return LabPlan(
        scenario="counts",
        seed=seed,
        accounts=tuple(plans),
        organization=accounts > 0,
        ous=("Workloads",) if accounts else (),
        history="creation" if users else "none",
        description=f"{users} users ({phantoms} phantoms) in each of {accounts + 1} account(s)",
    )


SCENARIOS = {
    "demo": demo_plan,
    "org": org_plan,
    "empty": empty_plan,
}


def plan_for(
    scenario: str | None, *, users: int = 0, phantoms: int = 0, accounts: int = 0, seed: int = 0
) -> LabPlan:
    if scenario is None:
        return count_plan(users, phantoms, accounts, seed)
    try:
        return SCENARIOS[scenario](seed)
    except KeyError:
        raise ValueError(
            f"unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})"
        ) from None


def describe_scenarios() -> list[dict[str, Any]]:
    """What each scenario contains (``phantomkeys lab scenarios``)."""
    out = []
    for name, build in SCENARIOS.items():
        plan = build(0)
        out.append(
            {
                "name": name,
                "description": plan.description,
                "accounts": [
                    {
                        "account_id": a.account_id,
                        "name": a.name,
                        "ou": a.ou,
                        "notes": a.notes,
                        "users": [
                            {"username": u.name, "kind": u.kind, "status": u.status, "case": u.case}
                            for u in a.users
                        ],
                    }
                    for a in plan.accounts
                ],
                "faults": plan.faults,
                "history": plan.history,
            }
        )
    return out
