"""``phantomkeys leaks``: find keys in files, stdin, staged changes and git history."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from phantomkeys.cli.common import (
    GLOBALS,
    ExitCode,
    UsageProblem,
    aws_context,
    default_format,
    dumps_json,
    fail_on_option,
    format_option,
    now_utc,
    output_option,
    output_path_callback,
    parse_fail_on,
    region_callback,
    terminal_color,
    warn,
    write_output,
    write_private_file,
)
from phantomkeys.cli.options import jobs_option, time_option
from phantomkeys.core.findings import Finding, any_at_or_above
from phantomkeys.leaks import (
    BaselineError,
    ScanOptions,
    build_document,
    build_findings,
    parse_baseline,
    render_baseline,
    scan,
    split_new,
)
from phantomkeys.leaks.model import Verification
from phantomkeys.report.safetext import markup as escape
from phantomkeys.report.safetext import visible

# rich is imported where a table or a warning is printed: a JSON or SARIF run
# that prints neither does not pay for it at start-up.

_SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


class _LeaksCommand(click.Command):
    """``leaks PATH...`` and ``leaks export``: a first argument ``export`` runs the export
    (a folder named export is ``./export``)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if args and args[0] == "export":
            name = f"{info_name or 'leaks'} export"
            return export.make_context(name, args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command("export")
@click.option(
    "--target",
    required=True,
    type=click.Choice(["gitleaks", "detect-secrets", "trufflehog"]),
    help="The scanner the rules are for.",
)
@output_option()
def export(target: str, output: str | None) -> None:
    """Write phantomkeys' key knowledge as rules for another scanner.

    \b
    gitleaks:        [[rules]] TOML (RE2 patterns)  gitleaks dir . --config FILE
    detect-secrets:  a plugin module                detect-secrets scan --plugin FILE
    trufflehog:      custom detectors YAML          trufflehog filesystem . --config FILE

    The rules cover the four key formats (ABSK…, AEAA…, bedrock-api-key-…,
    aws-external-anthropic-api-key-…), JSON- and URL-escaped too, and keys assigned to
    AWS_BEARER_TOKEN_BEDROCK. Other scanners match a key's shape only: run
    'phantomkeys decode' on what they find for its account, user and expiry.
    """
    from phantomkeys.leaks.export import export as render_export

    write_output(render_export(target), output)


@click.command("leaks", cls=_LeaksCommand)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--history",
    is_flag=True,
    help="Also scan every reachable commit of the git repository at each PATH "
    "(each distinct blob once), with the commits that added and removed "
    "each key and whether it is still in HEAD.",
)
@click.option(
    "--respect-gitignore",
    is_flag=True,
    help="Leave out what git ignores (.gitignore, .git/info/exclude); the files left "
    "out are counted and listed as skipped. By default every file is read, ignored "
    "ones too (.env and local configs are where keys live); VCS internals and "
    "binary files are always skipped and counted.",
)
@click.option("--all", "scan_all", is_flag=True, hidden=True)
@click.option(
    "--staged",
    is_flag=True,
    help="Scan only the lines staged for commit (git diff --cached); for the "
    "pre-commit hook. PATH, if given, is the repository.",
)
@format_option(
    ["table", "text", "json", "sarif"],
    help_extra="text: one line per finding (the pre-commit hook); sarif: SARIF 2.1.0 for "
    "code scanning.",
)
@output_option()
@click.option(
    "--baseline",
    "baseline_path",
    metavar="FILE",
    help="Accept the findings whose fingerprints FILE lists (JSON list, as written "
    "by --write-baseline): they are not reported and do not fail the run.",
)
@click.option(
    "--write-baseline",
    "write_baseline_path",
    metavar="FILE",
    callback=output_path_callback,
    help="Write the fingerprints of every finding (plus --baseline's) to FILE.",
)
@fail_on_option(default="high")
@click.option(
    "--verify",
    is_flag=True,
    help="Ask IAM (with YOUR credentials, never the leaked key) whether each key's "
    "user and an active credential still exist. Read-only calls.",
)
@click.option("--profile", metavar="NAME", help="AWS profile for --verify.")
@click.option(
    "--region", metavar="REGION", callback=region_callback, help="AWS region for --verify."
)
@time_option("--at", help="Judge short-term key expiry at TIME instead of now.")
@jobs_option(default=2, maximum=64, help="Processes reading files in parallel on large scans.")
@click.option(
    "--partition",
    type=click.Choice(["aws", "aws-us-gov", "aws-cn"]),
    default="aws",
    show_default=True,
    help="Partition for the IAM user ARN of long-term keys.",
)
def leaks(
    paths: tuple[str, ...],
    history: bool,
    respect_gitignore: bool,
    scan_all: bool,
    staged: bool,
    fmt: str | None,
    output: str | None,
    baseline_path: str | None,
    write_baseline_path: str | None,
    fail_on: str | None,
    verify: bool,
    profile: str | None,
    region: str | None,
    at: datetime | None,
    jobs: int,
    partition: str,
) -> None:
    """Find Bedrock and Claude Platform API keys in files and git history.

    Finds all four key formats (ABSK…, AEAA…, bedrock-api-key-…,
    aws-external-anthropic-api-key-…), also when JSON-escaped, quoted, minified,
    inside notebooks, .env files or an 'Authorization: Bearer' header. Every
    match is decoded (account, user, surface, kind, expiry); only real keys are
    reported, and never their secret: a redacted preview and a SHA-256.

    \b
    Examples:
      phantomkeys leaks .                         every file, git-ignored ones too
      phantomkeys leaks . --history --format sarif -o leaks.sarif
      kubectl logs my-pod | phantomkeys leaks -   stdin
      phantomkeys leaks --staged                  what the pre-commit hook runs
      phantomkeys leaks . --baseline .phantomkeys-baseline.json
      phantomkeys leaks export --target gitleaks  rules for gitleaks, detect-secrets,
                                                  trufflehog (see leaks export --help)

    Exit 1 when a finding not in the baseline is at or above --fail-on
    (default high); 3 when the scan is incomplete: a file, git command or
    --verify lookup failed, a file you named was skipped, or nothing at all
    was read; 2 on usage errors; 0 otherwise. What was read and skipped is
    the JSON document's "coverage" block and one line on stderr.
    """
    if not paths and not staged:
        raise UsageProblem("no PATH given", hint="phantomkeys leaks .   (or - for stdin)")
    if staged and history:
        raise UsageProblem("--staged and --history cannot be combined")
    for path in paths:
        if path != "-" and not os.path.lexists(path):
            raise UsageProblem(f"{path}: no such file or directory")
    if staged and "-" in paths:
        raise UsageProblem("--staged reads the git index, not stdin")
    if scan_all:
        warn("--all is the default now (every file is read); it will be removed")
    if scan_all and respect_gitignore:
        raise UsageProblem("--all and --respect-gitignore cannot be combined")
    baseline: frozenset[str] = frozenset()
    if baseline_path:
        baseline = _read_baseline(baseline_path)
    threshold = parse_fail_on(fail_on)
    when = at or now_utc()
    options = ScanOptions(
        history=history,
        respect_ignore=respect_gitignore,
        staged=staged,
        jobs=jobs,
        partition=partition,
    )

    result = scan(list(paths), options, stdin=sys.stdin.buffer if "-" in paths else None)

    verifications: dict[str, Verification] | None = None
    verify_meta: dict[str, Any] | None = None
    failed_lookups = 0
    if verify:
        verifications, verify_meta, failed_lookups = _verify(result.hits, when, profile, region)
    findings = build_findings(result.hits, at=when, verifications=verifications)
    coverage = result.coverage(None if staged else ", ".join(paths))
    if failed_lookups:
        from phantomkeys.core.completeness import Coverage, Skipped

        lookups = Skipped("lookup", "--verify", "IAM lookup failed", failed_lookups)
        coverage = coverage.merged(Coverage(skipped=(lookups,)))

    if write_baseline_path:
        write_private_file_text(write_baseline_path, render_baseline(findings, baseline))
        baseline = baseline | {f.fingerprint for f in findings}
    new, known = split_new(findings, baseline)
    baseline_meta = None
    if baseline_path or write_baseline_path:
        baseline_meta = {"path": baseline_path or write_baseline_path, "suppressed": len(known)}
    document = build_document(
        result,
        new,
        at=when,
        paths=list(paths) or ["."],
        options=options,
        baseline=baseline_meta,
        verify=verify_meta,
        coverage=coverage,
    )

    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        text = dumps_json(document)
    elif fmt == "sarif":
        from phantomkeys.report.sarif import render

        text = render(document)
    elif fmt == "text":
        text = render_text(new)
    else:
        text = render_table(document, new, color=terminal_color(output))
    if text or fmt != "text":  # text: no findings, no lines (the hook stays quiet)
        write_output(text, output)

    for err in result.errors:
        warn(f"{visible(err.path)}: {err.error}")
    if not (GLOBALS.quiet and coverage.complete):
        # plain text: the pre-commit hook's start-up does not pay for rich
        sys.stderr.write(visible(coverage.summary_line()) + "\n")
    if any_at_or_above(new, threshold):
        sys.exit(ExitCode.FINDINGS)
    if not coverage.complete:
        sys.exit(ExitCode.INCOMPLETE)


