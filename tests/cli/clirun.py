"""Run the real ``phantomkeys`` program in a child process and read its answer."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def assert_one_line_reason(self) -> str:
        """Exactly one ``error:`` line and never a traceback; returns that line."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.error_lines()
        assert len(lines) == 1, self.stderr
        return lines[0]


def child_env(
    extra: dict[str, str] | None = None, *, aws: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child run: this checkout's source first, no real AWS
    configuration (only ``aws``: the lab's variables), no colour, no debug."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PHANTOMKEYS_"))}
    env.update(
        PYTHONPATH=SRC + os.pathsep + env.get("PYTHONPATH", ""),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        NO_COLOR="1",
        COLUMNS="120",
    )
    env.update(aws or {})
    env.update(extra or {})
    return env


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "phantomkeys", *args]


def phantomkeys(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120,
) -> Done:
    proc = subprocess.run(
        argv(*args),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env if env is not None else child_env(),
        cwd=cwd,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)
