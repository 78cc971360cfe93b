"""``cleanup``: delete orphaned phantom users completely, with backups.

The scan rates every key holder; :func:`phantomkeys.core.plans.select_for_cleanup`
decides who may go; each user's plan removes every ``DeleteUser`` prerequisite, then
the user. Interrupted runs resume only for users a first run would select. With an
Organization, the same in every member account through the org scan's assumed role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.plans import (
    Candidate,
    Plan,
    PlanError,
    State,
    UserState,
    build_cleanup_plan,
    select_for_cleanup,
)
from phantomkeys.respond.base import (
    Aws,
    Console,
    RespondError,
    candidates,
    candidates_from_identities,
    incomplete,
    now_utc,
    read_user,
    user_reader,
)
from phantomkeys.respond.jobs import Job, Response, Session, backup_store, run_jobs, warn_rejected
from phantomkeys.surfaces import SURFACES


@dataclass(frozen=True, slots=True)
class CleanupRequest:
    """Who ``cleanup`` may delete."""

    include_expired: bool = False
    older_than: int | None = None
    users: tuple[str, ...] = ()
    force: bool = False


def cleanup(
    aws: Aws,
    request: CleanupRequest,
    *,
    ui: Console,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    now: datetime,
    org_role: str | None = None,
) -> Response:
    """Select, plan, confirm and delete in ``aws``'s account (``org_role``: in every
    account of the Organization, through that role)."""
    if org_role is not None:
        return _cleanup_org(
            aws,
            ui=ui,
            dry_run=dry_run,
            yes=yes,
            backup_dir=backup_dir,
            now=now,
            include_expired=request.include_expired,
            older_than=request.older_than,
            users=request.users,
            force=request.force,
            role=org_role,
        )
    session = Session(command="cleanup", aws=aws, ui=ui, dry_run=dry_run)
    store = backup_store(backup_dir, ui)
    by_user, result = candidates(aws, now, ui)
    if result.incomplete:
        session.incomplete = True
    jobs = cleanup_jobs(
        session,
        by_user,
        now=now,
        include_expired=request.include_expired,
        older_than=request.older_than,
        users=request.users,
        force=request.force,
        store=store,
    )
    return run_jobs(session, jobs, yes=yes, backup_dir=backup_dir, now=now, store=store)


def cleanup_jobs(
    session: Session,
    by_user: dict[str, list[Candidate]],
    *,
    now: datetime,
    include_expired: bool,
    older_than: int | None,
    users: Sequence[str],
    force: bool,
    store: Any,
) -> list[Job]:
    """One account: select from the scan, add interrupted runs, read and plan each user.

    An interrupted run is resumed only for a user this command selects by the same
    rules as a first run (``--include-expired``, ``--user``, ``--force``), and its plan
    is derived again from the state saved before its first write, with this command's
    options; its files only say which steps were done. A user the scan no longer lists
    (half deleted) is resumed only when named with ``--user``.
    """
    from phantomkeys.aws.apply import ApplyError

    aws = session.aws
    flat = [c for cs in by_user.values() for c in cs]
    selection = select_for_cleanup(
        flat,
        users=users,
        include_expired=include_expired,
        older_than_days=older_than,
        force=force,
        at=now,
    )
    refused = [{"username": r.username, "reason": r.reason} for r in selection.refused]
    names = list(selection.selected)
    resumed: dict[str, Any] = {}
    try:
        pending_runs = store.pending(operation="cleanup", account_id=aws.account_id)
    except ApplyError as exc:
        raise RespondError(str(exc), code=ExitCode.WRITE_FAILED) from None
    warn_rejected(store, session.ui)
    for pending in pending_runs:
        name = pending.backup.plan.subject
        if name in resumed or (users and name not in users):
            continue
        if name in by_user:
            if name not in selection.selected:
                continue  # refused or passed over by the rules of a first run (said above)
        elif name not in users:
            # Half deleted, the scan no longer lists it: only by name, as a first run.
            session.say(
                f"not resumed: an interrupted cleanup of {name} (the scan no longer lists "
                f"it); finish it with --user {name}"
            )
            continue
        else:  # named, half deleted: the interrupted run is why it is not in the scan
            refused = [r for r in refused if r["username"] != name]
        resumed[name] = pending
        if name not in names:
            names.append(name)
    jobs: list[Job] = []
    for name in names:
        state = read_user(aws, name, now)
        if not state.complete:
            refused.append(
                {
                    "username": name,
                    "reason": f"could not be read completely ({incomplete(state)}): not deleted",
                }
            )
            continue
        allow_live = force and name in users
        pending = resumed.get(name)
        try:
            if pending is not None and isinstance(pending.backup.user, UserState):
                # the same builder, on the state saved before the run's first write
                plan = build_cleanup_plan(pending.backup.user, at=now, allow_live=allow_live)
            else:
                plan = build_cleanup_plan(state, at=now, allow_live=allow_live)
        except PlanError as exc:
            what = "its interrupted cleanup: " if pending is not None else ""
            refused.append({"username": name, "reason": f"{what}{exc}"})
            continue

        def rebuild(fresh: State, allow_live: bool = allow_live) -> Plan:
            assert isinstance(fresh, UserState)
            return build_cleanup_plan(fresh, at=now_utc(), allow_live=allow_live)

        jobs.append(
            Job(
                plan=plan,
                rebuild=rebuild,
                resume=pending,
                read_state=user_reader(aws, name),
                aws=aws,
            )
        )
    for r in refused:
        session.say(f"not cleaned up: {r['username']}: {r['reason']}")
        if r["reason"].startswith("status unknown") or "could not be read" in r["reason"]:
            session.incomplete = True
        elif r["username"] in users:
            session.refused_named = True
    for what, count in sorted(selection.passed_over.items()):
        session.say(f"left alone: {count} {what} user(s)")
    session.document["refused"] = refused
    session.document["passed_over"] = dict(selection.passed_over)
    if not names and not refused:
        session.say("no orphaned phantom users found")
    return jobs


def _cleanup_org(
    aws: Aws,
    *,
    ui: Console,
    dry_run: bool,
    yes: bool,
    backup_dir: str | None,
    now: datetime,
    include_expired: bool,
    older_than: int | None,
    users: Sequence[str],
    force: bool,
    role: str,
) -> Response:
    """The same cleanup in every member account, through the org scan's assumed role."""
    from phantomkeys.aws.org import OrgScanOptions, assumed_session, scan_organization
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.scan import assess_org_snapshot

    session_name = "phantomkeys-cleanup"
    ui.info("scanning the Organization…")
    org = scan_organization(
        aws.ctx,
        OrgScanOptions(surfaces=SURFACES, role=role, role_session_name=session_name),
        now=now,
    )
    session = Session(command="cleanup", aws=aws, ui=ui, dry_run=dry_run)
    store = backup_store(backup_dir, ui)
    accounts: list[dict[str, Any]] = []
    jobs: list[Job] = []
    for acct in assess_org_snapshot(org, at=now):
        entry: dict[str, Any] = {"account_id": acct.account_id, "status": acct.status}
        accounts.append(entry)
        if acct.status == "error" or acct.snapshot is None:
            session.incomplete = True
            entry["error"] = acct.error
            session.say(f"account {acct.account_id}: skipped ({acct.error})")
            continue
        if acct.account_id == aws.account_id:
            member = aws
        else:
            arn = f"arn:{aws.partition}:iam::{acct.account_id}:role/{role}"
            sess = assumed_session(aws.ctx, arn, session_name=session_name, external_id=None)
            member = Aws(
                ctx=AwsContext(session=sess, counter=aws.ctx.counter),
                account_id=acct.account_id,
                caller_arn=f"arn:{aws.partition}:sts::{acct.account_id}:assumed-role/"
                f"{role}/{session_name}",
            )
        sub = Session(command="cleanup", aws=member, ui=ui, dry_run=dry_run)
        sub.say(f"== account {acct.account_id} {acct.name}".rstrip())
        jobs += cleanup_jobs(
            sub,
            candidates_from_identities(acct.identities),
            now=now,
            include_expired=include_expired,
            older_than=older_than,
            users=users,
            force=force,
            store=store,
        )
        session.incomplete |= sub.incomplete or acct.status == "incomplete"
        session.refused_named |= sub.refused_named
        entry.update(refused=sub.document["refused"], passed_over=sub.document["passed_over"])
    session.document["accounts"] = accounts
    return run_jobs(session, jobs, yes=yes, backup_dir=backup_dir, now=now, store=store)
