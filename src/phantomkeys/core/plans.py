"""Plans: every write phantomkeys makes, as reviewable, idempotent, undoable data.

Pure (no boto3, no files, no clock): a state read from AWS plus the user's
intent go in, an ordered :class:`Plan` of :class:`Step` values comes out. The
apply layer (``aws/apply.py``) shows it, backs the state up, re-reads the
state just before writing, and journals each step.

How "already done" and "changed since the plan" are decided
-----------------------------------------------------------
A state is reduced to *facts*: a flat ``{key: value}`` map such as
``{"access-key:AKIA…": "Active", "attached:arn:…": "attached", "user": "/"}``.
Every step declares its effect on facts: the keys it ``removes`` and the
``{key: value}`` pairs it ``sets``.

* A step is **already done** when none of its ``removes`` keys is present and
  every ``sets`` pair holds (:func:`step_done`). Steps whose effect a state
  read cannot see (deleting a virtual MFA device) rely on their
  ``done_errors`` (e.g. ``NoSuchEntity``) and the journal instead.
* The state **changed since the plan** (:func:`drift`) when a fresh read holds
  a fact the plan's baseline did not have and no step of the plan sets, or
  lacks a baseline fact no step removes. A resumed run therefore accepts the
  effects of its own earlier steps and nothing else: a key re-activated or a
  policy attached in the meantime stops the run.

Peer defects this module makes impossible (``docs/architecture.md``):
cleanup removes *every* ``DeleteUser`` prerequisite (not only keys and
policies); it never selects ``unknown`` identities, nor live key holders
without ``--user`` + ``--force``; revoking a role session narrows the deny to
that session instead of every session of the role; repeated revocations reuse
one fixed-name policy per principal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from phantomkeys.core.model import (
    AccessKey,
    InlinePolicy,
    LookupFailure,
    ServiceCredential,
    other_ways_in,
)
from phantomkeys.core.timeparse import parse_iso
from phantomkeys.surfaces import (
    SURFACES,
    Surface,
    is_api_key_service,
    surface_for_credential_service,
)

BACKUP_FORMAT = "phantomkeys/backup"
BACKUP_VERSION = 1

#: The one inline deny a revoke puts on a user (updated in place, never duplicated).
REVOKE_POLICY_NAME = "PhantomKeysRevoke"
#: The one inline policy holding session denies (aws:TokenIssueTime) per principal.
SESSION_REVOKE_POLICY_NAME = "PhantomKeysRevokeSessions"

#: AWS reserves these for IAM Identity Center permission-set roles.
SSO_ROLE_PREFIX = "AWSReservedSSO_"
SSO_ROLE_PATH_PREFIX = "/aws-reserved/sso.amazonaws.com/"
SERVICE_LINKED_PATH_PREFIX = "/aws-service-role/"

_ISO = "%Y-%m-%dT%H:%M:%SZ"

#: IAM user and role names (IAM API reference, ``UserName``/``RoleName``): the only
#: subjects a plan, a backup or a file name may carry.
IAM_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def valid_iam_name(name: object) -> bool:
    return isinstance(name, str) and IAM_NAME_RE.fullmatch(name) is not None


class PlanError(ValueError):
    """A plan cannot be built for this state and intent (message is user-facing)."""


class Operation(StrEnum):
    REVOKE = "revoke"
    CLEANUP = "cleanup"
    RESTORE = "restore"
    #: SCP and alert deploys (their steps: ``core/controls/plan.py``).
    DEPLOY = "deploy"


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_DONE = "already-done"
    SKIPPED = "skipped"
    FAILED = "failed"


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(_ISO) if value else None


def _parse_ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_iso(value if isinstance(value, datetime) else str(value))


def canonical_json(document: Any) -> str:
    """Stable JSON text: the same document always gives the same text and hash."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def document_sha(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:16]


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

# ====================================================================== facts

Facts = Mapping[str, str]


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


# ====================================================================== steps


@dataclass(frozen=True, slots=True)
class Step:
    """One idempotent write. ``params`` are the boto3 keyword arguments of ``action``."""

    id: str
    action: str  # "iam:DeleteAccessKey"
    params: Mapping[str, Any]
    description: str
    #: Fact keys that are absent once the step is done.
    removes: tuple[str, ...] = ()
    #: Fact values that hold once the step is done.
    sets: Mapping[str, str] = field(default_factory=dict)
    #: AWS error codes meaning "the effect is already there" (e.g. NoSuchEntity on a delete).
    done_errors: tuple[str, ...] = ()
    #: False when a state read cannot see the effect (then errors and the journal decide).
    observable: bool = True
    #: What a restore does about this step, or why it cannot bring it back.
    undo: str = ""
    #: True when restore cannot bring back what this step removes.
    irreversible: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "params": dict(self.params),
            "description": self.description,
            "done_when": {
                "absent": list(self.removes),
                "present": dict(self.sets),
                "errors": list(self.done_errors),
                "observable": self.observable,
            },
            "undo": self.undo,
            "irreversible": self.irreversible,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        done = d.get("done_when", {})
        return cls(
            id=d["id"],
            action=d["action"],
            params=dict(d.get("params", {})),
            description=d.get("description", ""),
            removes=tuple(done.get("absent", ())),
            sets=dict(done.get("present", {})),
            done_errors=tuple(done.get("errors", ())),
            observable=bool(done.get("observable", True)),
            undo=d.get("undo", ""),
            irreversible=bool(d.get("irreversible", False)),
        )


def step_done(step: Step, facts: Facts) -> bool | None:
    """True when the step's effect already holds; None when a state read cannot tell."""
    if not step.observable:
        return None
    return all(k not in facts for k in step.removes) and all(
        facts.get(k) == v for k, v in step.sets.items()
    )


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


# ====================================================================== plans


@dataclass(frozen=True, slots=True)
class Plan:
    operation: Operation
    account_id: str
    subject: str
    subject_type: str  # user | role
    built_at: datetime
    steps: tuple[Step, ...]
    #: Facts of the state the plan was built from (what drift is measured against).
    baseline: Mapping[str, str]
    #: The options that shaped the plan (a rerun with the same intent resumes the run).
    intent: Mapping[str, Any] = field(default_factory=dict)
    #: Blast radius, warnings, guidance, shown before confirmation.
    notes: tuple[str, ...] = ()
    #: What the plan removes that no restore can bring back.
    cannot_undo: tuple[str, ...] = ()
    #: Restore plans: what the backup held that cannot come back.
    not_restorable: tuple[str, ...] = ()

    @property
    def intent_key(self) -> str:
        return document_sha(
            {
                "operation": self.operation.value,
                "account": self.account_id,
                "subject": self.subject,
                "type": self.subject_type,
                "intent": dict(self.intent),
            }
        )

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def stop_on_failure(self) -> bool:
        """Revocation does as much as it can; cleanup and restore stop at the first failure
        so a user is never left half-deleted for no reason (a rerun continues)."""
        return self.operation is not Operation.REVOKE

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.value,
            "account_id": self.account_id,
            "subject": self.subject,
            "subject_type": self.subject_type,
            "built_at": _ts(self.built_at),
            "intent": dict(self.intent),
            "intent_key": self.intent_key,
            "steps": [s.to_dict() for s in self.steps],
            "baseline": dict(self.baseline),
            "notes": list(self.notes),
            "cannot_undo": list(self.cannot_undo),
            "not_restorable": list(self.not_restorable),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        built = _parse_ts(d.get("built_at"))
        if built is None:
            raise PlanError("plan without built_at")
        return cls(
            operation=Operation(d["operation"]),
            account_id=d["account_id"],
            subject=d["subject"],
            subject_type=d.get("subject_type", "user"),
            built_at=built,
            steps=tuple(Step.from_dict(s) for s in d.get("steps", ())),
            baseline=dict(d.get("baseline", {})),
            intent=dict(d.get("intent", {})),
            notes=tuple(d.get("notes", ())),
            cannot_undo=tuple(d.get("cannot_undo", ())),
            not_restorable=tuple(d.get("not_restorable", ())),
        )


