"""Every change the lab makes to moto, in one place.

moto 5.2 emulates IAM, STS and Organizations well enough for most tools, but
phantomkeys depends on AWS behaviour moto does not have. Each extension below
names the AWS behaviour it reproduces and its source (sections of
``docs/aws-facts.md``, the botocore API model, or the IAM user
guide). :func:`install` applies them; it runs only inside the lab's server
process, never in a test process, so moto users elsewhere are unaffected.

Sections 8-10 (AssumeRole trust, CloudTrail ``LookupEvents``, CloudTrail records
of IAM calls) are called from the HTTP layer in ``server.py``, which also does
what is not AWS behaviour: account routing, faults, request counting, control.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import pickle
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import moto.core.responses as _moto_responses
import moto.iam.models as _iam_models
import moto.iam.responses as _iam_responses
import moto.organizations.models as _org_models
import moto.organizations.utils as _org_utils
import moto.sts.models as _sts_models
from moto.core.responses import ActionResult, EmptyResult
from moto.core.serialize import never_return
from moto.iam.exceptions import (
    DeleteConflictException,
    IAMException,
    LimitExceededException,
    NotFoundException,
    ReportNotPresentException,
    ValidationError,
)

from phantomkeys.core import keys
from phantomkeys.lab.accounts import DEFAULT_REGION, MANAGEMENT_ACCOUNT_ID, member_account_id
from phantomkeys.lab.cloudtrail_store import EventStore, LookupError_, make_record
from phantomkeys.surfaces import (
    BEDROCK,
    CLAUDE_PLATFORM,
    OTHER_CREDENTIAL_SERVICES,
    surface_for_credential_service,
)

# moto's classes are patched below; typed as Any so mypy allows it.
moto_responses: Any = _moto_responses
iam_models: Any = _iam_models
org_models: Any = _org_models
org_utils: Any = _org_utils
IAMBackend: Any = _iam_models.IAMBackend
User: Any = _iam_models.User
IamResponse: Any = _iam_responses.IamResponse
iam_backends: Any = _iam_models.iam_backends
organizations_backends: Any = _org_models.organizations_backends
sts_backends: Any = _sts_models.sts_backends

_installed = False
_install_lock = threading.Lock()

#: Secret material of the lab (credential secrets, ids) derives from this seed, so a
#: seeded lab hands out the same keys for the same users whatever the request order.
_secret_seed = b"phantomkeys-lab:0"


def set_seed(seed: int) -> None:
    global _secret_seed
    _secret_seed = f"phantomkeys-lab:{seed}".encode()


def _derive(*parts: str, size: int = 32) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        msg = "\x1f".join((*parts, str(counter))).encode()
        out += hmac.new(_secret_seed, msg, hashlib.sha256).digest()
        counter += 1
    return out[:size]


def now() -> datetime:
    """The lab's clock (moto stores naive-UTC or aware datetimes; we compare aware)."""
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# =====================================================================
# 1. IAM service-specific credentials
#
# AWS: CreateServiceSpecificCredential / List / Update / Reset / Delete
# (botocore ``iam`` model; IAM API reference; docs/aws-facts.md "Service-specific
# credentials"). moto 5.2 has
# none of them. Behaviour reproduced:
# * services: bedrock, aws-external-anthropic, codecommit, cassandra (Keyspaces),
#   cloudwatch, logs; anything else -> ServiceNotSupportedException, wire code
#   NotSupportedService (404).
# * CredentialAgeDays 1..36600; absent -> the credential never expires and has no
#   ExpirationDate. ExpirationDate is returned only for the API-key services.
# * at most 2 credentials per user per service -> LimitExceeded (409).
# * Status becomes Expired once ExpirationDate has passed.
# * ListServiceSpecificCredentials: UserName, or AllUsers=true (optionally with
#   ServiceName); AllUsers together with UserName -> ValidationError; Marker /
#   MaxItems paging (1..1000).
# * the secret is returned only by Create and Reset. For the API-key surfaces it
#   is the whole key, ``ABSK``/``AEAA`` + base64(alias ":" secret), built by
#   ``core/keys.py``; it is put in ServiceCredentialSecret (what public write-ups
#   saw) and in ServiceApiKeyValue (what the Bedrock guide names; not in the API
#   model, so SDKs ignore it) - docs/aws-facts.md "Key formats".
# * the alias is ``<user>-at-<account>``; a user's second key for a service is
#   ``<user>+1-at-<account>`` (the ``+N`` marker BKS reports; unconfirmed).
# =====================================================================

LOGS_SERVICE = next(s for s in OTHER_CREDENTIAL_SERVICES if s.startswith("logs."))
CLOUDWATCH_SERVICE = next(s for s in OTHER_CREDENTIAL_SERVICES if s.startswith("cloudwatch."))
#: Services whose credentials carry an ExpirationDate and an alias ("Bedrock API
#: keys and CloudWatch Logs API keys", botocore model; Claude Platform keys too).
API_KEY_SERVICES = (
    BEDROCK.credential_service,
    CLAUDE_PLATFORM.credential_service,
    LOGS_SERVICE,
    CLOUDWATCH_SERVICE,
)
SUPPORTED_CREDENTIAL_SERVICES = (
    BEDROCK.credential_service,
    CLAUDE_PLATFORM.credential_service,
    *OTHER_CREDENTIAL_SERVICES,
)
MAX_CREDENTIALS_PER_SERVICE = 2
MAX_CREDENTIAL_AGE_DAYS = 36_600
#: CloudWatch Logs API keys: ``ACWL`` + base64(alias ":" secret) per a third party
#: (docs/aws-facts.md "Key formats"); not a surface of phantomkeys, so not in surfaces.py.
_LOGS_KEY_PREFIX = "ACWL"


@dataclass(slots=True)
class ServiceCredential:
    credential_id: str
    user_name: str
    service_name: str
    create_date: datetime
    age_days: int | None
    status: str = "Active"
    alias: str | None = None
    service_user_name: str | None = None
    secret_sha256: str | None = field(default=None, repr=False)

    @property
    def expiration_date(self) -> datetime | None:
        if self.age_days is None:
            return None
        return self.create_date + timedelta(days=self.age_days)

    def effective_status(self, at: datetime) -> str:
        expires = self.expiration_date
        if expires is not None and at >= expires:
            return "Expired"
        return self.status

    def metadata(self, at: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "UserName": self.user_name,
            "Status": self.effective_status(at),
            "CreateDate": self.create_date,
            "ServiceSpecificCredentialId": self.credential_id,
            "ServiceName": self.service_name,
        }
        if self.service_user_name:
            out["ServiceUserName"] = self.service_user_name
        if self.alias:
            out["ServiceCredentialAlias"] = self.alias
        if self.expiration_date is not None and self.service_name in API_KEY_SERVICES:
            out["ExpirationDate"] = self.expiration_date
        return out


