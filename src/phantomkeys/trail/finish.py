"""From hits to findings: the same evidence shape whichever engine found them.

Every finding of the pack carries, in ``evidence``: ``principal`` (who made
the calls), ``account_id``, ``count``, ``first_seen``/``last_seen``,
``regions``, ``source_ips``, ``user_agents``, ``models``, ``event_names``,
``error_codes`` and the matching records' ``event_ids`` (the first
:data:`~phantomkeys.trail.queries.EVENT_ID_CAP`, in time order). Correlation
findings add ``window`` (timespan, threshold, peak, when it triggered) and,
for value counts, the counted ``values`` with first and last use.

Fingerprints are built from rule, account and subject only, so the same
activity gives the same fingerprint on every run, whatever the counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.findings import Finding, sort_findings
from phantomkeys.trail.pack import CorrelationType, PackRule, RulePack
from phantomkeys.trail.queries import (
    EVENT_ID_CAP,
    LIST_CAP,
    correlation_sql,
    correlation_values_sql,
    profile_values_sql,
    profile_volume_sql,
    single_findings_sql,
)
from phantomkeys.trail.sql import Dialect


@dataclass(slots=True)
class HuntStats:
    engine: str
    files_read: int = 0
    files_fallback: int = 0
    records_read: int = 0
    records_in_window: int = 0
    hits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "files_read": self.files_read,
            "files_decoded_in_python": self.files_fallback,
            "records_read": self.records_read,
            "records_in_window": self.records_in_window,
            "hits": self.hits,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class HuntResult:
    findings: tuple[Finding, ...]
    stats: HuntStats
    bad_files: tuple[Any, ...]
    pack: RulePack
    #: Each principal's values and volume (:mod:`phantomkeys.trail.incidents`).
    profile: Any = None
    #: Scored incidents, one verdict per principal and window (set by the hunt).
    incidents: tuple[Any, ...] = ()


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value)
    if " " in text and "T" not in text:
        text = text.replace(" ", "T")
    return text[:19] + "Z" if len(text) >= 19 else text


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [v for v in value if v is not None and v != ""]


def _evidence(row: Mapping[str, Any], account: str) -> dict[str, Any]:
    principals = _list(row.get("principals"))
    count = int(row.get("event_count") or 0)
    event_ids = _list(row.get("event_ids"))
    ev: dict[str, Any] = {
        "principal": principals[0] if principals else "",
        "account_id": account or None,
        "count": count,
        "first_seen": iso(row.get("first_seen")),
        "last_seen": iso(row.get("last_seen")),
        "regions": _list(row.get("regions")),
        "source_ips": _list(row.get("source_ips")),
        "user_agents": _list(row.get("user_agents")),
        "models": _list(row.get("models")),
        "event_names": _list(row.get("event_names")),
        "error_codes": _list(row.get("error_codes")),
        "event_ids": event_ids,
    }
    if len(principals) > 1:
        ev["principals"] = principals
    if count > len(event_ids) and len(event_ids) >= EVENT_ID_CAP:
        ev["event_ids_truncated"] = True
    return ev


def single_finding(rule: PackRule, row: Mapping[str, Any]) -> Finding:
    account = str(row.get("account_id") or "")
    subject = str(row.get("subject") or "") or "(unknown)"
    ev = _evidence(row, account)
    if row.get("source_file"):
        ev["source_file"] = row["source_file"]
    return Finding.from_rule(rule.rule, subject=subject, account_id=account or None, evidence=ev)


def correlation_finding(
    rule: PackRule,
    row: Mapping[str, Any],
    values: Sequence[Mapping[str, Any]] = (),
    *,
    by_file: bool = False,
) -> Finding:
    corr = rule.correlation
    assert corr is not None
    if by_file:
        corr = replace(corr, group_by=(*corr.group_by, "source_file"))
    groups = {g: str(row.get(f"g{i}") or "") for i, g in enumerate(corr.group_by)}
    source_file = groups.pop("source_file", None)
    account = groups.get("recipientAccountId", "")
    subject_field = rule.subject_field if rule.subject_field in groups else None
    if subject_field is None:
        others = [v for k, v in groups.items() if k != "recipientAccountId" and v]
        subject = " / ".join(others) or "(unknown)"
    else:
        subject = groups[subject_field] or "(unknown)"
    ev = _evidence(row, account)
    if not ev["principal"]:
        ev["principal"] = subject
    ev["group"] = groups
    if source_file:
        ev["source_file"] = source_file
    ev["window"] = {
        "type": corr.type.value,
        "timespan": corr.timespan,
        "threshold": corr.threshold,
        "sliding": True,
        "peak": int(row.get("peak") or 0),
        "triggered_from": iso(row.get("t_first")),
        "triggered_until": iso(row.get("t_last")),
    }
    if corr.type is not CorrelationType.EVENT_COUNT:
        ev["window"]["field"] = corr.field or "rule"
        ordered = sorted(values, key=lambda r: (str(r.get("first_seen")), str(r.get("v"))))
        ev["values"] = [
            {
                "value": v.get("v"),
                "count": int(v.get("event_count") or 0),
                "first_seen": iso(v.get("first_seen")),
                "last_seen": iso(v.get("last_seen")),
            }
            for v in ordered[:LIST_CAP]
        ]
        if len(ordered) > LIST_CAP:
            ev["values_truncated"] = True
    return Finding.from_rule(rule.rule, subject=subject, account_id=account or None, evidence=ev)


def findings_from_rows(
    pack: RulePack,
    single_rows: Iterable[Mapping[str, Any]],
    correlation_rows: Mapping[str, Sequence[Mapping[str, Any]]],
    value_rows: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    by_file: bool = False,
) -> list[Finding]:
    by_name = {r.name: r for r in pack}
    out = [single_finding(by_name[str(row["rule_name"])], row) for row in single_rows]
    for name, rows in correlation_rows.items():
        rule = by_name[name]
        n = (max(1, len(rule.correlation.group_by)) if rule.correlation else 1) + int(by_file)
        by_group: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        for v in value_rows.get(name, ()):
            by_group.setdefault(tuple(v.get(f"g{i}") for i in range(n)), []).append(v)
        for row in rows:
            key = tuple(row.get(f"g{i}") for i in range(n))
            out.append(correlation_finding(rule, row, by_group.get(key, []), by_file=by_file))
    return sort_findings(out)


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def findings_from_duckdb(con: Any, pack: RulePack, hits: str = "hits") -> list[Finding]:
    """Evaluate single-event aggregation and correlations on a DuckDB ``hits`` table."""
    emitting = [r.name for r in pack.emitting if r.correlation is None]
    single = _rows(con, single_findings_sql(Dialect.DUCKDB, emitting, hits)) if emitting else []
    corr_rows: dict[str, list[dict[str, Any]]] = {}
    value_rows: dict[str, list[dict[str, Any]]] = {}
    for r in pack.correlations:
        assert r.correlation is not None
        corr_rows[r.name] = _rows(con, correlation_sql(Dialect.DUCKDB, r.correlation, hits))
        if corr_rows[r.name] and r.correlation.type is not CorrelationType.EVENT_COUNT:
            value_rows[r.name] = _rows(
                con, correlation_values_sql(Dialect.DUCKDB, r.correlation, hits)
            )
    return findings_from_rows(pack, single, corr_rows, value_rows)


def profile_from_rows(run: Any, dialect: Dialect, hits: str = "hits") -> Any:
    """Each principal's profile from the hits relation; ``run(sql)`` returns row dicts."""
    from phantomkeys.trail.incidents import build_profile

    values = run(profile_values_sql(dialect, hits))
    return build_profile(values, run(profile_volume_sql(dialect, hits)))


def profile_from_duckdb(con: Any, hits: str = "hits") -> Any:
    return profile_from_rows(lambda sql: _rows(con, sql), Dialect.DUCKDB, hits)
