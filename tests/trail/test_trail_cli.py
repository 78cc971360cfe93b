"""``phantomkeys hunt`` and ``phantomkeys rules`` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from trailkit import example_records

from phantomkeys.cli import cli

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "src/phantomkeys/schemas/hunt.schema.json").read_text()
)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def trail_dir(tmp_path: Path, write_trail: Callable[..., Path]) -> Path:
    write_trail(example_records("phantom-user-credential-added"), n=1)
    write_trail(example_records("bearer-token-call"), region="us-west-2", n=2)
    return tmp_path


def test_hunt_json_document(trail_dir: Path) -> None:
    result = run("hunt", str(trail_dir), "--format", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    meta = doc["metadata"]
    assert meta["command"] == "hunt"
    assert meta["engine"] == "duckdb"
    assert meta["files_read"] == 2
    assert meta["bad_files"] == []
    assert meta["windows"] == "sliding"
    assert meta["records_read"] == 5 + 2
    assert {f["rule_id"] for f in doc["findings"]} >= {
        "phantom-user-credential-added",
        "bearer-token-call",
    }
    assert {r["id"] for r in doc["rules"]} >= {"invocation-spike", "bearer-token-call"}
    ranks = ["critical", "high", "medium", "low", "info"]
    severities = [ranks.index(f["severity"]) for f in doc["findings"]]
    assert severities == sorted(severities)  # worst first
    # One verdict per principal: the phantom user's incident leads the findings.
    assert doc["findings"][0]["rule_id"] == "incident"
    assert doc["findings"][0]["severity"] in ("high", "critical")


def test_hunt_fails_on_severity_and_names_bad_files(trail_dir: Path) -> None:
    (trail_dir / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run("hunt", str(trail_dir), "--format", "json")
    assert result.exit_code == 1  # a high finding, default --fail-on high
    result = run("hunt", str(trail_dir), "--format", "json", "--fail-on", "never")
    assert result.exit_code == 3  # incomplete: one file could not be read
    doc = json.loads(result.stdout)
    assert doc["metadata"]["bad_files"] == [
        {
            "path": str(trail_dir / "broken.json.gz"),
            "reason": doc["metadata"]["bad_files"][0]["reason"],
        }
    ]
    assert "gzip" in doc["metadata"]["bad_files"][0]["reason"]
    assert "broken.json.gz" in result.stderr


def test_hunt_csv_to_private_file(trail_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "hunt.csv"
    result = run("hunt", str(trail_dir), "--format", "csv", "-o", str(out), "--fail-on", "never")
    assert result.exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    header, *rows = out.read_text().splitlines()
    assert header.startswith("severity,rule_id,title,account_id,subject,principal,count")
    assert any("phantom-user-credential-added" in r for r in rows)


def test_hunt_table_and_time_window(trail_dir: Path) -> None:
    result = run(
        "hunt",
        str(trail_dir),
        "--format",
        "table",
        "--since",
        "2026-11-20T09:59:30Z",
        "--fail-on",
        "never",
    )
    assert result.exit_code == 0
    assert "phantom-user-credential-added" in result.stdout
    assert "bearer-token-call" not in result.stdout  # both its records are at 09:58-09:59


def test_hunt_usage_errors(tmp_path: Path) -> None:
    assert run("hunt").exit_code == 2
    # A mistyped folder is bad input: one line, exit 2, never a clean 0.
    missing = run("hunt", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr
    assert run("hunt", str(tmp_path), "--since", "yesterday").exit_code == 2
    assert run("hunt", str(tmp_path), "--rule", "no-such-rule").exit_code == 2
    assert run("hunt", str(tmp_path), "--engine", "athena").exit_code == 2
    assert run("hunt", str(tmp_path), "--since", "2d", "--until", "3d").exit_code == 2


def test_rules_list_and_test() -> None:
    listed = run("rules", "list", "--format", "json")
    assert listed.exit_code == 0
    rules = json.loads(listed.stdout)["rules"]
    assert len(rules) >= 20
    assert all(r["attack"] for r in rules)
    tested = run("rules", "test", "--format", "json")
    assert tested.exit_code == 0, tested.stdout
    doc = json.loads(tested.stdout)
    assert doc["metadata"]["failed"] == 0
    assert doc["metadata"]["validation_issues"] == 0
    table = run("rules", "list", "--format", "table")
    assert "invocation-spike" in table.stdout
    assert "correlation" in table.stdout


def test_rules_test_fails_on_a_broken_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    src = Path(__file__).parents[2] / "src/phantomkeys/trail/rules"
    text = (src / "aws_cloudtrail_bedrock_phantom_user_created.yml").read_text()
    (rules / "x.yml").write_text(text.replace("- AeaApiKey-", "- NotAPrefix-"))
    result = run("rules", "test", "--rules", str(rules), "--format", "table")
    assert result.exit_code == 1
    assert "FAIL phantom-user-created" in result.stdout


@pytest.mark.parametrize(
    "target",
    [
        "splunk",
        "elastic",
        "sentinel",
        "spark",
        "athena",
        "cloudtrail-lake",
        "eventbridge",
        "cloudwatch",
        "sigma",
    ],
)
def test_rules_export_every_target(target: str) -> None:
    result = run("rules", "export", "--target", target)
    assert result.exit_code == 0, result.output
    assert "invocation-spike" in result.stdout or target == "eventbridge"
