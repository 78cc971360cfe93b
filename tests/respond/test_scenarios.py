"""The lab's scenarios against its ground truth: what cleanup deletes, and what it must not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from tests.respond.conftest import user_exists, write_calls

from phantomkeys.cli import cli

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.phantomkeys_lab(scenario="demo")


def identities(lab: Lab) -> list[dict[str, Any]]:
    (account,) = lab.manifest["accounts"]
    return list(account["identities"])


def others(lab: Lab) -> list[str]:
    (account,) = lab.manifest["accounts"]
    return list(account["not_reported"])


def run(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_default_cleanup_deletes_exactly_the_orphaned_phantoms(lab: Lab, iam: Any, tmp_path: Path):
    result = run(["cleanup", "--yes", "--format", "json", "--backup-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    deleted = {r["subject"] for r in doc["runs"] if r["status"] == "done"}
    expected = {
        i["username"]
        for i in identities(lab)
        if i["status"] == "orphaned" and i["kind"] == "phantom"
    }
    assert expected
    assert deleted == expected
    for ident in identities(lab):
        assert user_exists(iam, ident["username"]) is (ident["username"] not in expected)
    for name in others(lab):
        assert user_exists(iam, name)


def test_every_scenario_identity_can_be_cleaned_up_completely(lab: Lab, iam: Any, tmp_path: Path):
    """Strict DeleteUser: every prerequisite of every case is removed; nothing else is."""
    names = [i["username"] for i in identities(lab)]
    args = [
        "cleanup",
        "--yes",
        "--force",
        "--include-expired",
        "--backup-dir",
        str(tmp_path),
        "--format",
        "json",
    ]
    for name in [*names, *others(lab)]:
        args += ["--user", name]
    result = run(args)
    doc = json.loads(result.stdout)
    assert result.exit_code == 2, result.output  # the non-key users named were refused
    assert {r["username"] for r in doc["refused"]} == set(others(lab))
    assert {r["subject"]: r["status"] for r in doc["runs"]} == dict.fromkeys(names, "done")
    for name in names:
        assert not user_exists(iam, name), name
    for name in others(lab):
        assert user_exists(iam, name), name
    assert len(list(tmp_path.rglob("*.json"))) == len(names)


def test_fail_open_bait_deletes_nothing(lab: Lab, iam: Any, tmp_path: Path):
    """Peer defect 1: a denied credential listing must make users unknown, not orphaned."""
    lab.set_faults("iam:ListServiceSpecificCredentials=denied")
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--include-expired", "--backup-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert write_calls(lab.stats()) == {}
    assert all(user_exists(iam, i["username"]) for i in identities(lab))


def test_killed_process_then_rerun_converges(lab: Lab, iam: Any, tmp_path: Path):
    """A real SIGKILL while a write is in flight: AWS applies it, the journal never hears."""
    name = "BedrockAPIKey-p1v0"  # the pivoted phantom: access key, every kind of step
    env = {**os.environ, **lab.env}
    args = [
        sys.executable,
        "-m",
        "phantomkeys",
        "cleanup",
        "--user",
        name,
        "--force",
        "--yes",
        "--backup-dir",
        str(tmp_path),
    ]
    latency = 3.0
    lab.set_faults(f"iam:DetachUserPolicy=latency:{latency}s")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline:
        found = list(tmp_path.rglob("*.journal.jsonl"))
        if found and '"iam:DetachUserPolicy"' in found[0].read_text():
            journal = found[0]
            break
        time.sleep(0.1)
    assert journal is not None, "the cleanup never reached DetachUserPolicy"
    killed_at = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert user_exists(iam, name)
    # the request in flight still reaches IAM after the client died
    time.sleep(max(0.0, latency + 0.5 - (time.monotonic() - killed_at)))
    lab.set_faults(None)
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming interrupted run" in again.stdout
    assert "already-done" in again.stdout  # the detach AWS applied after the kill
    assert not user_exists(iam, name)
    assert len(list(tmp_path.rglob("*.json"))) == 1
    assert all(user_exists(iam, i["username"]) for i in identities(lab) if i["username"] != name)


@pytest.mark.phantomkeys_lab(scenario="org")
def test_org_cleanup_deletes_orphans_in_every_reachable_account(lab: Lab, tmp_path: Path):
    result = run(["cleanup", "--org", "--yes", "--format", "json", "--backup-dir", str(tmp_path)])
    # one member cannot be entered and one is throttled: incomplete, never "nothing found"
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    expected = {
        (a["account_id"], i["username"])
        for a in lab.manifest["accounts"]
        if a["reachable_with_org_role"] and not a.get("faults")
        for i in a["identities"]
        if i["status"] == "orphaned" and i["kind"] == "phantom"
    }
    assert expected
    deleted = {(r["backup"].split("/")[-2], r["subject"]) for r in doc["runs"]}
    assert deleted == expected
    assert all(r["status"] == "done" for r in doc["runs"])
    for account in lab.manifest["accounts"]:
        if not account["reachable_with_org_role"]:
            continue
        iam = lab.client("iam", account_id=account["account_id"])
        for ident in account["identities"]:
            gone = (account["account_id"], ident["username"]) in expected
            assert user_exists(iam, ident["username"]) is not gone
