"""SQL that turns CloudTrail records into findings, for every engine.

Three stages, each a plain SQL text for one :class:`~phantomkeys.trail.sql.Target`:

1. **hits**: every detection rule's WHERE clause over the records, one row per
   (rule, matching record) with the columns in :data:`HIT_COLUMNS` plus the
   finding's subject (:func:`hits_select`).
2. **single-event findings**: hits of rules that emit findings, grouped per
   (rule, account, subject) with the evidence lists (:func:`single_findings_sql`).
3. **correlations**: the sliding-window sweep of a correlation over its base
   rules' hits (:func:`correlation_sql`, :func:`correlation_values_sql`).

Stages 2 and 3 read a relation named ``hits`` with flat column names, so they
are the same for every engine apart from the dialect's function names.
"""

# ruff: noqa: S608 - this module generates SQL from trusted rule text; every literal goes
# through Target.string() / _sql_string(), which quote and escape it.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phantomkeys.trail import fields as F
from phantomkeys.trail.pack import Correlation, CorrelationType, PackRule, RulePack
from phantomkeys.trail.sql import Dialect, Schema, Target, or_join, where_clauses

#: Columns every hit carries (besides ``rule_name`` and ``subject``).
HIT_COLUMNS: tuple[str, ...] = (
    F.EVENT_ID,
    F.EVENT_TIME,
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    F.ACCOUNT,
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.userName",
    "userIdentity.accessKeyId",
    F.PRINCIPAL,
    F.MODEL,
)

#: Evidence lists are capped; counts are always exact.
LIST_CAP = 50
EVENT_ID_CAP = 100


def hit_columns(pack: RulePack) -> tuple[str, ...]:
    """HIT_COLUMNS plus any field a correlation groups or counts by."""
    cols = list(HIT_COLUMNS)
    for r in pack.correlations:
        assert r.correlation is not None
        for name in (*r.correlation.group_by, r.correlation.field):
            if name and name not in cols:
                cols.append(name)
    return tuple(cols)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: PackRule
    where: str
    subject: str


def compile_detections(pack: RulePack, target: Target) -> list[CompiledRule]:
    """WHERE clause and subject expression of every detection rule for ``target``."""
    out = []
    for r in pack.detections:
        out.append(
            CompiledRule(
                rule=r,
                where=or_join(where_clauses(dict(r.document), target)),
                subject=subject_expr(r, target),
            )
        )
    return out


def subject_expr(rule: PackRule, target: Target) -> str:
    """The finding's subject: the rule's subject field, else its fallbacks in order."""
    names = (rule.subject_field, *rule.subject_fallbacks)
    if len(names) == 1:
        return target.field(names[0])
    return "coalesce(" + ", ".join(target.field(n) for n in names) + ")"


def hits_select(
    compiled: Sequence[CompiledRule],
    target: Target,
    source: str,
    columns: Sequence[str],
    *,
    time_filter: str = "",
    raw_columns: Sequence[str] = (),
) -> str:
    """One SELECT per rule over ``source``, joined with UNION ALL.

    ``raw_columns`` are copied as they are (``source_file`` for per-file runs).
    """
    projection = ", ".join(
        [f"{target.field(c)} AS {target.quote(c)}" for c in columns]
        + [target.quote(c) for c in raw_columns]
    )
    extra = f" AND ({time_filter})" if time_filter else ""
    parts = [
        f"SELECT {target.string(c.rule.name)} AS rule_name, {c.subject} AS subject, {projection} "
        f"FROM {source} WHERE ({c.where}){extra}"
        for c in compiled
    ]
    return "\nUNION ALL\n".join(parts)


def time_filter(target: Target, since: str | None, until: str | None) -> str:
    """``eventTime`` bounds (ISO-8601 UTC strings, ``until`` exclusive)."""
    t = target.event_time()
    parts = []
    if since:
        parts.append(f"{t} >= {target.timestamp_literal(since)}")
    if until:
        parts.append(f"{t} < {target.timestamp_literal(until)}")
    return " AND ".join(parts)


def _flat(dialect: Dialect) -> Target:
    return Target(dialect, Schema.FLAT)


def _evidence_columns(t: Target, rel: str = "") -> str:
    q = t.quote
    p = f"{rel}." if rel else ""
    return ", ".join(
        [
            "count(*) AS event_count",
            f"min({p}{q(F.EVENT_TIME)}) AS first_seen",
            f"max({p}{q(F.EVENT_TIME)}) AS last_seen",
            f"{t.distinct_list(p + q('awsRegion'), LIST_CAP)} AS regions",
            f"{t.distinct_list(p + q('sourceIPAddress'), LIST_CAP)} AS source_ips",
            f"{t.distinct_list(p + q('userAgent'), LIST_CAP)} AS user_agents",
            f"{t.distinct_list(p + q(F.MODEL), LIST_CAP)} AS models",
            f"{t.distinct_list(p + q('eventName'), LIST_CAP)} AS event_names",
            f"{t.distinct_list(p + q(F.PRINCIPAL), LIST_CAP)} AS principals",
            f"{t.distinct_list(p + q('errorCode'), LIST_CAP)} AS error_codes",
            f"{t.ordered_list(p + q(F.EVENT_ID), p + q(F.EVENT_TIME), EVENT_ID_CAP)} AS event_ids",
        ]
    )


