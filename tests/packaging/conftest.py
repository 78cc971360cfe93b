"""Helpers for the packaging tests: a copy of the source tree, as a release would see it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def source_files() -> list[str]:
    """The files a clone holds plus new ones not ignored (what a commit would ship)."""
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    return [n.decode() for n in proc.stdout.split(b"\0") if n]


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and the repository's checkout")
    dest = tmp_path / "src-tree"
    for rel in source_files():
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest
