"""``phantomkeys restore BACKUP`` for the backup of an SCP or alerts deploy.

The restore command (``cli/respond.py``) hands a backup whose kind is a
controls deploy here. The plan is derived from the saved state and a fresh
read (:func:`phantomkeys.core.controls.plan.build_controls_restore_plan`) and
applied by the one plan mechanism, with its own backup and journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from phantomkeys.cli.common import ExitCode, UsageProblem, now_utc

if TYPE_CHECKING:
    from datetime import datetime

    from phantomkeys.cli.respond import Session
    from phantomkeys.core.controls.plan import ControlsState
    from phantomkeys.core.plans import Backup, Plan


def restore_controls(
    session: Session, backup: Backup, *, yes: bool, backup_dir: str | None, now: datetime
) -> None:
    """Plan, confirm and apply the undo of a deploy; exits with the documented code."""
    from phantomkeys.aws.apply import ApplyError, RunStatus
    from phantomkeys.aws.controls_apply import restore_reader, run_controls_plan
    from phantomkeys.aws.organizations_controls import ControlsAwsError
    from phantomkeys.cli.respond import backup_store, render_plan, render_run
    from phantomkeys.core.controls.plan import build_controls_restore_plan
    from phantomkeys.core.plans import PlanError

    ctx = session.aws.ctx

    def build(current: ControlsState) -> Plan:
        return build_controls_restore_plan(backup, current, at=now_utc())

    try:
        read = restore_reader(ctx, backup)
        plan = build(read())
    except PlanError as exc:
        raise UsageProblem(str(exc)) from None
    except ControlsAwsError as exc:
        raise UsageProblem(str(exc), code=ExitCode.INCOMPLETE) from None
    session.say(render_plan(plan))
    code = session.base_code()
    if plan.empty:
        session.say(f"{plan.subject} is already as it was before the deploy")
        session.finish(code, plans=[plan])
    if session.dry_run:
        session.say("dry run: nothing was written")
        session.finish(code, plans=[plan])
    if not yes:
        try:
            ok = click.confirm(
                f"Apply {len(plan.steps)} step(s) in account {plan.account_id}?",
                default=False,
                err=True,
            )
        except click.Abort:
            ok = False
        if not ok:
            raise UsageProblem(
                "not confirmed: nothing was written",
                hint="pass --yes to apply without the question",
            )
    try:
        run = run_controls_plan(
            ctx,
            plan,
            read_state=read,
            rebuild=build,
            store=backup_store(backup_dir),
            caller_arn=session.aws.caller_arn,
            now=now,
            restores=backup.run_id,
        )
    except ApplyError as exc:
        raise UsageProblem(str(exc)) from None
    except ControlsAwsError as exc:
        raise UsageProblem(str(exc), code=ExitCode.INCOMPLETE) from None
    except KeyboardInterrupt:
        raise UsageProblem(
            "interrupted: the journal records what was done",
            hint="run the same command again to continue where it stopped",
            code=130,
        ) from None
    session.say(render_run(run))
    if run.status in (RunStatus.FAILED, RunStatus.DRIFT):
        code = ExitCode.WRITE_FAILED
    elif run.status is RunStatus.UNREADABLE:
        code = ExitCode.INCOMPLETE
    session.finish(int(code), runs=[run], plans=[plan])