def user_credentials(user: Any) -> list[ServiceCredential]:
    creds: list[ServiceCredential] | None = getattr(user, "lab_service_credentials", None)
    if creds is None:
        creds = []
        user.lab_service_credentials = creds
    return creds


def _next_serial(user: Any, service: str) -> int:
    serials: dict[str, int] = getattr(user, "lab_credential_serials", None) or {}
    user.lab_credential_serials = serials
    serials[service] = serials.get(service, 0) + 1
    return serials[service]


class ServiceNotSupported(IAMException):
    # The API model's ServiceNotSupportedException has the wire code NotSupportedService.
    code = "NotSupportedService"


def _check_service(service: str | None) -> None:
    if service is not None and service not in SUPPORTED_CREDENTIAL_SERVICES:
        raise ServiceNotSupported(
            f"Service {service} is not supported for service specific credentials"
        )


def _mint_secret(
    account: str,
    user: str,
    service: str,
    serial: int,
    generation: int,
    marker: int | None,
    alias: str | None,
) -> tuple[str, str | None]:
    """The secret (API key or password) for one credential generation."""
    raw = _derive("secret", account, user, service, str(serial), str(generation), size=45)
    secret = base64.b64encode(raw).decode()
    surface = surface_for_credential_service(service)
    if surface is not None:
        key = keys.encode_long_term(
            surface, username=user, account_id=account, secret=secret, marker=marker
        )
        return key, key
    if service == LOGS_SERVICE and alias:
        key = _LOGS_KEY_PREFIX + base64.b64encode(f"{alias}:{secret}".encode()).decode()
        return key, key
    return secret[:44], None  # codecommit / keyspaces: a password, no API key


def _credential_id(account: str, user: str, service: str, serial: int) -> str:
    body = base64.b32encode(_derive("credid", account, user, service, str(serial), size=15))
    return "ACCA" + body.decode()[:17]


def create_service_credential(
    backend: Any, user_name: str, service: str, age_days: int | None
) -> tuple[ServiceCredential, str]:
    user = backend.get_user(user_name)
    _check_service(service)
    if age_days is not None and not 1 <= age_days <= MAX_CREDENTIAL_AGE_DAYS:
        raise ValidationError(
            f"1 validation error detected: Value '{age_days}' at 'credentialAgeDays' "
            f"failed to satisfy constraint: Member must have value between 1 and "
            f"{MAX_CREDENTIAL_AGE_DAYS}"
        )
    creds = user_credentials(user)
    existing = [c for c in creds if c.service_name == service]
    if len(existing) >= MAX_CREDENTIALS_PER_SERVICE:
        raise LimitExceededException(
            f"Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
            f"{MAX_CREDENTIALS_PER_SERVICE}"
        )
    account = backend.account_id
    serial = _next_serial(user, service)
    marker = 1 if existing else None
    alias: str | None = None
    service_user: str | None = None
    if service in API_KEY_SERVICES:
        alias = f"{user_name}{'+1' if marker else ''}-at-{account}"
    else:
        service_user = f"{user_name}-at-{account}"
    secret, api_key = _mint_secret(account, user_name, service, serial, 0, marker, alias)
    cred = ServiceCredential(
        credential_id=_credential_id(account, user_name, service, serial),
        user_name=user_name,
        service_name=service,
        create_date=now(),
        age_days=age_days,
        alias=alias,
        service_user_name=service_user,
        secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
    )
    creds.append(cred)
    _remember_generation(user, cred.credential_id, serial, marker)
    return cred, secret if api_key is None else api_key


def _remember_generation(user: Any, cred_id: str, serial: int, marker: int | None) -> None:
    gens: dict[str, list[int]] = getattr(user, "lab_credential_generations", None) or {}
    user.lab_credential_generations = gens
    gens[cred_id] = [serial, 0, -1 if marker is None else marker]


def _find_credential(
    backend: Any, user_name: str | None, cred_id: str, caller_key: str
) -> tuple[Any, ServiceCredential]:
    user = _target_user(backend, user_name, caller_key)
    for cred in user_credentials(user):
        if cred.credential_id == cred_id:
            return user, cred
    raise NotFoundException(f"No such credential {cred_id} exists for user {user.name}")


def user_for_access_key(backend: Any, access_key_id: str | None) -> Any | None:
    """O(1) where moto's get_user_from_access_key_id scans every user."""
    key = backend.access_keys.get(access_key_id) if access_key_id else None
    if key is None or not key.user_name:
        return None
    return backend.users.get(key.user_name)


def _target_user(backend: Any, user_name: str | None, caller_key: str) -> Any:
    if user_name:
        return backend.get_user(user_name)
    user = user_for_access_key(backend, caller_key)
    if user is None:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return user


def _full_credential(cred: ServiceCredential, secret: str) -> dict[str, Any]:
    out = cred.metadata(now())
    if cred.service_name in API_KEY_SERVICES:
        out["ServiceCredentialSecret"] = secret
    else:
        out["ServicePassword"] = secret
    return out


def _with_api_key_value(resp: IamResponse, result: dict[str, Any]) -> Any:
    """Serialise, then add ServiceApiKeyValue (not in the API model) next to the secret."""
    status, headers, body = resp.serialized(ActionResult(result))
    secret = result["ServiceSpecificCredential"].get("ServiceCredentialSecret")
    if secret and isinstance(body, str):
        tag = "</ServiceCredentialSecret>"
        body = body.replace(tag, f"{tag}<ServiceApiKeyValue>{secret}</ServiceApiKeyValue>", 1)
    headers = dict(headers)
    headers["status"] = status
    return body, headers


def _iam_create_service_specific_credential(self: IamResponse) -> Any:
    cred, secret = create_service_credential(
        self.backend,
        self._get_param("UserName"),
        self._get_param("ServiceName"),
        self._get_param("CredentialAgeDays"),
    )
    return _with_api_key_value(self, {"ServiceSpecificCredential": _full_credential(cred, secret)})


