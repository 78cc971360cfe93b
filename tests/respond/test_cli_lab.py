"""``revoke``, ``cleanup``, ``restore`` and ``report`` end to end on the lab."""

from __future__ import annotations

import json
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

from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.core.plans import REVOKE_POLICY_NAME, SESSION_REVOKE_POLICY_NAME
from phantomkeys.lab.cloudtrail_store import make_record
from phantomkeys.surfaces import BEDROCK

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.phantomkeys_lab(scenario="empty")

ACCOUNT = "111111111111"


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def backups(tmp_path: Path) -> str:
    return str(tmp_path / "backups")


def _status(iam: Any, name: str) -> dict[str, str]:
    return {
        c["ServiceName"]: c["Status"]
        for c in iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]
    }


# ------------------------------------------------------------------ cleanup


def test_dry_run_makes_no_write_call(iam: Any, lab: Lab, cli_env: dict[str, str], backups: str):
    seed_orphan(iam, "BedrockAPIKey-0dfl")
    seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    lab.reset_stats()
    for args in (
        ["cleanup", "--dry-run"],
        ["cleanup", "--user", "BedrockAPIKey-hr8l", "--force", "--dry-run"],
        ["revoke", "BedrockAPIKey-hr8l", "--dry-run"],
    ):
        result = run([*args, "--backup-dir", backups], cli_env)
        assert result.exit_code == 0, result.output
        assert "dry run: nothing was written" in result.stdout
    stats = lab.stats()
    assert stats["total"] > 0
    assert write_calls(stats) == {}
    assert not Path(backups).exists()
    assert user_exists(iam, "BedrockAPIKey-0dfl")
    assert user_exists(iam, "BedrockAPIKey-hr8l")