def single_findings_sql(
    dialect: Dialect, rule_names: Sequence[str], hits: str = "hits", *, by_file: bool = False
) -> str:
    """Evidence per (rule, account, subject) for rules that emit findings themselves.

    ``by_file`` also groups by ``source_file`` (``rules test`` evaluates every
    example file on its own in a single run).
    """
    t = _flat(dialect)
    names = ", ".join(t.string(n) for n in rule_names) or t.string("")
    file_col = ", source_file" if by_file else ""
    return (
        f"SELECT rule_name, coalesce({t.quote(F.ACCOUNT)}, '') AS account_id, "
        f"coalesce(subject, '') AS subject{file_col}, {_evidence_columns(t)} "
        f"FROM {hits} WHERE rule_name IN ({names}) "
        f"GROUP BY rule_name, coalesce({t.quote(F.ACCOUNT)}, ''), coalesce(subject, ''){file_col}"
    )


def _group_exprs(t: Target, corr: Correlation) -> list[str]:
    return [f"coalesce({t.quote(g)}, '')" for g in corr.group_by]


def _sweep_ctes(dialect: Dialect, corr: Correlation, hits: str) -> str:
    """CTEs ``base`` .. ``trig`` for one correlation (see module :mod:`sql` docstring)."""
    t = _flat(dialect)
    T = corr.timespan_seconds
    N = corr.threshold
    gexprs = _group_exprs(t, corr)
    gcols = [f"g{i}" for i in range(len(gexprs))] or ["g0"]
    if not gexprs:
        gexprs = ["''"]
    g_select = ", ".join(f"{e} AS {c}" for e, c in zip(gexprs, gcols, strict=True))
    g_list = ", ".join(gcols)
    names = ", ".join(t.string(n) for n in corr.rules)
    match corr.type:
        case CorrelationType.EVENT_COUNT:
            value = t.quote(F.EVENT_ID)
        case CorrelationType.VALUE_COUNT:
            assert corr.field is not None
            value = t.quote(corr.field)
        case CorrelationType.TEMPORAL:
            value = "rule_name"
    base = (
        f"base AS (SELECT {g_select}, {value} AS v, {t.epoch(t.quote(F.EVENT_TIME))} AS ts, * "
        f"FROM {hits} WHERE rule_name IN ({names}) AND {t.quote(F.EVENT_TIME)} IS NOT NULL"
        + (f" AND {value} IS NOT NULL" if corr.type is not CorrelationType.EVENT_COUNT else "")
        + ")"
    )
    if corr.type is CorrelationType.EVENT_COUNT:
        # Every event is its own presence interval [ts, ts + T].
        intervals = f"intervals AS (SELECT {g_list}, ts AS s, ts + {T} AS e FROM base)"
        islands = ""
    else:
        # Occurrences of one value less than T apart merge into one interval.
        islands = (
            f"marked AS (SELECT {g_list}, v, ts, CASE WHEN ts - lag(ts) OVER "
            f"(PARTITION BY {g_list}, v ORDER BY ts) <= {T} THEN 0 ELSE 1 END AS brk FROM base), "
            f"islands AS (SELECT {g_list}, v, ts, sum(brk) OVER (PARTITION BY {g_list}, v "
            f"ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS isl FROM marked), "
        )
        intervals = (
            f"intervals AS (SELECT {g_list}, min(ts) AS s, max(ts) + {T} AS e FROM islands "
            f"GROUP BY {g_list}, v, isl)"
        )
    edges = (
        f"edges AS (SELECT {g_list}, s AS t, 1 AS d FROM intervals "
        f"UNION ALL SELECT {g_list}, e AS t, -1 AS d FROM intervals)"
    )
    # Starts sort before ends at the same instant: windows include both ends.
    sweep = (
        f"sweep AS (SELECT {g_list}, t, d, sum(d) OVER (PARTITION BY {g_list} ORDER BY t, d DESC "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n FROM edges)"
    )
    trig = (
        f"trig AS (SELECT {g_list}, max(n) AS peak, "
        f"min(CASE WHEN n >= {N} THEN t END) AS t_first, "
        f"max(CASE WHEN n >= {N} OR n - d >= {N} THEN t END) AS t_last "
        f"FROM sweep GROUP BY {g_list} HAVING max(n) >= {N})"
    )
    join_on = " AND ".join(f"b.{c} = trig.{c}" for c in gcols)
    ev = (
        f"ev AS (SELECT b.*, trig.peak, trig.t_first, trig.t_last FROM base b JOIN trig "
        f"ON {join_on} WHERE b.ts BETWEEN trig.t_first - {T} AND trig.t_last)"
    )
    return "WITH " + ", ".join(
        part for part in (base, islands.rstrip(", "), intervals, edges, sweep, trig, ev) if part
    )


