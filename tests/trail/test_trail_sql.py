"""Sigma -> SQL: matching semantics on DuckDB, sliding windows, and SQL that parses."""

# ruff: noqa: S608 - SQL built from test fixtures

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from phantomkeys.trail import fields as F
from phantomkeys.trail.duckdb_engine import flat_columns_ddl
from phantomkeys.trail.export import export_sql
from phantomkeys.trail.pack import Correlation, CorrelationType, load_pack
from phantomkeys.trail.queries import (
    compile_detections,
    correlation_sql,
    hit_columns,
    hits_select,
    single_findings_sql,
)
from phantomkeys.trail.sql import ATHENA, FLAT_DUCKDB, FLAT_SPARK, LAKE, Dialect, where_clauses

PACK = load_pack()


def _rule(detection: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "t",
        "id": "4e5f23da-ffcd-4dd5-9ec2-46fe50c3fa00",
        "name": "t",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "level": "low",
        "detection": detection,
    }


@pytest.fixture
def con() -> Any:
    c = duckdb.connect()
    c.execute(f"CREATE TABLE ev ({flat_columns_ddl()})")
    rows = [
        {
            "eventName": "CreateUser",
            "requestParameters.userName": "BedrockAPIKey-ab12",
            "requestParameters": '{"userName":"BedrockAPIKey-ab12","tags":{"team":"ml"}}',
        },
        {
            "eventName": "createuser",
            "requestParameters.userName": "alice",
            "requestParameters": '{"userName":"alice"}',
        },
        {"eventName": "CreateAccessKey", "requestParameters.userName": "bedrockapikey_x%y"},
        {"eventName": "ListBuckets"},  # no userName at all
    ]
    for i, row in enumerate(rows):
        cols = ['"eventID"', *(f'"{k}"' for k in row)]
        vals = [f"e{i}", *row.values()]
        c.execute(
            f"INSERT INTO ev ({', '.join(cols)}) VALUES ({', '.join('?' for _ in vals)})", vals
        )
    return c


def _ids(con: Any, detection: dict[str, Any]) -> set[str]:
    (where,) = where_clauses(_rule(detection), FLAT_DUCKDB)
    return {r[0] for r in con.execute(f'SELECT "eventID" FROM ev WHERE {where}').fetchall()}


def test_strings_match_case_insensitively(con: Any) -> None:
    assert _ids(con, {"s": {"eventName": "CREATEUSER"}, "condition": "s"}) == {"e0", "e1"}


def test_cased_modifier_is_exact(con: Any) -> None:
    assert _ids(con, {"s": {"eventName|cased": "CreateUser"}, "condition": "s"}) == {"e0"}


def test_not_is_true_when_the_field_is_missing(con: Any) -> None:
    got = _ids(
        con,
        {"s": {"requestParameters.userName|startswith": "BedrockAPIKey-"}, "condition": "not s"},
    )
    assert got == {"e1", "e2", "e3"}  # e3 has no userName: Sigma's "not" still holds


def test_like_metacharacters_in_values_are_literal(con: Any) -> None:
    assert _ids(
        con, {"s": {"requestParameters.userName|startswith": "BedrockAPIKey_"}, "condition": "s"}
    ) == {"e2"}
    assert _ids(con, {"s": {"requestParameters.userName|contains": "x%y"}, "condition": "s"}) == {
        "e2"
    }
    assert (
        _ids(con, {"s": {"requestParameters.userName|contains": "x%z"}, "condition": "s"}) == set()
    )


def test_any_nested_field_is_reachable(con: Any) -> None:
    assert _ids(con, {"s": {"requestParameters.tags.team": "ML"}, "condition": "s"}) == {"e0"}


def test_null_and_exists(con: Any) -> None:
    assert _ids(con, {"s": {"requestParameters.userName": None}, "condition": "s"}) == {"e3"}
    assert _ids(con, {"s": {"requestParameters.userName|exists": True}, "condition": "s"}) == {
        "e0",
        "e1",
        "e2",
    }


# ------------------------------------------------------------ sliding windows


def _hits(con: Any, events: list[tuple[int, str, str, str]]) -> None:
    """events: (seconds, principal, region, ip)."""
    cols = hit_columns(PACK)
    q = FLAT_DUCKDB.quote
    ddl = ", ".join(f"{q(c)} {'TIMESTAMP' if c == F.EVENT_TIME else 'VARCHAR'}" for c in cols)
    con.execute(f"CREATE OR REPLACE TABLE hits (rule_name VARCHAR, subject VARCHAR, {ddl})")
    t0 = datetime(2026, 11, 20, 9, 58)
    for i, (sec, principal, region, ip) in enumerate(events):
        con.execute(
            'INSERT INTO hits (rule_name, subject, "eventID", "eventTime", "awsRegion", '
            '"sourceIPAddress", "recipientAccountId", "userIdentity.arn", "principal") '
            "VALUES ('base', ?, ?, ?, ?, ?, '111122223333', ?, ?)",
            [principal, f"e{i}", t0 + timedelta(seconds=sec), region, ip, principal, principal],
        )


