"""The SQLite scan history: record, list, load, diff, and --fail-on new."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.history import store

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return loaded


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "phantomkeys" / "history.sqlite"


def test_record_creates_a_private_database_and_lists_scans(db: Path) -> None:
    first = store.record(fixture("scan"), db, recorded_at="2026-11-29T10:01:00Z")
    second = store.record(fixture("leaks"), db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    scans = store.list_scans(db)
    assert [s.id for s in scans] == [first.id, second.id]
    assert scans[0].command == "scan"
    assert scans[1].command == "leaks"
    assert scans[0].finding_count == 12
    assert scans[0].severity_counts == {"critical": 2, "high": 5, "medium": 4, "low": 1, "info": 0}
    assert scans[0].summary["at-risk"] == 3
    assert scans[0].scope == "scan|org=o-a1b2c3d4e5|surfaces=bedrock,claude-platform"
    assert store.list_scans(db, command="leaks") == [scans[1]]
    assert store.list_scans(db, limit=1) == [scans[1]]


def test_the_whole_document_comes_back(db: Path) -> None:
    document = fixture("hunt")
    record = store.record(document, db)
    assert store.load_document(db, record.id) == document


def test_scope_separates_accounts_and_surfaces() -> None:
    one = fixture("scan")
    one["metadata"].pop("organization_id")
    one["accounts"] = one["accounts"][:1]
    assert store.scope_of(one) == "scan|accounts=111111111111|surfaces=bedrock,claude-platform"
    one["metadata"]["surfaces"] = ["bedrock"]
    assert store.scope_of(one).endswith("surfaces=bedrock")
    assert store.scope_of(fixture("leaks")) == "leaks|paths=."


def test_record_and_diff_new_is_none_for_the_first_scan_of_a_scope(db: Path) -> None:
    assert store.record_and_diff_new(fixture("scan"), db) is None
    assert store.record_and_diff_new(fixture("scan"), db) == set()


def test_record_and_diff_new_compares_with_the_previous_scan_of_the_same_scope(db: Path) -> None:
    base = fixture("scan")
    store.record_and_diff_new(base, db)
    other_scope = copy.deepcopy(base)
    other_scope["metadata"]["organization_id"] = "o-zzzzzzzzzz"
    other_scope["findings"] = []
    store.record_and_diff_new(other_scope, db)  # must not become the baseline
    later = copy.deepcopy(base)
    new = copy.deepcopy(later["findings"][0])
    new["fingerprint"] = "b" * 32
    later["findings"].append(new)
    assert store.record_and_diff_new(later, db) == {"b" * 32}
    assert store.record_and_diff_new(later, db) == set()  # no longer new the next time


def test_get_scan_and_diff_scans(db: Path) -> None:
    base = fixture("scan")
    a = store.record(base, db)
    store.record(fixture("leaks"), db)  # another scope in between
    later = copy.deepcopy(base)
    later["findings"] = later["findings"][1:]
    b = store.record(later, db)
    assert store.get_scan(db, "latest").id == b.id
    assert store.get_scan(db, "previous").id == a.id
    assert store.get_scan(db, f"#{a.id}").id == a.id
    result = store.diff_scans(db)  # latest vs the previous scan of its scope
    assert (result.before_label, len(result.resolved)) == (a.label, 1)
    explicit = store.diff_scans(db, str(b.id), str(a.id))
    assert len(explicit.new) == 1


def test_diff_of_different_scopes_says_so(db: Path) -> None:
    a = store.record(fixture("scan"), db)
    b = store.record(fixture("leaks"), db)
    result = store.diff_scans(db, a.id, b.id)
    assert any("different scopes" in n for n in result.notes)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("99", "no scan #99"),
        ("yesterday", "is not a scan id"),
    ],
)
def test_bad_references_are_clear_errors(db: Path, ref: str, message: str) -> None:
    store.record(fixture("scan"), db)
    with pytest.raises(store.HistoryError, match=message):
        store.get_scan(db, ref)


def test_errors_for_missing_empty_and_single_scan_histories(db: Path) -> None:
    with pytest.raises(store.HistoryError, match="no scan history at"):
        store.list_scans(db)
    store.record(fixture("scan"), db)
    with pytest.raises(store.HistoryError, match="no earlier scan"):
        store.diff_scans(db)


def test_a_newer_database_format_is_refused(db: Path) -> None:
    store.record(fixture("scan"), db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(store.HistoryError, match="newer phantomkeys"):
        store.list_scans(db)


def test_a_file_that_is_not_sqlite_is_a_clear_error(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_text("not a database " * 100)
    with pytest.raises(store.HistoryError, match="not usable"):
        store.record(fixture("scan"), db)


def test_default_path_follows_xdg_and_the_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(store.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert store.default_path() == tmp_path / "xdg" / "phantomkeys" / "history.sqlite"
    monkeypatch.setenv(store.ENV_VAR, str(tmp_path / "elsewhere.sqlite"))
    assert store.default_path() == tmp_path / "elsewhere.sqlite"
