"""``--format ocsf``: OCSF Detection Finding events (class 2004), one per finding.

Built with ``py-ocsf-models`` (the model library prowler uses), so every event
is validated against the OCSF object model while it is built. The output is a
JSON array, the shape Security Lake, OpenSearch and most SIEM OCSF pipelines
ingest.

Mapping:

* ``severity_id``: critical=5, high=4, medium=3, low=2, info=1 (OCSF
  ``SeverityID``; the same mapping prowler uses).
* ``finding_info.uid`` = the finding's stable ``fingerprint``; ``analytic`` =
  the rule; ``finding_info.types`` = the rule's tags; ATT&CK technique ids in
  ``finding_info.attacks``.
* ``resources``: the subject (an IAM user ARN, a role session, a key id or an
  account) with its account and partition; ``evidences[].data`` = the evidence.
* ``time`` = the report's ``scan_time`` (or the hunt's ``until``) in epoch
  milliseconds, never the wall clock, so the same document gives the same
  events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.account import Account, TypeID
from py_ocsf_models.objects.analytic import Analytic
from py_ocsf_models.objects.cloud import Cloud
from py_ocsf_models.objects.evidence_artifacts import EvidenceArtifacts
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.mitre_attack import MITREAttack, SubTechnique, Technique
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.remediation import Remediation
from py_ocsf_models.objects.resource_details import ResourceDetails

from phantomkeys.report import document as doc
from phantomkeys.surfaces import partition_for_region

SEVERITY_ID: dict[str, SeverityID] = {
    "critical": SeverityID.Critical,
    "high": SeverityID.High,
    "medium": SeverityID.Medium,
    "low": SeverityID.Low,
    "info": SeverityID.Informational,
}

#: OCSF analytic type 1 = "Rule".
_ANALYTIC_RULE = 1


def _epoch_ms(when: datetime | None) -> int:
    return int((when or datetime(1970, 1, 1, tzinfo=UTC)).timestamp() * 1000)


def _partition(subject: str, region: str | None) -> str:
    if subject.startswith("arn:"):
        parts = subject.split(":")
        if len(parts) > 1 and parts[1]:
            return parts[1]
    return partition_for_region(region)


def _resource_type(subject: str) -> str:
    if ":user/" in subject:
        return "AwsIamUser"
    if ":assumed-role/" in subject:
        return "AwsIamRoleSession"
    if ":role/" in subject:
        return "AwsIamRole"
    if subject.startswith("account/"):
        return "AwsAccount"
    if subject.startswith(("AKIA", "ASIA")):
        return "AwsIamAccessKey"
    return "Other"


def _attacks(rule: Mapping[str, Any]) -> list[MITREAttack] | None:
    techniques = [str(t) for t in rule.get("attack") or () if t]
    if not techniques:
        return None
    out = []
    for technique in techniques:
        base, _, sub = technique.partition(".")
        out.append(
            MITREAttack(
                technique=Technique(
                    uid=base, name=base, src_url=f"https://attack.mitre.org/techniques/{base}/"
                ),
                sub_technique=SubTechnique(uid=technique, name=technique) if sub else None,
            )
        )
    return out


def event(finding: Mapping[str, Any], document: Mapping[str, Any]) -> DetectionFinding:
    """One OCSF Detection Finding for one phantomkeys finding."""
    meta = doc.metadata(document)
    tool = document.get("tool") or {}
    rule = doc.rules_by_id(document).get(str(finding.get("rule_id"))) or {}
    when = doc.reference_time(document)
    severity = str(finding.get("severity", ""))
    subject = str(finding.get("subject") or "")
    account_id = finding.get("account_id")
    region = meta.get("region") if isinstance(meta.get("region"), str) else None
    partition = _partition(subject, region)
    evidence = finding.get("evidence")
    unmapped: dict[str, Any] = {
        "phantomkeys": {"command": doc.command_of(document), "rule_id": finding.get("rule_id")}
    }
    if finding.get("location"):
        unmapped["phantomkeys"]["location"] = finding["location"]

    first_seen = last_seen = None
    count = None
    if isinstance(evidence, Mapping):
        first_seen = doc.parse_time(evidence.get("first_seen"))
        last_seen = doc.parse_time(evidence.get("last_seen"))
        count = evidence.get("count") if isinstance(evidence.get("count"), int) else None
    account = (
        Account(
            name=str(account_id),
            type_id=TypeID.AWS_Account,
            type="AWS Account",
            uid=str(account_id),
        )
        if account_id
        else None
    )
    return DetectionFinding(
        metadata=Metadata(
            product=Product(
                name=str(tool.get("name") or "phantomkeys"),
                vendor_name="phantomkeys",
                version=str(tool.get("version") or ""),
            ),
            event_code=str(finding.get("rule_id")),
            uid=str(finding.get("fingerprint")),
            profiles=["cloud"],
        ),
        activity_id=ActivityID.Create,
        activity_name="Create",
        type_uid=DetectionFindingTypeID.Create,
        type_name="Detection Finding: Create",
        severity_id=SEVERITY_ID.get(severity, SeverityID.Unknown),
        severity=severity.capitalize() if severity in SEVERITY_ID else "Unknown",
        status_id=StatusID.New,
        status="New",
        time=_epoch_ms(when),
        time_dt=when,
        message=str(finding.get("title")),
        finding_info=FindingInformation(
            uid=str(finding.get("fingerprint")),
            title=str(finding.get("title")),
            desc=str(finding.get("rationale") or rule.get("rationale") or finding.get("title")),
            types=[str(t) for t in rule.get("tags") or ()] or None,
            analytic=Analytic(
                uid=str(finding.get("rule_id")),
                name=str(rule.get("title") or finding.get("title")),
                type_id=_ANALYTIC_RULE,
                type="Rule",
            ),
            attacks=_attacks(rule),
            created_time=_epoch_ms(when),
            created_time_dt=when,
            first_seen_time=_epoch_ms(first_seen) if first_seen else None,
            first_seen_time_dt=first_seen,
            last_seen_time=_epoch_ms(last_seen) if last_seen else None,
            last_seen_time_dt=last_seen,
        ),
        start_time=_epoch_ms(first_seen) if first_seen else None,
        start_time_dt=first_seen,
        end_time=_epoch_ms(last_seen) if last_seen else None,
        end_time_dt=last_seen,
        count=count,
        cloud=Cloud(provider="AWS", account=account, region=region),
        resources=[
            ResourceDetails(
                uid=subject,
                name=subject.rsplit("/", 1)[-1] or subject,
                type=_resource_type(subject),
                cloud_partition=partition,
                region=region,
                data={"account_id": account_id} if account_id else None,
            )
        ],
        evidences=(
            [EvidenceArtifacts(data=dict(evidence))]
            if isinstance(evidence, Mapping) and evidence
            else None
        ),
        remediation=Remediation(
            desc=str(finding.get("remediation") or rule.get("remediation") or ""),
            references=[str(r) for r in rule.get("references") or ()] or None,
        ),
        unmapped=unmapped,
    )


def events(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        event(f, document).model_dump(mode="json", exclude_none=True)
        for f in doc.findings(document)
    ]


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(events(document), indent=2, ensure_ascii=False) + "\n"
