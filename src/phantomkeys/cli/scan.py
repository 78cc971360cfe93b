"""``phantomkeys scan``: every API-key holder, its real blast radius."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from phantomkeys.cli.common import (
    GLOBALS,
    ExitCode,
    UsageProblem,
    aws_errors,
    aws_options,
    default_format,
    fail_on_option,
    info,
    json_bytes,
    now_utc,
    output_option,
    output_path_callback,
    parse_fail_on,
    terminal_color,
    write_output,
    write_private_file,
)
from phantomkeys.cli.options import account_option, jobs_option, split_accounts
from phantomkeys.cli.tables import Column, layout, wide_option
from phantomkeys.core.findings import Severity
from phantomkeys.core.model import AccountSnapshot, OrgSnapshot, SnapshotError, load_snapshot
from phantomkeys.report.safetext import markup as escape
from phantomkeys.surfaces import SURFACES, select_surfaces

SCAN_FORMATS = ("table", "json", "csv", "sarif", "markdown", "html", "ocsf", "asff")

_STATUS_STYLE = {
    "at-risk": "bold red",
    "active": "yellow",
    "expired": "dim",
    "orphaned": "magenta",
    "unknown": "bold bright_red",
}
_SEV_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


@click.command("scan")
@aws_options
@click.option(
    "--surface",
    type=click.Choice(["bedrock", "claude-platform", "all"]),
    default="all",
    show_default=True,
    help="Which API-key surface to look at.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(SCAN_FORMATS, case_sensitive=False),
    help="Output format; default: from -o FILE's extension, else table on a terminal, "
    "json when piped or written to a file.",
)
@output_option()
@wide_option()
@click.option(
    "--save-snapshot",
    metavar="FILE",
    callback=output_path_callback,
    help="Also write everything read from AWS to FILE (JSON, mode 0600).",
)
@click.option(
    "--from-snapshot",
    metavar="FILE",
    help="Analyse a saved snapshot offline; no AWS access at all.",
)
@fail_on_option(allow_new=True)
@click.option(
    "--verify-credentials",
    "--fresh",
    "fresh",
    is_flag=True,
    help="Read key holders' access keys, password, MFA, SSH keys and signing certificates "
    "live (per-user calls, counted in api_calls) instead of trusting the credential "
    "report, which AWS reuses for up to 4 hours.",
)
@jobs_option(
    dest="max_workers",
    default=8,
    maximum=64,
    help="Parallel AWS calls (per-user lookups; accounts with --org).",
    old=["--max-workers"],
)
@click.option("--org", is_flag=True, help="Scan every account of the Organization.")
@account_option(help="--org: only these account ids (repeatable).", old=["--accounts"])
@click.option(
    "--exclude",
    metavar="ID[,ID…]",
    multiple=True,
    help="--org: skip these account ids (repeatable).",
)
@click.option(
    "--ou",
    "ous",
    metavar="OU_ID",
    multiple=True,
    help="--org: only accounts under this OU, recursively (repeatable).",
)
@click.option(
    "--role",
    default="OrganizationAccountAccessRole",
    show_default=True,
    help="--org: role to assume in each member account.",
)
@click.option("--external-id", help="--org: ExternalId for AssumeRole.")
@click.option(
    "--role-session-name",
    default="phantomkeys-scan",
    show_default=True,
    help="--org: role session name (shows in the members' CloudTrail).",
)
@click.option(
    "--checkpoint",
    metavar="FILE",
    callback=output_path_callback,
    help="--org: checkpoint file (default: phantomkeys-output/org-checkpoint.jsonl).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="--org: continue an interrupted scan from its checkpoint, scanning only what is left.",
)
@click.option(
    "--history",
    "history_path",
    metavar="PATH",
    help="Scan history database (default: in your user data folder).",
)
@click.option("--no-history", is_flag=True, help="Do not record this scan in the history.")
@click.option(
    "--security-hub",
    is_flag=True,
    help="Also import the findings into AWS Security Hub (BatchImportFindings).",
)
def scan(
    profile: str | None,
    region: str | None,
    surface: str,
    fmt: str | None,
    output: str | None,
    wide: bool,
    save_snapshot: str | None,
    from_snapshot: str | None,
    fail_on: str | None,
    fresh: bool,
    max_workers: int,
    org: bool,
    accounts: tuple[str, ...],
    exclude: tuple[str, ...],
    ous: Sequence[str],
    role: str,
    external_id: str | None,
    role_session_name: str,
    checkpoint: str | None,
    resume: bool,
    history_path: str | None,
    no_history: bool,
    security_hub: bool,
) -> None:
    """Find every Bedrock and Claude Platform API-key holder and rate its blast radius.

    Reads the account with account-wide calls (authorization details, the API
    key listing for all users, the credential report), so the number of AWS
    calls does not grow with the number of key holders. Read-only.

    \b
    Status of each identity (fail-closed):
      at-risk   a way in beyond the API key (active access key, console
                password) or permissions beyond the managed policy
      active    an active, unexpired API key
      expired   only expired or inactive API keys left
      orphaned  no credential of any kind: safe to clean up
      unknown   a lookup it depends on failed: never cleaned up

    \b
    Examples:
      phantomkeys scan                              # this account, table
      phantomkeys scan --format json -o scan.json
      phantomkeys scan --org -j 16                  # the whole Organization
      phantomkeys scan --save-snapshot snap.json    # then, offline:
      phantomkeys scan --from-snapshot snap.json --format html -o report.html
      phantomkeys scan --fail-on high               # CI gate: exit 1 on high+

    Exit 0 ok, 1 findings at or above --fail-on, 2 bad input, 3 incomplete
    (some lookups or accounts failed: see 'unknown').
    """
    if save_snapshot and from_snapshot:
        raise UsageProblem("--save-snapshot and --from-snapshot cannot be used together")
    surfaces = select_surfaces(surface)
    at = now_utc()
    fmt = (fmt or default_format()).lower()
    from phantomkeys.scan import ScanResult, assess_org_snapshot, assess_snapshot

    snapshot: AccountSnapshot | OrgSnapshot
    if from_snapshot:
        snapshot = _read_snapshot(from_snapshot)
        if isinstance(snapshot, OrgSnapshot):
            result = ScanResult(
                at=at,
                accounts=assess_org_snapshot(snapshot, at=at, surfaces=surfaces),
                api_calls={},
            )
            result.metadata["organization_id"] = snapshot.organization_id
        else:
            result = ScanResult(
                at=at,
                accounts=[assess_snapshot(snapshot, at=at, surfaces=surfaces)],
                caller_arn=snapshot.caller_arn,
                api_calls={},
            )
        result.metadata["source"] = f"snapshot {Path(from_snapshot).name}"
        result.metadata["snapshot_collected_at"] = snapshot.collected_at.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    elif org:
        from phantomkeys.cli.org import run_org_scan

        result, snapshot = run_org_scan(
            profile=profile,
            region=region,
            surfaces=surfaces,
            at=at,
            fresh=fresh,
            max_workers=max_workers,
            accounts=accounts,
            exclude=split_accounts(exclude, option="--exclude"),
            ous=tuple(ous),
            role=role,
            external_id=external_id,
            role_session_name=role_session_name,
            checkpoint=checkpoint,
            resume=resume,
        )
    else:
        if any((accounts, exclude, ous, resume, checkpoint, external_id)):
            raise UsageProblem(
                "--account, --exclude, --ou, --resume, --checkpoint and --external-id need --org"
            )
        result, snapshot = _scan_one(profile, region, surfaces, at, fresh, max_workers)
    if save_snapshot:
        write_private_file(Path(save_snapshot), json.dumps(snapshot.to_dict(), indent=1))
        info(f"snapshot written to {save_snapshot}")

    result.metadata["surfaces"] = [s.id.value for s in surfaces]
    document = result.to_document()
    previous_new: set[str] | None = None
    if not no_history and not from_snapshot:
        previous_new = _record_history(document, history_path)
    text: str | bytes
    if fmt == "table":
        width, fit_to = layout(output, wide=wide)
        text = render_table(document, width, color=terminal_color(output), fit_width=fit_to)
    elif fmt == "json":
        text = json_bytes(document)
    else:
        text = _render_other(document, fmt)
    write_output(text, output)
    if security_hub:
        _import_security_hub(document, profile, region)
    info(result.coverage().summary_line())
    _exit(document, result.incomplete, fail_on, previous_new)


def _read_snapshot(path: str) -> AccountSnapshot | OrgSnapshot:
    invalid = f"{path} is not a valid phantomkeys snapshot"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{invalid}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"{invalid}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{invalid}: not a JSON object")
    try:
        return load_snapshot(data)
    except KeyError as exc:
        raise UsageProblem(f"{invalid}: missing field {exc}") from None
    except (SnapshotError, TypeError, ValueError, AttributeError) as exc:
        raise UsageProblem(f"{invalid}: {exc}") from None


def _scan_one(
    profile: str | None,
    region: str | None,
    surfaces: Sequence[Any],
    at: Any,
    fresh: bool,
    max_workers: int,
) -> tuple[Any, AccountSnapshot]:
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.scan import scan_account

    with aws_errors("cannot identify the caller"):
        ctx = AwsContext.from_cli(profile, region)
        # A spinner on a terminal; plain lines (and no spinner thread) in logs and pipes.
        interactive = sys.stderr.isatty() and not GLOBALS.quiet
        spinner: Any = contextlib.nullcontext()
        if interactive:
            from phantomkeys.cli.common import stderr  # rich: only for a terminal

            spinner = stderr.status("scanning…")
        with spinner as status:

            def spin(msg: str) -> None:
                status.update(f"scanning: {msg}")

            return scan_account(
                ctx,
                at=at,
                surfaces=surfaces,
                fresh=fresh,
                max_workers=max_workers,
                progress=spin if interactive else _plain_progress(),
            )


def _plain_progress() -> Any:
    """Progress for a stderr that is not a terminal: each phase once, as a line
    (repeated per-page counts are left out of logs)."""
    seen: set[str] = set()

    def progress(msg: str) -> None:
        phase = msg.split(":", 1)[0]
        if phase not in seen and not GLOBALS.quiet:
            seen.add(phase)
            sys.stderr.write(f"scanning: {msg}\n")

    return progress


def _render_other(document: dict[str, Any], fmt: str) -> str:
    try:
        from phantomkeys.report.formats import render
    except ImportError:
        raise UsageProblem(f"--format {fmt} is not available in this build") from None
    return str(render(document, fmt))


def _record_history(document: dict[str, Any], path: str | None) -> set[str] | None:
    """Record the scan; return fingerprints new since the previous scan of the same scope."""
    try:
        from phantomkeys.history import store
    except ImportError:
        return None
    try:
        new = store.record_and_diff_new(document, path)
    except Exception as exc:  # history is a convenience: never fail the scan for it
        from phantomkeys.cli.common import warn

        warn(f"scan history not recorded: {exc}")
        return None
    return None if new is None else set(new)


def _import_security_hub(document: dict[str, Any], profile: str | None, region: str | None) -> None:
    try:
        from phantomkeys.hub import import_document
    except ImportError:
        raise UsageProblem("--security-hub is not available in this build") from None
    from phantomkeys.aws.session import AwsContext

    outcome = import_document(AwsContext.from_cli(profile, region), document)
    info(f"Security Hub: {outcome}")


def _exit(
    document: dict[str, Any], incomplete: bool, fail_on: str | None, new: set[str] | None
) -> None:
    threshold = parse_fail_on(fail_on)
    findings = document["findings"]
    if fail_on == "new":
        if new is None:
            info("--fail-on new: no earlier scan of this scope in the history; nothing is new")
        elif new:
            sys.exit(ExitCode.FINDINGS)
    elif threshold is not None and any(
        Severity(f["severity"]).at_least(threshold) for f in findings
    ):
        sys.exit(ExitCode.FINDINGS)
    if incomplete:
        sys.exit(ExitCode.INCOMPLETE)


# ------------------------------------------------------------------ table


_SCAN_COLUMNS = (
    Column("account", 1, 12, no_wrap=True),
    Column("user", 0, 18),
    Column("kind", 4, 9),
    Column("status", 0, 8, no_wrap=True),
    Column("API keys", 3, 16),
    Column("way in", 2, 10),
    Column("beyond the managed policy", 5, 12),
    Column("risk", 0, 8, no_wrap=True),
)


def render_table(
    document: dict[str, Any],
    width: int | None = 160,
    *,
    color: bool = False,
    fit_width: bool = False,
) -> str:
    """The key holders for a terminal; ``width=None`` (``--wide``) is as wide as it
    needs; ``fit_width`` leaves out low-value columns to fit ``width``."""
    from phantomkeys.cli.common import make_console
    from phantomkeys.cli.tables import WIDE, build_table

    buffer = io.StringIO()
    console = make_console(buffer, color=color, width=width or WIDE, soft_wrap=False)
    multi = len(document["accounts"]) > 1
    rows = []
    for acct in document["accounts"]:
        for ident in acct["identities"]:
            surface = "" if ident["surface"] == "bedrock" else " (claude)"
            cells = {
                "account": escape(acct["account_id"]),
                "user": escape(ident["username"]) + surface,
                "kind": escape(_KIND_SHORT.get(ident["kind"], ident["kind"])),
                "status": f"[{_STATUS_STYLE.get(ident['status'], '')}]{escape(ident['status'])}[/]",
                "API keys": _keys_cell(ident),
                "way in": _way_in_cell(ident),
                "beyond the managed policy": _caps_cell(ident),
                "risk": f"[{_SEV_STYLE[ident['risk']['severity']]}]{ident['risk']['severity']}[/]",
            }
            rows.append(cells)
    table, note = build_table(
        [c for c in _SCAN_COLUMNS if multi or c.name != "account"],
        rows,
        width,
        fit_width=fit_width,
        title="API-key holders",
        title_justify="left",
        header_style="bold",
        pad_edge=False,
    )
    console.print(table)
    if note:
        console.print(note)
    for acct in document["accounts"]:
        if acct["status"] not in ("ok", "skipped"):
            console.print(
                f"[bold red]account {escape(acct['account_id'])}: {escape(acct['status'])}[/]"
                f" — {escape(acct.get('error') or '')}"
            )
        age = acct.get("credential_report_age_minutes")
        if age is not None and age > 60:
            console.print(
                f"[dim]account {escape(acct['account_id'])}: credential report is {age} min "
                "old; --verify-credentials reads key holders' credentials live.[/]"
            )
    s = document["summary"]
    calls = document["metadata"]["api_calls"]["total"]
    console.print(
        f"[bold]{s['identities']} identities[/]: "
        + ", ".join(
            f"[{_STATUS_STYLE[k]}]{s[k]} {k}[/]"
            for k in ("at-risk", "active", "expired", "orphaned", "unknown")
        )
        + f"   ({calls} AWS calls)"
    )
    console.print(_next_steps(document))
    return buffer.getvalue()


_KIND_SHORT = {"suspected-phantom": "suspected"}
_SURFACE_POLICIES = frozenset(n for s in SURFACES for n in s.managed_policy_names)


def _keys_cell(ident: dict[str, Any]) -> str:
    creds = ident["credentials"]
    if creds is None:
        return "[bright_red]unknown[/]"
    creds = [c for c in creds if c.get("api_key", True)]
    if not creds:
        return "none"
    parts = []
    for c in creds:
        exp = f"until {escape(c['expires'][:10])}" if c["expires"] else "[red]never expires[/]"
        age = f"{c['age_days']}d" if c["age_days"] is not None else "?d"
        parts.append(f"{escape(c['status'].lower())} {age}, {exp}")
    return "\n".join(parts)


def _way_in_cell(ident: dict[str, Any]) -> str:
    bits = []
    keys = ident["access_keys"]
    if keys is None:
        bits.append("[bright_red]access keys?[/]")
    else:
        active = sum(1 for k in keys if k["status"] == "Active")
        if active:
            bits.append(f"[red]{active} access key{'s' if active > 1 else ''}[/]")
    if ident["console_access"] is None:
        bits.append("[bright_red]password?[/]")
    elif ident["console_access"]:
        bits.append("[red]password[/]")
    if ident["mfa_devices"]:
        bits.append("MFA")
    others = [
        c
        for c in ident["credentials"] or ()
        if not c.get("api_key", True) and c["status"] == "Active"
    ]
    if others:
        services = sorted({c["service"].split(".", 1)[0] for c in others})
        bits.append(f"[red]{', '.join(services)} credential[/]")
    if ident.get("ssh_public_keys"):
        bits.append("[red]SSH key[/]")
    if ident.get("signing_certificates"):
        bits.append("[red]signing cert[/]")
    return ", ".join(bits) or "-"


def _caps_cell(ident: dict[str, Any]) -> str:
    """Capabilities granted by something other than the surface's managed policy."""
    managed = {
        p["arn"]
        for p in ident["policies"]
        if p["kind"] == "managed" and p["arn"] and p["arn"].rsplit("/", 1)[-1] in _SURFACE_POLICIES
    }
    extra = [
        c
        for c in ident["capabilities"]
        if any(g.split("#")[0] not in managed for g in c["granted_by"])
    ]
    if not extra:
        return "[dim]-[/]" if not ident.get("permissions_beyond_managed_policy") else "yes"
    extra.sort(key=lambda c: -Severity(c["severity"]).rank)
    names = [escape(c["id"]) + ("*" if c.get("conditional") else "") for c in extra[:3]]
    more = len(extra) - len(names)
    return ", ".join(names) + (f" +{more}" if more > 0 else "")


def _next_steps(document: dict[str, Any]) -> str:
    s = document["summary"]
    steps = []
    if s["at-risk"]:
        steps.append(
            "investigate at-risk users: phantomkeys report USER; "
            "contain: phantomkeys revoke USER --dry-run"
        )
    if s["orphaned"]:
        steps.append("remove orphaned phantom users: phantomkeys cleanup --dry-run")
    if s["unknown"]:
        steps.append(
            "unknown = a lookup failed: check permissions (permissions/scan-readonly.json)"
            " or rerun with --verify-credentials"
        )
    if s["identities"]:
        steps.append(
            "prevent new long-lived keys: phantomkeys scp generate --preset max-age "
            "--max-age-days 30"
        )
    return "\n".join(["[bold]Next:[/]", *(f"  • {x}" for x in steps)]) if steps else ""
