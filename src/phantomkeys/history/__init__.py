"""Scan history: every scan recorded locally, and what changed between two.

``record(document, path)``, ``list_scans(path)``, ``diff(a, b)`` (new, resolved,
unverified and changed findings by fingerprint) and ``record_and_diff_new``
(what ``scan --fail-on new`` uses).
"""

from __future__ import annotations

from phantomkeys.history.diff import Change, HistoryDiff, diff
from phantomkeys.history.store import (
    HistoryError,
    ScanRecord,
    default_path,
    diff_scans,
    get_scan,
    list_scans,
    load_document,
    record,
    record_and_diff_new,
    scope_of,
)

__all__ = [
    "Change",
    "HistoryDiff",
    "HistoryError",
    "ScanRecord",
    "default_path",
    "diff",
    "diff_scans",
    "get_scan",
    "list_scans",
    "load_document",
    "record",
    "record_and_diff_new",
    "scope_of",
]
