"""Terraform and CloudFormation renderings of the generated SCPs and alert rules.

Both renderers return text; only the CLI writes files. SCP content is emitted
minified (CloudFormation) or through ``jsonencode`` (Terraform, which minifies),
so what AWS counts against the 5,120-character limit is what was measured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from phantomkeys.core.controls.alerts import (
    DEFAULT_TOPIC_NAME,
    TARGET_ID,
    AlertRule,
    AlertScope,
)
from phantomkeys.core.controls.scp import GeneratedPolicy

MANAGED_TAG_KEY = "phantomkeys:managed"
MANAGED_TAG_VALUE = "true"
SCP_TYPE = "SERVICE_CONTROL_POLICY"


# ----------------------------------------------------------------- HCL


def hcl_string(text: str) -> str:
    """A quoted HCL string: JSON escapes plus escaped template sequences."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def hcl_value(value: Any, indent: int = 0) -> str:
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = [
            f"{pad}{hcl_string(str(k))} = {hcl_value(v, indent + 1)}" for k, v in value.items()
        ]
        return "{\n" + "\n".join(lines) + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [f"{pad}{hcl_value(v, indent + 1)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + "  " * indent + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    return hcl_string(str(value))


def _label(name: str) -> str:
    """A Terraform resource label: letters, digits, underscores; starts with a letter."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "policy"
    return label if label[0].isalpha() else f"p_{label}"


def _logical_id(name: str) -> str:
    """A CloudFormation logical id: alphanumeric CamelCase."""
    parts = re.split(r"[^A-Za-z0-9]+", name)
    logical = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return logical if logical[:1].isalpha() else f"P{logical}"


def _header(comment: str, lines: Sequence[str]) -> str:
    return "".join(f"{comment} {line}\n" for line in lines)


def render_scp_terraform(
    policies: Sequence[GeneratedPolicy], *, targets: Sequence[str] = (), header: Sequence[str] = ()
) -> str:
    out = [_header("#", header)]
    for policy in policies:
        label = _label(policy.name)
        out.append(
            f'resource "aws_organizations_policy" "{label}" {{\n'
            f"  name        = {hcl_string(policy.name)}\n"
            f"  description = {hcl_string(policy.description)}\n"
            f'  type        = "{SCP_TYPE}"\n'
            f"  content     = jsonencode({hcl_value(policy.document, 1)})\n"
            f"  tags = {{\n    {hcl_string(MANAGED_TAG_KEY)} = {hcl_string(MANAGED_TAG_VALUE)}\n"
            "  }\n}\n"
        )
        for target in targets:
            out.append(
                f'\nresource "aws_organizations_policy_attachment" '
                f'"{_label(policy.name + "_" + target)}" {{\n'
                f"  policy_id = aws_organizations_policy.{label}.id\n"
                f"  target_id = {hcl_string(target)}\n}}\n"
            )
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"


class _NoAliasDumper(yaml.SafeDumper):
    """CloudFormation rejects YAML aliases (&id001), which shared objects would produce."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(document: Any) -> str:
    return yaml.dump(
        document, Dumper=_NoAliasDumper, sort_keys=False, width=1_000_000, allow_unicode=False
    )


def render_scp_cloudformation(
    policies: Sequence[GeneratedPolicy], *, targets: Sequence[str] = (), description: str = ""
) -> str:
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for policy in policies:
        logical = _logical_id(policy.name)
        properties: dict[str, Any] = {
            "Name": policy.name,
            "Description": policy.description,
            "Type": SCP_TYPE,
            # A string, not an object: CloudFormation would re-serialise an object with
            # whitespace that counts toward the 5,120-character limit.
            "Content": policy.content,
            "Tags": [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}],
        }
        if targets:
            properties["TargetIds"] = list(targets)
        resources[logical] = {"Type": "AWS::Organizations::Policy", "Properties": properties}
        outputs[f"{logical}Id"] = {
            "Description": f"Policy id of {policy.name}",
            "Value": {"Ref": logical},
        }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description or "phantomkeys Service Control Policies",
        "Resources": resources,
        "Outputs": outputs,
    }
    return _yaml(template)


# ----------------------------------------------------------------- alerts


def render_alerts_patterns(rules: Sequence[AlertRule], *, home_region: str) -> dict[str, Any]:
    return {
        "rules": [
            {
                "name": r.name,
                "description": r.description,
                "scope": r.scope.value,
                "regions": [home_region] if r.scope is AlertScope.IAM_HOME else ["*"],
                "event_pattern": r.pattern,
            }
            for r in rules
        ],
    }


