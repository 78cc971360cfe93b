"""Snapshots: everything read from AWS, as versioned, JSON-serialisable data.

Every analysis runs on a snapshot, so it can be replayed offline
(``--save-snapshot`` / ``--from-snapshot``) and unit-tested without AWS.

Unknown is not empty: a field that could not be read is ``None`` (and the
failure is recorded in :attr:`AccountSnapshot.failures`), never ``()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.timeparse import parse_iso
from phantomkeys.surfaces import is_api_key_service

SNAPSHOT_FORMAT = "phantomkeys/account-snapshot"
ORG_SNAPSHOT_FORMAT = "phantomkeys/org-snapshot"
SNAPSHOT_VERSION = 1


class SnapshotError(ValueError):
    """A snapshot file is not one this version can read."""


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _parse_ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_iso(value if isinstance(value, datetime) else str(value))


@dataclass(frozen=True, slots=True)
class ServiceCredential:
    """An IAM service-specific credential (API key). The secret is never collected."""

    id: str
    username: str
    service: str
    status: str  # Active | Inactive | Expired
    created: datetime | None
    expires: datetime | None = None
    alias: str | None = None

    def is_active(self, at: datetime) -> bool:
        if self.status != "Active":
            return False
        return self.expires is None or self.expires > at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "service": self.service,
            "status": self.status,
            "created": _ts(self.created),
            "expires": _ts(self.expires),
            "alias": self.alias,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceCredential:
        return cls(
            id=d["id"],
            username=d["username"],
            service=d["service"],
            status=d["status"],
            created=_parse_ts(d.get("created")),
            expires=_parse_ts(d.get("expires")),
            alias=d.get("alias"),
        )


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: str
    status: str  # Active | Inactive
    created: datetime | None = None
    last_used: datetime | None = None
    last_used_service: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "created": _ts(self.created),
            "last_used": _ts(self.last_used),
            "last_used_service": self.last_used_service,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccessKey:
        return cls(
            id=d["id"],
            status=d["status"],
            created=_parse_ts(d.get("created")),
            last_used=_parse_ts(d.get("last_used")),
            last_used_service=d.get("last_used_service"),
        )


@dataclass(frozen=True, slots=True)
class InlinePolicy:
    name: str
    document: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "document": dict(self.document)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InlinePolicy:
        return cls(name=d["name"], document=d["document"])


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    arn: str
    name: str
    document: Mapping[str, Any] | None  # None when the default version could not be read
    version_id: str | None = None

    @property
    def is_aws_managed(self) -> bool:
        return ":iam::aws:policy/" in self.arn

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "version_id": self.version_id,
            "document": dict(self.document) if self.document is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ManagedPolicy:
        return cls(
            arn=d["arn"], name=d["name"], document=d.get("document"), version_id=d.get("version_id")
        )


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    arn: str
    inline_policies: tuple[InlinePolicy, ...] = ()
    attached_policy_arns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "inline_policies": [p.to_dict() for p in self.inline_policies],
            "attached_policy_arns": list(self.attached_policy_arns),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Group:
        return cls(
            name=d["name"],
            arn=d["arn"],
            inline_policies=tuple(InlinePolicy.from_dict(p) for p in d.get("inline_policies", ())),
            attached_policy_arns=tuple(d.get("attached_policy_arns", ())),
        )


@dataclass(frozen=True, slots=True)
class IamUser:
    """One IAM user. ``None`` in a credential field means *not known*, not *none*."""

    name: str
    arn: str
    user_id: str = ""
    path: str = "/"
    created: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    inline_policies: tuple[InlinePolicy, ...] = ()
    attached_policy_arns: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    boundary_arn: str | None = None
    service_credentials: tuple[ServiceCredential, ...] | None = ()
    access_keys: tuple[AccessKey, ...] | None = None
    password_enabled: bool | None = None
    password_last_used: datetime | None = None
    mfa_devices: tuple[str, ...] | None = None
    #: From the credential report, which says whether MFA is on but not which device.
    mfa_active: bool | None = None
    #: Active signing certificates (the credential report has them).
    signing_certificates: int | None = None
    #: Active SSH public keys: only a per-user read has them (None: not read).
    ssh_public_keys: int | None = None
    #: When access keys, password, MFA, SSH keys and certificates were read per
    #: user (live); None when they come from the credential report.
    credentials_verified_at: datetime | None = None

    @property
    def has_mfa(self) -> bool | None:
        if self.mfa_devices is not None:
            return bool(self.mfa_devices)
        return self.mfa_active

    def to_dict(self) -> dict[str, Any]:
        def opt(items: tuple[Any, ...] | None) -> Any:
            return (
                None
                if items is None
                else [i.to_dict() if hasattr(i, "to_dict") else i for i in items]
            )

        return {
            "name": self.name,
            "arn": self.arn,
            "user_id": self.user_id,
            "path": self.path,
            "created": _ts(self.created),
            "tags": dict(self.tags),
            "inline_policies": [p.to_dict() for p in self.inline_policies],
            "attached_policy_arns": list(self.attached_policy_arns),
            "group_names": list(self.group_names),
            "boundary_arn": self.boundary_arn,
            "service_credentials": opt(self.service_credentials),
            "access_keys": opt(self.access_keys),
            "password_enabled": self.password_enabled,
            "password_last_used": _ts(self.password_last_used),
            "mfa_devices": opt(self.mfa_devices),
            "mfa_active": self.mfa_active,
            "signing_certificates": self.signing_certificates,
            "ssh_public_keys": self.ssh_public_keys,
            "credentials_verified_at": _ts(self.credentials_verified_at),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IamUser:
        def opt(key: str, build: Any) -> Any:
            value = d.get(key)
            return None if value is None else tuple(build(v) for v in value)

        return cls(
            name=d["name"],
            arn=d["arn"],
            user_id=d.get("user_id", ""),
            path=d.get("path", "/"),
            created=_parse_ts(d.get("created")),
            tags=dict(d.get("tags", {})),
            inline_policies=tuple(InlinePolicy.from_dict(p) for p in d.get("inline_policies", ())),
            attached_policy_arns=tuple(d.get("attached_policy_arns", ())),
            group_names=tuple(d.get("group_names", ())),
            boundary_arn=d.get("boundary_arn"),
            service_credentials=opt("service_credentials", ServiceCredential.from_dict),
            access_keys=opt("access_keys", AccessKey.from_dict),
            password_enabled=d.get("password_enabled"),
            password_last_used=_parse_ts(d.get("password_last_used")),
            mfa_devices=opt("mfa_devices", str),
            mfa_active=d.get("mfa_active"),
            signing_certificates=d.get("signing_certificates"),
            ssh_public_keys=d.get("ssh_public_keys"),
            credentials_verified_at=_parse_ts(d.get("credentials_verified_at")),
        )


def other_ways_in(
    *,
    service_credentials: Iterable[ServiceCredential],
    access_keys: Iterable[AccessKey],
    password: bool,
    signing_certificates: int,
    ssh_public_keys: int,
    at: datetime,
) -> list[str]:
    """Every working way into a user other than a surface's API key.

    The one definition the scan (``at-risk``) and cleanup (refused without
    ``--force``) share: an active access key, a console password, an active
    signing certificate or SSH public key, and any active service-specific
    credential that is not a surface's API key (CodeCommit, Keyspaces,
    CloudWatch and any future service). Inactive ones are left out: they need a
    write to work again (docs/aws-facts.md "Service-specific credentials").
    """
    out = [
        f"active {c.service} credential {c.id}"
        for c in service_credentials
        if not is_api_key_service(c.service) and c.is_active(at)
    ]
    out += [
        f"active access key {k.id or '(from the credential report)'}"
        for k in access_keys
        if k.status == "Active"
    ]
    if password:
        out.append("console password")
    if signing_certificates:
        out.append(f"{signing_certificates} active signing certificate(s)")
    if ssh_public_keys:
        out.append(f"{ssh_public_keys} active SSH public key(s)")
    return out


@dataclass(frozen=True, slots=True)
class LookupFailure:
    """A read that failed (the one value for it: IAM state, CloudTrail history, S3 logs).

    ``user`` None means it affected the whole account. ``where`` names the place
    a history read was for (a region, or an ``s3://`` location), None for IAM.
    ``fallback`` names the path that recovered the same facts (e.g. per-user calls
    after a denied account-wide listing); a recovered failure is still reported
    but no longer makes anything unknown.
    """

    operation: str
    error_code: str
    message: str
    user: str | None = None
    fallback: str | None = None
    where: str | None = None

    @property
    def recovered(self) -> bool:
        return self.fallback is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "error_code": self.error_code,
            "message": self.message,
            "user": self.user,
            "fallback": self.fallback,
            **({"where": self.where} if self.where is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LookupFailure:
        return cls(
            operation=d["operation"],
            error_code=d["error_code"],
            message=d.get("message", ""),
            user=d.get("user"),
            fallback=d.get("fallback"),
            where=d.get("where"),
        )


@dataclass(frozen=True, slots=True)
class ScpLevel:
    """The SCPs attached at one node of an account's path (root, an OU, the account)."""

    target_id: str
    target_name: str
    policies: tuple[ManagedPolicy, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "target_name": self.target_name,
            "policies": [p.to_dict() for p in self.policies],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScpLevel:
        return cls(
            target_id=d["target_id"],
            target_name=d.get("target_name", ""),
            policies=tuple(ManagedPolicy.from_dict(p) for p in d["policies"]),
        )


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_id: str
    partition: str
    collected_at: datetime
    caller_arn: str | None = None
    users: tuple[IamUser, ...] = ()
    groups: Mapping[str, Group] = field(default_factory=dict)
    managed_policies: Mapping[str, ManagedPolicy] = field(default_factory=dict)
    failures: tuple[LookupFailure, ...] = ()
    #: Which path collected each kind of fact, e.g. {"access_keys": "credential-report"}.
    sources: Mapping[str, str] = field(default_factory=dict)
    credential_report_generated_at: datetime | None = None
    #: SCP levels on this account's path (root first); None when not evaluated.
    scps: tuple[ScpLevel, ...] | None = None
    api_calls: Mapping[str, int] = field(default_factory=dict)

    def user(self, name: str) -> IamUser | None:
        for u in self.users:
            if u.name == name:
                return u
        return None

    def unrecovered(self) -> tuple[LookupFailure, ...]:
        return tuple(f for f in self.failures if not f.recovered)

    def account_failures(self) -> tuple[LookupFailure, ...]:
        return tuple(f for f in self.unrecovered() if f.user is None)

    def failures_for(self, username: str) -> tuple[LookupFailure, ...]:
        return tuple(f for f in self.unrecovered() if f.user in (None, username))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "account_id": self.account_id,
            "partition": self.partition,
            "collected_at": _ts(self.collected_at),
            "caller_arn": self.caller_arn,
            "sources": dict(self.sources),
            "credential_report_generated_at": _ts(self.credential_report_generated_at),
            "api_calls": dict(self.api_calls),
            "failures": [f.to_dict() for f in self.failures],
            "scps": None if self.scps is None else [lvl.to_dict() for lvl in self.scps],
            "managed_policies": [p.to_dict() for p in self.managed_policies.values()],
            "groups": [g.to_dict() for g in self.groups.values()],
            "users": [u.to_dict() for u in self.users],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccountSnapshot:
        if d.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"not an account snapshot (format {d.get('format')!r})")
        if d.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"unsupported snapshot version {d.get('version')!r} "
                f"(this phantomkeys reads version {SNAPSHOT_VERSION})"
            )
        collected = _parse_ts(d.get("collected_at"))
        if collected is None:
            raise SnapshotError("snapshot has no collected_at time")
        scps = d.get("scps")
        return cls(
            account_id=d["account_id"],
            partition=d.get("partition", "aws"),
            collected_at=collected,
            caller_arn=d.get("caller_arn"),
            users=tuple(IamUser.from_dict(u) for u in d.get("users", ())),
            groups={g["name"]: Group.from_dict(g) for g in d.get("groups", ())},
            managed_policies={
                p["arn"]: ManagedPolicy.from_dict(p) for p in d.get("managed_policies", ())
            },
            failures=tuple(LookupFailure.from_dict(f) for f in d.get("failures", ())),
            sources=dict(d.get("sources", {})),
            credential_report_generated_at=_parse_ts(d.get("credential_report_generated_at")),
            scps=None if scps is None else tuple(ScpLevel.from_dict(s) for s in scps),
            api_calls=dict(d.get("api_calls", {})),
        )


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """One account of an Organization scan: its place in the tree and its outcome."""

    account_id: str
    name: str = ""
    status: str = "ok"  # ok | error | incomplete | skipped
    error: str | None = None
    ou_path: tuple[str, ...] = ()
    snapshot: AccountSnapshot | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "ou_path": list(self.ou_path),
            "snapshot": self.snapshot.to_dict() if self.snapshot else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccountEntry:
        snap = d.get("snapshot")
        return cls(
            account_id=d["account_id"],
            name=d.get("name", ""),
            status=d.get("status", "ok"),
            error=d.get("error"),
            ou_path=tuple(d.get("ou_path", ())),
            snapshot=AccountSnapshot.from_dict(snap) if snap else None,
        )


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    organization_id: str
    management_account_id: str
    collected_at: datetime
    accounts: tuple[AccountEntry, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ORG_SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "organization_id": self.organization_id,
            "management_account_id": self.management_account_id,
            "collected_at": _ts(self.collected_at),
            "api_calls": dict(self.api_calls),
            "accounts": [a.to_dict() for a in self.accounts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OrgSnapshot:
        if d.get("format") != ORG_SNAPSHOT_FORMAT:
            raise SnapshotError(f"not an organization snapshot (format {d.get('format')!r})")
        if d.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(f"unsupported snapshot version {d.get('version')!r}")
        collected = _parse_ts(d.get("collected_at"))
        if collected is None:
            raise SnapshotError("snapshot has no collected_at time")
        return cls(
            organization_id=d["organization_id"],
            management_account_id=d["management_account_id"],
            collected_at=collected,
            accounts=tuple(AccountEntry.from_dict(a) for a in d.get("accounts", ())),
            api_calls=dict(d.get("api_calls", {})),
        )


def load_snapshot(data: Mapping[str, Any]) -> AccountSnapshot | OrgSnapshot:
    fmt = data.get("format")
    if fmt == SNAPSHOT_FORMAT:
        return AccountSnapshot.from_dict(data)
    if fmt == ORG_SNAPSHOT_FORMAT:
        return OrgSnapshot.from_dict(data)
    raise SnapshotError(f"not a phantomkeys snapshot (format {fmt!r})")
