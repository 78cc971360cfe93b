"""Baselines: fingerprints of findings a team has accepted (or is fixing).

The file is a JSON list of fingerprints, which is what ``--write-baseline``
writes. Also accepted: a list of objects with a ``fingerprint`` field, and a
whole ``phantomkeys leaks --format json`` document (its findings), so a saved
report can serve as a baseline directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from phantomkeys.core.findings import Finding


class BaselineError(ValueError):
    """The baseline file is not one of the accepted shapes (a usage error)."""


def parse_baseline(text: str) -> frozenset[str]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        data = data["findings"]
    if not isinstance(data, list):
        raise BaselineError("expected a JSON list of fingerprints")
    out: set[str] = set()
    for n, item in enumerate(data, 1):
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict) and isinstance(item.get("fingerprint"), str):
            out.add(item["fingerprint"])
        else:
            raise BaselineError(f"item {n} is neither a fingerprint nor an object with one")
    return frozenset(out)


def render_baseline(findings: Iterable[Finding], keep: Iterable[str] = ()) -> str:
    """The baseline file for ``findings`` (plus fingerprints to ``keep``), sorted."""
    prints = sorted({f.fingerprint for f in findings} | set(keep))
    return json.dumps(prints, indent=2) + "\n"


def split_new(
    findings: Iterable[Finding], baseline: frozenset[str]
) -> tuple[list[Finding], list[Finding]]:
    """(new findings, findings the baseline accepts)."""
    new: list[Finding] = []
    known: list[Finding] = []
    for f in findings:
        (known if f.fingerprint in baseline else new).append(f)
    return new, known