def render_alerts_cloudformation(
    rules: Sequence[AlertRule], *, topic_arn: str | None, home_region: str, description: str = ""
) -> str:
    """One template for every region (a StackSet works): IAM rules only in ``home_region``."""
    resources: dict[str, Any] = {
        "AlertTopic": {
            "Type": "AWS::SNS::Topic",
            "Condition": "CreateTopic",
            "Properties": {
                "TopicName": DEFAULT_TOPIC_NAME,
                "Tags": [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}],
            },
        },
        "AlertTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Condition": "CreateTopic",
            "Properties": {
                "Topics": [{"Ref": "AlertTopic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowPhantomkeysEventBridgePublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": "AlertTopic"},
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                            },
                        }
                    ],
                },
            },
        },
    }
    outputs: dict[str, Any] = {
        "AlertTopicArn": {
            "Value": {"Fn::If": ["CreateTopic", {"Ref": "AlertTopic"}, {"Ref": "AlertTopicArn"}]}
        }
    }
    for rule in rules:
        logical = _logical_id(rule.name) + "Rule"
        resource: dict[str, Any] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": rule.name,
                "Description": rule.description,
                "State": "ENABLED",
                "EventPattern": rule.pattern,
                "Targets": [
                    {
                        "Id": TARGET_ID,
                        "Arn": {
                            "Fn::If": [
                                "CreateTopic",
                                {"Ref": "AlertTopic"},
                                {"Ref": "AlertTopicArn"},
                            ]
                        },
                    }
                ],
            },
        }
        if rule.scope is AlertScope.IAM_HOME:
            resource["Condition"] = "InIamHomeRegion"
        resources[logical] = resource
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description
        or (
            "phantomkeys EventBridge alerts for API keys. Deploy in every region you use; "
            f"IAM rules are created only in {home_region}, where IAM events arrive."
        ),
        "Parameters": {
            "AlertTopicArn": {
                "Type": "String",
                "Default": topic_arn or "",
                "Description": "Existing SNS topic in this region; empty creates "
                f"{DEFAULT_TOPIC_NAME}.",
            },
        },
        "Conditions": {
            "CreateTopic": {"Fn::Equals": [{"Ref": "AlertTopicArn"}, ""]},
            "InIamHomeRegion": {"Fn::Equals": [{"Ref": "AWS::Region"}, home_region]},
        },
        "Resources": resources,
        "Outputs": outputs,
    }
    return _yaml(template)


def render_alerts_terraform(
    rules: Sequence[AlertRule],
    *,
    topic_arn: str | None,
    home_region: str,
    header: Sequence[str] = (),
) -> str:
    out = [_header("#", header)]
    out.append(
        'variable "alert_topic_arn" {\n'
        '  description = "Existing SNS topic in this region; empty creates one."\n'
        "  type        = string\n"
        f"  default     = {hcl_string(topic_arn or '')}\n}}\n\n"
        'variable "iam_event_region" {\n'
        '  description = "Region where IAM (global) events arrive; IAM rules go only there."\n'
        "  type        = string\n"
        f"  default     = {hcl_string(home_region)}\n}}\n\n"
        'data "aws_region" "current" {}\n\n'
        'data "aws_caller_identity" "current" {}\n\n'
        "locals {\n"
        '  create_topic   = var.alert_topic_arn == ""\n'
        "  topic_arn      = local.create_topic ? aws_sns_topic.alerts[0].arn "
        ": var.alert_topic_arn\n"
        "  in_iam_region  = data.aws_region.current.name == var.iam_event_region\n"
        "}\n\n"
        'resource "aws_sns_topic" "alerts" {\n'
        "  count = local.create_topic ? 1 : 0\n"
        f"  name  = {hcl_string(DEFAULT_TOPIC_NAME)}\n"
        f"  tags  = {{\n    {hcl_string(MANAGED_TAG_KEY)} = {hcl_string(MANAGED_TAG_VALUE)}\n  }}\n"
        "}\n\n"
        'resource "aws_sns_topic_policy" "alerts" {\n'
        "  count = local.create_topic ? 1 : 0\n"
        "  arn   = aws_sns_topic.alerts[0].arn\n"
        "  policy = jsonencode({\n"
        '    "Version" = "2012-10-17"\n'
        '    "Statement" = [{\n'
        '      "Sid"       = "AllowPhantomkeysEventBridgePublish"\n'
        '      "Effect"    = "Allow"\n'
        '      "Principal" = { "Service" = "events.amazonaws.com" }\n'
        '      "Action"    = "sns:Publish"\n'
        '      "Resource"  = aws_sns_topic.alerts[0].arn\n'
        '      "Condition" = { "StringEquals" = { "aws:SourceAccount" = '
        "data.aws_caller_identity.current.account_id } }\n"
        "    }]\n"
        "  })\n"
        "}\n"
    )
    for rule in rules:
        label = _label(rule.name)
        count = (
            "  count = local.in_iam_region ? 1 : 0\n" if rule.scope is AlertScope.IAM_HOME else ""
        )
        index = "[0]" if count else ""
        out.append(
            f'\nresource "aws_cloudwatch_event_rule" "{label}" {{\n'
            f"{count}"
            f"  name          = {hcl_string(rule.name)}\n"
            f"  description   = {hcl_string(rule.description)}\n"
            f"  event_pattern = jsonencode({hcl_value(rule.pattern, 1)})\n"
            "}\n\n"
            f'resource "aws_cloudwatch_event_target" "{label}" {{\n'
            f"{count}"
            f"  rule      = aws_cloudwatch_event_rule.{label}{index}.name\n"
            f"  target_id = {hcl_string(TARGET_ID)}\n"
            "  arn       = local.topic_arn\n"
            "}\n"
        )
    return "".join(out)
