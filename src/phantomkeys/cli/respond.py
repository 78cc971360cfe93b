"""``revoke``, ``cleanup``, ``restore`` and ``report``: incident response that is safe to run.

Every write goes through a plan (``core/plans.py``): it is printed, confirmed
(``--yes`` for automation, ``--dry-run`` stops after printing and writes
nothing), re-checked against a fresh read just before the first write, backed
up (the user's state directory, or ``--backup-dir``; 0600, tagged with the
user's integrity key) and journaled, so a rerun after a crash resumes. A
resumed run is derived again from the user's state and this command's options;
its files only say which steps were done.

Exit codes: 0 done (or nothing to do); 2 usage error, refusal or not
confirmed; 3 incomplete (a read failed, so something was not done or not
reported); 4 a write step failed or the state changed since the plan;
130 interrupted (the journal records what was done: rerun to continue).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from phantomkeys._meta import envelope
from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    aws_options,
    dumps_json,
    info,
    now_utc,
    output_dir_callback,
    output_option,
    resolve_format,
    warn,
    write_output,
)
from phantomkeys.cli.options import dry_run_option, regions_option, yes_option
from phantomkeys.core import target as core_target
from phantomkeys.core.keys import DecodedKey, KeyKind
from phantomkeys.core.plans import (
    Candidate,
    Operation,
    Outcome,
    Plan,
    PlanError,
    RevokeOptions,
    RoleState,
    SessionInfo,
    State,
    UserState,
    build_cleanup_plan,
    build_restore_plan,
    build_revoke_plan,
    build_session_revoke_plan,
    combined,
    key_holder_problem,
    select_for_cleanup,
)
from phantomkeys.surfaces import SURFACES

_IAM_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
#: Where backups went before they moved to the state directory (never read any more).
OLD_BACKUP_DIR = "phantomkeys-backups"


# ================================================================ shared options


def _write_options(f: Any) -> Any:
    options = [
        yes_option(),
        dry_run_option("Print the plan and stop: no backup, no write call."),
        click.option(
            "--backup-dir",
            metavar="DIR",
            default=None,
            type=click.Path(),
            callback=output_dir_callback,
            help="Where backups and journals are written (files 0600, tagged with your "
            "integrity key). Default: 'backups' in your phantomkeys state directory "
            "(e.g. ~/.local/state/phantomkeys/backups), never the current directory.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="text, or one JSON document with plans and outcomes.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return aws_options(f)


# ================================================================ AWS setup


@dataclass
class Aws:
    ctx: Any
    account_id: str
    caller_arn: str

    @property
    def partition(self) -> str:
        return self.caller_arn.split(":")[1] if self.caller_arn.count(":") >= 5 else "aws"


@contextmanager
def _aws_errors() -> Iterator[None]:
    """AWS setup problems as one clear line, never a traceback."""
    from phantomkeys.aws.session import (
        LOOKUP_ERRORS,
        SETUP_ERRORS,
        AwsSetupError,
        error_code,
        error_message,
    )

    try:
        yield
    except AwsSetupError as exc:
        raise UsageProblem(str(exc)) from None
    except SETUP_ERRORS as exc:
        raise UsageProblem(
            f"AWS credentials: {error_message(exc)}",
            hint="configure credentials (aws configure / aws sso login) or pass --profile",
        ) from None
    except LOOKUP_ERRORS as exc:
        raise UsageProblem(
            f"AWS call failed: {error_code(exc)}: {error_message(exc)[:200]}",
            code=ExitCode.INCOMPLETE,
        ) from None


def _connect(profile: str | None, region: str | None) -> Aws:
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.aws.state import caller_identity

    with _aws_errors():
        ctx = AwsContext.from_cli(profile, region)
        account, arn = caller_identity(ctx)
    return Aws(ctx=ctx, account_id=account, caller_arn=arn)


# ================================================================ targets


@dataclass(frozen=True, slots=True)
class Target:
    """What TARGET named: a user, or a decoded key (whose secret is never printed)."""

    text_kind: str  # user | long-term | short-term
    username: str | None = None
    key: DecodedKey | None = None
    from_stdin: bool = False

    def describe(self) -> str:
        if self.key is None:
            return f"user {self.username}"
        if self.key.kind is KeyKind.LONG_TERM:
            return f"long-term {self.key.surface.value} key of {self.key.username}"
        return (
            f"short-term {self.key.surface.value} key signed by "
            f"{self.key.access_key_id} ({self.key.region})"
        )

    def to_dict(self, at: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.text_kind, "username": self.username}
        if self.key is not None:
            out["key"] = self.key.to_dict(at=at)
        return out


def resolve_target(text: str, *, partition: str = "aws") -> Target:
    """TARGET -> user name or decoded key; ``-`` reads one key from stdin."""
    from_stdin = text == "-"
    if from_stdin:
        from phantomkeys.cli.stdin import read_stdin_key

        text = read_stdin_key(hint="pipe the key in: pbpaste | phantomkeys revoke -")
    try:
        found = core_target.resolve_target(
            text, partition=partition, key_only=from_stdin, prefix_means_key=True
        )
    except core_target.TargetError as exc:
        if exc.problem is core_target.TargetProblem.BAD_KEY:
            raise UsageProblem(f"TARGET is not a valid key: {exc.reason}") from None
        raise UsageProblem(
            f"TARGET {text.strip()[:40]!r} is neither an IAM user name nor a supported key",
            hint="pass a user name, a key, or '-' to read the key from stdin",
        ) from None
    key = found.key
    if key is not None:
        if not from_stdin:
            warn(
                "a key given as an argument stays in your shell history; prefer stdin (TARGET '-')"
            )
        kind = "long-term" if key.kind is KeyKind.LONG_TERM else "short-term"
        return Target(text_kind=kind, username=key.username, key=key, from_stdin=from_stdin)
    return Target(text_kind="user", username=found.username)


def _cross_account(key: DecodedKey, aws: Aws) -> UsageProblem:
    return UsageProblem(
        f"the key belongs to account {key.account_id}, but your credentials are for "
        f"account {aws.account_id}; refusing (--force does not override this: the same "
        "user name here would be a different user)",
        hint=f"use credentials for account {key.account_id} (--profile)",
    )


def _check_account(target: Target, aws: Aws) -> bool:
    """A key from another account is never acted on here: the same user name in this
    account is a different user (peer defect: revoking any user).

    Long-term keys carry their account: a mismatch is refused at once. A short-term
    key's account is derived heuristically (from the session token or the access key id;
    AWS documents neither), so a mismatch is only a suspicion (True): the caller must then
    prove the key is this account's (IAM owns the access key, or this account's CloudTrail
    saw it) or refuse.
    """
    key = target.key
    if key is None or key.account_id is None or key.account_id == aws.account_id:
        return False
    if key.kind is KeyKind.LONG_TERM:
        raise _cross_account(key, aws)
    return True


# ================================================================ scan


def _candidates(aws: Aws, now: datetime) -> tuple[dict[str, list[Candidate]], Any]:
    from phantomkeys.scan import scan_account

    info(f"scanning account {aws.account_id} for API-key holders…")
    with _aws_errors():
        # revoke, cleanup and report never trust the (up to 4 h old) credential
        # report: key holders' access keys, password, MFA, SSH keys and signing
        # certificates are read live (docs/aws-facts.md "Credential report").
        result, _snapshot = scan_account(aws.ctx, at=now, fresh=True)
    return candidates_from_identities(result.identities), result


def candidates_from_identities(identities: Sequence[Any]) -> dict[str, list[Candidate]]:
    """``core.assess.Identity`` values flattened into what the plan layer needs."""
    out: dict[str, list[Candidate]] = {}
    for i in identities:
        creds = i.credentials
        out.setdefault(i.username, []).append(
            Candidate(
                username=i.username,
                kind=str(i.kind.value),
                status=str(i.status.value),
                surface=str(i.surface.id.value),
                created=i.user.created,
                holds_key=None if creds is None else bool(creds),
                unknown_because=tuple(i.unknown_because),
            )
        )
    return out


def _read_user(aws: Aws, name: str, now: datetime, *, last_used: bool = False) -> UserState:
    from phantomkeys.aws.state import read_user_state

    with _aws_errors():
        return read_user_state(
            aws.ctx,
            name,
            account_id=aws.account_id,
            partition=aws.partition,
            now=now,
            last_used=last_used,
        )


def _read_role(aws: Aws, name: str, now: datetime) -> RoleState:
    from phantomkeys.aws.state import read_role_state

    with _aws_errors():
        return read_role_state(
            aws.ctx, name, account_id=aws.account_id, partition=aws.partition, now=now
        )


def _user_reader(aws: Aws, name: str) -> Callable[[], State]:
    """Re-reads ``name`` at call time (just before applying)."""

    def read() -> State:
        return _read_user(aws, name, now_utc())

    return read


def _role_reader(aws: Aws, name: str) -> Callable[[], State]:
    def read() -> State:
        return _read_role(aws, name, now_utc())

    return read


def _incomplete(state: State) -> str:
    return "; ".join(f"{f.operation}: {f.error_code}" for f in state.failures[:3])


# ================================================================ rendering


_OUTCOME_MARK = {
    Outcome.APPLIED: "applied",
    Outcome.ALREADY_DONE: "already-done",
    Outcome.SKIPPED: "skipped",
    Outcome.FAILED: "FAILED",
}


def render_plan(plan: Plan, *, resumed: str | None = None) -> str:
    lines = []
    what = f"{plan.operation.value} {plan.subject_type} {plan.subject} in account {plan.account_id}"
    if resumed:
        lines.append(f"{what}: resuming {resumed}")
    if plan.empty:
        lines.append(f"{what}: nothing to do")
    else:
        lines.append(f"{what}: {len(plan.steps)} step(s)")
        width = max(len(s.action) for s in plan.steps)
        for n, s in enumerate(plan.steps, 1):
            lines.append(f"  {n:>2}. {s.action:<{width}}  {s.description}")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    for item in plan.cannot_undo:
        lines.append(f"  cannot be undone: {item}")
    for item in plan.not_restorable:
        lines.append(f"  cannot come back: {item}")
    return "\n".join(lines)


def render_run(run: Any) -> str:
    from phantomkeys.aws.apply import RunStatus

    lines = []
    if run.status is RunStatus.DRIFT:
        lines.append(
            f"STOPPED {run.plan.subject}: the state changed since the plan; nothing "
            "more was written:"
        )
        lines += [f"  - {d}" for d in run.drift]
        if run.fresh_plan is not None:
            lines.append("fresh plan (review it, then run the command again):")
            lines.append(render_plan(run.fresh_plan))
        if run.message:
            lines.append(f"  {run.message}")
        return "\n".join(lines)
    if run.status is RunStatus.UNREADABLE:
        return f"STOPPED {run.plan.subject}: {run.message}"
    if run.status is RunStatus.NOTHING:
        return f"{run.plan.subject}: nothing to do"
    width = max((len(r.step.action) for r in run.results), default=10)
    lines.append(
        f"{run.plan.operation.value} {run.plan.subject}: {run.status.value}"
        + (" (resumed)" if run.resumed else "")
    )
    for n, r in enumerate(run.results, 1):
        tail = f" — {r.error_code}: {r.message}" if r.outcome is Outcome.FAILED else ""
        lines.append(
            f"  {_OUTCOME_MARK[r.outcome]:<12} {n:>2}. {r.step.action:<{width}}  "
            f"{r.step.description}{tail}"
        )
    if run.backup_path:
        lines.append(f"  backup:  {run.backup_path}")
        lines.append(f"  journal: {run.journal_path}")
    if any(r.outcome is Outcome.FAILED for r in run.results):
        lines.append(
            "  fix the cause and run the same command again: it continues from the journal"
        )
    return "\n".join(lines)


# ================================================================ plan execution


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
    """One command's plans, refusals and outcome, rendered as text or one JSON document."""

    command: str
    aws: Aws
    fmt: str
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
        if self.fmt == "text":
            click.echo(text)

    def finish(self, code: int, runs: Sequence[Any] = (), plans: Sequence[Plan] = ()) -> None:
        if self.fmt == "json":
            doc = envelope(
                metadata={
                    "command": self.command,
                    "account_id": self.aws.account_id,
                    "caller_arn": self.aws.caller_arn,
                    "dry_run": self.dry_run,
                    "exit_code": code,
                    "api_calls": self.aws.ctx.counter.snapshot(),
                },
                **self.document,
                plans=[p.to_dict() for p in plans],
                runs=[r.to_dict() for r in runs],
            )
            write_output(dumps_json(doc), None)
        sys.exit(code)


