"""1. IAM service-specific credentials (moto has none)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import (
    IAMException,
    LimitExceededException,
    NotFoundException,
    ValidationError,
)

from phantomkeys.core import keys
from phantomkeys.lab.extensions.base import IamResponse, _derive, _target_user, now
from phantomkeys.lab.extensions.paging import paginate
from phantomkeys.surfaces import (
    BEDROCK,
    CLAUDE_PLATFORM,
    OTHER_CREDENTIAL_SERVICES,
    surface_for_credential_service,
)

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