def test_default_cleanup_deletes_orphans_only(iam: Any, cli_env: dict[str, str], backups: str):
    seed_orphan(iam, "BedrockAPIKey-0dfl")
    seed_orphan(iam, "BedrockAPIKey-toqd")
    expired = seed_active(iam, "BedrockAPIKey-826f")
    iam.update_service_specific_credential(
        UserName="BedrockAPIKey-826f",
        Status="Inactive",
        ServiceSpecificCredentialId=expired["ServiceSpecificCredentialId"],
    )
    seed_active(iam, "BedrockAPIKey-55zi")
    seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    iam.create_user(UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=BEDROCK_POLICY)
    result = run(["cleanup", "--yes", "--backup-dir", backups, "--format", "json"], cli_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert sorted(r["subject"] for r in doc["runs"]) == ["BedrockAPIKey-0dfl", "BedrockAPIKey-toqd"]
    assert all(r["status"] == "done" for r in doc["runs"])
    assert not user_exists(iam, "BedrockAPIKey-0dfl")
    assert not user_exists(iam, "BedrockAPIKey-toqd")
    for kept in ("BedrockAPIKey-826f", "BedrockAPIKey-55zi", "BedrockAPIKey-hr8l", "alice"):
        assert user_exists(iam, kept), kept
    # alice is shaped like a phantom but not named like one: only deleted when named
    assert doc["refused"] == []
    assert doc["passed_over"]["suspected phantom (name it with --user to delete it)"] == 1
    again = run(["cleanup", "--include-expired", "--yes", "--backup-dir", backups], cli_env)
    assert again.exit_code == 0, again.output
    assert not user_exists(iam, "BedrockAPIKey-826f")
    assert user_exists(iam, "BedrockAPIKey-55zi")


def test_unknown_identities_are_never_touched(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    seed_orphan(iam, "BedrockAPIKey-0dfl")
    lab.set_faults("iam:ListServiceSpecificCredentials=denied")  # fail-open bait (peer defect 1)
    lab.reset_stats()
    result = run(["cleanup", "--yes", "--backup-dir", backups], cli_env)
    assert result.exit_code == 3, result.output
    assert "never cleaned up on incomplete information" in result.stdout
    assert write_calls(lab.stats()) == {}
    forced = run(
        ["cleanup", "--user", "BedrockAPIKey-0dfl", "--force", "--yes", "--backup-dir", backups],
        cli_env,
    )
    assert forced.exit_code == 3
    assert user_exists(iam, "BedrockAPIKey-0dfl")


def test_live_users_need_user_and_force(iam: Any, lab: Lab, cli_env: dict[str, str], backups: str):
    seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    named = run(
        ["cleanup", "--user", "BedrockAPIKey-hr8l", "--yes", "--backup-dir", backups], cli_env
    )
    assert named.exit_code == 2
    assert "--force" in named.stdout
    assert user_exists(iam, "BedrockAPIKey-hr8l")
    assert run(["cleanup", "--force", "--yes"], cli_env).exit_code == 2  # --force needs --user
    forced = run(
        ["cleanup", "--user", "BedrockAPIKey-hr8l", "--force", "--yes", "--backup-dir", backups],
        cli_env,
    )
    assert forced.exit_code == 0, forced.output
    assert not user_exists(iam, "BedrockAPIKey-hr8l")
    (backup,) = Path(backups).rglob("*cleanup-BedrockAPIKey-hr8l-*.json")
    lab.reset_stats()
    dry = run(["restore", str(backup), "--dry-run"], cli_env)
    assert dry.exit_code == 0, dry.output
    assert "iam:CreateUser" in dry.stdout
    assert write_calls(lab.stats()) == {}
    restored = run(["restore", str(backup), "--yes", "--backup-dir", backups], cli_env)
    assert restored.exit_code == 0, restored.output
    assert user_exists(iam, "BedrockAPIKey-hr8l")
    assert "cannot come back: console password" in restored.stdout
    assert iam.list_groups_for_user(UserName="BedrockAPIKey-hr8l")["Groups"][0]["GroupName"] == (
        "ml-readers"
    )


def test_not_confirmed_writes_nothing(iam: Any, lab: Lab, cli_env: dict[str, str], backups: str):
    seed_orphan(iam, "BedrockAPIKey-0dfl")
    lab.reset_stats()
    result = run(["cleanup", "--backup-dir", backups], cli_env, stdin="n\n")
    assert result.exit_code == 2
    assert "not confirmed" in result.output
    assert write_calls(lab.stats()) == {}
    assert user_exists(iam, "BedrockAPIKey-0dfl")
    yes = run(["cleanup", "--backup-dir", backups], cli_env, stdin="y\n")
    assert yes.exit_code == 0
    assert not user_exists(iam, "BedrockAPIKey-0dfl")


def test_failed_step_exits_4_and_rerun_continues(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    lab.set_faults("iam:DeleteUserPolicy=denied")
    args = ["cleanup", "--user", "BedrockAPIKey-hr8l", "--force", "--yes", "--backup-dir", backups]
    failed = run(args, cli_env)
    assert failed.exit_code == 4, failed.output
    assert "FAILED" in failed.stdout
    assert "AccessDenied" in failed.stdout
    assert user_exists(iam, "BedrockAPIKey-hr8l")
    lab.set_faults(None)
    again = run(args, cli_env)
    assert again.exit_code == 0, again.output
    assert "resuming interrupted run" in again.stdout
    assert "already-done" in again.stdout
    assert not user_exists(iam, "BedrockAPIKey-hr8l")
    assert len(list(Path(backups).rglob("*.json"))) == 1


# ------------------------------------------------------------------ revoke


def _long_key(iam: Any, name: str) -> tuple[str, str]:
    created = iam.create_service_specific_credential(
        UserName=name, ServiceName=BEDROCK.credential_service, CredentialAgeDays=30
    )["ServiceSpecificCredential"]
    return created["ServiceCredentialSecret"], created["ServiceSpecificCredentialId"]


def test_cross_account_key_is_refused_even_with_force(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    seed_active(iam, "BedrockAPIKey-hr8l")  # same name here: a different user
    foreign = keys.encode_long_term(
        BEDROCK,
        username="BedrockAPIKey-hr8l",
        account_id="999999999999",
        secret="S3cr3tValue0123456789",
    )
    lab.reset_stats()
    for extra in ([], ["--force"]):
        result = run(
            ["revoke", "-", "--yes", "--backup-dir", backups, *extra], cli_env, stdin=foreign + "\n"
        )
        assert result.exit_code == 2
        assert "belongs to account 999999999999" in result.output
        assert "S3cr3tValue" not in result.output
    assert write_calls(lab.stats()) == {}
    assert _status(iam, "BedrockAPIKey-hr8l") == {"bedrock.amazonaws.com": "Active"}


def test_non_holder_is_refused_unless_forced(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    lab.reset_stats()
    refused = run(["revoke", "alice", "--yes", "--backup-dir", backups], cli_env)
    assert refused.exit_code == 2
    assert "not an API-key holder" in refused.output
    assert write_calls(lab.stats()) == {}
    forced = run(["revoke", "alice", "--force", "--yes", "--backup-dir", backups], cli_env)
    assert forced.exit_code == 0, forced.output
    # a person's access keys are left alone unless asked for
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    }
    assert statuses == {key: "Active"}
    assert REVOKE_POLICY_NAME in iam.list_user_policies(UserName="alice")["PolicyNames"]


def test_revoke_long_term_key_from_stdin_then_again_then_restore(
    iam: Any, cli_env: dict[str, str], backups: str
):
    seeded = seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    secret_key = seeded["credential"]["ServiceCredentialSecret"]
    assert secret_key.startswith("ABSK")
    result = run(
        ["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=secret_key + "\n"
    )
    assert result.exit_code == 0, result.output
    assert secret_key not in result.output
    assert secret_key[4:40] not in result.output
    assert "(the leaked key)" in result.stdout
    assert _status(iam, "BedrockAPIKey-hr8l") == {
        "bedrock.amazonaws.com": "Inactive",
        "codecommit.amazonaws.com": "Active",
    }
    keys_now = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="BedrockAPIKey-hr8l")["AccessKeyMetadata"]
    }
    assert keys_now[seeded["access_key"]] == "Inactive"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="BedrockAPIKey-hr8l")
    again = run(["revoke", "BedrockAPIKey-hr8l", "--yes", "--backup-dir", backups], cli_env)
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout
    policies = iam.list_user_policies(UserName="BedrockAPIKey-hr8l")["PolicyNames"]
    assert policies.count(REVOKE_POLICY_NAME) == 1
    (backup,) = Path(backups).rglob("*revoke-BedrockAPIKey-hr8l-*.json")
    restored = run(["restore", str(backup), "--yes", "--backup-dir", backups], cli_env)
    assert restored.exit_code == 0, restored.output
    assert _status(iam, "BedrockAPIKey-hr8l")["bedrock.amazonaws.com"] == "Active"
    assert (
        REVOKE_POLICY_NAME
        not in iam.list_user_policies(UserName="BedrockAPIKey-hr8l")["PolicyNames"]
    )


def test_short_term_key_signed_with_an_access_key(iam: Any, cli_env: dict[str, str], backups: str):
    iam.create_user(UserName="ci-bot")
    signer = iam.create_access_key(UserName="ci-bot")["AccessKey"]
    other = iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"]
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=signer["AccessKeyId"],
        secret_access_key=signer["SecretAccessKey"],
        region="us-west-2",
        issued_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    result = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=token)
    assert result.exit_code == 0, result.output
    assert f"access key {signer['AccessKeyId']} of IAM user ci-bot" in result.stdout
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="ci-bot")["AccessKeyMetadata"]
    }
    assert statuses == {signer["AccessKeyId"]: "Inactive", other: "Active"}
    assert iam.list_user_policies(UserName="ci-bot")["PolicyNames"] == []


