"""The Athena engine: the rule pack as Athena SQL over the trail's own S3 bucket.

For ``s3://bucket/prefix`` it creates (or reuses, ``IF NOT EXISTS``) the
CloudTrail table documented by AWS, with partition projection (docs/aws-facts.md
"CloudTrail") extended from one account and region to every account and region found
under the prefix (``account`` and ``region`` enum partitions, organization
trails included), so no ``MSCK REPAIR`` or crawler is needed.

One query per table does the heavy part at S3 scale: every detection rule's
WHERE clause over the days between ``--since`` and ``--until`` (partition
pruning keeps the scan to those days), returning only matching records. The
matched rows are then aggregated and correlated (sliding windows) with the
same SQL as the local engine, so findings have the same shape everywhere.
"""

# ruff: noqa: S608 - this module generates SQL from trusted rule text; every literal goes
# through Target.string() / _sql_string(), which quote and escape it.

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from phantomkeys.trail import fields as F
from phantomkeys.trail.finish import (
    HuntResult,
    HuntStats,
    findings_from_duckdb,
    profile_from_duckdb,
)
from phantomkeys.trail.hunt import HuntError
from phantomkeys.trail.pack import RulePack
from phantomkeys.trail.queries import compile_detections, hit_columns, hits_select, time_filter
from phantomkeys.trail.sql import ATHENA

ENGINE_NAME = "athena"
_REGION_DIR_RE = re.compile(
    r"^(?P<base>.*AWSLogs/(?:o-[a-z0-9]{10,32}/)?)(?P<account>\d{12})/CloudTrail/"
    r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)/$"
)
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")

#: Columns of the AWS-documented CloudTrail table (lower case, as Athena stores them).
TABLE_COLUMNS = """\
  eventversion STRING,
  useridentity STRUCT<
    type: STRING, principalid: STRING, arn: STRING, accountid: STRING, invokedby: STRING,
    accesskeyid: STRING, username: STRING,
    onbehalfof: STRUCT<userid: STRING, identitystorearn: STRING>,
    sessioncontext: STRUCT<
      attributes: STRUCT<mfaauthenticated: STRING, creationdate: STRING>,
      sessionissuer: STRUCT<type: STRING, principalid: STRING, arn: STRING,
                            accountid: STRING, username: STRING>,
      ec2roledelivery: STRING,
      webidfederationdata: STRUCT<federatedprovider: STRING, attributes: MAP<STRING, STRING>>,
      sourceidentity: STRING>>,
  eventtime STRING,
  eventsource STRING,
  eventname STRING,
  awsregion STRING,
  sourceipaddress STRING,
  useragent STRING,
  errorcode STRING,
  errormessage STRING,
  requestparameters STRING,
  responseelements STRING,
  additionaleventdata STRING,
  requestid STRING,
  eventid STRING,
  resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
  eventtype STRING,
  apiversion STRING,
  readonly STRING,
  recipientaccountid STRING,
  serviceeventdetails STRING,
  sharedeventid STRING,
  vpcendpointid STRING,
  vpcendpointaccountid STRING,
  eventcategory STRING,
  addendum STRUCT<reason: STRING, updatedfields: STRING, originalrequestid: STRING,
                  originaleventid: STRING>,
  sessioncredentialfromconsole STRING,
  edgedevicedetails STRING,
  tlsdetails STRUCT<tlsversion: STRING, ciphersuite: STRING, clientprovidedhostheader: STRING>"""


@dataclass(frozen=True, slots=True)
class AthenaOptions:
    database: str = "default"
    table: str | None = None
    workgroup: str = "primary"
    output: str | None = None


@dataclass(frozen=True, slots=True)
class TrailLayout:
    """Where a trail's files are: ``s3://bucket/<base><account>/CloudTrail/<region>/``."""

    bucket: str
    base: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]

    @property
    def template(self) -> str:
        return f"s3://{self.bucket}/{self.base}${{account}}/CloudTrail/${{region}}/${{timestamp}}"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.base}"