def _require_complete(state: State) -> None:
    if not state.complete:
        failed = ", ".join(f"{f.operation} ({f.error_code})" for f in state.failures[:3])
        raise PlanError(
            f"the state of {state.name} could not be read completely ({failed}); "
            "nothing is written on incomplete information"
        )


# ------------------------------------------------------------------ documents


def bearer_deny_document(surfaces: Sequence[Surface] = SURFACES) -> dict[str, Any]:
    """The fixed deny a revoke puts on a user: no bearer-token use on any surface.

    Fixed text, so repeated revocations leave exactly one identical policy.
    ``bedrock-mantle:CallWithBearerToken`` is included (docs/aws-facts.md "Controlling keys").
    """
    actions = sorted({a for s in surfaces for a in s.bearer_token_actions})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PhantomKeysRevokeBearerTokens",
                "Effect": "Deny",
                "Action": actions,
                "Resource": "*",
            }
        ],
    }


_SID_RE = re.compile(r"[^A-Za-z0-9]")


def session_statement_sid(principal_id: str | None) -> str:
    if principal_id is None:
        return "PhantomKeysRevokeAllSessions"
    return "PhantomKeysRevokeSession" + hashlib.sha256(principal_id.encode()).hexdigest()[:12]


def session_deny_document(
    existing: Mapping[str, Any] | None, *, principal_id: str | None, issued_before: datetime
) -> dict[str, Any]:
    """Add (or move later) one ``aws:TokenIssueTime`` deny to the session policy.

    ``principal_id`` is the session's ``aws:userid`` (``AROA…:session-name`` for a
    role session) and narrows the deny to that session; ``None`` denies every
    session of the principal issued before ``issued_before``. Statements for other
    sessions are kept, so one policy per principal accumulates revocations.
    """
    sid = session_statement_sid(principal_id)
    when = issued_before.astimezone(UTC).strftime(_ISO)
    kept: list[dict[str, Any]] = []
    for st in _statements(existing):
        if st.get("Sid") == sid:
            earlier = st.get("Condition", {}).get("DateLessThan", {}).get("aws:TokenIssueTime")
            if isinstance(earlier, str) and earlier > when:
                when = earlier  # never move an existing cut-off backwards
            continue
        kept.append(dict(st))
    condition: dict[str, Any] = {"DateLessThan": {"aws:TokenIssueTime": when}}
    if principal_id is not None:
        condition["StringEquals"] = {"aws:userid": principal_id}
    kept.append(
        {"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}
    )
    kept.sort(key=lambda s: str(s.get("Sid", "")))
    return {"Version": "2012-10-17", "Statement": kept}


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not document:
        return []
    raw = document.get("Statement", [])
    if isinstance(raw, Mapping):
        return [raw]
    return [s for s in raw if isinstance(s, Mapping)]


# ------------------------------------------------------------------ revoke


@dataclass(frozen=True, slots=True)
class RevokeOptions:
    """What a long-term revocation does; every part can be switched off."""

    deny: bool = True
    api_keys: bool = True
    delete_credentials: bool = False
    access_keys: bool = True
    console: bool = True
    #: Only these access keys (an AKIA-signed short-term key names exactly one).
    only_access_key_ids: tuple[str, ...] | None = None
    #: Only API keys of these services (default: every surface).
    surfaces: tuple[str, ...] = tuple(s.id.value for s in SURFACES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deny": self.deny,
            "api_keys": self.api_keys,
            "delete_credentials": self.delete_credentials,
            "access_keys": self.access_keys,
            "console": self.console,
            "only_access_key_ids": (
                list(self.only_access_key_ids) if self.only_access_key_ids is not None else None
            ),
            "surfaces": list(self.surfaces),
        }

    @classmethod
    def from_intent(cls, intent: Mapping[str, Any]) -> RevokeOptions:
        """The options recorded in a long-term revoke plan's intent (strictly typed)."""

        def flag(name: str) -> bool:
            value = intent.get(name)
            if not isinstance(value, bool):
                raise PlanError(f"revoke intent {name!r} is not true/false")
            return value

        only = intent.get("only_access_key_ids")
        if only is not None and not (
            isinstance(only, list) and all(isinstance(k, str) for k in only)
        ):
            raise PlanError("revoke intent 'only_access_key_ids' is not a list of ids")
        surfaces = intent.get("surfaces", [s.id.value for s in SURFACES])
        if not (isinstance(surfaces, list) and all(isinstance(x, str) for x in surfaces)):
            raise PlanError("revoke intent 'surfaces' is not a list of names")
        return cls(
            deny=flag("deny"),
            api_keys=flag("api_keys"),
            delete_credentials=flag("delete_credentials"),
            access_keys=flag("access_keys"),
            console=flag("console"),
            only_access_key_ids=tuple(only) if only is not None else None,
            surfaces=tuple(surfaces),
        )


def build_revoke_plan(
    state: UserState, opts: RevokeOptions, *, at: datetime, leaked_alias: str | None = None
) -> Plan:
    """Stop a user's keys: bearer deny, API keys, access keys, console (each optional).

    Order: the deny first (instant and reversible), then credentials. Only what
    is not already in the wanted state becomes a step.
    """
    _require_complete(state)
    if not state.exists:
        raise PlanError(f"IAM user {state.name} does not exist in account {state.account_id}")
    name = state.name
    facts = user_facts(state)
    steps: list[Step] = []
    cannot: list[str] = []
    notes: list[str] = []

    if opts.deny:
        doc = bearer_deny_document()
        sha = document_sha(doc)
        if facts.get(f"inline:{REVOKE_POLICY_NAME}") != sha:
            previous = state.inline(REVOKE_POLICY_NAME)
            steps.append(
                Step(
                    id="put-bearer-deny",
                    action="iam:PutUserPolicy",
                    params={
                        "UserName": name,
                        "PolicyName": REVOKE_POLICY_NAME,
                        "PolicyDocument": canonical_json(doc),
                    },
                    description=(
                        f"{'update' if previous else 'add'} inline deny "
                        f"{REVOKE_POLICY_NAME}: {', '.join(doc['Statement'][0]['Action'])}"
                    ),
                    sets={f"inline:{REVOKE_POLICY_NAME}": sha},
                    undo=(
                        "put back the earlier document"
                        if previous
                        else f"delete inline policy {REVOKE_POLICY_NAME}"
                    ),
                )
            )

    if opts.api_keys:
        services = {s.credential_service for s in SURFACES if s.id.value in opts.surfaces}
        for cred in sorted(state.service_credentials, key=lambda c: c.id):
            if cred.service not in services:
                continue
            leaked = " (the leaked key)" if leaked_alias and cred.alias == leaked_alias else ""
            surface = surface_for_credential_service(cred.service)
            label = f"{surface.display_name if surface else cred.service} API key {cred.id}"
            if opts.delete_credentials:
                steps.append(
                    Step(
                        id=f"delete-credential:{cred.id}",
                        action="iam:DeleteServiceSpecificCredential",
                        params={"UserName": name, "ServiceSpecificCredentialId": cred.id},
                        description=f"delete {label} ({cred.status}){leaked}",
                        removes=(f"credential:{cred.id}",),
                        done_errors=("NoSuchEntity",),
                        undo="cannot be undone: the key's secret is gone",
                        irreversible=True,
                    )
                )
                cannot.append(f"{label}: deleted keys cannot be restored (their secret is gone)")
            elif cred.status == "Active":
                steps.append(
                    Step(
                        id=f"deactivate-credential:{cred.id}",
                        action="iam:UpdateServiceSpecificCredential",
                        params={
                            "UserName": name,
                            "ServiceSpecificCredentialId": cred.id,
                            "Status": "Inactive",
                        },
                        description=f"deactivate {label}{leaked}",
                        sets={f"credential:{cred.id}": "Inactive"},
                        undo="re-activate it",
                    )
                )

    if opts.access_keys:
        for key in sorted(state.access_keys, key=lambda k: k.id):
            if opts.only_access_key_ids is not None and key.id not in opts.only_access_key_ids:
                continue
            if key.status != "Active":
                continue
            steps.append(
                Step(
                    id=f"deactivate-access-key:{key.id}",
                    action="iam:UpdateAccessKey",
                    params={"UserName": name, "AccessKeyId": key.id, "Status": "Inactive"},
                    description=f"deactivate access key {key.id}",
                    sets={f"access-key:{key.id}": "Inactive"},
                    undo="re-activate it",
                )
            )
        if opts.only_access_key_ids:
            missing = sorted(set(opts.only_access_key_ids) - {k.id for k in state.access_keys})
            if missing:
                raise PlanError(
                    f"access key {missing[0]} does not belong to {name} "
                    "(deleted, or another user's)"
                )

    if opts.console and state.login_profile:
        steps.append(
            Step(
                id="delete-login-profile",
                action="iam:DeleteLoginProfile",
                params={"UserName": name},
                description="disable console access (delete the login profile)",
                removes=("login-profile",),
                done_errors=("NoSuchEntity",),
                undo="cannot be undone: the password cannot be read back; set a new one "
                "(aws iam create-login-profile) if the user needs the console",
                irreversible=True,
            )
        )
        cannot.append("console password: AWS cannot give it back; a new one must be set")

    # Ways in a revoke leaves open (other services' credentials, SSH keys,
    # certificates): named, so nobody mistakes the user for closed.
    left = other_ways_in(
        service_credentials=state.service_credentials,
        access_keys=[
            k
            for k in state.access_keys
            if not opts.access_keys
            or (opts.only_access_key_ids is not None and k.id not in opts.only_access_key_ids)
        ],
        password=state.login_profile and not opts.console,
        signing_certificates=sum(1 for c in state.signing_certificates if c.status == "Active"),
        ssh_public_keys=sum(1 for k in state.ssh_public_keys if k.status == "Active"),
        at=at,
    )
    if left:
        notes.append(
            f"still open after this revoke: {', '.join(left)}; "
            f"phantomkeys cleanup --user {name} --force deletes every credential"
        )
    notes.append(
        "IAM is eventually consistent: a deny or deactivation can take a few "
        "seconds to apply everywhere."
    )
    return Plan(
        operation=Operation.REVOKE,
        account_id=state.account_id,
        subject=name,
        subject_type="user",
        built_at=at,
        steps=tuple(steps),
        baseline=facts,
        intent={"kind": "long-term", **opts.to_dict()},
        notes=tuple(notes),
        cannot_undo=tuple(cannot),
    )


# ------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The issuer of a short-term key, as CloudTrail (or the responder) names it."""

    #: IAM principal that owns the session: AssumedRole -> the role; IAMUser -> the user.
    principal_type: str  # AssumedRole | IAMUser | FederatedUser
    principal_name: str  # role name or IAM user name
    principal_arn: str | None = None
    #: ``aws:userid`` of the session (``AROA…:session-name``) when known.
    principal_id: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    source: str = "cloudtrail"  # cloudtrail | --role
    event_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal_type": self.principal_type,
            "principal_name": self.principal_name,
            "principal_arn": self.principal_arn,
            "principal_id": self.principal_id,
            "session_name": self.session_name,
            "access_key_id": self.access_key_id,
            "source": self.source,
            "event_time": _ts(self.event_time),
        }


