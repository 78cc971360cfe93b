"""The one time parser: every time a user types and every time a document holds.

Pure: the current time is passed in (``now``), never read here.

* :func:`parse_time` reads what a user types after ``--since``, ``--until`` or
  ``--at``: ISO 8601 (a date, or a date and time with ``Z`` or an offset; no
  zone means UTC), ``now``, or an age before ``now`` (``30m``, ``12h``,
  ``7d``, ``2w``). Anything else raises :class:`TimeParseError` with a message
  a user can act on.
* :func:`parse_iso` reads an ISO 8601 timestamp from data (AWS responses,
  snapshots, backups, CloudTrail records) as an aware UTC datetime.
* :func:`format_iso` writes the house form, ``2026-11-29T10:00:00Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "RELATIVE_UNITS",
    "TimeParseError",
    "format_iso",
    "parse_iso",
    "parse_iso_or_none",
    "parse_time",
]

#: Units of a relative age: ``30m``, ``12h``, ``7d``, ``2w``.
RELATIVE_UNITS: dict[str, str] = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE_RE = re.compile(r"^(\d{1,9})\s*([mhdw])$")
_EXAMPLES = (
    "for example 2026-11-29T10:00:00Z, 2026-11-29T11:00:00+01:00, 2026-11-29, 30m, 12h, 7d or 2w"
)


class TimeParseError(ValueError):
    """A time a user typed that is neither ISO 8601 nor a relative age."""

    def __init__(self, value: str, reason: str | None = None):
        self.value = value
        self.hint = _EXAMPLES
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"{value!r} is not a time{detail}: give ISO-8601 (with Z or an offset) or an "
            "age before now (30m, 12h, 7d, 2w)"
        )


def parse_iso(value: str | datetime) -> datetime:
    """ISO 8601 (``Z``, ``z`` or an offset; none means UTC) as an aware UTC datetime.

    Raises :class:`ValueError` when ``value`` is not ISO 8601.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_iso_or_none(value: Any) -> datetime | None:
    """:func:`parse_iso` for data that may be missing or malformed: ``None`` then."""
    if isinstance(value, datetime):
        return parse_iso(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def parse_time(value: str, *, now: datetime) -> datetime:
    """A time a user typed: ISO 8601, ``now``, or an age before ``now``.

    ``now`` must be timezone-aware; the result is aware UTC.
    """
    text = value.strip()
    lowered = text.lower()
    if lowered == "now":
        return now.astimezone(UTC)
    m = _RELATIVE_RE.match(lowered)
    if m:
        try:
            return (now - timedelta(**{RELATIVE_UNITS[m.group(2)]: int(m.group(1))})).astimezone(
                UTC
            )
        except OverflowError:
            raise TimeParseError(value, "too far in the past") from None
    if not text:
        raise TimeParseError(value, "empty")
    try:
        return parse_iso(text)
    except (ValueError, OverflowError):
        raise TimeParseError(value) from None


def format_iso(value: datetime) -> str:
    """``2026-11-29T10:00:00Z`` (UTC, whole seconds): the house form in documents."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
