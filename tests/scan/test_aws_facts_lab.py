"""issue 18 / issue 16 items 9-10 on the lab, through the real ``scan`` CLI.

Both Claude Platform policies, every service's credentials, SSH keys and
signing certificates, a credential report older than a change, and a throttled
scan with the default retry mode.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="empty")]

LIMITED = "arn:aws:iam::aws:policy/AnthropicLimitedAccess"
INFERENCE = "arn:aws:iam::aws:policy/AnthropicInferenceAccess"
BEDROCK_POLICY = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"


def scan_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["scan", "--no-history", "--format", "json", *args], catch_exceptions=False
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def identities(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["username"]: i for a in doc["accounts"] for i in a["identities"]}


@pytest.fixture
def iam(phantomkeys_lab: Any) -> Any:
    return phantomkeys_lab.client("iam")


def _user(iam: Any, name: str, policy: str | None = None) -> None:
    iam.create_user(UserName=name)
    if policy:
        iam.attach_user_policy(UserName=name, PolicyArn=policy)


def _key(iam: Any, name: str, service: str, days: int | None = 30) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"UserName": name, "ServiceName": service}
    if days is not None:
        kwargs["CredentialAgeDays"] = days
    return dict(iam.create_service_specific_credential(**kwargs)["ServiceSpecificCredential"])


# ---------------------------------------------------------------- both policies


def test_lab_ships_both_claude_platform_policies_with_their_documents(iam: Any) -> None:
    for arn, sid in ((LIMITED, "AnthropicLimitedWorkspace"), (INFERENCE, "AnthropicInference")):
        meta = iam.get_policy(PolicyArn=arn)["Policy"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=meta["DefaultVersionId"])
        statements = doc["PolicyVersion"]["Document"]["Statement"]
        assert any(s["Sid"].startswith(sid) for s in statements), arn
        actions = {
            a
            for s in statements
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert "aws-external-anthropic:CallWithBearerToken" in actions
    inference = iam.get_policy(PolicyArn=INFERENCE)["Policy"]
    assert inference["DefaultVersionId"] == "v2"


@pytest.mark.parametrize("fallback", [False, True], ids=["authorization-details", "fallback"])
def test_a_phantom_with_each_claude_policy(phantomkeys_lab: Any, iam: Any, fallback: bool) -> None:
    """Each policy makes a (suspected) phantom; neither is "beyond" the other; the
    ListEntitiesForPolicy fallback looks up both (before: only AnthropicLimitedAccess)."""
    _user(iam, "AeaApiKey-lim1", LIMITED)
    _key(iam, "AeaApiKey-lim1", CLAUDE_PLATFORM.credential_service)
    _user(iam, "AeaApiKey-inf1", INFERENCE)
    _key(iam, "AeaApiKey-inf1", CLAUDE_PLATFORM.credential_service)
    # Holders of the policy without a key and without the console's name: found
    # only through the policy.
    _user(iam, "claude-ci-limited", LIMITED)
    _user(iam, "claude-ci-inference", INFERENCE)
    if fallback:
        phantomkeys_lab.set_faults("iam:GetAccountAuthorizationDetails=denied")
    code, doc = scan_json()
    got = identities(doc)
    assert got["AeaApiKey-lim1"]["status"] == "active", got["AeaApiKey-lim1"]
    assert got["AeaApiKey-inf1"]["status"] == "active", got["AeaApiKey-inf1"]
    assert not got["AeaApiKey-inf1"]["permissions_beyond_managed_policy"]
    for name in ("claude-ci-limited", "claude-ci-inference"):
        assert name in got, f"{name} not reported"
        assert got[name]["surface"] == "claude-platform"
    if fallback:
        ops = doc["metadata"]["api_calls"]["by_operation"]
        assert ops["iam:ListEntitiesForPolicy"] >= 3  # Bedrock + both Claude policies
    assert code in (0, 1)


# ------------------------------------------------------ every service's credentials


def test_cloudwatch_credentials_in_the_lab(iam: Any) -> None:
    _user(iam, "cw-user")
    cred = _key(iam, "cw-user", "cloudwatch.amazonaws.com", days=5)
    assert cred["ServiceName"] == "cloudwatch.amazonaws.com"
    listed = iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    mine = [c for c in listed if c["UserName"] == "cw-user"]
    assert mine and mine[0].get("ExpirationDate") is not None


@pytest.mark.parametrize(
    "service", ["codecommit.amazonaws.com", "cassandra.amazonaws.com", "cloudwatch.amazonaws.com"]
)
def test_another_services_credential_makes_a_phantom_at_risk(iam: Any, service: str) -> None:
    """Before: creds were listed per surface service only, so this phantom read orphaned."""
    _user(iam, "BedrockAPIKey-oth1", BEDROCK_POLICY)
    other = _key(iam, "BedrockAPIKey-oth1", service, days=None)
    # Another service's credential alone does not make a user a key holder.
    _user(iam, "git-only")
    _key(iam, "git-only", service, days=None)
    code, doc = scan_json()
    got = identities(doc)
    ident = got["BedrockAPIKey-oth1"]
    assert ident["status"] == "at-risk", ident
    creds = {c["id"]: c for c in ident["credentials"]}
    assert creds[other["ServiceSpecificCredentialId"]]["service"] == service
    assert creds[other["ServiceSpecificCredentialId"]]["api_key"] is False
    assert creds[other["ServiceSpecificCredentialId"]]["last_used"] is None
    rules = {f["rule_id"] for f in doc["findings"] if f["subject"] == "BedrockAPIKey-oth1"}
    assert "pivot-other-credential" in rules
    assert "git-only" not in got
    assert code == 0  # no --fail-on


def test_one_account_wide_listing_covers_every_service(iam: Any) -> None:
    _user(iam, "BedrockAPIKey-k1", BEDROCK_POLICY)
    _key(iam, "BedrockAPIKey-k1", BEDROCK.credential_service)
    _user(iam, "AeaApiKey-k2", LIMITED)
    _key(iam, "AeaApiKey-k2", CLAUDE_PLATFORM.credential_service)
    _, doc = scan_json()
    assert doc["metadata"]["api_calls"]["by_operation"]["iam:ListServiceSpecificCredentials"] == 1


def test_signing_certificate_on_a_phantom_is_at_risk(iam: Any) -> None:
    from tests.respond.conftest import self_signed_cert

    _user(iam, "BedrockAPIKey-crt1", BEDROCK_POLICY)
    iam.upload_signing_certificate(
        UserName="BedrockAPIKey-crt1", CertificateBody=self_signed_cert("crt1")
    )
    _, doc = scan_json()
    ident = identities(doc)["BedrockAPIKey-crt1"]
    assert ident["status"] == "at-risk"  # before: orphaned
    assert ident["signing_certificates"] == 1


def test_ssh_key_on_a_phantom_is_at_risk_when_verified(iam: Any) -> None:
    from tests.respond.conftest import SSH_KEY

    _user(iam, "BedrockAPIKey-ssh1", BEDROCK_POLICY)
    iam.upload_ssh_public_key(UserName="BedrockAPIKey-ssh1", SSHPublicKeyBody=SSH_KEY)
    _, plain = scan_json()
    # The credential report has no SSH-key column: not read without verification.
    assert identities(plain)["BedrockAPIKey-ssh1"]["ssh_public_keys"] is None
    _, doc = scan_json("--verify-credentials")
    ident = identities(doc)["BedrockAPIKey-ssh1"]
    assert ident["status"] == "at-risk"  # before: orphaned
    assert ident["ssh_public_keys"] == 1
    assert ident["credentials_verified_at"] is not None
    ops = doc["metadata"]["api_calls"]["by_operation"]
    assert ops["iam:ListSSHPublicKeys"] == 1 and ops["iam:ListSigningCertificates"] == 1


# --------------------------------------------------------- credential freshness


def test_credential_report_older_than_a_change_is_unknown_unless_verified(
    phantomkeys_lab: Any, iam: Any
) -> None:
    """AWS reuses a credential report up to 4 hours old: an access key added since
    is not in it. Before: the phantom below read ``active``."""
    name = "BedrockAPIKey-st01"
    _user(iam, name, BEDROCK_POLICY)
    phantomkeys_lab.backdate(name, "user", 2)
    code, first = scan_json()  # generates the report
    assert identities(first)[name]["status"] == "orphaned"
    generated = first["metadata"]["credential_report_generated_at"]
    assert generated and first["accounts"][0]["credential_report_generated_at"] == generated
    phantomkeys_lab.backdate(name, "credential_report", 1 / 24)  # an hour-old report
    # The attacker's change, after the report: a key and an access key.
    _key(iam, name, BEDROCK.credential_service)
    iam.create_access_key(UserName=name)
    code, stale = scan_json()
    ident = identities(stale)[name]
    assert ident["status"] == "unknown", ident
    assert any("after the credential report" in r for r in ident["unknown_because"])
    assert stale["metadata"]["credential_report_generated_at"] < generated
    assert code == 3
    code, verified = scan_json("--verify-credentials")
    ident = identities(verified)[name]
    assert ident["status"] == "at-risk", ident
    assert [k["status"] for k in ident["access_keys"]] == ["Active"]


def test_freshness_in_html_and_markdown(iam: Any) -> None:
    _user(iam, "BedrockAPIKey-f1", BEDROCK_POLICY)
    _, doc = scan_json()
    generated = doc["metadata"]["credential_report_generated_at"]
    for fmt in ("html", "markdown"):
        out = CliRunner().invoke(cli, ["scan", "--no-history", "--format", fmt]).stdout
        assert "Credential report" in out and generated in out, fmt


# ------------------------------------------------------------------- retries


def test_throttled_scan_finishes_within_a_bound_with_the_default_retry_mode(
    phantomkeys_lab: Any, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phantomkeys.aws.session import retry_config

    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    assert retry_config()["mode"] == "standard"
    for n in range(20):
        _user(iam, f"BedrockAPIKey-t{n:03d}", BEDROCK_POLICY)
    phantomkeys_lab.set_faults("iam:*=throttle:0.4")
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["scan", "--no-history", "--format", "json"], catch_exceptions=False
    )
    elapsed = time.monotonic() - started
    phantomkeys_lab.set_faults(None)
    code, doc = result.exit_code, json.loads(result.stdout)
    # Progress says why the scan is waiting (one line in logs, a spinner on a terminal).
    assert result.stderr.count("scanning: waiting on AWS throttling") == 1, result.stderr
    assert elapsed < 90, f"throttled scan took {elapsed:.0f} s"
    assert code in (0, 3)
    got = identities(doc)
    # Whatever the throttling did, nothing is called orphaned on a failed read.
    failed = doc["accounts"][0]["failures"]
    if not failed:
        assert all(got[f"BedrockAPIKey-t{n:03d}"]["status"] == "orphaned" for n in range(20))
    else:
        assert code == 3


def test_user_chosen_retry_mode_wins(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from phantomkeys.aws.session import retry_config

    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    assert retry_config()["mode"] == "legacy"
    monkeypatch.delenv("AWS_RETRY_MODE")
    config = tmp_path / "config"
    config.write_text("[profile slow]\nretry_mode = adaptive\nmax_attempts = 9\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    session = boto3.session.Session(profile_name="slow", region_name="us-east-1")
    assert retry_config(session._session) == {"mode": "adaptive", "max_attempts": 9}


def test_progress_says_when_aws_throttles(
    phantomkeys_lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phantomkeys.aws.collect import throttle_reporter
    from phantomkeys.aws.session import AwsContext

    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    ctx = AwsContext.from_cli()
    said: list[str] = []
    ctx.on_throttle = throttle_reporter(said.append, every_s=0.0)
    phantomkeys_lab.set_faults("iam:ListUsers=throttle:0.7")
    try:
        for _ in range(5):
            # retries exhausted is fine: the point is the message
            with contextlib.suppress(Exception):
                ctx.client("iam").list_users()
            if said:
                break
    finally:
        phantomkeys_lab.set_faults(None)
    assert said and all(s.startswith("waiting on AWS throttling: ") for s in said)


def test_credential_report_na_fields() -> None:
    """``access_key_N_last_rotated`` is N/A for a key that is not active: an active
    key is kept without a date, an inactive one shows through its last use, and
    ``N/A`` is never taken for a service name."""
    from phantomkeys.aws.collect import _report_fields

    row = {
        "access_key_1_active": "true",
        "access_key_1_last_rotated": "N/A",
        "access_key_1_last_used_date": "N/A",
        "access_key_1_last_used_service": "N/A",
        "access_key_2_active": "false",
        "access_key_2_last_rotated": "N/A",
        "access_key_2_last_used_date": "2026-11-30T10:00:00+00:00",
        "access_key_2_last_used_service": "s3",
        "password_enabled": "false",
        "mfa_active": "false",
        "cert_1_active": "true",
    }
    fields = _report_fields(row)
    keys = fields["access_keys"]
    assert [(k.status, k.created, k.last_used_service) for k in keys] == [
        ("Active", None, None),
        ("Inactive", None, "s3"),
    ]
    assert fields["signing_certificates"] == 1