def correlation_sql(dialect: Dialect, corr: Correlation, hits: str = "hits") -> str:
    """One row per triggered group: group values, peak, trigger span and evidence."""
    t = _flat(dialect)
    n = max(1, len(corr.group_by))
    gcols = ", ".join(f"g{i}" for i in range(n))
    return (
        _sweep_ctes(dialect, corr, hits)
        + f" SELECT {gcols}, max(peak) AS peak, min(t_first) AS t_first, max(t_last) AS t_last, "
        f"count(DISTINCT v) AS distinct_values, {_evidence_columns(t)} "
        f"FROM ev GROUP BY {gcols}"
    )


def correlation_values_sql(dialect: Dialect, corr: Correlation, hits: str = "hits") -> str:
    """Per triggered group and counted value: occurrences and first/last seen."""
    t = _flat(dialect)
    n = max(1, len(corr.group_by))
    gcols = ", ".join(f"g{i}" for i in range(n))
    return (
        _sweep_ctes(dialect, corr, hits) + f" SELECT {gcols}, v, count(*) AS event_count, "
        f"min({t.quote(F.EVENT_TIME)}) AS first_seen, "
        f"max({t.quote(F.EVENT_TIME)}) AS last_seen FROM ev GROUP BY {gcols}, v"
    )


# ------------------------------------------------------------------ profiles

#: The base rule whose hits are successful model invocations (volume, sustained use).
INVOCATION_RULE = "model-invocation-call"
#: Volume is counted in buckets of this many seconds (the spike rule's window).
PROFILE_BUCKET_SECONDS = 300


def _profile_events(dialect: Dialect, hits: str) -> str:
    """One row per record that hit any rule (a record can hit several)."""
    t = _flat(dialect)
    q = t.quote
    inv = t.string(INVOCATION_RULE)
    return (
        f"ev AS (SELECT coalesce({q(F.ACCOUNT)}, '') AS a, {q(F.PRINCIPAL)} AS p, "
        f"{q(F.EVENT_TIME)} AS t, {q('sourceIPAddress')} AS ip, {q('userAgent')} AS ua, "
        f"{q('awsRegion')} AS r, max(CASE WHEN rule_name = {inv} THEN 1 ELSE 0 END) AS inv "
        f"FROM {hits} WHERE {q(F.PRINCIPAL)} IS NOT NULL AND {q(F.EVENT_TIME)} IS NOT NULL "
        f"GROUP BY coalesce({q(F.EVENT_ID)}, ''), "
        f"coalesce({q(F.ACCOUNT)}, ''), {q(F.PRINCIPAL)}, {q(F.EVENT_TIME)}, "
        f"{q('sourceIPAddress')}, {q('userAgent')}, {q('awsRegion')})"
    )


def profile_values_sql(dialect: Dialect, hits: str = "hits") -> str:
    """Each principal's source IPs, user agents and regions with first/last use and counts.

    ``kind`` is ``ip``, ``ua``, ``region`` or ``all`` (the principal's whole
    activity, value ``''``); ``invocations`` counts successful model calls.
    """
    parts = [
        f"SELECT a, p, {kind!r} AS kind, {col} AS v, min(t) AS first_seen, max(t) AS last_seen, "
        f"count(*) AS events, sum(inv) AS invocations FROM ev "
        f"WHERE {col} IS NOT NULL GROUP BY a, p, {col}"
        for kind, col in (("ip", "ip"), ("ua", "ua"), ("region", "r"))
    ]
    parts.append(
        "SELECT a, p, 'all' AS kind, '' AS v, min(t) AS first_seen, max(t) AS last_seen, "
        "count(*) AS events, sum(inv) AS invocations FROM ev GROUP BY a, p"
    )
    return f"WITH {_profile_events(dialect, hits)} " + " UNION ALL ".join(parts)


def profile_volume_sql(dialect: Dialect, hits: str = "hits") -> str:
    """Successful model invocations per principal and 5-minute bucket (own-history volume)."""
    t = _flat(dialect)
    b = f"CAST(floor({t.epoch('t')} / {PROFILE_BUCKET_SECONDS}) AS BIGINT)"
    return (
        f"WITH {_profile_events(dialect, hits)} SELECT a, p, {b} AS bucket, count(*) AS n "
        f"FROM ev WHERE inv = 1 GROUP BY a, p, {b}"
    )
