"""``phantomkeys hunt``, ``rules`` and ``timeline``: CloudTrail with the Sigma rule pack."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any

import click

from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    aws_context,
    default_format,
    dumps_json,
    fail_on_option,
    format_option,
    info,
    make_console,
    now_utc,
    output_option,
    parse_fail_on,
    region_callback,
    terminal_color,
    warn,
    write_output,
)
from phantomkeys.cli.options import jobs_option, regions_option, time_option
from phantomkeys.cli.tables import WIDE, Column, build_table, layout, wide_option
from phantomkeys.core.findings import Finding, any_at_or_above
from phantomkeys.report.safetext import markup as escape
from phantomkeys.report.safetext import visible

_SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _load_pack(rules_paths: Sequence[str], only: Sequence[str]) -> Any:
    from phantomkeys.trail.pack import PackError, load_pack

    try:
        pack = load_pack([Path(p) for p in rules_paths] if rules_paths else None)
        if only:
            pack = pack.select(only)
    except PackError as exc:
        raise UsageProblem(str(exc)) from None
    except KeyError as exc:
        raise UsageProblem(
            f"--rule {exc.args[0]}: no such rule", hint="phantomkeys rules list"
        ) from None
    return pack


def _aws_factory(profile: str | None, region: str | None) -> Any:
    def make() -> Any:
        return aws_context(profile, region)

    return make


rules_option = click.option(
    "--rules",
    "rules_paths",
    multiple=True,
    metavar="PATH",
    help="Use the Sigma rules in PATH (file or folder) instead of the built-in pack. Repeatable.",
)
rule_option = click.option(
    "--rule",
    "only",
    multiple=True,
    metavar="NAME",
    help="Run only this rule (and the base rules a correlation needs). Repeatable.",
)


def limits_options(f: Any) -> Any:
    """--max-file-size and --max-ratio: how far one log file may expand (gzip bombs)."""
    f = click.option(
        "--max-ratio",
        type=click.IntRange(1, 100_000),
        default=200,
        show_default=True,
        help="A gzip file expanding more than N times its size is not read (exit 3).",
    )(f)
    return click.option(
        "--max-file-size",
        "max_file_mib",
        type=click.IntRange(1, 1 << 20),
        default=512,
        show_default=True,
        metavar="MIB",
        help="A log file larger than MIB once decompressed is not read (exit 3).",
    )(f)


def _limits(max_file_mib: int, max_ratio: int) -> Any:
    from phantomkeys.trail.records import Limits

    return Limits(max_bytes=max_file_mib << 20, max_ratio=max_ratio)


# ---------------------------------------------------------------------- hunt


@click.command("hunt")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@time_option("--since", help="Only events at or after TIME.")
@time_option("--until", help="Only events before TIME.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the rules run.",
)
@format_option(["table", "json", "csv", "sarif", "ocsf", "asff", "markdown", "html"])
@output_option()
@wide_option()
@fail_on_option(default="high")
@rules_option
@rule_option
@jobs_option(
    dest="threads",
    default=None,
    maximum=256,
    help="DuckDB threads (default: all cores).",
    old=["--threads"],
)
@limits_options
@click.option("--profile", metavar="NAME", help="AWS profile (s3:// sources, Athena).")
@click.option(
    "--region",
    metavar="REGION",
    callback=region_callback,
    help="AWS region (Athena, S3 bucket region).",
)
@click.option(
    "--athena-database",
    default="default",
    show_default=True,
    help="Athena/Glue database holding (or to hold) the CloudTrail table.",
)
@click.option(
    "--athena-table",
    default=None,
    help="CloudTrail table name (default: derived from the bucket and prefix).",
)
@click.option("--athena-workgroup", default="primary", show_default=True)
@click.option(
    "--athena-output",
    metavar="S3URI",
    help="Query result location, s3://bucket/prefix/ (default: the workgroup's).",
)
@click.option(
    "--spark-master",
    default="local[*]",
    show_default=True,
    help="Spark master URL for --engine spark.",
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Rules config (YAML): incident window, score weights and thresholds, volume "
    "limits, allowlisted principals, CIDRs and user agents, HTTP tool tokens.",
)
def hunt(
    sources: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    engine: str,
    fmt: str | None,
    output: str | None,
    wide: bool,
    fail_on: str | None,
    rules_paths: tuple[str, ...],
    only: tuple[str, ...],
    threads: int | None,
    max_file_mib: int,
    max_ratio: int,
    profile: str | None,
    region: str | None,
    athena_database: str,
    athena_table: str | None,
    athena_workgroup: str,
    athena_output: str | None,
    spark_master: str,
    config_path: str | None,
) -> None:
    """Run the detection rule pack over CloudTrail logs.

    SOURCE is a CloudTrail file (.json, .json.gz), a folder (the S3 layout
    AWSLogs/..., organization trails, CloudTrail Lake exports, lookup-events
    output), or s3://bucket/prefix (only the day folders between --since and
    --until are listed and downloaded). Rules cover API-key creation, phantom
    users, bearer-token use, new IPs/user agents/regions, invocation spikes
    (sliding windows across regions), model reconnaissance and destructive or
    logging-evasion actions taken with a key. The findings about each
    principal are then combined into one incident per principal and window,
    with a risk score whose parts are listed (new source IP, user agent or
    region, HTTP tool, volume against the principal's own history, recon,
    destructive or tamper actions...); --config tunes them.

    \b
    Examples:
      phantomkeys hunt ./AWSLogs --since 7d
      phantomkeys hunt s3://org-trail-bucket/AWSLogs/o-abc123/ --since 2026-11-01
      phantomkeys hunt s3://trail-bucket/ --engine athena --athena-output s3://results/pk/
      phantomkeys hunt ./logs --format json -o hunt.json --fail-on medium

    Files that cannot be read (truncated gzip, invalid JSON, no Records, over
    --max-file-size or --max-ratio once decompressed) are named in the report
    and do not stop the hunt. Each real file is read once, however many links
    lead to it. The JSON document's "coverage" block and the last stderr line
    say what was read and what was not. Exit 1 when a finding is at or above
    --fail-on (default high); 3 when the hunt is incomplete: some file could
    not be read, or nothing was read from a SOURCE (missing, empty, no file in
    the time window); 2 on usage errors; 0 otherwise.
    """
    from phantomkeys.trail.hunt import AthenaRequest, HuntError, HuntRequest
    from phantomkeys.trail.hunt import hunt as run_hunt

    if not sources:
        raise UsageProblem("no SOURCE given", hint="phantomkeys hunt ./AWSLogs --since 7d")
    now = now_utc()
    since_t, until_t = since, until
    if since_t and until_t and since_t >= until_t:
        raise UsageProblem("--since must be before --until")
    threshold = parse_fail_on(fail_on)
    pack = _load_pack(rules_paths, only)
    score_config = _load_score_config(config_path, pack)
    request = HuntRequest(
        sources=list(sources),
        pack=pack,
        generated_at=now,
        since=since_t,
        until=until_t,
        engine=engine,
        score_config=score_config,
        threads=threads,
        limits=_limits(max_file_mib, max_ratio),
        ctx_factory=_aws_factory(profile, region),
        athena=AthenaRequest(
            database=athena_database,
            table=athena_table,
            workgroup=athena_workgroup,
            output=athena_output,
        ),
        spark_master=spark_master,
    )
    try:
        outcome = run_hunt(request)
    except HuntError as exc:
        raise UsageProblem(exc.message, hint=exc.hint, code=exc.code) from None
    document, coverage = outcome.document, outcome.coverage
    fmt = (fmt or default_format()).lower()
    if fmt == "table":
        width, fit_to = layout(output, wide=wide)
        text = render_hunt_table(
            document,
            outcome.findings,
            color=terminal_color(output),
            width=width,
            fit_width=fit_to,
        )
    elif fmt == "json":
        text = dumps_json(document)
    else:
        from phantomkeys.report.formats import render

        text = render(document, fmt)
    write_output(text, output)
    meta = document["metadata"]
    for bad in meta["bad_files"]:
        warn(f"{visible(bad['path'])}: {bad['reason']}")
    info(
        f"{meta['files_read']} files, {meta['records_read']} records "
        f"({meta['records_in_window']} in the time window), {len(outcome.findings)} findings, "
        f"{meta['files_bad']} bad files, {meta['elapsed_seconds']:.1f} s"
    )
    info(coverage.summary_line())
    if any_at_or_above(outcome.findings, threshold):
        sys.exit(ExitCode.FINDINGS)
    if not coverage.complete:
        sys.exit(ExitCode.INCOMPLETE)


def _load_score_config(path: str | None, pack: Any) -> Any:
    """``--config FILE``: validated, or a one-line usage error naming the key."""
    import yaml

    from phantomkeys.trail.incidents import ConfigError, ScoreConfig, parse_config

    if path is None:
        return ScoreConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"--config {path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise UsageProblem(f"--config {path}: not valid YAML ({first})") from None
    try:
        return parse_config(data, known_rules=[r.name for r in pack])
    except ConfigError as exc:
        raise UsageProblem(f"--config {path}: {exc}") from None


_HUNT_COLUMNS = (
    Column("severity", 0, 8, no_wrap=True),
    Column("rule", 0, 32, no_wrap=True),
    Column("subject", 0, 14),
    Column("account", 3, 12, no_wrap=True),
    Column("count", 1, 5, no_wrap=True),
    Column("first seen", 4, 20, no_wrap=True),
    Column("last seen", 2, 20, no_wrap=True),
    Column("regions", 6, 9),
    Column("source IPs", 5, 15),
)


def render_hunt_table(
    document: dict[str, Any],
    findings: Sequence[Finding],
    *,
    color: bool = False,
    width: int | None = 160,
    fit_width: bool = False,
) -> str:
    """The findings table; every value from the logs is shown as text, never obeyed.

    ``width=None``: as wide as it needs; ``fit_width``: leave out low-value columns
    to fit ``width`` (a terminal) rather than fold them all.
    """
    buffer = StringIO()
    console = make_console(buffer, color=color, width=width or WIDE, soft_wrap=False)
    if not findings:
        console.print("No findings.")
        return buffer.getvalue()
    rows = []
    for f in findings:
        ev = f.evidence
        cells = {
            "severity": f"[{_SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]",
            "rule": escape(f.rule_id),
            "subject": escape(f.subject),
            "account": escape(f.account_id or ""),
            "count": escape(ev.get("count", "")),
            "first seen": escape(ev.get("first_seen") or ""),
            "last seen": escape(ev.get("last_seen") or ""),
            "regions": escape(", ".join(map(visible, ev.get("regions") or []))),
            "source IPs": escape(_short([visible(ip) for ip in ev.get("source_ips") or []])),
        }
        rows.append(cells)
    table, note = build_table(
        _HUNT_COLUMNS, rows, width, fit_width=fit_width, show_lines=False, header_style="bold"
    )
    console.print(table)
    if note:
        console.print(note)
    incidents = document.get("incidents") or []
    if incidents:
        console.print()
        console.print("[bold]Incidents[/] (one verdict per principal)")
        for inc in incidents:
            sev = str(inc.get("severity"))
            parts = " + ".join(
                f"{p['part']} {p['points']} ({p['detail']})" for p in inc.get("score_parts") or []
            )
            console.print(
                f"[{_SEVERITY_STYLE.get(sev, '')}]{sev}[/] score {inc.get('score')} "
                f"{escape(str(inc.get('principal')))}: {escape(parts or 'no parts')}"
            )
    return buffer.getvalue()


def _short(items: Sequence[str], limit: int = 3) -> str:
    head = ", ".join(items[:limit])
    return head + (f" (+{len(items) - limit})" if len(items) > limit else "")


# --------------------------------------------------------------------- rules


@click.group("rules")
def rules() -> None:
    """List, self-test and export the Sigma rule pack."""


_RULES_COLUMNS = (
    Column("rule", 0, 32, no_wrap=True),
    Column("severity", 0, 8, no_wrap=True),
    Column("kind", 2, 11, no_wrap=True),
    Column("ATT&CK", 3, 12),
    Column("title", 1, 20),
)


@rules.command("list")
@format_option(["table", "json"])
@output_option()
@wide_option()
@rules_option
def rules_list(
    fmt: str | None, output: str | None, wide: bool, rules_paths: tuple[str, ...]
) -> None:
    """List the rules: name, severity, kind, ATT&CK techniques, title."""
    from phantomkeys._meta import envelope

    pack = _load_pack(rules_paths, ())
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        write_output(
            dumps_json(
                envelope(
                    metadata={"command": "rules list", "count": len(pack)},
                    rules=[r.to_dict() for r in pack],
                )
            ),
            output,
        )
        return
    buffer = StringIO()
    width, fit_to = layout(output, wide=wide)
    console = make_console(buffer, color=terminal_color(output), width=width or WIDE)
    rows = [
        {
            "rule": escape(r.name),
            "severity": f"[{_SEVERITY_STYLE[r.severity.value]}]{r.severity.value}[/]",
            "kind": "correlation" if r.correlation else ("detection" if r.emits else "base"),
            "ATT&CK": escape(", ".join(r.rule.attack)),
            "title": escape(r.title),
        }
        for r in pack
    ]
    table, note = build_table(_RULES_COLUMNS, rows, width, fit_width=fit_to, header_style="bold")
    console.print(table)
    if note:
        console.print(note)
    console.print(f"{len(pack)} rules ({len(pack.correlations)} correlations, sliding windows)")
    write_output(buffer.getvalue(), output)


@rules.command("test")
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True
)
@click.option(
    "--examples",
    "examples_dir",
    metavar="DIR",
    help="Folder of <rule>/positive*.json and negative*.json (default: built-in).",
)
@format_option(["table", "json"])
@output_option()
@rules_option
@rule_option
@click.option("--spark-master", default="local[1]", show_default=True)
def rules_test(
    engine: str,
    examples_dir: str | None,
    fmt: str | None,
    output: str | None,
    rules_paths: tuple[str, ...],
    only: tuple[str, ...],
    spark_master: str,
) -> None:
    """Run every rule on its examples: positives must fire, negatives must not.

    Also runs the pySigma validators on every rule. Exit 1 when any rule
    fails (or has no positive or no negative example), 0 otherwise.
    """
    from phantomkeys._meta import envelope
    from phantomkeys.trail.selftest import Runner, check_pack, duckdb_runner
    from phantomkeys.trail.validate import validate_pack

    pack = _load_pack(rules_paths, ())
    runner: Runner = duckdb_runner
    if engine == "spark":
        from phantomkeys.trail.spark_engine import SparkUnavailable, spark_runner

        try:
            runner = spark_runner(spark_master)
        except SparkUnavailable as exc:
            raise UsageProblem(str(exc)) from None
    folder = Path(examples_dir) if examples_dir else None
    try:
        outcomes = check_pack(pack, folder, runner, only)
    except KeyError as exc:
        raise UsageProblem(f"--rule {exc.args[0]}: no such rule") from None
    issues = validate_pack(rules_paths=[Path(p) for p in rules_paths] or None)
    failed = [o for o in outcomes if not o.ok]
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        text = dumps_json(
            envelope(
                metadata={
                    "command": "rules test",
                    "engine": engine,
                    "rules": len(outcomes),
                    "failed": len(failed),
                    "validation_issues": len(issues),
                },
                results=[o.to_dict() for o in outcomes],
                validation=[i.to_dict() for i in issues],
            )
        )
    else:
        lines = []
        for o in outcomes:
            mark = "ok  " if o.ok else "FAIL"
            detail = "; ".join(
                o.problems
                + [
                    f"{Path(e.path).name}: expected {'fire' if e.expected else 'quiet'}, "
                    f"{'fired' if e.fired else 'quiet'}"
                    + (f" on {e.matched}/{e.records} records" if e.matched is not None else "")
                    + (f" ({e.error})" if e.error else "")
                    for e in o.examples
                    if not e.ok
                ]
            )
            lines.append(f"{mark} {o.rule}" + (f"  {detail}" if detail else ""))
        for issue in issues:
            lines.append(f"FAIL validator {issue.validator}: {issue.rule}: {issue.message}")
        lines.append(
            f"{len(outcomes) - len(failed)}/{len(outcomes)} rules pass on {engine}; "
            f"{len(issues)} validator issues"
        )
        text = visible("\n".join(lines), keep_newlines=True)  # names from custom packs
    write_output(text, output)
    if failed or issues:
        sys.exit(ExitCode.FINDINGS)


@rules.command("export")
@click.option(
    "--target",
    "-t",
    required=True,
    type=click.Choice(
        [
            "splunk",
            "elastic",
            "sentinel",
            "spark",
            "athena",
            "cloudtrail-lake",
            "eventbridge",
            "cloudwatch",
            "sigma",
        ]
    ),
    help="Where the rules will run.",
)
@output_option()
@rules_option
@rule_option
@click.option(
    "--athena-table",
    default="cloudtrail_logs",
    show_default=True,
    help="Table name in Athena queries.",
)
@click.option(
    "--event-data-store",
    default="<event-data-store-id>",
    show_default=True,
    help="Event data store id in CloudTrail Lake queries.",
)
def rules_export(
    target: str,
    output: str | None,
    rules_paths: tuple[str, ...],
    only: tuple[str, ...],
    athena_table: str,
    event_data_store: str,
) -> None:
    """Export the pack to a SIEM or AWS-native format.

    splunk, elastic (ES|QL), sentinel (KQL on AWSCloudTrail) and spark
    (Databricks/Spark SQL) go through the pySigma backends; athena,
    cloudtrail-lake, eventbridge (single-event rules) and cloudwatch (Logs
    Insights) through phantomkeys' own converters. Correlations keep their
    sliding windows where the target can express them (SQL targets, Splunk
    streamstats); elsewhere the output says what is approximated.
    """
    from phantomkeys.trail.export import ExportError, export_pack

    pack = _load_pack(rules_paths, only)
    try:
        text = export_pack(
            pack, target, athena_table=athena_table, event_data_store=event_data_store
        )
    except ExportError as exc:
        raise UsageProblem(str(exc)) from None
    write_output(text, output)


# ------------------------------------------------------------------ timeline


@click.command("timeline")
@click.argument("target", metavar="TARGET")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=90,
    show_default=True,
    help="How far back to look (LookupEvents keeps 90 days).",
)
@regions_option(
    help="Regions to read: 'all' enabled regions, or a comma-separated list (repeatable).",
    default="all",
    as_text=True,
)
@click.option(
    "--from",
    "from_sources",
    multiple=True,
    metavar="SOURCE",
    help="Read local CloudTrail files/folders or s3:// instead of LookupEvents. Repeatable.",
)
@format_option(["table", "json", "csv"])
@output_option()
@wide_option()
@limits_options
@click.option("--profile", metavar="NAME")
@click.option("--region", metavar="REGION", callback=region_callback)
def timeline(
    target: str,
    days: int,
    regions: str,
    from_sources: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    wide: bool,
    max_file_mib: int,
    max_ratio: int,
    profile: str | None,
    region: str | None,
) -> None:
    """CloudTrail activity of a user, a long-term key or a short-term key, in time order.

    TARGET is an IAM user name, a key (ABSK…, AEAA…, bedrock-api-key-…,
    aws-external-anthropic-api-key-…) or - to read the key from stdin (so it
    never lands in shell history). From the API, LookupEvents is queried by
    Username, ResourceName and AccessKeyId in every region in parallel, each
    under AWS's 2 requests/s limit; only management events of the last 90
    days are searchable there. --from reads log files instead (as hunt does:
    each real file once, within --max-file-size and --max-ratio); reading
    nothing from them, or skipping a file, exits 3.

    A user that does not exist (iam:GetUser) is "not found", exit 2, unless
    CloudTrail shows its DeleteUser: then the timeline says when and by whom.
    """
    from phantomkeys.cli.stdin import read_stdin_key
    from phantomkeys.trail.timeline import TimelineError, TimelineRequest, render_csv
    from phantomkeys.trail.timeline import timeline as read_timeline

    if target == "-":
        target = read_stdin_key(hint="pipe the key in: pbpaste | phantomkeys timeline -")
    request = TimelineRequest(
        target=target,
        now=now_utc(),
        ctx_factory=_aws_factory(profile, region),
        days=days,
        regions=regions,
        sources=list(from_sources),
        limits=_limits(max_file_mib, max_ratio),
    )
    try:
        outcome = read_timeline(request)
    except TimelineError as exc:
        raise UsageProblem(str(exc)) from None
    document = outcome.document
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        text = dumps_json(document)
    elif fmt == "csv":
        text = render_csv(document)
    else:
        width, fit_to = layout(output, wide=wide)
        text = render_timeline_table(
            document, color=terminal_color(output), width=width, fit_width=fit_to
        )
    write_output(text, output)
    for note in outcome.notes:
        info(note)
    gone = outcome.deleted
    if gone:
        info(f"the user was deleted: {gone['event_time']} by {gone['by']} (CloudTrail DeleteUser)")
    if outcome.coverage is not None:
        info(outcome.coverage.summary_line())
    if outcome.incomplete:
        for err in outcome.errors:
            warn(err)
        sys.exit(ExitCode.INCOMPLETE)


# ------------------------------------------------------------------ timeline table

_TIMELINE_COLUMNS = (
    ("time", 0, 20, True),
    ("region", 5, 9, True),
    ("event", 0, 18, False),
    ("principal", 1, 14, False),
    ("source IP", 2, 15, False),
    ("user agent", 4, 16, False),
    ("bearer", 6, 6, True),
    ("model", 7, 12, False),
    ("error", 3, 10, False),
)


def render_timeline_table(
    document: Mapping[str, Any],
    *,
    color: bool = False,
    width: int | None = 170,
    fit_width: bool = False,
) -> str:
    """The timeline for a terminal: every value from the logs shown as text, never obeyed."""
    from phantomkeys.cli.tables import WIDE, Column, build_table

    buffer = io.StringIO()
    console = make_console(buffer, color=color, width=width or WIDE, soft_wrap=False)
    meta = document["metadata"]
    target = meta["target"]
    who = target.get("username") or target.get("access_key_id")
    console.print(
        f"Timeline of {escape(str(who))} ({escape(str(target['kind']))}) from "
        f"{escape(str(meta['source']))}, {escape(str(meta['since']))} to "
        f"{escape(str(meta['until']))}: "
        f"{meta['events']} events"
    )
    rows = []
    for e in document.get("events", []):
        event = f"{(e.get('event_source') or '').split('.')[0]}:{e.get('event_name')}"
        if e.get("target_user") and e.get("target_user") != who:
            event += f" -> {e['target_user']}"
        cells = {
            "time": escape(e.get("time") or ""),
            "region": escape(e.get("region") or ""),
            "event": escape(event),
            "principal": escape(e.get("principal") or ""),
            "source IP": escape(e.get("source_ip") or ""),
            "user agent": escape(str(e.get("user_agent") or "")[:40]),
            "bearer": "yes" if e.get("bearer_token") else "",
            "model": escape(e.get("model") or ""),
            "error": escape(e.get("error_code") or ""),
        }
        rows.append(cells)
    columns = [Column(*c) for c in _TIMELINE_COLUMNS]
    table, note = build_table(columns, rows, width, fit_width=fit_width, header_style="bold")
    console.print(table)
    if note:
        console.print(note)
    return buffer.getvalue()
