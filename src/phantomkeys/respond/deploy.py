"""``scp deploy`` and ``alerts deploy``: read, plan, show, ask, apply, resume.

The flow of both deploys lives here, not in the CLI (issue 17): read the current state
(``aws/controls_apply.py``), build the controls plan (``core/controls/plan.py``), show it,
ask through :func:`phantomkeys.respond.jobs.confirm_writes`, apply it through the one
plan mechanism (backup, journal, re-check, resume) and return a :class:`Deployed` the
CLI renders. Nothing here prints or exits: text goes to the :class:`DeployConsole`,
refusals are :class:`~phantomkeys.respond.base.RespondError` with their exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from phantomkeys.core.controls.alerts import deployment_regions
from phantomkeys.core.controls.deploy import (
    Step,
    StepKind,
    StepStatus,
    TargetKind,
    attachment_overflow,
    pending,
    stale_parts,
    target_kind,
)
from phantomkeys.core.controls.scp import SCP_MAX_PER_TARGET
from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.respond.base import Console, RespondError, now_utc
from phantomkeys.respond.jobs import backup_store, confirm_writes

if TYPE_CHECKING:
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.core.controls.alerts import AlertRule
    from phantomkeys.core.controls.plan import ControlsState
    from phantomkeys.core.controls.scp import GeneratedPolicy
    from phantomkeys.core.plans import Plan


class DeployConsole(Console, Protocol):
    """The :class:`Console` of a deploy, which also shows the plan before the question."""

    def show_steps(self, steps: Sequence[Step], title: str) -> None:
        """Show the plan's steps (the CLI draws them as a table on stderr)."""


@dataclass
class Deployed:
    """How a deploy ended: the steps (planned, or with their outcomes), the run applied
    (``None`` for a dry run or nothing to do), and the exit code."""

    steps: list[Step]
    dry_run: bool
    title: str
    code: int = ExitCode.OK
    run: Any = None  # aws.apply.RunReport
    #: The question was declined: nothing was written and nothing is rendered.
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The fields of the command's JSON document (the CLI wraps them in the envelope)."""
        extra: dict[str, Any] = {"run": self.run.to_dict()} if self.run is not None else {}
        return {"dry_run": self.dry_run, "steps": [s.to_dict() for s in self.steps], **extra}


def _result(steps: Sequence[Step], *, dry_run: bool, title: str, run: Any = None) -> Deployed:
    failed = any(s.status is StepStatus.FAILED for s in steps)
    if run is not None:
        from phantomkeys.aws.apply import RunStatus

        failed = failed or run.status is RunStatus.FAILED
    code = ExitCode.WRITE_FAILED if failed else ExitCode.OK
    return Deployed(list(steps), dry_run=dry_run, title=title, code=int(code), run=run)


def _unfinished(ui: Console, backup_dir: str | None, plan: Plan) -> bool:
    from phantomkeys.aws.controls_apply import unfinished_run

    return unfinished_run(backup_store(backup_dir, ui), plan)


def _confirm_and_apply(
    ui: DeployConsole,
    ctx: AwsContext,
    plan: Plan,
    steps: Sequence[Step],
    *,
    read: Callable[[], ControlsState],
    rebuild: Callable[[ControlsState], Plan],
    caller_arn: str,
    yes: bool,
    interactive: bool,
    backup_dir: str | None,
    now: Callable[[], datetime],
) -> Deployed:
    """Ask, then apply through aws/apply.py (re-check, backup, journal, resume)."""
    from phantomkeys.aws.apply import ApplyError, RunStatus
    from phantomkeys.aws.controls_apply import run_controls_plan
    from phantomkeys.core.controls.plan import with_outcomes

    question = f"Apply {len(pending(steps))} change(s)?"
    if not confirm_writes(ui, question, yes=yes, interactive=interactive):
        ui.info("cancelled; nothing was changed")
        return Deployed(list(steps), dry_run=False, title="plan", cancelled=True)
    try:
        run = run_controls_plan(
            ctx,
            plan,
            read_state=read,
            rebuild=rebuild,
            store=backup_store(backup_dir, ui),
            caller_arn=caller_arn,
            now=now(),
        )
    except ApplyError as exc:
        raise RespondError(str(exc), code=ExitCode.WRITE_FAILED) from None
    except KeyboardInterrupt:
        raise RespondError(
            "interrupted: the journal records what was done",
            hint="run the same command again to continue where it stopped",
            code=ExitCode.INTERRUPTED,
        ) from None
    if run.status is RunStatus.DRIFT:
        raise RespondError(
            "the state changed since the plan; nothing was written: " + "; ".join(run.drift),
            hint="run the same command again to see a fresh plan",
            code=ExitCode.WRITE_FAILED,
        )
    if run.status is RunStatus.UNREADABLE:
        raise RespondError(
            run.message or "the state could not be re-read", code=ExitCode.INCOMPLETE
        )
    outcomes = {r.step.id: (r.outcome, r.message or r.error_code) for r in run.results}
    if run.backup_path is not None:
        ui.info(f"backup: {run.backup_path} (undo with: phantomkeys restore {run.backup_path})")
        resumed = " (resumed an interrupted run)" if run.resumed else ""
        ui.info(f"journal: {run.journal_path}{resumed}")
    return _result(with_outcomes(steps, outcomes), dry_run=False, title="result", run=run)


