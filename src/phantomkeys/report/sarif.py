"""SARIF 2.1.0 for any phantomkeys report document (scan, hunt, leaks, coverage).

SARIF is what GitHub code scanning, Azure DevOps and most SAST dashboards
ingest. The mapping:

* ``document["rules"]`` become ``tool.driver.rules``: help text from the
  rationale and remediation, ``properties.security-severity`` from the
  severity (GitHub's bands: >= 9.0 critical, >= 7.0 high, >= 4.0 medium,
  > 0 low), and tags.
* each finding becomes a ``result`` with ``ruleId``/``ruleIndex``, ``level``
  (critical/high = error, medium = warning, low/info = note), a message, and a
  location: a physical one (file, line, column) when the finding has a path,
  otherwise a logical one naming the subject and account.
* ``partialFingerprints`` carry :func:`phantomkeys.core.findings.fingerprint`,
  so code-scanning alerts keep their identity across runs and line moves.
* failures recorded in ``metadata.errors`` become tool execution notifications
  and mark the invocation unsuccessful: an incomplete scan must not look clean.

A plain dict builder validated against the official schema in the tests; the
renderer never raises on a missing optional field (it reads the document
through :mod:`phantomkeys.report.document`), and every string passes through
:func:`phantomkeys.report.redact.scrub` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from phantomkeys.core.findings import Severity
from phantomkeys.report import document as doc
from phantomkeys.report.redact import scrub

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/phantomkeys/phantomkeys"
#: Key of our fingerprint in ``partialFingerprints``; bump the suffix if its recipe changes.
FINGERPRINT_KEY = "phantomkeys/v1"
#: The uriBaseId of paths relative to a repository root (SARIF 2.1.0 §3.14.14).
SRCROOT = "%SRCROOT%"

#: ``properties.security-severity`` per severity. GitHub turns the number back into
#: a band (>= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low); the values
#: sit inside each band like prowler's and CodeQL's do.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

_MAX_NOTIFICATIONS = 1000


def render(document: Mapping[str, Any]) -> str:
    """The SARIF log for ``document`` as indented JSON text."""
    return json.dumps(build(document), indent=2, ensure_ascii=False) + "\n"


def build(document: Mapping[str, Any]) -> dict[str, Any]:
    """The SARIF log as a dict (``render`` serialises it)."""
    document = scrub(document)
    raw_tool = document.get("tool")
    tool: Mapping[str, Any] = raw_tool if isinstance(raw_tool, Mapping) else {}
    findings = doc.findings(document)
    rules = _rules(document, findings)
    index = {rule["id"]: n for n, rule in enumerate(rules)}
    meta = doc.metadata(document)
    # leaks --history: paths are relative to the repository root, which SARIF names
    # %SRCROOT% (what GitHub code scanning resolves against the checkout).
    root = meta.get("repository_root")
    base = SRCROOT if isinstance(root, str) and root else None
    results = [_result(f, index, base) for f in findings]
    command = meta.get("command") if isinstance(meta.get("command"), str) else None
    driver: dict[str, Any] = {
        "name": str(tool.get("name") or "phantomkeys"),
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    version = tool.get("version")
    if isinstance(version, str) and version:
        driver["version"] = version
        if re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?", version):
            driver["semanticVersion"] = version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [_invocation(meta, document.get("coverage"))],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if base is not None:
        run["originalUriBaseIds"] = {base: {"uri": Path(str(root)).resolve().as_uri() + "/"}}
    if command:
        run["automationDetails"] = {"id": f"phantomkeys/{command}/"}
    properties: dict[str, Any] = {}
    if command:
        properties["command"] = command
    if isinstance(document.get("schema_version"), str):
        properties["schema_version"] = document["schema_version"]
    if properties:
        run["properties"] = properties
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


# ------------------------------------------------------------------ rules


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        return Severity.MEDIUM  # unknown severity: visible, never silently dropped


def _rules(document: Mapping[str, Any], findings: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    declared = doc.rules_by_id(document)
    out = [_rule(rule) for rule in declared.values()]
    seen = set(declared)
    # A finding whose rule the document does not declare still gets a rule entry.
    for f in findings:
        rule_id = str(f.get("rule_id") or "unknown")
        if rule_id not in seen:
            seen.add(rule_id)
            out.append(
                _rule(
                    {
                        "id": rule_id,
                        "title": f.get("title") or rule_id,
                        "severity": f.get("severity"),
                        "rationale": f.get("rationale") or "",
                        "remediation": f.get("remediation") or "",
                        "tags": f.get("tags") or [],
                    }
                )
            )
    return out


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    rule_id = str(rule["id"])
    title = str(rule.get("title") or rule_id)
    severity = _severity(rule.get("severity"))
    rationale = str(rule.get("rationale") or "").strip()
    remediation = str(rule.get("remediation") or "").strip()
    references = [str(r) for r in rule.get("references") or () if r]
    help_text = (
        "\n\n".join(
            part
            for part in (
                rationale,
                f"Remediation: {remediation}" if remediation else "",
                "References: " + " ".join(references) if references else "",
            )
            if part
        )
        or title
    )
    help_md = (
        "\n\n".join(
            part
            for part in (
                rationale,
                f"**Remediation:** {remediation}" if remediation else "",
                "**References:**\n" + "\n".join(f"* <{r}>" for r in references)
                if references
                else "",
            )
            if part
        )
        or title
    )
    tags = _unique(
        [
            "security",
            *(str(t) for t in rule.get("tags") or ()),
            *(f"external/attack/{a}" for a in rule.get("attack") or ()),
        ]
    )
    out: dict[str, Any] = {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": rationale or title},
        "help": {"text": help_text, "markdown": help_md},
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[severity],
            "severity": severity.value,
            "precision": "high",
            "problem.severity": _problem_severity(severity),
            "tags": tags,
        },
    }
    if references:
        out["helpUri"] = references[0]
    return out


def _problem_severity(severity: Severity) -> str:
    return {"error": "error", "warning": "warning"}.get(LEVEL[severity], "recommendation")


def _pascal(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# ---------------------------------------------------------------- results


def _result(
    finding: Mapping[str, Any], index: Mapping[str, int], base: str | None = None
) -> dict[str, Any]:
    rule_id = str(finding.get("rule_id") or "unknown")
    severity = _severity(finding.get("severity"))
    subject = str(finding.get("subject") or "")
    account = finding.get("account_id")
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index[rule_id],
        "level": LEVEL[severity],
        "message": {"text": _message(finding)},
        "locations": [_location(finding, base)],
    }
    fp = finding.get("fingerprint")
    if isinstance(fp, str) and fp:
        result["partialFingerprints"] = {FINGERPRINT_KEY: fp}
    properties: dict[str, Any] = {
        "severity": severity.value,
        "security-severity": SECURITY_SEVERITY[severity],
        "subject": subject,
    }
    if account:
        properties["account_id"] = str(account)
    loc = finding.get("location")
    if isinstance(loc, Mapping) and loc.get("commit"):
        properties["commit"] = str(loc["commit"])
    evidence = finding.get("evidence")
    if isinstance(evidence, Mapping) and evidence:
        properties["evidence"] = dict(evidence)
    result["properties"] = properties
    return result


def _message(finding: Mapping[str, Any]) -> str:
    title = str(finding.get("title") or finding.get("rule_id") or "finding")
    subject = finding.get("subject")
    account = finding.get("account_id")
    parts = [title]
    if subject:
        parts.append(f"subject: {subject}")
    if account:
        parts.append(f"account: {account}")
    text = " — ".join(parts) + "."
    remediation = finding.get("remediation")
    if remediation:
        text += f" {remediation}"
    return text


def _location(finding: Mapping[str, Any], base: str | None = None) -> dict[str, Any]:
    loc = finding.get("location")
    subject = str(finding.get("subject") or "")
    account = str(finding.get("account_id") or "")
    if isinstance(loc, Mapping) and loc.get("path"):
        artifact: dict[str, Any] = {"uri": artifact_uri(str(loc["path"]))}
        if base is not None:
            artifact["uriBaseId"] = base
        physical: dict[str, Any] = {"artifactLocation": artifact}
        line = _positive_int(loc.get("line"))
        if line is not None:
            region: dict[str, Any] = {"startLine": line}
            column = _positive_int(loc.get("column"))
            if column is not None:
                region["startColumn"] = column
            physical["region"] = region
        return {"physicalLocation": physical}
    name = subject or account or "unknown"
    logical: dict[str, Any] = {"name": name, "kind": "resource"}
    if account:
        logical["fullyQualifiedName"] = f"{account}/{name}" if subject else account
    return {"logicalLocations": [logical]}


def artifact_uri(path: str) -> str:
    """A relative URI reference for a path (``./`` dropped, ``\\`` to ``/``, escaped)."""
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return quote(p, safe="/-._~!$&'()*+,;=:@")


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value >= 1 else None


# ------------------------------------------------------------- invocation


def _invocation(meta: Mapping[str, Any], coverage: Any = None) -> dict[str, Any]:
    notifications: list[dict[str, Any]] = []
    # the document's coverage block: why the run is incomplete (reading nothing, say)
    incomplete = isinstance(coverage, Mapping) and coverage.get("complete") is False
    if incomplete:
        for reason in coverage.get("reasons") or ():
            notifications.append({"level": "error", "message": {"text": str(reason)}})
    errors = meta.get("errors")
    if isinstance(errors, list):
        for err in errors[:_MAX_NOTIFICATIONS]:
            notifications.append(_notification(err, "error"))
    skipped = meta.get("skipped")
    if isinstance(skipped, list):
        for item in skipped[:_MAX_NOTIFICATIONS]:
            notifications.append(_notification(item, "note"))
    invocation: dict[str, Any] = {
        "executionSuccessful": not (isinstance(errors, list) and errors) and not incomplete
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def _notification(item: Any, level: str) -> dict[str, Any]:
    if isinstance(item, Mapping):
        where = item.get("path") or item.get("account_id") or item.get("source") or ""
        what = item.get("error") or item.get("reason") or item.get("message") or ""
        text = f"{where}: {what}" if where and what else str(where or what or item)
        out: dict[str, Any] = {"level": level, "message": {"text": text}}
        if item.get("path"):
            out["locations"] = [
                {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(str(item["path"]))}}}
            ]
        return out
    return {"level": level, "message": {"text": str(item)}}
