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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    aws_errors,
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
from phantomkeys.core.keys import KeyKind
from phantomkeys.report.safetext import visible
from phantomkeys.respond.base import Aws, RespondError, Target
from phantomkeys.respond.jobs import Response

_IAM_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)


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


# ================================================================ the library, at the edge


class Terminal:
    """The :class:`phantomkeys.respond.Console` of the CLI: text on stdout (``--format
    text`` only), progress and warnings on stderr, the question on stderr."""

    def __init__(self, fmt: str = "text") -> None:
        self.fmt = fmt

    def say(self, text: str) -> None:
        if self.fmt == "text":
            click.echo(visible(text, keep_newlines=True))

    def info(self, text: str) -> None:
        info(text)

    def warn(self, text: str) -> None:
        warn(text)

    def confirm(self, question: str) -> bool:
        try:
            return click.confirm(visible(question), default=False, err=True)
        except click.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None  # Ctrl-C at the question: exit 130
            return False


@contextmanager
def library_errors() -> Iterator[None]:
    """Refusals of the library and AWS failures as one line with their exit code."""
    with aws_errors(limit=200):
        try:
            yield
        except RespondError as exc:
            raise UsageProblem(exc.message, hint=exc.hint, code=exc.code) from None


def _connect(profile: str | None, region: str | None) -> Aws:
    with library_errors():
        return Aws.connect(profile, region)


def backup_store(backup_dir: str | None) -> Any:
    """The backup store of a writing command (its folder said on stderr)."""
    from phantomkeys.respond.jobs import backup_store as store

    return store(backup_dir, Terminal())


def _finish(response: Response, fmt: str) -> NoReturn:
    """The JSON document (``--format json``), then the exit code."""
    if fmt == "json":
        write_output(dumps_json(response.to_json()), None)
    sys.exit(response.code)


# ================================================================ targets


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
    from phantomkeys.respond.revoke import RevokeRequest
    from phantomkeys.respond.revoke import revoke as revoke_target

    now = now_utc()
    tgt = resolve_target(target)
    aws = _connect(profile, region)
    request = RevokeRequest(
        deny=deny,
        api_keys=api_keys,
        delete_credentials=delete_credentials,
        access_keys=access_keys,
        console=console,
        all_sessions=all_sessions,
        role_name=role_name,
        force=force,
    )
    with library_errors():
        response = revoke_target(
            aws,
            tgt,
            request,
            ui=Terminal(fmt),
            yes=yes,
            dry_run=dry_run,
            backup_dir=backup_dir,
            now=now,
        )
    _finish(response, fmt)


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
    from phantomkeys.respond.cleanup import CleanupRequest
    from phantomkeys.respond.cleanup import cleanup as clean_up

    if force and not users:
        raise UsageProblem("--force needs --user NAME: live users are deleted only by name")
    bad = [u for u in users if not _IAM_NAME_RE.match(u)]
    if bad:
        raise UsageProblem(f"--user {bad[0][:40]!r} is not a valid IAM user name")
    now = now_utc()
    aws = _connect(profile, region)
    request = CleanupRequest(
        include_expired=include_expired, older_than=older_than, users=users, force=force
    )
    with library_errors():
        response = clean_up(
            aws,
            request,
            ui=Terminal(fmt),
            yes=yes,
            dry_run=dry_run,
            backup_dir=backup_dir,
            now=now,
            org_role=org_role if org else None,
        )
    _finish(response, fmt)


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
    from phantomkeys.respond.restore import restore as restore_backup

    now = now_utc()
    with library_errors():
        response = restore_backup(
            backup_file,
            connect=lambda: Aws.connect(profile, region),
            allow_unverified=allow_unverified,
            ui=Terminal(fmt),
            yes=yes,
            dry_run=dry_run,
            backup_dir=backup_dir,
            now=now,
        )
    _finish(response, fmt)


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
    from phantomkeys.respond.incident import incident_report
    from phantomkeys.respond.render import render_incident_markdown, render_incident_text

    now = now_utc()
    tgt = resolve_target(target)
    aws = _connect(profile, region)
    with library_errors():
        incident = incident_report(
            aws,
            tgt,
            ui=Terminal(),
            now=now,
            trail_regions=trail_regions,
            max_events=max_events,
            activity=not no_activity,
        )
    doc, problems = incident.document, incident.problems
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