def _iam_reset_service_specific_credential(self: IamResponse) -> Any:
    # AWS: "returns a new secret and invalidates the old one immediately"
    # (docs/aws-facts.md "Service-specific credentials").
    user, cred = _find_credential(
        self.backend,
        self._get_param("UserName"),
        self._get_param("ServiceSpecificCredentialId"),
        self.get_access_key(),
    )
    gens = getattr(user, "lab_credential_generations", {})
    serial, generation, marker_raw = gens.get(cred.credential_id, [0, 0, -1])
    generation += 1
    gens[cred.credential_id] = [serial, generation, marker_raw]
    marker = None if marker_raw < 0 else marker_raw
    secret, _ = _mint_secret(
        self.backend.account_id,
        cred.user_name,
        cred.service_name,
        serial,
        generation,
        marker,
        cred.alias,
    )
    cred.secret_sha256 = hashlib.sha256(secret.encode()).hexdigest()
    return _with_api_key_value(self, {"ServiceSpecificCredential": _full_credential(cred, secret)})


def _iam_update_service_specific_credential(self: IamResponse) -> Any:
    status = self._get_param("Status")
    if status not in ("Active", "Inactive", "Expired"):
        raise ValidationError(f"Invalid status {status}")
    _, cred = _find_credential(
        self.backend,
        self._get_param("UserName"),
        self._get_param("ServiceSpecificCredentialId"),
        self.get_access_key(),
    )
    cred.status = status
    return EmptyResult()


def _iam_delete_service_specific_credential(self: IamResponse) -> Any:
    user, cred = _find_credential(
        self.backend,
        self._get_param("UserName"),
        self._get_param("ServiceSpecificCredentialId"),
        self.get_access_key(),
    )
    user_credentials(user).remove(cred)
    return EmptyResult()


def _iam_list_service_specific_credentials(self: IamResponse) -> Any:
    user_name = self._get_param("UserName")
    service = self._get_param("ServiceName")
    all_users = bool(self._get_param("AllUsers"))
    if all_users and user_name:
        # botocore model: AllUsers "cannot be specified together with UserName".
        raise ValidationError("AllUsers cannot be specified together with UserName")
    _check_service(service)
    users = (
        sorted(self.backend.users.values(), key=lambda u: u.name)
        if all_users
        else [_target_user(self.backend, user_name, self.get_access_key())]
    )
    at = now()
    items = [
        c.metadata(at)
        for u in users
        for c in user_credentials(u)
        if service is None or c.service_name == service
    ]
    page, marker = paginate(items, self._get_param("Marker"), self._get_param("MaxItems"))
    result: dict[str, Any] = {"ServiceSpecificCredentials": page, "IsTruncated": bool(marker)}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


# =====================================================================
# 2. Paging (MaxItems / Marker)
#
# AWS: every IAM List* call and GetAccountAuthorizationDetails return at most
# MaxItems (1..1000, default 100) items with IsTruncated and an opaque Marker
# (botocore model; docs/aws-facts.md "Paging and authorization details"). moto 5.2
# returns everything at once for
# ListUsers, ListAccessKeys and GetAccountAuthorizationDetails.
# =====================================================================

DEFAULT_MAX_ITEMS = 100


def _encode_marker(offset: int) -> str:
    return base64.b64encode(json.dumps({"lab-offset": offset}).encode()).decode()


