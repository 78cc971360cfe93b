"""``leaks`` is never silently clean: ignored files are read, what is left out is counted,
reading nothing is incomplete (exit 3), and history paths are repository-relative."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from leakfixtures import KEYS, NOW, git
from tests.sarif_schema import assert_valid_sarif

AT = ["--at", NOW.strftime("%Y-%m-%dT%H:%M:%SZ")]
SRC = Path(__file__).resolve().parents[2] / "src"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real program, in a real process (the current directory matters here)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "phantomkeys", "leaks", *args, *AT],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ignored_repo(root: Path) -> Path:
    """A normal repository whose .gitignore hides exactly where keys live."""
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text(".env\n.env.local\nconfig/local.*\n*.ipynb\n")
    (root / "app.py").write_text("print('hello')\n")
    (root / ".env").write_text(f"AWS_BEARER_TOKEN_BEDROCK={KEYS['lt_bedrock'].key}\n")
    (root / ".env.local").write_text(f"KEY={KEYS['lt_claude'].key}\n")
    (root / "config").mkdir()
    (root / "config" / "local.yaml").write_text(f"key: {KEYS['lt_second'].key}\n")
    (root / "explore.ipynb").write_text(
        json.dumps({"cells": [{"source": [KEYS["st_claude"].key]}]})
    )
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + KEYS["lt_bedrock"].key.encode())
    git(root, "add", ".gitignore", "app.py", "logo.png")
    git(root, "commit", "-qm", "init")
    return root


def test_git_ignored_files_are_read_by_default(tmp_path: Path) -> None:
    repo = _ignored_repo(tmp_path / "repo")
    res = cli(".", "--format", "json", cwd=repo)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert sorted(f["location"]["path"] for f in doc["findings"]) == [
        ".env",
        ".env.local",
        os.path.join("config", "local.yaml"),
        "explore.ipynb",
    ]
    cov = doc["coverage"]
    assert cov["complete"] is True
    assert cov["read"]["files"] == 6  # .gitignore, app.py and the four ignored files
    # VCS internals and binaries are skipped and counted, by choice (not incomplete)
    reasons = {(i["name"], i["reason"]) for i in cov["skipped_items"]}
    assert (".git", "VCS internals (--history reads git history)") in reasons
    assert ("logo.png", "binary") in reasons
    assert all(i["by_choice"] for i in cov["skipped_items"])
    # the old metadata fields still say the same
    assert doc["metadata"]["skipped_total"] == 2
    assert doc["metadata"]["complete"] is True
    assert "read 6 files; skipped 1 directory, 1 file" in res.stderr


def test_respect_gitignore_counts_and_shows_what_it_left_out(tmp_path: Path) -> None:
    repo = _ignored_repo(tmp_path / "repo")
    res = cli(".", "--respect-gitignore", "--format", "json", cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["findings"] == []
    skipped = {i["name"]: i["reason"] for i in doc["coverage"]["skipped_items"]}
    for name in (".env", ".env.local", os.path.join("config", "local.yaml"), "explore.ipynb"):
        assert skipped[name] == "git-ignored (--respect-gitignore)"
    assert doc["metadata"]["skipped_total"] == 5  # four ignored files and the binary
    assert doc["coverage"]["complete"] is True  # the user chose it, and it is shown
    assert "read 2 files; skipped 5 files" in res.stderr
    table = cli(".", "--respect-gitignore", "--format", "table", cwd=repo)
    assert "5 skipped" in table.stdout


@pytest.mark.parametrize("what", ["empty folder", "only binary", "named binary"])
def test_reading_nothing_is_incomplete(tmp_path: Path, what: str) -> None:
    target = tmp_path / "in"
    target.mkdir()
    if what != "empty folder":
        (target / "x.bin").write_bytes(b"\x00\x01\x02 not text")
    if what == "named binary":
        target = target / "x.bin"
    res = cli(str(target), "--format", "json", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    assert doc["coverage"]["complete"] is False
    assert "INCOMPLETE" in res.stderr
    assert "Traceback" not in res.stderr
    sarif = cli(str(target), "--format", "sarif", cwd=tmp_path)
    assert sarif.returncode == 3
    log = json.loads(sarif.stdout)
    assert_valid_sarif(log)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False  # an incomplete scan never looks clean
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"


def test_a_named_path_that_cannot_be_read_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("nothing here\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # a path the user named that is not a file: not read
    res = cli(str(tmp_path / "ok.txt"), str(fifo), "--format", "json", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    cov = json.loads(res.stdout)["coverage"]
    assert cov["complete"] is False
    assert cov["reasons"] == ["1 file not read: not-a-regular-file"]
    assert "INCOMPLETE: 1 file not read" in res.stderr


def test_history_paths_are_repository_relative_from_anywhere(tmp_path: Path) -> None:
    repo = tmp_path / "work" / "project"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "src" / "batch.py").write_text(f"KEY = '{KEYS['lt_bedrock'].key}'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add")
    (repo / "src" / "batch.py").write_text("KEY = None\n")
    git(repo, "commit", "-qam", "remove")
    (repo / "wip.py").write_text(f"K = '{KEYS['lt_claude'].key}'\n")  # uncommitted
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    for cwd in (repo, repo / "src", elsewhere):
        res = cli(str(repo), "--history", "--format", "json", cwd=cwd)
        assert res.returncode == 1, res.stderr
        doc = json.loads(res.stdout)
        assert sorted(f["location"]["path"] for f in doc["findings"]) == ["src/batch.py", "wip.py"]
        assert doc["coverage"]["read"]["commits"] == 2
    out = tmp_path / "leaks.sarif"
    res = cli(str(repo), "--history", "--format", "sarif", "-o", str(out), cwd=elsewhere)
    assert res.returncode == 1
    log = json.loads(out.read_text())
    assert_valid_sarif(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert sorted(a["uri"] for a in locations) == ["src/batch.py", "wip.py"]
    assert {a["uriBaseId"] for a in locations} == {"%SRCROOT%"}


def test_staged_with_nothing_staged_is_clean(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    res = cli("--staged", "--format", "text", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""


def test_history_of_two_repositories_keeps_their_paths_apart(tmp_path: Path) -> None:
    repos = []
    for name, key in (("one", "lt_bedrock"), ("two", "lt_claude")):
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / "app.py").write_text(f"KEY = '{KEYS[key].key}'\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "add")
        repos.append(repo)
    res = cli(*(str(r) for r in repos), "--history", "--format", "sarif", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    log = json.loads(res.stdout)
    assert_valid_sarif(log)
    run = log["runs"][0]
    assert "originalUriBaseIds" not in run  # no one root for both
    uris = sorted(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    )
    assert uris == ["one/app.py", "two/app.py"]
