"""The job runner: show each plan, ask, re-check, back up, apply, and say how it ended.

A :class:`Session` collects one command's document (refusals, targets, accounts) and
whether anything was incomplete; :func:`run_jobs` takes its jobs through the one plan
mechanism (``aws/apply.py``) and returns a :class:`Response`: the exit code, the plans
shown and the runs. Nothing here prints or exits: text goes to the session's console.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from phantomkeys._meta import envelope
from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.plans import Plan, State
from phantomkeys.respond.base import Aws, Console, RespondError
from phantomkeys.respond.render import render_plan, render_run

#: Where backups went before they moved to the state directory (never read any more).
OLD_BACKUP_DIR = "phantomkeys-backups"


@dataclass
class Job:
    plan: Plan
    read_state: Callable[[], State]
    rebuild: Callable[[State], Plan]
    restores: str | None = None
    resume: Any = None  # PendingRun
    #: The account the job writes to (member accounts with --org); None: the session's.
    aws: Aws | None = None
    #: Set when the plan denies the very credentials running the tool (printed always).
    self_lockout: str | None = None


@dataclass
class Session:
    """One command's plans, refusals and outcome (its document, and what it says)."""

    command: str
    aws: Aws
    ui: Console
    dry_run: bool
    document: dict[str, Any] = field(default_factory=dict)
    incomplete: bool = False
    #: A user named with --user was refused (exit 2 unless something worse happened).
    refused_named: bool = False

    def base_code(self) -> int:
        if self.incomplete:
            return ExitCode.INCOMPLETE
        return ExitCode.USAGE if self.refused_named else ExitCode.OK

    def say(self, text: str) -> None:
        self.ui.say(text)

    def finish(self, code: int, runs: Sequence[Any] = (), plans: Sequence[Plan] = ()) -> Response:
        return Response(session=self, code=int(code), runs=list(runs), plans=list(plans))


@dataclass
class Response:
    """How a response command ended: its exit code, the plans shown, the runs applied."""

    session: Session
    code: int
    runs: list[Any] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The command's one JSON document."""
        aws = self.session.aws
        return envelope(
            metadata={
                "command": self.session.command,
                "account_id": aws.account_id,
                "caller_arn": aws.caller_arn,
                "dry_run": self.session.dry_run,
                "exit_code": self.code,
                "api_calls": aws.ctx.counter.snapshot(),
            },
            **self.session.document,
            plans=[p.to_dict() for p in self.plans],
            runs=[r.to_dict() for r in self.runs],
        )


def find_resume(store: Any, plan: Plan, ui: Console) -> Any:
    found = store.pending(
        operation=plan.operation.value,
        account_id=plan.account_id,
        subject=plan.subject,
        intent_key=plan.intent_key,
    )
    warn_rejected(store, ui)
    return found[0] if found else None


_WARNED: set[Path] = set()


def warn_rejected(store: Any, ui: Console) -> None:
    """Backups and journals that did not verify: never resumed, said once per file."""
    for path, reason in sorted(store.rejected.items()):
        if path not in _WARNED:
            _WARNED.add(path)
            ui.warn(f"ignoring {reason}; it is never resumed")


def backup_store(backup_dir: str | None, ui: Console) -> Any:
    """The one place the backup directory is decided (and said, on every run)."""
    from phantomkeys.aws.apply import BackupStore, default_backup_dir

    root = Path(backup_dir) if backup_dir else default_backup_dir()
    ui.info(f"backups and journals: {root}")
    if backup_dir is None and Path(OLD_BACKUP_DIR).is_dir():
        ui.warn(
            f"./{OLD_BACKUP_DIR} (the old default folder) is no longer read: its runs are "
            "not resumed from there; restore from it with --allow-unverified if you need "
            "to, and keep it out of version control"
        )
    return BackupStore(root)


def confirm_writes(ui: Console, question: str, *, yes: bool, interactive: bool = True) -> bool:
    """Ask before writing (the one confirmation of every writing command): True with
    ``--yes`` or when the person agrees, False when declined. ``interactive=False`` (no
    terminal to answer on) refuses instead of asking."""
    if yes:
        return True
    if not interactive:
        raise RespondError(
            "not applying without confirmation",
            hint="review the plan, then rerun with --yes (or --dry-run)",
        )
    return ui.confirm(question)


def run_jobs(
    session: Session,
    jobs: list[Job],
    *,
    yes: bool,
    backup_dir: str | None,
    now: datetime,
    store: Any = None,
) -> Response:
    """Show, confirm, apply; the response carries the documented exit code."""
    from phantomkeys.aws.apply import ApplyError, RunStatus, apply_plan

    ui = session.ui
    if store is None:
        store = backup_store(backup_dir, ui)
    try:
        for job in jobs:
            if job.resume is None:  # reading the journals is harmless in a dry run too
                job.resume = find_resume(store, job.plan, ui)
    except ApplyError as exc:
        raise RespondError(str(exc), code=ExitCode.WRITE_FAILED) from None
    shown: list[Plan] = []
    for job in jobs:
        if job.resume is not None:
            plan = job.plan  # derived again; the file only says which steps were done
            total = len(plan.steps)
            label = (
                f"interrupted run {job.resume.backup.run_id[:8]} "
                f"({job.resume.done_steps} of {total} steps journaled; backup "
                f"{job.resume.files.backup})"
            )
            session.say(render_plan(plan, resumed=label))
            shown.append(plan)
        else:
            session.say(render_plan(job.plan))
            shown.append(job.plan)
    active = [j for j in jobs if j.resume is not None or not j.plan.empty]
    code = session.base_code()
    if not active:
        session.say("nothing to do")
        return session.finish(code, plans=shown)
    lockouts = [j.self_lockout for j in active if j.self_lockout]
    for text in lockouts:
        ui.warn(text)
    if session.dry_run:
        session.say("dry run: nothing was written")
        return session.finish(code, plans=shown)
    if not yes:
        steps = sum(len(j.plan.steps) for j in active)
        accounts = sorted({j.plan.account_id for j in active})
        where = f"account {accounts[0]}" if len(accounts) == 1 else f"{len(accounts)} accounts"
        question = f"Apply {steps} step(s) to {len(active)} principal(s) in {where}?"
        if lockouts:
            question = (
                "This denies the credentials phantomkeys is running with (see the "
                f"warning above). {question}"
            )
        if not confirm_writes(ui, question, yes=yes):
            raise RespondError(
                "not confirmed: nothing was written",
                hint="pass --yes to apply without the question",
            )
    runs = []
    try:
        for job in active:
            target = job.aws or session.aws
            run = apply_plan(
                target.ctx,
                job.plan,
                read_state=job.read_state,
                rebuild=job.rebuild,
                store=store,
                caller_arn=target.caller_arn,
                now=now,
                resume=job.resume,
                restores=job.restores,
            )
            runs.append(run)
            session.say(render_run(run))
    except ApplyError as exc:
        raise RespondError(str(exc)) from None
    except KeyboardInterrupt:
        raise RespondError(
            "interrupted: the journal records what was done",
            hint="run the same command again to continue where it stopped",
            code=ExitCode.INTERRUPTED,
        ) from None
    if any(r.status in (RunStatus.FAILED, RunStatus.DRIFT) for r in runs):
        code = ExitCode.WRITE_FAILED
    elif any(r.status is RunStatus.UNREADABLE for r in runs):
        code = ExitCode.INCOMPLETE
    return session.finish(int(code), runs=runs, plans=shown)
