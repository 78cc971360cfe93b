"""The git executable every leak source runs (argv lists only, never a shell)."""

from __future__ import annotations

import functools


@functools.cache
def git_executable() -> str:
    """Resolved once, on first use: an absolute path when git is on PATH."""
    import shutil

    return shutil.which("git") or "git"


def git_argv(*args: str) -> list[str]:
    """``[git, *args]``: arguments are passed as a list, so no shell ever parses them."""
    return [git_executable(), *args]
