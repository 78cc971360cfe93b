"""``phantomkeys lab serve|scenarios|seed`` and ``phantomkeys demo``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli
from phantomkeys.cli import demo as demo_module
from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.lab


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_scenarios_lists_what_each_contains() -> None:
    code, out, _ = _run("lab", "scenarios", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema_version"]
    assert doc["tool"]["name"] == "phantomkeys"
    demo = next(s for s in doc["scenarios"] if s["name"] == "demo")
    users = {u["username"]: u for u in demo["accounts"][0]["users"]}
    assert users["BedrockAPIKey-0rph"]["status"] == "orphaned"
    assert users["bob"]["kind"] is None
    code, table, _ = _run("lab", "scenarios", "--format", "table")
    assert code == 0
    assert "org:" in table
    assert "not reported" in table


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--scenario", "demo", "--users", "5"), "either --scenario"),
        (("--users", "1", "--phantoms", "5"), "cannot exceed"),
        (("--faults", "iam:ListUsers=sometimes"), "--faults"),
    ],
)
def test_serve_refuses_bad_input_in_one_line(args: tuple[str, ...], needle: str) -> None:
    code, _, err = _run("lab", "serve", *args)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err


def test_serve_prints_exports_and_stops_cleanly_on_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from phantomkeys.cli import main; main()",
            "lab",
            "serve",
            "--scenario",
            "empty",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    exports: dict[str, str] = {}
    ready = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value.strip("'")
        elif "ready" in line:
            ready = line
            break
    try:
        assert ready, proc.stderr.read() if proc.stderr else ""
        assert set(exports) >= {
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
        }
        assert re.match(r"http://127\.0\.0\.1:\d+$", exports["AWS_ENDPOINT_URL"])
        session = boto3.Session(
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=exports.get("AWS_SESSION_TOKEN"),
            region_name="us-east-1",
        )
        ident = session.client(
            "sts", endpoint_url=exports["AWS_ENDPOINT_URL"]
        ).get_caller_identity()
        assert ident["Account"] == "111111111111"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = int(exports["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_seed_a_running_lab() -> None:
    with Lab.start(scenario="empty") as lab:
        code, out, err = _run(
            "lab",
            "seed",
            "--endpoint-url",
            lab.endpoint_url,
            "--users",
            "30",
            "--phantoms",
            "10",
            "--format",
            "json",
        )
        assert code == 0, err
        manifest = json.loads(out)["manifest"]
        assert manifest["accounts"][0]["user_count"] == 30
        users = lab.client("iam").list_users()["Users"]
        assert len(users) == 30
        code, _, err = _run("lab", "seed", "--endpoint-url", lab.endpoint_url, "--users", "3")
        assert code == 2
        assert "seeding failed" in err
        lab.reset()  # the new reset point is the seeded state
        assert len(lab.client("iam").list_users()["Users"]) == 30


def test_seed_without_a_lab_is_a_clear_error() -> None:
    code, _, err = _run("lab", "seed", "--endpoint-url", "http://127.0.0.1:9", "--users", "1")
    assert code == 2
    assert "no phantomkeys lab answers" in err


def test_demo_runs_its_steps_and_never_prints_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = [s for s in demo_module.DEMO_STEPS if s.command == "decode"]
    steps.append(
        demo_module.DemoStep(
            "not-a-command", "A future step", "Skipped for now.", lambda ctx: [], "future.json"
        )
    )
    monkeypatch.setattr(demo_module, "DEMO_STEPS", steps)
    code, out, err = _run("demo", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "skipped" in err
    assert "Decode the leaked key" in err
    decoded = json.loads((tmp_path / "out" / "decode.json").read_text())
    result = decoded["results"][0]
    assert result["username"] == "BedrockAPIKey-p1v0"
    assert result["account_id"] == "111111111111"
    key = (tmp_path / "out" / "leaked-key.txt").read_text().strip()
    assert key.startswith("ABSK")
    assert key not in out
    assert key not in err
    assert key not in (tmp_path / "out" / "decode.json").read_text()
    assert oct((tmp_path / "out" / "decode.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_the_whole_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from phantomkeys.cli import main; main()",
            "demo",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    key = (tmp_path / "leaked-key.txt").read_text().strip()
    assert key not in proc.stdout
    assert key not in proc.stderr
    for path in tmp_path.rglob("*"):
        if (
            path.is_file()
            and path.suffix != ".gz"
            and "leaky-repo" not in path.parts
            and path.name != "leaked-key.txt"
        ):
            assert key not in path.read_text(errors="replace"), path
    assert (tmp_path / "scan.json").exists()
    assert (tmp_path / "decode.json").exists()
    assert proc.returncode == 0, proc.stderr


def test_demo_skips_a_step_whose_code_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = [s for s in demo_module.DEMO_STEPS if s.command == "decode"]
    monkeypatch.setattr(demo_module, "DEMO_STEPS", steps)
    monkeypatch.setattr(
        demo_module,
        "run_cli_in_process",
        lambda argv: demo_module.CliRun(3, "", "ModuleNotFoundError", "phantomkeys.not_yet"),
    )
    code, _, err = _run("demo", "--out", str(tmp_path))
    assert code == 0
    assert "lacks phantomkeys.not_yet" in err
    assert "0 steps ran, 1 skipped" in err


def test_demo_reports_a_failing_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [s for s in demo_module.DEMO_STEPS if s.command == "decode"]
    monkeypatch.setattr(demo_module, "DEMO_STEPS", steps)
    monkeypatch.setattr(
        demo_module, "run_cli_in_process", lambda argv: demo_module.CliRun(2, "", "bad flag")
    )
    code, _, err = _run("demo", "--out", str(tmp_path))
    assert code == 3
    assert "decode exited 2: bad flag" in err
    assert "demo steps failed: decode" in err
