"""The rule pack: metadata, agreement with surfaces.py, pySigma validators."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from phantomkeys.core.findings import Severity
from phantomkeys.surfaces import OTHER_CREDENTIAL_SERVICES, SURFACES
from phantomkeys.trail import fields as F
from phantomkeys.trail.pack import (
    LEVEL_SEVERITY,
    CorrelationType,
    PackError,
    detection_fields,
    load_documents,
    load_pack,
)
from phantomkeys.trail.validate import pack_issues, run_pysigma_validators

PACK = load_pack()


def _values(doc: dict[str, Any], field: str) -> set[str]:
    """Every literal a rule compares ``field`` with (any modifier)."""
    out: set[str] = set()
    for key, sel in (doc.get("detection") or {}).items():
        if key == "condition":
            continue
        for item in sel if isinstance(sel, list) else [sel]:
            if not isinstance(item, dict):
                continue
            for k, v in item.items():
                if str(k).split("|", 1)[0] == field:
                    vals = v if isinstance(v, list) else [v]
                    out.update(str(x) for x in vals if x is not None)
    return out


def test_pack_covers_the_whole_chain() -> None:
    names = {r.name for r in PACK}
    expected = {
        "api-key-created",
        "api-key-created-without-expiry",
        "phantom-user-created",
        "bearer-token-call",
        "long-term-key-call",
        "bearer-new-source-ip",
        "bearer-new-user-agent",
        "bearer-new-region",
        "cross-region-burst",
        "invocation-spike",
        "model-access-recon",
        "phantom-user-credential-added",
        "phantom-user-policy-added",
        "phantom-user-pivot",
        "phantom-user-claude-policy-escalated",
        "model-access-probe",
        "recon-then-invoke",
        "bearer-token-guardrail-tampering",
        "bearer-token-destructive-action",
        "bearer-token-costly-resource",
        "key-logging-tampering",
    }
    assert expected <= names


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.name)
def test_rule_metadata_is_complete(rule: Any) -> None:
    doc = rule.document
    assert uuid.UUID(str(doc["id"])).version == 4
    assert doc["status"] in ("experimental", "test", "stable")
    assert doc["author"]
    assert doc["date"]
    assert doc["references"]
    assert doc["falsepositives"]
    assert len(doc["description"]) > 60
    assert rule.severity is LEVEL_SEVERITY[doc["level"]]
    assert rule.rule.attack
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in rule.rule.attack)
    if rule.emits:
        assert rule.rule.remediation, "findings need a remediation"
    if rule.correlation is None:
        assert doc["logsource"] == {"product": "aws", "service": "cloudtrail"}
        assert all(F.known_field(f) for f in detection_fields(doc))


def test_ids_and_names_are_unique() -> None:
    assert len({r.sigma_id for r in PACK}) == len(PACK)
    assert len({r.name for r in PACK}) == len(PACK)


def test_thresholds_and_windows_are_correlations() -> None:
    by_name = {r.name: r for r in PACK}
    for name in (
        "invocation-spike",
        "cross-region-burst",
        "model-access-recon",
        "bearer-new-source-ip",
        "bearer-new-user-agent",
        "bearer-new-region",
    ):
        corr = by_name[name].correlation
        assert corr is not None
        assert corr.group_by == ("recipientAccountId", "userIdentity.arn")
    spike = by_name["invocation-spike"].correlation
    assert spike is not None
    assert spike.type is CorrelationType.EVENT_COUNT
    # Across regions: the region is not a group key of any volume rule.
    assert all("awsRegion" not in (r.correlation.group_by if r.correlation else ()) for r in PACK)
    # Base rules used only by correlations do not emit findings themselves.
    assert not by_name["bearer-token-invocation"].emits
    assert by_name["bearer-token-call"].emits  # its correlations say generate: true


def test_yaml_agrees_with_surfaces() -> None:
    docs = {d["name"]: d for _, d in load_documents()}
    sources = {s for surface in SURFACES for s in surface.event_sources}
    prefixes = {surface.phantom_user_prefix for surface in SURFACES}
    services = {surface.credential_service for surface in SURFACES}
    # Claude Platform: the IAM User Guide names AnthropicInferenceAccess, others
    # AnthropicLimitedAccess (docs/aws-facts.md); the rules accept both.
    policies = {f":policy/{surface.managed_policy_name}" for surface in SURFACES} | {
        ":policy/AnthropicInferenceAccess",
        ":policy/AnthropicLimitedAccess",
    }

    # Every rule about key traffic names every surface's event sources, and nothing else.
    for name in (
        "bearer-token-call",
        "bearer-token-invocation",
        "long-term-key-call",
        "bearer-token-http-tool",
        "model-recon-call",
        "model-access-probe",
        "model-invocation-call",
    ):
        assert _values(docs[name], "eventSource") == sources, name
    # Phantom users are recognised by every surface's prefix.
    for name, field in (
        ("phantom-user-created", "requestParameters.userName"),
        ("phantom-user-credential-added", "requestParameters.userName"),
        ("phantom-user-policy-added", "requestParameters.userName"),
        ("api-key-secret-reset", "requestParameters.userName"),
        ("phantom-user-pivot", "userIdentity.userName"),
        ("api-key-secret-reset", "userIdentity.userName"),
        ("phantom-user-credential-added", "userIdentity.userName"),
        ("long-term-key-call", "userIdentity.userName"),
        ("key-logging-tampering", "userIdentity.userName"),
    ):
        assert _values(docs[name], field) == prefixes, name
    for name in (
        "api-key-created",
        "api-key-created-without-expiry",
        "phantom-user-credential-added",
    ):
        assert _values(docs[name], "requestParameters.serviceName") == services, name
    assert not services & set(OTHER_CREDENTIAL_SERVICES)
    assert _values(docs["phantom-user-policy-added"], "requestParameters.policyArn") == policies


def test_pysigma_validators_pass() -> None:
    report = run_pysigma_validators()
    assert report.issues == ()
    # The offline run still covers the structural validators.
    assert {
        "identifier_existence",
        "identifier_uniqueness",
        "dangling_detection",
        "sigmahq_title_case",
        "sigmahq_falsepositives_banned_word",
    } <= set(report.ran)
    assert pack_issues() == []


def test_bad_rule_files_are_refused(tmp_path: Any) -> None:
    (tmp_path / "x.yml").write_text(
        "title: t\nname: x\nid: 4e5f23da-ffcd-4dd5-9ec2-46fe50c3fad1\n"
        "level: high\ndescription: d\ndetection:\n  sel:\n"
        "    eventName: X\n  condition: sel\n"
    )
    (tmp_path / "y.yml").write_text(
        "title: c\nname: y\nid: 4e5f23da-ffcd-4dd5-9ec2-46fe50c3fad2\nlevel: high\n"
        "description: d\ncorrelation:\n  type: event_count\n  rules: [nope]\n"
        "  group-by: [userIdentity.arn]\n  timespan: 5m\n  condition: {gte: 3}\n"
    )
    with pytest.raises(PackError, match="unknown rule nope"):
        load_pack([tmp_path])
    (tmp_path / "y.yml").write_text(
        "title: c\nname: y\nid: 4e5f23da-ffcd-4dd5-9ec2-46fe50c3fad2\nlevel: high\n"
        "description: d\ncorrelation:\n  type: event_count\n  rules: [x]\n"
        "  group-by: [userIdentity.arn]\n  timespan: 5m\n  condition: {lt: 3}\n"
    )
    with pytest.raises(PackError, match="gte or gt"):
        load_pack([tmp_path])


def test_severity_from_level() -> None:
    assert PACK.get("key-logging-tampering").severity is Severity.CRITICAL
    assert PACK.get("bearer-token-call").severity is Severity.INFO
