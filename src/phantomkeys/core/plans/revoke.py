"""Revoke: stop a user's keys (bearer deny, API keys, access keys, console) or deny the
session that issued a short-term key (``aws:TokenIssueTime``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.model import other_ways_in
from phantomkeys.core.plans import items
from phantomkeys.core.plans.facts import (
    REVOKE_POLICY_NAME,
    SERVICE_LINKED_PATH_PREFIX,
    SESSION_REVOKE_POLICY_NAME,
    SSO_ROLE_PATH_PREFIX,
    SSO_ROLE_PREFIX,
    RoleState,
    UserState,
    _require_complete,
    role_facts,
    user_facts,
)
from phantomkeys.core.plans.model import (
    _ISO,
    Operation,
    Plan,
    PlanError,
    Step,
    _ts,
    document_sha,
)
from phantomkeys.surfaces import SURFACES, Surface, surface_for_credential_service


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
                items.put_user_policy(
                    name,
                    REVOKE_POLICY_NAME,
                    doc,
                    step_id="put-bearer-deny",
                    description=(
                        f"{'update' if previous else 'add'} inline deny "
                        f"{REVOKE_POLICY_NAME}: {', '.join(doc['Statement'][0]['Action'])}"
                    ),
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
                    items.delete_credential(
                        name, cred.id, description=f"delete {label} ({cred.status}){leaked}"
                    )
                )
                cannot.append(f"{label}: deleted keys cannot be restored (their secret is gone)")
            elif cred.status == "Active":
                steps.append(
                    items.deactivate_credential(
                        name, cred.id, description=f"deactivate {label}{leaked}"
                    )
                )

    if opts.access_keys:
        for key in sorted(state.access_keys, key=lambda k: k.id):
            if opts.only_access_key_ids is not None and key.id not in opts.only_access_key_ids:
                continue
            if key.status != "Active":
                continue
            steps.append(items.deactivate_access_key(name, key.id))
        if opts.only_access_key_ids:
            missing = sorted(set(opts.only_access_key_ids) - {k.id for k in state.access_keys})
            if missing:
                raise PlanError(
                    f"access key {missing[0]} does not belong to {name} "
                    "(deleted, or another user's)"
                )

    if opts.console and state.login_profile:
        steps.append(
            items.delete_login_profile(
                name,
                description="disable console access (delete the login profile)",
                undo="cannot be undone: the password cannot be read back; set a new one "
                "(aws iam create-login-profile) if the user needs the console",
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
    else:
        found = state.inline(SESSION_REVOKE_POLICY_NAME)
        existing = found.document if found else None
        facts = user_facts(state)
    doc = session_deny_document(existing, principal_id=principal_id, issued_before=at)
    sha = document_sha(doc)
    steps: list[Step] = []
    if facts.get(f"inline:{SESSION_REVOKE_POLICY_NAME}") != sha:
        target = principal_id or f"all sessions of {state.name}"
        steps.append(
            items.put_session_policy(
                "role" if isinstance(state, RoleState) else "user",
                state.name,
                doc,
                description=(
                    f"{'update' if existing else 'add'} inline deny "
                    f"{SESSION_REVOKE_POLICY_NAME} on {state.name}: {target}, "
                    f"credentials issued before {_ts(at)}"
                ),
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