def _assumed_session(lab: Lab, iam: Any, role: str, path: str = "/") -> dict[str, Any]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=json.dumps(trust))
    sts = lab.client("sts")
    out = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role{path}{role}", RoleSessionName="etl-42"
    )
    return dict(out["Credentials"]) | {"AssumedRoleUser": out["AssumedRoleUser"]}


def _bearer_event(lab: Lab, creds: dict[str, Any], role: str, path: str, region: str) -> None:
    user = creds["AssumedRoleUser"]
    role_id = user["AssumedRoleId"].split(":")[0]
    lab.inject_events(
        [
            make_record(
                event_name="InvokeModel",
                event_source="bedrock.amazonaws.com",
                event_time=datetime.now(UTC) - timedelta(minutes=1),
                account_id=ACCOUNT,
                region=region,
                read_only=True,
                additional_event_data={"callWithBearerToken": True},
                user_identity={
                    "type": "AssumedRole",
                    "principalId": user["AssumedRoleId"],
                    "arn": user["Arn"],
                    "accountId": ACCOUNT,
                    "accessKeyId": creds["AccessKeyId"],
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": role_id,
                            "arn": f"arn:aws:iam::{ACCOUNT}:role{path}{role}",
                            "accountId": ACCOUNT,
                            "userName": role,
                        }
                    },
                },
            )
        ]
    )


