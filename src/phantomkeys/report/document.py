"""Reading the one report document every renderer receives.

A command builds a single JSON-able dict (``phantomkeys._meta.envelope``):
``{schema_version, tool, metadata: {command, ...}, findings, rules, ...}``;
``scan`` adds ``summary`` and ``accounts``, ``coverage`` adds ``goals`` and
``matrix``. Renderers read it only through these helpers, so a missing optional
field is handled once, here, and never raises inside a renderer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from phantomkeys.core.findings import Severity
from phantomkeys.core.timeparse import parse_iso_or_none

#: Commands whose documents the report formats understand.
COMMANDS: tuple[str, ...] = ("scan", "hunt", "leaks", "coverage")

#: Identity statuses in the order reports show them (worst first).
STATUSES: tuple[str, ...] = ("at-risk", "active", "expired", "orphaned", "unknown")

#: Severities worst first.
SEVERITIES: tuple[str, ...] = tuple(s.value for s in sorted(Severity, key=lambda s: -s.rank))


class DocumentError(ValueError):
    """The document is not a phantomkeys report (caught by the CLI as a usage error)."""


def command_of(document: Mapping[str, Any]) -> str:
    """``metadata.command``, or the command the document's shape implies."""
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping):
        command = metadata.get("command")
        if isinstance(command, str) and command:
            return command
    if "matrix" in document or any("goals" in a for a in accounts(document)):
        return "coverage"
    if "accounts" in document:
        return "scan"
    if "results" in document:
        return "decode"
    findings = document.get("findings") or []
    if any(isinstance(f, Mapping) and f.get("location") for f in findings):
        return "leaks"
    if "findings" in document:
        return "hunt"
    raise DocumentError("not a phantomkeys report: no metadata.command, accounts or findings")


def metadata(document: Mapping[str, Any]) -> Mapping[str, Any]:
    value = document.get("metadata")
    return value if isinstance(value, Mapping) else {}


def findings(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in document.get("findings") or () if isinstance(f, Mapping)]


def rules_by_id(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for rule in document.get("rules") or ():
        if isinstance(rule, Mapping) and isinstance(rule.get("id"), str):
            out[rule["id"]] = rule
    return out


def accounts(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in document.get("accounts") or () if isinstance(a, Mapping)]


def identities(
    document: Mapping[str, Any],
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every ``(account, identity)`` pair of a scan document, in document order."""
    for account in accounts(document):
        for identity in account.get("identities") or ():
            if isinstance(identity, Mapping):
                yield account, identity


def severity_rank(value: Any) -> int:
    try:
        return Severity(str(value)).rank
    except ValueError:
        return -1


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 text to an aware UTC datetime; ``None`` for anything else."""
    return parse_iso_or_none(value)


def reference_time(document: Mapping[str, Any]) -> datetime | None:
    """The time the report describes (``metadata.scan_time``): ages are relative to it."""
    meta = metadata(document)
    for key in ("scan_time", "until", "generated_at"):
        when = parse_time(meta.get(key))
        if when is not None:
            return when
    return parse_time(document.get("at"))


def text(value: Any) -> str:
    """A cell value as text: lists joined, ``None`` empty, booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    return str(value)


def location_text(finding: Mapping[str, Any]) -> str:
    loc = finding.get("location")
    if not isinstance(loc, Mapping) or not loc.get("path"):
        return ""
    out = str(loc["path"])
    if loc.get("line"):
        out += f":{loc['line']}"
    if loc.get("commit"):
        out += f"@{str(loc['commit'])[:12]}"
    return out


def severity_counts(items: list[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in items:
        sev = str(f.get("severity", ""))
        if sev in counts:
            counts[sev] += 1
    return counts


# ------------------------------------------------------------------ coverage

#: Goal states, in the producer's words (``core/controls/coverage.py``).
COVERAGE_STATES: tuple[str, ...] = ("blocked", "gap", "conditional", "not-enforceable", "unknown")
_STATE_ALIASES = {"protected": "blocked", "exempt": "not-enforceable", "partial": "conditional"}


def coverage_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The accounts x goals rows: ``matrix``, or ``accounts`` carrying ``goals``."""
    rows = document.get("matrix")
    if rows is None:
        rows = [a for a in accounts(document) if "goals" in a]
    return [r for r in rows or () if isinstance(r, Mapping)]


def coverage_goals(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(goal id, title)`` in report order, from ``goals`` or ``metadata.goals``."""
    goals = document.get("goals") or metadata(document).get("goals") or ()
    out = [
        (str(g.get("id")), str(g.get("title") or g.get("id")))
        for g in goals
        if isinstance(g, Mapping) and g.get("id")
    ]
    if out:
        return out
    seen = dict.fromkeys(k for r in coverage_rows(document) for k in coverage_cells(r))
    return [(k, k) for k in seen]


def coverage_cells(row: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    goals = row.get("goals")
    if isinstance(goals, Mapping):
        return {str(k): v for k, v in goals.items() if isinstance(v, Mapping)}
    return {str(c["goal"]): c for c in goals or () if isinstance(c, Mapping) and c.get("goal")}


def cell_state(cell: Mapping[str, Any]) -> str:
    raw = str(cell.get("state") or cell.get("status") or "unknown")
    return _STATE_ALIASES.get(raw, raw)


def cell_policy(cell: Mapping[str, Any]) -> str:
    """What achieves the goal (``achieved_by`` / ``policy``), as text."""
    value = cell.get("achieved_by", cell.get("policy"))
    return text(value)


def cell_detail(cell: Mapping[str, Any]) -> str:
    parts = [text(cell.get(k)) for k in ("reason", "detail", "gaps") if cell.get(k)]
    return "; ".join(p for p in parts if p)
