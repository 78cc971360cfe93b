"""OCSF Detection Findings and AWS Security Finding Format (ASFF)."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from tests.report.conftest import COMMANDS, load_fixture

from phantomkeys.report import asff, ocsf


@pytest.mark.parametrize("command", COMMANDS)
def test_ocsf_events_are_detection_findings_that_round_trip(command: str) -> None:
    document = load_fixture(command)
    events = json.loads(ocsf.render(document))
    assert len(events) == len(document["findings"])
    for event, finding in zip(events, document["findings"], strict=True):
        assert event["class_uid"] == 2004
        assert event["category_uid"] == 2
        assert event["type_uid"] == 200401  # class_uid * 100 + activity_id (Create)
        assert event["finding_info"]["uid"] == finding["fingerprint"]
        assert event["finding_info"]["analytic"]["uid"] == finding["rule_id"]
        assert event["metadata"]["product"]["name"] == "phantomkeys"
        DetectionFinding.model_validate(event)  # the model library accepts its own output


def test_ocsf_severity_mapping() -> None:
    events = json.loads(ocsf.render(load_fixture("scan")))
    by_sev = {e["severity"]: e["severity_id"] for e in events}
    assert by_sev == {"Critical": 5, "High": 4, "Medium": 3, "Low": 2}
    assert ocsf.SEVERITY_ID["info"] == 1


def test_ocsf_hunt_carries_the_activity_window_and_attack() -> None:
    events = json.loads(ocsf.render(load_fixture("hunt")))
    spike = next(e for e in events if e["finding_info"]["analytic"]["uid"] == "PK-HUNT-010")
    assert spike["count"] == 1874
    assert spike["start_time_dt"] == "2026-11-28T02:03:11Z"
    assert spike["finding_info"]["last_seen_time_dt"] == "2026-11-28T02:19:54Z"
    assert spike["finding_info"]["attacks"][0]["technique"]["uid"] == "T1496"
    assert spike["resources"][0]["type"] == "AwsIamUser"
    assert spike["cloud"]["account"]["uid"] == "222222222222"


def test_ocsf_time_is_the_report_time_not_the_clock() -> None:
    document = load_fixture("leaks")
    assert ocsf.render(document) == ocsf.render(document)
    event = json.loads(ocsf.render(document))[0]
    assert event["time"] == 1795946400000  # 2026-11-29T10:00:00Z in ms


# ------------------------------------------------------------------ ASFF


def _validate_against_botocore(findings: list[dict[str, Any]]) -> None:
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    report = ParamValidator().validate({"Findings": findings}, shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("command", COMMANDS)
def test_asff_matches_the_security_hub_api_model(command: str) -> None:
    findings = asff.to_asff(load_fixture(command))
    assert findings
    _validate_against_botocore(findings)


def test_asff_fields_for_an_org_scan() -> None:
    document = load_fixture("scan")
    findings = asff.to_asff(document, region="eu-west-1")
    by_id = {f["Id"]: f for f in findings}
    source = next(f for f in document["findings"] if f["account_id"] == "333333333333")
    item = by_id[source["fingerprint"]]
    assert item["SchemaVersion"] == "2018-10-08"
    assert item["GeneratorId"] == source["rule_id"]
    # filed under the importing (caller's) account, as BatchImportFindings requires
    assert item["AwsAccountId"] == "111111111111"
    assert item["ProductArn"] == (
        "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"
    )
    assert item["ProductFields"]["phantomkeys/account_id"] == "333333333333"
    assert item["Resources"][0] == {
        "Type": "AwsIamUser",
        "Id": "arn:aws:iam::333333333333:user/AeaApiKey-hx7q",
        "Partition": "aws",
        "Region": "eu-west-1",
        "Details": {"AwsIamUser": {"UserName": "AeaApiKey-hx7q"}},
    }
    assert item["Severity"] == {"Label": "CRITICAL", "Original": "critical"}
    assert item["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
    assert item["Types"][0].startswith("Software and Configuration Checks/")
    assert item["CreatedAt"] == "2026-11-29T10:00:00Z"


def test_asff_partition_follows_the_region() -> None:
    item = asff.to_asff(load_fixture("scan"), region="us-gov-west-1")[0]
    assert item["ProductArn"].startswith("arn:aws-us-gov:securityhub:us-gov-west-1:")


def test_asff_hunt_types_and_observation_window() -> None:
    findings = asff.to_asff(load_fixture("hunt"))
    spike = next(f for f in findings if f["GeneratorId"] == "PK-HUNT-010")
    assert spike["Types"] == [
        "TTPs/Initial Access/Valid Accounts",
        "Effects/Resource Consumption/LLMjacking",
    ]
    assert spike["FirstObservedAt"] == "2026-11-28T02:03:11Z"
    assert spike["LastObservedAt"] == "2026-11-28T02:19:54Z"


def test_asff_coverage_resource_is_the_account() -> None:
    item = asff.to_asff(load_fixture("coverage"))[0]
    assert item["Resources"][0]["Type"] == "AwsAccount"
    assert item["Resources"][0]["Id"] == f"AWS::::Account:{item['AwsAccountId']}"


def test_asff_respects_field_limits() -> None:
    document = load_fixture("leaks")
    document["findings"][0]["title"] = "t" * 1000
    document["findings"][0]["rationale"] = "d" * 5000
    document["findings"][0]["remediation"] = "r" * 2000
    document["findings"][0]["evidence"] = {f"k{i}": f"v{i}" for i in range(80)}
    item = asff.to_asff(document)[0]
    assert len(item["Title"]) == 256
    assert len(item["Description"]) == 1024
    assert len(item["Remediation"]["Recommendation"]["Text"]) == 512
    assert len(item["ProductFields"]) == 50
    _validate_against_botocore([item])


def test_asff_leaves_out_findings_without_any_account() -> None:
    document = load_fixture("leaks")
    document["findings"][0]["account_id"] = None
    assert len(asff.to_asff(document)) == len(document["findings"]) - 1
