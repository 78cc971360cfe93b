"""scp validate: syntax, grammar, size, the IAM catalog and the API-key traps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.core.controls.validate import RULES, PolicyInput, validate_policies
from phantomkeys.core.findings import Severity

from .samples import AWS_SAMPLE_30_DAYS, AWS_SAMPLE_LONG_TERM


def _run(catalog, *documents: Any, raw: str | None = None) -> list:
    inputs = [
        PolicyInput(f"policy{n}.json", json.dumps(d, indent=2)) for n, d in enumerate(documents, 1)
    ]
    if raw is not None:
        inputs.append(PolicyInput("raw.json", raw))
    return validate_policies(inputs, catalog)


def _ids(findings) -> list[str]:
    return sorted(f.rule_id for f in findings)


def _deny(
    action: Any, condition: dict[str, Any] | None = None, sid: str = "S1", **extra: Any
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Deny", "Action": action, "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    statement.update(extra)
    return {"Version": "2012-10-17", "Statement": [statement]}


def test_rules_have_complete_metadata() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.id.startswith("scp-")
        assert rule.title
        assert rule.rationale
        assert rule.remediation
        assert rule.references


def test_aws_sample_30_day_policy_reports_missing_null_guard_and_off_by_one(catalog) -> None:
    findings = _run(catalog, AWS_SAMPLE_30_DAYS)
    assert _ids(findings) == ["scp-age-cap-off-by-one", "scp-age-cap-without-null-guard"]
    guard = next(f for f in findings if f.rule_id == "scp-age-cap-without-null-guard")
    assert guard.severity is Severity.HIGH
    assert guard.subject == "policy1.json#DenyBedrockApiKeysLongerThan30Days"
    assert guard.location is not None
    assert guard.location.line == 5
    off = next(f for f in findings if f.rule_id == "scp-age-cap-off-by-one")
    assert off.evidence["effective_maximum_days"] == ["29"]


def test_null_guard_in_another_file_satisfies_the_set(catalog) -> None:
    guard = _deny(
        "iam:CreateServiceSpecificCredential",
        {"Null": {"iam:ServiceSpecificCredentialAgeDays": "true"}},
        sid="Guard",
    )
    assert _ids(_run(catalog, AWS_SAMPLE_30_DAYS, guard)) == ["scp-age-cap-off-by-one"]


def test_if_exists_operator_counts_as_a_guard(catalog) -> None:
    policy = _deny(
        "iam:CreateServiceSpecificCredential",
        {"NumericGreaterThanIfExists": {"iam:ServiceSpecificCredentialAgeDays": "30"}},
    )
    assert _run(catalog, policy) == []


def test_aws_sample_long_term_policy_misses_mantle_and_uses_lower_case_key(catalog) -> None:
    findings = _run(catalog, AWS_SAMPLE_LONG_TERM)
    assert _ids(findings) == ["scp-bearer-action-not-covered", "scp-name-case"]
    mantle = next(f for f in findings if f.rule_id == "scp-bearer-action-not-covered")
    assert mantle.evidence["not_denied"] == "bedrock-mantle:CallWithBearerToken"
    case = next(f for f in findings if f.rule_id == "scp-name-case")
    assert case.evidence == {
        "name": "bedrock:bearerTokenType",
        "documented": "bedrock:BearerTokenType",
    }
    assert case.severity is Severity.LOW


def test_typo_in_condition_key_is_caught_with_a_suggestion(catalog) -> None:
    policy = _deny(
        "iam:CreateServiceSpecificCredential",
        {"NumericGreaterThan": {"iam:ServiceSpecificCredentialAge": "30"}},
    )
    findings = _run(catalog, policy)
    assert _ids(findings) == ["scp-unknown-condition-key"]
    assert findings[0].evidence["did_you_mean"] == "iam:ServiceSpecificCredentialAgeDays"
    assert findings[0].severity is Severity.HIGH


@pytest.mark.parametrize(
    ("action", "suggestion"),
    [
        ("bedrock:CallWithBearerTokens", "bedrock:CallWithBearerToken"),
        ("iam:CreateServiceSpecificCredentials", "iam:CreateServiceSpecificCredential"),
        ("bedrock-mantel:CallWithBearerToken", None),
    ],
)
def test_unknown_actions_are_caught(catalog, action, suggestion) -> None:
    findings = _run(catalog, _deny(action))
    assert _ids(findings) == ["scp-unknown-action"]
    assert findings[0].evidence.get("did_you_mean") == suggestion


def test_wildcards_are_expanded_against_the_catalog(catalog) -> None:
    assert _run(catalog, _deny(["bedrock:*", "bedrock-mantle:*", "iam:*ServiceSpecific*"])) == []
    findings = _run(catalog, _deny("bedrock:NoSuchThing*"))
    assert _ids(findings) == ["scp-unknown-action"]


def test_type_key_on_the_wrong_action_never_matches(catalog) -> None:
    policy = _deny(
        "bedrock-mantle:CallWithBearerToken",
        {"StringEquals": {"bedrock:BearerTokenType": "LONG_TERM"}},
    )
    findings = _run(catalog, policy)
    assert "scp-condition-key-not-applicable" in _ids(findings)


def test_bearer_token_type_values_must_be_the_documented_ones(catalog) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "A",
                "Effect": "Deny",
                "Action": "bedrock:CallWithBearerToken",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"bedrock:BearerTokenType": ["long_term", "LONG_TERM"]}
                },
            },
            {
                "Sid": "B",
                "Effect": "Deny",
                "Action": "bedrock-mantle:CallWithBearerToken",
                "Resource": "*",
                "Condition": {"StringEquals": {"bedrock-mantle:BearerTokenType": "LONG_TERM"}},
            },
        ],
    }
    findings = _run(catalog, policy)
    # Statement B is valid but sidestepped: Mantle's type values are unpublished.
    assert sorted(_ids(findings)) == ["scp-condition-value", "scp-long-term-value-unpublished"]
    bad = next(f for f in findings if f.rule_id == "scp-condition-value")
    assert bad.evidence["values"] == ["long_term"]


def test_mantle_long_term_deny_with_string_equals_is_warned(catalog) -> None:
    """issue 18: Mantle's CloudTrail records bearerTokenType "ABSK"; StringEquals
    LONG_TERM on bedrock-mantle:BearerTokenType can be sidestepped."""
    weak = _deny(
        "bedrock-mantle:CallWithBearerToken",
        {"StringEquals": {"bedrock-mantle:BearerTokenType": "LONG_TERM"}},
    )
    findings = _run(catalog, weak)
    warned = [f for f in findings if f.rule_id == "scp-long-term-value-unpublished"]
    assert len(warned) == 1
    assert warned[0].severity.value == "medium"
    strong = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "A",
                "Effect": "Deny",
                "Action": "bedrock-mantle:CallWithBearerToken",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"bedrock-mantle:BearerTokenType": "SHORT_TERM"}},
            },
            {
                "Sid": "B",
                "Effect": "Deny",
                "Action": "bedrock-mantle:CallWithBearerToken",
                "Resource": "*",
                "Condition": {"Null": {"bedrock-mantle:BearerTokenType": "true"}},
            },
        ],
    }
    assert "scp-long-term-value-unpublished" not in _ids(_run(catalog, strong))
    # bedrock:BearerTokenType's values are published: StringEquals LONG_TERM is fine.
    published = _deny(
        "bedrock:CallWithBearerToken",
        {"StringEquals": {"bedrock:BearerTokenType": "LONG_TERM"}},
    )
    assert "scp-long-term-value-unpublished" not in _ids(_run(catalog, published))


def test_credential_service_name_must_be_a_real_service(catalog) -> None:
    policy = _deny(
        "iam:CreateServiceSpecificCredential",
        {"StringEquals": {"iam:ServiceSpecificCredentialServiceName": "bedrock"}},
    )
    findings = _run(catalog, policy)
    assert _ids(findings) == ["scp-condition-value"]
    assert "bedrock.amazonaws.com" in findings[0].evidence["expected"]


def test_grammar_errors(catalog) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Bad-Sid",
                "Effect": "Block",
                "Action": "bedrock:CallWithBearerToken",
                "NotAction": "bedrock:InvokeModel",
                "Resource": "*",
                "Principal": {"AWS": "*"},
            },
        ],
    }
    findings = _run(catalog, policy)
    problems = " | ".join(str(f.evidence.get("problem")) for f in findings)
    assert "Principal is not supported in SCPs" in problems
    assert "Sid must be letters and digits only" in problems
    assert "Effect must be Allow or Deny" in problems
    assert "exactly one of Action or NotAction" in problems
    assert {f.rule_id for f in findings} == {"scp-grammar"}


def test_wrong_version_and_unknown_operator(catalog) -> None:
    policy = _deny(
        "iam:CreateServiceSpecificCredential",
        {"NumericGreaterThanOrEqual": {"iam:ServiceSpecificCredentialAgeDays": "30"}},
    )
    policy["Version"] = "2012-10-18"
    assert _ids(_run(catalog, policy)) == ["scp-grammar", "scp-unknown-condition-operator"]


def test_invalid_json_reports_line_and_column(catalog) -> None:
    raw = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Deny",}\n  ]\n}\n'
    findings = _run(catalog, raw=raw)
    assert _ids(findings) == ["scp-invalid-json"]
    assert findings[0].location is not None
    assert findings[0].location.line == 4
    assert findings[0].severity is Severity.HIGH


def test_duplicate_json_keys_are_reported(catalog) -> None:
    raw = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny",'
        '"Action":"iam:CreateServiceSpecificCredential","Resource":"*","Condition":{'
        '"StringEquals":{"iam:ServiceSpecificCredentialServiceName":"bedrock.amazonaws.com"},'
        '"StringEquals":{"iam:ServiceSpecificCredentialServiceName":'
        '"aws-external-anthropic.amazonaws.com"}}}]}'
    )
    findings = _run(catalog, raw=raw)
    assert _ids(findings) == ["scp-grammar"]
    assert "duplicate JSON key 'StringEquals'" in findings[0].evidence["problem"]


def test_size_limit(catalog) -> None:
    actions = sorted(catalog.expand("ec2:Describe*"))
    big = _deny(actions)
    findings = _run(catalog, big)
    assert "scp-too-large" in _ids(findings)
    too_large = next(f for f in findings if f.rule_id == "scp-too-large")
    assert too_large.evidence["characters"] > 5120
    # A policy that fits only once minified: a low finding, not an error.
    fits = _deny(actions[:100])
    pretty = json.dumps(fits, indent=8)
    assert len(pretty) > 5120 >= len(json.dumps(fits, separators=(",", ":")))
    findings = validate_policies([PolicyInput("pretty.json", pretty)], catalog)
    assert _ids(findings) == ["scp-not-minified"]
    assert findings[0].severity is Severity.LOW


def test_json_lines_from_a_split_generate_are_validated_one_by_one(catalog) -> None:
    exempt = tuple(f"arn:aws:iam::{n:012d}:role/BreakGlassAdministrator" for n in range(40))
    policies = generate_policies(
        ScpOptions(presets=tuple(Preset), max_age_days=30, exempt_principals=exempt)
    )
    text = "\n".join(p.content for p in policies) + "\n"
    assert validate_policies([PolicyInput("split.jsonl", text)], catalog) == []
    broken = text.replace('"Effect":"Deny"', '"Effect":"Dany"', 1)  # same size
    findings = validate_policies([PolicyInput("split.jsonl", broken)], catalog)
    assert [f.subject for f in findings] == ["split.jsonl:1#DenyApiKeyCreation"]
    assert "Effect must be Allow or Deny" in findings[0].evidence["problem"]


def test_findings_have_stable_fingerprints(catalog) -> None:
    first = _run(catalog, AWS_SAMPLE_30_DAYS, AWS_SAMPLE_LONG_TERM)
    second = _run(catalog, AWS_SAMPLE_30_DAYS, AWS_SAMPLE_LONG_TERM)
    assert [f.fingerprint for f in first] == [f.fingerprint for f in second]
    assert len({f.fingerprint for f in first}) == len(first)
