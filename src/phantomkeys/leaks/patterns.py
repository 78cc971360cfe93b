"""What a key looks like inside arbitrary bytes, and how to get it back out.

Keys are ASCII, so everything here works on bytes: no decoding of files.

Finding candidates is two-stage, for speed:

1. literal triggers (:data:`TRIGGERS`), one per key prefix. Every key starts
   with one of them, verbatim (escapes only ever split the base64 body), so a
   buffer without a trigger holds no key. With the optional ``ahocorasick-rs``
   package all four are found in ONE pass by the Rust ``aho-corasick`` crate's
   SIMD "Teddy" searcher (10+ GB/s, the same engine ripgrep uses for literal
   alternations, and it releases the GIL, so threads scan in parallel); without
   it, CPython's tuned ``bytes.find`` and a memchr-led regex do the same in four
   passes (1.5-4 GB/s each). A regex over every byte (``re`` tries a match at
   each ``a``/``b``/``A``) would run at 20-60 MB/s, which is why the regex is
   not the scanner.
2. at each trigger, :data:`KEY_RE` — ONE compiled regex covering all four
   formats — matches the whole candidate, including JSON escapes (``\\/``,
   ``\\u002b``, ``\\u002f``, ``\\u003d``) and URL escapes (``%2B``, ``%2F``,
   ``%3D``) that split the base64 run in notebooks, minified bundles, logs
   and query strings.

A candidate is only a guess: the caller decodes it with
:func:`phantomkeys.core.keys.decode`, and only keys that decode are reported.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from phantomkeys.surfaces import SURFACES


class Encoding(StrEnum):
    """How the key was written in the file."""

    PLAIN = "plain"
    JSON_ESCAPED = "json-escaped"
    URL_ENCODED = "url-encoded"


LONG_TERM_PREFIXES: tuple[bytes, ...] = tuple(
    s.long_term_key_prefix.encode("ascii") for s in SURFACES
)
SHORT_TERM_PREFIXES: tuple[bytes, ...] = tuple(
    s.short_term_key_prefix.encode("ascii") for s in SURFACES
)

#: The literals searched for: every key starts with one of them.
TRIGGERS: tuple[bytes, ...] = (*LONG_TERM_PREFIXES, *SHORT_TERM_PREFIXES)
#: ``ABSK|AEAA``: ``re`` factors the shared ``A`` out and then searches for that one
#: byte with memchr, about 1.5x faster than two ``find`` passes (measured on source
#: and data files: 2.9 GB/s against 1.9 GB/s for each find).
_LONG_TERM_TRIGGER = re.compile(b"|".join(re.escape(p) for p in LONG_TERM_PREFIXES))

# One base64 character: itself, or JSON / URL escaped.
_B64_UNIT = rb"(?:[A-Za-z0-9+/]|\\/|\\u00(?:2[bBfF]|3[dD])|%2[bBfF]|%3[dD])"
_PAD_UNIT = rb"(?:=|\\u003[dD]|%3[dD])"

#: Body length bounds in base64 characters. A long-term payload is
#: ``<user>-at-<account>:<secret>`` (>= 19 bytes; real ones ~100: 132-char keys);
#: a short-term payload is a whole presigned URL, with an STS session token up
#: to a few KiB.
LONG_TERM_BODY = (24, 1024)
SHORT_TERM_BODY = (120, 12288)
#: The longest a candidate can be in the file (every unit escaped as \\u00XX).
MAX_CANDIDATE_BYTES = max(len(p) for p in SHORT_TERM_PREFIXES) + 6 * (SHORT_TERM_BODY[1] + 2)


def _alternation(prefixes: tuple[bytes, ...]) -> bytes:
    return b"|".join(re.escape(p) for p in prefixes)


#: All four formats. Possessive quantifiers: no backtracking on long runs.
KEY_RE = re.compile(
    rb"(?P<long>(?:"
    + _alternation(LONG_TERM_PREFIXES)
    + rb")"
    + _B64_UNIT
    + b"{%d,%d}+" % LONG_TERM_BODY
    + _PAD_UNIT
    + rb"{0,2}+)"
    + rb"|(?P<short>(?:"
    + _alternation(SHORT_TERM_PREFIXES)
    + rb")"
    + _B64_UNIT
    + b"{%d,%d}+" % SHORT_TERM_BODY
    + _PAD_UNIT
    + rb"{0,2}+)"
)

_BASE64_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_ESCAPES = re.compile(rb"\\/|\\u00(?:2[bBfF]|3[dD])|%2[bBfF]|%3[dD]")
_UNESCAPE = {b"\\/": "/", b"%2b": "+", b"%2f": "/", b"%3d": "="}
#: What marks an example as truncated right after the base64 run.
_TRUNCATION_MARKS = (b"...", "\u2026".encode(), b"[...]", b"<redacted")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A run of bytes shaped like a key: ``text`` is unescaped and may hold a secret."""

    start: int
    end: int
    text: str
    encoding: Encoding


