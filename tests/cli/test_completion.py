"""``phantomkeys completion bash|zsh|fish``: the printed script completes in a real shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def program(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``phantomkeys`` on PATH is this checkout's."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "phantomkeys"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m phantomkeys "$@"\n')
    exe.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SRC),
    }


def test_help_lists_completion() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "completion" in result.output


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _phantomkeys_completion phantomkeys"),
        ("zsh", "compdef _phantomkeys_completion phantomkeys"),
        ("fish", "complete --no-files --command phantomkeys"),
    ],
)
def test_each_script_registers_phantomkeys(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert marker in result.output
    assert "_PHANTOMKEYS_COMPLETE" in result.output


def test_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "powershell"])
    assert result.exit_code == 2


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("phantomkeys lea", 1, {"leaks", "least-privilege"}),
        ("phantomkeys leaks --form", 2, {"--format"}),
        ("phantomkeys leaks --format ", 3, {"table", "text", "json", "sarif"}),
        ("phantomkeys completion ", 2, {"bash", "zsh", "fish"}),
    ],
)
def test_bash_completes_commands_options_and_choices(
    program: dict[str, str], words: str, cword: int, expected: set[str]
) -> None:
    empty_last = ' ""' if words.endswith(" ") else ""  # the word being typed: empty
    script = (
        'eval "$(phantomkeys completion bash)"\n'
        f"COMP_WORDS=({words}{empty_last})\n"
        f"COMP_CWORD={cword}\n"
        "_phantomkeys_completion phantomkeys\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=program,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == expected


@pytest.mark.parametrize(
    ("shell", "cword"),
    [("zsh", "1"), ("fish", "lea")],
)
def test_zsh_and_fish_protocol_answers(program: dict[str, str], shell: str, cword: str) -> None:
    """What the zsh and fish scripts ask the program, answered (the shells themselves
    are not installed here; the scripts are click's own)."""
    env = {
        **program,
        "_PHANTOMKEYS_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": "phantomkeys lea",
        "COMP_CWORD": cword,
    }
    proc = subprocess.run(
        ["phantomkeys"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "leaks" in proc.stdout