def layouts_from_region_dirs(bucket: str, dirs: Iterable[str]) -> list[TrailLayout]:
    """Group ``.../AWSLogs/[o-id/]<account>/CloudTrail/<region>/`` folders by base."""
    by_base: dict[str, tuple[set[str], set[str]]] = {}
    for d in dirs:
        m = _REGION_DIR_RE.match(d)
        if not m:
            continue
        accounts, regions = by_base.setdefault(m.group("base"), (set(), set()))
        accounts.add(m.group("account"))
        regions.add(m.group("region"))
    return [
        TrailLayout(bucket, base, tuple(sorted(a)), tuple(sorted(r)))
        for base, (a, r) in sorted(by_base.items())
    ]


def default_table_name(layout: TrailLayout) -> str:
    digest = hashlib.sha256(layout.location.encode()).hexdigest()[:12]
    return f"phantomkeys_cloudtrail_{digest}"


def _ident(name: str, what: str) -> str:
    if not _IDENT_RE.match(name):
        raise HuntError(f"{what} {name!r}: use lower-case letters, digits and underscores")
    return name


#: What a literal in Athena DDL may hold: no quote, backslash or control character
#: can end the literal early (an S3 prefix comes from the bucket's own object keys).
_DDL_UNSAFE_RE = re.compile(r"['\"`\\\x00-\x1f\x7f]")


def _ddl_literal(value: str, what: str) -> str:
    """``'value'`` for Athena DDL; HuntError when it holds a character that could end it."""
    if _DDL_UNSAFE_RE.search(value):
        raise HuntError(
            f"{what} {value!r}: quotes, backslashes and control characters cannot be used "
            "in an Athena table definition"
        )
    return f"'{value}'"


