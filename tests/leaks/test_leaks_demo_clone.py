"""The demo's leaks step, run from a fresh clone of the repository, shows its finding
(the clone's .gitignore lists the demo folder: ignored files are read by default)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli
from phantomkeys.cli import demo as demo_module

pytestmark = pytest.mark.lab

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_leaks_step_finds_the_key_in_a_fresh_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and the repository's own checkout")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(clone)],
        check=True,
        capture_output=True,
    )
    ignored = subprocess.run(
        ["git", "-C", str(clone), "check-ignore", "phantomkeys-demo/leaky-repo/app/settings.env"],
        capture_output=True,
        text=True,
    )
    assert ignored.returncode == 0, "the premise: the clone ignores the demo folder"
    steps = [s for s in demo_module.DEMO_STEPS if s.command in ("decode", "leaks")]
    assert [s.command for s in steps] == ["decode", "leaks"]
    monkeypatch.setattr(demo_module, "DEMO_STEPS", steps)
    monkeypatch.chdir(clone)
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    doc = json.loads((clone / "phantomkeys-demo" / "leaks.json").read_text())
    assert doc["summary"]["findings"] == 1
    assert doc["coverage"]["complete"] is True
    assert doc["findings"][0]["location"]["path"].endswith("settings.env")
