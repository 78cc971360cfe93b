"""The git executable every leak source runs (argv lists only, never a shell)."""

from __future__ import annotations

import shutil

#: Resolved once: an absolute path when git is on PATH.
GIT = shutil.which("git") or "git"


def git_argv(*args: str) -> list[str]:
    """``[git, *args]``: arguments are passed as a list, so no shell ever parses them."""
    return [GIT, *args]
