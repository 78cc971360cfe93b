"""Shared data for the safer-path tests: the CloudTrail fixture, fake credentials, the lab."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.core import keys

DATA = Path(__file__).parent / "data"
#: The fixture: a Bedrock phantom user's workload over four weeks, plus noise.
ACTIVITY = DATA / "phantom_user_activity.json"
ACCOUNT = "123456789012"
USER = "BedrockAPIKey-hr8l"
#: End of the window the fixture is read at (its records span 2026-11-01 .. 2026-11-06).
AT = "2026-11-29T00:00:00Z"
AT_TIME = datetime(2026, 11, 29, tzinfo=UTC)

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"

FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
FAKE_SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample"
    "sessiontokenQ2lhbmNvZGVkTWF0ZXJpYWw="
)
ASIA = keys.access_key_id_for_account(ACCOUNT, session=True, entropy=b"\x11\x22\x33\x44\x55")
AKIA = keys.access_key_id_for_account(ACCOUNT, session=False, entropy=b"\x66\x77\x88\x99\xaa")


def aws_env(
    tmp: Path,
    *,
    access_key_id: str = ASIA,
    session_token: str | None = FAKE_SESSION_TOKEN,
    region: str | None = "eu-west-1",
) -> dict[str, str | None]:
    """An environment with only these credentials: no profile, no config file, no IMDS."""
    env: dict[str, str | None] = {
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_SESSION_TOKEN": session_token,
        "AWS_SECURITY_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": None,
        "AWS_CONFIG_FILE": str(tmp / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,
        "AWS_ENDPOINT_URL": None,
    }
    return env


def lab_ready() -> bool:
    try:
        from phantomkeys import lab
    except ImportError:
        return False
    return hasattr(lab, "Lab")


def load_activity() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(ACTIVITY.read_text())["Records"]
    return records


@contextlib.contextmanager
def running_lab() -> Iterator[dict[str, str | None]]:
    """An AWS-compatible endpoint with CloudTrail LookupEvents: the lab, as env variables.

    ``phantomkeys.lab.Lab`` (demo scenario) when it exists; until then the lab's
    HTTP server module on its own (empty account). Skips when neither can start.
    """
    if lab_ready():
        from phantomkeys.lab import Lab

        with Lab.start(scenario="demo") as lab:
            yield dict(lab.env)
        return
    try:
        import moto  # noqa: F401

        import phantomkeys.lab.server  # noqa: F401
    except ImportError:
        pytest.skip("the lab needs the [lab] extra (moto)")
    process = subprocess.Popen(
        [sys.executable, "-m", "phantomkeys.lab.server", "--port", "0", "--watch-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            with contextlib.suppress(json.JSONDecodeError):
                ready = json.loads(line)
            if ready.get("event") == "ready":
                break
        if ready.get("event") != "ready":
            pytest.skip("the lab server did not start")
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ready['port']}",
            "AWS_ACCESS_KEY_ID": keys.access_key_id_for_account(
                "111111111111", session=True, entropy=b"\x01\x02\x03\x04\x05"
            ),
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_PROFILE": None,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the server stops when its stdin closes
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
