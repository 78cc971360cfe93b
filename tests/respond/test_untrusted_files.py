"""Files in the backup folder never steer a write (issue 16 items 1-3, issue 20 "Response files").

Every attack runs through the real CLI against the lab: planted backups (forged, or even
carrying a valid integrity tag) under ``--backup-dir`` for ``cleanup --yes``, edited
backups for ``restore``, a wrong tag or mode, the journal given to ``restore``.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from tests.respond.conftest import (
    BEDROCK_POLICY,
    seed_active,
    seed_orphan,
    seed_pivoted_phantom,
    user_exists,
    write_calls,
)

from phantomkeys._meta import envelope
from phantomkeys.aws.apply import (
    BackupStore,
    IntegrityKey,
    journal_path_for,
    sign_backup_document,
)
from phantomkeys.aws.session import AwsContext
from phantomkeys.aws.state import read_user_state
from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.core.plans import Backup, Plan, Step, build_cleanup_plan
from phantomkeys.surfaces import BEDROCK

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.phantomkeys_lab(scenario="empty")

ACCOUNT = "111111111111"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
STAR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    assert "please report" not in result.output
    return result


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def _state(name: str) -> Any:
    ctx = AwsContext.from_cli(None, "us-east-1")
    return read_user_state(ctx, name, account_id=ACCOUNT, partition="aws", now=datetime.now(UTC))


def _interrupted_backup(name: str, steps: tuple[Step, ...] | None = None) -> Backup:
    """What an interrupted cleanup of ``name`` leaves (or what an attacker writes)."""
    state = _state(name)
    plan = build_cleanup_plan(state, at=datetime.now(UTC), allow_live=True)
    if steps is not None:
        plan = Plan(
            operation=plan.operation,
            account_id=plan.account_id,
            subject=plan.subject,
            subject_type="user",
            built_at=plan.built_at,
            steps=steps,
            baseline=plan.baseline,
            intent=plan.intent,
        )
    return Backup(
        run_id=uuid.uuid4().hex,
        created_at=datetime.now(UTC),
        caller_arn=None,
        plan=plan,
        user=state,
    )


def plant(root: Path, backup: Backup, *, signed: bool) -> Path:
    """Write the backup and an unfinished journal under ``root/ACCOUNT/``.

    ``signed=False`` is a forged file (no key); ``signed=True`` carries a valid tag made
    with the user's own key: even then the file must not add a user or a step.
    """
    if signed:
        files = BackupStore(root).create(backup)
        BackupStore(root).journal(files, backup.run_id).append(event="started")
        return files.backup
    directory = root / ACCOUNT
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"20260101T000000Z-cleanup-{backup.plan.subject}-{backup.run_id[:8]}.json"
    path.write_text(json.dumps(envelope(**backup.to_dict())))
    os.chmod(path, 0o600)
    journal = journal_path_for(path)
    journal.write_text(json.dumps({"event": "started", "run_id": backup.run_id}) + "\n")
    os.chmod(journal, 0o600)
    return path


def _expire(iam: Any, name: str) -> None:
    cred = seed_active(iam, name)
    iam.update_service_specific_credential(
        UserName=name,
        Status="Inactive",
        ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"],
    )


# ------------------------------------------------------------ planted backups, cleanup


@pytest.mark.parametrize("signed", [False, True], ids=["forged", "tagged"])
def test_planted_backup_does_not_delete_an_expired_phantom_without_include_expired(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path, signed: bool
):
    _expire(iam, "BedrockAPIKey-826f")
    plant(backups, _interrupted_backup("BedrockAPIKey-826f"), signed=signed)
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    assert user_exists(iam, "BedrockAPIKey-826f")
    assert write_calls(lab.stats()) == {}
    if not signed:
        assert "cannot be trusted" in result.stderr
        assert "no integrity tag" in result.stderr
    # the same run, with the flag a first run needs, is resumed (tagged) or fresh (forged)
    again = run(["cleanup", "--yes", "--include-expired", "--backup-dir", str(backups)], cli_env)
    assert again.exit_code == 0, again.output
    assert not user_exists(iam, "BedrockAPIKey-826f")
    assert ("resuming interrupted run" in again.stdout) is signed


@pytest.mark.parametrize("signed", [False, True], ids=["forged", "tagged"])
def test_planted_backup_does_not_delete_a_suspected_phantom_without_user(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path, signed: bool
):
    iam.create_user(UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=BEDROCK_POLICY)
    plant(backups, _interrupted_backup("alice"), signed=signed)
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    assert user_exists(iam, "alice")
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]
    assert write_calls(lab.stats()) == {}


@pytest.mark.parametrize("signed", [False, True], ids=["forged", "tagged"])
def test_planted_steps_labelled_detach_never_attach_admin(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path, signed: bool
):
    seed_orphan(iam, "BedrockAPIKey-0dfl")  # a real orphan: cleanup deletes it anyway
    iam.create_user(UserName="BedrockAPIKey-vict")
    iam.attach_user_policy(UserName="BedrockAPIKey-vict", PolicyArn=BEDROCK_POLICY)
    iam.create_service_specific_credential(
        UserName="BedrockAPIKey-vict", ServiceName=BEDROCK.credential_service
    )
    u = {"UserName": "BedrockAPIKey-0dfl"}
    evil = (
        Step(
            f"detach-policy:{ADMIN}",
            "iam:AttachUserPolicy",
            {**u, "PolicyArn": ADMIN},
            f"detach policy {ADMIN}",
            removes=(f"attached:{BEDROCK_POLICY}",),  # looks not done yet
        ),
        Step(
            "detach-policy:inline",
            "iam:PutUserPolicy",
            {**u, "PolicyName": "ops", "PolicyDocument": STAR},
            "detach policy ops",
            removes=(f"attached:{BEDROCK_POLICY}",),
        ),
    )
    plant(backups, _interrupted_backup("BedrockAPIKey-0dfl", evil), signed=signed)
    # and a plan aimed at a live third user
    victim = (
        Step(
            f"detach-policy:{ADMIN}",
            "iam:AttachUserPolicy",
            {"UserName": "BedrockAPIKey-vict", "PolicyArn": ADMIN},
            f"detach policy {ADMIN}",
            removes=(f"attached:{BEDROCK_POLICY}",),
        ),
    )
    plant(backups, _interrupted_backup("BedrockAPIKey-vict", victim), signed=signed)
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    writes = write_calls(lab.stats())
    assert not any(op.endswith(("AttachUserPolicy", "PutUserPolicy")) for op in writes), writes
    assert not user_exists(iam, "BedrockAPIKey-0dfl")  # the derived plan ran, not the file's
    assert user_exists(iam, "BedrockAPIKey-vict")
    attached = iam.list_attached_user_policies(UserName="BedrockAPIKey-vict")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [BEDROCK_POLICY]
    assert iam.list_user_policies(UserName="BedrockAPIKey-vict")["PolicyNames"] == []


def test_backup_with_group_or_world_access_is_never_resumed(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path
):
    _expire(iam, "BedrockAPIKey-826f")
    path = plant(backups, _interrupted_backup("BedrockAPIKey-826f"), signed=True)
    os.chmod(path, 0o664)
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--include-expired", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    assert "lets group or others read or write" in result.stderr
    assert "resuming" not in result.stdout  # a fresh run with its own backup instead
    assert not user_exists(iam, "BedrockAPIKey-826f")


# ------------------------------------------------------------ default folder


def test_backups_default_to_the_state_directory_and_the_path_is_printed(
    iam: Any,
    cli_env: dict[str, str],
    tmp_path: Path,
    private_state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    seed_orphan(iam, "BedrockAPIKey-0dfl")
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    dry = run(["cleanup", "--dry-run"], cli_env)
    assert f"backups and journals: {private_state_dir / 'backups'}" in dry.stderr
    result = run(["cleanup", "--yes"], cli_env)
    assert result.exit_code == 0, result.output
    assert f"backups and journals: {private_state_dir / 'backups'}" in result.stderr
    assert list(work.iterdir()) == []  # nothing in the current directory (a repository)
    (backup,) = (private_state_dir / "backups" / ACCOUNT).glob("*.json")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    key = private_state_dir / "integrity.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(private_state_dir.stat().st_mode) == 0o700
    assert json.loads(backup.read_text())["integrity"]["algorithm"] == "HMAC-SHA256"
    (work / "phantomkeys-backups").mkdir()  # the old default folder is never read
    old = run(["cleanup", "--dry-run"], cli_env)
    assert "./phantomkeys-backups (the old default folder) is no longer read" in " ".join(
        old.stderr.split()
    )


# ------------------------------------------------------------ restore


@pytest.fixture
def revoked(iam: Any, cli_env: dict[str, str], backups: Path) -> Path:
    """A real revoke of a pivoted phantom: its backup is legitimate and tagged."""
    seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    result = run(["revoke", "BedrockAPIKey-hr8l", "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    (backup,) = backups.rglob("*revoke-BedrockAPIKey-hr8l-*.json")
    return backup


def _edit(path: Path, change: Any, *, resign: bool = True) -> Path:
    doc = json.loads(path.read_text())
    doc.pop("integrity", None)
    change(doc)
    if resign:
        doc = sign_backup_document(doc, IntegrityKey.load())
    out = path.with_name("edited-" + path.name)
    out.write_text(json.dumps(doc))
    os.chmod(out, 0o600)
    journal = journal_path_for(out)
    journal.write_text("")
    os.chmod(journal, 0o600)
    return out


def _add_step(action: str, params: dict[str, Any], step_id: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["plan"]["steps"].append(
            {"id": step_id, "action": action, "params": params, "description": "x"}
        )

    return change


def _rename(name: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["subject"] = doc["plan"]["subject"] = doc["user"]["name"] = name
        if "/" not in name:  # a consistent rename: only the unique id tells it apart
            doc["user"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        for s in doc["plan"]["steps"]:
            s["params"]["UserName"] = name

    return change


def _foreign(doc: dict[str, Any]) -> None:
    doc["account_id"] = doc["plan"]["account_id"] = doc["user"]["account_id"] = "999999999999"


def _foreign_policy(doc: dict[str, Any]) -> None:
    arn = "arn:aws:iam::999999999999:policy/exfil"
    doc["plan"]["steps"].append(
        {
            "id": f"detach-policy:{arn}",
            "action": "iam:DetachUserPolicy",
            "params": {"UserName": doc["subject"], "PolicyArn": arn},
        }
    )


EDITS = {
    "added-detach-admin": _add_step(
        "iam:DetachUserPolicy",
        {"UserName": "BedrockAPIKey-hr8l", "PolicyArn": ADMIN},
        f"detach-policy:{ADMIN}",
    ),
    "added-remove-from-admins": _add_step(
        "iam:RemoveUserFromGroup",
        {"UserName": "BedrockAPIKey-hr8l", "GroupName": "Admins"},
        "remove-from-group:Admins",
    ),
    "foreign-account-policy": _foreign_policy,
    "subject-renamed-alice": _rename("alice"),
    "subject-dotdot": _rename("../../../tmp/x"),
    "foreign-account": _foreign,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_restore_refuses_a_plan_that_disagrees_with_its_state(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path, revoked: Path, edit: str
):
    iam.create_user(UserName="alice")
    edited = _edit(revoked, EDITS[edit])
    lab.reset_stats()
    result = run(
        ["restore", str(edited), "--yes", "--allow-unverified", "--backup-dir", str(backups)],
        cli_env,
    )
    assert result.exit_code == 4, result.output
    assert "refusing to restore" in result.stderr or "the backup is for account" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3
    assert write_calls(lab.stats()) == {}
    assert not list(backups.rglob("*restore*"))
    assert not Path("/tmp/x").exists()


def test_restore_refuses_a_wrong_tag_unless_allowed_and_still_derives_from_state(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path, revoked: Path
):
    unsigned = _edit(revoked, lambda doc: None, resign=False)
    lab.reset_stats()
    refused = run(["restore", str(unsigned), "--yes", "--backup-dir", str(backups)], cli_env)
    assert refused.exit_code == 4, refused.output
    assert "cannot be trusted" in refused.stderr and "--allow-unverified" in refused.stderr
    assert write_calls(lab.stats()) == {}
    forged = _edit(revoked, lambda doc: doc["plan"].update(notes=["x"]), resign=False)
    doc = json.loads(forged.read_text())
    doc["integrity"] = {"algorithm": "HMAC-SHA256", "tag": "0" * 64}
    forged.write_text(json.dumps(doc))
    bad_tag = run(["restore", str(forged), "--yes", "--backup-dir", str(backups)], cli_env)
    assert bad_tag.exit_code == 4
    assert "does not match" in bad_tag.stderr
    allowed = run(
        ["restore", str(unsigned), "--yes", "--allow-unverified", "--backup-dir", str(backups)],
        cli_env,
    )
    assert allowed.exit_code == 0, allowed.output
    assert "--allow-unverified" in allowed.stderr
    creds = iam.list_service_specific_credentials(UserName="BedrockAPIKey-hr8l")
    assert {c["Status"] for c in creds["ServiceSpecificCredentials"]} == {"Active"}


def test_restore_refuses_a_group_readable_backup(
    lab: Lab, cli_env: dict[str, str], backups: Path, revoked: Path
):
    os.chmod(revoked, 0o644)
    lab.reset_stats()
    result = run(["restore", str(revoked), "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 4, result.output
    assert "mode 0644" in result.stderr
    assert write_calls(lab.stats()) == {}


def test_restore_accepts_the_journal_and_says_which_backup_it_used(
    iam: Any, cli_env: dict[str, str], backups: Path, revoked: Path, tmp_path: Path
):
    journal = journal_path_for(revoked)
    result = run(["restore", str(journal), "--yes", "--backup-dir", str(backups)], cli_env)
    assert result.exit_code == 0, result.output
    assert f"is a journal: using its backup {revoked}" in " ".join(result.stderr.split())
    creds = iam.list_service_specific_credentials(UserName="BedrockAPIKey-hr8l")
    assert {c["Status"] for c in creds["ServiceSpecificCredentials"]} == {"Active"}
    other = tmp_path / "events.jsonl"
    other.write_text('{"event": "x"}\n{"event": "y"}\n')
    bad = run(["restore", str(other), "--yes", "--backup-dir", str(backups)], cli_env)
    assert bad.exit_code == 2
    assert "is not a valid phantomkeys backup" in bad.stderr
    assert "Extra data" not in bad.output


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"format": "phantomkeys/backup"}',
        '{"format": "phantomkeys/backup", "version": 1, "created_at": "2026-01-01T00:00:00Z",'
        ' "run_id": "abcdef12", "plan": 5}',
        '{"format": "phantomkeys/backup", "version": 1, "created_at": "2026-01-01T00:00:00Z",'
        ' "run_id": "abcdef12", "plan": {"built_at": "2026-01-01T00:00:00Z",'
        ' "operation": "cleanup", "account_id": "1", "subject": "a", "steps": [5]}}',
    ],
)
def test_malformed_backup_is_a_one_line_error(cli_env: dict[str, str], tmp_path: Path, body: str):
    path = tmp_path / "b.json"
    path.write_text(body)
    os.chmod(path, 0o600)
    result = run(["restore", str(path), "--yes"], cli_env)
    assert result.exit_code == 2, result.output
    assert f"{path} is not a valid phantomkeys backup: " in " ".join(result.stderr.split())


# ------------------------------------------------------------ self-lockout


def test_revoking_a_key_signed_by_the_callers_own_credentials_warns(
    iam: Any, cli_env: dict[str, str], backups: Path
):
    iam.create_user(UserName="ci-bot")
    own = iam.create_access_key(UserName="ci-bot")["AccessKey"]
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=own["AccessKeyId"],
        secret_access_key=own["SecretAccessKey"],
        region="us-west-2",
        issued_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    env = {
        **cli_env,
        "AWS_ACCESS_KEY_ID": own["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": own["SecretAccessKey"],
        "AWS_SESSION_TOKEN": "",
    }
    asked = run(["revoke", "-", "--backup-dir", str(backups)], env, stdin=token + "\nn\n")
    assert asked.exit_code == 2, asked.output
    assert "denies this very session" in " ".join(asked.stderr.split())
    assert "This denies the credentials phantomkeys is running with" in asked.output
    yes = run(["revoke", "-", "--yes", "--backup-dir", str(backups)], env, stdin=token)
    assert "denies this very session" in " ".join(yes.stderr.split())
    assert yes.exit_code == 0, yes.output
    # someone else's key: no warning
    other = iam.create_access_key(UserName="ci-bot")["AccessKey"]
    token2 = keys.mint_short_term(
        BEDROCK,
        access_key_id=other["AccessKeyId"],
        secret_access_key=other["SecretAccessKey"],
        region="us-west-2",
        issued_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    plain = run(["revoke", "-", "--dry-run", "--backup-dir", str(backups)], cli_env, stdin=token2)
    assert "denies this very session" not in plain.output


def test_resumed_run_of_a_live_user_needs_user_and_force_again(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: Path
):
    """Even a tagged interrupted run of ``--user X --force`` resumes only with both again."""
    seed_active(iam, "BedrockAPIKey-55zi")
    plant(backups, _interrupted_backup("BedrockAPIKey-55zi"), signed=True)
    lab.reset_stats()
    plain = run(["cleanup", "--yes", "--backup-dir", str(backups)], cli_env)
    assert plain.exit_code == 0, plain.output
    named = run(
        ["cleanup", "--yes", "--user", "BedrockAPIKey-55zi", "--backup-dir", str(backups)],
        cli_env,
    )
    assert named.exit_code == 2, named.output
    assert "--force" in named.stdout
    assert write_calls(lab.stats()) == {}
    assert user_exists(iam, "BedrockAPIKey-55zi")
    forced = run(
        [
            "cleanup",
            "--yes",
            "--user",
            "BedrockAPIKey-55zi",
            "--force",
            "--backup-dir",
            str(backups),
        ],
        cli_env,
    )
    assert forced.exit_code == 0, forced.output
    assert "resuming interrupted run" in forced.stdout
    assert not user_exists(iam, "BedrockAPIKey-55zi")
    assert len(list(backups.rglob("*.json"))) == 1  # the interrupted run's backup, reused
