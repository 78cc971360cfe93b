"""The one bounded stdin reader behind every ``-`` TARGET."""

from __future__ import annotations

import io

import pytest

from phantomkeys.cli.common import UsageProblem
from phantomkeys.cli.stdin import stdin_lines


def lines(data: bytes, **caps: int) -> list[str]:
    return list(stdin_lines(stream=io.BufferedReader(io.BytesIO(data)), **caps))


def test_lines_within_the_caps_are_read() -> None:
    assert lines(b"a\r\n\nb") == ["a\r\n", "\n", "b"]
    assert lines(b"x" * 10 + b"\n", max_line=10) == ["x" * 10 + "\n"]


def test_a_line_over_the_cap_is_refused_without_reading_on() -> None:
    with pytest.raises(UsageProblem, match="stdin line 2 is longer than 10 bytes"):
        lines(b"ok\n" + b"x" * 11 + b"\n", max_line=10)
    with pytest.raises(UsageProblem, match="longer than"):
        lines(b"\0" * 100, max_line=10)


def test_the_whole_of_stdin_is_capped() -> None:
    with pytest.raises(UsageProblem, match="more than"):
        lines(b"abc\n" * 1000, max_total=1000)
