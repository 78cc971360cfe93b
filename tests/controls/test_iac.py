"""Terraform and CloudFormation output, parsed back; alert patterns matched against events."""

from __future__ import annotations

import json
import re
from typing import Any

import hcl2
import pytest
import yaml

from phantomkeys.core.controls.alerts import (
    AlertScope,
    build_alert_rules,
    deployment_regions,
    rules_for_region,
)
from phantomkeys.core.controls.iac import (
    render_alerts_cloudformation,
    render_alerts_terraform,
    render_scp_cloudformation,
    render_scp_terraform,
)
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.surfaces import BEDROCK, SURFACES

EXEMPT = "arn:aws:iam::*:role/${aws:username}-breakglass"  # a policy variable: must survive HCL


def _policies(**kwargs: Any) -> list:
    options = ScpOptions(
        presets=(Preset.BLOCK_LONG_TERM, Preset.MAX_AGE, Preset.BLOCK_PIVOT),
        max_age_days=30,
        exempt_principals=(EXEMPT,),
        **kwargs,
    )
    return generate_policies(options)


def _unquote(text: str) -> str:
    return json.loads(text) if text.startswith('"') else text


def _jsonencode_body(expression: str) -> Any:
    """``${jsonencode({"k" = "v", ...})}`` as python-hcl2 returns it -> the JSON value."""
    match = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", expression, re.DOTALL)
    assert match, expression[:80]
    body = re.sub(r'"\s*=\s*', '": ', match.group(1)).replace("$${", "${")
    return json.loads(body)


def _resources(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in parsed.get("resource", []):
        for rtype, named in block.items():
            if _unquote(rtype) == kind:
                for name, body in named.items():
                    out[_unquote(name)] = body
    return out


# ----------------------------------------------------------------- SCP IaC


def test_scp_terraform_parses_and_carries_the_exact_policy() -> None:
    policies = _policies()
    text = render_scp_terraform(
        policies, targets=("ou-ab12-34567890", "111122223333"), header=["test"]
    )
    parsed = hcl2.loads(text)
    resources = _resources(parsed, "aws_organizations_policy")
    assert len(resources) == 1
    body = next(iter(resources.values()))
    assert _unquote(body["name"]) == policies[0].name
    assert _unquote(body["type"]) == "SERVICE_CONTROL_POLICY"
    assert _jsonencode_body(body["content"]) == policies[0].document
    attachments = _resources(parsed, "aws_organizations_policy_attachment")
    assert sorted(_unquote(a["target_id"]) for a in attachments.values()) == [
        "111122223333",
        "ou-ab12-34567890",
    ]


def test_scp_terraform_with_split_policies_has_one_resource_per_part() -> None:
    exempt = tuple(f"arn:aws:iam::{n:012d}:role/BreakGlassAdministrator" for n in range(40))
    policies = generate_policies(
        ScpOptions(presets=tuple(Preset), max_age_days=30, exempt_principals=exempt)
    )
    assert len(policies) > 1
    parsed = hcl2.loads(render_scp_terraform(policies))
    resources = _resources(parsed, "aws_organizations_policy")
    assert sorted(_unquote(r["name"]) for r in resources.values()) == sorted(
        p.name for p in policies
    )
    documents = sorted((_jsonencode_body(r["content"]) for r in resources.values()), key=json.dumps)
    assert documents == sorted((p.document for p in policies), key=json.dumps)


def test_scp_cloudformation_parses_and_content_is_minified_policy() -> None:
    policies = _policies()
    template = yaml.safe_load(render_scp_cloudformation(policies, targets=("r-ab12",)))
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    ((logical, resource),) = template["Resources"].items()
    assert resource["Type"] == "AWS::Organizations::Policy"
    props = resource["Properties"]
    assert props["Content"] == policies[0].content  # a string: its size is what AWS counts
    assert json.loads(props["Content"]) == policies[0].document
    assert props["TargetIds"] == ["r-ab12"]
    assert template["Outputs"][f"{logical}Id"]["Value"] == {"Ref": logical}


cfnlint_api = pytest.importorskip("cfnlint.api")


def _cfn_lint(text: str) -> list[str]:
    matches = cfnlint_api.lint(text, regions=["us-east-1"])
    return [f"{m.rule.id} {m.message}" for m in matches]


def test_scp_cloudformation_passes_cfn_lint() -> None:
    assert _cfn_lint(render_scp_cloudformation(_policies(), targets=("r-ab12",))) == []


@pytest.mark.parametrize("topic", [None, "arn:aws:sns:us-east-1:111122223333:security-alerts"])
def test_alerts_cloudformation_passes_cfn_lint(topic) -> None:
    text = render_alerts_cloudformation(
        build_alert_rules(SURFACES), topic_arn=topic, home_region="us-east-1"
    )
    assert "&id" not in text  # CloudFormation rejects YAML aliases
    assert _cfn_lint(text) == []
    template = yaml.safe_load(text)
    rules = {
        r["Properties"]["Name"]: r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
    }
    by_name = {r.name: r for r in build_alert_rules(SURFACES)}
    assert set(rules) == set(by_name)
    for name, resource in rules.items():
        assert resource["Properties"]["EventPattern"] == by_name[name].pattern
        iam_only = by_name[name].scope is AlertScope.IAM_HOME
        assert (resource.get("Condition") == "InIamHomeRegion") is iam_only
    assert template["Parameters"]["AlertTopicArn"]["Default"] == (topic or "")


def test_alerts_terraform_parses_with_patterns_and_region_gating() -> None:
    rules = build_alert_rules(SURFACES)
    parsed = hcl2.loads(render_alerts_terraform(rules, topic_arn=None, home_region="us-east-1"))
    resources = _resources(parsed, "aws_cloudwatch_event_rule")
    assert len(resources) == len(rules)
    by_name = {r.name: r for r in rules}
    for body in resources.values():
        rule = by_name[_unquote(body["name"])]
        assert _jsonencode_body(body["event_pattern"]) == rule.pattern
        assert ("count" in body) is (rule.scope is AlertScope.IAM_HOME)
    targets = _resources(parsed, "aws_cloudwatch_event_target")
    assert all(t["arn"] == "${local.topic_arn}" for t in targets.values())


# ----------------------------------------------------------------- patterns vs events


def _matches(pattern: Any, event: Any) -> bool:
    """A small EventBridge matcher: values, prefix, suffix, anything-but, $or."""
    if not isinstance(pattern, dict):
        raise TypeError(pattern)
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_matches(alt, event) for alt in expected):
                return False
            continue
        if not isinstance(event, dict) or key not in event:
            return False
        value = event[key]
        if isinstance(expected, dict):
            if not _matches(expected, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_leaf(m, v) for m in expected for v in values):
            return False
    return True


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict):
        if "prefix" in matcher:
            return isinstance(value, str) and value.startswith(matcher["prefix"])
        if "suffix" in matcher:
            return isinstance(value, str) and value.endswith(matcher["suffix"])
        if "anything-but" in matcher:
            return value not in matcher["anything-but"]
        raise ValueError(matcher)
    return bool(matcher == value and type(matcher) is type(value))


