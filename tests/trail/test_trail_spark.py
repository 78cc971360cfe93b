"""The Spark engine: every rule on its examples, on a local SparkSession.

Skipped only when Java or pyspark is missing (CI installs both: default-jre-headless
and the [spark] extra).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.trail.pack import load_pack
from phantomkeys.trail.selftest import check_pack

pytestmark = pytest.mark.spark

if shutil.which("java") is None:
    pytest.skip("Java runtime not installed", allow_module_level=True)
pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def runner() -> Any:
    from phantomkeys.trail.spark_engine import get_session, spark_runner

    run = spark_runner("local[2]")
    yield run
    get_session().stop()


def test_every_rule_on_spark(runner: Any) -> None:
    outcomes = check_pack(load_pack(), runner=runner)
    failed = [o.to_dict() for o in outcomes if not o.ok]
    assert not failed
    assert len(outcomes) == len(load_pack())


def test_spark_hunt_matches_duckdb(runner: Any, tmp_path: Path, write_trail: Any) -> None:
    from trailkit import example_records

    from phantomkeys.trail.hunt import plan_sources, run_duckdb
    from phantomkeys.trail.spark_engine import run_spark

    write_trail(example_records("invocation-spike"), n=1)
    write_trail(example_records("phantom-user-policy-added"), n=2)
    bad = write_trail([], n=3)
    bad.write_bytes(b'{"not": "cloudtrail"}')
    pack = load_pack()
    plan = plan_sources([str(tmp_path)], None, None)
    spark = run_spark(pack, plan, [str(tmp_path)], master="local[2]", since=None, until=None)
    local = run_duckdb(pack, plan, since=None, until=None, threads=1)
    assert sorted(
        (f.rule_id, f.fingerprint, f.evidence["count"]) for f in spark.findings
    ) == sorted((f.rule_id, f.fingerprint, f.evidence["count"]) for f in local.findings)
    assert [Path(b.name).name for b in spark.bad_files] == [bad.name]


@pytest.mark.slow  # one Spark run per case (~20 runs): `pytest -m slow`; DuckDB and the
# Athena path run the same cases in the default suite (tests/trail/test_trail_public.py)
def test_public_shapes_and_probes_on_spark(runner: Any, tmp_path: Path) -> None:
    """Every public record and probe gets its expected verdict on Spark too (one run each)."""
    import gzip
    import json

    from trailkit import check_verdict, public_cases, trail_key

    from phantomkeys.trail.hunt import add_incidents, plan_sources
    from phantomkeys.trail.spark_engine import run_spark

    pack = load_pack()
    problems: list[str] = []
    for case in public_cases():
        root = tmp_path / case["name"]
        path = root / trail_key("111122223333", "us-east-1", "20260101T0000")
        path.parent.mkdir(parents=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": case["records"]}).encode()))
        plan = plan_sources([str(root)], None, None)
        result = run_spark(pack, plan, [str(root)], master="local[2]", since=None, until=None)
        result = add_incidents(result)
        problems += check_verdict(case, result.findings, result.incidents)
    assert not problems


def test_incidents_on_spark_match_duckdb(runner: Any, tmp_path: Path, write_trail: Any) -> None:
    """The per-principal profile (new IP, tool, sustained volume) is the same SQL on Spark."""
    from incidentkit import benign_volume, several_mediums, slow_abuse

    from phantomkeys.trail.hunt import add_incidents, plan_sources, run_duckdb
    from phantomkeys.trail.spark_engine import run_spark

    write_trail(slow_abuse("BedrockAPIKey-s10w", plane="mantle"), n=1)
    write_trail(benign_volume("BedrockAPIKey-b1g0")[:1800], n=2)
    write_trail(several_mediums("BedrockAPIKey-m1x0"), n=3)
    pack = load_pack()
    plan = plan_sources([str(tmp_path)], None, None)
    spark = add_incidents(
        run_spark(pack, plan, [str(tmp_path)], master="local[2]", since=None, until=None)
    )
    local = add_incidents(run_duckdb(pack, plan, since=None, until=None, threads=1))

    def verdicts(result: Any) -> list[tuple[str, str, int, list[str]]]:
        return sorted(
            (i.principal, i.severity.value, i.score, sorted(p.name for p in i.parts))
            for i in result.incidents
        )

    assert verdicts(spark) == verdicts(local)
    high = [v for v in verdicts(spark) if v[0].endswith("BedrockAPIKey-s10w")]
    assert high and high[0][1] in ("high", "critical")
