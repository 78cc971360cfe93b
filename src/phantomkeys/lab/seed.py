"""Execute a :class:`~phantomkeys.lab.scenarios.LabPlan` against a running lab.

Everything goes through the AWS API over HTTP, as in a real account: IAM with
the lean Query client (``wire.py``), STS and Organizations with boto3. Users
are seeded by a thread pool. Timestamps that only time can produce (a key
created 45 days ago) are then moved back through the lab's control endpoint.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phantomkeys.lab.accounts import (
    ADMIN_ROLE_NAME,
    ADMIN_SESSION_NAME,
    DEFAULT_REGION,
    MANAGEMENT_ACCOUNT_ID,
)
from phantomkeys.lab.scenarios import ADMIN_POLICY, AccountPlan, LabPlan, UserSpec
from phantomkeys.lab.wire import QueryClient, QueryError, xml_value

IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
#: Any key the lab does not know is routed to the management account.
BOOTSTRAP_ACCESS_KEY = "AKIAPHANTOMKEYSLAB00"
BOOTSTRAP_SECRET = "phantomkeys-lab-bootstrap"  # noqa: S105 - a fake credential for the lab
SEED_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass(slots=True)
class UserRuntime:
    user_id: str = ""
    access_key_ids: list[str] = field(default_factory=list)
    credential_ids: list[str] = field(default_factory=list)
    mfa_serial: str | None = None


@dataclass(slots=True)
class SeedResult:
    admin: Credentials
    account_credentials: dict[str, Credentials]
    users: dict[tuple[str, str], UserRuntime]
    leaked_keys: dict[str, str]
    organization_id: str | None
    started_at: datetime
    seconds: float
    api_calls: int


class ControlClient:
    """The lab's control endpoints (/_phantomkeys/...)."""

    def __init__(self, endpoint_url: str) -> None:
        if not endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.base = endpoint_url.rstrip("/") + "/_phantomkeys/"

    def call(self, method: str, route: str, payload: Any = None, timeout: float = 120) -> Any:
        data = None if payload is None else json.dumps(payload, default=str).encode()
        req = urllib.request.Request(  # noqa: S310 - http(s) checked in __init__
            self.base + route,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"{}")


def _iam(endpoint: str, creds: Credentials) -> QueryClient:
    return QueryClient(
        endpoint,
        service="iam",
        version=IAM_VERSION,
        region=DEFAULT_REGION,
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
    )


def assume_role(
    endpoint: str, caller: Credentials, role_arn: str, session_name: str, duration: int = 43_200
) -> Credentials:
    sts = QueryClient(
        endpoint,
        service="sts",
        version=STS_VERSION,
        region=DEFAULT_REGION,
        access_key_id=caller.access_key_id,
        secret_access_key=caller.secret_access_key,
        session_token=caller.session_token,
    )
    text = sts.call(
        "AssumeRole",
        {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": duration},
    )
    return Credentials(
        xml_value(text, "AccessKeyId") or "",
        xml_value(text, "SecretAccessKey") or "",
        xml_value(text, "SessionToken"),
    )


def bootstrap_admin(endpoint: str) -> Credentials:
    """Create the management account's admin role and return a 12-hour session of it."""
    boot = Credentials(BOOTSTRAP_ACCESS_KEY, BOOTSTRAP_SECRET)
    iam = _iam(endpoint, boot)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"},
            }
        ],
    }
    try:
        iam.call(
            "CreateRole",
            {
                "RoleName": ADMIN_ROLE_NAME,
                "MaxSessionDuration": 43_200,
                "AssumeRolePolicyDocument": json.dumps(trust),
                "Description": "phantomkeys lab administrator",
            },
        )
    except QueryError as exc:
        if exc.code != "EntityAlreadyExists":  # seeding a lab that already has its admin
            raise
    iam.call("AttachRolePolicy", {"RoleName": ADMIN_ROLE_NAME, "PolicyArn": ADMIN_POLICY})
    return assume_role(
        endpoint,
        boot,
        f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/{ADMIN_ROLE_NAME}",
        ADMIN_SESSION_NAME,
    )


def _boto_client(service: str, endpoint: str, creds: Credentials) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=DEFAULT_REGION,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=Config(retries={"max_attempts": 1}),
    )


def seed_organization(endpoint: str, admin: Credentials, plan: LabPlan) -> str:
    org = _boto_client("organizations", endpoint, admin)
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    with contextlib.suppress(org.exceptions.PolicyTypeAlreadyEnabledException):
        org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    ou_ids = {
        name: org.create_organizational_unit(ParentId=root_id, Name=name)["OrganizationalUnit"][
            "Id"
        ]
        for name in plan.ous
    }
    for acct in plan.accounts:
        if acct.account_id == MANAGEMENT_ACCOUNT_ID:
            continue
        kwargs: dict[str, Any] = {"Email": f"{acct.name}@example.com", "AccountName": acct.name}
        if acct.access_role:
            kwargs["RoleName"] = acct.access_role
        status = org.create_account(**kwargs)["CreateAccountStatus"]
        account_id = (
            status.get("AccountId")
            or org.describe_create_account_status(CreateAccountRequestId=status["Id"])[
                "CreateAccountStatus"
            ]["AccountId"]
        )
        if account_id != acct.account_id:
            raise RuntimeError(
                f"lab numbered account {acct.name} {account_id}, expected {acct.account_id}"
            )
        if acct.ou:
            org.move_account(
                AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_ids[acct.ou]
            )
    for scp in plan.scps:
        policy_id = org.create_policy(
            Content=json.dumps(scp.document),
            Description=scp.description,
            Name=scp.name,
            Type="SERVICE_CONTROL_POLICY",
        )["Policy"]["PolicySummary"]["Id"]
        for target in scp.targets:
            org.attach_policy(PolicyId=policy_id, TargetId=ou_ids[target])
    return str(org_id)


def _member_credentials(endpoint: str, admin: Credentials, acct: AccountPlan) -> Credentials:
    role = acct.access_role or ""
    creds = assume_role(
        endpoint, admin, f"arn:aws:iam::{acct.account_id}:role/{role}", "phantomkeys-lab-seed"
    )
    # AWS Organizations gives the access role AdministratorAccess; moto leaves it bare.
    _iam(endpoint, creds).call("AttachRolePolicy", {"RoleName": role, "PolicyArn": ADMIN_POLICY})
    return creds


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.calls += 1


def _seed_user(
    iam: QueryClient, account_id: str, spec: UserSpec, counter: _Counter, leaked: dict[str, str]
) -> tuple[UserRuntime, list[dict[str, Any]]]:
    rt = UserRuntime()

    def call(action: str, params: dict[str, Any]) -> str:
        counter.add()
        return iam.call(action, params)

    params: dict[str, Any] = {"UserName": spec.name}
    if spec.boundary:
        params["PermissionsBoundary"] = spec.boundary
    rt.user_id = xml_value(call("CreateUser", params), "UserId") or ""
    for arn in spec.managed_policies:
        call("AttachUserPolicy", {"UserName": spec.name, "PolicyArn": arn})
    for name, doc in spec.inline_policies:
        call(
            "PutUserPolicy",
            {"UserName": spec.name, "PolicyName": name, "PolicyDocument": json.dumps(doc)},
        )
    for group in spec.groups:
        call("AddUserToGroup", {"UserName": spec.name, "GroupName": group})
    backdate: list[dict[str, Any]] = [
        {
            "account_id": account_id,
            "user_name": spec.name,
            "what": "user",
            "days": spec.created_days_ago,
        }
    ]
    if spec.password:
        call(
            "CreateLoginProfile",
            {"UserName": spec.name, "Password": secrets.token_urlsafe(18) + "!aA1"},
        )
        backdate.append(
            {
                "account_id": account_id,
                "user_name": spec.name,
                "what": "password",
                "days": spec.created_days_ago,
            }
        )
    if spec.mfa:
        text = call("CreateVirtualMFADevice", {"VirtualMFADeviceName": spec.name})
        rt.mfa_serial = xml_value(text, "SerialNumber")
        call(
            "EnableMFADevice",
            {
                "UserName": spec.name,
                "SerialNumber": rt.mfa_serial,
                "AuthenticationCode1": "123456",
                "AuthenticationCode2": "654321",
            },
        )
    for key in spec.access_keys:
        key_id = xml_value(call("CreateAccessKey", {"UserName": spec.name}), "AccessKeyId")
        assert key_id
        rt.access_key_ids.append(key_id)
        if not key.active:
            call(
                "UpdateAccessKey",
                {"UserName": spec.name, "AccessKeyId": key_id, "Status": "Inactive"},
            )
        backdate.append(
            {
                "account_id": account_id,
                "user_name": spec.name,
                "id": key_id,
                "what": "access_key",
                "days": key.created_days_ago,
            }
        )
        if key.last_used_days_ago is not None:
            backdate.append(
                {
                    "account_id": account_id,
                    "user_name": spec.name,
                    "id": key_id,
                    "what": "access_key_last_used",
                    "days": key.last_used_days_ago,
                    "service": key.last_used_service,
                    "region": key.last_used_region,
                }
            )
    for cred in spec.credentials:
        params = {"UserName": spec.name, "ServiceName": cred.service}
        if cred.age_days is not None:
            params["CredentialAgeDays"] = cred.age_days
        text = call("CreateServiceSpecificCredential", params)
        cred_id = xml_value(text, "ServiceSpecificCredentialId") or ""
        rt.credential_ids.append(cred_id)
        if cred.leaked:
            secret = xml_value(text, "ServiceCredentialSecret")
            if secret:
                leaked[spec.name] = secret
        if not cred.active:
            call(
                "UpdateServiceSpecificCredential",
                {
                    "UserName": spec.name,
                    "ServiceSpecificCredentialId": cred_id,
                    "Status": "Inactive",
                },
            )
        backdate.append(
            {
                "account_id": account_id,
                "user_name": spec.name,
                "id": cred_id,
                "what": "service_credential",
                "days": cred.created_days_ago,
            }
        )
    return rt, backdate


