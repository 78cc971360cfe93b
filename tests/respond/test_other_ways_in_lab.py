"""issue 16 item 9 / issue 18: scan and cleanup agree on every way into a phantom.

A phantom user holding another service's credential (CodeCommit, Keyspaces,
CloudWatch), an SSH public key or a signing certificate is ``at-risk`` in the
scan, and ``cleanup`` refuses it without ``--user NAME --force`` (before: an SSH
key or certificate phantom was ``orphaned`` and default cleanup deleted it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.respond.conftest import (
    BEDROCK_POLICY,
    SSH_KEY,
    seed_orphan,
    self_signed_cert,
    user_exists,
)

from phantomkeys.cli import cli
from phantomkeys.core.model import AccessKey, ServiceCredential, other_ways_in
from phantomkeys.core.plans import PlanError, UploadedKey, UserState, build_cleanup_plan

pytestmark = pytest.mark.phantomkeys_lab(scenario="empty")


def run(args: list[str], env: dict[str, str]) -> Result:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def _scan(env: dict[str, str], *extra: str) -> dict[str, dict[str, Any]]:
    result = run(["scan", "--no-history", "--format", "json", *extra], env)
    doc = json.loads(result.stdout)
    return {i["username"]: i for a in doc["accounts"] for i in a["identities"]}


def _seed(iam: Any, name: str, way: str) -> None:
    seed_orphan(iam, name)
    if way == "ssh":
        iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=SSH_KEY)
    elif way == "cert":
        iam.upload_signing_certificate(UserName=name, CertificateBody=self_signed_cert(name))
    else:
        iam.create_service_specific_credential(UserName=name, ServiceName=way)


WAYS = {
    "BedrockAPIKey-cc01": "codecommit.amazonaws.com",
    "BedrockAPIKey-ks01": "cassandra.amazonaws.com",
    "BedrockAPIKey-cw01": "cloudwatch.amazonaws.com",
    "BedrockAPIKey-ssh1": "ssh",
    "BedrockAPIKey-crt1": "cert",
}


def test_cleanup_refuses_every_other_way_in_without_force(
    iam: Any, cli_env: dict[str, str], tmp_path: Any
) -> None:
    backups = str(tmp_path / "backups")
    for name, way in WAYS.items():
        _seed(iam, name, way)
    seed_orphan(iam, "BedrockAPIKey-0dfl")  # the control: a real orphan
    # scan --verify-credentials reads what cleanup reads: they agree on every user.
    scanned = _scan(cli_env, "--verify-credentials")
    for name in WAYS:
        assert scanned[name]["status"] == "at-risk", (name, scanned[name])
    assert scanned["BedrockAPIKey-0dfl"]["status"] == "orphaned"

    result = run(["cleanup", "--yes", "--backup-dir", backups, "--format", "json"], cli_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["subject"] for r in doc["runs"]] == ["BedrockAPIKey-0dfl"]
    assert doc["passed_over"].get("at-risk") == len(WAYS), doc["passed_over"]
    assert not user_exists(iam, "BedrockAPIKey-0dfl")
    for name in WAYS:
        assert user_exists(iam, name), name

    # Named without --force: refused, nothing written.
    for name in WAYS:
        named = run(["cleanup", "--user", name, "--yes", "--backup-dir", backups], cli_env)
        assert named.exit_code == 2, (name, named.output)
        assert "--force" in named.stdout and "at-risk" in named.stdout
        assert user_exists(iam, name)


@pytest.mark.parametrize("name", ["BedrockAPIKey-ks01", "BedrockAPIKey-ssh1"])
def test_forced_cleanup_deletes_every_prerequisite(
    iam: Any, cli_env: dict[str, str], tmp_path: Any, name: str
) -> None:
    _seed(iam, name, WAYS[name])
    args = ["cleanup", "--user", name, "--force", "--yes", "--backup-dir", str(tmp_path)]
    result = run(args, cli_env)
    assert result.exit_code == 0, result.output
    assert not user_exists(iam, name)


def test_plain_scan_and_cleanup_agree_on_other_services(
    iam: Any, cli_env: dict[str, str], tmp_path: Any
) -> None:
    """Without --verify-credentials: other services' credentials come from the
    account-wide listing, so the scan already says at-risk (before: orphaned,
    while cleanup refused it)."""
    for name in ("BedrockAPIKey-cc01", "BedrockAPIKey-ks01", "BedrockAPIKey-crt1"):
        _seed(iam, name, WAYS[name])
    scanned = _scan(cli_env)
    for name in ("BedrockAPIKey-cc01", "BedrockAPIKey-ks01", "BedrockAPIKey-crt1"):
        assert scanned[name]["status"] == "at-risk", name
    result = run(["cleanup", "--dry-run", "--format", "json"], cli_env)
    doc = json.loads(result.stdout)
    assert doc["passed_over"].get("at-risk") == 3


def test_other_ways_in_is_the_one_rule() -> None:
    """The function the scan's at-risk and cleanup's refusal share."""
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 12, 1, tzinfo=UTC)
    cred = ServiceCredential("C" * 20, "u", "codecommit.amazonaws.com", "Active", at)
    key = ServiceCredential("K" * 20, "u", "bedrock.amazonaws.com", "Active", at)
    expired = ServiceCredential(
        "E" * 20, "u", "cassandra.amazonaws.com", "Active", at, at - timedelta(days=1)
    )
    assert (
        other_ways_in(
            service_credentials=[key, expired],
            access_keys=[AccessKey("AKIA" + "A" * 16, "Inactive")],
            password=False,
            signing_certificates=0,
            ssh_public_keys=0,
            at=at,
        )
        == []
    )
    found = other_ways_in(
        service_credentials=[cred, key],
        access_keys=[],
        password=False,
        signing_certificates=1,
        ssh_public_keys=1,
        at=at,
    )
    assert len(found) == 3
    ssh = UploadedKey(id="APKA" + "B" * 16, status="Active", uploaded=at, body=SSH_KEY)
    state = UserState(
        account_id="111111111111",
        partition="aws",
        name="BedrockAPIKey-ssh1",
        exists=True,
        read_at=at,
        attached_policy_arns=(BEDROCK_POLICY,),
        ssh_public_keys=(ssh,),
    )
    with pytest.raises(PlanError, match="SSH public key"):
        build_cleanup_plan(state, at=at)
    assert build_cleanup_plan(state, at=at, allow_live=True).steps


def test_revoke_names_the_ways_in_it_leaves_open(
    iam: Any, cli_env: dict[str, str], tmp_path: Any
) -> None:
    from tests.respond.conftest import seed_active

    seed_active(iam, "BedrockAPIKey-rv01")
    iam.create_service_specific_credential(
        UserName="BedrockAPIKey-rv01", ServiceName="codecommit.amazonaws.com"
    )
    iam.upload_ssh_public_key(UserName="BedrockAPIKey-rv01", SSHPublicKeyBody=SSH_KEY)
    result = run(
        ["revoke", "BedrockAPIKey-rv01", "--dry-run", "--backup-dir", str(tmp_path)], cli_env
    )
    assert result.exit_code == 0, result.output
    assert "still open after this revoke" in result.output
    assert "codecommit.amazonaws.com credential" in result.output
    assert "SSH public key" in result.output
