"""Keys from stdin, read within bounds: the one reader behind every ``-`` TARGET.

A key is under 2 KB and a list of keys a few MB, so stdin is read line by line
with a cap on each line and on the whole: ``< /dev/zero`` or a runaway pipe
gets a one-line error (exit 2) instead of filling memory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from phantomkeys.cli.common import UsageProblem

#: Longest line accepted: every supported key is under 2 KB; room for spaces around it.
MAX_LINE_BYTES = 16 << 10
#: Most bytes read from stdin in all (a list of keys, one a line).
MAX_STDIN_BYTES = 8 << 20


def stdin_lines(
    *,
    max_line: int = MAX_LINE_BYTES,
    max_total: int = MAX_STDIN_BYTES,
    stream: Any = None,
    name: str = "stdin",
) -> Iterator[str]:
    """Lines of stdin, or of ``stream`` (a list of keys such as ``decode -f FILE``,
    called ``name`` in errors), decoded as UTF-8 with errors replaced, within the caps."""
    source = stream if stream is not None else sys.stdin
    raw = getattr(source, "buffer", source)
    total = 0
    n = 0
    while True:
        line = raw.readline(max_line + 2)
        if not line:
            return
        n += 1
        total += len(line)
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        if len(text.rstrip("\r\n")) > max_line:
            raise UsageProblem(
                f"{name} line {n} is longer than {max_line:,} bytes: not a key "
                "(keys are under 2 KB, one a line)"
            )
        if total > max_total:
            raise UsageProblem(
                f"{name} holds more than {max_total >> 20} MiB: not a list of keys "
                "(split it into smaller lists, one key a line)"
            )
        yield text


def read_stdin_key(
    *,
    prompt: str | None = None,
    empty: str = "no key on stdin",
    hint: str | None = "pipe the key in: pbpaste | phantomkeys COMMAND -",
) -> str:
    """The first non-blank line of stdin, stripped (one bounded reader for ``-``)."""
    if prompt is not None and sys.stdin.isatty():
        click.echo(prompt, err=True)
    for line in stdin_lines():
        if line.strip():
            return line.strip()
    raise UsageProblem(empty, hint=hint)