def _event(
    source: str,
    name: str,
    *,
    user: str = "admin",
    user_type: str = "IAMUser",
    request: dict[str, Any] | None = None,
    additional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    service = source.removeprefix("aws.")
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": user_type,
            "userName": user,
            "arn": f"arn:aws:iam::111122223333:user/{user}",
        },
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "requestParameters": request,
    }
    if additional is not None:
        detail["additionalEventData"] = additional
    return {
        "version": "0",
        "source": source,
        "detail-type": "AWS API Call via CloudTrail",
        "account": "111122223333",
        "region": "us-east-1",
        "detail": detail,
    }


EVENTS: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "bedrock key created",
        _event(
            "aws.iam",
            "CreateServiceSpecificCredential",
            request={
                "userName": "BedrockAPIKey-hr8l",
                "serviceName": "bedrock.amazonaws.com",
                "credentialAgeDays": 30,
            },
        ),
        {"phantomkeys-api-key-created"},
    ),
    (
        "claude key created",
        _event(
            "aws.iam",
            "CreateServiceSpecificCredential",
            request={
                "userName": "AeaApiKey-x1y2",
                "serviceName": "aws-external-anthropic.amazonaws.com",
            },
        ),
        {"phantomkeys-api-key-created"},
    ),
    (
        "codecommit credential",
        _event(
            "aws.iam",
            "CreateServiceSpecificCredential",
            request={"userName": "alice", "serviceName": "codecommit.amazonaws.com"},
        ),
        set(),
    ),
    (
        "codecommit credential on a phantom user (issue 18)",
        _event(
            "aws.iam",
            "CreateServiceSpecificCredential",
            request={"userName": "BedrockAPIKey-hr8l", "serviceName": "codecommit.amazonaws.com"},
        ),
        {"phantomkeys-phantom-user-pivot"},
    ),
    (
        "AnthropicInferenceAccess attached (issue 18: both Claude policies)",
        _event(
            "aws.iam",
            "AttachUserPolicy",
            request={
                "userName": "renamed",
                "policyArn": "arn:aws:iam::aws:policy/AnthropicInferenceAccess",
            },
        ),
        {"phantomkeys-phantom-user-created"},
    ),
    (
        "key reset",
        _event(
            "aws.iam",
            "ResetServiceSpecificCredential",
            request={"serviceSpecificCredentialId": "ACCAEXAMPLE123"},
        ),
        {"phantomkeys-api-key-created"},
    ),
    (
        "phantom user created",
        _event("aws.iam", "CreateUser", request={"userName": "BedrockAPIKey-55zi"}),
        {"phantomkeys-phantom-user-created"},
    ),
    ("normal user created", _event("aws.iam", "CreateUser", request={"userName": "alice"}), set()),
    (
        "key policy attached",
        _event(
            "aws.iam",
            "AttachUserPolicy",
            request={
                "userName": "renamed",
                "policyArn": "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess",
            },
        ),
        {"phantomkeys-phantom-user-created"},
    ),
    (
        "other policy attached",
        _event(
            "aws.iam",
            "AttachUserPolicy",
            request={"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        ),
        set(),
    ),
    (
        "pivot: access key",
        _event("aws.iam", "CreateAccessKey", request={"userName": "BedrockAPIKey-hr8l"}),
        {"phantomkeys-phantom-user-pivot"},
    ),
    (
        "pivot: console",
        _event(
            "aws.iam",
            "CreateLoginProfile",
            request={"userName": "AeaApiKey-x1y2", "passwordResetRequired": False},
        ),
        {"phantomkeys-phantom-user-pivot"},
    ),
    (
        "access key for alice",
        _event("aws.iam", "CreateAccessKey", request={"userName": "alice"}),
        set(),
    ),
    (
        "long-term key used",
        _event(
            "aws.bedrock",
            "InvokeModel",
            user="BedrockAPIKey-hr8l",
            request={"modelId": "anthropic.claude"},
            additional={"callWithBearerToken": True},
        ),
        {"phantomkeys-bearer-token-used"},
    ),
    (
        "mantle key use",
        _event(
            "aws.bedrock-mantle",
            "CreateInference",
            user="BedrockAPIKey-hr8l",
            additional={"callWithBearerToken": True},
        ),
        {"phantomkeys-bearer-token-used"},
    ),
    (
        "claude key use",
        _event(
            "aws.aws-external-anthropic",
            "CreateMessage",
            user="AeaApiKey-x1y2",
            request={"callWithBearerToken": True},
        ),
        {"phantomkeys-bearer-token-used"},
    ),
    (
        "sigv4 invoke",
        _event("aws.bedrock", "InvokeModel", user="alice", request={"modelId": "anthropic.claude"}),
        set(),
    ),
    (
        "phantom calls s3",
        _event("aws.s3", "ListBuckets", user="BedrockAPIKey-hr8l"),
        {"phantomkeys-phantom-user-activity"},
    ),
]


@pytest.mark.parametrize(("label", "event", "expected"), EVENTS, ids=[e[0] for e in EVENTS])
def test_alert_patterns_fire_on_the_right_events(label, event, expected) -> None:
    fired = {r.name for r in build_alert_rules(SURFACES) if _matches(r.pattern, event)}
    assert fired == expected, label


def test_iam_rules_go_only_to_the_iam_region() -> None:
    rules = build_alert_rules((BEDROCK,))
    assert deployment_regions(["eu-west-1"], "aws") == ["us-east-1", "eu-west-1"]
    assert deployment_regions(["us-gov-east-1"], "aws-us-gov") == ["us-gov-west-1", "us-gov-east-1"]
    in_eu = {r.name for r in rules_for_region(rules, "eu-west-1", "aws")}
    in_us = {r.name for r in rules_for_region(rules, "us-east-1", "aws")}
    assert in_eu == {"phantomkeys-bearer-token-used", "phantomkeys-phantom-user-activity"}
    assert in_us == {r.name for r in rules}
