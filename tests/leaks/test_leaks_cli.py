"""``phantomkeys leaks`` end to end: formats, exit codes, stdin, baselines, never a secret."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from leakfixtures import KEYS, NOW, Planted, git

from phantomkeys.cli import cli

AT = ["--at", NOW.strftime("%Y-%m-%dT%H:%M:%SZ")]
REPO_ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], stdin: str | bytes | None = None):
    return CliRunner().invoke(cli, ["leaks", *args], input=stdin, catch_exceptions=False)


def _secret_fragments() -> list[str]:
    """Everything that would leak a key: each key, its secret, long slices of both."""
    frags = []
    for p in KEYS.values():
        frags += [p.key, p.secret, p.key[30:90], p.secret[-24:]]
    return frags


@pytest.mark.parametrize("fmt", ["table", "text", "json", "sarif"])
def test_no_output_format_contains_a_secret(
    tree: tuple[Path, Planted], tmp_path: Path, fmt: str
) -> None:
    root, planted = tree
    out = tmp_path / f"report.{fmt}"
    result = run([str(root), "--format", fmt, "-o", str(out), *AT])
    assert result.exit_code == 1
    text = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    for frag in _secret_fragments():
        assert frag not in text
        assert frag not in result.output
    # and the report is not empty: every planted location is in it
    for rel, _, _ in planted:
        assert rel in text


def test_json_document_shape(tree: tuple[Path, Planted]) -> None:
    root, planted = tree
    result = run([str(root), "--format", "json", *AT])
    doc = json.loads(result.stdout)
    assert doc["schema_version"]
    assert doc["tool"]["name"] == "phantomkeys"
    assert doc["metadata"]["command"] == "leaks"
    assert doc["metadata"]["complete"] is True
    assert {r["id"] for r in doc["rules"]} == {"leaked-long-term-key", "leaked-short-term-key"}
    assert len(doc["findings"]) == len(planted)
    f = doc["findings"][0]
    for field in (
        "rule_id",
        "title",
        "severity",
        "subject",
        "account_id",
        "evidence",
        "remediation",
        "fingerprint",
        "location",
    ):
        assert field in f
    assert "phantomkeys revoke -" in f["remediation"]
    assert set(f["location"]) >= {"path", "line"}
    assert doc["metadata"]["skipped"] == [
        {"path": os.path.join(str(root), "assets/blob.bin"), "reason": "binary"}
    ]


def test_stdin(planted_keys) -> None:
    text = f"pod log line\nAuthorization: Bearer {planted_keys['st_bedrock'].key}\n"
    result = run(["-", "--format", "json", *AT], stdin=text)
    assert result.exit_code == 1
    (f,) = json.loads(result.stdout)["findings"]
    assert f["location"] == {"path": "<stdin>", "line": 2, "column": 23}
    assert f["evidence"]["kind"] == "short-term"


def test_exit_codes(tmp_path: Path, planted_keys) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("print('hello')\n")
    assert run([str(clean), "--format", "json"]).exit_code == 0
    expired = tmp_path / "expired.env"
    expired.write_text(f"K={planted_keys['st_expired'].key}\n")
    # an expired short-term key is low: below the default --fail-on high
    assert run([str(expired), "--format", "json", *AT]).exit_code == 0
    assert run([str(expired), "--format", "json", "--fail-on", "low", *AT]).exit_code == 1
    live = tmp_path / "live.env"
    live.write_text(f"K={planted_keys['lt_claude'].key}\n")
    assert run([str(live), "--format", "json"]).exit_code == 1
    assert run([str(live), "--format", "json", "--fail-on", "never"]).exit_code == 0
    # usage errors
    assert run([]).exit_code == 2
    assert run([str(tmp_path / "missing")]).exit_code == 2
    assert run([str(live), "--format", "xml"]).exit_code == 2
    assert run([str(live), "--history", "--staged"]).exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run([str(live), "--baseline", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_incomplete_scan_exits_3_and_reports_the_error(tmp_path: Path) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    result = run([str(clean), "/proc/self/mem", "--format", "json"])
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["metadata"]["complete"] is False
    assert doc["metadata"]["errors"][0]["path"] == "/proc/self/mem"


def test_baseline_accepts_known_findings_and_catches_new_ones(tmp_path: Path, planted_keys) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "old.py").write_text(f"K = '{planted_keys['lt_bedrock'].key}'\n")
    baseline = tmp_path / "baseline.json"
    first = run([str(proj), "--format", "json", "--write-baseline", str(baseline)])
    assert first.exit_code == 0  # everything just written to the baseline is accepted
    prints = json.loads(baseline.read_text())
    assert isinstance(prints, list)
    assert len(prints) == 1
    again = run([str(proj), "--format", "json", "--baseline", str(baseline)])
    assert again.exit_code == 0
    doc = json.loads(again.stdout)
    assert doc["findings"] == []
    assert doc["metadata"]["baseline"]["suppressed"] == 1
    # a new key is still caught
    (proj / "new.py").write_text(f"K = '{planted_keys['lt_claude'].key}'\n")
    new = run([str(proj), "--format", "json", "--baseline", str(baseline)])
    assert new.exit_code == 1
    assert [f["location"]["path"] for f in json.loads(new.stdout)["findings"]] == [
        str(proj / "new.py")
    ]
    # a saved JSON report works as a baseline too
    report = tmp_path / "report.json"
    report.write_text(run([str(proj), "--format", "json"]).stdout)
    assert run([str(proj), "--format", "json", "--baseline", str(report)]).exit_code == 0


def test_table_output(tree: tuple[Path, Planted]) -> None:
    root, _ = tree
    result = run([str(root), "--format", "table", *AT])
    assert result.exit_code == 1
    out = result.stdout
    assert "critical" in out
    assert "claude-platform" in out
    assert "7 finding(s)" in out
    assert "1 skipped" in out


def _staged_repo(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "settings.py").write_text("DEBUG = False\n" * 3)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    (repo / "settings.py").write_text("DEBUG = False\n" * 3 + text)
    git(repo, "add", "settings.py")
    return repo


def test_staged_scans_only_added_lines_with_real_line_numbers(tmp_path: Path, planted_keys) -> None:
    repo = _staged_repo(tmp_path, f"\nKEY = '{planted_keys['lt_bedrock'].key}'\n")
    result = run(["--staged", str(repo), "--format", "json"])
    assert result.exit_code == 1
    (f,) = json.loads(result.stdout)["findings"]
    assert f["location"]["path"].endswith("settings.py")
    assert f["location"]["line"] == 5
    # unstaged keys are not the hook's business
    (repo / "other.py").write_text(f"K = '{planted_keys['lt_claude'].key}'\n")
    assert len(json.loads(run(["--staged", str(repo), "--format", "json"]).stdout)["findings"]) == 1


def test_staged_without_a_repository_is_incomplete(tmp_path: Path) -> None:
    result = run(["--staged", str(tmp_path), "--format", "json"])
    assert result.exit_code == 3


def test_pre_commit_hook_definition_blocks_a_commit(tmp_path: Path, planted_keys) -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "phantomkeys-leaks"]
    assert hook["pass_filenames"] is False
    entry = hook["entry"].split()
    assert entry[:3] == ["phantomkeys", "leaks", "--staged"]
    exe = shutil.which("phantomkeys") or str(Path(sys.executable).parent / "phantomkeys")
    repo = _staged_repo(tmp_path, f"KEY = '{planted_keys['st_expired'].key}'\n")
    proc = subprocess.run([exe, *entry[1:]], cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr  # even an expired key blocks the commit
    assert "settings.py" in proc.stdout
    assert planted_keys["st_expired"].key not in proc.stdout + proc.stderr
    git(repo, "reset", "-q", "settings.py")
    (repo / "settings.py").write_text("DEBUG = True\n")
    git(repo, "add", "settings.py")
    clean = subprocess.run([exe, *entry[1:]], cwd=repo, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_history_flag_end_to_end(tmp_path: Path, planted_keys) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.txt").write_text(f"{planted_keys['lt_claude'].key}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "leak")
    (repo / "a.txt").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gone")
    # a plain folder scan sees nothing, the history scan finds it
    assert json.loads(run([str(repo), "--format", "json"]).stdout)["findings"] == []
    result = run([str(repo), "--history", "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["metadata"]["mode"] == "history"
    assert doc["metadata"]["stats"]["commits"] == 2
    (f,) = doc["findings"]
    assert f["evidence"]["history"]["in_head"] is False
    assert f["location"]["commit"]
