"""What a run read and what it did not: the one ``coverage`` block of every JSON document.

A security tool's worst answer is a clean result that is not true. Every command that
reads inputs (files, records, accounts, regions, commits, AWS lookups) builds one
:class:`Coverage` value and puts ``coverage.to_json()`` at the top level of its JSON
document under ``"coverage"``; the CLI prints ``coverage.summary_line()`` on stderr and
exits 3 when ``coverage.complete`` is false (exit codes: docs/architecture.md).

Pure: no I/O, no clock. Producers count what they read (``read``) and record each thing
they could not read or chose to skip (``skipped``), and set ``nothing_read`` when the user
pointed at something and nothing at all came of it (an empty folder, a mistyped path, an
S3 prefix with no objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: At most this many skipped items are listed by name in a JSON document; the counts
#: by kind and reason always cover all of them.
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class Skipped:
    """One thing that was not read, or a group of like things (``count``)."""

    kind: str  # "file" | "record" | "account" | "region" | "commit" | "object" | "lookup"
    name: str  # what: a path, an account id, a region, an S3 key (sanitise on output)
    reason: str  # why, in a few words: "unreadable", "over the decompression cap", ...
    count: int = 1
    #: False for an item skipped on purpose by an option the user gave (``--respect-
    #: gitignore``, binary files, VCS internals): it is counted and shown, but it does
    #: not make the run incomplete.
    incomplete: bool = True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "reason": self.reason}
        if self.count != 1:
            out["count"] = self.count
        if not self.incomplete:
            out["by_choice"] = True
        return out


@dataclass(frozen=True, slots=True)
class Coverage:
    """What one run read (counts by kind) and what it skipped."""

    read: Mapping[str, int] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()
    #: Set when something was asked for and nothing at all was read: the reason.
    nothing_read: str | None = None

    @property
    def complete(self) -> bool:
        """True when nothing that makes the result untrustworthy was skipped."""
        return self.nothing_read is None and not any(s.incomplete for s in self.skipped)

    @property
    def reasons(self) -> list[str]:
        """Why the run is incomplete, one short line each (empty when complete)."""
        out: list[str] = []
        if self.nothing_read is not None:
            out.append(self.nothing_read)
        tally: dict[tuple[str, str], int] = {}
        for s in self.skipped:
            if s.incomplete:
                tally[(s.kind, s.reason)] = tally.get((s.kind, s.reason), 0) + s.count
        for (kind, reason), n in tally.items():
            out.append(f"{n} {_plural(kind, n)} not read: {reason}")
        return out

    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.kind] = counts.get(s.kind, 0) + s.count
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "read": dict(self.read),
            "skipped": self.skipped_counts(),
            "skipped_items": [s.to_json() for s in self.skipped[:MAX_LISTED]],
            "skipped_items_total": len(self.skipped),
            "reasons": self.reasons,
        }

    def summary_line(self) -> str:
        """One stderr line: ``read 3 files, 1,200 records; skipped 1 file (…)``."""
        read = ", ".join(f"{n:,} {_singular(k, n)}" for k, n in self.read.items()) or "nothing"
        line = f"read {read}"
        counts = self.skipped_counts()
        if counts:
            line += "; skipped " + ", ".join(f"{n:,} {_plural(k, n)}" for k, n in counts.items())
        if not self.complete:
            line += " — INCOMPLETE: " + "; ".join(self.reasons)
        return line

    def merged(self, other: Coverage) -> Coverage:
        read = dict(self.read)
        for k, n in other.read.items():
            read[k] = read.get(k, 0) + n
        return Coverage(
            read=read,
            skipped=self.skipped + other.skipped,
            nothing_read=self.nothing_read or other.nothing_read,
        )


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return kind
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def coverage_of(
    read: Mapping[str, int],
    skipped: Iterable[Skipped] = (),
    *,
    asked_for: str | None = None,
) -> Coverage:
    """Build a :class:`Coverage`; ``asked_for`` names the input the user gave, and when
    every count in ``read`` is zero the run read nothing of it (incomplete)."""
    items = tuple(skipped)
    nothing = None
    if asked_for is not None and not any(read.values()):
        nothing = f"nothing was read from {asked_for}"
    return Coverage(read=dict(read), skipped=items, nothing_read=nothing)


def _singular(kinds: str, n: int) -> str:
    """``read`` counts are keyed by plural nouns ("files"): one of them is singular."""
    if n != 1:
        return kinds
    if kinds.endswith("ies"):
        return kinds[:-3] + "y"
    return kinds[:-1] if kinds.endswith("s") else kinds
