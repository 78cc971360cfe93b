"""Restore: derive a backed-up run's steps again from its saved state, and undo them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from phantomkeys.core.plans import items
from phantomkeys.core.plans.backup import Backup
from phantomkeys.core.plans.cleanup import build_cleanup_plan
from phantomkeys.core.plans.facts import (
    SESSION_REVOKE_POLICY_NAME,
    RoleState,
    State,
    UserState,
    _require_complete,
    role_facts,
    user_facts,
)
from phantomkeys.core.plans.model import (
    Operation,
    Plan,
    PlanError,
    Step,
    canonical_json,
    document_sha,
    step_done,
    valid_iam_name,
)
from phantomkeys.core.plans.revoke import (
    RevokeOptions,
    SessionInfo,
    _statements,
    build_revoke_plan,
    build_session_revoke_plan,
)


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
    steps: dict[str, Step] = {}
    lost: list[str] = []

    def add(*found: Step) -> None:
        for step in found:
            steps.setdefault(step.id, step)

    # A missing user is re-created however it went (the run, or someone since).
    if deleted_user or not current.exists:
        add(*items.recreate_user(s0))
    elif current.exists and current.path != s0.path:
        add(items.update_user_path(name, s0.path))
    for step in ran:
        inverse = items.INVERSES.get(step.action)
        if inverse is None:
            continue
        undo = inverse(step.params, s0, facts)
        add(*undo.steps)
        lost.extend(undo.lost)

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
            steps.append(items.delete_role_session_policy(r0.name))
    else:
        doc = {"Version": "2012-10-17", "Statement": kept_statements}
        if facts.get(key) != document_sha(doc):
            steps.append(
                items.put_session_policy(
                    "role",
                    r0.name,
                    doc,
                    description=f"remove the revocation's statement(s) from "
                    f"{SESSION_REVOKE_POLICY_NAME} (other revocations stay)",
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
