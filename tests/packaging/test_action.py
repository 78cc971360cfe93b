"""``action.yml`` run as a GitHub runner runs a composite action: each step's script in
bash with the ``GITHUB_*`` files and variables a runner sets, ``${{ }}`` expressions
substituted, outputs and environment carried from step to step.

In a temporary repository, with and without a planted key: the exit code, the SARIF
file (against the official SARIF 2.1.0 schema, paths relative to ``%SRCROOT%``), the job
summary and the outputs. The default-suite test stands in for the install step with
this checkout; the slow one runs the install step too (``pip install`` of the action's
own checkout into a fresh virtual environment)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.packaging.conftest import REPO_ROOT
from tests.sarif_schema import assert_valid_sarif

sys.path.insert(0, str(REPO_ROOT / "tests" / "leaks"))
from leakfixtures import KEYS

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    code: int
    outputs: dict[str, str]
    summary: str
    log: str
    steps: list[str] = field(default_factory=list)


def _read_kv(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` blocks (the runner's file format)."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<")[0]:
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        name, _, value = line.partition("=")
        out[name] = value
        i += 1
    return out


def run_action(
    action_dir: Path,
    workspace: Path,
    runner_temp: Path,
    inputs: dict[str, str],
    *,
    install: bool,
) -> ActionRun:
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of the action: {unknown}"
    values.update(inputs)
    runner_temp.mkdir(parents=True, exist_ok=True)
    summary = runner_temp / "step_summary.md"
    summary.write_text("")
    step_outputs: dict[str, dict[str, str]] = {}
    job_env: dict[str, str] = {}
    head = subprocess.run(
        ["git", "-C", str(workspace), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(runner_temp / "home"),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(action_dir),
        "GITHUB_REPOSITORY": "octo-org/app",
        "GITHUB_SHA": head,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_RUN_ID": "1",
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_OS": "Linux",
        "RUNNER_TEMP": str(runner_temp),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    if "PIP_CONFIG_FILE" in os.environ:
        base["PIP_CONFIG_FILE"] = os.environ["PIP_CONFIG_FILE"]

    def evaluate(expr: str) -> str:
        parts = expr.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return values[parts[1]]
        if expr == "github.action_path":
            return str(action_dir)
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return step_outputs.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the emulated runner does not know ${{{{ {expr} }}}}")

    def substitute(text: str) -> str:
        return EXPRESSION.sub(lambda m: evaluate(m.group(1)), text)

    log = []
    ran = []
    code = 0
    for n, step in enumerate(action["runs"]["steps"]):
        assert "run" in step and step.get("shell") == "bash", "every step is a bash script"
        assert "if" not in step
        ran.append(step["name"])
        files = {k: runner_temp / f"{k.lower()}_{n}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV")}
        for f in files.values():
            f.write_text("")
        env = {**base, **job_env, **{k: str(v) for k, v in files.items()}}
        env.update({k: substitute(str(v)) for k, v in (step.get("env") or {}).items()})
        if step.get("id") == "install" and not install:
            # this checkout stands in for the installed package
            venv = runner_temp / "fake-venv" / "bin"
            venv.mkdir(parents=True, exist_ok=True)
            for name, module in (("phantomkeys", ["-m", "phantomkeys"]), ("python", [])):
                exe = venv / name
                exe.write_text(
                    f'#!/bin/sh\nPYTHONPATH="{REPO_ROOT / "src"}" exec "{sys.executable}" '
                    f'{" ".join(module)} "$@"\n'
                )
                exe.chmod(0o755)
            files["GITHUB_ENV"].write_text(f"PHANTOMKEYS_VENV={venv.parent}\n")
            rc, out = 0, "(install stood in for)"
        else:
            script = runner_temp / f"step_{n}.sh"
            script.write_text(substitute(step["run"]))
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            rc, out = proc.returncode, proc.stdout + proc.stderr
        log.append(f"--- {step['name']} (exit {rc})\n{out}")
        if step.get("id"):
            step_outputs[step["id"]] = _read_kv(files["GITHUB_OUTPUT"])
        job_env.update(_read_kv(files["GITHUB_ENV"]))
        if rc != 0:
            code = rc
            break  # a failed step ends a composite action
    outputs = {name: substitute(str(spec["value"])) for name, spec in action["outputs"].items()}
    return ActionRun(code, outputs, summary.read_text(), "\n".join(log), ran)


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def _workspace(root: Path, *, planted: bool) -> Path:
    ws = root / "workspace"
    (ws / "src").mkdir(parents=True)
    _git(ws, "init", "-q")
    (ws / "src" / "app.py").write_text("def main():\n    return 0\n")
    _git(ws, "add", ".")
    _git(ws, "commit", "-qm", "init")
    if planted:
        (ws / "src" / "batch.py").write_text(f"TOKEN = '{KEYS['lt_bedrock'].key}'\n")
        _git(ws, "add", ".")
        _git(ws, "commit", "-qm", "batch job")
        (ws / "src" / "batch.py").write_text("TOKEN = None\n")  # removed, still in history
        _git(ws, "commit", "-qam", "remove the key")
    return ws


def _check(run: ActionRun, ws: Path, *, planted: bool) -> dict[str, Any]:
    assert run.code == (1 if planted else 0), run.log
    assert run.outputs["exit-code"] == str(run.code)
    assert run.outputs["findings"] == ("1" if planted else "0")
    sarif_path = ws / run.outputs["sarif"]
    log = json.loads(sarif_path.read_text())
    assert_valid_sarif(log)
    (sarif_run,) = log["runs"]
    assert sarif_run["tool"]["driver"]["name"] == "phantomkeys"
    assert sarif_run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ws.resolve().as_uri() + "/"
    results = sarif_run["results"]
    summary = run.summary
    if planted:
        (result,) = results
        loc = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc == {"uri": "src/batch.py", "uriBaseId": "%SRCROOT%"}
        assert result["level"] == "error"
        assert "## phantomkeys leaks: exit 1 (findings at or above --fail-on)" in summary
        assert "123456789012" in summary
        assert "::error title=phantomkeys::1 finding(s)" in run.log
    else:
        assert results == []
        assert "## phantomkeys leaks: exit 0 (clean)" in summary
    assert "**Read:**" in summary and "commits" in summary
    for secret in (KEYS["lt_bedrock"].key, KEYS["lt_bedrock"].secret):
        assert secret not in summary and secret not in sarif_path.read_text()
        assert secret not in run.log
    return log


@pytest.mark.parametrize("planted", [False, True])
def test_action_steps_with_and_without_a_planted_key(tmp_path: Path, planted: bool) -> None:
    if shutil.which("bash") is None or shutil.which("git") is None:
        pytest.skip("needs bash and git")
    ws = _workspace(tmp_path, planted=planted)
    run = run_action(REPO_ROOT, ws, tmp_path / "runner-temp", {}, install=False)
    assert run.steps == [
        "Install phantomkeys",
        "Run phantomkeys",
        "Write SARIF and the job summary",
        "Verdict",
    ]
    _check(run, ws, planted=planted)


def test_action_rejects_an_unknown_command_and_says_why(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, planted=False)
    run = run_action(
        REPO_ROOT, ws, tmp_path / "runner-temp", {"command": "rm -rf /"}, install=False
    )
    assert run.code == 2
    assert "command must be leaks, scan or hunt" in run.log
    assert "No report was written" in run.summary
    assert run.outputs["sarif"] == ""


def test_action_fail_on_never_reports_without_failing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, planted=True)
    run = run_action(REPO_ROOT, ws, tmp_path / "runner-temp", {"fail-on": "never"}, install=False)
    assert run.code == 0, run.log
    assert run.outputs["findings"] == "1"


@pytest.mark.slow
def test_action_installs_from_its_own_checkout(tmp_path: Path, source_tree: Path) -> None:
    """The whole action, install step included: ``pip install`` of the action's checkout
    (a copy of this one) into a fresh virtual environment, with constraints.txt."""
    ws = _workspace(tmp_path, planted=True)
    python = shutil.which("python3.11") or sys.executable
    run = run_action(source_tree, ws, tmp_path / "runner-temp", {"python": python}, install=True)
    install_log = run.log.split("--- Run phantomkeys")[0]
    assert re.search(r"phantomkeys, version \d+\.\d+", install_log), install_log
    venv = tmp_path / "runner-temp" / "phantomkeys-venv"
    assert (venv / "bin" / "phantomkeys").exists()
    # installed from the action's checkout, not from this one (no editable path back)
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import phantomkeys; print(phantomkeys.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert probe.stdout.startswith(str(venv))
    _check(run, ws, planted=True)


def test_action_hunts_cloudtrail_logs(tmp_path: Path) -> None:
    """``command: hunt`` over CloudTrail log files in the workspace."""
    import gzip

    sys.path.insert(0, str(REPO_ROOT / "tests" / "trail"))
    from trailkit import example_records, trail_key

    ws = _workspace(tmp_path, planted=False)
    key = ws / "trail" / trail_key("123456789012", "us-east-1", "20261120T1000")
    key.parent.mkdir(parents=True)
    records = example_records("phantom-user-policy-added")
    key.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    run = run_action(
        REPO_ROOT,
        ws,
        tmp_path / "runner-temp",
        {"command": "hunt", "paths": "trail"},
        install=False,
    )
    assert run.code == 1, run.log
    assert int(run.outputs["findings"]) >= 1
    log = json.loads((ws / run.outputs["sarif"]).read_text())
    assert_valid_sarif(log)
    rules = {r["ruleId"] for r in log["runs"][0]["results"]}
    assert "phantom-user-policy-added" in rules
    assert "## phantomkeys hunt: exit 1" in run.summary