def write_private_file_text(path: str, text: str) -> None:
    from pathlib import Path

    try:
        write_private_file(Path(path), text)
    except OSError as exc:
        raise UsageProblem(f"cannot write {path}: {exc.strerror or exc}") from None


def _read_baseline(path: str) -> frozenset[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UsageProblem(f"--baseline {path}: {exc.strerror or exc}") from None
    try:
        return parse_baseline(text)
    except BaselineError as exc:
        raise UsageProblem(f"--baseline {path}: {exc}") from None


def _verify(
    hits: Sequence[Any], when: Any, profile: str | None, region: str | None
) -> tuple[dict[str, Verification], dict[str, Any], int]:
    from phantomkeys.aws.verify import verify_keys

    ctx = aws_context(profile, region)
    report = verify_keys(ctx, [h.hit.key for h in hits], at=when)
    if report.error:
        warn(f"--verify: {report.error}; keys are reported as 'unknown'")
    meta = report.to_dict(api_calls=ctx.counter.snapshot())
    return report.verifications, meta, report.failed_lookups


# ------------------------------------------------------------------- text


def render_text(findings: Sequence[Finding]) -> str:
    """One line per finding, ``path:line:col: severity: what and why`` (editors and
    the pre-commit hook); the key only as its redacted preview."""
    lines = []
    for f in findings:
        ev = f.evidence
        loc = f.location
        where = "<unknown>"
        if loc is not None and loc.path:
            where = f"{loc.path}:{loc.line or 0}" + (f":{loc.column}" if loc.column else "")
            if loc.commit:
                where += f" @{loc.commit[:12]}"
        why = f"{ev.get('surface')} {ev.get('kind')} key {ev.get('key_preview', '')}"
        who = f.subject + (f" in account {f.account_id}" if f.account_id else "")
        state = ""
        if ev.get("expired"):
            state = f" (expired {ev.get('expires_at')})"
        elif ev.get("expires_at"):
            state = f" (valid until {ev.get('expires_at')})"
        lines.append(f"{where}: {f.severity.value}: {why} for {who}{state} [{f.rule_id}]")
    return "".join(line + "\n" for line in lines)


# ------------------------------------------------------------------ table


def render_table(
    document: dict[str, Any], findings: Sequence[Finding], *, color: bool = False
) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    from phantomkeys.cli.common import make_console

    buffer = StringIO()
    width = max(120, Console().width) if sys.stdout.isatty() else 250
    console = make_console(buffer, color=color, width=width, soft_wrap=False)
    meta = document["metadata"]
    if findings:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("severity", "key", "account", "subject", "location", "status"):
            # The location must stay copy-pasteable: never folded mid-path.
            table.add_column(name, overflow="fold", no_wrap=name in ("location", "account"))
        for f in findings:
            ev = f.evidence
            status = []
            hist = ev.get("history")
            if isinstance(hist, dict):
                status.append("in HEAD" if hist.get("in_head") else "history only")
            if ev.get("expired"):
                status.append(f"expired {ev.get('expires_at')}")
            elif ev.get("expires_at"):
                status.append(f"valid until {ev.get('expires_at')}")
            ver = ev.get("verification")
            if isinstance(ver, dict):
                status.append(f"verify: {ver.get('status')}")
            loc = f.location
            where = ""
            if loc is not None and loc.path:
                where = f"{loc.path}:{loc.line}" + (f":{loc.column}" if loc.column else "")
                if loc.commit:
                    where += f" @{loc.commit[:12]}"
            if ev.get("occurrence_count", 1) > 1:
                where += f" (+{ev['occurrence_count'] - 1} more)"
            sev = f.severity.value
            table.add_row(
                f"[{_SEVERITY_STYLE.get(sev, '')}]{sev}[/]",
                escape(f"{ev.get('surface')} {ev.get('kind')}")
                + "\n"
                + escape(ev.get("key_preview", "")),
                escape(f.account_id or "?"),
                escape(f.subject),
                escape(where),
                escape(", ".join(status)),
            )
        console.print(table)
        console.print()
    stats = meta["stats"]
    summary = document["summary"]
    parts = [f"{summary['findings']} finding(s)"]
    if summary["by_severity"]:
        parts[0] += " (" + ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items()) + ")"
    if "blobs_scanned" in stats:
        parts.append(f"{stats['blobs_scanned']} blobs in {stats['commits']} commits")
    parts.append(
        f"{stats['files_scanned']} file(s), {_size(stats['bytes_scanned'])} "
        f"in {stats['duration_seconds']:.2f}s"
    )
    if meta.get("skipped_total"):
        parts.append(f"{meta['skipped_total']} skipped")
    if meta.get("baseline"):
        parts.append(f"{meta['baseline']['suppressed']} accepted by the baseline")
    if meta["errors"]:
        parts.append(f"[red]{len(meta['errors'])} error(s): scan incomplete[/]")
    console.print("; ".join(parts))
    return buffer.getvalue()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
