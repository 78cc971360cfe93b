"""Glob-named files on the Spark engine: read literally, each once (Hadoop globs paths too)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from trailkit import example_records

from phantomkeys.cli import cli

pytestmark = pytest.mark.spark

if shutil.which("java") is None:
    pytest.skip("Java runtime not installed", allow_module_level=True)
pytest.importorskip("pyspark")


def test_glob_named_files_on_spark(tmp_path: Path) -> None:
    base = example_records("key-logging-tampering")
    records = []
    for i in range(50):
        rec = copy.deepcopy(base[i % len(base)])
        rec["eventID"] = f"spark-{i:04d}"
        records.append(rec)
    (tmp_path / "trail1.json").write_text(json.dumps({"Records": records[:1]}))
    (tmp_path / "trail[1].json").write_text(json.dumps({"Records": records}))
    (tmp_path / "*.json").write_text(json.dumps({"Records": records[:3]}))

    result = CliRunner().invoke(
        cli,
        [
            "hunt",
            str(tmp_path),
            "--engine",
            "spark",
            "--spark-master",
            "local[1]",
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metadata"]["bad_files"] == []
    assert doc["metadata"]["files_read"] == 3
    assert doc["metadata"]["records_read"] == 1 + 50 + 3
    assert doc["coverage"]["complete"] is True
