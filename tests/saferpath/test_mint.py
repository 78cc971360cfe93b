"""``phantomkeys mint``: short-term keys that decode back to their signer, region and expiry."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from phantomkeys.aws.mint import Generator, Signer, mint_key, official_generator, resolve_signer
from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, SURFACES

from .helpers import ACCOUNT, AKIA, ASIA, FAKE_SECRET, FAKE_SESSION_TOKEN, aws_env, running_lab

FROZEN = datetime(2026, 11, 29, 9, 30, 15, tzinfo=UTC)
SESSION = Signer(ASIA, FAKE_SECRET, FAKE_SESSION_TOKEN, method="env")


def run(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# ----------------------------------------------------------- the adapter, frozen clock


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.id.value)
@pytest.mark.parametrize("lifetime", [60, 3600, 43200])
def test_builtin_generator_frozen_clock_decodes_to_signer_region_expiry(surface, lifetime):
    minted = mint_key(
        surface,
        SESSION,
        region="ap-northeast-1",
        lifetime_seconds=lifetime,
        generator=Generator.BUILTIN,
        clock=lambda: FROZEN,
    )
    assert minted.generator == "phantomkeys"
    decoded = keys.decode(minted.token)
    assert decoded.surface is surface.id
    assert decoded.kind is keys.KeyKind.SHORT_TERM
    assert decoded.access_key_id == ASIA
    assert decoded.access_key_type == "ASIA"
    assert decoded.account_id == ACCOUNT
    assert decoded.region == "ap-northeast-1"
    assert decoded.signed_service == surface.signing_service
    assert decoded.issued_at == FROZEN
    assert decoded.expires_at == FROZEN + timedelta(seconds=lifetime)
    assert decoded.has_session_token
    assert not decoded.expired(FROZEN + timedelta(seconds=lifetime - 1))
    assert decoded.expired(FROZEN + timedelta(seconds=lifetime))


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.id.value)
def test_official_library_and_builtin_presigner_are_byte_identical(surface):
    """For both surfaces: AWS's generator and ours produce the same token for the same second."""
    if official_generator(surface) is None:
        pytest.skip(f"AWS's generator for {surface.id.value} is not installed")
    official = mint_key(
        surface, SESSION, region="us-west-2", lifetime_seconds=900, generator=Generator.AWS
    )
    assert official.generator.split()[0] in (
        "aws-bedrock-token-generator",
        "token-generator-for-aws-external-anthropic",
    )
    issued = keys.decode(official.token).issued_at
    assert issued is not None
    ours = mint_key(
        surface,
        SESSION,
        region="us-west-2",
        lifetime_seconds=900,
        generator=Generator.BUILTIN,
        clock=lambda: issued,
    )
    assert ours.token == official.token


def test_auto_prefers_the_official_library_when_installed():
    for surface in SURFACES:
        minted = mint_key(surface, SESSION, region="us-east-1", lifetime_seconds=60)
        expected = (
            "phantomkeys" if official_generator(surface) is None else official_generator(surface)[1]
        )  # type: ignore[index]
        assert minted.generator == expected


def test_lifetime_over_twelve_hours_is_refused():
    with pytest.raises(ValueError, match="43200"):
        mint_key(BEDROCK, SESSION, region="us-east-1", lifetime_seconds=43201)


def test_resolve_signer_reads_the_environment(isolated_aws):
    signer = resolve_signer()
    assert signer.access_key_id == ASIA
    assert not signer.long_term
    assert signer.method == "env"
    assert signer.region == "eu-west-1"
    assert FAKE_SECRET not in repr(signer)
    assert FAKE_SESSION_TOKEN not in repr(signer)


def test_akia_credentials_are_long_term():
    assert Signer(AKIA, FAKE_SECRET).long_term
    assert not Signer(ASIA, FAKE_SECRET, FAKE_SESSION_TOKEN).long_term


# ----------------------------------------------------------- the command


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.id.value)
@pytest.mark.parametrize("generator", ["auto", "builtin"])
def test_mint_prints_the_key_once_and_its_expiry_on_stderr(tmp_path, surface, generator):
    before = datetime.now(UTC).replace(microsecond=0)
    result = run(
        [
            "mint",
            "--surface",
            surface.id.value,
            "--region",
            "eu-central-1",
            "--duration",
            "90m",
            "--generator",
            generator,
        ],
        aws_env(tmp_path),
    )
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.stderr
    token = only_line(result.stdout)
    decoded = keys.decode(token)
    assert decoded.surface is surface.id
    assert decoded.access_key_id == ASIA
    assert decoded.region == "eu-central-1"
    assert decoded.lifetime_seconds == 5400
    assert decoded.issued_at is not None
    assert before <= decoded.issued_at <= after
    expires = keys._iso(decoded.expires_at)
    assert expires
    assert expires in result.stderr
    assert "eu-central-1" in result.stderr
    assert ASIA in result.stderr
    # printed once, never echoed on stderr, secret never shown
    assert (result.stdout + result.stderr).count(token) == 1
    assert FAKE_SECRET not in result.stdout + result.stderr
    assert FAKE_SESSION_TOKEN not in result.stderr


def test_default_duration_is_one_hour_and_region_comes_from_the_profile(tmp_path):
    result = run(["mint"], aws_env(tmp_path, region="sa-east-1"))
    assert result.exit_code == 0, result.stderr
    decoded = keys.decode(only_line(result.stdout))
    assert decoded.surface is BEDROCK.id
    assert decoded.region == "sa-east-1"
    assert decoded.lifetime_seconds == 3600


