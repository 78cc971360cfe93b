"""Effective-permission evaluation: table tests over the documented IAM order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.catalog import IamCatalog, default_catalog
from phantomkeys.core.policy import (
    Decision,
    Policy,
    PolicyKind,
    Request,
    evaluate,
    parse_policy,
)

DATA = Path(__file__).parent / "data"
ACCOUNT = "123456789012"


def load(name: str, kind: str = "inline", **kw: Any) -> Policy:
    return parse_policy(
        json.loads((DATA / name).read_text()), name=name.removesuffix(".json"), kind=kind, **kw
    )


def pol(
    *statements: dict[str, Any], name: str = "p", kind: str = "inline", version: str = "2012-10-17"
) -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)}, name=name, kind=kind)


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


@pytest.fixture(scope="module")
def catalog() -> IamCatalog:
    return default_catalog()


ADMIN = pol(allow("*"), name="AdministratorAccess", kind="managed")
FULL = pol(allow("*"), name="FullAWSAccess", kind="scp")


# ------------------------------------------------------------ allow / deny


@pytest.mark.parametrize(
    ("statements", "action", "decision"),
    [
        ([allow("bedrock:InvokeModel")], "bedrock:InvokeModel", Decision.ALLOWED),
        ([allow("BEDROCK:invokemodel")], "bedrock:InvokeModel", Decision.ALLOWED),
        ([allow("bedrock:InvokeModel")], "BEDROCK:INVOKEMODEL", Decision.ALLOWED),
        (
            [allow("bedrock:InvokeModel")],
            "bedrock:InvokeModelWithResponseStream",
            Decision.IMPLICIT_DENY,
        ),
        ([allow("bedrock:Invoke*")], "bedrock:InvokeModelWithResponseStream", Decision.ALLOWED),
        ([allow("bedrock:?nvokeModel")], "bedrock:InvokeModel", Decision.ALLOWED),
        ([allow("bedrock:?nvokeModel")], "bedrock:nvokeModel", Decision.IMPLICIT_DENY),
        ([allow("bedrock:*Guardrail*")], "bedrock:DeleteGuardrail", Decision.ALLOWED),
        ([allow("*:Get*")], "iam:GetUser", Decision.ALLOWED),
        ([allow("*")], "anything:AtAll", Decision.ALLOWED),
        ([allow("bedrock")], "bedrock:InvokeModel", Decision.IMPLICIT_DENY),
        (
            [allow("bedrock:*"), deny("bedrock:DeleteGuardrail")],
            "bedrock:DeleteGuardrail",
            Decision.EXPLICIT_DENY,
        ),
        (
            [allow("bedrock:*"), deny("bedrock:DeleteGuardrail")],
            "bedrock:UpdateGuardrail",
            Decision.ALLOWED,
        ),
        ([deny("*")], "bedrock:InvokeModel", Decision.EXPLICIT_DENY),
        # NotAction Allow grants everything else, other services included.
        (
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            "s3:GetObject",
            Decision.ALLOWED,
        ),
        (
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            "iam:CreateUser",
            Decision.IMPLICIT_DENY,
        ),
        (
            [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}],
            "organizations:LeaveOrganization",
            Decision.IMPLICIT_DENY,
        ),
        (
            [{"Effect": "Allow", "NotAction": "*", "Resource": "*"}],
            "s3:GetObject",
            Decision.IMPLICIT_DENY,
        ),
        # NotAction Deny denies everything but the listed actions.
        (
            [allow("*"), {"Effect": "Deny", "NotAction": "bedrock:*", "Resource": "*"}],
            "s3:GetObject",
            Decision.EXPLICIT_DENY,
        ),
        (
            [allow("*"), {"Effect": "Deny", "NotAction": "bedrock:*", "Resource": "*"}],
            "bedrock:InvokeModel",
            Decision.ALLOWED,
        ),
    ],
)
def test_allow_deny_table(
    statements: list[dict[str, Any]], action: str, decision: Decision
) -> None:
    result = evaluate(Request(action), identity=[pol(*statements)])
    assert result.decision is decision


def test_results_cite_the_statements() -> None:
    managed = pol(
        {"Sid": "BedrockAPIs", **allow(["bedrock:Get*", "bedrock:DeleteGuardrail"])},
        name="arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess",
        kind="managed",
    )
    inline = pol(allow("bedrock:DeleteGuardrail"), name="inline:BedrockAPIKey-hr8l/extra")
    result = evaluate(Request("bedrock:DeleteGuardrail"), identity=[managed, inline])
    assert result.decision is Decision.ALLOWED
    assert [r.label for r in result.allowed_by] == [
        "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess#BedrockAPIs",
        "inline:BedrockAPIKey-hr8l/extra#statement-1",
    ]
    guard = pol(
        {"Sid": "NoDeletes", **deny("bedrock:Delete*")}, name="group-inline", kind="group-inline"
    )
    denied = evaluate(Request("bedrock:DeleteGuardrail"), identity=[managed, inline, guard])
    assert denied.decision is Decision.EXPLICIT_DENY
    assert [r.label for r in denied.denied_by] == ["group-inline#NoDeletes"]
    assert denied.to_dict()["decision"] == "explicit-deny"
    implicit = evaluate(Request("iam:PassRole"), identity=[managed])
    assert implicit.missing_allow == ("identity",)
    assert not implicit.allowed


def test_explicit_deny_wins_even_without_any_allow() -> None:
    result = evaluate(Request("s3:GetObject"), identity=[pol(deny("s3:*"))])
    assert result.decision is Decision.EXPLICIT_DENY


# --------------------------------------------------------------- boundaries


def test_boundary_limits_identity_allows() -> None:
    boundary = load("boundary_bedrock_runtime_only.json", kind="boundary")
    assert (
        evaluate(Request("bedrock:InvokeModel"), identity=[ADMIN], boundary=boundary).decision
        is Decision.ALLOWED
    )
    result = evaluate(Request("iam:CreateAccessKey"), identity=[ADMIN], boundary=boundary)
    assert result.decision is Decision.IMPLICIT_DENY
    assert result.missing_allow == ("boundary",)
    # The boundary grants nothing by itself.
    none = evaluate(Request("bedrock:InvokeModel"), identity=[], boundary=boundary)
    assert none.decision is Decision.IMPLICIT_DENY
    assert none.missing_allow == ("identity",)


def test_deny_in_boundary_is_an_explicit_deny() -> None:
    boundary = pol(allow("*"), deny("bedrock:DeleteGuardrail"), name="b", kind="boundary")
    result = evaluate(Request("bedrock:DeleteGuardrail"), identity=[ADMIN], boundary=boundary)
    assert result.decision is Decision.EXPLICIT_DENY
    assert result.denied_by[0].kind is PolicyKind.BOUNDARY


# --------------------------------------------------------------------- SCPs


def test_every_scp_level_must_allow() -> None:
    ou = load("scp_ou_allow_list.json", kind="scp")
    levels = [[FULL], [ou], [FULL]]
    assert (
        evaluate(Request("bedrock:InvokeModel"), identity=[ADMIN], scps=levels).decision
        is Decision.ALLOWED
    )
    blocked = evaluate(Request("ec2:RunInstances"), identity=[ADMIN], scps=levels)
    assert blocked.decision is Decision.IMPLICIT_DENY
    assert blocked.missing_allow == ("scp-level-2",)
    # The account level lacking FullAWSAccess: the root and OU allows do not help.
    only_ou = evaluate(
        Request("bedrock:InvokeModel"),
        identity=[ADMIN],
        scps=[[FULL], [ou], [pol(allow("s3:*"), kind="scp")]],
    )
    assert only_ou.missing_allow == ("scp-level-3",)
    # A level with no SCP allows nothing (AWS requires one per level).
    assert (
        evaluate(Request("bedrock:InvokeModel"), identity=[ADMIN], scps=[[FULL], []]).decision
        is Decision.IMPLICIT_DENY
    )
    # SCPs grant nothing by themselves.
    assert (
        evaluate(Request("bedrock:InvokeModel"), identity=[], scps=levels).decision
        is Decision.IMPLICIT_DENY
    )


def test_scp_deny_at_any_level_wins() -> None:
    keys = load("scp_deny_bedrock_api_keys.json", kind="scp")
    levels = [[FULL], [FULL, keys], [FULL]]
    result = evaluate(Request("bedrock-mantle:CallWithBearerToken"), identity=[ADMIN], scps=levels)
    assert result.decision is Decision.EXPLICIT_DENY
    assert result.denied_by[0].label == "scp_deny_bedrock_api_keys#DenyBedrockApiKeyUse"
    assert (
        evaluate(Request("bedrock:InvokeModel"), identity=[ADMIN], scps=levels).decision
        is Decision.ALLOWED
    )


def test_conditional_scp_deny_without_context_is_reported_not_applied() -> None:
    long_term = load("scp_deny_bedrock_long_term_keys.json", kind="scp")
    levels = [[FULL, long_term]]
    unknown = evaluate(Request("bedrock:CallWithBearerToken"), identity=[ADMIN], scps=levels)
    assert unknown.decision is Decision.CONDITIONAL
    assert [r.label for r in unknown.conditional_denies] == [
        "scp_deny_bedrock_long_term_keys#DenyBedrockLongTermApiKeyUse"
    ]
    # Partial context: the token type is known, everything else is unknown.
    lt = Request(
        "bedrock:CallWithBearerToken",
        context={"bedrock:BearerTokenType": ["LONG_TERM"]},
        context_is_complete=False,
    )
    assert evaluate(lt, identity=[ADMIN], scps=levels).decision is Decision.EXPLICIT_DENY
    st = Request(
        "bedrock:CallWithBearerToken",
        context={"bedrock:BearerTokenType": "SHORT_TERM"},
        context_is_complete=False,
    )
    assert evaluate(st, identity=[ADMIN], scps=levels).decision is Decision.ALLOWED


def test_age_cap_scp_without_null_guard_lets_keys_without_age_through() -> None:
    """DOMAIN-FACTS §5: a numeric condition on a missing key is false, so the
    aws-samples 30-day SCP does not stop a key created with no age."""
    cap = load("scp_deny_keys_longer_than_30_days.json", kind="scp")
    create = "iam:CreateServiceSpecificCredential"
    svc = {"iam:ServiceSpecificCredentialServiceName": ["bedrock.amazonaws.com"]}

    def decide(extra: dict[str, list[str]]) -> Decision:
        return evaluate(
            Request(create, context={**svc, **extra}), identity=[ADMIN], scps=[[FULL, cap]]
        ).decision

    assert decide({"iam:ServiceSpecificCredentialAgeDays": ["90"]}) is Decision.EXPLICIT_DENY
    assert decide({"iam:ServiceSpecificCredentialAgeDays": ["30"]}) is Decision.EXPLICIT_DENY
    assert decide({"iam:ServiceSpecificCredentialAgeDays": ["29"]}) is Decision.ALLOWED
    assert decide({}) is Decision.ALLOWED  # the gap
    guard = pol(
        deny(
            create,
            Condition={
                "StringEquals": {
                    "iam:ServiceSpecificCredentialServiceName": "bedrock.amazonaws.com"
                },
                "Null": {"iam:ServiceSpecificCredentialAgeDays": "true"},
            },
        ),
        kind="scp",
    )
    assert (
        evaluate(Request(create, context=svc), identity=[ADMIN], scps=[[FULL, cap, guard]]).decision
        is Decision.EXPLICIT_DENY
    )


# --------------------------------------------------------------- conditions


MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


@pytest.mark.parametrize(
    ("statements", "context", "decision"),
    [
        ([allow("s3:GetObject", Condition=MFA)], None, Decision.CONDITIONAL),
        (
            [allow("s3:GetObject", Condition=MFA)],
            {"aws:MultiFactorAuthPresent": ["true"]},
            Decision.ALLOWED,
        ),
        (
            [allow("s3:GetObject", Condition=MFA)],
            {"aws:MultiFactorAuthPresent": ["false"]},
            Decision.IMPLICIT_DENY,
        ),
        ([allow("s3:GetObject", Condition=MFA)], {}, Decision.IMPLICIT_DENY),
        # A conditional deny neither denies nor is dropped.
        ([allow("s3:GetObject"), deny("s3:*", Condition=MFA)], None, Decision.CONDITIONAL),
        ([allow("s3:GetObject"), deny("s3:*", Condition=MFA)], {}, Decision.ALLOWED),
        ([deny("s3:*", Condition=MFA)], None, Decision.IMPLICIT_DENY),
        # An unconditional allow beside a conditional one is enough.
        ([allow("s3:GetObject", Condition=MFA), allow("s3:*")], None, Decision.ALLOWED),
        # Unknown operators never crash.
        (
            [allow("s3:GetObject", Condition={"StringSoundsLike": {"aws:username": "bob"}})],
            {"aws:username": ["bob"]},
            Decision.CONDITIONAL,
        ),
        # IfExists: a missing key passes.
        (
            [allow("s3:GetObject", Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})],
            {},
            Decision.ALLOWED,
        ),
        (
            [allow("s3:GetObject", Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})],
            {"aws:SourceVpc": ["vpc-2"]},
            Decision.IMPLICIT_DENY,
        ),
        # Null
        (
            [allow("s3:GetObject", Condition={"Null": {"aws:TokenIssueTime": "true"}})],
            {},
            Decision.ALLOWED,
        ),
        (
            [allow("s3:GetObject", Condition={"Null": {"aws:TokenIssueTime": "true"}})],
            {"aws:TokenIssueTime": ["2026-11-29T10:00:00Z"]},
            Decision.IMPLICIT_DENY,
        ),
        # ForAnyValue / ForAllValues on aws:TagKeys
        (
            [allow("s3:GetObject", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}})],
            {"aws:TagKeys": ["b", "a"]},
            Decision.ALLOWED,
        ),
        (
            [allow("s3:GetObject", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}})],
            {},
            Decision.IMPLICIT_DENY,
        ),
        (
            [
                allow(
                    "s3:GetObject", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}
                )
            ],
            {},
            Decision.ALLOWED,
        ),
        (
            [
                allow(
                    "s3:GetObject", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}
                )
            ],
            {"aws:TagKeys": ["a", "b"]},
            Decision.IMPLICIT_DENY,
        ),
    ],
)
def test_condition_table(
    statements: list[dict[str, Any]], context: dict[str, list[str]] | None, decision: Decision
) -> None:
    result = evaluate(Request("s3:GetObject", context=context), identity=[pol(*statements)])
    assert result.decision is decision


def test_condition_keys_are_case_insensitive_values_are_not() -> None:
    p = pol(
        allow(
            "bedrock:CallWithBearerToken",
            Condition={"StringEquals": {"bedrock:bearerTokenType": "SHORT_TERM"}},
        )
    )
    call = "bedrock:CallWithBearerToken"
    upper = Request(call, context={"BEDROCK:BearerTokenType": "SHORT_TERM"})
    lower = Request(call, context={"bedrock:bearertokentype": "short_term"})
    assert evaluate(upper, identity=[p]).decision is Decision.ALLOWED
    assert evaluate(lower, identity=[p]).decision is Decision.IMPLICIT_DENY


def test_multiple_keys_and_operators_are_anded() -> None:
    p = pol(
        allow(
            "s3:GetObject",
            Condition={
                "StringEquals": {
                    "aws:RequestedRegion": ["us-east-1", "eu-west-1"],
                    "aws:PrincipalAccount": ACCOUNT,
                },
                "Bool": {"aws:SecureTransport": "true"},
            },
        )
    )

    def decide(**ctx: str) -> Decision:
        return evaluate(
            Request("s3:GetObject", context={k.replace("_", ":", 1): [v] for k, v in ctx.items()}),
            identity=[p],
        ).decision

    ok = {
        "aws_RequestedRegion": "eu-west-1",
        "aws_PrincipalAccount": ACCOUNT,
        "aws_SecureTransport": "true",
    }
    assert decide(**ok) is Decision.ALLOWED
    assert decide(**{**ok, "aws_RequestedRegion": "us-west-2"}) is Decision.IMPLICIT_DENY
    assert decide(**{**ok, "aws_SecureTransport": "false"}) is Decision.IMPLICIT_DENY
    partial = Request(
        "s3:GetObject", context={"aws:RequestedRegion": ["eu-west-1"]}, context_is_complete=False
    )
    assert evaluate(partial, identity=[p]).decision is Decision.CONDITIONAL


# ---------------------------------------------------------------- resources


def test_concrete_resources_glob_and_not_resource() -> None:
    p = pol(allow("s3:GetObject", ["arn:aws:s3:::acme-*/*", "arn:aws:s3:::logs?/x"]))
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::acme-data/a/b.txt"), identity=[p]).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::logs1/x"), identity=[p]).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::logs12/x"), identity=[p]).decision
        is Decision.IMPLICIT_DENY
    )
    # Resource matching is case-sensitive (IAM User Guide, Resource element).
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::ACME-data/a"), identity=[p]).decision
        is Decision.IMPLICIT_DENY
    )
    nr = pol({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::public/a"), identity=[nr]).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::secret/a"), identity=[nr]).decision
        is Decision.IMPLICIT_DENY
    )
    nr_deny = pol(
        allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::public/*"}
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::secret/a"), identity=[nr_deny]).decision
        is Decision.EXPLICIT_DENY
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::public/a"), identity=[nr_deny]).decision
        is Decision.ALLOWED
    )


def test_some_resource_uses_the_actions_arn_formats(catalog: IamCatalog) -> None:
    bucket = pol(allow("s3:*", "arn:aws:s3:::acme-training-data"))
    decide = lambda a: evaluate(Request(a), identity=[bucket], catalog=catalog).decision  # noqa: E731
    assert decide("s3:ListBucket") is Decision.ALLOWED  # bucket ARN
    assert decide("s3:GetObject") is Decision.IMPLICIT_DENY  # object ARNs only
    assert decide("s3:ListAllMyBuckets") is Decision.IMPLICIT_DENY  # resource "*" only
    # Without a catalog the engine cannot tell, and says "may be allowed".
    assert evaluate(Request("s3:GetObject"), identity=[bucket]).decision is Decision.ALLOWED


def test_kms_describe_key_resource_of_the_bedrock_policy_matches_no_key(
    catalog: IamCatalog,
) -> None:
    """DOMAIN-FACTS §4 open item 8: ``arn:*:kms:*:::*`` has an empty account field."""
    p = pol({"Sid": "DescribeKey", **allow("kms:DescribeKey", "arn:*:kms:*:::*")})
    assert (
        evaluate(Request("kms:DescribeKey"), identity=[p], catalog=catalog).decision
        is Decision.IMPLICIT_DENY
    )
    assert (
        evaluate(
            Request("kms:DescribeKey", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/abcd"), identity=[p]
        ).decision
        is Decision.IMPLICIT_DENY
    )


def test_partial_deny_leaves_the_action_allowed_elsewhere(catalog: IamCatalog) -> None:
    p = pol(
        allow("s3:GetObject"), {"Sid": "NoSecrets", **deny("s3:GetObject", "arn:aws:s3:::secret/*")}
    )
    some = evaluate(Request("s3:GetObject"), identity=[p], catalog=catalog)
    assert some.decision is Decision.ALLOWED
    assert [r.label for r in some.partial_denies] == ["p#NoSecrets"]
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::secret/k"), identity=[p], catalog=catalog
        ).decision
        is Decision.EXPLICIT_DENY
    )
    # An allow whose every resource is denied no longer counts.
    narrow = pol(
        {"Sid": "Read", **allow("s3:GetObject", "arn:aws:s3:::secret/reports/*")},
        {"Sid": "NoSecrets", **deny("s3:GetObject", "arn:aws:s3:::secret/*")},
    )
    gone = evaluate(Request("s3:GetObject"), identity=[narrow], catalog=catalog)
    assert gone.decision is Decision.EXPLICIT_DENY
    assert [r.label for r in gone.denied_by] == ["p#NoSecrets"]


def test_deny_covering_every_arn_of_the_action_is_total(catalog: IamCatalog) -> None:
    p = pol(allow("*"), deny("bedrock:DeleteGuardrail", "arn:*:bedrock:*:*:guardrail/*"))
    assert (
        evaluate(Request("bedrock:DeleteGuardrail"), identity=[p], catalog=catalog).decision
        is Decision.EXPLICIT_DENY
    )
    # Only in one partition: other partitions' guardrails remain.
    q = pol(allow("*"), deny("bedrock:DeleteGuardrail", "arn:aws:bedrock:*:*:guardrail/*"))
    result = evaluate(Request("bedrock:DeleteGuardrail"), identity=[q], catalog=catalog)
    assert result.decision is Decision.ALLOWED
    assert result.partial_denies


def test_resource_pattern_request_asks_about_some_matching_resource() -> None:
    p = pol(allow("s3:GetObject", "arn:aws:s3:::reports/2026/*"))
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::reports/*"), identity=[p]).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::other/*"), identity=[p]).decision
        is Decision.IMPLICIT_DENY
    )


# ---------------------------------------------------------- policy variables


def test_policy_variables_in_resources(catalog: IamCatalog) -> None:
    p = load("inline_self_service_escalation.json")
    mine = f"arn:aws:iam::{ACCOUNT}:user/BedrockAPIKey-hr8l"
    other = f"arn:aws:iam::{ACCOUNT}:user/alice"
    ctx = {"aws:username": ["BedrockAPIKey-hr8l"]}
    assert (
        evaluate(Request("iam:CreateAccessKey", mine, context=ctx), identity=[p]).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(Request("iam:CreateAccessKey", other, context=ctx), identity=[p]).decision
        is Decision.IMPLICIT_DENY
    )
    # Unknown user, concrete ARN: it depends on who asks.
    assert (
        evaluate(Request("iam:CreateAccessKey", mine), identity=[p]).decision
        is Decision.CONDITIONAL
    )
    # "Some resource": an IAM user always has a user name, so it can act on itself.
    assert (
        evaluate(Request("iam:CreateAccessKey"), identity=[p], catalog=catalog).decision
        is Decision.ALLOWED
    )
    # A complete context without the variable: the entry matches nothing.
    assert (
        evaluate(Request("iam:CreateAccessKey", mine, context={}), identity=[p]).decision
        is Decision.IMPLICIT_DENY
    )


def test_variables_are_literal_text_in_2008_policies() -> None:
    doc = allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}")
    old = pol(doc, version="2008-10-17")
    new = pol(doc)
    ctx = {"aws:username": ["bob"]}
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/bob", context=ctx), identity=[new]
        ).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/bob", context=ctx), identity=[old]
        ).decision
        is Decision.IMPLICIT_DENY
    )
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/${aws:username}", context=ctx), identity=[old]
        ).decision
        is Decision.ALLOWED
    )


def test_variable_defaults_and_escapes() -> None:
    p = pol(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'none'}/${*}"))
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/none/*", context={}), identity=[p]
        ).decision
        is Decision.ALLOWED
    )
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/none/x", context={}), identity=[p]
        ).decision
        is Decision.IMPLICIT_DENY
    )
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::b/ml/*", context={"aws:PrincipalTag/team": "ml"}),
            identity=[p],
        ).decision
        is Decision.ALLOWED
    )


def test_results_are_memoised_values() -> None:
    p = pol(allow("s3:*"))
    first = evaluate(Request("s3:GetObject", context={"k": ["v"]}), identity=[p])
    again = evaluate(Request("s3:GetObject", context={"K": "v"}), identity=(p,))
    assert first is again
    assert Request("a:b", context={"k": ["v"]}) == Request("a:b", context={"K": "v"})
