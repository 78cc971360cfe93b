"""Exit codes scripts can trust, the same in every command, through the real program.

0 clean, 1 findings, 2 usage or input error, 3 incomplete, 4 a write failed or
was refused, 70 internal error (the only "please report it"), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.cli.clirun import Done, argv, child_env, phantomkeys

from phantomkeys.cli.common import ExitCode

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

KEY = "ABSKQmVkcm9ja0FQSUtleS0xYTJiLWF0LTExMTExMTExMTExMTpzZWNyZXQ="


def test_the_root_help_lists_every_exit_code() -> None:
    done = phantomkeys("--help")
    text = " ".join(done.stdout.split())
    for code in ExitCode:
        assert f" {int(code)} " in text, code
    assert "130 interrupted" in text and "70 internal error" in text


# ------------------------------------------------------------------ missing input


@pytest.mark.parametrize(
    "args",
    [
        ["decode", "-f", "nosuch.txt"],
        ["scan", "--from-snapshot", "nosuch.json"],
        ["scp", "coverage", "--from-snapshot", "nosuch.json"],
        ["scp", "validate", "nosuch.json"],
        ["restore", "nosuch.json"],
        ["leaks", "nosuch-folder"],
        ["hunt", "nosuch-folder"],
        ["timeline", "alice", "--from", "nosuch-folder"],
        ["least-privilege", "alice", "--from", "nosuch-folder"],
        ["history", "list", "--history", "nosuch.db"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_missing_input_is_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = phantomkeys(*args, cwd=tmp_path)
    assert done.code == ExitCode.USAGE, done.stderr
    line = done.assert_one_line_reason()
    assert "nosuch" in line
    assert "please report" not in done.stderr


# ------------------------------------------------------------------ internal error

_BUGGY = (
    "import sys\n"
    "import phantomkeys.cli.decode as d\n"
    "def boom(*a, **k):\n"
    "    raise RuntimeError('injected bug')\n"
    "d.decode_one = boom\n"
    "from phantomkeys.cli import main\n"
    "sys.argv[0] = 'phantomkeys'\n"
    "main()\n"
)


def _buggy(*args: str, extra: dict[str, str] | None = None) -> Done:
    proc = subprocess.run(
        [sys.executable, "-c", _BUGGY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env(extra),
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def test_a_bug_exits_70_and_asks_to_be_reported() -> None:
    done = _buggy("decode", KEY)
    assert done.code == ExitCode.INTERNAL
    line = done.assert_one_line_reason()
    assert "internal error" in line and "injected bug" in line
    assert "please report it" in done.stderr and "--debug" in done.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["--debug", "decode", KEY], None), (["decode", KEY], {"PHANTOMKEYS_DEBUG": "1"})],
    ids=["--debug", "PHANTOMKEYS_DEBUG"],
)
def test_debug_shows_the_traceback_and_keeps_70(
    args: list[str], extra: dict[str, str] | None
) -> None:
    done = _buggy(*args, extra=extra)
    assert done.code == ExitCode.INTERNAL
    assert "Traceback" in done.stderr and "RuntimeError: injected bug" in done.stderr


def test_user_errors_never_say_please_report() -> None:
    done = phantomkeys("decode", "-f", "/proc/self/nonexistent")
    assert done.code == 2 and "please report" not in done.stderr


# ------------------------------------------------------------------ regions


def test_validate_regions_uses_the_partition_lists_offline() -> None:
    from phantomkeys.aws.regions import RegionError, validate_region, validate_regions

    assert validate_regions(["us-east-1,eu-west-1", "us-east-1", " cn-north-1 "]) == [
        "us-east-1",
        "eu-west-1",
        "cn-north-1",
    ]
    assert validate_region("US-GOV-WEST-1") == "us-gov-west-1"
    with pytest.raises(RegionError, match="did you mean eu-central-1"):
        validate_region("eu-centrl-1")
    with pytest.raises(RegionError, match="us-nowhere-9"):
        validate_regions(["us-east-1", "us-nowhere-9"])


pytestmark_lab = pytest.mark.phantomkeys_lab(scenario="demo")


@pytestmark_lab
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["mint", "--region", "us-nowhere-9"], {}),
        (["mint"], {"AWS_REGION": "us-nowhere-9", "AWS_DEFAULT_REGION": "us-nowhere-9"}),
        (["scan", "--region", "us-nowhere-9", "--no-history"], {}),
        (["scan", "--no-history"], {"AWS_DEFAULT_REGION": "us-nowhere-9"}),
        (["report", "alice", "--trail-region", "eu-west-1,us-nowhere-9"], {}),
        (["timeline", "alice", "--regions", "us-east-1,us-nowhere-9"], {}),
        (["least-privilege", "alice", "--regions", "us-nowhere-9"], {}),
        (["cleanup", "--dry-run", "--region", "us-nowhere-9"], {}),
        (["alerts", "deploy", "--dry-run", "--regions", "us-nowhere-9"], {}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else ",".join(v),
)
def test_an_unknown_region_is_exit_2_before_any_call(
    phantomkeys_lab: Lab, tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    phantomkeys_lab.reset_stats()
    env = child_env(extra, aws=dict(phantomkeys_lab.env))
    env.update(extra)
    done = phantomkeys(*args, env=env, cwd=tmp_path)
    assert done.code == ExitCode.USAGE, done.stderr
    line = done.assert_one_line_reason()
    assert "'us-nowhere-9' is not an AWS region" in line
    assert done.stdout == ""  # mint: no key
    assert phantomkeys_lab.stats()["total"] == 0


@pytestmark_lab
def test_mint_in_a_real_region_still_mints(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    done = phantomkeys(
        "mint", "--region", "eu-west-1", env=child_env(aws=dict(phantomkeys_lab.env)), cwd=tmp_path
    )
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("bedrock-api-key-")


def test_a_missing_aws_profile_is_named() -> None:
    done = phantomkeys("scan", "--no-history", env=child_env({"AWS_PROFILE": "nosuch"}))
    assert done.code == ExitCode.USAGE
    line = done.assert_one_line_reason()
    assert "'nosuch'" in line and "None" not in line


# ------------------------------------------------------- identities that do not exist


@pytestmark_lab
@pytest.mark.parametrize(
    "args",
    [
        ["report", "nosuchuser"],
        ["report", "ALICE"],
        ["timeline", "nosuchuser", "--regions", "us-east-1"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_identity_that_never_existed_is_not_found(
    phantomkeys_lab: Lab, tmp_path: Path, args: list[str]
) -> None:
    done = phantomkeys(*args, env=child_env(aws=dict(phantomkeys_lab.env)), cwd=tmp_path)
    assert done.code == ExitCode.USAGE, done.stderr
    line = done.assert_one_line_reason()
    assert "not found" in line and "deleted" not in line.replace("DeleteUser", "")
    assert done.stdout == ""
    if args[1] == "ALICE":
        assert "did you mean alice?" in done.stderr


@pytestmark_lab
def test_a_deleted_user_is_deleted_with_the_evidence(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    iam = phantomkeys_lab.client("iam")
    iam.create_user(UserName="departed")
    iam.delete_user(UserName="departed")
    env = child_env(aws=dict(phantomkeys_lab.env))

    done = phantomkeys("report", "departed", "--format", "json", env=env, cwd=tmp_path)
    assert done.code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "deleted"
    gone = doc["identity"]["deleted"]
    assert gone["event_time"].endswith("Z") and gone["by"].startswith("arn:aws:")

    text = phantomkeys("report", "departed", env=env, cwd=tmp_path)
    assert text.code == 0 and "deleted: " in text.stdout and "CloudTrail DeleteUser" in text.stdout

    tl = phantomkeys(
        "timeline", "departed", "--regions", "us-east-1", "--format", "json", env=env, cwd=tmp_path
    )
    assert tl.code == 0, tl.stderr
    ident = json.loads(tl.stdout)["metadata"]["identity"]
    assert ident["status"] == "deleted" and ident["deleted"]["by"] == gone["by"]
    assert "the user was deleted" in tl.stderr


# ------------------------------------------------------------------ Ctrl-C


SLOW = "*=latency:3s"


@pytestmark_lab
@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--no-history", "-o", "out.json"],
        ["report", "alice", "-o", "out.json"],
        ["timeline", "alice", "--regions", "us-east-1", "-o", "out.json"],
        ["cleanup", "--dry-run", "--backup-dir", "backups"],
        ["scp", "coverage", "-o", "out.json"],
        ["least-privilege", "alice", "--regions", "us-east-1", "-o", "out.json"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_ctrl_c_mid_run_exits_130_and_writes_no_partial_output(
    phantomkeys_lab: Lab, tmp_path: Path, args: list[str]
) -> None:
    phantomkeys_lab.set_faults(SLOW)
    try:
        env = child_env({"XDG_DATA_HOME": str(tmp_path / "data")}, aws=dict(phantomkeys_lab.env))
        work = tmp_path / "work"
        work.mkdir()
        proc = subprocess.Popen(
            argv(*args),
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.5)  # started, waiting on the slow lab
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        phantomkeys_lab.set_faults(None)
    done = Done(proc.returncode, out, err)
    assert done.code == ExitCode.INTERRUPTED, err
    line = done.assert_one_line_reason()
    assert "interrupted" in line
    assert "Aborted!" not in err
    assert "hint:" in err  # how to resume
    assert sorted(p.name for p in work.iterdir()) in ([], ["backups"]), list(work.iterdir())


def test_ctrl_c_in_an_offline_command_is_130(tmp_path: Path) -> None:
    """Not only AWS commands: decode waiting on stdin, interrupted."""
    proc = subprocess.Popen(
        argv("decode", "-o", "out.json"),
        cwd=tmp_path,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    Done(proc.returncode, out, err).assert_one_line_reason()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ lab serve


@pytest.mark.lab
def test_lab_serve_detach_works_with_eval(tmp_path: Path) -> None:
    pytest.importorskip("moto")
    script = (
        'set -e\neval "$(phantomkeys lab serve --detach --scenario empty)"\n'
        'test -n "$PHANTOMKEYS_LAB_PID"\n'
        "phantomkeys scan --no-history --format json > scan.json\n"
        'kill "$PHANTOMKEYS_LAB_PID"\n'
        'echo "pid=$PHANTOMKEYS_LAB_PID"\n'
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "phantomkeys"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m phantomkeys "$@"\n')
    shim.chmod(0o755)
    env = child_env({"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "scan.json").read_text())["schema_version"]
    pid = int(proc.stdout.strip().rsplit("=", 1)[1])
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.lab
def test_lab_serve_env_file_can_be_sourced_and_is_removed_on_stop(tmp_path: Path) -> None:
    pytest.importorskip("moto")
    env_file = tmp_path / "lab.env"
    proc = subprocess.Popen(
        argv("lab", "serve", "--scenario", "empty", "--env-file", str(env_file)),
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not env_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert oct(env_file.stat().st_mode & 0o777) == oct(0o600)
        check = subprocess.run(
            ["bash", "-c", f'. "{env_file}" && {sys.executable} -m phantomkeys scan --no-history'
             " --format json >/dev/null && echo ok"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        assert check.stdout.strip() == "ok", check.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not env_file.exists()


def test_lab_serve_help_no_longer_suggests_eval_of_the_foreground_server() -> None:
    done = phantomkeys("lab", "serve", "--help")
    assert "--detach" in done.stdout and "--env-file" in done.stdout
    assert 'eval "$(phantomkeys lab serve --detach)"' in done.stdout


def test_ctrl_c_during_a_local_hunt_is_130_not_a_duckdb_error(tmp_path: Path) -> None:
    """DuckDB turns Ctrl-C into its own "Query interrupted" error: still 130, never 70."""
    import gzip

    from phantomkeys.trail.synth import SynthConfig, generate

    logs = tmp_path / "logs"
    for n, f in enumerate(generate(SynthConfig(slots=30, records_per_file=100))):
        if n >= 30:
            break
        payload = gzip.compress(json.dumps({"Records": f.records}).encode(), 1)
        path = logs / f.key
        path.parent.mkdir(parents=True, exist_ok=True)
        for copy in range(150):  # 4,500 files: seconds of work for the hunt
            path.with_name(f"{copy:02d}{path.name}").write_bytes(payload)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(
        argv("hunt", str(logs), "-o", "hunt.json"),
        cwd=work,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)  # started and reading (start-up is well under a second)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    done = Done(proc.returncode, out, err)
    assert done.code == ExitCode.INTERRUPTED, err
    assert "interrupted" in done.assert_one_line_reason()
    assert "please report" not in err
    assert list(work.iterdir()) == []
