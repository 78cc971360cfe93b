"""The program ends without the interpreter's teardown, and loses nothing doing so."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from phantomkeys.cli.common import end_process


def run(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


PROGRAM = "import sys; from phantomkeys.cli import main; sys.argv[0] = 'phantomkeys'; main()"


def test_exit_codes_output_and_atexit_handlers_survive() -> None:
    code = (
        "import atexit, sys; atexit.register(lambda: print('atexit ran', file=sys.stderr)); "
        + PROGRAM
    )
    ok = run(code, "--version")
    assert ok.returncode == 0
    assert "phantomkeys" in ok.stdout and "atexit ran" in ok.stderr
    bad = run(code, "decode", "not-a-key")
    assert bad.returncode == 2
    assert '"valid": false' in bad.stdout and "atexit ran" in bad.stderr


def test_large_output_reaches_a_file_and_a_pipe(tmp_path: Path) -> None:
    """Buffered output is flushed before the process ends."""
    keys = tmp_path / "keys.txt"
    keys.write_text("not-a-key\n" * 5000)
    out = tmp_path / "out.json"
    to_file = run(PROGRAM, "decode", "-f", str(keys), "-o", str(out))
    to_pipe = run(PROGRAM, "decode", "-f", str(keys))
    assert to_file.returncode == to_pipe.returncode == 2
    assert out.read_text().count('"valid": false') == 5000
    assert to_pipe.stdout.count('"valid": false') == 5000


def test_another_thread_alive_means_the_ordinary_exit() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as done:
            end_process(3)
        assert done.value.code == 3
    finally:
        stop.set()
        worker.join()


def test_a_text_exit_code_is_the_ordinary_exit() -> None:
    with pytest.raises(SystemExit) as done:
        end_process("message")
    assert done.value.code == "message"