def _find_resume(store: Any, plan: Plan) -> Any:
    found = store.pending(
        operation=plan.operation.value,
        account_id=plan.account_id,
        subject=plan.subject,
        intent_key=plan.intent_key,
    )
    _warn_rejected(store)
    return found[0] if found else None


_WARNED: set[Path] = set()


def _warn_rejected(store: Any) -> None:
    """Backups and journals that did not verify: never resumed, said once per file."""
    for path, reason in sorted(store.rejected.items()):
        if path not in _WARNED:
            _WARNED.add(path)
            warn(f"ignoring {reason}; it is never resumed")


def backup_store(backup_dir: str | None) -> Any:
    """The one place the backup directory is decided (and printed, on every run)."""
    from phantomkeys.aws.apply import BackupStore, default_backup_dir

    root = Path(backup_dir) if backup_dir else default_backup_dir()
    info(f"backups and journals: {root}")
    if backup_dir is None and Path(OLD_BACKUP_DIR).is_dir():
        warn(
            f"./{OLD_BACKUP_DIR} (the old default folder) is no longer read: its runs are "
            "not resumed from there; restore from it with --allow-unverified if you need "
            "to, and keep it out of version control"
        )
    return BackupStore(root)


def run_jobs(
    session: Session,
    jobs: list[Job],
    *,
    yes: bool,
    backup_dir: str | None,
    now: datetime,
    store: Any = None,
) -> None:
    """Print, confirm, apply; exit with the documented code. Never returns."""
    from phantomkeys.aws.apply import ApplyError, RunStatus, apply_plan

    if store is None:
        store = backup_store(backup_dir)
    try:
        for job in jobs:
            if job.resume is None:  # reading the journals is harmless in a dry run too
                job.resume = _find_resume(store, job.plan)
    except ApplyError as exc:
        raise UsageProblem(str(exc), code=ExitCode.WRITE_FAILED) from None
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
        session.finish(code, plans=shown)
    lockouts = [j.self_lockout for j in active if j.self_lockout]
    for text in lockouts:
        warn(text)
    if session.dry_run:
        session.say("dry run: nothing was written")
        session.finish(code, plans=shown)
    if not yes:
        steps = sum(len(j.plan.steps) for j in active)
        try:
            accounts = sorted({j.plan.account_id for j in active})
            where = f"account {accounts[0]}" if len(accounts) == 1 else f"{len(accounts)} accounts"
            question = f"Apply {steps} step(s) to {len(active)} principal(s) in {where}?"
            if lockouts:
                question = (
                    "This denies the credentials phantomkeys is running with (see the "
                    f"warning above). {question}"
                )
            ok = click.confirm(question, default=False, err=True)
        except click.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None  # Ctrl-C at the question: exit 130
            ok = False
        if not ok:
            raise UsageProblem(
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
        raise UsageProblem(str(exc)) from None
    except KeyboardInterrupt:
        raise UsageProblem(
            "interrupted: the journal records what was done",
            hint="run the same command again to continue where it stopped",
            code=130,
        ) from None
    if any(r.status in (RunStatus.FAILED, RunStatus.DRIFT) for r in runs):
        code = ExitCode.WRITE_FAILED
    elif any(r.status is RunStatus.UNREADABLE for r in runs):
        code = ExitCode.INCOMPLETE
    session.finish(int(code), runs=runs, plans=shown)


# ================================================================ revoke


@click.command("revoke")
@click.argument("target", metavar="TARGET")
@_write_options
@click.option(
    "--deny/--no-deny",
    default=None,
    help="Inline deny of bearer-token use (default: on; for an AKIA-signed "
    "short-term key off, offered).",
)
@click.option(
    "--api-keys/--no-api-keys",
    default=True,
    show_default=True,
    help="Deactivate the user's API keys (Bedrock and Claude Platform).",
)
@click.option(
    "--delete-credentials",
    is_flag=True,
    help="Delete the API keys instead of deactivating them (cannot be undone).",
)
@click.option(
    "--access-keys/--no-access-keys",
    default=None,
    help="Deactivate the user's access keys (default: on for phantom users, off for human users).",
)
@click.option(
    "--console/--no-console",
    default=None,
    help="Disable console access by deleting the login profile (default: on for "
    "phantom users, off for human users).",
)
@click.option(
    "--all-sessions",
    is_flag=True,
    help="Short-term key: deny every session of the role or user issued before now, "
    "not only the one that signed the key.",
)
@click.option(
    "--role",
    "role_name",
    metavar="ROLE",
    help="Short-term key: the role that issued it, when CloudTrail cannot tell.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Revoke even when the user is not a key holder found by the scan, or the "
    "short-term key has already expired.",
)
def revoke(
    target: str,
    profile: str | None,
    region: str | None,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    fmt: str,
    deny: bool | None,
    api_keys: bool,
    delete_credentials: bool,
    access_keys: bool | None,
    console: bool | None,
    all_sessions: bool,
    role_name: str | None,
    force: bool,
) -> None:
    """Emergency revocation of a key, or of a user's keys.

    \b
    TARGET is a user name, a long-term key, a short-term key, or '-' (read the
    key from stdin so it stays out of your shell history).

    \b
    Long-term key or user: add the inline deny PhantomKeysRevoke on bearer-token
    use (bedrock, bedrock-mantle, Claude Platform; one policy per user, updated
    in place), deactivate its API keys (--delete-credentials deletes them),
    deactivate its access keys, disable console access. Refused when the key's
    account is not yours, or the user is not a key holder found by the scan
    (unless --force).

    \b
    Short-term key signed by an ASIA session: CloudTrail (in the key's own
    region) names the role session; an aws:TokenIssueTime deny narrowed to that
    session (aws:userid) ends it while the role's other sessions keep working.
    SSO and service-linked roles: explains what to do instead.
    Short-term key signed by an AKIA access key: deactivates that access key.

    Prints the plan, asks, backs up, applies; a rerun resumes an interrupted run.
    Undo what AWS allows with: phantomkeys restore BACKUP.
    """
    now = now_utc()
    tgt = resolve_target(target)
    aws = _connect(profile, region)
    suspect = _check_account(tgt, aws)
    session = Session(command="revoke", aws=aws, fmt=fmt, dry_run=dry_run)
    session.document["target"] = tgt.to_dict(now)
    key = tgt.key
    if key is not None and key.kind is KeyKind.SHORT_TERM:
        job = _short_term_job(
            session,
            key,
            now=now,
            deny=deny,
            all_sessions=all_sessions,
            role_name=role_name,
            force=force,
            other_account=suspect,
        )
    else:
        assert tgt.username is not None
        job = _long_term_job(
            session,
            tgt,
            now=now,
            force=force,
            opts=RevokeOptions(
                deny=True if deny is None else deny,
                api_keys=api_keys,
                delete_credentials=delete_credentials,
                access_keys=access_keys is not False,
                console=console is not False,
            ),
            explicit_access_keys=access_keys,
            explicit_console=console,
        )
    job.self_lockout = _self_lockout(aws, key, job.plan)
    run_jobs(session, [job], yes=yes, backup_dir=backup_dir, now=now)


def _caller_access_key_id(aws: Aws) -> str | None:
    """The access key id of the credentials this process signs its calls with."""
    from phantomkeys.aws.session import signing_access_key_id

    return signing_access_key_id(aws.ctx)


def _self_lockout(aws: Aws, key: DecodedKey | None, plan: Plan) -> str | None:
    """Why this revocation would deny the very credentials running phantomkeys (or None)."""
    own = _caller_access_key_id(aws)
    if key is not None and key.kind is KeyKind.SHORT_TERM and own and key.access_key_id == own:
        return (
            f"the key was signed by the credentials you are running phantomkeys with "
            f"(access key {own}): revoking it denies this very session, so anything after "
            "it (and a restore) needs other credentials"
        )
    if own and any(s.params.get("AccessKeyId") == own for s in plan.steps):
        return (
            f"this deactivates access key {own}, the one you are running phantomkeys with: "
            "anything after it (and a restore) needs other credentials"
        )
    if (
        plan.subject_type == "role"
        and plan.intent.get("all_sessions")
        and f":assumed-role/{plan.subject}/" in aws.caller_arn
        and not plan.empty
    ):
        return (
            f"you are running phantomkeys in a session of role {plan.subject}: denying all "
            "its sessions issued before now denies yours too"
        )
    return None


def _plan_or_refuse(build: Callable[[], Plan]) -> Plan:
    try:
        return build()
    except PlanError as exc:
        raise UsageProblem(str(exc)) from None


def _long_term_job(
    session: Session,
    tgt: Target,
    *,
    now: datetime,
    force: bool,
    opts: RevokeOptions,
    explicit_access_keys: bool | None,
    explicit_console: bool | None,
) -> Job:
    aws = session.aws
    name = tgt.username
    assert name is not None
    by_user, _result = _candidates(aws, now)
    found = by_user.get(name, [])
    problem = key_holder_problem(found, name)
    state = _read_user(aws, name, now)
    if state.complete and not state.exists:
        if tgt.key is None:
            raise UsageProblem(f"IAM user {name} does not exist in account {aws.account_id}")
        session.say(
            f"IAM user {name} does not exist in account {aws.account_id}: the key "
            "cannot be used any more; nothing to revoke"
        )
        session.finish(ExitCode.OK)
    if problem:
        if not force:
            raise UsageProblem(
                f"refusing to revoke: {problem}",
                hint="pass --force to revoke it anyway (it is not a known "
                "API-key holder, so check the name first)",
            )
        warn(f"--force: {problem}; revoking anyway")
    is_human = not found or combined(found).kind == "human"
    if is_human:
        # A person's access keys and console are not what leaked: only on request.
        opts = replace(opts, access_keys=bool(explicit_access_keys), console=bool(explicit_console))
    if not state.complete:
        raise UsageProblem(
            f"cannot read {name} completely ({_incomplete(state)}); nothing was written",
            code=ExitCode.INCOMPLETE,
        )
    alias = None
    if tgt.key is not None and tgt.key.username:
        # the credential's public alias is "<user>[+N]-at-<account>" (key_marker is "+N")
        alias = f"{tgt.key.username}{tgt.key.key_marker or ''}-at-{tgt.key.account_id}"
    plan = _plan_or_refuse(lambda: build_revoke_plan(state, opts, at=now, leaked_alias=alias))
    if is_human:
        plan = replace(
            plan,
            notes=(
                *plan.notes,
                f"{name} is a human user: its access keys and "
                "console stay untouched unless you pass --access-keys / "
                "--console",
            ),
        )

    def rebuild(fresh: State) -> Plan:
        assert isinstance(fresh, UserState)
        return build_revoke_plan(fresh, opts, at=now_utc(), leaked_alias=alias)

    return Job(plan=plan, read_state=lambda: _read_user(aws, name, now_utc()), rebuild=rebuild)


def _short_term_job(
    session: Session,
    key: DecodedKey,
    *,
    now: datetime,
    deny: bool | None,
    all_sessions: bool,
    role_name: str | None,
    force: bool,
    other_account: bool = False,
) -> Job:
    from phantomkeys.aws.state import (
        LOOKUP_RETENTION,
        access_key_owner,
        lookup_events,
        role_path_from_arn,
        session_from_events,
    )
    from phantomkeys.core.plans import session_guidance

    aws = session.aws
    akid = key.access_key_id
    assert akid is not None
    if key.expired(now) and not force:
        session.say(
            f"the key expired at {key.expires_at:%Y-%m-%dT%H:%M:%SZ}: it no longer "
            "works and there is nothing to revoke (pass --force to act anyway)"
        )
        session.finish(ExitCode.OK)
    if key.access_key_type == "AKIA":
        # Signed with an IAM user's long-term access key (peer defect: rejected).
        owner, err = access_key_owner(aws.ctx, akid)
        if owner is None:
            if other_account:
                raise _cross_account(key, aws)
            raise UsageProblem(
                f"access key {akid} that signed the key is not an access key of "
                f"account {aws.account_id} ({err})",
                code=ExitCode.INCOMPLETE if err not in ("NoSuchEntity",) else ExitCode.USAGE,
            )
        if other_account:
            warn(
                f"the account derived from {akid} ({key.account_id}) is wrong: IAM user "
                f"{owner} of this account owns the access key"
            )
        opts = RevokeOptions(
            deny=bool(deny),
            api_keys=False,
            console=False,
            access_keys=True,
            only_access_key_ids=(akid,),
        )
        state = _read_user(aws, owner, now)
        if not state.complete:
            raise UsageProblem(
                f"cannot read {owner} completely ({_incomplete(state)})", code=ExitCode.INCOMPLETE
            )
        plan = _plan_or_refuse(lambda: build_revoke_plan(state, opts, at=now))
        extra = (
            f"The key was signed with access key {akid} of IAM user {owner}: deactivating "
            "it invalidates every token and request signed with it."
        )
        if not deny:
            extra += (
                " A deny on bearer-token use by this user is available with --deny "
                f"(it stops every API key of {owner})."
            )
        plan = replace(plan, notes=(extra, *plan.notes))

        def rebuild_user(fresh: State) -> Plan:
            assert isinstance(fresh, UserState)
            return build_revoke_plan(fresh, opts, at=now_utc())

        return Job(
            plan=plan, read_state=lambda: _read_user(aws, owner, now_utc()), rebuild=rebuild_user
        )

    region = key.region or aws.ctx.region
    info(
        f"looking up {akid} in CloudTrail ({region}, management events of the last 90 days; "
        "LookupEvents allows 2 requests/s)…"
    )
    lookup = lookup_events(
        aws.ctx,
        region=region,
        attribute="AccessKeyId",
        value=akid,
        start=now - LOOKUP_RETENTION,
        end=now,
        max_events=50,
    )
    found = session_from_events(lookup.events, akid)
    if found is None and other_account:
        raise _cross_account(key, aws)
    if found is not None and other_account:
        warn(
            f"the account derived from {akid} ({key.account_id}) is wrong: this account's "
            "CloudTrail saw the key"
        )
    if found is None:
        where = (
            f"CloudTrail lookup failed in {region} ({lookup.error})"
            if lookup.error
            else f"CloudTrail has no event for {akid} in {region} in the last 90 days"
        )
        if role_name is None:
            raise UsageProblem(
                f"{where}: cannot tell which role session signed the key",
                hint="if you know the role: --role ROLE --all-sessions (denies every session "
                "of that role issued before now)",
                code=ExitCode.INCOMPLETE,
            )
        warn(f"{where}; using --role {role_name}")
        found = SessionInfo(
            principal_type="AssumedRole",
            principal_name=role_name,
            access_key_id=akid,
            source="--role",
        )
    elif role_name is not None and role_name != found.principal_name:
        raise UsageProblem(
            f"CloudTrail says {akid} belongs to {found.principal_type} "
            f"{found.principal_name}, not --role {role_name}"
        )
    session.document["session"] = found.to_dict()
    if found.principal_type == "AssumedRole":
        guidance = session_guidance(
            found.principal_name, role_path_from_arn(found.principal_arn), expires_at=key.expires_at
        )
        if guidance:
            raise UsageProblem(f"not revoking: {guidance}")
        principal: State = _read_role(aws, found.principal_name, now)
        read = _role_reader(aws, found.principal_name)
    else:
        if found.principal_id is None and not all_sessions:
            raise UsageProblem(
                f"the key was issued by {found.principal_type} {found.principal_name} "
                "(GetSessionToken/GetFederationToken): its sessions cannot be told apart in a "
                "policy, so the deny would end every temporary session of the user issued before "
                "now (its long-term access keys keep working)",
                hint="pass --all-sessions to do that",
            )
        principal = _read_user(aws, found.principal_name, now)
        read = _user_reader(aws, found.principal_name)
    if not principal.complete:
        raise UsageProblem(
            f"cannot read {found.principal_name} completely "
            f"({_incomplete(principal)}); nothing was written",
            code=ExitCode.INCOMPLETE,
        )
    session_info = found
    plan = _plan_or_refuse(
        lambda: build_session_revoke_plan(
            principal, session_info, at=now, all_sessions=all_sessions, expires_at=key.expires_at
        )
    )

    def rebuild(fresh: State) -> Plan:
        return build_session_revoke_plan(
            fresh, session_info, at=now_utc(), all_sessions=all_sessions, expires_at=key.expires_at
        )

    return Job(plan=plan, read_state=read, rebuild=rebuild)


# ================================================================ cleanup


@click.command("cleanup")
@_write_options
@click.option(
    "--include-expired",
    is_flag=True,
    help="Also delete users whose API keys have all expired or are inactive.",
)
@click.option(
    "--older-than",
    "older_than",
    type=click.IntRange(0),
    metavar="DAYS",
    help="Only users created more than DAYS days ago.",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME",
    help="Only this user (repeatable). Needed, with --force, for active/at-risk or human users.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --user: also delete active / at-risk / human users (never unknown).",
)
@click.option("--org", is_flag=True, help="Every account of the Organization (via --role).")
@click.option(
    "--role",
    "org_role",
    default="OrganizationAccountAccessRole",
    show_default=True,
    help="--org: role to assume in each member account.",
)
def cleanup(
    profile: str | None,
    region: str | None,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    fmt: str,
    include_expired: bool,
    older_than: int | None,
    users: tuple[str, ...],
    force: bool,
    org: bool,
    org_role: str,
) -> None:
    """Delete orphaned phantom users completely, with backups.

    \b
    Default: the users the scan rates 'orphaned' (no API key, no access key,
    no password, no extra permissions). --include-expired adds 'expired' ones.
    'unknown' users (a lookup failed) are never touched; 'active' and
    'at-risk' users only when named with --user and --force.

    \b
    Each user loses every DeleteUser prerequisite in order — login profile,
    access keys, signing certificates, SSH keys, every service's credentials,
    MFA devices, inline and attached policies, groups, boundary — then the
    user. The state is re-read just before deleting; a change stops that user.
    Restore what AWS allows with: phantomkeys restore BACKUP.
    """
    if force and not users:
        raise UsageProblem("--force needs --user NAME: live users are deleted only by name")
    bad = [u for u in users if not _IAM_NAME_RE.match(u)]
    if bad:
        raise UsageProblem(f"--user {bad[0][:40]!r} is not a valid IAM user name")
    now = now_utc()
    aws = _connect(profile, region)
    if org:
        _cleanup_org(
            aws,
            fmt=fmt,
            dry_run=dry_run,
            yes=yes,
            backup_dir=backup_dir,
            now=now,
            include_expired=include_expired,
            older_than=older_than,
            users=users,
            force=force,
            role=org_role,
        )
        return
    session = Session(command="cleanup", aws=aws, fmt=fmt, dry_run=dry_run)
    store = backup_store(backup_dir)
    by_user, result = _candidates(aws, now)
    if result.incomplete:
        session.incomplete = True
    jobs = cleanup_jobs(
        session,
        by_user,
        now=now,
        include_expired=include_expired,
        older_than=older_than,
        users=users,
        force=force,
        store=store,
    )
    run_jobs(session, jobs, yes=yes, backup_dir=backup_dir, now=now, store=store)


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
        raise UsageProblem(str(exc), code=ExitCode.WRITE_FAILED) from None
    _warn_rejected(store)
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
        state = _read_user(aws, name, now)
        if not state.complete:
            refused.append(
                {
                    "username": name,
                    "reason": f"could not be read completely ({_incomplete(state)}): not deleted",
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
                read_state=_user_reader(aws, name),
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
    fmt: str,
    dry_run: bool,
    yes: bool,
    backup_dir: str | None,
    now: datetime,
    include_expired: bool,
    older_than: int | None,
    users: Sequence[str],
    force: bool,
    role: str,
) -> None:
    """The same cleanup in every member account, through the org scan's assumed role."""
    from phantomkeys.aws.org import OrgScanOptions, assumed_session, scan_organization
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.scan import assess_org_snapshot

    session_name = "phantomkeys-cleanup"
    info("scanning the Organization…")
    with _aws_errors():
        org = scan_organization(
            aws.ctx,
            OrgScanOptions(surfaces=SURFACES, role=role, role_session_name=session_name),
            now=now,
        )
    session = Session(command="cleanup", aws=aws, fmt=fmt, dry_run=dry_run)
    store = backup_store(backup_dir)
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
            with _aws_errors():
                arn = f"arn:{aws.partition}:iam::{acct.account_id}:role/{role}"
                sess = assumed_session(aws.ctx, arn, session_name=session_name, external_id=None)
            member = Aws(
                ctx=AwsContext(session=sess, counter=aws.ctx.counter),
                account_id=acct.account_id,
                caller_arn=f"arn:{aws.partition}:sts::{acct.account_id}:assumed-role/"
                f"{role}/{session_name}",
            )
        sub = Session(command="cleanup", aws=member, fmt=fmt, dry_run=dry_run)
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
    run_jobs(session, jobs, yes=yes, backup_dir=backup_dir, now=now, store=store)


# ================================================================ restore


@click.command("restore")
@click.argument("backup_file", metavar="BACKUP", type=click.Path(dir_okay=False))
@_write_options
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Accept a backup whose integrity tag, owner or mode does not check out (one "
    "copied from another machine or user, or written before backups were tagged). Its "
    "steps are still derived from its saved state and checked against it; a plan that "
    "disagrees with the state is refused all the same.",
)
def restore(
    backup_file: str,
    profile: str | None,
    region: str | None,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    fmt: str,
    allow_unverified: bool,
) -> None:
    """Undo what a revoke, cleanup or deploy (scp, alerts) backup allows.

    \b
    BACKUP is the backup file, or its journal (NAME.journal.jsonl, next to it):
    the backup next to the journal is used, and the command says so.

    \b
    Re-creates the user (path, tags, boundary), its inline and attached
    policies and groups, re-uploads SSH keys and signing certificates,
    re-activates the API keys and access keys a revoke deactivated, and removes
    the deny a revoke added. Lists what cannot come back: deleted key secrets,
    console passwords, MFA seeds. Plan, confirmation, backup and journal as for
    every write.

    \b
    Every step is derived from the state saved in the backup, never from the
    plan written in it: a plan that disagrees with that state (an added step, a
    renamed subject, a policy the user never had) is refused (exit 4), and so is
    a backup whose integrity tag, owner or mode is wrong, unless
    --allow-unverified. A malformed file exits 2.
    """
    from phantomkeys.aws.apply import ApplyError, open_backup
    from phantomkeys.cli.controls_restore import restore_controls
    from phantomkeys.core.plans import verified_run_steps

    now = now_utc()
    try:
        loaded = open_backup(Path(backup_file))
    except ApplyError as exc:  # missing, unreadable or malformed: bad input
        raise UsageProblem(str(exc)) from None
    backup = loaded.backup
    if loaded.from_journal is not None:
        info(f"{backup_file} is a journal: using its backup {loaded.path}")
    if loaded.untrusted is not None:
        if not allow_unverified:
            raise UsageProblem(
                f"refusing to restore: {loaded.untrusted}",
                hint="if you know where this backup comes from, pass --allow-unverified "
                "(its steps are still derived from its saved state)",
                code=ExitCode.WRITE_FAILED,
            )
        warn(f"--allow-unverified: {loaded.untrusted}; its steps are derived from its state")
    if backup.controls is None:  # an IAM run: its steps must follow from its saved state
        try:
            verified_run_steps(backup)
        except PlanError as exc:
            raise UsageProblem(
                f"refusing to restore {loaded.path}: {exc}", code=ExitCode.WRITE_FAILED
            ) from None
    aws = _connect(profile, region)
    if backup.plan.account_id != aws.account_id:
        raise UsageProblem(
            f"the backup is for account {backup.plan.account_id}, but your "
            f"credentials are for account {aws.account_id}",
            hint=f"use credentials for account {backup.plan.account_id}",
            code=ExitCode.WRITE_FAILED,
        )
    session = Session(command="restore", aws=aws, fmt=fmt, dry_run=dry_run)
    session.document["backup"] = {
        "path": str(loaded.path),
        "given": backup_file,
        "verified": loaded.untrusted is None,
        "run_id": backup.run_id,
        "operation": backup.operation.value,
        "subject": backup.plan.subject,
    }
    if backup.controls is not None:  # an SCP or alerts deploy: cli/controls_restore.py
        return restore_controls(session, backup, yes=yes, backup_dir=backup_dir, now=now)
    name = backup.plan.subject
    if backup.plan.subject_type == "role":

        def read() -> State:
            return _read_role(aws, name, now_utc())
    else:

        def read() -> State:
            return _read_user(aws, name, now_utc())

    current = read()
    if not current.complete:
        raise UsageProblem(
            f"cannot read {name} completely ({_incomplete(current)})", code=ExitCode.INCOMPLETE
        )
    try:
        plan = build_restore_plan(backup, current, at=now)
    except PlanError as exc:  # a safety check: the backup does not fit what is there now
        raise UsageProblem(f"refusing to restore: {exc}", code=ExitCode.WRITE_FAILED) from None
    if backup.operation is Operation.CLEANUP and plan.empty and not plan.not_restorable:
        session.say(f"{name} is already as it was before the cleanup")

    def rebuild(fresh: State) -> Plan:
        return build_restore_plan(backup, fresh, at=now_utc())

    run_jobs(
        session,
        [Job(plan=plan, read_state=read, rebuild=rebuild, restores=backup.run_id)],
        yes=yes,
        backup_dir=backup_dir,
        now=now,
    )


# ================================================================ report


@click.command("report")
@click.argument("target", metavar="TARGET")
@aws_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@output_option()
@regions_option(
    dest="trail_regions",
    help="Also look for activity in these regions (comma-separated or repeated; us-east-1, "
    "where IAM events are recorded, and your region are always read).",
    old=["--trail-region"],
    allow_all=False,
)
@click.option(
    "--max-events",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="At most this many CloudTrail events per lookup.",
)
@click.option("--no-activity", is_flag=True, help="Skip CloudTrail (no LookupEvents calls).")
def report(
    target: str,
    profile: str | None,
    region: str | None,
    fmt: str,
    output: str | None,
    trail_regions: tuple[str, ...],
    max_events: int,
    no_activity: bool,
) -> None:
    """Incident report for one user or key.

    \b
    The decoded key (never its secret), the identity behind it, its status,
    credentials and capabilities from the scan, recent activity from CloudTrail
    LookupEvents (management events of the last 90 days, 2 requests/s per
    region; data events such as Claude Platform inference are not there), and
    the commands to run next.

    A user that is not there is "deleted" only when CloudTrail shows its
    DeleteUser call (time and caller are in the report); otherwise it is "not
    found" (a typo, or a name in the wrong case): exit 2 and no report.

    Exit 0 when everything was read, 2 when the user is not found, 3 when some
    part could not be read (the report says which).
    """
    now = now_utc()
    tgt = resolve_target(target)
    aws = _connect(profile, region)
    doc, problems = build_incident(
        aws,
        tgt,
        now=now,
        trail_regions=trail_regions,
        max_events=max_events,
        activity=not no_activity,
    )
    if doc.get("status") == "not-found":
        raise _not_found(doc, tgt)
    fmt = resolve_format(fmt)
    if fmt == "json":
        text = dumps_json(doc)
    elif fmt == "markdown":
        text = render_incident_markdown(doc)
    else:
        text = render_incident_text(doc)
    write_output(text, output)
    if problems:
        warn(f"incomplete report: {'; '.join(problems[:3])}")
        sys.exit(ExitCode.INCOMPLETE)


def build_incident(
    aws: Aws,
    tgt: Target,
    *,
    now: datetime,
    trail_regions: Sequence[str],
    max_events: int,
    activity: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The report document, and what could not be read (empty when complete)."""
    from phantomkeys.aws.state import (
        LOOKUP_RETENTION,
        access_key_owner,
        lookup_events,
        session_from_events,
    )

    problems: list[str] = []
    key = tgt.key
    doc: dict[str, Any] = {"target": tgt.to_dict(now)}
    lookups: list[dict[str, Any]] = []
    recommended: list[str] = []
    username = tgt.username
    key_in_stdin = "phantomkeys revoke -   (paste the key on stdin)"
    if key is not None and key.account_id and key.account_id != aws.account_id:
        problems.append(
            f"the key belongs to account {key.account_id}; your credentials are for "
            f"account {aws.account_id}, so nothing was read from AWS"
        )
        recommended.append(f"rerun with credentials for account {key.account_id} (--profile)")
        doc.update(status=None, identity=None)
        return _incident_envelope(aws, doc, lookups, recommended, problems, now), problems

    if key is not None and key.kind is KeyKind.SHORT_TERM:
        akid = key.access_key_id or ""
        expired = key.expired(now)
        doc["short_term"] = {
            "access_key_id": akid,
            "access_key_type": key.access_key_type,
            "region": key.region,
            "expired": expired,
            "expires_at": key.to_dict(at=now).get("expires_at"),
        }
        trail = None
        if activity and key.region:
            trail = lookup_events(
                aws.ctx,
                region=key.region,
                attribute="AccessKeyId",
                value=akid,
                start=now - LOOKUP_RETENTION,
                end=now,
                max_events=max_events,
            )
            lookups.append(trail.to_dict())
            if trail.error:
                problems.append(f"CloudTrail {key.region}: {trail.error}")
        if key.access_key_type == "AKIA":
            owner, err = access_key_owner(aws.ctx, akid)
            if owner is None:
                problems.append(f"owner of access key {akid} could not be read ({err})")
            username = owner
            doc["signer"] = {"type": "IAMUser", "name": owner, "access_key_id": akid}
            if not expired and owner:
                recommended.append(f"{key_in_stdin}  # deactivates access key {akid} of {owner}")
        else:
            found = session_from_events(trail.events, akid) if trail else None
            doc["signer"] = found.to_dict() if found else None
            if found is None and trail is not None and not trail.error:
                problems.append(
                    f"no CloudTrail event names the session of {akid} in "
                    f"{key.region}; its issuer is unknown"
                )
            if not expired:
                recommended.append(
                    f"{key_in_stdin}  # denies the issuing session (aws:TokenIssueTime)"
                )
            username = None
        if expired:
            recommended.append("the key has expired: nothing to revoke; review its activity")

    identities: list[Any] = []
    if username:
        by_user, result = _candidates(aws, now)
        identities = [i for i in result.identities if i.username == username]
        found_c = by_user.get(username, [])
        state = _read_user(aws, username, now, last_used=True)
        deletions: list[Any] = []
        if not state.complete:
            problems.append(f"{username}: {_incomplete(state)}")
        status = combined(found_c).status if found_c else None
        if not state.exists and state.complete:
            status = "deleted"
        for i in identities:
            problems += [f"{username}: {r}" for r in i.unknown_because]
        doc["identity"] = {
            "username": username,
            "exists": state.exists,
            "arn": state.arn or None,
            "created": state.to_dict()["created"],
            "kind": (combined(found_c).kind if found_c else None),
            "found_by_scan": bool(found_c),
            "status": status,
            "scan": [i.to_dict(now) for i in identities],
            "state": {
                k: v
                for k, v in state.to_dict().items()
                if k not in ("signing_certificates", "ssh_public_keys")
            },
            "ssh_public_keys": len(state.ssh_public_keys),
            "signing_certificates": len(state.signing_certificates),
        }
        doc["status"] = status
        doc["findings"] = [f.to_dict() for i in identities for f in i.findings]
        if activity:
            # Calls the user made (in each region), and IAM changes made to it (IAM
            # events are recorded in us-east-1): who added an access key or a password.
            regions = list(dict.fromkeys(["us-east-1", aws.ctx.region, *trail_regions]))
            queries = [(r, "Username") for r in regions] + [("us-east-1", "ResourceName")]
            for r, attribute in queries:
                trail_u = lookup_events(
                    aws.ctx,
                    region=r,
                    attribute=attribute,
                    value=username,
                    start=now - LOOKUP_RETENTION,
                    end=now,
                    max_events=max_events,
                )
                lookups.append(trail_u.to_dict())
                if trail_u.error:
                    problems.append(f"CloudTrail {r} ({attribute}): {trail_u.error}")
                elif attribute == "ResourceName":
                    deletions += [e for e in trail_u.events if _is_deletion(e, username)]
        if status == "deleted":
            # IAM says the user is not there; it is "deleted" only when CloudTrail
            # shows the DeleteUser call (a typo or a wrong-case name never existed).
            if deletions:
                newest = max(deletions, key=lambda e: e.time or now)
                doc["identity"]["deleted"] = {
                    "event_time": newest.to_dict()["time"],
                    "by": newest.identity_arn or newest.username,
                    "source_ip": newest.source_ip,
                    "event_name": newest.name,
                }
            else:
                status = "not-found"
                doc["identity"]["status"] = doc["status"] = status
                doc["identity"]["similar"] = sorted(
                    {n for n in by_user if n.lower() == username.lower() and n != username}
                )
                doc["identity"]["deletion_searched"] = activity
        recommended += _recommend(username, status, tgt)
    else:
        doc.setdefault("identity", None)
        doc.setdefault(
            "status",
            "expired"
            if key is not None and key.expired(now)
            else ("valid" if key is not None else None),
        )
    return _incident_envelope(aws, doc, lookups, recommended, problems, now), problems


def _is_deletion(event: Any, username: str) -> bool:
    """A successful DeleteUser of ``username`` (found by ResourceName)."""
    return bool(event.name == "DeleteUser" and not event.error_code)


def _not_found(doc: dict[str, Any], tgt: Target) -> UsageProblem:
    """``report``/``timeline`` on a user that is not there and left no DeleteUser event."""
    ident = doc.get("identity") or {}
    username = ident.get("username")
    account = (doc.get("metadata") or {}).get("account_id") or "this account"
    what = f"IAM user {username!r} not found in account {account}"
    if tgt.key is not None:
        what = f"the key names IAM user {username!r}, which is not found in account {account}"
    if ident.get("deletion_searched"):
        what += " (and CloudTrail shows no DeleteUser of it in the last 90 days)"
    similar = ident.get("similar") or []
    if similar:
        hint = f"did you mean {similar[0]}? (the name differs in case)"
    elif ident.get("deletion_searched"):
        hint = "check the name and the account (--profile); phantomkeys scan lists key holders"
    else:
        hint = "without --no-activity, CloudTrail is searched for its deletion"
    return UsageProblem(what, hint=hint)


def _recommend(username: str, status: str | None, tgt: Target) -> list[str]:
    revoke = (
        "phantomkeys revoke -   (paste the key on stdin)"
        if tgt.key is not None and tgt.key.kind is KeyKind.LONG_TERM
        else f"phantomkeys revoke {username}"
    )
    match status:
        case "at-risk" | "active":
            return [
                revoke,
                f"phantomkeys timeline {username}",
                f"phantomkeys cleanup --user {username} --force   (once nothing needs it)",
            ]
        case "expired":
            return [f"phantomkeys cleanup --user {username}", f"phantomkeys timeline {username}"]
        case "orphaned":
            return [f"phantomkeys cleanup --user {username}"]
        case "unknown":
            return [
                "rerun with permissions for the failed lookups (see incomplete), or "
                "phantomkeys scan --verify-credentials",
                revoke,
            ]
        case "deleted":
            return [
                f"the user is deleted: its keys no longer work; review activity with "
                f"phantomkeys timeline {username}"
            ]
        case None:
            return [f"{username} is not an API-key holder found by the scan"]
    return []


def _incident_envelope(
    aws: Aws,
    doc: dict[str, Any],
    lookups: list[dict[str, Any]],
    recommended: list[str],
    problems: list[str],
    now: datetime,
) -> dict[str, Any]:
    return envelope(
        metadata={
            "command": "report",
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account_id": aws.account_id,
            "caller_arn": aws.caller_arn,
            "api_calls": aws.ctx.counter.snapshot(),
            # Access keys, password, MFA, SSH keys and signing certificates are
            # read live for a report, never taken from the credential report.
            "credentials_read": "live",
        },
        **doc,
        activity={
            "source": "CloudTrail LookupEvents",
            "limits": "management events only, last 90 days, 2 requests/s per account "
            "and region; data events (e.g. Claude Platform inference, Bedrock "
            "agents runtime) are not included",
            "lookups": lookups,
        },
        recommended=recommended,
        complete=not problems,
        incomplete=list(problems),
    )


def _ev_line(e: dict[str, Any]) -> str:
    bearer = " [bearer token]" if e.get("call_with_bearer_token") else ""
    err = f" ({e['error_code']})" if e.get("error_code") else ""
    return (
        f"{e.get('time') or '?'}  {e.get('region')}  {e.get('event_source')} "
        f"{e.get('event_name')}{err}{bearer}  by {e.get('identity_arn') or e.get('username')}"
        f"  from {e.get('source_ip') or '?'}"
    )


def _incident_sections(doc: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Format-neutral sections: (title, lines)."""
    sections: list[tuple[str, list[str]]] = []
    tgt = doc.get("target") or {}
    key = tgt.get("key")
    if key:
        rows = [f"{k}: {v}" for k, v in key.items() if v is not None and k != "valid"]
        sections.append(("Decoded key (the secret is never shown)", rows))
    short = doc.get("short_term")
    if short:
        signer = doc.get("signer") or {}
        rows = [
            f"signed by: {short['access_key_id']} ({short['access_key_type']})",
            f"expires: {short.get('expires_at')} ({'expired' if short['expired'] else 'valid'})",
        ]
        if signer:
            who = signer.get("principal_id") or signer.get("name") or signer.get("principal_name")
            rows.append(f"issuer: {signer.get('principal_type') or signer.get('type')} {who}")
        sections.append(("Short-term key", rows))
    ident = doc.get("identity")
    if ident:
        st = ident.get("state") or {}
        rows = [
            f"user: {ident['username']} ({ident.get('kind') or 'not in scan'})",
            f"status: {doc.get('status')}",
            f"arn: {ident.get('arn')}",
            f"created: {ident.get('created')}",
        ]
        gone = ident.get("deleted")
        if gone:
            rows.append(
                f"deleted: {gone['event_time']} by {gone['by']} (CloudTrail DeleteUser"
                + (f" from {gone['source_ip']})" if gone.get("source_ip") else ")")
            )
        if ident.get("exists"):
            for c in st.get("service_credentials", []):
                rows.append(
                    f"API key/credential {c['id']}: {c['service']} {c['status']}, "
                    f"created {c.get('created')}, expires {c.get('expires') or 'never'}"
                )
            for k in st.get("access_keys", []):
                rows.append(
                    f"access key {k['id']}: {k['status']}, last used "
                    f"{k.get('last_used') or 'never'}"
                )
            rows.append(f"console password: {'yes' if st.get('login_profile') else 'no'}")
            rows.append(
                f"MFA devices: {len(st.get('mfa_devices', []))}; SSH keys: "
                f"{ident.get('ssh_public_keys')}; signing certificates: "
                f"{ident.get('signing_certificates')}"
            )
            attached = ", ".join(st.get("attached_policy_arns", [])) or "-"
            inline = ", ".join(p["name"] for p in st.get("inline_policies", [])) or "-"
            groups = ", ".join(st.get("group_names", [])) or "-"
            rows.append(
                f"policies: attached {attached}; inline {inline}; groups {groups}; "
                f"boundary {st.get('permissions_boundary') or '-'}"
            )
        sections.append(("Identity", rows))
        caps = [c for s in ident.get("scan", []) for c in s.get("capabilities", [])]
        if caps:
            sections.append(
                (
                    "Capabilities",
                    [
                        f"{c.get('title') or c.get('capability')} [{c.get('severity')}]"
                        + (f" via {', '.join(c['granted_by'])}" if c.get("granted_by") else "")
                        for c in caps
                    ],
                )
            )
        findings = doc.get("findings") or []
        if findings:
            sections.append(("Findings", [f"[{f['severity']}] {f['title']}" for f in findings]))
    act = doc.get("activity") or {}
    rows = [f"({act.get('limits')})"]
    for lk in act.get("lookups", []):
        head = f"{lk['attribute']}={lk['value']} in {lk['region']}: "
        if lk.get("error"):
            rows.append(head + f"NOT READ ({lk['error']})")
            continue
        rows.append(
            head
            + f"{len(lk['events'])} event(s)"
            + (" (more not shown)" if lk.get("truncated") else "")
        )
        rows += ["  " + _ev_line(e) for e in lk["events"][:20]]
    if not act.get("lookups"):
        rows.append("not looked up")
    sections.append(("Recent activity (CloudTrail)", rows))
    sections.append(("Recommended", list(doc.get("recommended") or ["nothing"])))
    if doc.get("incomplete"):
        sections.append(("Incomplete: could not be read", list(doc["incomplete"])))
    return sections


def render_incident_text(doc: dict[str, Any]) -> str:
    from phantomkeys.report.safetext import visible

    # Log fields and names reach a terminal: every control shown as an escape.
    lines = [
        f"phantomkeys incident report — account {visible(doc['metadata']['account_id'])}, "
        f"{doc['metadata']['generated_at']}"
    ]
    for title, rows in _incident_sections(doc):
        lines.append("")
        lines.append(title)
        lines += [f"  {visible(r)}" for r in rows]
    return "\n".join(lines) + "\n"


def render_incident_markdown(doc: dict[str, Any]) -> str:
    from phantomkeys.report.markdown import code, esc

    lines = [
        f"# Incident report — account {esc(doc['metadata']['account_id'])}",
        "",
        f"Generated {esc(doc['metadata']['generated_at'])} by phantomkeys "
        f"{esc(doc['tool']['version'])}.",
    ]
    for title, rows in _incident_sections(doc):
        lines += ["", f"## {title}", ""]
        as_code = title == "Recommended"
        lines += ["- " + (code(r) if as_code else esc(r)) for r in rows]
    return "\n".join(lines) + "\n"
