"""``phantomkeys decode`` end to end: exit codes, stdin, files, JSON shape, no secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

SECRET = "c2VjcmV0LXNob3VsZC1uZXZlci1wcmludA0123456789abcdefXYZ"
LONG = keys.encode_long_term(
    BEDROCK, username="BedrockAPIKey-q7zt", account_id="111122223333", secret=SECRET
)
CLAUDE = keys.encode_long_term(
    CLAUDE_PLATFORM, username="AeaApiKey-m2k9", account_id="111122223333", secret=SECRET
)
ISSUED = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SHORT = keys.mint_short_term(
    BEDROCK,
    access_key_id="AKIAY34FZKBOKMUTVV7A",
    secret_access_key="x" * 40,
    region="us-west-2",
    issued_at=ISSUED,
    lifetime_seconds=3600,
)


def run(args, stdin=None):
    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)


def test_json_shape_from_stdin_in_input_order():
    result = run(["decode", "--format", "json"], stdin=f"{LONG}\n\n  {SHORT}  \n{CLAUDE}\n")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema_version"] and doc["tool"]["name"] == "phantomkeys"
    r = doc["results"]
    assert [x["kind"] for x in r] == ["long-term", "short-term", "long-term"]
    assert [x["surface"] for x in r] == ["bedrock", "bedrock", "claude-platform"]
    assert r[0]["username"] == "BedrockAPIKey-q7zt"
    assert r[0]["iam_user_arn"] == "arn:aws:iam::111122223333:user/BedrockAPIKey-q7zt"
    assert r[0]["key_position"] == "primary" and len(r[0]["secret_sha256"]) == 64
    for field in (
        "access_key_id",
        "access_key_type",
        "region",
        "issued_at",
        "expires_at",
        "expired",
    ):
        assert field in r[1]
    assert r[1]["access_key_type"] == "AKIA" and r[1]["expired"] is True
    assert SECRET not in result.output


def test_at_judges_expiry_when_leaked():
    inside = run(["decode", "--format", "json", "--at", "2026-11-01T08:30:00Z", "-"], stdin=SHORT)
    assert json.loads(inside.stdout)["results"][0]["expired"] is False
    after = run(["decode", "--format", "json", "--at", "2026-11-01T09:00:00Z", "-"], stdin=SHORT)
    assert json.loads(after.stdout)["results"][0]["expired"] is True


def test_invalid_input_exit_2_but_valid_reported():
    result = run(["decode", "--format", "json", "-"], stdin=f"{LONG}\nABSKnot-a-key\n")
    assert result.exit_code == 2
    r = json.loads(result.stdout)["results"]
    assert r[0]["valid"] is True
    assert r[1]["valid"] is False and "base64" in r[1]["error"]
    assert "ABSKnot-a-key" not in result.stdout


def test_argument_warns_about_shell_history():
    result = run(["decode", "--format", "json", LONG])
    assert result.exit_code == 0
    assert "shell history" in result.stderr


def test_file_input(tmp_path):
    f = tmp_path / "keys.txt"
    f.write_text(f"{LONG}\n\n{CLAUDE}\n")
    result = run(["decode", "-f", str(f), "--format", "json"])
    r = json.loads(result.stdout)["results"]
    assert [x["input"] for x in r] == [f"{f} line 1", f"{f} line 3"]


def test_missing_file_is_a_clean_error(tmp_path):
    result = run(["decode", "-f", str(tmp_path / "nope.txt")])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_bad_time_is_a_clean_error():
    result = run(["decode", "--at", "yesterday-ish", "-"], stdin=LONG)
    assert result.exit_code == 2 and "ISO-8601" in result.stderr


def test_no_keys_on_empty_stdin():
    result = run(["decode", "-"], stdin="\n\n")
    assert result.exit_code == 2 and "no keys" in result.stderr


def test_table_never_shows_secret_and_reveal_does():
    table = run(["decode", "--format", "table", "-"], stdin=LONG)
    assert table.exit_code == 0 and "BedrockAPIKey-q7zt" in table.stdout
    assert SECRET not in table.output
    revealed = run(["decode", "--format", "json", "--reveal", "-"], stdin=LONG)
    assert json.loads(revealed.stdout)["results"][0]["secret"] == SECRET
    assert "contains secrets" in revealed.stderr


def test_output_file_is_private(tmp_path):
    out = tmp_path / "decoded.json"
    result = run(["decode", "--format", "json", "-o", str(out), "-"], stdin=LONG)
    assert result.exit_code == 0
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert json.loads(out.read_text())["results"][0]["account_id"] == "111122223333"


def test_partition_option():
    result = run(["decode", "--format", "json", "--partition", "aws-us-gov", "-"], stdin=LONG)
    arn = json.loads(result.stdout)["results"][0]["iam_user_arn"]
    assert arn.startswith("arn:aws-us-gov:iam::")


@pytest.mark.parametrize("args", [["decode", "--format", "xml"], ["decode", "--bogus"]])
def test_usage_errors_exit_2(args):
    assert run(args, stdin=LONG).exit_code == 2


def test_console_script_runs_without_traceback():
    """The installed entry point, in a real process, on a pipe (json by default)."""
    proc = subprocess.run(
        [sys.executable, "-m", "phantomkeys", "decode"],
        input=LONG + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["username"] == "BedrockAPIKey-q7zt"
    bad = subprocess.run(
        [sys.executable, "-m", "phantomkeys", "decode"],
        input="garbage\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
