"""Leak rules and the pure function that turns hits into findings.

One finding per key per path: a key pasted on three lines of one file is one
finding with three occurrences; the same key in two files is two findings
(each file needs its own fix). The fingerprint is built from the rule, the
account, the subject, the key's SHA-256 and the path — never from line numbers
or times — so it survives edits above the key, re-runs and ``--history``
versus folder scans of the same repository, which is what baselines and SARIF
``partialFingerprints`` need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.findings import Finding, Location, Rule, Severity, sort_findings
from phantomkeys.core.keys import DecodedKey, KeyKind
from phantomkeys.leaks.model import LocatedHit, Verification, VerifyStatus
from phantomkeys.surfaces import SURFACES

_SURFACE_NAMES = " and ".join(s.display_name for s in SURFACES)
_MAX_OCCURRENCES = 50
_MAX_COMMITS = 50

LEAKED_LONG_TERM_KEY = Rule(
    id="leaked-long-term-key",
    title="Long-term API key leaked",
    severity=Severity.CRITICAL,
    rationale=(
        f"A long-term {_SURFACE_NAMES} API key (ABSK…/AEAA…) is an IAM service-specific "
        "credential of a real IAM user. It works from anywhere until it is deleted or "
        "expires, which may be never, with every permission of that user (by default the "
        "broad managed policy the console attaches). Anyone who can read this file, or "
        "any clone of the repository, can use it."
    ),
    remediation=(
        "Revoke the key now: `phantomkeys revoke -` and paste the key on stdin (it never "
        "lands in shell history). Then remove it from the file and from git history "
        "(git filter-repo), and prefer short-term keys (`phantomkeys mint`)."
    ),
    references=(
        "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_bedrock.html",
        "https://attack.mitre.org/techniques/T1552/001/",
    ),
    attack=("T1552.001",),
    tags=("leaks", "credentials", "api-key", "long-term"),
)

LEAKED_SHORT_TERM_KEY = Rule(
    id="leaked-short-term-key",
    title="Short-term API key leaked",
    severity=Severity.HIGH,
    rationale=(
        "A short-term API key (bedrock-api-key-…/aws-external-anthropic-api-key-…) is a "
        "presigned request carrying the signer's access key id and, for sessions, its "
        "session token. It grants the signer's Bedrock or Claude Platform permissions for "
        "up to 12 hours, cannot be deleted on its own, and was minted without any AWS "
        "call, so nothing in CloudTrail recorded its creation. Expired keys are reported "
        "at low severity: harmless now, but the signer's credentials leaked through the "
        "same channel."
    ),
    remediation=(
        "While it is valid, revoke what signed it: `phantomkeys revoke -` and paste the key "
        "on stdin (deactivates the AKIA access key, or denies the ASIA session's earlier "
        "tokens). Remove it from the file and history, and find how it leaked."
    ),
    references=(
        "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-how.html",
        "https://attack.mitre.org/techniques/T1552/001/",
    ),
    attack=("T1552.001",),
    tags=("leaks", "credentials", "api-key", "short-term"),
)

RULES: tuple[Rule, ...] = (LEAKED_LONG_TERM_KEY, LEAKED_SHORT_TERM_KEY)


def rule_for(key: DecodedKey) -> Rule:
    return LEAKED_LONG_TERM_KEY if key.kind is KeyKind.LONG_TERM else LEAKED_SHORT_TERM_KEY


def subject_of(key: DecodedKey) -> str:
    """The IAM user (long-term) or the signing access key (short-term)."""
    if key.kind is KeyKind.LONG_TERM:
        return key.iam_user_arn or key.username or key.token_sha256
    return key.access_key_id or key.token_sha256


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def key_evidence(key: DecodedKey, at: datetime) -> dict[str, Any]:
    """Public facts of a key (never the secret)."""
    out: dict[str, Any] = {"surface": key.surface.value, "kind": key.kind.value}
    if key.kind is KeyKind.LONG_TERM:
        out.update(
            username=key.username,
            iam_user_arn=key.iam_user_arn,
            key_position=key.key_position.value if key.key_position else None,
            secret_sha256=key.secret_sha256,
        )
    else:
        out.update(
            access_key_id=key.access_key_id,
            access_key_type=key.access_key_type,
            region=key.region,
            issued_at=_iso(key.issued_at),
            expires_at=_iso(key.expires_at),
            expired=key.expired(at),
            has_session_token=key.has_session_token,
        )
    out["token_sha256"] = key.token_sha256
    return {k: v for k, v in out.items() if v is not None}


def severity_of(
    key: DecodedKey, at: datetime, verification: Verification | None
) -> tuple[Severity, str | None]:
    """The finding's severity, and why it is lower than the rule's (if it is)."""
    rule = rule_for(key)
    if key.expired(at):
        return Severity.LOW, "expired"
    if verification is not None:
        if verification.status is VerifyStatus.DEAD:
            return Severity.LOW, "no longer valid"
        if verification.status is VerifyStatus.INACTIVE:
            return Severity.MEDIUM, "credential inactive"
    return rule.severity, None


def build_findings(
    located: Iterable[LocatedHit],
    *,
    at: datetime,
    verifications: Mapping[str, Verification] | None = None,
) -> list[Finding]:
    """One finding per (key, path), worst first."""
    groups: dict[tuple[str, str], list[LocatedHit]] = {}
    for item in located:
        groups.setdefault((item.hit.key.token_sha256, item.path), []).append(item)
    findings: list[Finding] = []
    for (token, path), items in groups.items():
        items.sort(key=lambda i: (i.hit.line, i.hit.column))
        first = items[0]
        key = first.hit.key
        rule = rule_for(key)
        verification = (verifications or {}).get(token)
        severity, why = severity_of(key, at, verification)
        evidence = key_evidence(key, at)
        evidence["key_preview"] = first.hit.preview
        evidence["encoding"] = first.hit.encoding.value
        evidence["context"] = first.hit.context
        occurrences = [
            {"line": line, "column": column}
            for line, column in dict.fromkeys((i.hit.line, i.hit.column) for i in items)
        ]
        evidence["occurrences"] = occurrences[:_MAX_OCCURRENCES]
        evidence["occurrence_count"] = len(occurrences)
        commit = None
        history = next((i.history for i in items if i.history is not None), None)
        if history is not None:
            commit = history.first_commit
            evidence["history"] = {
                "in_head": history.in_head,
                "introduced_in": [
                    {"commit": a.commit, "time": _epoch(a.time)}
                    for a in history.added_in[:_MAX_COMMITS]
                ],
                "removed_in": [
                    {"commit": a.commit, "time": _epoch(a.time)}
                    for a in history.removed_in[:_MAX_COMMITS]
                ],
                "introduced_count": len(history.added_in),
            }
        if verification is not None:
            evidence["verification"] = verification.to_dict()
        title = rule.title + (f" ({why})" if why else "")
        findings.append(
            Finding.from_rule(
                rule,
                subject=subject_of(key),
                account_id=key.account_id,
                evidence=evidence,
                identity=(token, path),
                location=Location(
                    path=path, line=first.hit.line, column=first.hit.column, commit=commit
                ),
                severity=severity,
                title=title,
            )
        )
    return sort_findings(findings)


def _epoch(seconds: int) -> str | None:
    return _iso(datetime.fromtimestamp(seconds, UTC)) if seconds else None