def test_mint_to_a_file_is_private_and_stdout_stays_empty(tmp_path):
    out = tmp_path / "keys" / "bedrock.key"
    result = run(
        ["mint", "--region", "us-east-1", "--duration", "12h", "-o", str(out)], aws_env(tmp_path)
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    decoded = keys.decode(out.read_text())
    assert decoded.lifetime_seconds == 43200
    assert decoded.access_key_id == ASIA
    assert out.read_text().strip() not in result.stderr


def test_long_term_signer_is_refused_with_the_reason(tmp_path):
    result = run(
        ["mint", "--region", "us-east-1"], aws_env(tmp_path, access_key_id=AKIA, session_token=None)
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    message = " ".join(result.stderr.split())
    assert "long-term" in message
    assert AKIA in message
    assert "ASIA" in message
    assert "session" in message
    assert "--allow-long-term-signer" in message
    assert "Traceback" not in result.stderr


def test_long_term_signer_allowed_with_the_flag(tmp_path):
    result = run(
        ["mint", "--region", "us-east-1", "--allow-long-term-signer"],
        aws_env(tmp_path, access_key_id=AKIA, session_token=None),
    )
    assert result.exit_code == 0, result.stderr
    decoded = keys.decode(only_line(result.stdout))
    assert decoded.access_key_id == AKIA
    assert decoded.access_key_type == "AKIA"
    assert not decoded.has_session_token
    assert "deactivate access key" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("15m", 900), ("3600", 3600), ("12h", 43200), ("43200s", 43200), ("1", 1)],
)
def test_duration_forms(tmp_path, duration, seconds):
    result = run(["mint", "--region", "us-east-1", "--duration", duration], aws_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert keys.decode(only_line(result.stdout)).lifetime_seconds == seconds


@pytest.mark.parametrize("duration", ["13h", "43201", "0", "0s", "tomorrow", "-5m", "1d"])
def test_bad_durations_are_usage_errors(tmp_path, duration):
    result = run(["mint", "--region", "us-east-1", "--duration", duration], aws_env(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--duration" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_credentials_is_one_clear_line(tmp_path):
    env = aws_env(tmp_path)
    env.update(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None)
    result = run(["mint", "--region", "us-east-1"], env)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no AWS credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_region_is_refused(tmp_path):
    result = run(["mint"], aws_env(tmp_path, region=None))
    assert result.exit_code == 2
    assert "--region" in result.stderr
    assert result.stdout == ""


def _credential_process_profile(tmp_path: Path, expires: datetime) -> dict[str, str | None]:
    """A profile whose credentials come from credential_process with an expiry (like SSO)."""
    creds = {
        "Version": 1,
        "AccessKeyId": ASIA,
        "SecretAccessKey": FAKE_SECRET,
        "SessionToken": FAKE_SESSION_TOKEN,
        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    helper = tmp_path / "creds.py"
    helper.write_text(f"import json\nprint(json.dumps({creds!r}))\n")
    config = tmp_path / "config"
    config.write_text(
        f"[profile workload]\ncredential_process = {sys.executable} {helper}\nregion = us-west-2\n"
    )
    env = aws_env(tmp_path, region=None)
    env.update(
        AWS_ACCESS_KEY_ID=None,
        AWS_SECRET_ACCESS_KEY=None,
        AWS_SESSION_TOKEN=None,
        AWS_CONFIG_FILE=str(config),
    )
    return env


def test_a_session_ending_before_the_key_is_reported(tmp_path):
    session_end = (datetime.now(UTC) + timedelta(minutes=40)).replace(microsecond=0)
    env = _credential_process_profile(tmp_path, session_end)
    result = run(["mint", "--profile", "workload", "--duration", "2h"], env)
    assert result.exit_code == 0, result.stderr
    decoded = keys.decode(only_line(result.stdout))
    assert decoded.region == "us-west-2"
    assert decoded.lifetime_seconds == 7200
    stderr = " ".join(result.stderr.split())
    assert "session ends" in stderr
    assert keys._iso(session_end) in stderr
    assert "credentials from custom-process" in stderr


def test_unknown_profile_is_a_usage_error(tmp_path):
    result = run(["mint", "--profile", "does-not-exist"], aws_env(tmp_path))
    assert result.exit_code == 2
    assert "does-not-exist" in result.stderr


# ----------------------------------------------------------- against the lab


@pytest.mark.lab
def test_mint_with_the_lab_credentials() -> None:
    """Keys minted from the lab's credentials name the lab's caller, for both surfaces."""
    import boto3

    with running_lab() as env:
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
            region_name="us-east-1",
        )
        caller = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"]).get_caller_identity()
        for surface in SURFACES:
            result = run(
                [
                    "mint",
                    "--surface",
                    surface.id.value,
                    "--region",
                    "us-east-1",
                    "--duration",
                    "30m",
                    "--allow-long-term-signer",
                ],
                env,
            )
            assert result.exit_code == 0, result.stderr
            decoded = keys.decode(only_line(result.stdout))
            assert decoded.access_key_id == env["AWS_ACCESS_KEY_ID"]
            assert decoded.account_id == caller["Account"]
            assert decoded.region == "us-east-1"
            assert decoded.lifetime_seconds == 1800
            assert decoded.signed_service == surface.signing_service
            assert decoded.has_session_token == bool(env.get("AWS_SESSION_TOKEN"))


def test_json_is_not_a_mint_format(tmp_path):
    """The key is the whole stdout, so $(phantomkeys mint) works: no JSON wrapper exists."""
    result = run(["mint", "--region", "us-east-1"], aws_env(tmp_path))
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    assert result.stdout.startswith(BEDROCK.short_term_key_prefix)
    result = run(
        ["mint", "--surface", "claude-platform", "--region", "us-east-1"], aws_env(tmp_path)
    )
    assert result.stdout.startswith(CLAUDE_PLATFORM.short_term_key_prefix)
