"""Backups and journals on disk: private modes, no overwrite, resume detection, torn lines."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from tests.respond.fixtures import ACCOUNT, NOW, phantom

from phantomkeys.aws.apply import (
    ApplyError,
    BackupStore,
    load_backup,
    validate_plan,
)
from phantomkeys.core.plans import Backup, RevokeOptions, build_cleanup_plan, build_revoke_plan


def secret_fields(value: object) -> list[str]:
    """Names of fields that would hold a secret (none may appear in a backup)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k.lower() in {
                "secret",
                "secretaccesskey",
                "servicecredentialsecret",
                "servicepassword",
                "password",
                "serviceapikeyvalue",
            }:
                found.append(k)
            found += secret_fields(v)
    elif isinstance(value, list):
        for v in value:
            found += secret_fields(v)
    return found


def _backup(run_id: str = "a" * 32, **plan_kw: object) -> Backup:
    plan = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    return Backup(
        run_id=run_id,
        created_at=NOW,
        caller_arn="arn:aws:iam::1:user/ir",
        plan=plan,
        user=phantom(),
    )


def test_backup_and_journal_are_private_and_never_overwritten(tmp_path: Path):
    store = BackupStore(tmp_path / "backups")
    files = store.create(_backup())
    assert stat.S_IMODE(files.backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.journal.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.backup.parent.stat().st_mode) == 0o700
    assert files.backup.parent.name == ACCOUNT
    doc = json.loads(files.backup.read_text())
    assert doc["schema_version"]
    assert doc["tool"]["name"] == "phantomkeys"
    assert doc["user"]["ssh_public_keys"][0]["body"].startswith("ssh-rsa")
    assert not secret_fields(doc)
    with pytest.raises(FileExistsError):
        store.create(_backup())  # same run id and second: refuse, never overwrite
    assert load_backup(files.backup) == _backup()


def test_existing_backup_dir_keeps_its_mode(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)  # noqa: S103 - a shared directory on purpose
    BackupStore(shared).create(_backup())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_pending_runs_until_finished_cleanly(tmp_path: Path):
    store = BackupStore(tmp_path)
    b = _backup()
    files = store.create(b)
    journal = store.journal(files, b.run_id)
    journal.append(event="started")
    journal.append(step="delete-login-profile", event="start")
    with files.journal.open("a") as fh:
        fh.write('{"step": "delete-login-prof')  # torn by a kill mid-write
    (pending,) = store.pending(
        operation="cleanup",
        account_id=ACCOUNT,
        subject=b.plan.subject,
        intent_key=b.plan.intent_key,
    )
    assert pending.backup.run_id == b.run_id
    assert pending.done_steps == 0
    assert store.pending(operation="cleanup", account_id=ACCOUNT, subject="someone-else") == []
    assert store.pending(operation="revoke", account_id=ACCOUNT) == []
    with files.journal.open("a") as fh:
        fh.write("\n")
    journal.append(event="finished", failed=1, stopped=3)
    assert len(store.pending(operation="cleanup", account_id=ACCOUNT)) == 1  # failed: resumable
    journal.append(event="finished", failed=0, stopped=0)
    assert store.pending(operation="cleanup", account_id=ACCOUNT) == []


def test_load_backup_errors_are_one_line(tmp_path: Path):
    with pytest.raises(ApplyError, match="not found"):
        load_backup(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "phantomkeys/account-snapshot"}')
    with pytest.raises(ApplyError, match="is not a valid phantomkeys backup"):
        load_backup(bad)


def test_edited_plans_cannot_run_other_actions_or_touch_other_users():
    from dataclasses import replace

    plan = build_revoke_plan(phantom(), RevokeOptions(), at=NOW)
    validate_plan(plan)
    evil = replace(plan.steps[0], action="iam:CreateAccessKey")
    with pytest.raises(ApplyError, match="not one phantomkeys makes"):
        validate_plan(replace(plan, steps=(evil,)))
    other = replace(plan.steps[1], params={**plan.steps[1].params, "UserName": "alice"})
    with pytest.raises(ApplyError, match="targets alice"):
        validate_plan(replace(plan, steps=(other,)))
    cleanup = build_cleanup_plan(phantom(), at=NOW, allow_live=True)
    mfa = next(s for s in cleanup.steps if s.action == "iam:DeleteVirtualMFADevice")
    foreign = replace(mfa, params={"SerialNumber": "arn:aws:iam::999999999999:mfa/x"})
    with pytest.raises(ApplyError, match="not in account"):
        validate_plan(replace(cleanup, steps=(foreign,)))
