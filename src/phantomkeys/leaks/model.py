"""Values the leak scanner produces: hits, skipped items, errors, verifications.

Failures are values (pip-audit's ``SkippedDependency`` habit): a file that
could not be read is a :class:`ScanError` in the report, a binary file is a
:class:`Skipped`, and a ``--verify`` lookup that failed is
``VerifyStatus.UNKNOWN`` — never "not found" and never "dead".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from phantomkeys.core.keys import DecodedKey
from phantomkeys.core.verification import Verification as Verification
from phantomkeys.core.verification import VerifyStatus as VerifyStatus
from phantomkeys.leaks.patterns import Encoding


@dataclass(frozen=True, slots=True)
class KeyHit:
    """One decoded key at one place in one file or blob."""

    key: DecodedKey
    line: int
    column: int
    offset: int
    encoding: Encoding
    #: ``keys.redact`` of the key: safe to print.
    preview: str = ""
    #: How the key was written: ``authorization-header``, ``assignment``,
    #: ``string`` or ``bare`` (from the bytes just before it).
    context: str = "bare"


class SkipReason(StrEnum):
    BINARY = "binary"
    SYMLINK = "symlink"
    SUBMODULE = "submodule"
    NOT_A_FILE = "not-a-regular-file"
    #: ``--respect-gitignore``: a file (or a whole directory) an ignore rule excludes.
    IGNORED = "git-ignored"
    #: ``.git`` (and other VCS) internals: history is what ``--history`` reads.
    VCS = "vcs-internals"


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: SkipReason

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason.value}


@dataclass(frozen=True, slots=True)
class ScanError:
    """Something that should have been scanned and was not (an incomplete scan)."""

    path: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of scanning one file, stdin stream or blob."""

    path: str
    size: int = 0
    hits: tuple[KeyHit, ...] = ()
    skipped: SkipReason | None = None
    error: str | None = None
    #: Candidates shaped like keys that did not decode (decoys, truncated examples).
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Appearance:
    """Where a key appears in git history (``--history``)."""

    commit: str
    path: str
    change: str  # "added" (the commit introduced a blob holding the key) or "removed"
    time: int = 0  # committer time, seconds since the epoch


@dataclass(frozen=True, slots=True)
class HistoryInfo:
    """The git history of one key at one path."""

    added_in: tuple[Appearance, ...] = ()
    removed_in: tuple[Appearance, ...] = ()
    in_head: bool = False

    @property
    def first_commit(self) -> str | None:
        return self.added_in[0].commit if self.added_in else None


@dataclass(frozen=True, slots=True)
class LocatedHit:
    """A hit with where it was found: a file path, or a path in git history."""

    path: str
    hit: KeyHit
    history: HistoryInfo | None = None
    #: Blob id for history hits (several blobs of one path may hold the key).
    blob: str | None = None


# VerifyStatus and Verification live in core (aws/verify.py returns them):
# re-exported here, where the leak scanner's other values are.
