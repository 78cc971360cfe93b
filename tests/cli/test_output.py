"""write_output: text or UTF-8 bytes, to stdout (with or without a byte buffer) or a file."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

from phantomkeys.cli.common import json_bytes, write_output

DOC = {"name": "Zoë", "n": [1, 2]}


def test_bytes_to_a_text_only_stdout_are_decoded() -> None:
    out = io.StringIO()  # the demo captures the CLI like this: no .buffer
    with contextlib.redirect_stdout(out):
        write_output(json_bytes(DOC), None)
    assert out.getvalue().endswith("}\n") and "Zoë" in out.getvalue()


@pytest.mark.parametrize("payload", [json_bytes(DOC), json_bytes(DOC).decode()])
def test_text_and_bytes_give_the_same_private_file(tmp_path: Path, payload: str | bytes) -> None:
    target = tmp_path / "out.json"
    write_output(payload, str(target))
    assert target.read_bytes() == json_bytes(DOC)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_bytes_after_text_on_a_buffered_stdout_keep_their_order() -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(text):
        text.write("before\n")  # still in the text layer's buffer
        write_output(b"{}", None)
    assert raw.getvalue() == b"before\n{}\n"
