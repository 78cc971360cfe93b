"""The distributed engine: the same rules as Spark SQL on a SparkSession.

For archives bigger than one machine. Spark reads the log files itself
(local paths, or ``s3a://`` on a cluster configured for S3) with a fixed
schema in which ``requestParameters`` and ``additionalEventData`` stay JSON
text, flattens each record into the same columns as the DuckDB engine, runs
every detection rule, and evaluates aggregation and the sliding-window
correlations in Spark SQL too. Only the findings come back to the driver.

Needs the ``[spark]`` extra (pyspark) and a Java runtime.
"""

# ruff: noqa: S608 - this module generates SQL from trusted rule text; every literal goes
# through Target.string() / _sql_string(), which quote and escape it.

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from phantomkeys.trail import fields as F
from phantomkeys.trail.finish import HuntResult, HuntStats, findings_from_rows, profile_from_rows
from phantomkeys.trail.pack import CorrelationType, RulePack
from phantomkeys.trail.queries import (
    compile_detections,
    correlation_sql,
    correlation_values_sql,
    hit_columns,
    hits_select,
    single_findings_sql,
    time_filter,
)
from phantomkeys.trail.records import BadFile, SourceFile
from phantomkeys.trail.sql import FLAT_SPARK, Dialect

ENGINE_NAME = "spark"
#: Characters Hadoop's path globbing expands (and its escape character).
_GLOB_CHARS = frozenset("*?[]{}\\")


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing."""


def record_schema() -> str:
    """DDL of a delivered log file, ``Records`` with the fields the pack reads."""
    identity = (
        "STRUCT<type: STRING, principalId: STRING, arn: STRING, accountId: STRING, "
        "accessKeyId: STRING, userName: STRING, invokedBy: STRING, "
        "sessionContext: STRUCT<sessionIssuer: STRUCT<type: STRING, principalId: STRING, "
        "arn: STRING, accountId: STRING, userName: STRING>>>"
    )
    record = (
        f"STRUCT<eventVersion: STRING, userIdentity: {identity}, eventTime: STRING, "
        "eventSource: STRING, eventName: STRING, awsRegion: STRING, sourceIPAddress: STRING, "
        "userAgent: STRING, errorCode: STRING, errorMessage: STRING, requestParameters: STRING, "
        "additionalEventData: STRING, requestID: STRING, eventID: STRING, readOnly: STRING, "
        "eventType: STRING, eventCategory: STRING, recipientAccountId: STRING, "
        "tlsDetails: STRUCT<clientProvidedHostHeader: STRING>>"
    )
    return f"Records ARRAY<{record}>, _corrupt STRING"


def flat_projection(prefix: str = "") -> str:
    """Spark SQL select list: the flat columns from record columns under ``prefix``."""
    q = FLAT_SPARK.quote
    out = []
    for f in F.FLAT_FIELDS:
        nested = F.split_json_field(f.name)
        if nested is not None:
            root, path = nested
            expr = f"get_json_object({prefix}{root}, '{path}')"
        elif f.name == F.EVENT_TIME:
            expr = f"to_timestamp(replace(replace({prefix}eventTime, 'T', ' '), 'Z', ''))"
        else:
            expr = prefix + f.name
        out.append(f"{expr} AS {q(f.name)}")

    def pick(names: Sequence[str]) -> str:
        exprs = []
        for n in names:
            nested = F.split_json_field(n)
            exprs.append(
                f"get_json_object({prefix}{nested[0]}, '{nested[1]}')" if nested else prefix + n
            )
        return "coalesce(" + ", ".join(exprs) + ")"

    out.append(f"{pick(F.PRINCIPAL_SOURCES)} AS {q(F.PRINCIPAL)}")
    out.append(f"{pick(F.MODEL_SOURCES)} AS {q(F.MODEL)}")
    out += [f"{prefix}{n} AS {q(n)}" for n in F.JSON_FIELDS]
    return ", ".join(out)


def _require_spark() -> Any:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("--engine spark needs pyspark (the [spark] extra)") from None
    if shutil.which("java") is None and not _java_home():
        raise SparkUnavailable("--engine spark needs a Java runtime (java not found)")
    return SparkSession


def _java_home() -> bool:
    import os

    return bool(os.environ.get("JAVA_HOME"))


def get_session(master: str = "local[*]") -> Any:
    session_cls = _require_spark()
    return (
        session_cls.builder.master(master)
        .appName("phantomkeys-hunt")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.adaptive.enabled", "true")
        # Many small log files: pack them into few partitions instead of one each.
        .config("spark.sql.files.openCostInBytes", "8192")
        .config("spark.sql.files.ignoreCorruptFiles", "true")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )


def _rows(spark: Any, sql: str) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in spark.sql(sql).collect()]


class SparkEngine:
    name = ENGINE_NAME

    def __init__(self, pack: RulePack, spark: Any) -> None:
        self.pack = pack
        self.spark = spark
        self.columns = hit_columns(pack)
        self.compiled = compile_detections(pack, FLAT_SPARK)

    def run(
        self,
        paths: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        names: dict[str, str] | None = None,
        by_file: bool = False,
    ) -> HuntResult:
        """Run the pack; ``by_file`` keeps every input file separate (``rules test``)."""
        spark = self.spark
        stats = HuntStats(engine=self.name)
        bad: list[BadFile] = []
        names = names or {}
        raw = (
            spark.read.schema(record_schema())
            .option("multiLine", "true")
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", "_corrupt")
            .json(list(paths))
        )
        raw = raw.selectExpr("input_file_name() AS source_file", "Records", "_corrupt")
        raw.createOrReplaceTempView("pk_raw")
        per_file = _rows(
            spark,
            "SELECT source_file, max(CASE WHEN Records IS NULL THEN 1 ELSE 0 "
            "END) AS no_records, max(_corrupt IS NOT NULL) AS corrupt "
            "FROM pk_raw GROUP BY source_file",
        )
        seen = set()
        for row in per_file:
            path = local_path(row["source_file"])
            seen.add(path)
            if row["corrupt"]:
                bad.append(BadFile(names.get(path, path), "invalid JSON"))
            elif row["no_records"]:
                bad.append(BadFile(names.get(path, path), "no Records (not a CloudTrail log file)"))
        for p in paths:
            lp = local_path(p)
            if not p.endswith("/") and "://" not in p and lp not in seen:
                bad.append(BadFile(names.get(lp, lp), "unreadable (corrupt gzip or empty)"))
        stats.files_read = len(seen) - len(bad)
        events = spark.sql(
            "SELECT source_file, "
            + flat_projection("r.")
            + " FROM (SELECT source_file, explode(Records) AS r FROM pk_raw "
            "WHERE Records IS NOT NULL)"
        )
        events.createOrReplaceTempView("pk_events")
        tf = time_filter(FLAT_SPARK, _iso(since), _iso(until))
        stats.records_read = int(spark.sql("SELECT count(*) AS n FROM pk_events").first()["n"])
        stats.records_in_window = int(
            spark.sql(
                "SELECT count(*) AS n FROM pk_events" + (f" WHERE {tf}" if tf else "")
            ).first()["n"]
        )
        hits = spark.sql(
            hits_select(
                self.compiled,
                FLAT_SPARK,
                "pk_events",
                self.columns,
                time_filter=tf,
                raw_columns=("source_file",) if by_file else (),
            )
        ).cache()
        hits.createOrReplaceTempView("hits")
        stats.hits = int(hits.count())
        emitting = [r.name for r in self.pack.emitting if r.correlation is None]
        single = (
            _rows(spark, single_findings_sql(Dialect.SPARK, emitting, by_file=by_file))
            if emitting
            else []
        )
        corr_rows: dict[str, list[dict[str, Any]]] = {}
        value_rows: dict[str, list[dict[str, Any]]] = {}
        for r in self.pack.correlations:
            assert r.correlation is not None
            corr = r.correlation
            if by_file:
                corr = replace(corr, group_by=(*corr.group_by, "source_file"))
            corr_rows[r.name] = _rows(spark, correlation_sql(Dialect.SPARK, corr))
            if corr_rows[r.name] and corr.type is not CorrelationType.EVENT_COUNT:
                value_rows[r.name] = _rows(spark, correlation_values_sql(Dialect.SPARK, corr))
        profile = (
            None
            if by_file
            else profile_from_rows(lambda sql: _rows(spark, sql), Dialect.SPARK, "hits")
        )
        hits.unpersist()
        findings = findings_from_rows(self.pack, single, corr_rows, value_rows, by_file=by_file)
        return HuntResult(
            findings=tuple(findings),
            stats=stats,
            bad_files=tuple(bad),
            pack=self.pack,
            profile=profile,
        )


def local_path(uri: str) -> str:
    from urllib.parse import unquote

    if uri.startswith("file://"):
        return unquote(uri[len("file://") :])
    if uri.startswith("file:"):
        return unquote(uri[len("file:") :])
    return uri


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def run_spark(
    pack: RulePack,
    plan: Any,
    sources: Sequence[str],
    *,
    master: str,
    since: datetime | None,
    until: datetime | None,
) -> HuntResult:
    """Local files from the plan plus s3:// sources (read by Spark as s3a://).

    Spark expands glob patterns in the paths it is given, so a local file whose
    name holds one (``trail[1].json``, ``*.json``) is read through a link with a
    name we chose, in a private folder removed afterwards.
    """
    spark = get_session(master)
    paths: list[str] = []
    names: dict[str, str] = {}
    links: str | None = None
    try:
        for i, f in enumerate(plan.local):
            path = str(f.path)
            if _GLOB_CHARS & set(path):
                links = links or tempfile.mkdtemp(prefix="phantomkeys-spark-")
                safe = os.path.join(links, f"{i}.json" + (".gz" if path.endswith(".gz") else ""))
                os.symlink(os.path.abspath(path), safe)
                path = safe
            paths.append(path)
            names[path] = f.name
        paths += [
            "s3a://" + s.split("://", 1)[1] for s in sources if s.startswith(("s3://", "s3a://"))
        ]
        if not paths:
            return HuntResult(
                findings=(), stats=HuntStats(engine=ENGINE_NAME), bad_files=(), pack=pack
            )
        return SparkEngine(pack, spark).run(paths, since=since, until=until, names=names)
    finally:
        if links is not None:
            shutil.rmtree(links, ignore_errors=True)


def spark_runner(master: str = "local[1]") -> Callable[[RulePack, list[SourceFile]], HuntResult]:
    """A ``rules test`` runner: every example of every rule in one Spark run, kept apart."""
    spark = get_session(master)

    def run(pack: RulePack, files: list[SourceFile]) -> HuntResult:
        return SparkEngine(pack, spark).run([str(f.path) for f in files], by_file=True)

    run.batched = True  # type: ignore[attr-defined]
    return run