def session_guidance(role_name: str, role_path: str, *, expires_at: datetime | None) -> str | None:
    """Roles phantomkeys must not write to, and what to do instead (None: writable)."""
    until = f" The key itself expires at {_ts(expires_at)}." if expires_at else ""
    if role_name.startswith(SSO_ROLE_PREFIX) or role_path.startswith(SSO_ROLE_PATH_PREFIX):
        return (
            f"{role_name} is an IAM Identity Center (SSO) role: IAM Identity Center owns "
            "it and overwrites inline changes when it re-provisions the permission set. "
            "Instead: in IAM Identity Center remove the user's assignment or disable the "
            "user (which ends new sign-ins), and add an aws:TokenIssueTime deny to the "
            "permission set's inline policy, then re-provision it to the account "
            "(this ends sessions issued before the deny)." + until
        )
    if role_path.startswith(SERVICE_LINKED_PATH_PREFIX):
        return (
            f"{role_name} is a service-linked role: AWS does not allow its policies to be "
            "edited. Instead: stop or reconfigure the AWS service that assumes it, and "
            "deny the bearer-token actions with an SCP on the account "
            "(phantomkeys scp generate)." + until
        )
    return None


def session_blast_radius(session: SessionInfo, *, all_sessions: bool, at: datetime) -> str:
    when = _ts(at)
    who = f"{session.principal_type} {session.principal_name}"
    if session.principal_id and not all_sessions:
        return (
            f"Denies every action to the one session {session.principal_id} of {who} for "
            f"credentials issued before {when} (aws:TokenIssueTime + aws:userid). Other "
            f"sessions of {session.principal_name}, and sessions issued after {when}, keep "
            "working. Whoever uses that session (the legitimate holder too) must start a "
            "new one."
        )
    return (
        f"Denies every action to ALL sessions of {who} issued before {when} "
        "(aws:TokenIssueTime). Every workload and person using it must start a new "
        "session; long-term access keys are not affected."
    )