def test_short_term_session_key_denies_only_that_session(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    creds = _assumed_session(lab, iam, "ml-batch")
    _bearer_event(lab, creds, "ml-batch", "/", region="us-west-2")
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        region="us-west-2",
        issued_at=datetime.now(UTC) - timedelta(minutes=2),
        session_token=creds["SessionToken"],
    )
    dry = run(["revoke", "-", "--dry-run"], cli_env, stdin=token)
    assert dry.exit_code == 0, dry.output
    assert "Other sessions of ml-batch" in dry.stdout  # blast radius before asking
    result = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=token)
    assert result.exit_code == 0, result.output
    doc = iam.get_role_policy(RoleName="ml-batch", PolicyName=SESSION_REVOKE_POLICY_NAME)[
        "PolicyDocument"
    ]
    (statement,) = doc["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:userid": creds["AssumedRoleUser"]["AssumedRoleId"]
    }
    assert "aws:TokenIssueTime" in statement["Condition"]["DateLessThan"]
    report = run(["report", "-", "--format", "json"], cli_env, stdin=token)
    assert report.exit_code == 0, report.output
    signer = json.loads(report.stdout)["signer"]
    assert signer["principal_id"] == creds["AssumedRoleUser"]["AssumedRoleId"]
    assert creds["SessionToken"] not in report.stdout
    (backup,) = Path(backups).rglob("*revoke-ml-batch-*.json")
    undone = run(["restore", str(backup), "--yes", "--backup-dir", backups], cli_env)
    assert undone.exit_code == 0, undone.output
    assert iam.list_role_policies(RoleName="ml-batch")["PolicyNames"] == []


def test_get_session_token_key_needs_all_sessions(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    iam.create_user(UserName="dev-ops")
    iam.create_access_key(UserName="dev-ops")
    # The lab's GetSessionToken hands out a fixed AKIA id (a moto limitation), so the
    # session an IAM user got from it is built here: an ASIA id of this account.
    creds = {
        "AccessKeyId": keys.access_key_id_for_account(ACCOUNT, session=True, entropy=b"devops42"),
        "SecretAccessKey": "x" * 40,
        "SessionToken": "FwoGZXIvYXdzEexampleSessionTokenForDevOps",
    }
    lab.inject_events(
        [
            make_record(
                event_name="Converse",
                event_source="bedrock.amazonaws.com",
                event_time=datetime.now(UTC) - timedelta(minutes=1),
                account_id=ACCOUNT,
                region="us-east-1",
                read_only=True,
                additional_event_data={"callWithBearerToken": True},
                user_identity={
                    "type": "IAMUser",
                    "principalId": "AIDAEXAMPLEDEVOPS001",
                    "arn": f"arn:aws:iam::{ACCOUNT}:user/dev-ops",
                    "accountId": ACCOUNT,
                    "accessKeyId": creds["AccessKeyId"],
                    "userName": "dev-ops",
                },
            )
        ]
    )
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        region="us-east-1",
        issued_at=datetime.now(UTC) - timedelta(minutes=2),
        session_token=creds["SessionToken"],
    )
    refused = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=token)
    assert refused.exit_code == 2
    assert "--all-sessions" in " ".join(refused.output.split())
    done = run(
        ["revoke", "-", "--all-sessions", "--yes", "--backup-dir", backups], cli_env, stdin=token
    )
    assert done.exit_code == 0, done.output
    doc = iam.get_user_policy(UserName="dev-ops", PolicyName=SESSION_REVOKE_POLICY_NAME)[
        "PolicyDocument"
    ]
    (statement,) = doc["Statement"]
    assert set(statement["Condition"]) == {"DateLessThan"}
    statuses = [k["Status"] for k in iam.list_access_keys(UserName="dev-ops")["AccessKeyMetadata"]]
    assert statuses == ["Active"]  # long-term keys are not what the deny is about


def test_key_of_a_deleted_user_needs_nothing(iam: Any, cli_env: dict[str, str], backups: str):
    dead = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-d3ad", account_id=ACCOUNT, secret="S3cr3tValue0123456789"
    )
    result = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=dead)
    assert result.exit_code == 0, result.output
    assert "does not exist" in result.stdout
    assert run(["revoke", "nobody-such", "--yes"], cli_env).exit_code == 2


def test_short_term_key_lookup_uses_the_keys_own_region(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    creds = _assumed_session(lab, iam, "ml-batch")
    _bearer_event(lab, creds, "ml-batch", "/", region="eu-west-1")  # not the key's region
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        region="us-west-2",
        issued_at=datetime.now(UTC) - timedelta(minutes=2),
        session_token=creds["SessionToken"],
    )
    result = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=token)
    assert result.exit_code == 3
    assert "us-west-2" in result.output
    assert "--role ROLE --all-sessions" in result.output