def deploy_scp(
    ui: DeployConsole,
    ctx: AwsContext,
    *,
    policies: Sequence[GeneratedPolicy],
    base_name: str,
    targets: Sequence[str],
    dry_run: bool,
    enable_policy_type: bool,
    yes: bool,
    interactive: bool,
    backup_dir: str | None,
    now: Callable[[], datetime] = now_utc,
) -> Deployed:
    """Create or update ``policies`` and attach them to ``targets`` (checked by the
    caller: roots only with consent), idempotently; a rerun continues an unfinished run."""
    from phantomkeys.aws.controls_apply import caller, read_scp_state
    from phantomkeys.core.controls.plan import build_scp_deploy_plan

    account_id, caller_arn = caller(ctx)

    def read() -> ControlsState:
        return read_scp_state(
            ctx,
            account_id=account_id,
            subject=base_name,
            names=[p.name for p in policies],
            targets=targets,
        )

    current = read()
    assert current.scp is not None
    state = current.scp
    for target in targets:
        if target_kind(target) is TargetKind.ROOT and target != state.root_id:
            raise RespondError(
                f"--target {target} is not this Organization's root ({state.root_id})"
            )
    overflow = attachment_overflow(policies, targets, state)
    if overflow:
        worst = ", ".join(f"{t} ({n})" for t, n in overflow.items())
        raise RespondError(
            f"too many SCPs on {worst}: AWS allows {SCP_MAX_PER_TARGET} per target",
            hint="detach an SCP or combine presets into one policy",
        )
    stale = stale_parts(base_name, policies, state)
    if stale:
        ui.warn(
            f"earlier parts of {base_name} are not part of this deploy and stay as "
            f"they are: {', '.join(stale)} (detach or delete them if no longer wanted)"
        )
    plan, steps = build_scp_deploy_plan(policies, targets, current, at=now())
    needs_type = any(
        s.kind is StepKind.ENABLE_POLICY_TYPE and s.status is StepStatus.PENDING for s in steps
    )
    if dry_run:
        if needs_type and not enable_policy_type:
            ui.warn(
                "the SCP policy type is disabled on the root: deploying needs --enable-policy-type"
            )
        return _result(steps, dry_run=True, title="plan (dry run)")
    if not pending(steps) and not _unfinished(ui, backup_dir, plan):
        ui.info("nothing to do: every policy is up to date and attached")
        return _result(steps, dry_run=False, title="result")
    ui.show_steps(steps, "plan")
    if needs_type and not enable_policy_type:
        raise RespondError(
            f"the SCP policy type is disabled on the root {state.root_id}",
            hint="pass --enable-policy-type to enable it (existing SCPs everywhere then apply)",
        )
    return _confirm_and_apply(
        ui,
        ctx,
        plan,
        steps,
        read=read,
        rebuild=lambda fresh: build_scp_deploy_plan(policies, targets, fresh, at=now())[0],
        caller_arn=caller_arn,
        yes=yes,
        interactive=interactive,
        backup_dir=backup_dir,
        now=now,
    )


def deploy_alerts(
    ui: DeployConsole,
    ctx: AwsContext,
    *,
    rules: Sequence[AlertRule],
    regions: Sequence[str],
    topic_name: str,
    topic_given: Mapping[str, str],
    dry_run: bool,
    yes: bool,
    interactive: bool,
    backup_dir: str | None,
    now: Callable[[], datetime] = now_utc,
) -> Deployed:
    """Create or update the EventBridge ``rules`` and their SNS topics in ``regions``
    (default: the session's region) plus the IAM event region, idempotently."""
    from phantomkeys.aws.controls_apply import caller, read_alerts_state
    from phantomkeys.core.controls.plan import build_alerts_deploy_plan

    where = deployment_regions(list(regions) or [ctx.region], ctx.partition)
    given = dict(topic_given)

    def read() -> ControlsState:
        return read_alerts_state(
            ctx,
            subject=topic_name,
            regions=where,
            rule_names=[r.name for r in rules],
            topic_name=topic_name,
            topic_given=given,
        )

    current = read()
    _, caller_arn = caller(ctx)

    def rebuild(fresh: ControlsState) -> Plan:
        return build_alerts_deploy_plan(
            rules, fresh, topic_name=topic_name, topic_given=given, at=now()
        )[0]

    plan, steps = build_alerts_deploy_plan(
        rules, current, topic_name=topic_name, topic_given=given, at=now()
    )
    if dry_run:
        return _result(steps, dry_run=True, title="plan (dry run)")
    if not pending(steps) and not _unfinished(ui, backup_dir, plan):
        ui.info("nothing to do: every rule, target and topic is in place")
        return _result(steps, dry_run=False, title="result")
    ui.show_steps(steps, "plan")
    return _confirm_and_apply(
        ui,
        ctx,
        plan,
        steps,
        read=read,
        rebuild=rebuild,
        caller_arn=caller_arn,
        yes=yes,
        interactive=interactive,
        backup_dir=backup_dir,
        now=now,
    )
