"""State facts: one user's or role's IAM state as read before a write, and the flat
``{key: value}`` facts that decide "already done" and "changed since the plan"."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from phantomkeys.core.model import AccessKey, InlinePolicy, LookupFailure, ServiceCredential
from phantomkeys.core.plans.model import (
    Facts,
    PlanError,
    Step,
    _parse_ts,
    _ts,
    document_sha,
)
from phantomkeys.surfaces import SURFACES, Surface

#: The one inline deny a revoke puts on a user (updated in place, never duplicated).
REVOKE_POLICY_NAME = "PhantomKeysRevoke"
#: The one inline policy holding session denies (aws:TokenIssueTime) per principal.
SESSION_REVOKE_POLICY_NAME = "PhantomKeysRevokeSessions"

#: AWS reserves these for IAM Identity Center permission-set roles.
SSO_ROLE_PREFIX = "AWSReservedSSO_"
SSO_ROLE_PATH_PREFIX = "/aws-reserved/sso.amazonaws.com/"
SERVICE_LINKED_PATH_PREFIX = "/aws-service-role/"


def _body_sha(body: str) -> str:
    normalised = "\n".join(line.strip() for line in body.strip().splitlines())
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


# ====================================================================== state


@dataclass(frozen=True, slots=True)
class MfaDevice:
    serial: str
    enabled: datetime | None = None

    @property
    def virtual(self) -> bool:
        """Virtual MFA serials are ARNs ``arn:…:iam::ACCOUNT:mfa/NAME``; hardware ones are not."""
        return self.serial.startswith("arn:") and ":mfa/" in self.serial

    def to_dict(self) -> dict[str, Any]:
        return {"serial": self.serial, "enabled": _ts(self.enabled), "virtual": self.virtual}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MfaDevice:
        return cls(serial=d["serial"], enabled=_parse_ts(d.get("enabled")))


@dataclass(frozen=True, slots=True)
class UploadedKey:
    """A signing certificate or SSH public key: public material, kept so restore can re-upload."""

    id: str
    status: str  # Active | Inactive
    body: str | None
    uploaded: datetime | None = None

    @property
    def fingerprint(self) -> str:
        return _body_sha(self.body) if self.body else f"id-{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "uploaded": _ts(self.uploaded),
            "fingerprint": self.fingerprint,
            "body": self.body,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UploadedKey:
        return cls(
            id=d["id"],
            status=d["status"],
            body=d.get("body"),
            uploaded=_parse_ts(d.get("uploaded")),
        )


@dataclass(frozen=True, slots=True)
class UserState:
    """Everything about one IAM user that a plan depends on or a restore needs.

    Read per user (``aws/state.py``), never from the credential report, so
    access key ids, SSH keys and certificates are exact. ``failures`` non-empty
    means the read is incomplete and nothing may be written on it.
    """

    account_id: str
    partition: str
    name: str
    exists: bool
    read_at: datetime
    arn: str = ""
    user_id: str = ""
    path: str = "/"
    created: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    boundary_arn: str | None = None
    inline_policies: tuple[InlinePolicy, ...] = ()
    attached_policy_arns: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    service_credentials: tuple[ServiceCredential, ...] = ()
    access_keys: tuple[AccessKey, ...] = ()
    login_profile: bool = False
    login_profile_created: datetime | None = None
    mfa_devices: tuple[MfaDevice, ...] = ()
    signing_certificates: tuple[UploadedKey, ...] = ()
    ssh_public_keys: tuple[UploadedKey, ...] = ()
    failures: tuple[LookupFailure, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failures

    def inline(self, name: str) -> InlinePolicy | None:
        return next((p for p in self.inline_policies if p.name == name), None)

    def api_keys(self, surfaces: Sequence[Surface] = SURFACES) -> tuple[ServiceCredential, ...]:
        services = {s.credential_service for s in surfaces}
        return tuple(c for c in self.service_credentials if c.service in services)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "partition": self.partition,
            "name": self.name,
            "exists": self.exists,
            "read_at": _ts(self.read_at),
            "arn": self.arn,
            "user_id": self.user_id,
            "path": self.path,
            "created": _ts(self.created),
            "tags": dict(self.tags),
            "permissions_boundary": self.boundary_arn,
            "inline_policies": [p.to_dict() for p in self.inline_policies],
            "attached_policy_arns": list(self.attached_policy_arns),
            "group_names": list(self.group_names),
            "service_credentials": [c.to_dict() for c in self.service_credentials],
            "access_keys": [k.to_dict() for k in self.access_keys],
            "login_profile": self.login_profile,
            "login_profile_created": _ts(self.login_profile_created),
            "mfa_devices": [m.to_dict() for m in self.mfa_devices],
            "signing_certificates": [c.to_dict() for c in self.signing_certificates],
            "ssh_public_keys": [k.to_dict() for k in self.ssh_public_keys],
            "failures": [f.to_dict() for f in self.failures],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UserState:
        read_at = _parse_ts(d.get("read_at"))
        if read_at is None:
            raise PlanError("user state without read_at")
        return cls(
            account_id=d["account_id"],
            partition=d.get("partition", "aws"),
            name=d["name"],
            exists=bool(d["exists"]),
            read_at=read_at,
            arn=d.get("arn", ""),
            user_id=d.get("user_id", ""),
            path=d.get("path", "/"),
            created=_parse_ts(d.get("created")),
            tags=dict(d.get("tags", {})),
            boundary_arn=d.get("permissions_boundary"),
            inline_policies=tuple(InlinePolicy.from_dict(p) for p in d.get("inline_policies", ())),
            attached_policy_arns=tuple(d.get("attached_policy_arns", ())),
            group_names=tuple(d.get("group_names", ())),
            service_credentials=tuple(
                ServiceCredential.from_dict(c) for c in d.get("service_credentials", ())
            ),
            access_keys=tuple(AccessKey.from_dict(k) for k in d.get("access_keys", ())),
            login_profile=bool(d.get("login_profile")),
            login_profile_created=_parse_ts(d.get("login_profile_created")),
            mfa_devices=tuple(MfaDevice.from_dict(m) for m in d.get("mfa_devices", ())),
            signing_certificates=tuple(
                UploadedKey.from_dict(c) for c in d.get("signing_certificates", ())
            ),
            ssh_public_keys=tuple(UploadedKey.from_dict(k) for k in d.get("ssh_public_keys", ())),
            failures=tuple(LookupFailure.from_dict(f) for f in d.get("failures", ())),
        )


@dataclass(frozen=True, slots=True)
class RoleState:
    """The part of an IAM role a session revocation depends on."""

    account_id: str
    partition: str
    name: str
    exists: bool
    read_at: datetime
    arn: str = ""
    role_id: str = ""
    path: str = "/"
    #: The current PhantomKeysRevokeSessions document, None when the role has none.
    session_policy: Mapping[str, Any] | None = None
    failures: tuple[LookupFailure, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failures

    @property
    def service_linked(self) -> bool:
        return self.path.startswith(SERVICE_LINKED_PATH_PREFIX)

    @property
    def sso(self) -> bool:
        return self.name.startswith(SSO_ROLE_PREFIX) or self.path.startswith(SSO_ROLE_PATH_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "partition": self.partition,
            "name": self.name,
            "exists": self.exists,
            "read_at": _ts(self.read_at),
            "arn": self.arn,
            "role_id": self.role_id,
            "path": self.path,
            "session_policy": (
                dict(self.session_policy) if self.session_policy is not None else None
            ),
            "failures": [f.to_dict() for f in self.failures],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoleState:
        read_at = _parse_ts(d.get("read_at"))
        if read_at is None:
            raise PlanError("role state without read_at")
        return cls(
            account_id=d["account_id"],
            partition=d.get("partition", "aws"),
            name=d["name"],
            exists=bool(d["exists"]),
            read_at=read_at,
            arn=d.get("arn", ""),
            role_id=d.get("role_id", ""),
            path=d.get("path", "/"),
            session_policy=d.get("session_policy"),
            failures=tuple(LookupFailure.from_dict(f) for f in d.get("failures", ())),
        )


State = UserState | RoleState


def user_facts(state: UserState) -> dict[str, str]:
    """The facts of a user state (see the module docstring). A missing user has none."""
    if not state.exists:
        return {}
    facts: dict[str, str] = {"user": state.path}
    facts.update({f"tag:{k}": v for k, v in state.tags.items()})
    if state.boundary_arn:
        facts["boundary"] = state.boundary_arn
    facts.update({f"inline:{p.name}": document_sha(p.document) for p in state.inline_policies})
    facts.update({f"attached:{a}": "attached" for a in state.attached_policy_arns})
    facts.update({f"group:{g}": "member" for g in state.group_names})
    facts.update({f"credential:{c.id}": c.status for c in state.service_credentials})
    facts.update({f"access-key:{k.id}": k.status for k in state.access_keys})
    if state.login_profile:
        facts["login-profile"] = "enabled"
    facts.update({f"mfa:{m.serial}": "enabled" for m in state.mfa_devices})
    facts.update({f"signing-cert:{c.fingerprint}": c.status for c in state.signing_certificates})
    facts.update({f"ssh-key:{k.fingerprint}": k.status for k in state.ssh_public_keys})
    return facts


def role_facts(state: RoleState) -> dict[str, str]:
    if not state.exists:
        return {}
    facts = {"role": state.path}
    if state.session_policy is not None:
        facts[f"inline:{SESSION_REVOKE_POLICY_NAME}"] = document_sha(state.session_policy)
    return facts


class FactSource(Protocol):
    """A state kind defined outside this module (SCP and alert deploys:
    ``core/controls/plan.py``) that reduces itself to facts."""

    def facts(self) -> dict[str, str]: ...


def facts_of(state: State | FactSource) -> dict[str, str]:
    if isinstance(state, UserState):
        return user_facts(state)
    if isinstance(state, RoleState):
        return role_facts(state)
    return state.facts()


_FACT_WORDS = {
    "user": "the user",
    "role": "the role",
    "tag": "tag",
    "boundary": "permissions boundary",
    "inline": "inline policy",
    "attached": "attached policy",
    "group": "group membership",
    "credential": "API key / service credential",
    "access-key": "access key",
    "login-profile": "console password",
    "mfa": "MFA device",
    "signing-cert": "signing certificate",
    "ssh-key": "SSH public key",
}


def describe_fact(key: str) -> str:
    kind, _, subject = key.partition(":")
    words = _FACT_WORDS.get(kind, kind)
    return f"{words} {subject}".strip()


def drift(baseline: Facts, fresh: Facts, steps: Iterable[Step]) -> list[str]:
    """Changes between the plan's baseline and a fresh read that the plan does not explain."""
    steps = list(steps)
    removable = {k for s in steps for k in s.removes}
    settable = {(k, v) for s in steps for k, v in s.sets.items()}
    out: list[str] = []
    for key in sorted(fresh):
        value = fresh[key]
        if baseline.get(key) == value or (key, value) in settable:
            continue
        if key in baseline:
            out.append(f"{describe_fact(key)} changed: {baseline[key]} -> {value}")
        else:
            out.append(f"{describe_fact(key)} appeared ({value})")
    for key in sorted(baseline):
        if key not in fresh and key not in removable:
            out.append(f"{describe_fact(key)} disappeared")
    return out


def _require_complete(state: State) -> None:
    if not state.complete:
        failed = ", ".join(f"{f.operation} ({f.error_code})" for f in state.failures[:3])
        raise PlanError(
            f"the state of {state.name} could not be read completely ({failed}); "
            "nothing is written on incomplete information"
        )
