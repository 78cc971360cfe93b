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