def build_session_revoke_plan(
    state: RoleState | UserState,
    session: SessionInfo,
    *,
    at: datetime,
    all_sessions: bool,
    expires_at: datetime | None = None,
) -> Plan:
    """Deny the issuing session of a short-term (ASIA) key with ``aws:TokenIssueTime``.

    Narrowed to the session (``aws:userid``) unless ``all_sessions``; without a
    known session id the caller must ask for ``all_sessions`` explicitly.
    """
    _require_complete(state)
    if not state.exists:
        raise PlanError(
            f"{session.principal_type} {session.principal_name} does not exist "
            f"in account {state.account_id}"
        )
    if isinstance(state, RoleState):
        guidance = session_guidance(state.name, state.path, expires_at=expires_at)
        if guidance:
            raise PlanError(guidance)
    principal_id = None if all_sessions else session.principal_id
    if principal_id is None and not all_sessions:
        raise PlanError(
            f"the session of {session.principal_name} that signed the key is not known "
            "(CloudTrail has no event for it), so the deny cannot be narrowed to it; pass "
            "--all-sessions to deny every session issued before now"
        )
    if isinstance(state, RoleState):
        existing = state.session_policy
        facts = role_facts(state)
        action, param_name = "iam:PutRolePolicy", "RoleName"
    else:
        found = state.inline(SESSION_REVOKE_POLICY_NAME)
        existing = found.document if found else None
        facts = user_facts(state)
        action, param_name = "iam:PutUserPolicy", "UserName"
    doc = session_deny_document(existing, principal_id=principal_id, issued_before=at)
    sha = document_sha(doc)
    steps: list[Step] = []
    if facts.get(f"inline:{SESSION_REVOKE_POLICY_NAME}") != sha:
        target = principal_id or f"all sessions of {state.name}"
        steps.append(
            Step(
                id="put-session-deny",
                action=action,
                params={
                    param_name: state.name,
                    "PolicyName": SESSION_REVOKE_POLICY_NAME,
                    "PolicyDocument": canonical_json(doc),
                },
                description=(
                    f"{'update' if existing else 'add'} inline deny "
                    f"{SESSION_REVOKE_POLICY_NAME} on {state.name}: {target}, "
                    f"credentials issued before {_ts(at)}"
                ),
                sets={f"inline:{SESSION_REVOKE_POLICY_NAME}": sha},
                undo="remove the statement this revocation added",
            )
        )
    notes = [session_blast_radius(session, all_sessions=all_sessions, at=at)]
    if expires_at:
        notes.append(
            f"The key expires at {_ts(expires_at)} anyway; the deny can be removed "
            "after that (phantomkeys restore BACKUP)."
        )
    return Plan(
        operation=Operation.REVOKE,
        account_id=state.account_id,
        subject=state.name,
        subject_type="role" if isinstance(state, RoleState) else "user",
        built_at=at,
        steps=tuple(steps),
        baseline=facts,
        intent={"kind": "short-term", "principal_id": principal_id, "all_sessions": all_sessions},
        notes=tuple(notes),
    )


# ------------------------------------------------------------------ cleanup


def live_items(state: UserState, *, at: datetime) -> list[str]:
    """Credentials that still work: what makes deleting a user more than tidying up.

    Live API keys, then :func:`~phantomkeys.core.model.other_ways_in`: the one
    definition the scan's ``at-risk`` uses too.
    """
    out = [
        f"active API key {c.id} ({c.service})"
        for c in state.service_credentials
        if is_api_key_service(c.service) and c.is_active(at)
    ]
    out += other_ways_in(
        service_credentials=state.service_credentials,
        access_keys=state.access_keys,
        password=state.login_profile,
        signing_certificates=sum(1 for c in state.signing_certificates if c.status == "Active"),
        ssh_public_keys=sum(1 for k in state.ssh_public_keys if k.status == "Active"),
        at=at,
    )
    return out


