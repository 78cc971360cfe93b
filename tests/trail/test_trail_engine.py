"""The DuckDB engine: inputs of every shape, bad files, time windows, stable findings."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from trailkit import example_records

from phantomkeys.trail import duckdb_engine
from phantomkeys.trail.duckdb_engine import DuckDBEngine
from phantomkeys.trail.hunt import plan_sources, run_duckdb
from phantomkeys.trail.pack import load_pack
from phantomkeys.trail.records import batches, discover

PACK = load_pack()


def hunt(paths: list[Path], **kw: Any) -> Any:
    plan = plan_sources([str(p) for p in paths], kw.get("since"), kw.get("until"))
    return run_duckdb(PACK, plan, since=kw.get("since"), until=kw.get("until"), threads=1)


def rule_ids(result: Any) -> set[str]:
    return {f.rule_id for f in result.findings}


def test_bad_files_are_named_and_the_rest_is_read(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    good = write_trail(example_records("phantom-user-created"), n=1)
    truncated = write_trail(example_records("api-key-created"), n=2)
    truncated.write_bytes(truncated.read_bytes()[:-20])
    invalid = write_trail([], n=3)
    invalid.write_bytes(gzip.compress(b'{"Records": [{"eventName": "x",}'))
    no_records = write_trail([], n=4)
    no_records.write_bytes(gzip.compress(b'{"digestStartTime": "2026-11-20T10:00:00Z"}'))
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = hunt([tmp_path])
    reasons = {Path(b.name).name: b.reason for b in result.bad_files}
    assert "truncated or corrupt gzip" in reasons[truncated.name]
    assert "invalid JSON" in reasons[invalid.name]
    assert "no Records" in reasons[no_records.name]
    assert reasons["empty.json"] == "empty file"
    assert len(reasons) == 4
    assert good.exists()
    assert "phantom-user-created" in rule_ids(result)
    assert result.stats.files_read == 1


@pytest.mark.parametrize(
    "shape", ["pretty", "ndjson", "array", "lookup-events", "lake-rows", "lake-objects"]
)
def test_other_export_shapes_are_read(tmp_path: Path, shape: str) -> None:
    records = example_records("api-key-created-without-expiry")
    match shape:
        case "pretty":
            text = json.dumps({"Records": records}, indent=2)
        case "ndjson":
            text = "\n".join(json.dumps(r) for r in records) + "\n"
        case "array":
            text = json.dumps(records)
        case "lookup-events":
            text = json.dumps(
                {
                    "Events": [
                        {
                            "EventId": r["eventID"],
                            "EventName": r["eventName"],
                            "CloudTrailEvent": json.dumps(r),
                        }
                        for r in records
                    ]
                }
            )
        case "lake-rows":
            text = json.dumps(
                {
                    "QueryResultRows": [
                        [
                            {k.lower(): (json.dumps(v) if isinstance(v, dict) else v)}
                            for k, v in r.items()
                        ]
                        for r in records
                    ]
                }
            )
        case _:
            text = json.dumps(
                [
                    {**r, "eventTime": r["eventTime"].replace("T", " ")[:-1] + ".000"}
                    for r in records
                ]
            )
    (tmp_path / f"export.{shape}.json").write_text(text)
    result = hunt([tmp_path])
    assert not result.bad_files
    assert result.stats.records_read == len(records)
    mine = [f for f in result.findings if f.rule_id == "api-key-created-without-expiry"]
    assert sum(f.evidence["count"] for f in mine) == len(records)
    assert {f.subject for f in mine} == {"BedrockAPIKey-hr8l", "AeaApiKey-q2w9"}


def test_since_until_filter_records_and_day_folders(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    records = example_records("phantom-user-created")  # 2026-11-20 09:58 and 09:59
    write_trail(records, stamp="20261120T1000")
    old = write_trail(records, stamp="20261001T1000", n=7)
    since = datetime(2026, 11, 20, 9, 58, 30, tzinfo=UTC)
    found = discover([tmp_path], since, None)
    assert old not in [f.path for f in found.files]
    assert found.skipped_by_date == 1
    result = hunt([tmp_path], since=since)
    assert result.stats.records_read == 2
    assert result.stats.records_in_window == 1
    (finding,) = [f for f in result.findings if f.rule_id == "phantom-user-created"]
    assert finding.evidence["count"] == 1
    until = datetime(2026, 11, 20, 9, 58, 30, tzinfo=UTC)
    result = hunt([tmp_path], until=until)
    assert result.stats.records_in_window == 2  # one per file


def test_fingerprints_are_stable_and_ignore_counts(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    records = example_records("bearer-token-http-tool")
    write_trail(records[:1], root=tmp_path / "a")
    write_trail(records[:2], root=tmp_path / "b")
    one = {f.rule_id: f for f in hunt([tmp_path / "a"]).findings}
    two = {f.rule_id: f for f in hunt([tmp_path / "b"]).findings}
    assert one["bearer-token-http-tool"].evidence["count"] == 1
    assert two["bearer-token-http-tool"].evidence["count"] == 2
    assert one["bearer-token-http-tool"].fingerprint == two["bearer-token-http-tool"].fingerprint
    again = {f.rule_id: f for f in hunt([tmp_path / "b"]).findings}
    assert [f.fingerprint for f in again.values()] == [f.fingerprint for f in two.values()]


def test_evidence_has_the_documented_fields(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(example_records("invocation-spike"))
    result = hunt([tmp_path])
    spike = next(f for f in result.findings if f.rule_id == "invocation-spike")
    ev = spike.evidence
    assert ev["principal"] == "arn:aws:iam::111122223333:user/BedrockAPIKey-hr8l"
    assert ev["account_id"] == spike.account_id == "111122223333"
    assert ev["count"] == 105
    assert ev["window"]["peak"] == 105
    assert ev["window"]["sliding"]
    assert ev["regions"] == ["eu-west-1", "us-east-1", "us-west-2"]
    assert ev["source_ips"] == ["45.148.10.77"]
    assert ev["user_agents"] == ["python-requests/2.32.3"]
    assert ev["models"] == ["us.anthropic.claude-3-7-sonnet-20250219-v1:0"]
    assert ev["first_seen"] == "2026-11-20T09:58:00Z"
    assert len(ev["event_ids"]) == 100
    assert ev["event_ids_truncated"] is True


def test_value_count_evidence_lists_each_value(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(example_records("bearer-new-source-ip"))
    f = next(f for f in hunt([tmp_path]).findings if f.rule_id == "bearer-new-source-ip")
    values = {v["value"]: v for v in f.evidence["values"]}
    assert set(values) == {"198.51.100.24", "45.148.10.77"}
    assert values["45.148.10.77"]["first_seen"] == "2026-11-20T11:58:00Z"


def test_large_files_are_read_directly(
    tmp_path: Path, write_trail: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_engine, "DIRECT_BYTES", 1)
    write_trail(example_records("phantom-user-created"), n=1)
    bad = write_trail(example_records("api-key-created"), n=2)
    bad.write_bytes(b"\x1f\x8b" + bad.read_bytes()[2:-30])
    engine = DuckDBEngine(PACK, threads=1)
    result = engine.run(batches(discover([tmp_path]).files))
    assert "phantom-user-created" in rule_ids(result)
    assert [Path(b.name).name for b in result.bad_files] == [bad.name]


def test_many_small_files_in_several_batches(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    records = example_records("invocation-spike")
    for i, rec in enumerate(records):  # one file per record, several batches
        write_trail([rec], region=rec["awsRegion"], n=i)
    files = discover([tmp_path]).files
    engine = DuckDBEngine(PACK, threads=1)
    result = engine.run(batches(files, max_files=16))
    assert result.stats.files_read == len(records) == result.stats.records_read
    assert "invocation-spike" in rule_ids(result)


def test_synthetic_llmjacking_story_is_found(tmp_path: Path) -> None:
    from phantomkeys.trail.synth import SynthConfig, generate

    for sf in generate(SynthConfig(slots=48, records_per_file=4, accounts=("111122223333",))):
        path = tmp_path / sf.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": sf.records}).encode()))
    ids = rule_ids(hunt([tmp_path]))
    assert {
        "api-key-created-without-expiry",
        "phantom-user-credential-added",
        "invocation-spike",
        "cross-region-burst",
        "bearer-new-source-ip",
        "bearer-token-guardrail-tampering",
        "model-access-recon",
        "bearer-token-http-tool",
    } <= ids
