"""Malformed or tampered files of every kind: one line ``FILE is not a valid KIND: reason``,
exit 2, never a traceback or "please report it" (issue 16 item 11); journals whose lines
do not verify and backups of another owner are never resumed."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.respond.fixtures import ACCOUNT, NOW, phantom

from phantomkeys.aws.apply import BackupStore, journal_path_for
from phantomkeys.aws.org import OrgScanOptions
from phantomkeys.cli import cli
from phantomkeys.core.plans import Backup, build_cleanup_plan
from phantomkeys.history import store as history
from phantomkeys.surfaces import SURFACES


def run(args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "Traceback" not in result.output
    assert "please report" not in result.output
    return result


def one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------ snapshots


SNAPSHOT = '{"format": "phantomkeys/account-snapshot", "version": 1, '


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"text"',
        "{not json",
        SNAPSHOT + '"account_id": "111111111111", "collected_at": "2026-01-01T00:00:00Z", '
        '"users": "x"}',
        SNAPSHOT + '"account_id": "111111111111", "collected_at": "2026-01-01T00:00:00Z", '
        '"users": [5]}',
        SNAPSHOT + '"account_id": "111111111111", "collected_at": "2026-01-01T00:00:00Z", '
        '"users": [{"name": "a"}]}',
    ],
)
def test_malformed_snapshot(tmp_path: Path, body: str):
    path = tmp_path / "snap.json"
    path.write_text(body)
    result = run(["scan", "--from-snapshot", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path} is not a valid phantomkeys snapshot: " in one_line(result.stderr)


# ------------------------------------------------------------ org checkpoints


def _scope() -> str:
    return json.dumps({"scope": OrgScanOptions(surfaces=SURFACES).scope()})


@pytest.mark.parametrize(
    "lines",
    [
        ["[1, 2]"],
        ['{"no": "scope"}'],
        [_scope(), "5", '{"account_id": "1"}'],
        [_scope(), '{"account_id": 7, "status": "ok"}', ""],
    ],
)
def test_malformed_org_checkpoint(tmp_path: Path, lines: list[str]):
    path = tmp_path / "cp.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run(["scan", "--org", "--resume", "--checkpoint", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path} is not a valid org-scan checkpoint: " in one_line(result.stderr)


# ------------------------------------------------------------ history rows


def _doc(n: int) -> dict[str, object]:
    return {
        "schema_version": "1",
        "tool": {"name": "phantomkeys", "version": "test"},
        "metadata": {
            "command": "scan",
            "scan_time": f"2026-01-0{n}T00:00:00Z",
            "account_id": "111111111111",
        },
        "summary": {},
        "findings": [],
    }


def test_one_corrupt_history_row_is_skipped_with_a_warning(tmp_path: Path):
    db = tmp_path / "history.sqlite"
    for n in (1, 2, 3):
        history.record(_doc(n), db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE scans SET severity_json = '{broken' WHERE id = 2")
        conn.execute("UPDATE scans SET document_z = X'00' WHERE id = 3")
    listed = run(["history", "list", "--history", str(db), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [s["id"] for s in json.loads(listed.stdout)["scans"]] == [1, 3]
    assert "scan #2 is not a valid history row" in one_line(listed.stderr)
    shown = run(["history", "show", "3", "--history", str(db)])
    assert shown.exit_code == 2
    assert "scan #3 is not a valid history row" in one_line(shown.stderr)
    fine = run(["history", "show", "1", "--history", str(db)])
    assert fine.exit_code == 0, fine.output


# ------------------------------------------------------------ journals and owners


def _store_with_run(tmp_path: Path) -> tuple[BackupStore, Backup, Path]:
    store = BackupStore(tmp_path / "backups")
    backup = Backup(
        run_id="b" * 32,
        created_at=NOW,
        caller_arn=None,
        plan=build_cleanup_plan(phantom(), at=NOW, allow_live=True),
        user=phantom(),
    )
    files = store.create(backup)
    store.journal(files, backup.run_id).append(event="started")
    return store, backup, files.backup


def test_verified_run_is_pending(tmp_path: Path):
    store, _backup, _path = _store_with_run(tmp_path)
    assert len(store.pending(operation="cleanup", account_id=ACCOUNT)) == 1
    assert store.rejected == {}


def test_forged_journal_line_is_never_resumed(tmp_path: Path):
    store, _backup, path = _store_with_run(tmp_path)
    with journal_path_for(path).open("a") as fh:
        fh.write(json.dumps({"step": "delete-user", "outcome": "applied"}) + "\n")
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []
    assert "record 2 has no valid integrity tag" in store.rejected[path]


def test_journal_line_from_another_run_does_not_verify(tmp_path: Path):
    store, _backup, path = _store_with_run(tmp_path)
    other = store.journal(type("F", (), {"journal": tmp_path / "x.jsonl"})(), "c" * 32)
    other.append(step="delete-user", outcome="applied")
    line = (tmp_path / "x.jsonl").read_text()
    with journal_path_for(path).open("a") as fh:
        fh.write(line)
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []


def test_edited_backup_is_never_resumed(tmp_path: Path):
    store, _backup, path = _store_with_run(tmp_path)
    doc = json.loads(path.read_text())
    doc["plan"]["intent"]["allow_live"] = False
    path.write_text(json.dumps(doc))
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []
    assert "integrity tag does not match" in store.rejected[path]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_backup_of_another_owner_is_never_resumed(tmp_path: Path):
    store, _backup, path = _store_with_run(tmp_path)
    os.chown(path, 12345, 12345)
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []
    assert "owned by uid 12345" in store.rejected[path]


def test_a_backup_subject_never_reaches_a_file_path(tmp_path: Path):
    from dataclasses import replace

    from phantomkeys.aws.apply import ApplyError

    store = BackupStore(tmp_path / "backups")
    plan = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    evil = Backup(
        run_id="d" * 32,
        created_at=NOW,
        caller_arn=None,
        plan=replace(plan, subject="../../escape"),
        user=phantom(),
    )
    with pytest.raises(ApplyError, match="refusing a backup file name"):
        store.create(evil)
    assert not (tmp_path / "escape").exists()
    assert not list(tmp_path.rglob("*escape*"))


def test_integrity_key_is_private_and_refused_when_not(private_state_dir: Path):
    import stat

    from phantomkeys.aws.apply import ApplyError, IntegrityKey

    key = IntegrityKey.load()
    path = private_state_dir / "integrity.key"
    assert key.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(private_state_dir.stat().st_mode) == 0o700
    assert IntegrityKey.load().tag("x", "y") == key.tag("x", "y")  # the same key again
    os.chmod(path, 0o644)
    with pytest.raises(ApplyError, match=r"integrity key .* cannot be trusted"):
        IntegrityKey.load()


def test_binary_journal_is_rejected_not_a_crash(tmp_path: Path):
    store, _backup, path = _store_with_run(tmp_path)
    journal_path_for(path).write_bytes(b"\xff\xfe\x00garbage\n")
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []
    assert "is not a valid phantomkeys journal: not UTF-8 text" in store.rejected[path]
