"""SARIF 2.1.0 for every report document: schema-valid, GitHub-ready, stable fingerprints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from phantomkeys._meta import envelope
from phantomkeys.core import keys
from phantomkeys.core.findings import Finding, Location, Rule, Severity
from phantomkeys.report import sarif
from phantomkeys.surfaces import BEDROCK

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_PATHS = [
    Path(__file__).resolve().parents[1] / "schemas/sarif-schema-2.1.0.json",
    Path("/work/shared/reference/schemas/sarif-schema-2.1.0.json"),
    Path(__file__).resolve().parents[3] / "shared/reference/schemas/sarif-schema-2.1.0.json",
    Path(__file__).resolve().parents[2] / "shared/reference/schemas/sarif-schema-2.1.0.json",
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    for path in SCHEMA_PATHS:
        if path.exists():
            schema = json.loads(path.read_text())
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            return cls(schema, format_checker=cls.FORMAT_CHECKER)
    pytest.skip("the official SARIF 2.1.0 schema (shared/reference/schemas) is not present")


RULE = Rule(
    "leaked-long-term-key",
    "Long-term API key leaked",
    Severity.CRITICAL,
    "A long-term key works until deleted.",
    "Run `phantomkeys revoke -`.",
    references=("https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys.html",),
    attack=("T1552.001",),
    tags=("leaks",),
)
LOGICAL_RULE = Rule(
    "PK-SCAN-002", "Phantom user holds an access key", Severity.MEDIUM, "Pivot.", "Delete it."
)


def _doc(findings: list[Finding], rules: list[Rule], **metadata: Any) -> dict[str, Any]:
    return envelope(
        metadata={"command": "leaks", **metadata},
        findings=[f.to_dict() for f in findings],
        rules=[r.to_dict() for r in rules],
    )


def _file_finding(path: str = "src/app settings.py", line: int = 7) -> Finding:
    return Finding.from_rule(
        RULE,
        subject="arn:aws:iam::123456789012:user/BedrockAPIKey-hr8l",
        account_id="123456789012",
        identity=("tok", path),
        evidence={"key_preview": "ABSKQmVkcm9j…[120 chars redacted]"},
        location=Location(path=path, line=line, column=12, commit="c0ffee"),
    )


def test_file_finding_maps_to_a_physical_location(validator: Any) -> None:
    log = sarif.build(_doc([_file_finding()], [RULE]))
    validator.validate(log)
    run = log["runs"][0]
    (result,) = run["results"]
    assert result["ruleId"] == "leaked-long-term-key"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    assert result["level"] == "error"
    phys = result["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "src/app%20settings.py"
    assert phys["region"] == {"startLine": 7, "startColumn": 12}
    assert result["partialFingerprints"] == {"phantomkeys/v1": _file_finding().fingerprint}
    assert result["properties"]["commit"] == "c0ffee"
    assert run["columnKind"] == "unicodeCodePoints"


def test_rules_carry_help_and_security_severity(validator: Any) -> None:
    log = sarif.build(_doc([], [RULE, LOGICAL_RULE]))
    validator.validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    r = rules["leaked-long-term-key"]
    assert r["properties"]["security-severity"] == "9.5"
    assert float(rules["PK-SCAN-002"]["properties"]["security-severity"]) == 5.5
    assert "phantomkeys revoke -" in r["help"]["text"]
    assert "A long-term key works until deleted." in r["help"]["markdown"]
    assert "external/attack/T1552.001" in r["properties"]["tags"]
    assert "security" in r["properties"]["tags"]
    assert r["defaultConfiguration"]["level"] == "error"
    assert r["helpUri"].startswith("https://")
    assert log["runs"][0]["tool"]["driver"]["version"]


@pytest.mark.parametrize(
    ("severity", "level", "score"),
    [
        (Severity.CRITICAL, "error", 9.5),
        (Severity.HIGH, "error", 8.0),
        (Severity.MEDIUM, "warning", 5.5),
        (Severity.LOW, "note", 3.0),
        (Severity.INFO, "note", 0.0),
    ],
)
def test_severity_mapping_matches_githubs_bands(
    severity: Severity, level: str, score: float
) -> None:
    f = Finding.from_rule(LOGICAL_RULE, subject="alice", account_id="1" * 12, severity=severity)
    (result,) = sarif.build(_doc([f], [LOGICAL_RULE]))["runs"][0]["results"]
    assert result["level"] == level
    assert float(result["properties"]["security-severity"]) == score
    # GitHub's bands: critical >= 9.0 > high >= 7.0 > medium >= 4.0 > low > 0
    band = (
        "critical"
        if score >= 9
        else "high"
        if score >= 7
        else "medium"
        if score >= 4
        else "low"
        if score > 0
        else "info"
    )
    assert band == severity.value


def test_finding_without_a_file_gets_a_logical_location(validator: Any) -> None:
    f = Finding.from_rule(LOGICAL_RULE, subject="BedrockAPIKey-hr8l", account_id="222222222222")
    log = sarif.build(
        _doc([f], [LOGICAL_RULE], errors=[{"account_id": "333333333333", "error": "AccessDenied"}])
    )
    validator.validate(log)
    (result,) = log["runs"][0]["results"]
    (logical,) = result["locations"][0]["logicalLocations"]
    assert logical["name"] == "BedrockAPIKey-hr8l"
    assert logical["fullyQualifiedName"] == "222222222222/BedrockAPIKey-hr8l"
    inv = log["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False  # an incomplete run must not look clean
    assert "AccessDenied" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_undeclared_rule_is_synthesised(validator: Any) -> None:
    f = _file_finding()
    log = sarif.build(_doc([f], []))
    validator.validate(log)
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == f.rule_id
    assert rule["properties"]["security-severity"] == "9.5"


def test_fingerprints_are_stable_across_runs_and_line_moves() -> None:
    a = sarif.build(_doc([_file_finding(line=7)], [RULE]))
    b = sarif.build(_doc([_file_finding(line=40)], [RULE]))
    fp = [log["runs"][0]["results"][0]["partialFingerprints"] for log in (a, b)]
    assert fp[0] == fp[1]


@pytest.mark.parametrize("name", ["scan", "hunt", "leaks", "coverage"])
def test_every_command_document_validates(validator: Any, name: str) -> None:
    path = FIXTURES / f"{name}.json"
    if not path.exists():
        pytest.skip(f"fixture {name}.json not present")
    document = json.loads(path.read_text())
    text = sarif.render(document)
    log = json.loads(text)
    validator.validate(log)
    results = log["runs"][0]["results"]
    assert len(results) == len(document.get("findings", []))
    assert all(r["partialFingerprints"]["phantomkeys/v1"] for r in results)
    assert log["runs"][0]["automationDetails"]["id"].startswith("phantomkeys/")


def test_a_key_slipped_into_a_document_is_redacted() -> None:
    key = keys.encode_long_term(
        BEDROCK,
        username="BedrockAPIKey-zz11",
        account_id="123456789012",
        secret="do-not-print-" + "Z" * 40,
    )
    f = Finding.from_rule(RULE, subject="x", account_id=None, evidence={"oops": key})
    text = sarif.render(_doc([f], [RULE]))
    assert key not in text
    assert "do-not-print" not in text


def test_real_leaks_document_validates(validator: Any, tmp_path: Path) -> None:
    from phantomkeys.leaks import ScanOptions, build_document, build_findings, scan

    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-hr8l", account_id="123456789012", secret="s" * 40
    )
    (tmp_path / "a.py").write_text(f"KEY = '{key}'\n")
    (tmp_path / "b.bin").write_bytes(b"\0\0" + key.encode())
    at = datetime(2026, 11, 29, tzinfo=UTC)
    result = scan([str(tmp_path)], ScanOptions(jobs=1))
    findings = build_findings(result.hits, at=at)
    document = build_document(result, findings, at=at, paths=[str(tmp_path)], options=ScanOptions())
    log = json.loads(sarif.render(document))
    validator.validate(log)
    assert len(log["runs"][0]["results"]) == 1
    assert key not in json.dumps(log)
