"""The apply layer on the lab (strict DeleteUser): faults, kills, drift, backup and restore."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.respond.conftest import (
    seed_orphan,
    seed_pivoted_phantom,
    user_exists,
    write_calls,
)

from phantomkeys.aws.apply import BackupStore, Journal, RunStatus, apply_plan, load_backup
from phantomkeys.aws.session import AwsContext
from phantomkeys.aws.state import read_user_state
from phantomkeys.core.plans import (
    REVOKE_POLICY_NAME,
    Outcome,
    Plan,
    RevokeOptions,
    State,
    Step,
    UserState,
    build_cleanup_plan,
    build_restore_plan,
    build_revoke_plan,
    user_facts,
)

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.phantomkeys_lab(scenario="empty")

ACCOUNT = "111111111111"
NAME = "BedrockAPIKey-hr8l"
BYSTANDER = "BedrockAPIKey-keep"


def now() -> datetime:
    return datetime.now(UTC)


def read(ctx: AwsContext, name: str = NAME) -> UserState:
    return read_user_state(ctx, name, account_id=ACCOUNT, partition="aws", now=now())


def cleanup_run(
    ctx: AwsContext, store: BackupStore, plan: Plan, *, hook: Any = None, resume: Any = None
) -> Any:
    def rebuild(fresh: State) -> Plan:
        assert isinstance(fresh, UserState)
        return build_cleanup_plan(fresh, at=now(), allow_live=True)

    kwargs = {"hook": hook} if hook else {}
    return apply_plan(
        ctx,
        plan,
        read_state=lambda: read(ctx, plan.subject),
        rebuild=rebuild,
        store=store,
        caller_arn="arn:aws:iam::111111111111:user/ir",
        now=now(),
        resume=resume,
        **kwargs,
    )


@pytest.fixture
def ctx(lab: Lab) -> AwsContext:
    return AwsContext.from_cli(None, "us-east-1")


def test_state_reader_sees_every_prerequisite(iam: Any, ctx: AwsContext):
    seeded = seed_pivoted_phantom(iam, NAME)
    state = read(ctx)
    assert state.complete
    assert state.exists
    assert state.path == "/"
    assert dict(state.tags) == {"team": "ml", "created-by": "console"}
    assert state.boundary_arn == seeded["boundary"]
    assert [p.name for p in state.inline_policies] == ["extra-s3"]
    assert state.group_names == ("ml-readers",)
    assert sorted(c.service for c in state.service_credentials) == [
        "bedrock.amazonaws.com",
        "codecommit.amazonaws.com",
    ]
    assert {k.id: k.status for k in state.access_keys} == {
        seeded["access_key"]: "Active",
        seeded["inactive_key"]: "Inactive",
    }
    assert state.login_profile
    assert [m.serial for m in state.mfa_devices] == [seeded["mfa"]]
    assert state.mfa_devices[0].virtual
    assert state.ssh_public_keys[0].body
    assert state.signing_certificates[0].body
    missing = read(ctx, "nobody-here")
    assert missing.complete
    assert not missing.exists


def test_denied_read_makes_the_state_incomplete(iam: Any, ctx: AwsContext, lab: Lab):
    seed_orphan(iam, BYSTANDER)
    lab.set_faults("iam:ListSSHPublicKeys=denied")
    state = read(ctx, BYSTANDER)
    assert not state.complete
    assert state.failures[0].operation == "iam:ListSSHPublicKeys"
    assert state.failures[0].error_code == "AccessDenied"


def test_cleanup_on_strict_delete_user_with_backup_and_journal(
    iam: Any, ctx: AwsContext, tmp_path: Path
):
    seed_pivoted_phantom(iam, NAME)
    seed_orphan(iam, BYSTANDER)
    store = BackupStore(tmp_path)
    plan = build_cleanup_plan(read(ctx), at=now(), allow_live=True)
    run = cleanup_run(ctx, store, plan)
    assert run.status is RunStatus.DONE, [r.to_dict() for r in run.results if r.message]
    assert [r.outcome for r in run.results] == [Outcome.APPLIED] * len(plan.steps)
    assert not user_exists(iam, NAME)
    assert user_exists(iam, BYSTANDER)
    assert not iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert stat.S_IMODE(run.backup_path.stat().st_mode) == 0o600
    events = Journal(run.journal_path).records()
    assert events[0]["event"] == "started"
    assert events[-1]["event"] == "finished"
    assert {e["step"] for e in events if e.get("outcome") == "applied"} == {
        s.id for s in plan.steps
    }
    assert load_backup(run.backup_path).user == plan_state(run)


def plan_state(run: Any) -> UserState:
    backup = load_backup(run.backup_path)
    assert backup.user is not None
    return backup.user


def _actions(plan: Plan) -> list[str]:
    return list(dict.fromkeys(s.action for s in plan.steps))


FAST_FAULTS = [
    ("iam:DeleteLoginProfile", "denied"),
    ("iam:DeleteServiceSpecificCredential", "denied"),
    ("iam:DeleteVirtualMFADevice", "denied"),
    ("iam:DeleteAccessKey", "throttle:1.0"),
    ("iam:DeleteUser", "5xx:1.0"),
]


def test_permanent_fault_at_sample_steps_then_rerun_converges(
    iam: Any, ctx: AwsContext, lab: Lab, tmp_path: Path
):
    _fault_then_rerun(iam, ctx, lab, tmp_path, FAST_FAULTS)


@pytest.mark.slow
def test_permanent_fault_at_every_step_then_rerun_converges(
    iam: Any, ctx: AwsContext, lab: Lab, tmp_path: Path
):
    seed_pivoted_phantom(iam, "BedrockAPIKey-list")
    actions = _actions(
        build_cleanup_plan(read(ctx, "BedrockAPIKey-list"), at=now(), allow_live=True)
    )
    cases = [(a, kind) for a in actions for kind in ("denied", "5xx:1.0", "throttle:1.0")]
    _fault_then_rerun(iam, ctx, lab, tmp_path, cases)


def _fault_then_rerun(
    iam: Any, ctx: AwsContext, lab: Lab, tmp_path: Path, cases: list[tuple[str, str]]
) -> None:
    """A fault that outlasts the retries at a step: the run stops there, nothing after it is
    touched, and a rerun (faults gone) finishes the same run with the same backup."""
    seed_orphan(iam, BYSTANDER)
    for n, (action, kind) in enumerate(cases):
        ctx = AwsContext.from_cli(None, "us-east-1")  # no adaptive slow-down carried over
        name = f"BedrockAPIKey-f{n:02d}"
        seed_pivoted_phantom(iam, name)
        op = action.split(":")[1]
        store = BackupStore(tmp_path / f"{n}")
        lab.set_faults(f"iam:{op}={kind}")
        run = cleanup_run(
            ctx, store, build_cleanup_plan(read(ctx, name), at=now(), allow_live=True)
        )
        assert run.status is RunStatus.FAILED, action
        failed = next(i for i, r in enumerate(run.results) if r.outcome is Outcome.FAILED)
        assert run.results[failed].step.action == action
        # nothing after the failed step was touched: the user is not half-deleted further
        assert all(r.outcome is Outcome.SKIPPED for r in run.results[failed + 1 :])
        assert user_exists(iam, name)
        lab.set_faults(None)
        (pending,) = store.pending(operation="cleanup", account_id=ACCOUNT)
        again = cleanup_run(ctx, store, run.plan, resume=pending)
        assert again.status is RunStatus.DONE, (action, [r.to_dict() for r in again.results])
        assert again.backup_path == run.backup_path  # same run, same backup
        assert not user_exists(iam, name)
        assert len(list(store.runs(ACCOUNT))) == 1
    assert user_exists(iam, BYSTANDER)
    assert iam.get_group(GroupName="ml-readers")["Group"]  # the shared group survives


@pytest.mark.parametrize("phase", ["before", "called"])
def test_killed_at_sample_steps_then_rerun_converges(
    iam: Any, ctx: AwsContext, tmp_path: Path, phase: str
):
    # the first step, the unobservable virtual-MFA deletion, DeleteUser
    _kill_then_rerun(
        iam,
        ctx,
        tmp_path,
        phase,
        ["iam:DeleteLoginProfile", "iam:DeleteVirtualMFADevice", "iam:DeleteUser"],
    )


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["before", "called"])
def test_killed_at_every_step_then_rerun_converges(
    iam: Any, ctx: AwsContext, tmp_path: Path, phase: str
):
    _kill_then_rerun(iam, ctx, tmp_path, phase, None)


def _kill_then_rerun(
    iam: Any, ctx: AwsContext, tmp_path: Path, phase: str, actions: list[str] | None
) -> None:
    """A process killed before a step is sent, or after AWS applied it but before the
    journal recorded it: the rerun resumes the same run and ends like an uninterrupted one."""
    seed_orphan(iam, BYSTANDER)
    seed_pivoted_phantom(iam, "BedrockAPIKey-list")
    steps = build_cleanup_plan(read(ctx, "BedrockAPIKey-list"), at=now(), allow_live=True).steps
    indices = [i for i, s in enumerate(steps) if actions is None or s.action in actions]
    assert actions is None or len(indices) == len(actions)
    for index in indices:
        name = f"BedrockAPIKey-k{index:02d}"
        seed_pivoted_phantom(iam, name)
        original = read(ctx, name)
        store = BackupStore(tmp_path / f"{phase}-{index}")
        plan = build_cleanup_plan(original, at=now(), allow_live=True)
        target = plan.steps[index]

        def kill(step: Step, at_phase: str, target: Step = target) -> None:
            if step.id == target.id and at_phase == phase:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            cleanup_run(ctx, store, plan, hook=kill)
        (pending,) = store.pending(operation="cleanup", account_id=ACCOUNT)
        run = cleanup_run(ctx, store, plan, resume=pending)
        assert run.status is RunStatus.DONE, (index, [r.to_dict() for r in run.results])
        assert run.resumed
        outcomes = {r.step.id: r.outcome for r in run.results}
        if phase == "called" and target.observable:
            assert outcomes[target.id] is Outcome.ALREADY_DONE
        assert not user_exists(iam, name)
        # the backup is the state before the first write, not the half-deleted one
        assert user_facts(plan_state(run)) == user_facts(original)
        assert store.pending(operation="cleanup", account_id=ACCOUNT) == []
    assert user_exists(iam, BYSTANDER)


def test_changed_state_between_plan_and_apply_stops_the_run(
    iam: Any, ctx: AwsContext, lab: Lab, tmp_path: Path
):
    seed_orphan(iam, BYSTANDER)
    plan = build_cleanup_plan(read(ctx, BYSTANDER), at=now())
    iam.attach_user_policy(
        UserName=BYSTANDER, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    lab.reset_stats()
    run = cleanup_run(ctx, BackupStore(tmp_path), plan)
    assert run.status is RunStatus.DRIFT
    assert run.drift == [
        "attached policy arn:aws:iam::aws:policy/AdministratorAccess appeared (attached)"
    ]
    assert write_calls(lab.stats()) == {}
    assert run.fresh_plan is not None
    assert "detach-policy:arn:aws:iam::aws:policy/AdministratorAccess" in [
        s.id for s in run.fresh_plan.steps
    ]
    assert user_exists(iam, BYSTANDER)
    assert not list(tmp_path.rglob("*.json"))


def test_resumed_run_on_changed_state_is_abandoned_for_a_fresh_plan(
    iam: Any, ctx: AwsContext, tmp_path: Path
):
    seed_orphan(iam, BYSTANDER)
    store = BackupStore(tmp_path)
    plan = build_cleanup_plan(read(ctx, BYSTANDER), at=now())

    def kill(step: Step, phase: str) -> None:
        if step.action == "iam:DeleteUser" and phase == "before":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cleanup_run(ctx, store, plan, hook=kill)
    iam.put_user_policy(
        UserName=BYSTANDER,
        PolicyName="added-later",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )
    (pending,) = store.pending(operation="cleanup", account_id=ACCOUNT)
    stopped = cleanup_run(ctx, store, plan, resume=pending)
    assert stopped.status is RunStatus.DRIFT
    (change,) = stopped.drift
    assert change.startswith("inline policy added-later appeared")
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []  # not stuck on it
    assert stopped.fresh_plan is not None
    fresh = cleanup_run(ctx, store, stopped.fresh_plan)
    assert fresh.status is RunStatus.DONE
    assert not user_exists(iam, BYSTANDER)
    assert len(list(store.runs(ACCOUNT))) == 2  # the first run's backup is kept


def test_new_credential_between_plan_and_apply_refuses_fresh_plan(
    iam: Any, ctx: AwsContext, tmp_path: Path
):
    seed_orphan(iam, BYSTANDER)
    plan = build_cleanup_plan(read(ctx, BYSTANDER), at=now())
    iam.create_access_key(UserName=BYSTANDER)

    def rebuild(fresh: State) -> Plan:
        assert isinstance(fresh, UserState)
        return build_cleanup_plan(fresh, at=now())  # no --force: a live key is refused

    run = apply_plan(
        ctx,
        plan,
        read_state=lambda: read(ctx, BYSTANDER),
        rebuild=rebuild,
        store=BackupStore(tmp_path),
        caller_arn=None,
        now=now(),
    )
    assert run.status is RunStatus.DRIFT
    assert run.fresh_plan is None
    assert "active access key" in (run.message or "")
    assert user_exists(iam, BYSTANDER)


def test_retried_throttling_and_5xx_still_apply(
    iam: Any, ctx: AwsContext, lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import phantomkeys.aws.session as session

    monkeypatch.setattr(session, "DEFAULT_RETRIES", {"mode": "standard", "max_attempts": 8})
    ctx = AwsContext.from_cli(None, "us-east-1")
    seed_pivoted_phantom(iam, NAME)
    plan = build_cleanup_plan(read(ctx), at=now(), allow_live=True)
    lab.set_faults("iam:Delete*=throttle:0.3,iam:Detach*=5xx:0.5,iam:Remove*=5xx:0.5")
    run = cleanup_run(ctx, BackupStore(tmp_path), plan)
    assert run.status is RunStatus.DONE
    assert lab.stats()["faults_injected"] > 0
    assert not user_exists(iam, NAME)


def test_backup_then_restore_gives_back_an_equivalent_user(
    iam: Any, ctx: AwsContext, tmp_path: Path
):
    seed_pivoted_phantom(iam, NAME)
    before = read(ctx)
    store = BackupStore(tmp_path)
    run = cleanup_run(ctx, store, build_cleanup_plan(before, at=now(), allow_live=True))
    assert run.status is RunStatus.DONE
    backup = load_backup(run.backup_path)
    current = read(ctx)
    restore = build_restore_plan(backup, current, at=now())

    def rebuild(fresh: State) -> Plan:
        return build_restore_plan(backup, fresh, at=now())

    done = apply_plan(
        ctx,
        restore,
        read_state=lambda: read(ctx),
        rebuild=rebuild,
        store=store,
        caller_arn=None,
        now=now(),
        restores=backup.run_id,
    )
    assert done.status is RunStatus.DONE, [r.to_dict() for r in done.results]
    after = read(ctx)
    gone = ("access-key:", "credential:", "mfa:", "login-profile")
    assert user_facts(after) == {
        k: v for k, v in user_facts(before).items() if not k.startswith(gone)
    }
    assert after.boundary_arn == before.boundary_arn
    assert after.path == before.path
    assert [k.body for k in after.ssh_public_keys] == [k.body for k in before.ssh_public_keys]
    lost = " ".join(restore.not_restorable)
    assert "console password" in lost
    assert "MFA device" in lost
    assert all(k.id in lost for k in before.access_keys)
    # restoring again: nothing left to do
    assert build_restore_plan(backup, after, at=now()).empty


def test_revoke_then_restore_on_the_lab(iam: Any, ctx: AwsContext, tmp_path: Path):
    seeded = seed_pivoted_phantom(iam, NAME)
    store = BackupStore(tmp_path)
    before = read(ctx)

    def rebuild(fresh: State) -> Plan:
        assert isinstance(fresh, UserState)
        return build_revoke_plan(fresh, RevokeOptions(), at=now())

    plan = build_revoke_plan(before, RevokeOptions(), at=now())
    run = apply_plan(
        ctx,
        plan,
        read_state=lambda: read(ctx),
        rebuild=rebuild,
        store=store,
        caller_arn=None,
        now=now(),
    )
    assert run.status is RunStatus.DONE
    revoked = read(ctx)
    creds = {c.service: c.status for c in revoked.service_credentials}
    assert creds == {"bedrock.amazonaws.com": "Inactive", "codecommit.amazonaws.com": "Active"}
    assert all(k.status == "Inactive" for k in revoked.access_keys)
    assert not revoked.login_profile
    deny = revoked.inline(REVOKE_POLICY_NAME)
    assert deny is not None
    assert "bedrock-mantle:CallWithBearerToken" in json.dumps(deny.document)
    # a second revocation changes nothing and adds no second policy
    assert build_revoke_plan(revoked, RevokeOptions(), at=now()).empty
    restore = build_restore_plan(load_backup(run.backup_path), revoked, at=now())
    back = apply_plan(
        ctx,
        restore,
        read_state=lambda: read(ctx),
        rebuild=lambda f: build_restore_plan(load_backup(run.backup_path), f, at=now()),
        store=store,
        caller_arn=None,
        now=now(),
    )
    assert back.status is RunStatus.DONE
    after = read(ctx)
    assert user_facts(after) == {
        k: v for k, v in user_facts(before).items() if k != "login-profile"
    }
    assert {k.id: k.status for k in after.access_keys} == {
        seeded["access_key"]: "Active",
        seeded["inactive_key"]: "Inactive",
    }
