"""Who made a request, in CloudTrail ``userIdentity`` terms (for sections 8 and 10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from phantomkeys.lab.extensions.base import (
    _aware,
    existing_iam_backend,
    iam_backends,
    now,
    sts_backends,
    user_for_access_key,
)


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
