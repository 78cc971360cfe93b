"""pySigma validators over the pack, plus phantomkeys' own checks.

All installed pySigma validators run (the core ones and, when installed,
``pysigma-validators-sigmahq``), except:

* ``sigmahq_unknown_field``: SigmaHQ's repository allows no custom attributes;
  the Sigma specification does, and phantomkeys keeps its ``phantomkeys:``
  mapping (subject, remediation) there.

Validators that download reference data (the MITRE ATT&CK and D3FEND
catalogues, SigmaHQ's field taxonomy) cannot run offline; they are reported as
skipped, never as passed. :func:`pack_issues` covers what they would have
checked that matters here: well-formed ATT&CK technique tags, a tactic tag,
fields from the CloudTrail catalog.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phantomkeys.trail import fields as F
from phantomkeys.trail.pack import detection_fields, load_documents, load_pack

EXCLUDED: dict[str, str] = {
    "sigmahq_unknown_field": "phantomkeys keeps subject and remediation in a custom attribute",
}
_TACTICS = {
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
}
_TECHNIQUE_RE = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")


@dataclass(frozen=True, slots=True)
class Issue:
    validator: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"validator": self.validator, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class ValidationReport:
    issues: tuple[Issue, ...]
    ran: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def run_pysigma_validators(rules_paths: Sequence[Path] | None = None) -> ValidationReport:
    from sigma.collection import SigmaCollection
    from sigma.plugins import InstalledSigmaPlugins

    docs = [d for _, d in load_documents(rules_paths)]
    collection = SigmaCollection.from_dicts(docs)
    issues: list[Issue] = []
    for rule in collection.rules:
        for err in rule.errors:
            issues.append(Issue("pysigma-parse", str(rule.name or rule.title), str(err)))
    ran: list[str] = []
    skipped: list[tuple[str, str]] = []
    validators: dict[str, Any] = dict(InstalledSigmaPlugins.autodiscover().validators)
    for name, cls in sorted(validators.items()):
        if name in EXCLUDED:
            skipped.append((name, EXCLUDED[name]))
            continue
        try:
            validator = cls()
            found = [i for r in collection.rules for i in validator.validate(r)]
            found += list(validator.finalize())
        except Exception as exc:  # reference data that needs the network
            skipped.append((name, f"could not run offline ({type(exc).__name__})"))
            continue
        ran.append(name)
        for issue in found:
            names = ", ".join(str(r.name or r.title) for r in issue.rules) or "?"
            detail = {
                k: v
                for k, v in vars(issue).items()
                if k not in ("rules", "description", "severity")
            }
            message = issue.description + (f" {detail}" if detail else "")
            issues.append(Issue(name, names, message))
    return ValidationReport(tuple(issues), tuple(ran), tuple(skipped))


def pack_issues(rules_paths: Sequence[Path] | None = None) -> list[Issue]:
    """phantomkeys' own checks: metadata complete, ATT&CK tags, known fields."""
    out: list[Issue] = []
    pack = load_pack(rules_paths)
    for r in pack:
        doc: dict[str, Any] = dict(r.document)
        tags = [str(t).lower() for t in doc.get("tags") or ()]
        if not any(_TECHNIQUE_RE.match(t) for t in tags):
            out.append(Issue("phantomkeys", r.name, "no attack.tNNNN technique tag"))
        if not any(t.removeprefix("attack.") in _TACTICS for t in tags if t.startswith("attack.")):
            out.append(Issue("phantomkeys", r.name, "no ATT&CK tactic tag"))
        for key in ("author", "date", "references", "falsepositives", "status", "description"):
            if not doc.get(key):
                out.append(Issue("phantomkeys", r.name, f"missing {key}"))
        if r.emits and not r.rule.remediation:
            out.append(Issue("phantomkeys", r.name, "no phantomkeys.remediation"))
        if r.correlation is None:
            for name in sorted(detection_fields(doc)):
                if not F.known_field(name):
                    out.append(Issue("phantomkeys", r.name, f"unknown field {name}"))
    return out


def validate_pack(rules_paths: Sequence[Path] | None = None) -> list[Issue]:
    report = run_pysigma_validators(rules_paths)
    return [*report.issues, *pack_issues(rules_paths)]
