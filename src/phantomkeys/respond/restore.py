"""``restore``: undo what a revoke, cleanup or deploy backup allows.

Every step is derived from the state saved in the backup and a fresh read, never from
the plan written in it; a backup whose integrity tag, owner or mode is wrong is refused
unless the caller accepts unverified backups. SCP and alert deploys are put back by
:func:`phantomkeys.core.controls.plan.build_controls_restore_plan`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.plans import Operation, Plan, PlanError, State, build_restore_plan
from phantomkeys.respond.base import (
    Aws,
    Console,
    RespondError,
    incomplete,
    now_utc,
    read_role,
    read_user,
)
from phantomkeys.respond.jobs import Job, Response, Session, backup_store, run_jobs
from phantomkeys.respond.render import render_plan, render_run

if TYPE_CHECKING:
    from phantomkeys.core.controls.plan import ControlsState
    from phantomkeys.core.plans import Backup


def restore(
    backup_file: str,
    *,
    connect: Callable[[], Aws],
    allow_unverified: bool,
    ui: Console,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    now: datetime,
) -> Response:
    """Open and check ``backup_file`` (a backup or its journal), then ``connect`` and put
    back what it allows. A missing or malformed file is refused before any AWS call."""
    from phantomkeys.aws.apply import ApplyError, open_backup
    from phantomkeys.core.plans import verified_run_steps

    try:
        loaded = open_backup(Path(backup_file))
    except ApplyError as exc:  # missing, unreadable or malformed: bad input
        raise RespondError(str(exc)) from None
    backup = loaded.backup
    if loaded.from_journal is not None:
        ui.info(f"{backup_file} is a journal: using its backup {loaded.path}")
    if loaded.untrusted is not None:
        if not allow_unverified:
            raise RespondError(
                f"refusing to restore: {loaded.untrusted}",
                hint="if you know where this backup comes from, pass --allow-unverified "
                "(its steps are still derived from its saved state)",
                code=ExitCode.WRITE_FAILED,
            )
        ui.warn(f"--allow-unverified: {loaded.untrusted}; its steps are derived from its state")
    if backup.controls is None:  # an IAM run: its steps must follow from its saved state
        try:
            verified_run_steps(backup)
        except PlanError as exc:
            raise RespondError(
                f"refusing to restore {loaded.path}: {exc}", code=ExitCode.WRITE_FAILED
            ) from None
    aws = connect()
    if backup.plan.account_id != aws.account_id:
        raise RespondError(
            f"the backup is for account {backup.plan.account_id}, but your "
            f"credentials are for account {aws.account_id}",
            hint=f"use credentials for account {backup.plan.account_id}",
            code=ExitCode.WRITE_FAILED,
        )
    session = Session(command="restore", aws=aws, ui=ui, dry_run=dry_run)
    session.document["backup"] = {
        "path": str(loaded.path),
        "given": backup_file,
        "verified": loaded.untrusted is None,
        "run_id": backup.run_id,
        "operation": backup.operation.value,
        "subject": backup.plan.subject,
    }
    if backup.controls is not None:  # an SCP or alerts deploy
        return restore_controls(session, backup, yes=yes, backup_dir=backup_dir, now=now)
    name = backup.plan.subject
    if backup.plan.subject_type == "role":

        def read() -> State:
            return read_role(aws, name, now_utc())
    else:

        def read() -> State:
            return read_user(aws, name, now_utc())

    current = read()
    if not current.complete:
        raise RespondError(
            f"cannot read {name} completely ({incomplete(current)})", code=ExitCode.INCOMPLETE
        )
    try:
        plan = build_restore_plan(backup, current, at=now)
    except PlanError as exc:  # a safety check: the backup does not fit what is there now
        raise RespondError(f"refusing to restore: {exc}", code=ExitCode.WRITE_FAILED) from None
    if backup.operation is Operation.CLEANUP and plan.empty and not plan.not_restorable:
        session.say(f"{name} is already as it was before the cleanup")

    def rebuild(fresh: State) -> Plan:
        return build_restore_plan(backup, fresh, at=now_utc())

    return run_jobs(
        session,
        [Job(plan=plan, read_state=read, rebuild=rebuild, restores=backup.run_id)],
        yes=yes,
        backup_dir=backup_dir,
        now=now,
    )


def restore_controls(
    session: Session, backup: Backup, *, yes: bool, backup_dir: str | None, now: datetime
) -> Response:
    """Plan, confirm and apply the undo of an SCP or alerts deploy.

    The plan is derived from the saved state and a fresh read and applied by the one
    plan mechanism, with its own backup and journal.
    """
    from phantomkeys.aws.apply import ApplyError, RunStatus
    from phantomkeys.aws.controls_apply import restore_reader, run_controls_plan
    from phantomkeys.aws.organizations_controls import ControlsAwsError
    from phantomkeys.core.controls.plan import build_controls_restore_plan

    ctx = session.aws.ctx
    ui = session.ui

    def build(current: ControlsState) -> Plan:
        return build_controls_restore_plan(backup, current, at=now_utc())

    try:
        read = restore_reader(ctx, backup)
        plan = build(read())
    except PlanError as exc:
        raise RespondError(str(exc)) from None
    except ControlsAwsError as exc:
        raise RespondError(str(exc), code=ExitCode.INCOMPLETE) from None
    session.say(render_plan(plan))
    code = session.base_code()
    if plan.empty:
        session.say(f"{plan.subject} is already as it was before the deploy")
        return session.finish(code, plans=[plan])
    if session.dry_run:
        session.say("dry run: nothing was written")
        return session.finish(code, plans=[plan])
    if not yes:
        try:
            ok = ui.confirm(f"Apply {len(plan.steps)} step(s) in account {plan.account_id}?")
        except KeyboardInterrupt:
            ok = False
        if not ok:
            raise RespondError(
                "not confirmed: nothing was written",
                hint="pass --yes to apply without the question",
            )
    try:
        run = run_controls_plan(
            ctx,
            plan,
            read_state=read,
            rebuild=build,
            store=backup_store(backup_dir, ui),
            caller_arn=session.aws.caller_arn,
            now=now,
            restores=backup.run_id,
        )
    except ApplyError as exc:
        raise RespondError(str(exc)) from None
    except ControlsAwsError as exc:
        raise RespondError(str(exc), code=ExitCode.INCOMPLETE) from None
    except KeyboardInterrupt:
        raise RespondError(
            "interrupted: the journal records what was done",
            hint="run the same command again to continue where it stopped",
            code=ExitCode.INTERRUPTED,
        ) from None
    session.say(render_run(run))
    if run.status in (RunStatus.FAILED, RunStatus.DRIFT):
        code = ExitCode.WRITE_FAILED
    elif run.status is RunStatus.UNREADABLE:
        code = ExitCode.INCOMPLETE
    return session.finish(int(code), runs=[run], plans=[plan])
