"""``phantomkeys history list|diff|show``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli
from phantomkeys.history import store

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return loaded


@pytest.fixture
def two_scans(tmp_path: Path) -> Path:
    db = tmp_path / "h.sqlite"
    before = fixture("scan")
    after = copy.deepcopy(before)
    after["metadata"]["scan_time"] = "2026-11-30T10:00:00Z"
    resolved = after["findings"].pop(0)
    assert resolved
    added = copy.deepcopy(after["findings"][0])
    added.update(fingerprint="c" * 32, title="Brand new finding")
    after["findings"].append(added)
    store.record(before, db)
    store.record(after, db)
    return db


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_list_as_json_and_table(two_scans: Path) -> None:
    result = run("history", "list", "--history", str(two_scans), "--format", "json")
    assert result.exit_code == 0, result.output
    scans = json.loads(result.stdout)["scans"]
    assert [s["id"] for s in scans] == [1, 2]
    table = run("history", "list", "--history", str(two_scans), "--format", "table")
    assert "2 recorded scan(s)" in table.stdout
    assert "2026-11-30T10:00:00Z" in table.stdout


def test_diff_defaults_to_the_last_two_scans(two_scans: Path) -> None:
    result = run("history", "diff", "--history", str(two_scans), "--format", "json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["diff"]["counts"]
    assert counts == {"new": 1, "resolved": 1, "unverified": 0, "changed": 0, "unchanged": 11}


def test_diff_table_and_markdown(two_scans: Path) -> None:
    table = run("history", "diff", "--history", str(two_scans), "--format", "table").stdout
    assert "1 new" in table
    assert "Brand new finding" in table
    md = run(
        "history", "diff", "1", "2", "--history", str(two_scans), "--format", "markdown"
    ).stdout
    assert md.startswith("## phantomkeys: changes #1")
    assert "### New" in md


def test_fail_on_new_exits_1_only_when_there_is_something_new(two_scans: Path) -> None:
    assert (
        run(
            "history", "diff", "--history", str(two_scans), "--fail-on-new", "--format", "json"
        ).exit_code
        == 1
    )
    assert (
        run(
            "history",
            "diff",
            "2",
            "2",
            "--history",
            str(two_scans),
            "--fail-on-new",
            "--format",
            "json",
        ).exit_code
        == 0
    )


def test_show_re_renders_an_old_scan(two_scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.md"
    result = run(
        "history", "show", "1", "--history", str(two_scans), "--format", "markdown", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("## phantomkeys: API-key scan")
    assert (out.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(
    "args",
    [
        ("history", "diff", "1", "7"),
        ("history", "show", "nope"),
    ],
)
def test_errors_are_one_line_exit_2(two_scans: Path, args: tuple[str, ...]) -> None:
    result = run(*args, "--history", str(two_scans))
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_missing_history_is_a_usage_error(tmp_path: Path) -> None:
    result = run("history", "list", "--history", str(tmp_path / "none.sqlite"))
    assert result.exit_code == 2
    assert not (tmp_path / "none.sqlite").exists()  # listing never creates one
