"""EventBridge rules that alert on API-key events (pure: patterns and where they go).

IAM is a global service: its CloudTrail events (key creation, user creation,
policy attachment, the pivot) reach EventBridge only in the partition's IAM
home region, us-east-1 for ``aws`` (docs/aws-facts.md "CloudTrail"). Bearer-token calls and a
phantom user's other activity arrive in the region where the call was made,
so those rules go to every region you use.

Bearer-token calls carry ``additionalEventData.callWithBearerToken: true``
(AWS sample ``bedrock-eventbridge-monitoring.yaml``); for Claude Platform a
third party reads ``requestParameters.callWithBearerToken`` instead
(UNCONFIRMED), so the rule accepts both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from phantomkeys.core.controls.scp import CREATE_CREDENTIAL, PIVOT_ACTIONS, POLICY_ATTACH_ACTIONS
from phantomkeys.surfaces import Surface

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
IAM_EVENT_SOURCE = "iam.amazonaws.com"
DEFAULT_TOPIC_NAME = "phantomkeys-alerts"
TARGET_ID = "phantomkeys-sns"
RULE_PREFIX = "phantomkeys-"

#: Where IAM (global) events are delivered, per partition.
IAM_HOME_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}


class AlertScope(StrEnum):
    #: IAM events: deploy only in the partition's IAM home region.
    IAM_HOME = "iam-home-region"
    #: Calls made in a region: deploy in every region.
    REGIONAL = "regional"


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    description: str
    scope: AlertScope
    pattern: dict[str, Any]


def _event_name(action: str) -> str:
    return action.split(":", 1)[1]


def _prefixes(surfaces: Sequence[Surface]) -> list[dict[str, str]]:
    return [{"prefix": s.phantom_user_prefix} for s in surfaces]


def build_alert_rules(surfaces: Sequence[Surface]) -> list[AlertRule]:
    """The rule set for ``surfaces``: creation, phantom users, bearer use, pivot, activity."""
    services = [s.credential_service for s in surfaces]
    event_sources = sorted({src for s in surfaces for src in s.event_sources})
    iam_call = {"source": ["aws.iam"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE]}
    return [
        AlertRule(
            name=f"{RULE_PREFIX}api-key-created",
            description="A long-term API key was created or its secret reset (phantomkeys).",
            scope=AlertScope.IAM_HOME,
            pattern={
                **iam_call,
                "detail": {
                    "eventSource": [IAM_EVENT_SOURCE],
                    "$or": [
                        {
                            "eventName": [_event_name(CREATE_CREDENTIAL)],
                            "requestParameters": {"serviceName": services},
                        },
                        # Reset returns a new secret; its request names only the credential id.
                        {"eventName": ["ResetServiceSpecificCredential"]},
                    ],
                },
            },
        ),
        AlertRule(
            name=f"{RULE_PREFIX}phantom-user-created",
            description="A phantom API-key user was created, or the key policy was attached "
            "to a user or group (phantomkeys).",
            scope=AlertScope.IAM_HOME,
            pattern={
                **iam_call,
                "detail": {
                    "eventSource": [IAM_EVENT_SOURCE],
                    "$or": [
                        {
                            "eventName": ["CreateUser"],
                            "requestParameters": {"userName": _prefixes(surfaces)},
                        },
                        {
                            "eventName": [_event_name(a) for a in POLICY_ATTACH_ACTIONS],
                            "requestParameters": {
                                # Every variant (Claude Platform: both policies).
                                "policyArn": [
                                    {"suffix": f":iam::aws:policy/{name}"}
                                    for s in surfaces
                                    for name in s.managed_policy_names
                                ]
                            },
                        },
                    ],
                },
            },
        ),
        AlertRule(
            name=f"{RULE_PREFIX}phantom-user-pivot",
            description="An access key, console password, MFA device, SSH key, signing "
            "certificate or another service's credential (CodeCommit, Keyspaces, "
            "CloudWatch, ...) was added to a phantom user (phantomkeys).",
            scope=AlertScope.IAM_HOME,
            pattern={
                **iam_call,
                "detail": {
                    "eventSource": [IAM_EVENT_SOURCE],
                    "$or": [
                        {
                            "eventName": [_event_name(a) for a in PIVOT_ACTIONS],
                            "requestParameters": {"userName": _prefixes(surfaces)},
                        },
                        {
                            "eventName": [_event_name(CREATE_CREDENTIAL)],
                            "requestParameters": {
                                "userName": _prefixes(surfaces),
                                "serviceName": [{"anything-but": services}],
                            },
                        },
                    ],
                },
            },
        ),
        AlertRule(
            name=f"{RULE_PREFIX}bearer-token-used",
            description="An API call was authorised with a Bedrock or Claude Platform API key "
            "(phantomkeys).",
            scope=AlertScope.REGIONAL,
            pattern={
                "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                "detail": {
                    "eventSource": event_sources,
                    "$or": [
                        {"additionalEventData": {"callWithBearerToken": [True]}},
                        {"requestParameters": {"callWithBearerToken": [True]}},
                    ],
                },
            },
        ),
        AlertRule(
            name=f"{RULE_PREFIX}phantom-user-activity",
            description="A phantom API-key user called an API outside its surface, which only "
            "an added access key or password allows (phantomkeys).",
            scope=AlertScope.REGIONAL,
            pattern={
                "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                "detail": {
                    "userIdentity": {"type": ["IAMUser"], "userName": _prefixes(surfaces)},
                    "eventSource": [{"anything-but": event_sources}],
                },
            },
        ),
    ]


def iam_home_region(partition: str) -> str:
    return IAM_HOME_REGION.get(partition, "us-east-1")


def rules_for_region(rules: Sequence[AlertRule], region: str, partition: str) -> list[AlertRule]:
    """The rules that belong in ``region`` (IAM rules only in the IAM home region)."""
    home = iam_home_region(partition)
    return [r for r in rules if r.scope is AlertScope.REGIONAL or region == home]


def deployment_regions(regions: Sequence[str], partition: str) -> list[str]:
    """The regions given, plus the IAM home region (IAM events arrive only there)."""
    out = list(dict.fromkeys(regions))
    home = iam_home_region(partition)
    if home not in out:
        out.insert(0, home)
    return out


def topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """Lets EventBridge rules of this account publish to the topic."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPhantomkeysEventBridgePublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }
