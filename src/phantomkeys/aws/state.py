"""Read what plans depend on: one user's (or role's) complete IAM state, read-only.

Per user, never from the credential report (which has no access key ids, SSH
keys or certificate ids): ``GetUser``, ``ListUserTags``, ``ListUserPolicies`` +
``GetUserPolicy``, ``ListAttachedUserPolicies``, ``ListGroupsForUser``,
``ListServiceSpecificCredentials(UserName)`` (every service), ``ListAccessKeys``,
``GetLoginProfile``, ``ListMFADevices``, ``ListSigningCertificates``,
``ListSSHPublicKeys`` + ``GetSSHPublicKey``. A read that fails is recorded in
``failures`` and makes the state incomplete: plans refuse to write on it.

Also here, because revoke and report need them: the caller's identity, the
owner of an access key, and who used a short-term key (from CloudTrail events read
by ``aws/cloudtrail.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.exceptions

from phantomkeys.aws.cloudtrail import LOOKUP_RETENTION as LOOKUP_RETENTION
from phantomkeys.aws.cloudtrail import TrailEvent
from phantomkeys.aws.cloudtrail import TrailLookup as TrailLookup
from phantomkeys.aws.cloudtrail import lookup_events as lookup_events
from phantomkeys.aws.collect import LOOKUP_ERRORS, _aware, _credential, _document, _pages
from phantomkeys.aws.session import AwsContext, error_code, error_message
from phantomkeys.core.model import AccessKey, InlinePolicy, LookupFailure
from phantomkeys.core.plans import (
    SESSION_REVOKE_POLICY_NAME,
    MfaDevice,
    RoleState,
    SessionInfo,
    UploadedKey,
    UserState,
)

#: A sub-read failing for these reasons makes the state incomplete (ValueError: a policy
#: document that is not JSON).
_READ_ERRORS: tuple[type[BaseException], ...] = (*LOOKUP_ERRORS, ValueError)


def _failure(operation: str, exc: BaseException, user: str) -> LookupFailure:
    return LookupFailure(
        operation=operation, error_code=error_code(exc), message=error_message(exc)[:300], user=user
    )


def _no_such_entity(exc: BaseException) -> bool:
    return isinstance(exc, botocore.exceptions.ClientError) and error_code(exc) in (
        "NoSuchEntity",
        "NoSuchEntityException",
    )


def caller_identity(ctx: AwsContext) -> tuple[str, str]:
    """(account id, caller ARN) from ``sts:GetCallerIdentity``."""
    ident = ctx.client("sts").get_caller_identity()
    return str(ident["Account"]), str(ident["Arn"])


def read_user_state(
    ctx: AwsContext,
    username: str,
    *,
    account_id: str,
    partition: str,
    now: datetime,
    last_used: bool = False,
) -> UserState:
    """Everything a plan or a restore needs about ``username``. Never raises for AWS errors."""
    iam = ctx.client("iam")
    failures: list[LookupFailure] = []

    def attempt(operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except _READ_ERRORS as exc:
            failures.append(_failure(operation, exc, username))
            return None

    try:
        user = iam.get_user(UserName=username)["User"]
    except LOOKUP_ERRORS as exc:
        if _no_such_entity(exc):
            return UserState(
                account_id=account_id, partition=partition, name=username, exists=False, read_at=now
            )
        return UserState(
            account_id=account_id,
            partition=partition,
            name=username,
            exists=False,
            read_at=now,
            failures=(_failure("iam:GetUser", exc, username),),
        )

    def tags() -> dict[str, str]:
        return {
            t["Key"]: t["Value"]
            for page in _pages(iam.list_user_tags, UserName=username)
            for t in page.get("Tags", ())
        }

    def inline() -> tuple[InlinePolicy, ...]:
        out = []
        for page in _pages(iam.list_user_policies, UserName=username):
            for name in page.get("PolicyNames", ()):
                doc = iam.get_user_policy(UserName=username, PolicyName=name)["PolicyDocument"]
                out.append(InlinePolicy(name=name, document=_document(doc)))
        return tuple(out)

    def attached() -> tuple[str, ...]:
        return tuple(
            p["PolicyArn"]
            for page in _pages(iam.list_attached_user_policies, UserName=username)
            for p in page.get("AttachedPolicies", ())
        )

    def groups() -> tuple[str, ...]:
        return tuple(
            g["GroupName"]
            for page in _pages(iam.list_groups_for_user, UserName=username)
            for g in page.get("Groups", ())
        )

    def credentials() -> tuple[Any, ...]:
        return tuple(
            _credential(c)
            for page in _pages(iam.list_service_specific_credentials, UserName=username)
            for c in page.get("ServiceSpecificCredentials", ())
        )

    def access_keys() -> tuple[AccessKey, ...]:
        out = []
        for page in _pages(iam.list_access_keys, UserName=username):
            for k in page.get("AccessKeyMetadata", ()):
                used, service = None, None
                if last_used:
                    info = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
                    lu = info.get("AccessKeyLastUsed", {})
                    used = _aware(lu.get("LastUsedDate"))
                    service = lu.get("ServiceName") if used else None
                out.append(
                    AccessKey(
                        id=k["AccessKeyId"],
                        status=k["Status"],
                        created=_aware(k.get("CreateDate")),
                        last_used=used,
                        last_used_service=service,
                    )
                )
        return tuple(out)

    def login_profile() -> tuple[bool, datetime | None]:
        try:
            profile = iam.get_login_profile(UserName=username)["LoginProfile"]
        except botocore.exceptions.ClientError as exc:
            if _no_such_entity(exc):
                return False, None
            raise
        return True, _aware(profile.get("CreateDate"))

    def mfa() -> tuple[MfaDevice, ...]:
        return tuple(
            MfaDevice(serial=d["SerialNumber"], enabled=_aware(d.get("EnableDate")))
            for page in _pages(iam.list_mfa_devices, UserName=username)
            for d in page.get("MFADevices", ())
        )

    def certificates() -> tuple[UploadedKey, ...]:
        return tuple(
            UploadedKey(
                id=c["CertificateId"],
                status=c["Status"],
                body=c.get("CertificateBody"),
                uploaded=_aware(c.get("UploadDate")),
            )
            for page in _pages(iam.list_signing_certificates, UserName=username)
            for c in page.get("Certificates", ())
        )

    def ssh_keys() -> tuple[UploadedKey, ...]:
        out = []
        for page in _pages(iam.list_ssh_public_keys, UserName=username):
            for k in page.get("SSHPublicKeys", ()):
                full = iam.get_ssh_public_key(
                    UserName=username, SSHPublicKeyId=k["SSHPublicKeyId"], Encoding="SSH"
                )["SSHPublicKey"]
                out.append(
                    UploadedKey(
                        id=k["SSHPublicKeyId"],
                        status=k["Status"],
                        body=full.get("SSHPublicKeyBody"),
                        uploaded=_aware(k.get("UploadDate")),
                    )
                )
        return tuple(out)

    got_tags = attempt("iam:ListUserTags", tags)
    got_inline = attempt("iam:GetUserPolicy", inline)
    got_attached = attempt("iam:ListAttachedUserPolicies", attached)
    got_groups = attempt("iam:ListGroupsForUser", groups)
    got_creds = attempt("iam:ListServiceSpecificCredentials", credentials)
    got_keys = attempt("iam:ListAccessKeys", access_keys)
    got_login = attempt("iam:GetLoginProfile", login_profile)
    got_mfa = attempt("iam:ListMFADevices", mfa)
    got_certs = attempt("iam:ListSigningCertificates", certificates)
    got_ssh = attempt("iam:ListSSHPublicKeys", ssh_keys)
    boundary = (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return UserState(
        account_id=account_id,
        partition=partition,
        name=username,
        exists=True,
        read_at=now,
        arn=user.get("Arn", ""),
        user_id=user.get("UserId", ""),
        path=user.get("Path", "/"),
        created=_aware(user.get("CreateDate")),
        tags=got_tags
        if got_tags is not None
        else {t["Key"]: t["Value"] for t in user.get("Tags", ())},
        boundary_arn=boundary,
        inline_policies=got_inline or (),
        attached_policy_arns=got_attached or (),
        group_names=got_groups or (),
        service_credentials=got_creds or (),
        access_keys=got_keys or (),
        login_profile=bool(got_login and got_login[0]),
        login_profile_created=got_login[1] if got_login else None,
        mfa_devices=got_mfa or (),
        signing_certificates=got_certs or (),
        ssh_public_keys=got_ssh or (),
        failures=tuple(failures),
    )


def read_role_state(
    ctx: AwsContext, role_name: str, *, account_id: str, partition: str, now: datetime
) -> RoleState:
    iam = ctx.client("iam")
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except LOOKUP_ERRORS as exc:
        failures = () if _no_such_entity(exc) else (_failure("iam:GetRole", exc, role_name),)
        return RoleState(
            account_id=account_id,
            partition=partition,
            name=role_name,
            exists=False,
            read_at=now,
            failures=failures,
        )
    policy: dict[str, Any] | None = None
    failures_list: list[LookupFailure] = []
    try:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=SESSION_REVOKE_POLICY_NAME)
        policy = _document(doc["PolicyDocument"])
    except LOOKUP_ERRORS as exc:
        if not _no_such_entity(exc):
            failures_list.append(_failure("iam:GetRolePolicy", exc, role_name))
    return RoleState(
        account_id=account_id,
        partition=partition,
        name=role_name,
        exists=True,
        read_at=now,
        arn=role.get("Arn", ""),
        role_id=role.get("RoleId", ""),
        path=role.get("Path", "/"),
        session_policy=policy,
        failures=tuple(failures_list),
    )


def user_exists(ctx: AwsContext, name: str) -> tuple[bool | None, str | None]:
    """(True/False, None) from ``iam:GetUser``, or (None, error code) when it could not tell."""
    try:
        ctx.client("iam").get_user(UserName=name)
    except LOOKUP_ERRORS as exc:
        if _no_such_entity(exc):
            return False, None
        return None, error_code(exc)
    return True, None


def access_key_owner(ctx: AwsContext, access_key_id: str) -> tuple[str | None, str | None]:
    """(IAM user name, None) for an access key of this account, or (None, error code)."""
    try:
        info = ctx.client("iam").get_access_key_last_used(AccessKeyId=access_key_id)
    except LOOKUP_ERRORS as exc:
        return None, error_code(exc)
    name = info.get("UserName")
    return (str(name), None) if name else (None, "NoUserName")


# ================================================================= CloudTrail

# Revoke and report read CloudTrail with the one reader of aws/cloudtrail.py, imported
# here (see the imports) because those commands' policy, permissions/remediation.json,
# grants it through this module.


def session_from_events(events: tuple[TrailEvent, ...], access_key_id: str) -> SessionInfo | None:
    """The principal and session that used ``access_key_id`` (from ``userIdentity``)."""
    for e in events:
        ident = e.user_identity
        if ident.get("accessKeyId") not in (None, access_key_id):
            continue
        kind = ident.get("type")
        issuer = (ident.get("sessionContext") or {}).get("sessionIssuer") or {}
        principal_id = ident.get("principalId")
        if kind == "AssumedRole":
            arn = str(ident.get("arn", ""))
            session_name = arn.rsplit("/", 1)[-1] if "/" in arn else None
            role_name = issuer.get("userName") or (
                arn.split("/")[1] if arn.count("/") >= 2 else None
            )
            if not role_name:
                continue
            return SessionInfo(
                principal_type="AssumedRole",
                principal_name=str(role_name),
                principal_arn=issuer.get("arn"),
                principal_id=str(principal_id) if principal_id else None,
                session_name=session_name,
                access_key_id=access_key_id,
                event_time=e.time,
            )
        if kind == "IAMUser" and ident.get("userName"):
            # GetSessionToken credentials: aws:userid is the user's id, shared by every
            # session of the user, so the deny cannot be narrowed to one session.
            return SessionInfo(
                principal_type="IAMUser",
                principal_name=str(ident["userName"]),
                principal_arn=ident.get("arn"),
                principal_id=None,
                access_key_id=access_key_id,
                event_time=e.time,
            )
        if kind == "FederatedUser" and issuer.get("userName"):
            return SessionInfo(
                principal_type="FederatedUser",
                principal_name=str(issuer["userName"]),
                principal_arn=issuer.get("arn"),
                principal_id=None,
                session_name=str(ident.get("arn", "")).rsplit("/", 1)[-1],
                access_key_id=access_key_id,
                event_time=e.time,
            )
    return None


def role_path_from_arn(role_arn: str | None) -> str:
    """``arn:aws:iam::1:role/a/b/Name`` -> ``/a/b/`` (``/`` when there is no path)."""
    if not role_arn or ":role/" not in role_arn:
        return "/"
    resource = role_arn.split(":role/", 1)[1]
    parts = resource.split("/")
    return "/" + "/".join(parts[:-1]) + "/" if len(parts) > 1 else "/"
