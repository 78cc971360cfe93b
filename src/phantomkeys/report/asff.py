"""``--format asff``: AWS Security Finding Format, ready for ``BatchImportFindings``.

One ASFF finding (SchemaVersion ``2018-10-08``) per phantomkeys finding:

* ``Id`` = the stable fingerprint, so a re-import updates the same Security Hub
  finding instead of creating a duplicate; ``GeneratorId`` = the rule id.
* ``ProductArn`` = the importing account's default product,
  ``arn:<partition>:securityhub:<region>:<account>:product/<account>/default``.
* ``AwsAccountId`` = the importing account. AWS: with the default product ARN
  "the identifier of the account that you are calling BatchImportFindings from
  needs to be the same as the AwsAccountId attribute for the finding"
  (BatchImportFindings API reference). So an Organization scan imported from
  the management account is filed under that account; the member account the
  finding is about stays in the resource ARN and in
  ``ProductFields["phantomkeys/account_id"]``.
* ``Severity.Label`` from the finding's severity; ``Types`` by command
  (configuration checks for scan and coverage, TTPs for hunt, sensitive data for
  leaks); ``Resources`` an ``AwsIamUser`` (with ``Details.AwsIamUser``) when
  the subject is an IAM user, else an ``AwsAccount`` or ``Other`` resource.

Field limits (Title 256, Description 1024, Recommendation.Text 512,
ProductFields 50 entries) are applied here so an import never fails on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from phantomkeys.report import document as doc
from phantomkeys.surfaces import partition_for_region

SCHEMA_VERSION = "2018-10-08"
DEFAULT_REGION = "us-east-1"

SEVERITY_LABEL = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}

#: ASFF ``Types`` (namespace/category/classifier) per command.
TYPES = {
    "scan": "Software and Configuration Checks/AWS Security Best Practices/API keys",
    "coverage": "Software and Configuration Checks/AWS Security Best Practices/Preventive controls",
    "hunt": "TTPs/Initial Access/Valid Accounts",
    "leaks": "Sensitive Data Identifications/Security/API keys",
}
_HUNT_TYPES_BY_TAG = {
    "llmjacking": "Effects/Resource Consumption/LLMjacking",
    "defense-evasion": "TTPs/Defense Evasion/Guardrail tampering",
}

_LIMITS = {"Title": 256, "Description": 1024, "Recommendation": 512, "ProductField": 2048}


def _clip(text: Any, limit: int) -> str:
    value = doc.text(text) or "-"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def account_of_arn(arn: Any) -> str | None:
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12:
            return parts[4]
    return None


def product_arn(partition: str, region: str, account_id: str) -> str:
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def _resource(subject: str, account_id: str | None, partition: str, region: str) -> dict[str, Any]:
    if ":user/" in subject and subject.startswith("arn:"):
        name = subject.rsplit("/", 1)[-1]
        return {
            "Type": "AwsIamUser",
            "Id": subject,
            "Partition": partition,
            "Region": region,
            "Details": {"AwsIamUser": {"UserName": name}},
        }
    if subject.startswith("arn:"):
        return {"Type": "Other", "Id": subject, "Partition": partition, "Region": region}
    if account_id and (subject.startswith("account/") or subject == account_id):
        return {
            "Type": "AwsAccount",
            "Id": f"AWS::::Account:{account_id}",
            "Partition": partition,
            "Region": region,
        }
    return {"Type": "Other", "Id": subject or "unknown", "Partition": partition, "Region": region}


def _types(command: str, rule: Mapping[str, Any]) -> list[str]:
    types = [TYPES.get(command, TYPES["scan"])]
    if command == "hunt":
        for tag in rule.get("tags") or ():
            extra = _HUNT_TYPES_BY_TAG.get(str(tag))
            if extra and extra not in types:
                types.append(extra)
    return types


def _product_fields(finding: Mapping[str, Any], command: str) -> dict[str, str]:
    fields = {
        "phantomkeys/command": command,
        "phantomkeys/rule_id": str(finding.get("rule_id")),
        "phantomkeys/fingerprint": str(finding.get("fingerprint")),
        "phantomkeys/subject": str(finding.get("subject")),
    }
    if finding.get("account_id"):
        fields["phantomkeys/account_id"] = str(finding["account_id"])
    location = doc.location_text(finding)
    if location:
        fields["phantomkeys/location"] = location
    evidence = finding.get("evidence")
    if isinstance(evidence, Mapping):
        for key, value in evidence.items():
            if len(fields) >= 50:
                break
            if value in (None, "", [], {}):
                continue
            fields[f"phantomkeys/evidence/{key}"] = _clip(value, _LIMITS["ProductField"])
    return fields


def to_asff(
    document: Mapping[str, Any],
    *,
    region: str | None = None,
    importer_account_id: str | None = None,
    partition: str | None = None,
) -> list[dict[str, Any]]:
    """ASFF findings for every finding of ``document``.

    ``importer_account_id`` is the account that will call ``BatchImportFindings``;
    by default the caller of the scan (``metadata.caller_arn``), else the
    finding's own account. Findings with no account at all are left out (ASFF
    requires one).
    """
    meta = doc.metadata(document)
    command = doc.command_of(document)
    region = (
        region
        or (meta.get("region") if isinstance(meta.get("region"), str) else None)
        or DEFAULT_REGION
    )
    partition = partition or partition_for_region(region)
    importer = importer_account_id or account_of_arn(meta.get("caller_arn"))
    when = doc.reference_time(document)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "1970-01-01T00:00:00Z"
    rules = doc.rules_by_id(document)
    out = []
    for finding in doc.findings(document):
        account_id = importer or (str(finding["account_id"]) if finding.get("account_id") else None)
        if account_id is None:
            continue
        rule = rules.get(str(finding.get("rule_id"))) or {}
        severity = str(finding.get("severity", "info"))
        label = SEVERITY_LABEL.get(severity, "INFORMATIONAL")
        types = _types(command, rule)
        subject = str(finding.get("subject") or "")
        finding_account = str(finding.get("account_id") or account_id)
        recommendation: dict[str, Any] = {
            "Text": _clip(
                finding.get("remediation") or rule.get("remediation"), _LIMITS["Recommendation"]
            )
        }
        refs = [
            r
            for r in rule.get("references") or ()
            if isinstance(r, str) and r.startswith("https://")
        ]
        if refs:
            recommendation["Url"] = refs[0]
        asff: dict[str, Any] = {
            "SchemaVersion": SCHEMA_VERSION,
            "Id": str(finding.get("fingerprint")),
            "ProductArn": product_arn(partition, region, account_id),
            "ProductName": "phantomkeys",
            "CompanyName": "phantomkeys",
            "GeneratorId": str(finding.get("rule_id")),
            "AwsAccountId": account_id,
            "Region": region,
            "Types": types,
            "CreatedAt": stamp,
            "UpdatedAt": stamp,
            "Severity": {"Label": label, "Original": severity},
            "Title": _clip(finding.get("title"), _LIMITS["Title"]),
            "Description": _clip(
                finding.get("rationale") or rule.get("rationale") or finding.get("title"),
                _LIMITS["Description"],
            ),
            "Remediation": {"Recommendation": recommendation},
            "ProductFields": _product_fields(finding, command),
            "Resources": [_resource(subject, finding_account, partition, region)],
            "RecordState": "ACTIVE",
            "Workflow": {"Status": "NEW"},
            "FindingProviderFields": {
                "Severity": {"Label": label, "Original": severity},
                "Types": types,
            },
        }
        evidence = finding.get("evidence")
        if command == "hunt" and isinstance(evidence, Mapping):
            first = doc.parse_time(evidence.get("first_seen"))
            last = doc.parse_time(evidence.get("last_seen"))
            if first:
                asff["FirstObservedAt"] = first.strftime("%Y-%m-%dT%H:%M:%SZ")
            if last:
                asff["LastObservedAt"] = last.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(asff)
    return out


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(to_asff(document), indent=2, ensure_ascii=False) + "\n"
