"""Find Bedrock and Claude Platform API keys in files, stdin, staged changes and git history.

Library use::

    from phantomkeys.leaks import ScanOptions, build_findings, scan

    result = scan(["."], ScanOptions(history=True))
    findings = build_findings(result.hits, at=datetime.now(UTC))

Every candidate is decoded with :func:`phantomkeys.core.keys.decode`; only keys
that decode become findings, and no finding or report holds a secret.
"""

from __future__ import annotations

from phantomkeys.leaks.baseline import BaselineError, parse_baseline, render_baseline, split_new
from phantomkeys.leaks.engine import LeakScan, ScanOptions, build_document, scan
from phantomkeys.leaks.findings import (
    LEAKED_LONG_TERM_KEY,
    LEAKED_SHORT_TERM_KEY,
    RULES,
    build_findings,
)
from phantomkeys.leaks.model import (
    FileResult,
    KeyHit,
    LocatedHit,
    ScanError,
    Skipped,
    Verification,
    VerifyStatus,
)
from phantomkeys.leaks.scanner import Scanner

__all__ = [
    "LEAKED_LONG_TERM_KEY",
    "LEAKED_SHORT_TERM_KEY",
    "RULES",
    "BaselineError",
    "FileResult",
    "KeyHit",
    "LeakScan",
    "LocatedHit",
    "ScanError",
    "ScanOptions",
    "Scanner",
    "Skipped",
    "Verification",
    "VerifyStatus",
    "build_document",
    "build_findings",
    "parse_baseline",
    "render_baseline",
    "scan",
    "split_new",
]
