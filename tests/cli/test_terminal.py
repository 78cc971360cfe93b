"""Terminal manners, through the real CLI on a pseudo-terminal.

* nothing from the data drives the terminal: no ESC, OSC 8, bidi or lone CR
  from a CloudTrail field reaches it (only the colours phantomkeys chose);
* tables fit an 80-column terminal (``--wide`` keeps every column);
* ``NO_COLOR`` and ``--no-color`` mean no escape code at all, stdout and stderr;
* colour never goes to a file, even when stdout is a terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from phantomkeys.trail.pack import default_examples_dir, example_files_for

PAYLOAD = (
    "\x1b[2J\x1b[H\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    "\x1b[31mRED\x1b[0m\x9b2J invoice\u202efdp.exe\rfake\u2066x\u2069 [bold]b[/]"
)
USER = "AeaApiKey-q2w9"  # the bearer-token-invocation example's caller
SGR = re.compile(r"\x1b\[[0-9;]*m")
RAW_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_on_pty(
    args: list[str], *, columns: int = 80, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``phantomkeys ARGS`` with stdin, stdout and stderr on a new pty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(COLUMNS=str(columns), TERM="xterm-256color", PYTHONPATH=SRC)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "phantomkeys", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
    # the pty turns "\n" into "\r\n"; any other "\r" came from the program
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def assert_nothing_from_data(text: str) -> None:
    plain = SGR.sub("", text)
    assert "\x1b" not in plain, repr(plain[plain.index("\x1b") - 40 :][:120])
    assert not RAW_UNSAFE.search(plain), RAW_UNSAFE.search(plain)


def assert_fits(text: str, columns: int = 80) -> None:
    """Every line of the table (messages on stderr are left to the terminal to wrap)."""
    rows = [line for line in SGR.sub("", text).splitlines() if set(line) & set("│┃━─")]
    assert len(rows) >= 4
    for line in rows:
        assert cell_len(line) <= columns, line


def _records(rule: str) -> list[dict[str, Any]]:
    return [
        r
        for f in example_files_for(default_examples_dir(), rule, "positive")
        for r in json.loads(f.read_text())["Records"]
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CloudTrail with the payload in userAgent, sourceIPAddress, errorCode and a user
    name, plus a file whose name carries escape sequences (the hunt warns about it)."""
    folder = tmp_path_factory.mktemp("trail")
    records = []
    for rule in ("api-key-created", "bearer-token-invocation"):
        for rec in _records(rule):
            rec["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, rec["eventID"]))
            rec["userAgent"] = rec["sourceIPAddress"] = rec["errorMessage"] = PAYLOAD
            if rec.get("userIdentity", {}).get("userName") == USER:
                rec["errorCode"] = PAYLOAD
            if "userName" in (rec.get("requestParameters") or {}):
                rec["requestParameters"]["userName"] = PAYLOAD
            records.append(rec)
    (folder / "trail.json").write_text(json.dumps({"Records": records}))
    (folder / "bad\x1b[2J\x1b]8;;evil\x07\r\u202e.json").write_text("{")
    return folder


def test_hunt_table_on_80_columns(hostile: Path) -> None:
    code, out = run_on_pty(["hunt", str(hostile), "--fail-on", "never"])
    assert code == 3, out  # the bad file: incomplete
    assert "severity" in out and "api-key-created" in out
    assert SGR.search(out), "a terminal gets colour"
    assert_nothing_from_data(out)
    assert "\\x1b[2J" in out and "warning:" in out
    assert_fits(out)
    assert "--wide" in out  # says what it left out


def test_hunt_wide_keeps_every_column(hostile: Path) -> None:
    code, out = run_on_pty(["hunt", str(hostile), "--fail-on", "never", "--wide"])
    assert code == 3, out
    header = next(line for line in SGR.sub("", out).splitlines() if "severity" in line)
    for col in ("rule", "subject", "account", "first seen", "last seen", "regions", "source IPs"):
        assert col in header
    assert_nothing_from_data(out)


def test_timeline_table_on_80_columns(hostile: Path) -> None:
    code, out = run_on_pty(["timeline", USER, "--from", str(hostile / "trail.json")])
    assert code == 0, out
    assert "aws-external-ant" in out and "source IP" in out
    assert_nothing_from_data(out)
    assert_fits(out)


@pytest.mark.parametrize(
    ("flag", "env"), [([], {"NO_COLOR": "1"}), (["--no-color"], {})], ids=["NO_COLOR", "--no-color"]
)
def test_no_color_means_no_escape_code_at_all(
    hostile: Path, flag: list[str], env: dict[str, str]
) -> None:
    code, out = run_on_pty([*flag, "hunt", str(hostile), "--fail-on", "never"], env=env)
    assert code == 3, out
    assert "warning:" in out and "severity" in out
    assert "\x1b" not in out
    code, out = run_on_pty([*flag, "hunt", str(hostile / "nosuch[bold]x")], env=env)
    assert code == 2 and "error:" in out and "nosuch[bold]x" in out
    assert "\x1b" not in out


@pytest.mark.lab
def test_scan_fits_80_columns(phantomkeys_lab: Any) -> None:
    code, out = run_on_pty(["scan", "--no-history", "--fail-on", "never"])
    assert code == 0, out
    assert "API-key holders" in out and SGR.search(out)
    assert_fits(out)
    code, out = run_on_pty(["scan", "--no-history", "--fail-on", "never"], env={"NO_COLOR": "1"})
    # no style at all (the spinner on stderr still moves the cursor)
    assert code == 0 and "API-key holders" in out and not SGR.search(out)


@pytest.mark.lab
def test_scan_to_a_file_on_a_terminal_writes_no_colour(
    phantomkeys_lab: Any, tmp_path: Path
) -> None:
    target = tmp_path / "scan.txt"
    code, out = run_on_pty(
        ["scan", "--no-history", "--fail-on", "never", "--format", "table", "-o", str(target)]
    )
    assert code == 0, out
    written = target.read_text()
    assert "API-key holders" in written and "BedrockAPIKey" in written
    assert "\x1b" not in written


@pytest.mark.parametrize("columns", [40, 60, 80, 100, 120, 160])
def test_tables_fit_any_width_and_keep_names_whole(columns: int) -> None:
    import io

    from phantomkeys.cli.common import make_console
    from phantomkeys.cli.tables import Column, build_table

    cols = [
        Column("user", 0, 18),
        Column("status", 0, 8, no_wrap=True),
        Column("detail", 1, 10),
        Column("notes", 2, 12),
        Column("more", 3, 16),
    ]
    rows = [
        {
            "user": f"BedrockAPIKey-{i:04d}",
            "status": "orphaned",
            "detail": "active 40d, until 2027-10-27 " * (i % 3),
            "notes": "2 access keys, password, MFA",
            "more": "x" * (10 * i),
        }
        for i in range(6)
    ]
    table, note = build_table(cols, rows, columns, fit_width=True, header_style="bold")
    buffer = io.StringIO()
    make_console(buffer, color=False, width=columns).print(table)
    lines = buffer.getvalue().splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    if columns >= 80:  # room for the user column: names are never folded
        assert all(f"BedrockAPIKey-{i:04d}" in buffer.getvalue() for i in range(6))
    shown = {c for c in ("detail", "notes", "more") if c in lines[1]}
    assert (note is None) == (shown == {"detail", "notes", "more"})


def test_rules_list_fits_80_columns() -> None:
    code, out = run_on_pty(["rules", "list"])
    assert code == 0 and "api-key-created-without-expiry" in out  # rule names whole
    assert_fits(out)
    code, out = run_on_pty(["rules", "list", "--wide"], env={"NO_COLOR": "1"})
    assert code == 0 and "ATT&CK" in out and "\x1b" not in out
