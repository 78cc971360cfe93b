"""Public CloudTrail shapes and their one-field probes: the expected verdict on every engine.

The records (tests/data/public/, sources in its README) are written from AWS's
documentation, Permiso's LLMjacking write-up and Panther's and Elastic's rule
tests. DuckDB runs here; the Athena path runs against the lab (S3 and Athena over
HTTP, the Athena results standing in for the hits query); Spark in
test_trail_spark.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from trailkit import athena_rows, check_verdict, public_cases, trail_key

from phantomkeys.trail.hunt import add_incidents, plan_sources, run_duckdb
from phantomkeys.trail.pack import load_pack

PACK = load_pack()
CASES = public_cases()


def _write(root: Path, records: list[dict[str, Any]], account: str = "111122223333") -> Path:
    path = root / trail_key(account, "us-east-1", "20260101T0000")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def test_every_public_file_has_a_verdict_and_a_source() -> None:
    from trailkit import PUBLIC_DIR

    files = {p.name for p in PUBLIC_DIR.glob("*.json")}
    named = {c["name"] + ".json" for c in CASES}
    assert files <= named
    readme = (PUBLIC_DIR / "README.md").read_text()
    for f in files:
        assert f"`{f}`" in readme and "https://" in readme


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_public_shapes_on_duckdb(case: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, case["records"])
    result = run_duckdb(PACK, plan_sources([str(tmp_path)], None, None), since=None, until=None)
    result = add_incidents(result)
    assert not check_verdict(case, result.findings, result.incidents)


@pytest.mark.lab
def test_public_shapes_on_the_athena_path_against_the_lab(
    phantomkeys_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hunt s3://... --engine athena`` through the CLI, the lab serving S3 and Athena."""
    from click.testing import CliRunner

    from phantomkeys.cli import cli

    s3 = phantomkeys_lab.client("s3")
    account = phantomkeys_lab.client("sts").get_caller_identity()["Account"]
    s3.create_bucket(Bucket="public-shapes")
    problems: list[str] = []
    for i, case in enumerate(CASES):
        local = tmp_path / case["name"]
        path = _write(local, case["records"])
        key = f"case{i}/" + str(path.relative_to(local))
        s3.put_object(Bucket="public-shapes", Key=key, Body=path.read_bytes())
        rows, info = athena_rows(PACK, local)
        phantomkeys_lab.queue_athena_results(
            [{"rows": [], "column_info": []}, {"rows": rows, "column_info": info}],
            account_id=account,
        )
        result = CliRunner().invoke(
            cli,
            [
                "hunt",
                f"s3://public-shapes/case{i}/",
                "--engine",
                "athena",
                "--region",
                "us-east-1",
                "--athena-output",
                "s3://public-shapes/athena/",
                "--format",
                "json",
                "--fail-on",
                "never",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["metadata"]["engine"] == "athena"
        problems += _check_document(case, doc)
    assert not problems


def _check_document(case: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    from types import SimpleNamespace

    from phantomkeys.core.findings import Severity

    findings = [SimpleNamespace(rule_id=f["rule_id"]) for f in doc["findings"]]
    incidents = [SimpleNamespace(severity=Severity(i["severity"])) for i in doc["incidents"]]
    return check_verdict(case, findings, incidents)