def _decode_marker(marker: str) -> int:
    try:
        offset = json.loads(base64.b64decode(marker.encode()))["lab-offset"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError("Invalid Marker") from None
    if not isinstance(offset, int) or offset < 0:
        raise ValidationError("Invalid Marker")
    return offset


def paginate(items: list[Any], marker: str | None, max_items: Any) -> tuple[list[Any], str | None]:
    limit = DEFAULT_MAX_ITEMS if max_items in (None, "") else int(max_items)
    if not 1 <= limit <= 1000:
        raise ValidationError(
            f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy "
            "constraint: Member must have value between 1 and 1000"
        )
    start = _decode_marker(marker) if marker else 0
    page = items[start : start + limit]
    end = start + len(page)
    return page, (_encode_marker(end) if end < len(items) else None)


def _iam_list_users(self: IamResponse) -> Any:
    users = sorted(
        self.backend.list_users(self._get_param("PathPrefix"), None, None), key=lambda u: u.name
    )
    page, marker = paginate(users, self._get_param("Marker"), self._get_param("MaxItems"))
    result: dict[str, Any] = {"Users": page, "IsTruncated": bool(marker)}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _iam_list_access_keys(self: IamResponse) -> Any:
    user = _target_user(self.backend, self._get_param("UserName"), self.get_access_key())
    page, marker = paginate(
        list(user.access_keys), self._get_param("Marker"), self._get_param("MaxItems")
    )
    result: dict[str, Any] = {
        "UserName": user.name,
        "AccessKeyMetadata": page,
        "IsTruncated": bool(marker),
    }
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _iam_get_account_authorization_details(self: IamResponse) -> Any:
    wanted = set(self._get_param("Filter", []) or [])
    backend = self.backend

    def want(kind: str) -> bool:
        return not wanted or kind in wanted

    entries: list[tuple[str, Any]] = []
    if want("User"):
        entries += [("u", u) for u in sorted(backend.users.values(), key=lambda u: u.name)]
    if want("Group"):
        entries += [("g", g) for g in sorted(backend.groups.values(), key=lambda g: g.name)]
    if want("Role"):
        entries += [("r", r) for r in sorted(backend.roles.values(), key=lambda r: r.name)]
    aws_ids = {id(p) for p in backend.aws_managed_policies}
    boundaries = _boundary_arns(backend)
    policies = []
    for policy in backend.managed_policies.values():
        if id(policy) in aws_ids:
            # Real accounts list only the AWS managed policies in use (attached, or a
            # boundary), not the whole catalogue [OBS: GetAccountAuthorizationDetails
            # output of real accounts, e.g. cloudsplaining fixtures].
            if want("AWSManagedPolicy") and (
                policy.attachment_count > 0 or policy.arn in boundaries
            ):
                policies.append(policy)
        elif want("LocalManagedPolicy"):
            policies.append(policy)
    entries += [("p", _policy_detail(p, backend)) for p in sorted(policies, key=lambda p: p.arn)]
    page, marker = paginate(entries, self._get_param("Marker"), self._get_param("MaxItems"))
    result: dict[str, Any] = {
        "UserDetailList": [x for k, x in page if k == "u"],
        "GroupDetailList": [x for k, x in page if k == "g"],
        "RoleDetailList": [x for k, x in page if k == "r"],
        "Policies": [x for k, x in page if k == "p"],
        "IsTruncated": bool(marker),
    }
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _policy_detail(policy: Any, backend: Any) -> dict[str, Any]:
    """ManagedPolicyDetail (moto's serializer cannot find PolicyName on its objects).

    Policy documents are URL-encoded, as AWS returns them (docs/aws-facts.md
    "Paging and authorization details").
    """
    boundary_uses = sum(
        1
        for u in backend.users.values()
        if getattr(u, "lab_permissions_boundary_arn", None) == policy.arn
    ) + sum(1 for r in backend.roles.values() if r.permissions_boundary_arn == policy.arn)
    detail: dict[str, Any] = {
        "PolicyName": policy.name,
        "PolicyId": policy.id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": policy.attachment_count,
        "PermissionsBoundaryUsageCount": boundary_uses,
        "IsAttachable": True,
        "CreateDate": policy.create_date,
        "UpdateDate": policy.update_date,
        "PolicyVersionList": policy.policy_version_list,
    }
    if policy.description:
        detail["Description"] = policy.description
    return detail


def _boundary_arns(backend: Any) -> set[str]:
    arns = {getattr(u, "lab_permissions_boundary_arn", None) for u in backend.users.values()}
    arns |= {r.permissions_boundary_arn for r in backend.roles.values()}
    return {a for a in arns if a}


# =====================================================================
# 3. DeleteUser prerequisites
#
# AWS: DeleteUser fails with DeleteConflict (409) while the user still has a
# login profile, access keys, signing certificates, SSH public keys,
# service-specific credentials, MFA devices, inline policies, attached managed
# policies or group memberships (botocore DeleteUser docs; IAM user guide
# id_users_remove; docs/aws-facts.md "DeleteUser prerequisites"). moto 5.2 checks
# only the two policy kinds.
# A permissions boundary and tags are not prerequisites.
# =====================================================================


def delete_user_blocker(backend: Any, user: Any) -> str | None:
    if user.password:
        return "Cannot delete entity, must delete login profile first."
    if user.access_keys:
        return "Cannot delete entity, must delete access keys first."
    if user.signing_certificates:
        return "Cannot delete entity, must delete signing certificates first."
    if user.ssh_public_keys:
        return "Cannot delete entity, must delete SSH public keys first."
    if user_credentials(user):
        return "Cannot delete entity, must delete service specific credentials first."
    if user.mfa_devices:
        return "Cannot delete entity, must delete MFA device first."
    if user.policies:
        return "Cannot delete entity, must delete policies first."
    if user.managed_policies:
        return "Cannot delete entity, must detach all policies first."
    if backend.get_groups_for_user(user.name):
        return "Cannot delete entity, must remove users from group first."
    return None


def _backend_delete_user(self: IAMBackend, user_name: str) -> None:
    user = self.get_user(user_name)
    blocker = delete_user_blocker(self, user)
    if blocker:
        raise DeleteConflictException(blocker)
    self.tagger.delete_all_tags_for_resource(user.arn)
    del self.users[user_name]


# =====================================================================
# 4. User permissions boundaries
#
# AWS: CreateUser(PermissionsBoundary), PutUserPermissionsBoundary,
# DeleteUserPermissionsBoundary; GetUser and GetAccountAuthorizationDetails
# return PermissionsBoundary {PermissionsBoundaryType: Policy, ...}; ListUsers
# does not (IAM API reference). moto 5.2 has boundaries for roles only.
# =====================================================================


def _user_permissions_boundary(self: User) -> dict[str, str] | None:
    arn = getattr(self, "lab_permissions_boundary_arn", None)
    if not arn:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def _set_user_boundary(backend: Any, user_name: str, arn: str | None) -> None:
    user = backend.get_user(user_name)
    if arn is not None and not backend.policy_arn_regex.match(arn):
        raise ValidationError(f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
    user.lab_permissions_boundary_arn = arn


def _iam_put_user_permissions_boundary(self: IamResponse) -> Any:
    _set_user_boundary(
        self.backend, self._get_param("UserName"), self._get_param("PermissionsBoundary")
    )
    return EmptyResult()


def _iam_delete_user_permissions_boundary(self: IamResponse) -> Any:
    _set_user_boundary(self.backend, self._get_param("UserName"), None)
    return EmptyResult()


_moto_create_user = IamResponse.create_user


def _iam_create_user(self: IamResponse) -> Any:
    result = _moto_create_user(self)
    boundary = self._get_param("PermissionsBoundary")
    if boundary:
        _set_user_boundary(self.backend, self._get_param("UserName"), boundary)
    return result


# =====================================================================
# 5. Credential report
#
# AWS: GenerateCredentialReport returns STARTED the first time and COMPLETE while
# a report younger than four hours exists (which it does not regenerate);
# GetCredentialReport returns the CSV as generated and its GeneratedTime, or
# ReportNotPresent (docs/aws-facts.md "Credential report"; IAM user guide
# id_credentials_getting-report).
# Columns per the user guide. moto 5.2 regenerates on every read, returns a fixed
# GeneratedTime, dates the password with the user's creation time, prints
# ``not_supported`` for the access keys' last-used region/service and N/A for
# certificate rotation dates, and has no ``<root_account>`` row. Fixed here.
# The report has no service-specific-credential columns (so it cannot show API keys).
# =====================================================================

REPORT_COLUMNS = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,"
    "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,"
    "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,"
    "cert_2_last_rotated"
)
REPORT_MAX_AGE = timedelta(hours=4)


def _fmt(value: datetime | None) -> str:
    if value is None:
        return "N/A"
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _last_used_time(key: Any) -> datetime | None:
    used = key.last_used
    if used is None:
        return None
    when = used if isinstance(used, datetime) else used.timestamp
    return when if isinstance(when, datetime) else None


def _report_row(backend: Any, user: Any) -> str:
    has_password = bool(user.password)
    changed = getattr(user, "lab_password_changed", None) if has_password else None
    if has_password and changed is None:
        changed = user.create_date
    policy = backend.account_password_policy
    next_rotation = "N/A"
    if has_password and policy is not None and policy.expire_passwords and changed:
        next_rotation = _fmt(_aware(changed) + timedelta(days=policy.max_password_age))
    if not has_password:
        pw_last_used = "N/A"
    elif user.password_last_used:
        pw_last_used = _fmt(user.password_last_used)
    else:
        pw_last_used = "no_information"
    fields = [
        user.name,
        user.arn,
        _fmt(user.create_date),
        "true" if has_password else "false",
        pw_last_used,
        _fmt(changed) if has_password else "N/A",
        next_rotation,
        "true" if user.mfa_devices else "false",
    ]
    for i in range(2):
        if i < len(user.access_keys):
            key = user.access_keys[i]
            used_at = _last_used_time(key)
            used = key.last_used if used_at else None
            fields += [
                "true" if key.status == "Active" else "false",
                _fmt(key.create_date),
                _fmt(used_at),
                getattr(used, "region", None) or "N/A",
                getattr(used, "service", None) or "N/A",
            ]
        else:
            fields += ["false", "N/A", "N/A", "N/A", "N/A"]
    certs = list(user.signing_certificates.values())
    for i in range(2):
        if i < len(certs):
            fields += [
                "true" if certs[i].status == "Active" else "false",
                _fmt(certs[i].upload_date),
            ]
        else:
            fields += ["false", "N/A"]
    return ",".join(fields)


def build_credential_report(backend: Any) -> str:
    account = backend.account_id
    created = min((_aware(u.create_date) for u in backend.users.values()), default=now())
    root = [
        "<root_account>",
        f"arn:aws:iam::{account}:root",
        _fmt(created),
        "not_supported",
        "no_information",
        "not_supported",
        "not_supported",
        "false",
        "false",
        "N/A",
        "N/A",
        "N/A",
        "N/A",
        "false",
        "N/A",
        "N/A",
        "N/A",
        "N/A",
        "false",
        "N/A",
        "false",
        "N/A",
    ]
    rows = [REPORT_COLUMNS, ",".join(root)]
    rows += [_report_row(backend, u) for u in sorted(backend.users.values(), key=lambda u: u.name)]
    return "\n".join(rows) + "\n"


def _iam_generate_credential_report(self: IamResponse) -> Any:
    backend = self.backend
    generated: datetime | None = getattr(backend, "lab_report_time", None)
    if generated is not None and now() - generated < REPORT_MAX_AGE:
        return ActionResult({"State": "COMPLETE"})
    backend.lab_report_time = now()
    backend.lab_report_csv = build_credential_report(backend)
    backend.credential_report = True
    return ActionResult(
        {
            "State": "STARTED",
            "Description": "No report exists. Starting a new report generation task",
        }
    )


def _iam_get_credential_report(self: IamResponse) -> Any:
    backend = self.backend
    generated: datetime | None = getattr(backend, "lab_report_time", None)
    if generated is None:
        raise ReportNotPresentException(
            "Unknown: Credential report not present. Use GenerateCredentialReport first."
        )
    content = base64.b64encode(backend.lab_report_csv.encode()).decode()
    # The serializer base64-encodes blobs itself: hand it bytes.
    return ActionResult(
        {
            "Content": base64.b64decode(content),
            "ReportFormat": "text/csv",
            "GeneratedTime": generated,
        }
    )


_moto_create_login_profile = IAMBackend.create_login_profile
_moto_update_login_profile = IAMBackend.update_login_profile


def _backend_create_login_profile(self: IAMBackend, user_name: str, password: str) -> Any:
    user = _moto_create_login_profile(self, user_name, password)
    user.lab_password_changed = now()
    return user


def _backend_update_login_profile(
    self: IAMBackend, user_name: str, password: str, password_reset_required: bool
) -> Any:
    user = _moto_update_login_profile(self, user_name, password, password_reset_required)
    if password:
        user.lab_password_changed = now()
    return user


# =====================================================================
# 6. AWS managed policies
#
# AWS: the managed-policy catalogue exists in every account. moto ships it but
# loads it only when MOTO_IAM_LOAD_MANAGED_POLICIES is set, and parses 4 MB of
# JSON for each account. Its copies of the two surface policies are older than
# AWS's current versions: AmazonBedrockLimitedAccess v8 (v9 of 2026-08-04 adds
# the BedrockWebSearch statement) and AnthropicLimitedAccess v4 (v6 of 2026-06-12
# adds Managed Agents, AssumeConsole). docs/aws-facts.md "Managed policies" (zoph-io/IAMTrail
# history). The Managed Agents action names below are rebuilt from that summary.
# Older copies are upgraded; a moto with newer copies keeps them.
# =====================================================================


#: The lab's own copies of AWS managed policies, one JSON file each in ``lab/policies/``
#: (``NAME-VERSION.json``: the catalogue entry, metadata and ``Document``), used when moto
#: does not ship the policy (docs/aws-facts.md "Managed policies"):
#:
#: * AmazonBedrockLimitedAccess v8 (2026-04-09): the base for v9.
#: * AnthropicLimitedAccess v4 (2026-04): the base for v6.
#: * AnthropicInferenceAccess v2 (2026-04-01), as the AWS managed policy reference publishes
#:   it (docs.aws.amazon.com/aws-managed-policy/latest/reference/AnthropicInferenceAccess.html):
#:   workspace read + inference, the resourceless bearer-token actions, GetWebIdentityToken
#:   for Anthropic audiences. The last statement (TagGetWebIdentityToken) mirrors
#:   AnthropicLimitedAccess and is unconfirmed for this policy.
POLICY_FILES = (
    "AmazonBedrockLimitedAccess-v8",
    "AnthropicLimitedAccess-v4",
    "AnthropicInferenceAccess-v2",
)


def stored_policy(name: str, version: str) -> dict[str, Any]:
    """An AWS managed policy as the lab stores it (``lab/policies/NAME-VERSION.json``)."""
    if f"{name}-{version}" not in POLICY_FILES:
        raise KeyError(f"the lab stores no {name} {version}")
    text = (resources.files("phantomkeys.lab") / "policies" / f"{name}-{version}.json").read_text(
        encoding="utf-8"
    )
    policy: dict[str, Any] = json.loads(text)
    return policy


_AMAZON_BEDROCK_WEBSEARCH_STATEMENT = {
    "Sid": "BedrockWebSearch",
    "Effect": "Allow",
    "Action": ["bedrock-websearch:InvokeSearch", "bedrock-websearch:InvokeFetch"],
    "Resource": "arn:aws:bedrock-websearch:*:*:*",
}

_ANTHROPIC_AGENT_RESOURCES = ("Agent", "Session", "Environment", "Vault", "MemoryStore", "Webhook")


def _anthropic_limited_access_v6(v4: dict[str, Any]) -> dict[str, Any]:
    workspace_actions = list(v4["Document"]["Statement"][0]["Action"])
    for resource in _ANTHROPIC_AGENT_RESOURCES:
        for verb in ("Create", "Update", "Delete", "Archive"):
            if resource == "Webhook" and verb == "Archive":
                continue
            workspace_actions.append(f"aws-external-anthropic:{verb}{resource}")
    statements = [dict(s) for s in v4["Document"]["Statement"]]
    statements[0]["Action"] = workspace_actions
    statements.append(
        {
            "Sid": "AnthropicLimitedConsole",
            "Effect": "Allow",
            "Action": "aws-external-anthropic:AssumeConsole",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws-external-anthropic:Capability": "developer"}},
        }
    )
    doc = dict(v4)
    doc.update(
        DefaultVersionId="v6",
        UpdateDate="2026-06-12T00:00:00+00:00",
        Document={"Version": "2012-10-17", "Statement": statements},
    )
    return doc


def _bedrock_limited_access_v9(v8: dict[str, Any]) -> dict[str, Any]:
    statements = [*v8["Document"]["Statement"], _AMAZON_BEDROCK_WEBSEARCH_STATEMENT]
    doc = dict(v8)
    doc.update(
        DefaultVersionId="v9",
        UpdateDate="2026-08-04T00:00:00+00:00",
        Document={"Version": "2012-10-17", "Statement": statements},
    )
    return doc


def _version(policy: dict[str, Any] | None) -> int:
    try:
        return int(str((policy or {}).get("DefaultVersionId", "v0")).lstrip("v"))
    except ValueError:
        return 0


@functools.cache
def managed_policy_catalogue() -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (metadata, document JSON); parsed once, documents shared by every account."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    bedrock = "AmazonBedrockLimitedAccess"
    anthropic = "AnthropicLimitedAccess"
    inference = "AnthropicInferenceAccess"
    assert {bedrock} == set(BEDROCK.managed_policy_names)
    assert {anthropic, inference} == set(CLAUDE_PLATFORM.managed_policy_names)
    # Only ever upgrade: a moto release with a newer copy keeps its own; an older
    # moto without them gets them built from docs/aws-facts.md's description.
    if _version(data.get(bedrock)) < 9:
        data[bedrock] = _bedrock_limited_access_v9(
            data.get(bedrock) or stored_policy(bedrock, "v8")
        )
    if _version(data.get(anthropic)) < 6:
        data[anthropic] = _anthropic_limited_access_v6(
            data.get(anthropic) or stored_policy(anthropic, "v4")
        )
    if _version(data.get(inference)) < 2:
        data[inference] = stored_policy(inference, "v2")
    return {name: (d, json.dumps(d["Document"])) for name, d in data.items()}


def _backend_init_aws_policies(self: IAMBackend) -> list[Any]:
    out = []
    for name, (d, document) in managed_policy_catalogue().items():
        out.append(
            iam_models.AWSManagedPolicy(
                name,
                account_id=self.account_id,
                region=self.region_name,
                default_version_id=d.get("DefaultVersionId"),
                path=d.get("Path"),
                document=document,
                create_date=datetime.fromisoformat(d["CreateDate"]),
                update_date=datetime.fromisoformat(d["UpdateDate"]),
            )
        )
    return out


# =====================================================================
# 7. Organizations account ids
#
# AWS assigns random 12-digit ids; the lab numbers member accounts
# 222222222222, 333333333333, ... so scenarios, fault specs and docs can name
# them. (A lab convenience, not an AWS behaviour.)
# =====================================================================


_PLACEHOLDER_ACCOUNT = "000000000000"
_creating_org = threading.local()


def _next_member_account_id() -> str:
    if getattr(_creating_org, "active", False):
        # moto builds the management account's FakeAccount with a fresh id (and an
        # OrganizationAccountAccessRole in that id's IAM) before overwriting the id.
        return _PLACEHOLDER_ACCOUNT
    used = set(organizations_backends.master_accounts) | {MANAGEMENT_ACCOUNT_ID}
    for backend in _all_org_backends():
        used |= {a.id for a in backend.accounts}
    index = 1
    while member_account_id(index) in used or member_account_id(index) == MANAGEMENT_ACCOUNT_ID:
        index += 1
    return member_account_id(index)


_moto_create_organization = org_models.OrganizationsBackend.create_organization


def _backend_create_organization(self: Any, region: str, **kwargs: Any) -> Any:
    _creating_org.active = True
    try:
        return _moto_create_organization(self, region, **kwargs)
    finally:
        _creating_org.active = False
        if _PLACEHOLDER_ACCOUNT in iam_backends:
            del iam_backends[_PLACEHOLDER_ACCOUNT]


def _all_org_backends() -> list[Any]:
    out = []
    for asb in list(organizations_backends.values()):
        out += [b for b in dict.values(asb) if getattr(b, "org", None) is not None]
    return out


# =====================================================================
# 8. STS AssumeRole trust
#
# AWS: AssumeRole succeeds only when the role exists and its trust policy trusts
# the caller; otherwise 403 AccessDenied "User: <arn> is not authorized to
# perform: sts:AssumeRole on resource: <role arn>" (IAM user guide, "Granting a
# user permissions to switch roles"). moto 5.2 lets anyone assume any ARN, even a
# role that does not exist, so an account without OrganizationAccountAccessRole
# would look reachable. Checked in the HTTP layer (server.py) before moto runs.
# =====================================================================


def assume_role_denial(access_key: str | None, account_id: str, body: bytes) -> str | None:
    """The AccessDenied message for an AssumeRole request AWS would refuse, else None."""
    params = dict(parse_qsl(body.decode("utf-8", "replace")))
    role_arn = params.get("RoleArn", "")
    caller = caller_for(access_key, account_id)
    if not assume_role_denied(caller, role_arn):
        return None
    return (
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )


# =====================================================================
# 9. CloudTrail LookupEvents
#
# AWS: management events of the last 90 days in the region queried, newest first,
# one LookupAttribute, StartTime/EndTime, MaxResults <= 50 with NextToken
# (botocore cloudtrail model; docs/aws-facts.md "CloudTrail"). moto 5.2 has no LookupEvents.
# The semantics are in trail.EventStore.lookup; the HTTP layer calls this.
# =====================================================================


def lookup_events(store: EventStore, account_id: str, region: str, body: bytes) -> Any:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise LookupError_("SerializationException", "Malformed request body") from None
    if not isinstance(request, dict):
        raise LookupError_("SerializationException", "Malformed request body")
    return store.lookup(account_id=account_id, region=region, request=request, at=now())


# =====================================================================
# 10. CloudTrail records of IAM calls
#
# AWS: every IAM write call is a management event with eventSource
# iam.amazonaws.com, recorded in us-east-1 (IAM is global; docs/aws-facts.md "CloudTrail"),
# with the request's parameters in lowerCamelCase, passwords left out, and the
# secret of a new credential never logged. Failed calls carry errorCode.
# =====================================================================

_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
_TAG_RE_CACHE: dict[str, re.Pattern[str]] = {}


def iam_call_record(
    access_key: str | None,
    account_id: str,
    operation: str,
    body: bytes,
    status: str,
    response: bytes,
) -> dict[str, Any]:
    params = dict(parse_qsl(body.decode("utf-8", "replace")))
    caller = caller_for(access_key, account_id)
    error_code = error_message = None
    if not status.startswith("2"):
        text = response.decode("utf-8", "replace")
        error_code = _xml_tag(text, "Code")
        error_message = _xml_tag(text, "Message")
    return make_record(
        event_name=operation,
        event_source="iam.amazonaws.com",
        event_time=now(),
        account_id=account_id,
        region=DEFAULT_REGION,
        user_identity=caller.user_identity(),
        source_ip="127.0.0.1",
        user_agent="phantomkeys-lab",
        request_parameters=_request_parameters(params) or None,
        response_elements=None if error_code else _response_elements(operation, response),
        read_only=False,
        error_code=error_code,
        error_message=error_message,
    )


def _xml_tag(text: str, tag: str) -> str | None:
    pattern = _TAG_RE_CACHE.get(tag)
    if pattern is None:
        pattern = _TAG_RE_CACHE[tag] = re.compile(f"<{tag}>([^<]*)</{tag}>")
    m = pattern.search(text)
    return m.group(1) if m else None


_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def _request_parameters(params: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("Action", "Version") or "." in key:
            continue
        name = key[0].lower() + key[1:]
        if "password" in name.lower():
            continue  # CloudTrail never logs passwords
        typed: Any = value
        if value.isdigit() and name in ("credentialAgeDays", "maxItems", "maxSessionDuration"):
            typed = int(value)
        elif value in ("true", "false"):
            typed = value == "true"
        out[name] = typed
    return out


def _response_elements(operation: str, response: bytes) -> dict[str, Any] | None:
    text = response.decode("utf-8", "replace")
    fields: tuple[str, ...]
    match operation:
        case "CreateUser":
            wrapper, fields = "user", ("Path", "UserName", "UserId", "Arn", "CreateDate")
        case "CreateAccessKey":
            wrapper, fields = "accessKey", ("UserName", "AccessKeyId", "Status", "CreateDate")
        case "CreateServiceSpecificCredential" | "ResetServiceSpecificCredential":
            wrapper, fields = (
                "serviceSpecificCredential",
                (
                    "CreateDate",
                    "ExpirationDate",
                    "ServiceName",
                    "ServiceCredentialAlias",
                    "ServiceSpecificCredentialId",
                    "UserName",
                    "Status",
                ),
            )
        case "CreateLoginProfile":
            wrapper, fields = "loginProfile", ("UserName", "CreateDate", "PasswordResetRequired")
        case _:
            return None
    inner: dict[str, Any] = {}
    for f in fields:
        value = _xml_tag(text, f)
        if value is not None:
            inner[f[0].lower() + f[1:]] = value
    if operation.endswith("ServiceSpecificCredential"):
        inner["serviceCredentialSecret"] = _HIDDEN
    return {wrapper: inner}


# =====================================================================
# Installation
# =====================================================================


def install() -> None:
    """Apply every extension (idempotent). Call once in the server process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True

        # moto computes the method list of a response class per request with
        # inspect.getmembers (0.5 ms); the classes do not change once installed.
        moto_responses.method_names_from_class = functools.cache(
            moto_responses.method_names_from_class
        )

        iam_models.load_iam_aws_managed_policies = lambda: True
        IAMBackend._init_aws_policies = _backend_init_aws_policies
        IAMBackend.delete_user = _backend_delete_user
        IAMBackend.create_login_profile = _backend_create_login_profile
        IAMBackend.update_login_profile = _backend_update_login_profile
        User.permissions_boundary = property(_user_permissions_boundary)

        patches = {
            "create_service_specific_credential": _iam_create_service_specific_credential,
            "reset_service_specific_credential": _iam_reset_service_specific_credential,
            "update_service_specific_credential": _iam_update_service_specific_credential,
            "delete_service_specific_credential": _iam_delete_service_specific_credential,
            "list_service_specific_credentials": _iam_list_service_specific_credentials,
            "list_users": _iam_list_users,
            "list_access_keys": _iam_list_access_keys,
            "get_account_authorization_details": _iam_get_account_authorization_details,
            "put_user_permissions_boundary": _iam_put_user_permissions_boundary,
            "delete_user_permissions_boundary": _iam_delete_user_permissions_boundary,
            "create_user": _iam_create_user,
            "generate_credential_report": _iam_generate_credential_report,
            "get_credential_report": _iam_get_credential_report,
        }
        for name, func in patches.items():
            setattr(IamResponse, name, func)
        IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
            **IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
            "ListUsersResponse.Users.User.PermissionsBoundary": never_return,
        }
        org_utils.make_random_account_id = _next_member_account_id
        org_models.utils.make_random_account_id = _next_member_account_id
        org_models.OrganizationsBackend.create_organization = _backend_create_organization
        route_every_athena_path()


def route_every_athena_path() -> None:
    """Athena over botocore's current protocol (idempotent; also for ``mock_aws`` tests).

    botocore 1.44 moved Athena from the json protocol (``POST /`` with ``X-Amz-Target``)
    to rest-json (``POST /query-executions``, ``GET /query-executions/{id}/results``).
    moto parses a request with the installed botocore's model of the service, so it reads
    either protocol, but its Athena URL table routes only ``/``: route every path to the
    same handler, as moto does for Bedrock.
    """
    from moto.athena import urls as athena_urls
    from moto.athena.responses import AthenaResponse

    athena_urls.url_paths.setdefault("{0}/.*$", AthenaResponse.dispatch)


# =====================================================================
# Helpers for the HTTP layer (server.py)
# =====================================================================


def iam_backend(account_id: str) -> Any:
    return iam_backends[account_id]["aws"]


def existing_iam_backend(account_id: str) -> Any | None:
    asb = dict.get(iam_backends, account_id)
    if asb is None:
        return None
    return dict.get(asb, "aws")


def account_for_access_key(access_key_id: str | None) -> str | None:
    """The account an access key (IAM user key or STS session key) belongs to."""
    if not access_key_id:
        return None
    for account_id, asb in list(iam_backends.items()):
        backend = dict.get(asb, "aws")
        if backend is not None and access_key_id in backend.access_keys:
            return str(account_id)
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, in CloudTrail ``userIdentity`` terms."""

    account_id: str
    type: str  # IAMUser | AssumedRole | Root
    arn: str
    principal_id: str
    access_key_id: str | None
    username: str  # LookupEvents' Username: user name, role session name, or "root"
    session_issuer_arn: str | None = None
    session_created: datetime | None = None

    def user_identity(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "principalId": self.principal_id,
            "arn": self.arn,
            "accountId": self.account_id,
        }
        if self.access_key_id:
            out["accessKeyId"] = self.access_key_id
        if self.type == "IAMUser":
            out["userName"] = self.username
        if self.type == "AssumedRole" and self.session_issuer_arn:
            role_name = self.session_issuer_arn.rsplit("/", 1)[-1]
            out["sessionContext"] = {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": self.principal_id.split(":")[0],
                    "arn": self.session_issuer_arn,
                    "accountId": self.account_id,
                    "userName": role_name,
                },
                "attributes": {
                    "creationDate": _fmt_iso(self.session_created or now()),
                    "mfaAuthenticated": "false",
                },
            }
        return out


def _fmt_iso(value: datetime) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def caller_for(access_key_id: str | None, account_id: str) -> Caller:
    backend = existing_iam_backend(account_id)
    if backend is not None and access_key_id:
        sts_asb = dict.get(sts_backends, account_id)
        sts = dict.get(sts_asb, "aws") if sts_asb is not None else None
        if sts is not None:
            role = sts.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return Caller(
                    account_id=account_id,
                    type="AssumedRole",
                    arn=role.arn,
                    principal_id=role.user_id,
                    access_key_id=access_key_id,
                    username=role.session_name,
                    session_issuer_arn=role.role_arn,
                )
        user = user_for_access_key(backend, access_key_id)
        if user is not None:
            return Caller(
                account_id=account_id,
                type="IAMUser",
                arn=user.arn,
                principal_id=user.id,
                access_key_id=access_key_id,
                username=user.name,
            )
    return Caller(
        account_id=account_id,
        type="Root",
        arn=f"arn:aws:iam::{account_id}:root",
        principal_id=account_id,
        access_key_id=access_key_id,
        username="root",
    )


def assume_role_denied(caller: Caller, role_arn: str) -> bool:
    """AWS: AssumeRole needs the role to exist and its trust policy to trust the caller.

    (IAM user guide, "Granting a user permissions to switch roles"; an account
    joined without ``OrganizationAccountAccessRole`` cannot be entered with it.)
    Only ``Allow`` statements with an AWS principal are evaluated: the account id,
    its root ARN, the caller's ARN, or ``*``.
    """
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return True
    account_id, role_name = parts[4], parts[5].rsplit("/", 1)[-1]
    backend = existing_iam_backend(account_id)
    if backend is None:
        return True
    role = next((r for r in backend.roles.values() if r.name == role_name), None)
    if role is None:
        return True
    try:
        trust = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return True
    statements = trust.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    trusted = {caller.account_id, f"arn:aws:iam::{caller.account_id}:root", caller.arn, "*"}
    if caller.session_issuer_arn:
        trusted.add(caller.session_issuer_arn)
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        principals = st.get("Principal", {})
        if principals == "*":
            return False
        aws = principals.get("AWS", []) if isinstance(principals, dict) else []
        aws = [aws] if isinstance(aws, str) else aws
        if trusted & set(aws):
            return False
    return True


# ---------------------------------------------------------------- backdating


def backdate(account_id: str, item: dict[str, Any]) -> None:
    """Move timestamps into the past, as if things had happened earlier.

    ``item``: ``{"user_name", "what": user|password|access_key|access_key_last_used|
    service_credential|credential_report, "id"?: str, "days": float, "region"?,
    "service"?}`` (``credential_report`` ignores ``user_name``).
    Moving a service credential's CreateDate moves its ExpirationDate with it.
    """
    backend = iam_backend(account_id)
    when = now() - timedelta(days=float(item["days"]))
    naive = when.replace(tzinfo=None)
    what = item["what"]
    if what == "credential_report":
        # The report keeps its content: it now reads as generated ``days`` ago,
        # before any change made since (AWS reuses a report up to 4 hours old).
        if getattr(backend, "lab_report_time", None) is None:
            raise NotFoundException("no credential report generated yet")
        backend.lab_report_time = when
        return
    user = backend.get_user(item["user_name"])
    if what == "user":
        user.create_date = when
    elif what == "password":
        user.lab_password_changed = when
    elif what == "password_last_used":
        user.password_last_used = when
    elif what in ("access_key", "access_key_last_used"):
        key = user.get_access_key_by_id(item["id"])
        if what == "access_key":
            key.create_date = when
        else:
            key.last_used = iam_models.AccessKeyLastUsed(
                timestamp=naive,
                service=item.get("service", "iam"),
                region=item.get("region", "us-east-1"),
            )
    elif what == "service_credential":
        for cred in user_credentials(user):
            if cred.credential_id == item["id"]:
                cred.create_date = when
                break
        else:
            raise NotFoundException(f"no credential {item['id']}")
    else:
        raise ValueError(f"cannot backdate {what!r}")


# ---------------------------------------------------------------- snapshots


def snapshot_state(extra: Any) -> bytes:
    """Everything the lab holds, as one pickle (shared objects stay shared)."""
    state = {
        "iam": {a: dict(b) for a, b in iam_backends.items()},
        "sts": {a: dict(b) for a, b in sts_backends.items()},
        "organizations": {a: dict(b) for a, b in organizations_backends.items()},
        "master_accounts": dict(organizations_backends.master_accounts),
        "extra": extra,
    }
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def restore_state(blob: bytes) -> Any:
    state = pickle.loads(blob)  # noqa: S301 - our own snapshot, never external input
    for name, backend_dict in (
        ("iam", iam_backends),
        ("sts", sts_backends),
        ("organizations", organizations_backends),
    ):
        saved: dict[str, dict[str, Any]] = state[name]
        for account in list(backend_dict.keys()):
            if account not in saved:
                del backend_dict[account]
        for account, regions in saved.items():
            asb = backend_dict[account]
            dict.clear(asb)
            for region, backend in regions.items():
                dict.__setitem__(asb, region, backend)
    organizations_backends.master_accounts.clear()
    organizations_backends.master_accounts.update(state["master_accounts"])
    return state["extra"]