def _brute_peak(
    events: list[tuple[int, str, str, str]], principal: str, span: int, value: int | None
) -> int:
    mine = [e for e in events if e[1] == principal]
    best = 0
    for end in {e[0] for e in mine}:
        inside = [e for e in mine if end - span <= e[0] <= end]
        n = len(inside) if value is None else len({e[value] for e in inside})
        best = max(best, n)
    return best


def _corr(kind: CorrelationType, threshold: int, span: int, field: str | None) -> Correlation:
    return Correlation(
        type=kind,
        rules=("base",),
        group_by=("recipientAccountId", "userIdentity.arn"),
        timespan=f"{span}s",
        timespan_seconds=span,
        threshold=threshold,
        field=field,
        generate=False,
    )


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3600),
        st.sampled_from(["p1", "p2"]),
        st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1"]),
        st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(events=EVENTS, threshold=st.integers(1, 12), span=st.sampled_from([60, 300, 900]))
def test_event_count_equals_brute_force_sliding_window(
    events: list[tuple[int, str, str, str]], threshold: int, span: int
) -> None:
    con = duckdb.connect()
    _hits(con, events)
    rows = con.execute(
        correlation_sql(Dialect.DUCKDB, _corr(CorrelationType.EVENT_COUNT, threshold, span, None))
    ).fetchall()
    got = {r[1]: r[2] for r in rows}  # g1 (principal) -> peak
    for p in ("p1", "p2"):
        peak = _brute_peak(events, p, span, None)
        if peak >= threshold:
            assert got.get(p) == peak
        else:
            assert p not in got


@settings(max_examples=60, deadline=None)
@given(
    events=EVENTS,
    threshold=st.integers(1, 4),
    span=st.sampled_from([60, 300, 900]),
    which=st.sampled_from([(2, "awsRegion"), (3, "sourceIPAddress")]),
)
def test_value_count_equals_brute_force_sliding_window(
    events: list[tuple[int, str, str, str]], threshold: int, span: int, which: tuple[int, str]
) -> None:
    con = duckdb.connect()
    _hits(con, events)
    index, field = which
    rows = con.execute(
        correlation_sql(Dialect.DUCKDB, _corr(CorrelationType.VALUE_COUNT, threshold, span, field))
    ).fetchall()
    got = {r[1]: r[2] for r in rows}
    for p in ("p1", "p2"):
        peak = _brute_peak(events, p, span, index)
        if peak >= threshold:
            assert got.get(p) == peak
        else:
            assert p not in got


def test_a_burst_across_a_bucket_boundary_is_one_window() -> None:
    con = duckdb.connect()
    # 6 events at 09:59:50..10:00:00 then nothing: fixed 5-minute buckets see 1 + 5.
    events = [(110 + 2 * k, "p1", "us-east-1", "10.0.0.1") for k in range(6)]
    _hits(con, events)
    rows = con.execute(
        correlation_sql(Dialect.DUCKDB, _corr(CorrelationType.EVENT_COUNT, 6, 300, None))
    ).fetchall()
    assert [r[2] for r in rows] == [6]


# ------------------------------------------------------------ SQL that parses


def _parse(sql: str, dialect: str) -> None:
    statements = sqlglot.parse(sql, read=dialect)
    assert statements
    assert all(s is not None for s in statements)


def test_generated_athena_sql_parses_as_trino() -> None:
    text = export_sql(PACK, ATHENA, '"default"."cloudtrail_logs"')
    statements = [s for s in text.split(";\n") if s.strip()]
    assert len(statements) == len(PACK.emitting)
    for sql in statements:
        _parse(sql, "trino")


def test_generated_lake_sql_parses_as_trino() -> None:
    text = export_sql(PACK, LAKE, "eds_0123456789")
    for sql in [s for s in text.split(";\n") if s.strip()]:
        _parse(sql, "trino")


def test_engine_sql_parses_in_each_dialect() -> None:
    cols = hit_columns(PACK)
    for target, dialect, name in (
        (FLAT_SPARK, Dialect.SPARK, "spark"),
        (ATHENA, Dialect.TRINO, "trino"),
        (FLAT_DUCKDB, Dialect.DUCKDB, "duckdb"),
    ):
        src = "events" if target is not ATHENA else '"db"."t"'
        _parse(hits_select(compile_detections(PACK, target), target, src, cols), name)
        _parse(single_findings_sql(dialect, [r.name for r in PACK.emitting]), name)
        for rule in PACK.correlations:
            assert rule.correlation is not None
            _parse(correlation_sql(dialect, rule.correlation), name)


def test_regular_expressions_and_their_flags(con: Any) -> None:
    assert _ids(con, {"s": {"eventName|re": "^Create[A-Z]"}, "condition": "s"}) == {"e0", "e2"}
    assert _ids(con, {"s": {"eventName|re|i": "^createuser$"}, "condition": "s"}) == {"e0", "e1"}
