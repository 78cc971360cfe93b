"""``phantomkeys hunt``, ``rules`` and ``timeline``: CloudTrail with the Sigma rule pack."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    default_format,
    dumps_json,
    fail_on_option,
    format_option,
    info,
    now_utc,
    output_option,
    parse_fail_on,
    parse_time,
    warn,
    write_output,
)
from phantomkeys.core.findings import Finding, any_at_or_above

_SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
_RELATIVE_RE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str | None, option: str, now: datetime) -> datetime | None:
    """ISO-8601, ``now``, or a relative age such as ``7d`` / ``12h`` (before ``now``)."""
    if value is None:
        return None
    m = _RELATIVE_RE.match(value.strip().lower())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return parse_time(value, option=option)


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
        from phantomkeys.aws.session import AwsContext, AwsSetupError

        try:
            return AwsContext.from_cli(profile, region)
        except AwsSetupError as exc:
            raise UsageProblem(str(exc)) from None

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


# ---------------------------------------------------------------------- hunt


@click.command("hunt")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option("--since", metavar="TIME", help="Only events at or after TIME (ISO-8601 or 7d, 12h).")
@click.option("--until", metavar="TIME", help="Only events before TIME (ISO-8601 or 1d).")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the rules run.",
)
@format_option(["table", "json", "csv", "sarif", "ocsf", "asff", "markdown", "html"])
@output_option()
@fail_on_option(default="high")
@rules_option
@rule_option
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="DuckDB threads (default: all cores).",
)
@click.option("--profile", metavar="NAME", help="AWS profile (s3:// sources, Athena).")
@click.option("--region", metavar="REGION", help="AWS region (Athena, S3 bucket region).")
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
    since: str | None,
    until: str | None,
    engine: str,
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    rules_paths: tuple[str, ...],
    only: tuple[str, ...],
    threads: int | None,
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

    Files that cannot be read (truncated gzip, invalid JSON, no Records) are
    named in the report and do not stop the hunt. Exit 1 when a finding is at
    or above --fail-on (default high); 3 when some file could not be read; 2 on
    usage errors; 0 otherwise.
    """
    from phantomkeys.trail.hunt import HuntError, Timer, build_document, is_s3, plan_sources

    if not sources:
        raise UsageProblem("no SOURCE given", hint="phantomkeys hunt ./AWSLogs --since 7d")
    now = now_utc()
    since_t = parse_when(since, "--since", now)
    until_t = parse_when(until, "--until", now)
    if since_t and until_t and since_t >= until_t:
        raise UsageProblem("--since must be before --until")
    threshold = parse_fail_on(fail_on)
    pack = _load_pack(rules_paths, only)
    score_config = _load_score_config(config_path, pack)
    timer = Timer()
    extra: dict[str, Any] = {}
    plan = plan_sources(list(sources), since_t, until_t)
    if engine == "duckdb":
        from phantomkeys.trail.hunt import run_duckdb

        if plan.missing and not plan.local and not plan.s3_uris:
            raise UsageProblem(f"{plan.missing[0]}: no such file or directory")
        try:
            result = run_duckdb(
                pack,
                plan,
                since=since_t,
                until=until_t,
                threads=threads,
                ctx_factory=_aws_factory(profile, region),
            )
        except HuntError as exc:
            raise UsageProblem(str(exc)) from None
        except _s3_error() as exc:
            raise UsageProblem(str(exc), code=ExitCode.INCOMPLETE) from None
    elif engine == "athena":
        from phantomkeys.trail.athena_engine import AthenaOptions, run_athena

        if not all(is_s3(s) for s in sources):
            raise UsageProblem("--engine athena reads s3:// sources only")
        opts = AthenaOptions(
            database=athena_database,
            table=athena_table,
            workgroup=athena_workgroup,
            output=athena_output,
        )
        try:
            result, extra = run_athena(
                pack,
                list(sources),
                opts,
                since=since_t,
                until=until_t,
                ctx=_aws_factory(profile, region)(),
            )
        except HuntError as exc:
            raise UsageProblem(str(exc), code=ExitCode.INCOMPLETE) from None
        plan.local = []
    else:
        from phantomkeys.trail.spark_engine import SparkUnavailable, run_spark

        try:
            result = run_spark(
                pack, plan, list(sources), master=spark_master, since=since_t, until=until_t
            )
        except SparkUnavailable as exc:
            raise UsageProblem(
                str(exc), hint="pip install 'phantomkeys[spark]' and a Java runtime"
            ) from None
    from phantomkeys.trail.hunt import add_incidents

    result = add_incidents(result, score_config)
    document = build_document(
        result,
        plan,
        sources=list(sources),
        since=since_t,
        until=until_t,
        generated_at=now,
        elapsed_seconds=timer.elapsed,
        extra=extra,
    )
    fmt = (fmt or default_format()).lower()
    if fmt == "table":
        text = render_hunt_table(document, result.findings)
    elif fmt == "json":
        text = dumps_json(document)
    else:
        from phantomkeys.report.formats import render

        text = render(document, fmt)
    write_output(text, output)
    meta = document["metadata"]
    for bad in meta["bad_files"]:
        warn(f"{escape(bad['path'])}: {escape(bad['reason'])}")
    info(
        f"{meta['files_read']} files, {meta['records_read']} records "
        f"({meta['records_in_window']} in the time window), {len(result.findings)} findings, "
        f"{meta['files_bad']} bad files, {meta['elapsed_seconds']:.1f} s"
    )
    if any_at_or_above(result.findings, threshold):
        sys.exit(ExitCode.FINDINGS)
    if meta["files_bad"]:
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


