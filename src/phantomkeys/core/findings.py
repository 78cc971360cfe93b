"""The one finding model shared by scan, hunt, leaks and coverage.

Every producer emits :class:`Finding` values built from a :class:`Rule`; every
output format (``report/``) renders the same values. The JSON field names are
the contract in ``docs/architecture.md`` ("Findings anywhere").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical=4 … info=0."""
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {value!r} (choose from {choices})") from None


_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


def max_severity(severities: Iterable[Severity]) -> Severity | None:
    best: Severity | None = None
    for s in severities:
        if best is None or s.rank > best.rank:
            best = s
    return best


@dataclass(frozen=True, slots=True)
class Rule:
    """Metadata of a detection or assessment rule (data, validated by tests)."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()
    #: MITRE ATT&CK technique ids, e.g. ``T1078.004``.
    attack: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "rationale": self.rationale,
            "remediation": self.remediation,
            "references": list(self.references),
            "attack": list(self.attack),
            "tags": list(self.tags),
        }


@dataclass(frozen=True, slots=True)
class Location:
    path: str | None = None
    line: int | None = None
    column: int | None = None
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("path", self.path),
                ("line", self.line),
                ("column", self.column),
                ("commit", self.commit),
            )
            if v is not None
        }


def fingerprint(rule_id: str, account_id: str | None, subject: str, *parts: str) -> str:
    """A stable identity for a finding: the same fact gives the same value on every run.

    Built only from identity fields (never from timestamps, counts or secrets), so
    history diffs, baselines and SARIF ``partialFingerprints`` can match findings
    across runs.
    """
    material = "\x1f".join((rule_id, account_id or "", subject, *parts))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    #: The user, role session or key the finding is about (never a secret).
    subject: str
    account_id: str | None
    evidence: Mapping[str, Any]
    remediation: str
    fingerprint: str
    location: Location | None = None
    rationale: str = ""
    tags: tuple[str, ...] = field(default=())

    @classmethod
    def from_rule(
        cls,
        rule: Rule,
        *,
        subject: str,
        account_id: str | None,
        evidence: Mapping[str, Any] | None = None,
        identity: Iterable[str] = (),
        location: Location | None = None,
        severity: Severity | None = None,
        title: str | None = None,
    ) -> Finding:
        """Build a finding; ``identity`` adds discriminators to the fingerprint."""
        ident = tuple(identity)
        if location is not None and not ident:
            ident = (location.path or "",)
        return cls(
            rule_id=rule.id,
            title=title or rule.title,
            severity=severity or rule.severity,
            subject=subject,
            account_id=account_id,
            evidence=dict(evidence or {}),
            remediation=rule.remediation,
            fingerprint=fingerprint(rule.id, account_id, subject, *ident),
            location=location,
            rationale=rule.rationale,
            tags=rule.tags,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "subject": self.subject,
            "account_id": self.account_id,
            "evidence": dict(self.evidence),
            "remediation": self.remediation,
            "fingerprint": self.fingerprint,
        }
        if self.rationale:
            out["rationale"] = self.rationale
        if self.location is not None:
            out["location"] = self.location.to_dict()
        return out


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by account, subject and rule: a deterministic order."""
    return sorted(
        findings,
        key=lambda f: (-f.severity.rank, f.account_id or "", f.subject, f.rule_id, f.fingerprint),
    )


def any_at_or_above(findings: Iterable[Finding], threshold: Severity | None) -> bool:
    if threshold is None:
        return False
    return any(f.severity.at_least(threshold) for f in findings)