def seed(
    endpoint: str,
    plan: LabPlan,
    *,
    workers: int = SEED_WORKERS,
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Seed ``plan`` into the lab at ``endpoint`` (recording of IAM calls paused)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(second=0, microsecond=0)
    control = ControlClient(endpoint)
    control.call("POST", "recording", {"enabled": False})
    counter = _Counter()
    admin = bootstrap_admin(endpoint)
    org_id = seed_organization(endpoint, admin, plan) if plan.organization else None
    account_creds: dict[str, Credentials] = {}
    for acct in plan.accounts:
        account_creds[acct.account_id] = (
            admin
            if acct.account_id == MANAGEMENT_ACCOUNT_ID
            else _member_credentials(endpoint, admin, acct)
        )
    for acct in plan.accounts:
        iam = _iam(endpoint, account_creds[acct.account_id])
        for group in acct.groups:
            iam.call("CreateGroup", {"GroupName": group.name})
            for arn in group.managed_policies:
                iam.call("AttachGroupPolicy", {"GroupName": group.name, "PolicyArn": arn})
            for name, doc in group.inline_policies:
                iam.call(
                    "PutGroupPolicy",
                    {
                        "GroupName": group.name,
                        "PolicyName": name,
                        "PolicyDocument": json.dumps(doc),
                    },
                )
    leaked: dict[str, str] = {}
    runtime: dict[tuple[str, str], UserRuntime] = {}
    backdates: list[dict[str, Any]] = []
    jobs = [(acct.account_id, spec) for acct in plan.accounts for spec in acct.users]
    clients = {a: _iam(endpoint, c) for a, c in account_creds.items()}
    if progress:
        progress(f"seeding {len(jobs)} users in {len(plan.accounts)} account(s)")

    def run(job: tuple[str, UserSpec]) -> tuple[str, str, UserRuntime, list[dict[str, Any]]]:
        account_id, spec = job
        rt, items = _seed_user(clients[account_id], account_id, spec, counter, leaked)
        return account_id, spec.name, rt, items

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for account_id, name, rt, items in pool.map(run, jobs):
            runtime[(account_id, name)] = rt
            backdates.extend(items)
    for start in range(0, len(backdates), 5000):
        control.call("POST", "backdate", {"items": backdates[start : start + 5000]})
    return SeedResult(
        admin=admin,
        account_credentials=account_creds,
        users=runtime,
        leaked_keys=leaked,
        organization_id=org_id,
        started_at=started_at,
        seconds=time.perf_counter() - started,
        api_calls=counter.calls,
    )


__all__ = ["ControlClient", "Credentials", "QueryError", "SeedResult", "UserRuntime", "seed"]
