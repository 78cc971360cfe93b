"""Pure plan builders: order, idempotence, drift, selection, restore (no AWS)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.respond.fixtures import ACCOUNT, BEDROCK_POLICY, CREATED, NOW, orphan, phantom

from phantomkeys.core.model import ServiceCredential
from phantomkeys.core.plans import (
    REVOKE_POLICY_NAME,
    SESSION_REVOKE_POLICY_NAME,
    Backup,
    Candidate,
    Operation,
    PlanError,
    RevokeOptions,
    RoleState,
    SessionInfo,
    Step,
    UserState,
    bearer_deny_document,
    build_cleanup_plan,
    build_restore_plan,
    build_revoke_plan,
    build_session_revoke_plan,
    drift,
    journal_complete,
    key_holder_problem,
    select_for_cleanup,
    session_deny_document,
    step_done,
    user_facts,
)


def run_effects(facts: dict[str, str], steps: Iterable[Step]) -> dict[str, str]:
    """What AWS would hold after the steps (their declared effects)."""
    out = dict(facts)
    for s in steps:
        for k in s.removes:
            out.pop(k, None)
        out.update(s.sets)
    return out


# ------------------------------------------------------------------ cleanup


def test_cleanup_removes_every_prerequisite_in_order_then_the_user():
    plan = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    actions = [s.action for s in plan.steps]
    assert actions == [
        "iam:DeleteLoginProfile",
        "iam:DeleteAccessKey",
        "iam:DeleteAccessKey",
        "iam:DeleteSigningCertificate",
        "iam:DeleteSSHPublicKey",
        # every service's credentials, not only Bedrock's (peer defect: DeleteConflict)
        "iam:DeleteServiceSpecificCredential",
        "iam:DeleteServiceSpecificCredential",
        "iam:DeactivateMFADevice",  # hardware (GAHT…): deactivate only
        "iam:DeactivateMFADevice",
        "iam:DeleteVirtualMFADevice",  # virtual: deactivate+delete
        "iam:DeleteUserPolicy",
        "iam:DetachUserPolicy",
        "iam:RemoveUserFromGroup",
        "iam:DeleteUserPermissionsBoundary",
        "iam:DeleteUser",
    ]
    assert run_effects(user_facts(phantom()), plan.steps) == {}
    assert any("MFA device" in c for c in plan.cannot_undo)


def test_cleanup_refuses_live_credentials_without_force():
    with pytest.raises(PlanError, match="active API key ACCAEXAMPLEBEDROCK01"):
        build_cleanup_plan(phantom(), at=NOW)
    plan = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    assert any("--force" in n for n in plan.notes)


def test_cleanup_of_an_orphan_and_of_a_missing_user():
    plan = build_cleanup_plan(orphan(), at=NOW)
    assert [s.action for s in plan.steps] == ["iam:DetachUserPolicy", "iam:DeleteUser"]
    gone = replace(orphan(), exists=False)
    assert build_cleanup_plan(gone, at=NOW).empty


def test_expired_key_is_not_live():
    expired = ServiceCredential(
        id="ACCAEXPIRED000000001",
        username="BedrockAPIKey-0dfl",
        service="bedrock.amazonaws.com",
        status="Active",
        created=CREATED,
        expires=NOW - timedelta(days=1),
    )
    state = replace(orphan(), service_credentials=(expired,))
    plan = build_cleanup_plan(state, at=NOW)
    assert "iam:DeleteServiceSpecificCredential" in [s.action for s in plan.steps]


def test_incomplete_state_is_refused():
    from phantomkeys.core.model import LookupFailure

    state = replace(
        orphan(),
        failures=(
            LookupFailure("iam:ListSSHPublicKeys", "AccessDenied", "denied", "BedrockAPIKey-0dfl"),
        ),
    )
    with pytest.raises(PlanError, match="could not be read completely"):
        build_cleanup_plan(state, at=NOW)


# ------------------------------------------------------------------ drift


def test_partial_application_is_not_drift_but_changes_are():
    state = phantom()
    plan = build_cleanup_plan(state, at=NOW, allow_live=True)
    half = run_effects(user_facts(state), plan.steps[:6])
    assert drift(plan.baseline, half, plan.steps) == []
    done = [step_done(s, half) for s in plan.steps]
    assert done[:6] == [True] * 6
    assert done[6] is False
    attached = {**half, "attached:arn:aws:iam::aws:policy/AdministratorAccess": "attached"}
    assert drift(plan.baseline, attached, plan.steps) == [
        "attached policy arn:aws:iam::aws:policy/AdministratorAccess appeared (attached)"
    ]


def test_reactivated_key_is_drift():
    state = phantom(access_keys=(replace(phantom().access_keys[1]),))  # only the inactive key
    plan = build_revoke_plan(state, RevokeOptions(), at=NOW)
    fresh = {**plan.baseline, "access-key:AKIAEXAMPLEOLDKEY002": "Active"}
    assert drift(plan.baseline, fresh, plan.steps) == [
        "access key AKIAEXAMPLEOLDKEY002 changed: Inactive -> Active"
    ]


def test_unobservable_step_is_decided_by_errors_and_journal():
    plan = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    virtual = next(s for s in plan.steps if s.action == "iam:DeleteVirtualMFADevice")
    assert step_done(virtual, {}) is None
    assert virtual.done_errors == ("NoSuchEntity",)


# ------------------------------------------------------------------ revoke


def test_revoke_plan_order_and_scope():
    plan = build_revoke_plan(
        phantom(), RevokeOptions(), at=NOW, leaked_alias=f"BedrockAPIKey-hr8l-at-{ACCOUNT}"
    )
    assert [s.id for s in plan.steps] == [
        "put-bearer-deny",
        "deactivate-credential:ACCAEXAMPLEBEDROCK01",  # not the CodeCommit credential
        "deactivate-access-key:AKIAEXAMPLEPIVOT0001",  # not the already inactive key
        "delete-login-profile",
    ]
    assert "(the leaked key)" in plan.steps[1].description
    deny = json.loads(plan.steps[0].params["PolicyDocument"])
    actions = deny["Statement"][0]["Action"]
    assert "bedrock-mantle:CallWithBearerToken" in actions
    assert "bedrock:CallWithBearerToken" in actions
    assert "aws-external-anthropic:CallWithBearerToken" in actions
    assert plan.steps[0].params["PolicyName"] == REVOKE_POLICY_NAME


def test_repeated_revocation_reuses_one_deny_and_is_empty_when_done():
    state = phantom()
    first = build_revoke_plan(state, RevokeOptions(), at=NOW)
    after = run_effects(user_facts(state), first.steps)
    # the state AWS would hold after the first revocation
    from phantomkeys.core.model import InlinePolicy

    revoked = replace(
        state,
        inline_policies=(
            *state.inline_policies,
            InlinePolicy(REVOKE_POLICY_NAME, bearer_deny_document()),
        ),
        service_credentials=tuple(
            replace(c, status="Inactive") if c.service == "bedrock.amazonaws.com" else c
            for c in state.service_credentials
        ),
        access_keys=tuple(replace(k, status="Inactive") for k in state.access_keys),
        login_profile=False,
    )
    assert user_facts(revoked) == after
    again = build_revoke_plan(revoked, RevokeOptions(), at=NOW + timedelta(hours=1))
    assert again.empty
    assert [p.name for p in revoked.inline_policies].count(REVOKE_POLICY_NAME) == 1


def test_revoke_flags_and_delete_credentials():
    opts = RevokeOptions(deny=False, access_keys=False, console=False, delete_credentials=True)
    plan = build_revoke_plan(phantom(), opts, at=NOW)
    assert [s.action for s in plan.steps] == ["iam:DeleteServiceSpecificCredential"]
    assert plan.steps[0].irreversible
    assert plan.cannot_undo


def test_akia_revoke_targets_exactly_one_access_key():
    opts = RevokeOptions(
        deny=False, api_keys=False, console=False, only_access_key_ids=("AKIAEXAMPLEPIVOT0001",)
    )
    plan = build_revoke_plan(phantom(), opts, at=NOW)
    assert [s.id for s in plan.steps] == ["deactivate-access-key:AKIAEXAMPLEPIVOT0001"]
    with pytest.raises(PlanError, match="does not belong"):
        build_revoke_plan(
            phantom(), replace(opts, only_access_key_ids=("AKIAOTHER00000000000",)), at=NOW
        )


def test_revoke_of_missing_user_is_refused():
    with pytest.raises(PlanError, match="does not exist"):
        build_revoke_plan(replace(orphan(), exists=False), RevokeOptions(), at=NOW)


# ------------------------------------------------------------------ sessions


def role(name: str = "ml-batch", path: str = "/", policy: dict | None = None) -> RoleState:
    return RoleState(
        account_id=ACCOUNT,
        partition="aws",
        name=name,
        exists=True,
        read_at=NOW,
        arn=f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
        role_id="AROAEXAMPLEROLE0001",
        path=path,
        session_policy=policy,
    )


SESSION = SessionInfo(
    principal_type="AssumedRole",
    principal_name="ml-batch",
    principal_id="AROAEXAMPLEROLE0001:etl-42",
    session_name="etl-42",
    access_key_id="ASIAEXAMPLE000000001",
)


def test_session_deny_is_narrowed_to_the_session():
    plan = build_session_revoke_plan(role(), SESSION, at=NOW, all_sessions=False)
    (step,) = plan.steps
    assert step.action == "iam:PutRolePolicy"
    assert step.params["PolicyName"] == SESSION_REVOKE_POLICY_NAME
    (st,) = json.loads(step.params["PolicyDocument"])["Statement"]
    assert st["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T03:00:00Z"},
        "StringEquals": {"aws:userid": "AROAEXAMPLEROLE0001:etl-42"},
    }
    assert "Other sessions of ml-batch" in plan.notes[0]


def test_session_denies_accumulate_in_one_policy_and_never_move_back():
    first = session_deny_document(None, principal_id="AROAX:a", issued_before=NOW)
    second = session_deny_document(first, principal_id="AROAX:b", issued_before=NOW)
    assert len(second["Statement"]) == 2
    earlier = session_deny_document(
        second, principal_id="AROAX:a", issued_before=NOW - timedelta(hours=2)
    )
    assert earlier == second


def test_unknown_session_needs_all_sessions_and_sso_or_service_linked_are_refused():
    unknown = replace(SESSION, principal_id=None, source="--role")
    with pytest.raises(PlanError, match="--all-sessions"):
        build_session_revoke_plan(role(), unknown, at=NOW, all_sessions=False)
    plan = build_session_revoke_plan(role(), unknown, at=NOW, all_sessions=True)
    assert "ALL sessions" in plan.notes[0]
    with pytest.raises(PlanError, match="IAM Identity Center"):
        build_session_revoke_plan(
            role("AWSReservedSSO_Admin_0123abcd", "/aws-reserved/sso.amazonaws.com/"),
            SESSION,
            at=NOW,
            all_sessions=False,
        )
    with pytest.raises(PlanError, match="service-linked"):
        build_session_revoke_plan(
            role("AWSServiceRoleForBedrock", "/aws-service-role/bedrock.amazonaws.com/"),
            SESSION,
            at=NOW,
            all_sessions=False,
        )


# ------------------------------------------------------------------ selection


def cand(name: str, status: str, kind: str = "phantom", **kw: object) -> Candidate:
    return Candidate(
        username=name,
        kind=kind,
        status=status,
        surface="bedrock",
        created=CREATED,
        holds_key=status not in ("orphaned",),
        **kw,
    )  # type: ignore[arg-type]


POPULATION = [
    cand("BedrockAPIKey-orph", "orphaned"),
    cand("BedrockAPIKey-expd", "expired"),
    cand("BedrockAPIKey-live", "active"),
    cand("BedrockAPIKey-risk", "at-risk"),
    cand(
        "BedrockAPIKey-unkn",
        "unknown",
        unknown_because=("iam:ListServiceSpecificCredentials failed: Throttling",),
    ),
    cand("alice", "orphaned", kind="human"),
]


def test_default_cleanup_takes_orphaned_phantoms_only():
    sel = select_for_cleanup(POPULATION, at=NOW)
    assert sel.selected == ("BedrockAPIKey-orph",)
    refused = {r.username: r.reason for r in sel.refused}
    assert "never cleaned up" in refused["BedrockAPIKey-unkn"]
    assert "human" in refused["alice"]
    assert set(refused) == {"BedrockAPIKey-unkn", "alice"}


def test_suspected_phantoms_only_when_named():
    shaped = [cand("svc-bedrock", "orphaned", kind="suspected-phantom")]
    sel = select_for_cleanup(shaped, at=NOW)
    assert sel.selected == ()
    assert sum(sel.passed_over.values()) == 1
    assert select_for_cleanup(shaped, users=["svc-bedrock"], at=NOW).selected == ("svc-bedrock",)


def test_include_expired_and_explicit_users():
    assert select_for_cleanup(POPULATION, include_expired=True, at=NOW).selected == (
        "BedrockAPIKey-expd",
        "BedrockAPIKey-orph",
    )
    sel = select_for_cleanup(POPULATION, users=["BedrockAPIKey-live", "nobody"], at=NOW)
    assert sel.selected == ()
    reasons = {r.username: r.reason for r in sel.refused}
    assert "--force" in reasons["BedrockAPIKey-live"]
    assert "not an API-key user" in reasons["nobody"]
    forced = select_for_cleanup(
        POPULATION, users=["BedrockAPIKey-live", "alice"], force=True, at=NOW
    )
    assert forced.selected == ("BedrockAPIKey-live", "alice")


def test_unknown_is_never_selected_even_when_forced():
    sel = select_for_cleanup(
        POPULATION, users=["BedrockAPIKey-unkn"], force=True, include_expired=True, at=NOW
    )
    assert sel.selected == ()


def test_one_unknown_surface_makes_the_whole_user_unknown():
    both = [cand("BedrockAPIKey-both", "orphaned"), cand("BedrockAPIKey-both", "unknown")]
    assert select_for_cleanup(both, at=NOW).selected == ()


def test_older_than():
    young = [
        cand("BedrockAPIKey-new1", "orphaned"),
        replace(cand("BedrockAPIKey-old1", "orphaned"), created=NOW - timedelta(days=400)),
    ]
    assert select_for_cleanup(young, older_than_days=365, at=NOW).selected == (
        "BedrockAPIKey-old1",
    )


def test_key_holder_check():
    assert key_holder_problem([], "bob") is not None
    assert key_holder_problem([cand("BedrockAPIKey-orph", "orphaned")], "x") is None
    human_no_key = replace(cand("alice", "orphaned", kind="human"), holds_key=False)
    assert "human IAM user without an API key" in key_holder_problem([human_no_key], "alice")
    human_key = replace(cand("carol", "active", kind="human"), holds_key=True)
    assert key_holder_problem([human_key], "carol") is None


# ------------------------------------------------------------------ restore


def backup_of(plan, state: UserState | RoleState) -> Backup:
    return Backup(
        run_id="0123456789abcdef",
        created_at=NOW,
        caller_arn="arn:aws:iam::1:user/x",
        plan=plan,
        user=state if isinstance(state, UserState) else None,
        role=state if isinstance(state, RoleState) else None,
    )


def test_restore_after_cleanup_recreates_what_aws_allows():
    s0 = phantom()
    plan = build_cleanup_plan(s0, at=NOW, allow_live=True)
    gone = UserState(account_id=ACCOUNT, partition="aws", name=s0.name, exists=False, read_at=NOW)
    restore = build_restore_plan(backup_of(plan, s0), gone, at=NOW)
    actions = [s.action for s in restore.steps]
    assert actions[0] == "iam:CreateUser"
    assert set(actions) >= {
        "iam:TagUser",
        "iam:PutUserPermissionsBoundary",
        "iam:AddUserToGroup",
        "iam:AttachUserPolicy",
        "iam:PutUserPolicy",
        "iam:UploadSigningCertificate",
        "iam:UploadSSHPublicKey",
    }
    lost = " | ".join(restore.not_restorable)
    for expected in (
        "console password",
        "AKIAEXAMPLEPIVOT0001",
        "ACCAEXAMPLEBEDROCK01",
        "ACCAEXAMPLECODECOM01",
        "GAHT12345678",
    ):
        assert expected in lost
    restored = run_effects({}, restore.steps)
    irreversible = ("access-key:", "credential:", "mfa:", "login-profile")
    expected_facts = {k: v for k, v in user_facts(s0).items() if not k.startswith(irreversible)}
    assert restored == expected_facts


def test_restore_after_revoke_reactivates_and_removes_the_deny():
    s0 = phantom()
    plan = build_revoke_plan(s0, RevokeOptions(), at=NOW)
    after = run_effects(user_facts(s0), plan.steps)
    from phantomkeys.core.model import InlinePolicy

    current = replace(
        s0,
        login_profile=False,
        inline_policies=(
            *s0.inline_policies,
            InlinePolicy(REVOKE_POLICY_NAME, bearer_deny_document()),
        ),
        service_credentials=tuple(
            replace(c, status="Inactive") if c.service == "bedrock.amazonaws.com" else c
            for c in s0.service_credentials
        ),
        access_keys=tuple(replace(k, status="Inactive") for k in s0.access_keys),
    )
    assert user_facts(current) == after
    restore = build_restore_plan(backup_of(plan, s0), current, at=NOW)
    assert [s.id for s in restore.steps] == [
        "activate-credential:ACCAEXAMPLEBEDROCK01",
        "activate-access-key:AKIAEXAMPLEPIVOT0001",  # not the key that was inactive before
        f"delete-inline-policy:{REVOKE_POLICY_NAME}",
    ]
    assert restore.not_restorable == (
        "console password: AWS never returns passwords; set a new one with aws iam "
        "create-login-profile --user-name BedrockAPIKey-hr8l if needed",
    )
    back = run_effects(user_facts(current), restore.steps)
    assert back == {k: v for k, v in user_facts(s0).items() if k != "login-profile"}
    # idempotent: restoring again has nothing to do
    assert build_restore_plan(backup_of(plan, s0), replace(s0, login_profile=False), at=NOW).empty


def test_restore_of_a_role_revocation_keeps_later_revocations():
    r0 = role()
    plan = build_session_revoke_plan(r0, SESSION, at=NOW, all_sessions=False)
    ours = json.loads(plan.steps[0].params["PolicyDocument"])
    later = session_deny_document(ours, principal_id="AROAEXAMPLEROLE0001:other", issued_before=NOW)
    restore = build_restore_plan(backup_of(plan, r0), replace(r0, session_policy=later), at=NOW)
    (step,) = restore.steps
    kept = json.loads(step.params["PolicyDocument"])["Statement"]
    assert [s["Condition"]["StringEquals"]["aws:userid"] for s in kept] == [
        "AROAEXAMPLEROLE0001:other"
    ]
    only_ours = build_restore_plan(backup_of(plan, r0), replace(r0, session_policy=ours), at=NOW)
    assert [s.action for s in only_ours.steps] == ["iam:DeleteRolePolicy"]


def test_backup_round_trip_and_restore_of_restore_refused():
    s0 = phantom()
    plan = build_cleanup_plan(s0, at=NOW, allow_live=True)
    b = backup_of(plan, s0)
    again = Backup.from_dict(json.loads(json.dumps(b.to_dict())))
    assert again == b
    assert again.plan.intent_key == plan.intent_key
    restore = build_restore_plan(b, replace(s0, exists=False), at=NOW)
    with pytest.raises(PlanError, match="backup of a restore"):
        build_restore_plan(backup_of(restore, s0), s0, at=NOW)


def test_intent_key_separates_options():
    a = build_revoke_plan(phantom(), RevokeOptions(), at=NOW)
    b = build_revoke_plan(phantom(), RevokeOptions(console=False), at=NOW + timedelta(1))
    c = build_revoke_plan(phantom(), RevokeOptions(), at=NOW + timedelta(1))
    assert a.intent_key != b.intent_key
    assert a.intent_key == c.intent_key
    assert a.operation is Operation.REVOKE


def test_journal_completion():
    assert not journal_complete([{"event": "started"}, {"step": "a", "outcome": "applied"}])
    assert journal_complete(
        [{"event": "started"}, {"event": "finished", "failed": 0, "stopped": 0}]
    )
    assert not journal_complete([{"event": "finished", "failed": 1, "stopped": 0}])


def test_orphan_fixture_is_policy_only():
    assert orphan().attached_policy_arns == (BEDROCK_POLICY,)
