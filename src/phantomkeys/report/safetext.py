"""Attacker text made safe to show: the one sanitiser every renderer uses.

CloudTrail fields (user agents, source IPs, user names, error messages), file
names and IAM names are attacker-controlled. Written raw to a terminal they can
clear the screen (``ESC[2J``), plant a clickable link (OSC 8), recolour or hide
text, move the cursor back over a line (a lone ``\\r``) or reverse what is read
(bidi overrides). So every character that is not plain printable text is shown
as a visible escape instead (``\\x1b``, ``\\r``, ``\\u202e``):

* C0 controls (U+0000-U+001F), DEL (U+007F) and C1 controls (U+0080-U+009F,
  where U+009B is a one-byte CSI): the ESC/CSI/OSC sequences start with these,
  so escaping the introducer leaves only inert printable text behind;
* Unicode format characters (category Cf): bidi embeddings, overrides and
  isolates (U+202A-U+202E, U+2066-U+2069), zero-width spaces and joiners,
  soft hyphen, the byte order mark, ...;
* line and paragraph separators (U+2028, U+2029), surrogates and unassigned
  code points.

:func:`visible` returns plain printable text; :func:`markup` also escapes rich
markup (``[``), for text that reaches a rich console. Markdown (``report/
markdown.py``) and CSV (``report/csv_report.py``) build on :func:`visible`; the
HTML report escapes with :func:`html.escape` and needs nothing more.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}

#: Candidates only (cheap): ASCII controls, DEL and anything beyond ASCII;
#: :func:`_unsafe` decides for the non-ASCII ones by their Unicode category.
_CANDIDATE = re.compile(r"[\x00-\x1f\x7f-\U0010ffff]")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(ch: str) -> bool:
    return ord(ch) < 0xA0 or unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _replace(match: re.Match[str], keep: str) -> str:
    ch = match.group(0)
    if ch in keep or not _unsafe(ch):
        return ch
    return _escape_char(ch)


def visible(value: Any, *, keep_newlines: bool = False, keep: str = "") -> str:
    """``value`` as text with every control, format and bidi character shown as an escape.

    ``keep_newlines`` keeps ``\\n`` (and only ``\\n``: a lone ``\\r`` still
    becomes ``\\r``) for messages of several lines made by phantomkeys itself;
    ``keep`` names other characters to leave alone (CSV keeps tabs and ``\\r``).
    The result is printable text, so calling this again changes nothing.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    keep += "\n" if keep_newlines else ""
    if not _CANDIDATE.search(text):
        return text
    return _CANDIDATE.sub(lambda m: _replace(m, keep), text)


def markup(value: Any, *, keep_newlines: bool = False) -> str:
    """:func:`visible` text that a rich console prints as it is (``[`` escaped)."""
    from rich.markup import escape

    return escape(visible(value, keep_newlines=keep_newlines))


def has_unsafe(value: str) -> bool:
    """True when :func:`visible` would change ``value`` (for tests and checks)."""
    return visible(value) != value