def test_sso_role_session_gets_guidance_not_a_write(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    path = "/aws-reserved/sso.amazonaws.com/"
    role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    creds = _assumed_session(lab, iam, role, path)
    _bearer_event(lab, creds, role, path, region="us-east-1")
    token = keys.mint_short_term(
        BEDROCK,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        region="us-east-1",
        issued_at=datetime.now(UTC) - timedelta(minutes=2),
        session_token=creds["SessionToken"],
    )
    lab.reset_stats()
    result = run(["revoke", "-", "--yes", "--backup-dir", backups], cli_env, stdin=token)
    assert result.exit_code == 2
    assert "IAM Identity Center" in result.output
    assert write_calls(lab.stats()) == {}


# ------------------------------------------------------------------ report


def test_report_formats_and_exit_3_when_cloudtrail_is_denied(
    iam: Any, lab: Lab, cli_env: dict[str, str]
):
    seeded = seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    secret_key = seeded["credential"]["ServiceCredentialSecret"]
    result = run(["report", "-", "--format", "json"], cli_env, stdin=secret_key)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "at-risk"
    assert doc["complete"] is True
    assert doc["target"]["key"]["username"] == "BedrockAPIKey-hr8l"
    assert secret_key not in result.stdout
    assert any(c.startswith("phantomkeys revoke") for c in doc["recommended"])
    resource = next(lk for lk in doc["activity"]["lookups"] if lk["attribute"] == "ResourceName")
    assert "CreateLoginProfile" in {e["event_name"] for e in resource["events"]}
    md = run(["report", "BedrockAPIKey-hr8l", "--format", "markdown", "--no-activity"], cli_env)
    assert md.exit_code == 0
    assert "## Recommended" in md.stdout
    lab.set_faults("cloudtrail:LookupEvents=denied")
    denied = run(["report", "BedrockAPIKey-hr8l"], cli_env)
    assert denied.exit_code == 3
    assert "NOT READ (AccessDenied" in denied.stdout


def test_one_line_errors(cli_env: dict[str, str], tmp_path: Path):
    bad_key = run(["revoke", "ABSKnot-base64!!", "--yes"], cli_env)
    assert bad_key.exit_code == 2
    assert "not a valid key" in bad_key.output
    missing = run(["restore", str(tmp_path / "nope.json")], cli_env)
    assert missing.exit_code == 2
    assert "not found" in " ".join(missing.output.split())
    bad_name = run(["report", "not a user name"], cli_env)
    assert bad_name.exit_code == 2


def test_revoke_does_all_it_can_when_one_step_fails(
    iam: Any, lab: Lab, cli_env: dict[str, str], backups: str
):
    """Peer defect: its revoke stops at the first error. Here every other step still runs."""
    seeded = seed_pivoted_phantom(iam, "BedrockAPIKey-hr8l", customer_boundary=False)
    lab.set_faults("iam:UpdateServiceSpecificCredential=denied")
    result = run(["revoke", "BedrockAPIKey-hr8l", "--yes", "--backup-dir", backups], cli_env)
    assert result.exit_code == 4
    assert "FAILED" in result.stdout
    assert (
        REVOKE_POLICY_NAME in iam.list_user_policies(UserName="BedrockAPIKey-hr8l")["PolicyNames"]
    )
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="BedrockAPIKey-hr8l")["AccessKeyMetadata"]
    }
    assert statuses[seeded["access_key"]] == "Inactive"
    lab.set_faults(None)
    again = run(["revoke", "BedrockAPIKey-hr8l", "--yes", "--backup-dir", backups], cli_env)
    assert again.exit_code == 0, again.output
    assert _status(iam, "BedrockAPIKey-hr8l")["bedrock.amazonaws.com"] == "Inactive"


def test_profile_errors_are_one_line(cli_env: dict[str, str], tmp_path: Path):
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = {**cli_env, "AWS_CONFIG_FILE": str(config)}
    for args in (["revoke", "alice"], ["cleanup"], ["report", "alice"]):
        result = run([*args, "--profile", "no-such-profile"], env)
        assert result.exit_code == 2
        assert "no-such-profile" in result.output
        assert "Traceback" not in result.output