def _s3_error() -> type[Exception]:
    from phantomkeys.aws.trail import S3SourceError

    return S3SourceError


def render_hunt_table(document: dict[str, Any], findings: Sequence[Finding]) -> str:
    buffer = StringIO()
    console = Console(
        file=buffer, width=160, highlight=False, soft_wrap=False, force_terminal=sys.stdout.isatty()
    )
    if not findings:
        console.print("No findings.")
        return buffer.getvalue()
    table = Table(show_lines=False, header_style="bold")
    for col in (
        "severity",
        "rule",
        "subject",
        "account",
        "count",
        "first seen",
        "last seen",
        "regions",
        "source IPs",
    ):
        table.add_column(
            col,
            overflow="fold",
            no_wrap=col in ("severity", "rule", "account", "first seen", "last seen"),
        )
    for f in findings:
        ev = f.evidence
        table.add_row(
            f"[{_SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]",
            escape(f.rule_id),
            escape(f.subject),
            f.account_id or "",
            str(ev.get("count", "")),
            str(ev.get("first_seen") or ""),
            str(ev.get("last_seen") or ""),
            escape(", ".join(ev.get("regions") or [])),
            escape(_short(ev.get("source_ips") or [])),
        )
    console.print(table)
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


@rules.command("list")
@format_option(["table", "json"])
@output_option()
@rules_option
def rules_list(fmt: str | None, output: str | None, rules_paths: tuple[str, ...]) -> None:
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
    console = Console(file=buffer, width=160, highlight=False, force_terminal=sys.stdout.isatty())
    table = Table(header_style="bold")
    for col in ("rule", "severity", "kind", "ATT&CK", "title"):
        table.add_column(col, overflow="fold")
    for r in pack:
        kind = "correlation" if r.correlation else ("detection" if r.emits else "base")
        table.add_row(
            escape(r.name),
            f"[{_SEVERITY_STYLE[r.severity.value]}]{r.severity.value}[/]",
            kind,
            ", ".join(r.rule.attack),
            escape(r.title),
        )
    console.print(table)
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
        text = "\n".join(lines)
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
@click.option(
    "--regions",
    default="all",
    show_default=True,
    help="'all' enabled regions, or a comma-separated list.",
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
@click.option("--profile", metavar="NAME")
@click.option("--region", metavar="REGION")
def timeline(
    target: str,
    days: int,
    regions: str,
    from_sources: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    """CloudTrail activity of a user, a long-term key or a short-term key, in time order.

    TARGET is an IAM user name, a key (ABSK…, AEAA…, bedrock-api-key-…,
    aws-external-anthropic-api-key-…) or - to read the key from stdin (so it
    never lands in shell history). From the API, LookupEvents is queried by
    Username, ResourceName and AccessKeyId in every region in parallel, each
    under AWS's 2 requests/s limit; only management events of the last 90
    days are searchable there. --from reads log files instead.
    """
    from phantomkeys.trail.timeline import TimelineError, run_timeline

    if target == "-":
        target = sys.stdin.readline().strip()
        if not target:
            raise UsageProblem("no key on stdin")
    now = now_utc()
    try:
        document, failed = run_timeline(
            target,
            days=days,
            regions=regions,
            sources=list(from_sources),
            now=now,
            ctx_factory=_aws_factory(profile, region),
        )
    except TimelineError as exc:
        raise UsageProblem(str(exc)) from None
    fmt = (fmt or default_format()).lower()
    from phantomkeys.trail.timeline import render_csv, render_table

    if fmt == "json":
        text = dumps_json(document)
    elif fmt == "csv":
        text = render_csv(document)
    else:
        text = render_table(document, color=sys.stdout.isatty())
    write_output(text, output)
    for note in document["metadata"].get("notes", []):
        info(note)
    if failed:
        for err in document["metadata"].get("errors", []):
            warn(escape(err))
        sys.exit(ExitCode.INCOMPLETE)