def create_table_ddl(
    database: str, table: str, layout: TrailLayout, first_day: str = "2020/01/01"
) -> str:
    """CREATE EXTERNAL TABLE IF NOT EXISTS with partition projection (no crawler, no repair)."""
    db = _ident(database, "--athena-database")
    tb = _ident(table, "--athena-table")
    props = {
        "projection.enabled": "true",
        "projection.account.type": "enum",
        "projection.account.values": ",".join(layout.accounts),
        "projection.region.type": "enum",
        "projection.region.values": ",".join(layout.regions),
        "projection.timestamp.type": "date",
        "projection.timestamp.format": "yyyy/MM/dd",
        "projection.timestamp.interval": "1",
        "projection.timestamp.interval.unit": "DAYS",
        "projection.timestamp.range": f"{first_day},NOW",
        "storage.location.template": layout.template,
    }
    tblprops = ",\n  ".join(
        f"'{k}'={_ddl_literal(v, 'S3 location' if k.startswith('storage') else k)}"
        for k, v in props.items()
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{db}`.`{tb}` (\n{TABLE_COLUMNS}\n)\n"
        "PARTITIONED BY (`account` STRING, `region` STRING, `timestamp` STRING)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION {_ddl_literal(layout.location, 'S3 location')}\n"
        f"TBLPROPERTIES (\n  {tblprops}\n)"
    )


def partition_filter(since: datetime | None, until: datetime | None) -> str:
    """Prune to the day folders that can hold events in [since, until)."""
    parts = []
    if since is not None:
        parts.append(f"\"timestamp\" >= '{since:%Y/%m/%d}'")
    if until is not None:
        parts.append(f"\"timestamp\" <= '{until + timedelta(days=1):%Y/%m/%d}'")
    return " AND ".join(parts)


def hits_query(
    pack: RulePack, database: str, table: str, since: datetime | None, until: datetime | None
) -> str:
    """The one Athena query: every detection rule's matches, in the flat hit shape."""
    source = f'"{_ident(database, "--athena-database")}"."{_ident(table, "--athena-table")}"'
    filters = [
        f
        for f in (partition_filter(since, until), time_filter(ATHENA, _iso(since), _iso(until)))
        if f
    ]
    return hits_select(
        compile_detections(pack, ATHENA),
        ATHENA,
        source,
        hit_columns(pack),
        time_filter=" AND ".join(filters),
    )


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    clean = text.replace(" UTC", "").replace("T", " ").replace("Z", "")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(clean, fmt)
        except ValueError:
            continue
    return None


def load_hits(con: Any, pack: RulePack, rows: Iterable[dict[str, str | None]]) -> int:
    """Athena result rows (column names lower-cased by Athena) into a DuckDB ``hits`` table."""
    cols = hit_columns(pack)
    q = '"{}"'.format
    ddl = ", ".join(f"{q(c)} {'TIMESTAMP' if c == F.EVENT_TIME else 'VARCHAR'}" for c in cols)
    con.execute(f"CREATE TABLE hits (rule_name VARCHAR, subject VARCHAR, {ddl})")
    batch: list[list[Any]] = []
    n = 0
    insert = f"INSERT INTO hits VALUES ({', '.join('?' for _ in range(len(cols) + 2))})"
    for row in rows:
        lower = {k.lower(): v for k, v in row.items()}
        values: list[Any] = [lower.get("rule_name"), lower.get("subject")]
        for c in cols:
            v = lower.get(c.lower())
            values.append(_parse_time(v) if c == F.EVENT_TIME else v)
        batch.append(values)
        n += 1
        if len(batch) >= 5000:
            con.executemany(insert, batch)
            batch = []
    if batch:
        con.executemany(insert, batch)
    return n


def run_athena(
    pack: RulePack,
    sources: Sequence[str],
    opts: AthenaOptions,
    *,
    since: datetime | None,
    until: datetime | None,
    ctx: Any,
    sleep: Any = None,
) -> tuple[HuntResult, dict[str, Any]]:
    """Create/reuse the table for each source, run the hits query, finish locally."""
    import duckdb

    from phantomkeys.aws.athena import AthenaClient, AthenaError
    from phantomkeys.aws.cloudtrail import S3SourceError, parse_s3_uri, plan_prefixes

    kwargs: dict[str, Any] = {
        "workgroup": opts.workgroup,
        "output": opts.output,
        "database": opts.database,
    }
    if sleep is not None:
        kwargs["sleep"] = sleep
    athena = AthenaClient(ctx, **kwargs)
    con = duckdb.connect()
    stats = HuntStats(engine=ENGINE_NAME)
    queries: list[dict[str, Any]] = []
    all_rows: list[dict[str, str | None]] = []
    try:
        for uri in sources:
            try:
                bucket, prefix = parse_s3_uri(uri)
            except ValueError as exc:
                raise HuntError(str(exc)) from None
            try:
                dirs = plan_prefixes(ctx.client("s3"), bucket, prefix, None, None)
            except Exception as exc:  # listing errors are reported, not hidden
                raise HuntError(f"{uri}: cannot list the bucket ({exc})") from None
            layouts = layouts_from_region_dirs(bucket, dirs)
            if not layouts:
                raise HuntError(f"{uri}: no AWSLogs/<account>/CloudTrail/<region>/ folders found")
            for layout in layouts:
                table = opts.table or default_table_name(layout)
                if opts.table and len(layouts) > 1:
                    table = f"{opts.table}_{default_table_name(layout)[-12:]}"
                ddl = athena.run(create_table_ddl(opts.database, table, layout))
                sql = hits_query(pack, opts.database, table, since, until)
                outcome = athena.run(sql)
                rows = list(athena.rows(outcome.execution_id))
                all_rows.extend(rows)
                queries.append(
                    {
                        "table": f"{opts.database}.{table}",
                        "location": layout.location,
                        "accounts": list(layout.accounts),
                        "regions": list(layout.regions),
                        "ddl_execution_id": ddl.execution_id,
                        "execution_id": outcome.execution_id,
                        "data_scanned_bytes": outcome.scanned_bytes,
                        "engine_ms": outcome.runtime_ms,
                        "hits": len(rows),
                    }
                )
    except (AthenaError, S3SourceError) as exc:
        raise HuntError(str(exc)) from None
    stats.hits = load_hits(con, pack, all_rows)
    findings = findings_from_duckdb(con, pack, "hits")
    profile = profile_from_duckdb(con, "hits")
    con.close()
    extra = {"athena": {"database": opts.database, "workgroup": opts.workgroup, "queries": queries}}
    result = HuntResult(
        findings=tuple(findings), stats=stats, bad_files=(), pack=pack, profile=profile
    )
    return result, extra