def unescape(raw: bytes) -> tuple[str, Encoding]:
    """The key text with JSON/URL escapes undone, and which escaping was used."""
    if b"\\" not in raw and b"%" not in raw:
        return raw.decode("ascii"), Encoding.PLAIN
    encoding = Encoding.JSON_ESCAPED if b"\\" in raw else Encoding.URL_ENCODED

    def one(m: re.Match[bytes]) -> bytes:
        token = m.group(0).lower()
        if token.startswith(b"\\u"):
            return bytes([int(token[2:], 16)])
        return _UNESCAPE[token].encode()

    return _ESCAPES.sub(one, raw).decode("ascii"), encoding


def match_at(buf: bytes | bytearray | memoryview, pos: int, end: int) -> Candidate | None:
    """The candidate starting exactly at ``pos`` (a trigger position), or ``None``.

    ``buf[pos-1]`` and the bytes up to ``end`` are looked at for context: a
    long-term prefix inside a longer base64 run is not a key start, and a run
    that continues past the length cap or ends in ``...`` is not a whole key.
    """
    m = KEY_RE.match(buf, pos, end)
    if m is None:
        return None
    if (
        m.group("long") is not None
        and pos > 0
        and buf[pos - 1] in _BASE64_BYTES
        and not (pos > 1 and buf[pos - 2] == 0x5C)
    ):  # "\nABSK" in a JSON string is fine
        return None  # "…xyzABSK…": the middle of some other base64 blob
    stop = m.end()
    if stop < end and buf[stop] in _BASE64_BYTES:
        return None  # longer than any key: some other blob
    tail = bytes(buf[stop : min(stop + 9, end)]).lower()
    if any(tail.startswith(mark) for mark in _TRUNCATION_MARKS):
        return None  # "ABSKQmVk...": a truncated example in documentation
    text, encoding = unescape(bytes(buf[pos:stop]))
    return Candidate(start=pos, end=stop, text=text, encoding=encoding)


#: The longest trigger: a window must extend this far (less one) past its last start.
TRIGGER_MAX = max(len(t) for t in TRIGGERS)
_LONG_TERM_MAX = max(len(p) for p in LONG_TERM_PREFIXES)


_UNSET: Any = object()
_searcher: Any = _UNSET


def fast_search() -> Any | None:
    """The one-pass multi-literal searcher (``ahocorasick_rs``), or ``None``.

    Leftmost-first, non-overlapping matching is what enables the SIMD searcher;
    it finds every trigger the four-pass fallback finds that :func:`match_at`
    could accept: no trigger begins with the end of another except ``AEAA``'s
    last ``A`` (``AEAABSK``), and a trigger inside a run of base64 is rejected
    anyway. The Python fallback's ``ABSK|AEAA`` regex is non-overlapping too.
    """
    global _searcher
    if _searcher is _UNSET:
        try:  # optional: imported by name so type checks pass without it installed
            ahocorasick_rs = importlib.import_module("ahocorasick_rs")
        except ImportError:
            _searcher = None
        else:
            _searcher = ahocorasick_rs.BytesAhoCorasick(
                list(TRIGGERS), matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
            )
    return _searcher


def use_fast_search(enabled: bool) -> None:
    """Force (``True``: if installed) or disable (``False``) the one-pass searcher;
    for tests and benchmarks comparing the two."""
    global _searcher
    _searcher = _UNSET
    if not enabled:
        _searcher = None
    else:
        fast_search()


def trigger_positions(buf: bytes | bytearray, start: int, stop: int, limit: int) -> list[int]:
    """Sorted offsets in ``[start, stop)`` where a trigger lies wholly in ``buf[:limit]``."""
    window = min(limit, stop + TRIGGER_MAX - 1)
    if window - start < 4:
        return []
    searcher = _searcher if _searcher is not _UNSET else fast_search()
    if searcher is not None:
        with memoryview(buf) as whole, whole[start:window] as view:
            return [
                start + s for _, s, _ in searcher.find_matches_as_indexes(view) if start + s < stop
            ]
    found: list[int] = []
    for m in _LONG_TERM_TRIGGER.finditer(buf, start, min(limit, stop + _LONG_TERM_MAX - 1)):
        if m.start() >= stop:
            break
        found.append(m.start())
    for literal in SHORT_TERM_PREFIXES:
        end = min(limit, stop + len(literal) - 1)
        i = buf.find(literal, start, end)
        while i != -1:
            found.append(i)
            i = buf.find(literal, i + 1, end)
    found.sort()
    return found


def find_candidates(
    buf: bytes | bytearray, start: int, stop: int, end: int | None = None
) -> list[Candidate]:
    """Candidates starting in ``[start, stop)``; matching may read up to ``end``."""
    limit = len(buf) if end is None else end
    found: list[Candidate] = []
    for pos in trigger_positions(buf, start, stop, limit):
        cand = match_at(buf, pos, limit)
        if cand is not None:
            found.append(cand)
    return found
