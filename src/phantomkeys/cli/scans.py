"""``phantomkeys history list|diff|show`` and ``phantomkeys schema NAME``."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from phantomkeys._meta import envelope
from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    default_format,
    dumps_json,
    output_option,
    warn,
    write_output,
)
from phantomkeys.report.document import SEVERITIES
from phantomkeys.report.safetext import markup as escape

_SEV_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "blue",
    "info": "dim",
}


def _history_option(f: Any) -> Any:
    return click.option(
        "--history",
        "history_path",
        metavar="PATH",
        help="Scan history database (default: in your user data folder, or $PHANTOMKEYS_HISTORY).",
    )(f)


class _Store:
    """The history store, each call made with its skipped-row warnings said on stderr
    (one line each) instead of going to Python's warning machinery."""

    def __getattr__(self, name: str) -> Any:
        import warnings

        from phantomkeys.history import store

        attr = getattr(store, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", store.HistoryRowWarning)
                result = attr(*args, **kwargs)
            for w in caught:
                if issubclass(w.category, store.HistoryRowWarning):
                    warn(f"history: {w.message}")
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return result

        return call


def _store() -> Any:
    """The history store; a corrupt row it skips is said on stderr (one line each)."""
    return _Store()


def _console(width: int = 120) -> tuple[Console, io.StringIO]:
    from phantomkeys.cli.common import make_console

    buffer = io.StringIO()
    return make_console(buffer, color=False, width=width), buffer


@click.group("history")
def history() -> None:
    """Earlier scans and what changed between them.

    Every `phantomkeys scan` is recorded in a local SQLite database (unless
    --no-history). List them, compare two, or re-render an old one:

    \b
      phantomkeys history list
      phantomkeys history diff              (latest scan vs the previous one of its scope)
      phantomkeys history diff 12 15 --format markdown
      phantomkeys history show 12 --format html -o scan-12.html
    """


@history.command("list")
@_history_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default=None,
    help="Output format; default: from -o FILE's extension, else table on a terminal, "
    "json when piped or written to a file.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Only the newest N scans.",
)
@click.option(
    "--command",
    "command",
    type=click.Choice(["scan", "hunt", "leaks", "coverage"]),
    default=None,
    help="Only scans of this command.",
)
@output_option()
def history_list(
    history_path: str | None,
    fmt: str | None,
    limit: int | None,
    command: str | None,
    output: str | None,
) -> None:
    """List recorded scans, oldest first."""
    store = _store()
    try:
        scans = store.list_scans(history_path, command=command, limit=limit)
    except store.HistoryError as exc:
        raise UsageProblem(str(exc)) from None
    if (fmt or default_format()) == "json":
        write_output(dumps_json(envelope(scans=[s.to_dict() for s in scans])), output)
        return
    console, buffer = _console()
    table = Table(title=f"{len(scans)} recorded scan(s)", title_justify="left", header_style="bold")
    numeric = ("id", "findings", *SEVERITIES, "at-risk")
    for col in ("id", "scan time", "command", "scope", "findings", *SEVERITIES, "at-risk"):
        table.add_column(
            col,
            overflow="fold",
            no_wrap=col != "scope",
            justify="right" if col in numeric else "left",
        )
    for s in scans:
        table.add_row(
            str(s.id),
            escape(s.scan_time or s.recorded_at),
            escape(s.command),
            escape(s.scope),
            str(s.finding_count),
            *(str(s.severity_counts.get(sev, 0)) for sev in SEVERITIES),
            str(s.summary.get("at-risk", "")),
        )
    console.print(table)
    write_output(buffer.getvalue(), output)


@history.command("diff")
@click.argument("a", required=False, metavar="[A]")
@click.argument("b", required=False, metavar="[B]")
@_history_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default=None,
    help="Output format; default: from -o FILE's extension, else table on a terminal, "
    "json when piped or written to a file.",
)
@click.option("--fail-on-new", is_flag=True, help="Exit 1 when B has findings that A does not.")
@output_option()
def history_diff(
    a: str | None,
    b: str | None,
    history_path: str | None,
    fmt: str | None,
    fail_on_new: bool,
    output: str | None,
) -> None:
    """What changed from scan A to scan B: new, resolved, changed findings.

    A and B are ids from `phantomkeys history list`, or `latest` / `previous`.
    B defaults to the latest scan and A to the scan before B with the same scope
    (same Organization or accounts, same surfaces). Findings that disappeared
    from an account the later scan could not read completely are listed as
    unverified, never as resolved.
    """
    store = _store()
    try:
        result = store.diff_scans(history_path, a, b)
    except store.HistoryError as exc:
        raise UsageProblem(str(exc)) from None
    fmt = fmt or default_format()
    if fmt == "json":
        write_output(dumps_json(envelope(diff=result.to_dict())), output)
    elif fmt == "markdown":
        write_output(render_diff_markdown(result), output)
    else:
        write_output(render_diff_table(result), output)
    if fail_on_new and result.new:
        sys.exit(ExitCode.FINDINGS)