def build_cleanup_plan(state: UserState, *, at: datetime, allow_live: bool = False) -> Plan:
    """Delete a user completely: every ``DeleteUser`` prerequisite in order, then the user.

    Order (IAM user guide id_users_remove; docs/aws-facts.md "DeleteUser
    prerequisites"): login profile, access keys, signing certificates, SSH keys,
    every service's credentials, MFA devices (deactivate; delete virtual ones),
    inline policies, attached policies, group memberships, permissions
    boundary, the user.
    """
    _require_complete(state)
    name = state.name
    if not state.exists:
        return Plan(
            operation=Operation.CLEANUP,
            account_id=state.account_id,
            subject=name,
            subject_type="user",
            built_at=at,
            steps=(),
            baseline={},
            notes=(f"{name} does not exist (already deleted)",),
        )
    live = live_items(state, at=at)
    if live and not allow_live:
        raise PlanError(
            f"{name} still has {', '.join(live)}: not deleted without --force "
            "(revoke it first, or name it with --user NAME --force)"
        )
    u = {"UserName": name}
    steps: list[Step] = []
    cannot: list[str] = []
    gone = ("NoSuchEntity",)
    if state.login_profile:
        steps.append(
            Step(
                "delete-login-profile",
                "iam:DeleteLoginProfile",
                dict(u),
                "delete the console password",
                removes=("login-profile",),
                done_errors=gone,
                undo="cannot be undone: password",
                irreversible=True,
            )
        )
        cannot.append("console password")
    for k in sorted(state.access_keys, key=lambda k: k.id):
        steps.append(
            Step(
                f"delete-access-key:{k.id}",
                "iam:DeleteAccessKey",
                {**u, "AccessKeyId": k.id},
                f"delete access key {k.id} ({k.status})",
                removes=(f"access-key:{k.id}",),
                done_errors=gone,
                undo="cannot be undone: the secret access key is gone",
                irreversible=True,
            )
        )
        cannot.append(f"access key {k.id}")
    for cert in sorted(state.signing_certificates, key=lambda c: c.id):
        steps.append(
            Step(
                f"delete-signing-cert:{cert.id}",
                "iam:DeleteSigningCertificate",
                {**u, "CertificateId": cert.id},
                f"delete signing certificate {cert.id} ({cert.status})",
                removes=(f"signing-cert:{cert.fingerprint}",),
                done_errors=gone,
                undo="re-upload the certificate body from the backup",
            )
        )
    for ssh in sorted(state.ssh_public_keys, key=lambda k: k.id):
        steps.append(
            Step(
                f"delete-ssh-key:{ssh.id}",
                "iam:DeleteSSHPublicKey",
                {**u, "SSHPublicKeyId": ssh.id},
                f"delete SSH public key {ssh.id} ({ssh.status})",
                removes=(f"ssh-key:{ssh.fingerprint}",),
                done_errors=gone,
                undo="re-upload the public key from the backup",
            )
        )
    for cred in sorted(state.service_credentials, key=lambda c: (c.service, c.id)):
        steps.append(
            Step(
                f"delete-credential:{cred.id}",
                "iam:DeleteServiceSpecificCredential",
                {**u, "ServiceSpecificCredentialId": cred.id},
                f"delete service credential {cred.id} ({cred.service}, {cred.status})",
                removes=(f"credential:{cred.id}",),
                done_errors=gone,
                undo="cannot be undone: the key's secret is gone",
                irreversible=True,
            )
        )
        cannot.append(f"service credential {cred.id} ({cred.service})")
    for m in sorted(state.mfa_devices, key=lambda m: m.serial):
        steps.append(
            Step(
                f"deactivate-mfa:{m.serial}",
                "iam:DeactivateMFADevice",
                {**u, "SerialNumber": m.serial},
                f"deactivate MFA device {m.serial}",
                removes=(f"mfa:{m.serial}",),
                done_errors=gone,
                undo="cannot be undone: the MFA seed cannot be re-used; re-enrol",
                irreversible=True,
            )
        )
        if m.virtual:
            steps.append(
                Step(
                    f"delete-virtual-mfa:{m.serial}",
                    "iam:DeleteVirtualMFADevice",
                    {"SerialNumber": m.serial},
                    f"delete virtual MFA device {m.serial}",
                    done_errors=gone,
                    observable=False,
                    undo="cannot be undone: re-enrol a new device",
                    irreversible=True,
                )
            )
        cannot.append(f"MFA device {m.serial}")
    for p in sorted(state.inline_policies, key=lambda p: p.name):
        steps.append(
            Step(
                f"delete-inline-policy:{p.name}",
                "iam:DeleteUserPolicy",
                {**u, "PolicyName": p.name},
                f"delete inline policy {p.name}",
                removes=(f"inline:{p.name}",),
                done_errors=gone,
                undo="put the document back from the backup",
            )
        )
    for arn in sorted(state.attached_policy_arns):
        steps.append(
            Step(
                f"detach-policy:{arn}",
                "iam:DetachUserPolicy",
                {**u, "PolicyArn": arn},
                f"detach policy {arn}",
                removes=(f"attached:{arn}",),
                done_errors=gone,
                undo="attach it again",
            )
        )
    for g in sorted(state.group_names):
        steps.append(
            Step(
                f"remove-from-group:{g}",
                "iam:RemoveUserFromGroup",
                {"GroupName": g, **u},
                f"remove from group {g}",
                removes=(f"group:{g}",),
                done_errors=gone,
                undo="add it back",
            )
        )
    if state.boundary_arn:
        steps.append(
            Step(
                "delete-boundary",
                "iam:DeleteUserPermissionsBoundary",
                dict(u),
                f"remove permissions boundary {state.boundary_arn}",
                removes=("boundary",),
                done_errors=gone,
                undo="put it back",
            )
        )
    steps.append(
        Step(
            "delete-user",
            "iam:DeleteUser",
            dict(u),
            f"delete IAM user {name}",
            removes=("user", *sorted(f"tag:{k}" for k in state.tags)),
            done_errors=gone,
            undo="re-create the user (new unique id) with its path, "
            "tags, boundary, policies and groups",
        )
    )
    notes = []
    if live:
        notes.append(f"--force: {name} still has {', '.join(live)}; they are deleted too")
    return Plan(
        operation=Operation.CLEANUP,
        account_id=state.account_id,
        subject=name,
        subject_type="user",
        built_at=at,
        steps=tuple(steps),
        baseline=user_facts(state),
        intent={"allow_live": allow_live},
        notes=tuple(notes),
        cannot_undo=tuple(cannot),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the scan says about one identity (``core.assess.Identity``, flattened)."""

    username: str
    kind: str  # phantom | suspected-phantom | human
    status: str  # at-risk | active | expired | orphaned | unknown
    surface: str
    created: datetime | None = None
    #: True/False whether it holds an API key of the surface; None when not known.
    holds_key: bool | None = None
    unknown_because: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class CleanupSelection:
    selected: tuple[str, ...]
    refused: tuple[Refusal, ...]
    #: Users passed over by the default filter (not errors): status -> count.
    passed_over: Mapping[str, int] = field(default_factory=dict)


_STATUS_RANK = {"unknown": 0, "at-risk": 1, "active": 2, "expired": 3, "orphaned": 4}


def combined(candidates: Sequence[Candidate]) -> Candidate:
    """One user may be two identities (both surfaces): the worst status wins."""
    worst = min(candidates, key=lambda c: _STATUS_RANK.get(c.status, 0))
    phantom = next((c.kind for c in candidates if c.kind != "human"), "human")
    holds: bool | None = False
    if any(c.holds_key for c in candidates):
        holds = True
    elif any(c.holds_key is None for c in candidates):
        holds = None
    reasons = tuple(r for c in candidates for r in c.unknown_because)
    return replace(worst, kind=phantom, holds_key=holds, unknown_because=reasons)


def select_for_cleanup(
    candidates: Iterable[Candidate],
    *,
    users: Sequence[str] = (),
    include_expired: bool = False,
    older_than_days: int | None = None,
    force: bool = False,
    at: datetime,
) -> CleanupSelection:
    """Which users a cleanup may delete. Fail closed: when in doubt, refuse and say why.

    * ``unknown`` is never selected (the scan could not read it completely);
    * ``orphaned`` phantom users by default; ``expired`` with ``--include-expired``
      or an explicit ``--user``; suspected phantoms (phantom-shaped users without the
      console's name) only when named with ``--user``;
    * ``active``/``at-risk`` users and human users only with ``--user`` and ``--force``.
    """
    by_user: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_user.setdefault(c.username, []).append(c)
    named = list(dict.fromkeys(users))
    selected: list[str] = []
    refused: list[Refusal] = []
    passed: dict[str, int] = {}
    for name in named:
        if name not in by_user:
            refused.append(
                Refusal(
                    name,
                    "not an API-key user found by the scan; cleanup "
                    "deletes only users the scan reports",
                )
            )
    pool = [n for n in named if n in by_user] if named else sorted(by_user)
    for name in pool:
        c = combined(by_user[name])
        explicit = name in named
        reason: str | None = None
        if c.status == "unknown":
            why = "; ".join(c.unknown_because[:3]) or "a lookup failed"
            reason = f"status unknown ({why}): never cleaned up on incomplete information"
        elif c.status in ("active", "at-risk"):
            if not (explicit and force):
                reason = (
                    f"is {c.status} (a live key holder): deleted only with "
                    f"--user {name} --force; consider phantomkeys revoke {name} first"
                )
        elif c.kind == "human" and not (explicit and force):
            reason = f"is a human IAM user, not a phantom: deleted only with --user {name} --force"
        elif c.kind == "suspected-phantom" and not explicit:
            # Shaped like a phantom but not named like one: a person may own it.
            key = "suspected phantom (name it with --user to delete it)"
            passed[key] = passed.get(key, 0) + 1
            continue
        elif c.status == "expired" and not (include_expired or explicit):
            passed["expired (use --include-expired)"] = (
                passed.get("expired (use --include-expired)", 0) + 1
            )
            continue
        if reason is None and older_than_days is not None:
            if c.created is None:
                reason = "creation time unknown: cannot apply --older-than"
            elif at - c.created < timedelta(days=older_than_days):
                if explicit:
                    reason = f"created less than {older_than_days} days ago (--older-than)"
                else:
                    passed[f"newer than {older_than_days} days"] = (
                        passed.get(f"newer than {older_than_days} days", 0) + 1
                    )
                    continue
        if reason is not None:
            if explicit or c.status == "unknown" or c.status == "orphaned":
                refused.append(Refusal(name, reason))
            else:
                passed[c.status] = passed.get(c.status, 0) + 1
            continue
        selected.append(name)
    return CleanupSelection(selected=tuple(selected), refused=tuple(refused), passed_over=passed)


def key_holder_problem(candidates: Sequence[Candidate], username: str) -> str | None:
    """Why ``username`` is not a key holder found by the scan (None when it is)."""
    if not candidates:
        return (
            f"{username} is not an API-key holder found by the scan (no Bedrock or Claude "
            "Platform key, not a phantom user)"
        )
    c = combined(candidates)
    if c.kind != "human" or c.holds_key:
        return None
    if c.holds_key is None:
        return f"the scan could not list {username}'s API keys, so it is not known to hold one"
    return (
        f"{username} is a human IAM user without an API key (it only has the surface's "
        "managed policy)"
    )


# ------------------------------------------------------------------ restore


@dataclass(frozen=True, slots=True)
class Backup:
    """What a run wrote before its first write: the state, and the plan it ran."""

    run_id: str
    created_at: datetime
    caller_arn: str | None
    plan: Plan
    user: UserState | None = None
    role: RoleState | None = None
    #: Restore runs: the run id of the backup they restore.
    restores: str | None = None
    #: SCP and alert deploys (and their restores): the state saved before the first
    #: write (``ControlsState.to_dict()``, ``core/controls/plan.py``).
    controls: Mapping[str, Any] | None = None

    @property
    def operation(self) -> Operation:
        return self.plan.operation

    @property
    def state(self) -> State:
        found = self.user if self.user is not None else self.role
        if found is None:
            raise PlanError("backup holds no state")
        return found

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "run_id": self.run_id,
            "operation": self.plan.operation.value,
            "created_at": _ts(self.created_at),
            "account_id": self.plan.account_id,
            "subject": self.plan.subject,
            "subject_type": self.plan.subject_type,
            "caller_arn": self.caller_arn,
            "restores": self.restores,
            "user": self.user.to_dict() if self.user else None,
            "role": self.role.to_dict() if self.role else None,
            "plan": self.plan.to_dict(),
        }
        if self.controls is not None:
            out["controls"] = dict(self.controls)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Backup:
        if d.get("format") != BACKUP_FORMAT:
            raise PlanError(f"not a phantomkeys backup (format {d.get('format')!r})")
        if d.get("version") != BACKUP_VERSION:
            raise PlanError(f"unsupported backup version {d.get('version')!r}")
        created = _parse_ts(d.get("created_at"))
        if created is None:
            raise PlanError("backup without created_at")
        run_id = d["run_id"]
        if not (isinstance(run_id, str) and re.fullmatch(r"[0-9a-f]{8,64}", run_id)):
            raise PlanError("run_id is not a hex run id")
        plan = Plan.from_dict(d["plan"])
        backup = cls(
            run_id=run_id,
            created_at=created,
            caller_arn=d.get("caller_arn"),
            plan=plan,
            user=UserState.from_dict(d["user"]) if d.get("user") else None,
            role=RoleState.from_dict(d["role"]) if d.get("role") else None,
            restores=d.get("restores"),
            controls=dict(d["controls"]) if d.get("controls") else None,
        )
        for name, value in (
            ("operation", plan.operation.value),
            ("account_id", plan.account_id),
            ("subject", plan.subject),
            ("subject_type", plan.subject_type),
        ):
            if name in d and d[name] != value:
                raise PlanError(f"its {name} {d[name]!r} disagrees with its plan's {value!r}")
        return backup


def rederive_run(backup: Backup) -> Plan:
    """The plan the backed-up run made, derived again from its saved state alone.

    The same builders, on the state saved before the first write, with the options
    the run recorded: what a backup's plan may hold is exactly this, so an edited or
    planted plan (an added step, another subject, a foreign policy) is told apart.
    """
    plan = backup.plan
    state = backup.state
    if not valid_iam_name(plan.subject):
        raise PlanError(f"its subject {plan.subject[:80]!r} is not a valid IAM name")
    if not valid_iam_name(state.name):
        raise PlanError(f"its saved state names {state.name[:80]!r}, not a valid IAM name")
    if state.name != plan.subject:
        raise PlanError(f"its plan is for {plan.subject}, but its saved state is of {state.name}")
    if state.account_id != plan.account_id:
        raise PlanError(
            f"its plan is for account {plan.account_id}, its saved state for {state.account_id}"
        )
    if (plan.subject_type == "role") != isinstance(state, RoleState):
        raise PlanError(f"its plan is for a {plan.subject_type}, its saved state is not")
    if not state.exists:
        raise PlanError(f"its saved state says {state.name} did not exist: nothing was changed")
    principal = "role" if isinstance(state, RoleState) else "user"
    if state.arn and not (
        state.arn.startswith(f"arn:{state.partition}:iam::{state.account_id}:{principal}/")
        and state.arn.endswith(f"/{state.name}")
    ):
        raise PlanError(f"its saved state names {state.name}, but its ARN is {state.arn[:120]}")
    at = plan.built_at
    if plan.operation is Operation.CLEANUP:
        if not isinstance(state, UserState):
            raise PlanError("a cleanup backup holds a user")
        return build_cleanup_plan(state, at=at, allow_live=True)
    if plan.operation is Operation.REVOKE:
        kind = plan.intent.get("kind")
        if kind == "long-term" and isinstance(state, UserState):
            return build_revoke_plan(state, RevokeOptions.from_intent(plan.intent), at=at)
        if kind == "short-term":
            principal_id = plan.intent.get("principal_id")
            all_sessions = plan.intent.get("all_sessions")
            if not isinstance(all_sessions, bool) or not (
                principal_id is None or isinstance(principal_id, str)
            ):
                raise PlanError("its short-term revoke intent is malformed")
            session = SessionInfo(
                principal_type="AssumedRole" if isinstance(state, RoleState) else "IAMUser",
                principal_name=state.name,
                principal_id=principal_id,
            )
            return build_session_revoke_plan(state, session, at=at, all_sessions=all_sessions)
        raise PlanError(f"its revoke intent {kind!r} is not one phantomkeys records")
    raise PlanError(
        "this is the backup of a restore; restoring it is not supported "
        "(revoke or clean up again instead)"
    )


def verified_run_steps(backup: Backup) -> tuple[Step, ...]:
    """The steps the backed-up run made, as derived from its saved state.

    Every step of the file's plan must be one :func:`rederive_run` derives, with the
    same action and parameters; anything else is a disagreement between state and
    plan and raises :class:`PlanError` (the backup is refused as a whole).
    """
    expected = {s.id: s for s in rederive_run(backup).steps}
    out: list[Step] = []
    for step in backup.plan.steps:
        want = expected.get(step.id)
        if want is None:
            raise PlanError(
                f"its plan has a step its saved state does not explain: {step.id[:120]} "
                f"({step.action[:60]})"
            )
        if want.action != step.action or canonical_json(dict(want.params)) != canonical_json(
            dict(step.params)
        ):
            raise PlanError(
                f"step {step.id[:120]} of its plan disagrees with its saved state "
                f"({step.action[:60]} {canonical_json(dict(step.params))[:160]})"
            )
        out.append(want)
    return tuple(out)


# Restore order: the user first, then what hangs off it, the revoke deny last.
_PHASE = {
    "iam:CreateUser": 0,
    "iam:UpdateUser": 1,
    "iam:TagUser": 2,
    "iam:PutUserPermissionsBoundary": 3,
    "iam:AddUserToGroup": 4,
    "iam:AttachUserPolicy": 5,
    "iam:PutUserPolicy": 6,
    "iam:UploadSigningCertificate": 7,
    "iam:UploadSSHPublicKey": 8,
    "iam:UpdateServiceSpecificCredential": 9,
    "iam:UpdateAccessKey": 10,
    "iam:DeleteUserPolicy": 11,
    "iam:PutRolePolicy": 12,
    "iam:DeleteRolePolicy": 12,
}


def build_restore_plan(backup: Backup, current: State, *, at: datetime) -> Plan:
    """Undo what the backed-up run did, where AWS allows; list what cannot come back.

    The steps come from the state saved before the run: the run's steps are derived
    again from it (:func:`verified_run_steps`; a plan that disagrees with its state is
    refused) and each is inverted with the saved values. Inverses already in place
    (never applied, or restored before) are left out, so a restore is idempotent too.
    """
    _require_complete(current)
    if backup.operation is Operation.RESTORE:
        raise PlanError(
            "this is the backup of a restore; restoring it is not supported "
            "(revoke or clean up again instead)"
        )
    ran = verified_run_steps(backup)
    if isinstance(current, RoleState):
        if backup.role is None:
            raise PlanError("backup and current state are of different kinds")
        return _restore_role(backup, backup.role, current, ran, at=at)
    s0 = backup.user
    if s0 is None:
        raise PlanError("backup holds no user state")
    if current.name != s0.name or current.account_id != s0.account_id:
        raise PlanError("backup is for another user or account")
    deleted_user = any(s.action == "iam:DeleteUser" for s in ran)
    if (
        not deleted_user
        and current.exists
        and s0.user_id
        and current.user_id
        and current.user_id != s0.user_id
    ):
        raise PlanError(
            f"{current.name} is not the user this backup was taken from (unique id "
            f"{s0.user_id}, now {current.user_id})"
        )
    facts = user_facts(current)
    name = s0.name
    u = {"UserName": name}
    steps: dict[str, Step] = {}
    lost: list[str] = []

    def add(step: Step) -> None:
        steps.setdefault(step.id, step)

    if deleted_user or not current.exists:
        add(
            Step(
                "create-user",
                "iam:CreateUser",
                {**u, "Path": s0.path},
                f"re-create IAM user {name} (path {s0.path}; it gets a new unique id)",
                sets={"user": s0.path},
                done_errors=(),
            )
        )
        if s0.tags:
            add(
                Step(
                    "tag-user",
                    "iam:TagUser",
                    {**u, "Tags": [{"Key": k, "Value": v} for k, v in sorted(s0.tags.items())]},
                    f"put back {len(s0.tags)} tag(s)",
                    sets={f"tag:{k}": v for k, v in s0.tags.items()},
                )
            )
    elif current.exists and current.path != s0.path:
        add(
            Step(
                "update-path",
                "iam:UpdateUser",
                {**u, "NewPath": s0.path},
                f"move the user back to path {s0.path}",
                sets={"user": s0.path},
            )
        )

    def inline_step(policy: InlinePolicy) -> Step:
        return Step(
            f"put-inline-policy:{policy.name}",
            "iam:PutUserPolicy",
            {**u, "PolicyName": policy.name, "PolicyDocument": canonical_json(policy.document)},
            f"put back inline policy {policy.name}",
            sets={f"inline:{policy.name}": document_sha(policy.document)},
        )

    creds0 = {c.id: c for c in s0.service_credentials}
    keys0 = {k.id: k for k in s0.access_keys}
    certs0 = {c.id: c for c in s0.signing_certificates}
    ssh0 = {k.id: k for k in s0.ssh_public_keys}
    for step in ran:
        p = step.params
        match step.action:
            case "iam:DeleteUserPermissionsBoundary" if s0.boundary_arn:
                add(
                    Step(
                        "put-boundary",
                        "iam:PutUserPermissionsBoundary",
                        {**u, "PermissionsBoundary": s0.boundary_arn},
                        f"put back permissions boundary {s0.boundary_arn}",
                        sets={"boundary": s0.boundary_arn},
                    )
                )
            case "iam:RemoveUserFromGroup":
                add(
                    Step(
                        f"add-to-group:{p['GroupName']}",
                        "iam:AddUserToGroup",
                        {"GroupName": p["GroupName"], **u},
                        f"add back to group {p['GroupName']}",
                        sets={f"group:{p['GroupName']}": "member"},
                    )
                )
            case "iam:DetachUserPolicy":
                add(
                    Step(
                        f"attach-policy:{p['PolicyArn']}",
                        "iam:AttachUserPolicy",
                        {**u, "PolicyArn": p["PolicyArn"]},
                        f"attach policy {p['PolicyArn']}",
                        sets={f"attached:{p['PolicyArn']}": "attached"},
                    )
                )
            case "iam:DeleteUserPolicy":
                before = s0.inline(p["PolicyName"])
                if before is not None:
                    add(inline_step(before))
            case "iam:PutUserPolicy":
                before = s0.inline(p["PolicyName"])
                if before is not None:
                    add(inline_step(before))
                else:
                    add(
                        Step(
                            f"delete-inline-policy:{p['PolicyName']}",
                            "iam:DeleteUserPolicy",
                            {**u, "PolicyName": p["PolicyName"]},
                            f"remove the deny {p['PolicyName']} the revocation added",
                            removes=(f"inline:{p['PolicyName']}",),
                            done_errors=("NoSuchEntity",),
                        )
                    )
            case "iam:UpdateServiceSpecificCredential" if p.get("Status") == "Inactive":
                cid = p["ServiceSpecificCredentialId"]
                cred = creds0.get(cid)
                if cred is None or cred.status != "Active":
                    continue
                if f"credential:{cid}" not in facts:
                    lost.append(
                        f"API key {cid} ({cred.service}) was deleted since; it cannot be "
                        "re-activated"
                    )
                    continue
                add(
                    Step(
                        f"activate-credential:{cid}",
                        "iam:UpdateServiceSpecificCredential",
                        {**u, "ServiceSpecificCredentialId": cid, "Status": "Active"},
                        f"re-activate API key {cid} ({cred.service})",
                        sets={f"credential:{cid}": "Active"},
                    )
                )
            case "iam:UpdateAccessKey" if p.get("Status") == "Inactive":
                kid = p["AccessKeyId"]
                key = keys0.get(kid)
                if key is None or key.status != "Active":
                    continue
                if f"access-key:{kid}" not in facts:
                    lost.append(f"access key {kid} was deleted since; it cannot be re-activated")
                    continue
                add(
                    Step(
                        f"activate-access-key:{kid}",
                        "iam:UpdateAccessKey",
                        {**u, "AccessKeyId": kid, "Status": "Active"},
                        f"re-activate access key {kid}",
                        sets={f"access-key:{kid}": "Active"},
                    )
                )
            case "iam:DeleteSigningCertificate":
                cert = certs0.get(p["CertificateId"])
                if cert is None or not cert.body:
                    lost.append(f"signing certificate {p['CertificateId']}: body not in backup")
                elif cert.status != "Active":
                    lost.append(
                        f"signing certificate {cert.id} was Inactive; not re-uploaded "
                        "(upload it yourself if needed; the body is in the backup)"
                    )
                else:
                    add(
                        Step(
                            f"upload-signing-cert:{cert.fingerprint}",
                            "iam:UploadSigningCertificate",
                            {**u, "CertificateBody": cert.body},
                            f"re-upload signing certificate {cert.id} (gets a new id)",
                            sets={f"signing-cert:{cert.fingerprint}": "Active"},
                            done_errors=("DuplicateCertificate",),
                        )
                    )
            case "iam:DeleteSSHPublicKey":
                key2 = ssh0.get(p["SSHPublicKeyId"])
                if key2 is None or not key2.body:
                    lost.append(f"SSH public key {p['SSHPublicKeyId']}: body not in backup")
                elif key2.status != "Active":
                    lost.append(
                        f"SSH public key {key2.id} was Inactive; not re-uploaded "
                        "(the body is in the backup)"
                    )
                else:
                    add(
                        Step(
                            f"upload-ssh-key:{key2.fingerprint}",
                            "iam:UploadSSHPublicKey",
                            {**u, "SSHPublicKeyBody": key2.body},
                            f"re-upload SSH public key {key2.id} (gets a new id)",
                            sets={f"ssh-key:{key2.fingerprint}": "Active"},
                            done_errors=("DuplicateSSHPublicKey",),
                        )
                    )
            case "iam:DeleteServiceSpecificCredential":
                cid = p["ServiceSpecificCredentialId"]
                cred = creds0.get(cid)
                service = cred.service if cred else "unknown service"
                lost.append(
                    f"API key / service credential {cid} ({service}): deleted; its "
                    "secret cannot come back (create a new key if it is still needed)"
                )
            case "iam:DeleteAccessKey":
                lost.append(
                    f"access key {p['AccessKeyId']}: deleted; its secret cannot come "
                    "back (create a new one if needed)"
                )
            case "iam:DeleteLoginProfile":
                lost.append(
                    "console password: AWS never returns passwords; set a new one with "
                    f"aws iam create-login-profile --user-name {name} if needed"
                )
            case "iam:DeactivateMFADevice":
                lost.append(
                    f"MFA device {p['SerialNumber']}: the seed cannot be re-used; re-enrol a device"
                )
            case _:
                pass

    kept = [s for s in steps.values() if step_done(s, facts) is not True]
    kept.sort(key=lambda s: _PHASE.get(s.action, 99))
    notes = []
    already = len(steps) - len(kept)
    if already:
        notes.append(
            f"{already} item(s) are already as they were before the {backup.operation} run"
        )
    if deleted_user:
        notes.append(
            "A re-created user has a new unique id (AIDA…); policies that name the old "
            "id (aws:userid) do not match it."
        )
    return Plan(
        operation=Operation.RESTORE,
        account_id=s0.account_id,
        subject=name,
        subject_type="user",
        built_at=at,
        steps=tuple(kept),
        baseline=facts,
        intent={"restores": backup.run_id},
        notes=tuple(notes),
        not_restorable=tuple(dict.fromkeys(lost)),
    )


def _restore_role(
    backup: Backup, r0: RoleState, current: RoleState, ran: Sequence[Step], *, at: datetime
) -> Plan:
    """Remove the session-deny statements the run added; keep anything added since."""
    if current.name != r0.name or current.account_id != r0.account_id:
        raise PlanError("backup is for another role or account")
    if current.exists and r0.role_id and current.role_id and current.role_id != r0.role_id:
        raise PlanError(
            f"{current.name} is not the role this backup was taken from (unique id "
            f"{r0.role_id}, now {current.role_id})"
        )
    before_sids = {str(s.get("Sid")) for s in _statements(r0.session_policy)}
    added: set[str] = set()
    for step in ran:
        if step.action == "iam:PutRolePolicy":
            doc = json.loads(step.params["PolicyDocument"])
            added |= {str(s.get("Sid")) for s in _statements(doc)} - before_sids
    before = {str(s.get("Sid")): s for s in _statements(r0.session_policy)}
    kept_statements = []
    for st in _statements(current.session_policy):
        sid = str(st.get("Sid"))
        if sid in added:
            continue
        kept_statements.append(dict(before.get(sid, st)))
    facts = role_facts(current)
    steps: list[Step] = []
    key = f"inline:{SESSION_REVOKE_POLICY_NAME}"
    if not kept_statements:
        if key in facts:
            steps.append(
                Step(
                    "delete-session-deny",
                    "iam:DeleteRolePolicy",
                    {"RoleName": r0.name, "PolicyName": SESSION_REVOKE_POLICY_NAME},
                    f"remove the session deny {SESSION_REVOKE_POLICY_NAME} from {r0.name}",
                    removes=(key,),
                    done_errors=("NoSuchEntity",),
                )
            )
    else:
        doc = {"Version": "2012-10-17", "Statement": kept_statements}
        if facts.get(key) != document_sha(doc):
            steps.append(
                Step(
                    "put-session-deny",
                    "iam:PutRolePolicy",
                    {
                        "RoleName": r0.name,
                        "PolicyName": SESSION_REVOKE_POLICY_NAME,
                        "PolicyDocument": canonical_json(doc),
                    },
                    f"remove the revocation's statement(s) from "
                    f"{SESSION_REVOKE_POLICY_NAME} (other revocations stay)",
                    sets={key: document_sha(doc)},
                )
            )
    return Plan(
        operation=Operation.RESTORE,
        account_id=r0.account_id,
        subject=r0.name,
        subject_type="role",
        built_at=at,
        steps=tuple(steps),
        baseline=facts,
        intent={"restores": backup.run_id},
    )


# ------------------------------------------------------------------ journal


def journal_outcomes(records: Iterable[Mapping[str, Any]]) -> dict[str, Outcome]:
    """The last recorded outcome of each step (``start`` without an outcome is absent)."""
    out: dict[str, Outcome] = {}
    for r in records:
        step = r.get("step")
        outcome = r.get("outcome")
        if isinstance(step, str) and isinstance(outcome, str):
            try:
                out[step] = Outcome(outcome)
            except ValueError:
                continue
    return out


def journal_complete(records: Sequence[Mapping[str, Any]]) -> bool:
    """A run is over when it ``finished`` with no failed step, or was ``abandoned``
    (the state changed under an interrupted run: a fresh plan replaces it)."""
    if any(r.get("event") == "abandoned" for r in records):
        return True
    finished = [r for r in records if r.get("event") == "finished"]
    return bool(finished) and not finished[-1].get("failed") and not finished[-1].get("stopped")
