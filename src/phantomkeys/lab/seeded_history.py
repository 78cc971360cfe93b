"""CloudTrail history the lab injects after seeding (deterministic for a seed).

* ``creation_events``: for every seeded key holder, the calls that made it -
  ``CreateUser``, ``AttachUserPolicy``, ``CreateServiceSpecificCredential``
  (and ``CreateAccessKey``/``CreateLoginProfile`` where present) - at the
  backdated times, by an administrator in the console, recorded in us-east-1
  with eventSource iam.amazonaws.com (docs/aws-facts.md "CloudTrail").
* ``demo_story``: benign use and an attack chain. The leaked key of
  ``BedrockAPIKey-p1v0`` is used as a bearer token
  (``additionalEventData.callWithBearerToken: true``) from new IPs and
  regions, for recon (``ListFoundationModels``, ``GetModelInvocationLoggingConfiguration``,
  ``ListGuardrails``), heavy invocation, guardrail tampering
  (``UpdateGuardrail``, ``DeleteGuardrail``), then the stolen ``ci-deploy``
  access key adds an IAM access key to the phantom (``CreateAccessKey``, the
  pivot), which is used for IAM recon and SigV4-signed Bedrock calls. Claude
  Platform inference is a *data* event (not returned by LookupEvents) and
  appears only in log files.

IPs are documentation ranges (RFC 5737): 203.0.113.0/24 is the office,
198.51.100.0/24 and 192.0.2.0/24 are the attacker.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from phantomkeys.lab.accounts import ADMIN_ROLE_NAME, DEFAULT_REGION
from phantomkeys.lab.cloudtrail_store import make_record
from phantomkeys.lab.scenarios import DEMO_APP, DEMO_CLAUDE_APP, DEMO_VICTIM, LabPlan, UserSpec
from phantomkeys.lab.seed import UserRuntime
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

OFFICE_IP = "203.0.113.10"
ATTACKER_IPS = ("198.51.100.23", "198.51.100.77", "192.0.2.44")
ATTACKER_REGIONS = ("eu-west-3", "ap-southeast-1", "sa-east-1")
CONSOLE_AGENT = "AWS Internal"
SDK_AGENT = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 lang/python#3.12.4"
ATTACKER_AGENT = "python-requests/2.32.3"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


class _Ids:
    """Deterministic event ids."""

    def __init__(self, seed: int, account_id: str) -> None:
        self._rng = random.Random(f"history|{seed}|{account_id}")

    def next(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _admin_identity(account_id: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": "AROAPHANTOMKEYSADMIN1:jane.admin@example.com",
        "arn": f"arn:aws:sts::{account_id}:assumed-role/{ADMIN_ROLE_NAME}/jane.admin@example.com",
        "accountId": account_id,
        "accessKeyId": "ASIAPHANTOMKEYSCONSOLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAPHANTOMKEYSADMIN1",
                "arn": f"arn:aws:iam::{account_id}:role/{ADMIN_ROLE_NAME}",
                "accountId": account_id,
                "userName": ADMIN_ROLE_NAME,
            },
            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "true"},
        },
    }


def _user_identity(
    account_id: str, user: str, user_id: str, access_key_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": user_id or f"AIDA{user.upper()}",
        "arn": f"arn:aws:iam::{account_id}:user/{user}",
        "accountId": account_id,
        "userName": user,
    }
    if access_key_id:
        out["accessKeyId"] = access_key_id
    return out


def creation_events(
    plan: LabPlan, runtime: dict[tuple[str, str], UserRuntime], now: datetime
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for acct in plan.accounts:
        ids = _Ids(plan.seed, acct.account_id)
        admin = _admin_identity(acct.account_id)
        for spec in acct.users:
            if not spec.credentials and not spec.reported:
                continue
            rt = runtime.get((acct.account_id, spec.name), UserRuntime())
            records += _user_creation(acct.account_id, spec, rt, now, admin, ids)
    return records


def _user_creation(
    account_id: str,
    spec: UserSpec,
    rt: UserRuntime,
    now: datetime,
    admin: dict[str, Any],
    ids: _Ids,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    created = now - timedelta(days=spec.created_days_ago)

    def iam(
        name: str, at: datetime, params: dict[str, Any], response: dict[str, Any] | None = None
    ) -> None:
        out.append(
            make_record(
                event_name=name,
                event_source="iam.amazonaws.com",
                event_time=at,
                account_id=account_id,
                region=DEFAULT_REGION,
                user_identity=admin,
                source_ip=OFFICE_IP,
                user_agent=CONSOLE_AGENT,
                request_parameters=params,
                response_elements=response,
                event_id=ids.next(),
                host="iam.amazonaws.com",
            )
        )

    iam(
        "CreateUser",
        created,
        {"userName": spec.name},
        {
            "user": {
                "path": "/",
                "userName": spec.name,
                "userId": rt.user_id,
                "arn": f"arn:aws:iam::{account_id}:user/{spec.name}",
            }
        },
    )
    for arn in spec.managed_policies:
        iam(
            "AttachUserPolicy",
            created + timedelta(seconds=1),
            {"userName": spec.name, "policyArn": arn},
        )
    for i, cred in enumerate(spec.credentials):
        at = now - timedelta(days=cred.created_days_ago)
        params: dict[str, Any] = {"userName": spec.name, "serviceName": cred.service}
        if cred.age_days is not None:
            params["credentialAgeDays"] = cred.age_days
        cred_id = rt.credential_ids[i] if i < len(rt.credential_ids) else ""
        iam(
            "CreateServiceSpecificCredential",
            at,
            params,
            {
                "serviceSpecificCredential": {
                    "serviceSpecificCredentialId": cred_id,
                    "serviceName": cred.service,
                    "userName": spec.name,
                    "status": "Active",
                    "serviceCredentialSecret": "HIDDEN_DUE_TO_SECURITY_REASONS",
                }
            },
        )
    if spec.password:
        iam(
            "CreateLoginProfile",
            created + timedelta(hours=2),
            {"userName": spec.name, "passwordResetRequired": False},
        )
    return out


# ---------------------------------------------------------------- the demo story


def demo_story(
    plan: LabPlan, runtime: dict[tuple[str, str], UserRuntime], now: datetime
) -> list[dict[str, Any]]:
    acct = plan.accounts[0]
    account_id = acct.account_id
    ids = _Ids(plan.seed + 7919, account_id)
    rng = random.Random(f"story|{plan.seed}")
    records: list[dict[str, Any]] = []
    by_name = {u.name: u for u in acct.users}

    def rt(name: str) -> UserRuntime:
        return runtime.get((account_id, name), UserRuntime())

    def bedrock(
        name: str,
        at: datetime,
        user: str,
        *,
        region: str,
        ip: str,
        agent: str,
        params: dict[str, Any] | None,
        bearer: bool = True,
        read_only: bool = False,
        identity: dict[str, Any] | None = None,
        error: str | None = None,
        source: str = BEDROCK.event_sources[0],
    ) -> None:
        ident = identity or _user_identity(account_id, user, rt(user).user_id)
        records.append(
            make_record(
                event_name=name,
                event_source=source,
                event_time=at,
                account_id=account_id,
                region=region,
                user_identity=ident,
                source_ip=ip,
                user_agent=agent,
                request_parameters=params,
                response_elements=None,
                additional_event_data={"callWithBearerToken": True} if bearer else None,
                read_only=read_only,
                error_code=error,
                error_message="User is not authorized to perform this action" if error else None,
                event_id=ids.next(),
            )
        )

    # -- benign: the active phantom's app invokes models every few hours from the office
    app = DEMO_APP
    for hours in range(4 * 24, 0, -6):
        at = now - timedelta(hours=hours, minutes=rng.randint(0, 50))
        bedrock(
            "InvokeModel",
            at,
            app,
            region=DEFAULT_REGION,
            ip=OFFICE_IP,
            agent=SDK_AGENT,
            params={"modelId": MODEL},
            read_only=True,
        )
    # alice calls Converse with SigV4 (no bearer token) from us-west-2
    for days in (6, 4, 2, 1):
        at = now - timedelta(days=days, hours=3)
        key_id = rt("alice").access_key_ids[0] if rt("alice").access_key_ids else None
        bedrock(
            "Converse",
            at,
            "alice",
            region="us-west-2",
            ip=OFFICE_IP,
            agent=SDK_AGENT,
            params={"modelId": MODEL},
            bearer=False,
            read_only=True,
            identity=_user_identity(account_id, "alice", rt("alice").user_id, key_id),
        )
    # a developer mints a short-term key from an SSO role session and uses it
    dev = {
        "type": "AssumedRole",
        "principalId": "AROAPHANTOMKEYSDEV01:dev@example.com",
        "arn": f"arn:aws:sts::{account_id}:assumed-role/Developer/dev@example.com",
        "accountId": account_id,
        "accessKeyId": "ASIAPHANTOMKEYSDEV001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAPHANTOMKEYSDEV01",
                "arn": f"arn:aws:iam::{account_id}:role/Developer",
                "accountId": account_id,
                "userName": "Developer",
            },
            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "true"},
        },
    }
    for hours in (30, 29):
        bedrock(
            "ConverseStream",
            now - timedelta(hours=hours),
            "",
            region=DEFAULT_REGION,
            ip=OFFICE_IP,
            agent=SDK_AGENT,
            params={"modelId": MODEL},
            read_only=True,
            identity=dev,
        )
    # Claude Platform inference: a data event (log files only, not LookupEvents)
    cp = by_name.get(DEMO_CLAUDE_APP)
    if cp is not None:
        for hours in (40, 20, 5):
            rec = make_record(
                event_name="CreateInference",
                event_source=CLAUDE_PLATFORM.event_sources[0],
                event_time=now - timedelta(hours=hours),
                account_id=account_id,
                region=DEFAULT_REGION,
                user_identity=_user_identity(account_id, cp.name, rt(cp.name).user_id),
                source_ip=OFFICE_IP,
                user_agent=SDK_AGENT,
                request_parameters={
                    "callWithBearerToken": True,
                    "bearerTokenType": "LONG_TERM",
                    "model": "claude-sonnet-4-5",
                },
                additional_event_data={"callWithBearerToken": True},
                read_only=False,
                event_id=ids.next(),
            )
            rec["managementEvent"] = False
            rec["eventCategory"] = "Data"
            rec["resources"] = [
                {
                    "type": "AWS::AWSExternalAnthropic::Workspace",
                    "ARN": f"arn:aws:aws-external-anthropic:{DEFAULT_REGION}:"
                    f"{account_id}:workspace/default",
                }
            ]
            records.append(rec)

    # -- the attack chain on the leaked key of BedrockAPIKey-p1v0
    victim = DEMO_VICTIM
    t0 = now - timedelta(days=3, hours=5)
    steps: list[tuple[timedelta, str, dict[str, Any] | None, bool, str | None]] = [
        (timedelta(minutes=0), "ListFoundationModels", None, True, None),
        (timedelta(minutes=1), "GetModelInvocationLoggingConfiguration", None, True, None),
        (timedelta(minutes=2), "ListGuardrails", None, True, None),
        (timedelta(minutes=3), "ListCustomModels", None, True, None),
        (
            timedelta(minutes=4),
            "PutModelInvocationLoggingConfiguration",
            None,
            False,
            "AccessDenied",
        ),
    ]
    for delta, name, params, ro, err in steps:
        bedrock(
            name,
            t0 + delta,
            victim,
            region=ATTACKER_REGIONS[0],
            ip=ATTACKER_IPS[0],
            agent=ATTACKER_AGENT,
            params=params,
            read_only=ro,
            error=err,
        )
    # bursts of invocation across three new regions and IPs
    for burst, (region, ip) in enumerate(zip(ATTACKER_REGIONS, ATTACKER_IPS, strict=True)):
        start = t0 + timedelta(minutes=10 + burst * 7)
        for i in range(25):
            bedrock(
                "InvokeModel",
                start + timedelta(seconds=i * 11),
                victim,
                region=region,
                ip=ip,
                agent=ATTACKER_AGENT,
                params={"modelId": MODEL},
                read_only=True,
            )
    # guardrail tampering
    guardrail = f"arn:aws:bedrock:{ATTACKER_REGIONS[0]}:{account_id}:guardrail/gr0abcdef123"
    bedrock(
        "UpdateGuardrail",
        t0 + timedelta(minutes=40),
        victim,
        region=ATTACKER_REGIONS[0],
        ip=ATTACKER_IPS[0],
        agent=ATTACKER_AGENT,
        params={
            "guardrailIdentifier": guardrail,
            "name": "prod-safety",
            "blockedInputMessaging": "***",
            "blockedOutputsMessaging": "***",
        },
    )
    bedrock(
        "DeleteGuardrail",
        t0 + timedelta(minutes=42),
        victim,
        region=ATTACKER_REGIONS[0],
        ip=ATTACKER_IPS[0],
        agent=ATTACKER_AGENT,
        params={"guardrailIdentifier": guardrail},
    )
    # the pivot: a stolen CI key adds an IAM access key to the phantom user
    ci_key = rt("ci-deploy").access_key_ids[0] if rt("ci-deploy").access_key_ids else None
    pivot_key = rt(victim).access_key_ids[0] if rt(victim).access_key_ids else None
    t1 = now - timedelta(days=2)
    ci_identity = _user_identity(account_id, "ci-deploy", rt("ci-deploy").user_id, ci_key)
    records.append(
        make_record(
            event_name="ListUsers",
            event_source="iam.amazonaws.com",
            event_time=t1,
            account_id=account_id,
            region=DEFAULT_REGION,
            user_identity=ci_identity,
            source_ip=ATTACKER_IPS[1],
            user_agent=ATTACKER_AGENT,
            request_parameters=None,
            read_only=True,
            event_id=ids.next(),
        )
    )
    records.append(
        make_record(
            event_name="CreateAccessKey",
            event_source="iam.amazonaws.com",
            event_time=t1 + timedelta(minutes=3),
            account_id=account_id,
            region=DEFAULT_REGION,
            user_identity=ci_identity,
            source_ip=ATTACKER_IPS[1],
            user_agent=ATTACKER_AGENT,
            request_parameters={"userName": victim},
            response_elements={
                "accessKey": {"accessKeyId": pivot_key, "status": "Active", "userName": victim}
            },
            event_id=ids.next(),
        )
    )
    pivot_identity = _user_identity(account_id, victim, rt(victim).user_id, pivot_key)
    for minutes, name in (
        (10, "GetUser"),
        (11, "ListAttachedUserPolicies"),
        (12, "ListRoles"),
        (13, "ListUsers"),
    ):
        records.append(
            make_record(
                event_name=name,
                event_source="iam.amazonaws.com",
                event_time=t1 + timedelta(minutes=minutes),
                account_id=account_id,
                region=DEFAULT_REGION,
                user_identity=pivot_identity,
                source_ip=ATTACKER_IPS[2],
                user_agent=ATTACKER_AGENT,
                request_parameters={"userName": victim} if name != "ListRoles" else None,
                read_only=True,
                event_id=ids.next(),
            )
        )
    # ... and signs Bedrock calls with that access key (SigV4, no bearer flag): the
    # pivot is visible on Bedrock too, not only on other services.
    for minutes, name, params, ro in (
        (15, "ListFoundationModels", None, True),
        (16, "InvokeModel", {"modelId": MODEL}, True),
        (18, "DeleteGuardrail", {"guardrailIdentifier": "gr0fallback0002"}, False),
    ):
        bedrock(
            name,
            t1 + timedelta(minutes=minutes),
            victim,
            region=ATTACKER_REGIONS[1],
            ip=ATTACKER_IPS[2],
            agent=ATTACKER_AGENT,
            params=params,
            bearer=False,
            read_only=ro,
            identity=pivot_identity,
        )
    return records


def history_for(
    plan: LabPlan, runtime: dict[tuple[str, str], UserRuntime], now: datetime
) -> list[dict[str, Any]]:
    match plan.history:
        case "none":
            return []
        case "demo":
            return creation_events(plan, runtime, now) + demo_story(plan, runtime, now)
        case _:
            return creation_events(plan, runtime, now)


__all__ = ["creation_events", "demo_story", "history_for"]