@history.command("show")
@click.argument("scan_id", metavar="ID")
@_history_option
@click.option(
    "--format",
    "fmt",
    default="json",
    show_default=True,
    type=click.Choice(["json", "sarif", "ocsf", "asff", "csv", "markdown", "html"]),
    help="Re-render the recorded report in this format.",
)
@output_option()
def history_show(scan_id: str, history_path: str | None, fmt: str, output: str | None) -> None:
    """Re-render a recorded scan (ID, latest or previous) in any report format."""
    store = _store()
    try:
        record = store.get_scan(history_path, scan_id)
        document = store.load_document(history_path, record.id)
    except store.HistoryError as exc:
        raise UsageProblem(str(exc)) from None
    from phantomkeys.report.formats import UnknownFormat, render

    try:
        write_output(render(document, fmt), output)
    except (UnknownFormat, ImportError) as exc:
        raise UsageProblem(str(exc)) from None


def _finding_line(f: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(f.get("severity")),
        str(f.get("title")),
        str(f.get("account_id") or ""),
        str(f.get("subject")),
    )


def render_diff_table(result: Any) -> str:
    console, buffer = _console()
    counts = result.to_dict()["counts"]
    console.print(
        f"[bold]{escape(result.before_label)} → {escape(result.after_label)}[/]: "
        f"[red]{counts['new']} new[/], [green]{counts['resolved']} resolved[/], "
        f"{counts['changed']} changed, {counts['unverified']} unverified, "
        f"{counts['unchanged']} unchanged"
    )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    sections: Sequence[tuple[str, Sequence[Mapping[str, Any]]]] = (
        ("new", result.new),
        ("resolved", result.resolved),
        ("unverified", result.unverified),
    )
    for name, items in sections:
        if not items:
            continue
        table = Table(title=name, title_justify="left", header_style="bold")
        for col in ("severity", "finding", "account", "subject"):
            table.add_column(col, overflow="fold")
        for f in items:
            sev, title, account, subject = _finding_line(f)
            table.add_row(
                f"[{_SEV_STYLE.get(sev, '')}]{escape(sev)}[/]",
                escape(title),
                escape(account),
                escape(subject),
            )
        console.print(table)
    if result.changed:
        table = Table(title="changed", title_justify="left", header_style="bold")
        for col in ("finding", "subject", "what changed"):
            table.add_column(col, overflow="fold")
        for c in result.changed:
            what = "; ".join(
                f"{k}: {json.dumps(b, default=str)} → {json.dumps(a, default=str)}"
                for k, (b, a) in c.fields.items()
            )
            table.add_row(
                escape(str(c.after.get("title"))), escape(str(c.after.get("subject"))), escape(what)
            )
        console.print(table)
    return buffer.getvalue()


def render_diff_markdown(result: Any) -> str:
    from phantomkeys.report.markdown import code, esc

    counts = result.to_dict()["counts"]
    lines = [
        f"## phantomkeys: changes {esc(result.before_label)} → {esc(result.after_label)}",
        "",
        f"**{counts['new']} new**, {counts['resolved']} resolved, "
        f"{counts['changed']} changed, {counts['unverified']} unverified, "
        f"{counts['unchanged']} unchanged",
        "",
    ]
    lines += [f"> {esc(n)}" for n in result.notes]
    for name, items in (
        ("New", result.new),
        ("Resolved", result.resolved),
        ("Unverified (account not read completely)", result.unverified),
    ):
        if not items:
            continue
        lines += [
            "",
            f"### {name}",
            "",
            "| severity | finding | account | subject |",
            "|---|---|---|---|",
        ]
        for f in items:
            sev, title, account, subject = _finding_line(f)
            lines.append(f"| {esc(sev)} | {esc(title)} | {code(account)} | {code(subject)} |")
    if result.changed:
        lines += ["", "### Changed", "", "| finding | subject | what changed |", "|---|---|---|"]
        for c in result.changed:
            what = "; ".join(
                f"{k}: {json.dumps(b, default=str)} → {json.dumps(a, default=str)}"
                for k, (b, a) in c.fields.items()
            )
            lines.append(
                f"| {esc(c.after.get('title'))} | {code(c.after.get('subject'))} | {esc(what)} |"
            )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ schema


@click.command("schema")
@click.argument(
    "name",
    type=click.Choice(["scan", "hunt", "leaks", "coverage", "decode"]),
    metavar="scan|hunt|leaks|coverage|decode",
)
@output_option()
def schema(name: str, output: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of a command's JSON output.

    The schemas are versioned with the output's `schema_version`; new optional
    fields keep the major version, anything incompatible bumps it.

    \b
      phantomkeys schema scan > scan.schema.json
      phantomkeys scan --format json | check-jsonschema --schemafile scan.schema.json -
    """
    from phantomkeys.report.schema import dumps, load

    write_output(dumps(load(name)), output)
