"""Cross-check against the semantics AWS documents for its policy simulator and
enforcement code. Each case cites the IAM User Guide page it comes from; the
policies are the documentation's examples (account ids and names adapted).

* EVAL: "Policy evaluation logic" and "How AWS enforcement code logic evaluates
  requests to allow or deny access",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
* NOTACTION: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
* NOTRESOURCE: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
* RESOURCE: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
* OPERATORS: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
* MULTIVALUED: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
* LOGIC: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
* VARIABLES: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
* EXAMPLES: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples.html
* BEDROCK-KEYS: https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-permissions.html
"""

from __future__ import annotations

from typing import Any

import pytest

from phantomkeys.core.policy import Decision, Policy, Request, evaluate, parse_policy

ACCT = "111122223333"
A, C, IMPL, E = (
    Decision.ALLOWED,
    Decision.CONDITIONAL,
    Decision.IMPLICIT_DENY,
    Decision.EXPLICIT_DENY,
)


def doc(*statements: dict[str, Any], kind: str = "inline", name: str = "p") -> Policy:
    return parse_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, name=name, kind=kind
    )


ALLOW_ALL = doc({"Effect": "Allow", "Action": "*", "Resource": "*"}, kind="managed")


# EVAL: "By default, all requests are implicitly denied"; "An explicit deny in any
# of these policies overrides the allow"; boundaries: "the effective permissions
# are the intersection of both policy types"; SCPs: the resulting permissions are
# "the intersection of the user's policies and the SCP"; an SCP by itself grants
# nothing.
EVAL_CASES = [
    ("no policy at all", [], None, [], "s3:ListBucket", IMPL),
    ("identity allow only", [ALLOW_ALL], None, [], "s3:ListBucket", A),
    (
        "boundary does not allow",
        [ALLOW_ALL],
        doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, kind="boundary"),
        [],
        "iam:CreateUser",
        IMPL,
    ),
    (
        "boundary without identity allow grants nothing",
        [],
        doc({"Effect": "Allow", "Action": "*", "Resource": "*"}, kind="boundary"),
        [],
        "s3:ListBucket",
        IMPL,
    ),
    (
        "SCP intersection",
        [ALLOW_ALL],
        None,
        [[doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, kind="scp")]],
        "ec2:RunInstances",
        IMPL,
    ),
    (
        "SCP alone grants nothing",
        [],
        None,
        [[doc({"Effect": "Allow", "Action": "*", "Resource": "*"}, kind="scp")]],
        "s3:ListBucket",
        IMPL,
    ),
    (
        "explicit deny in identity policy",
        [ALLOW_ALL, doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})],
        None,
        [],
        "s3:ListBucket",
        E,
    ),
]


@pytest.mark.parametrize(
    ("case", "identity", "boundary", "scps", "action", "decision"),
    EVAL_CASES,
    ids=[c[0] for c in EVAL_CASES],
)
def test_documented_evaluation_order(
    case: str,
    identity: list[Policy],
    boundary: Policy | None,
    scps: list[list[Policy]],
    action: str,
    decision: Decision,
) -> None:
    assert (
        evaluate(Request(action), identity=identity, boundary=boundary, scps=scps).decision
        is decision
    )


def test_notaction_allow_grants_every_other_service() -> None:
    # NOTACTION: "Allows access to all actions in all AWS services except IAM" …
    # "use it carefully": it also allows every other service.
    p = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(Request("iam:CreateAccessKey"), identity=[p]).decision is IMPL
    assert evaluate(Request("organizations:LeaveOrganization"), identity=[p]).decision is A
    assert evaluate(Request("bedrock:InvokeModel"), identity=[p]).decision is A


def test_notaction_deny_with_mfa_condition() -> None:
    # NOTACTION: deny everything except IAM when not signed in with MFA.
    p = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Sid": "DenyAllUsersNotUsingMFA",
            "Effect": "Deny",
            "NotAction": "iam:*",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    no_mfa = {"aws:MultiFactorAuthPresent": ["false"]}
    assert evaluate(Request("s3:ListBucket", context=no_mfa), identity=[p]).decision is E
    assert evaluate(Request("iam:ListUsers", context=no_mfa), identity=[p]).decision is A
    # BoolIfExists: long-term access keys carry no MFA key at all, so they are denied too.
    assert evaluate(Request("s3:ListBucket", context={}), identity=[p]).decision is E
    mfa = {"aws:MultiFactorAuthPresent": ["true"]}
    assert evaluate(Request("s3:ListBucket", context=mfa), identity=[p]).decision is A
    # Without a request context the deny may or may not apply.
    assert evaluate(Request("s3:ListBucket"), identity=[p]).decision is C


def test_notresource_allow_all_but_payroll() -> None:
    # NOTRESOURCE: allow every S3 action on everything except the payroll folder.
    p = doc(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "NotResource": [
                "arn:aws:s3:::HRBucket/Payroll",
                "arn:aws:s3:::HRBucket/Payroll/*",
            ],
        }
    )
    assert (
        evaluate(
            Request("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv"), identity=[p]
        ).decision
        is IMPL
    )
    assert (
        evaluate(Request("s3:GetObject", "arn:aws:s3:::HRBucket/Benefits/a"), identity=[p]).decision
        is A
    )


def test_resource_wildcards_cross_slashes() -> None:
    # RESOURCE: "*" in the resource part also matches "/": bucket/* covers every key.
    p = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/x/y/z.txt"), identity=[p]).decision is A
    q = doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::{ACCT}:user/Bob"}
    )
    # "In the Resource element, the IAM user name is case sensitive."
    assert (
        evaluate(Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/bob"), identity=[q]).decision
        is IMPL
    )


def test_stringlikeifexists_instance_types() -> None:
    # OPERATORS (…IfExists): allow launching only t1/t2/m3 instance types; other
    # resources of RunInstances carry no ec2:InstanceType and still pass.
    p = doc(
        {
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
        }
    )

    def run(ctx: dict[str, list[str]]) -> Decision:
        return evaluate(Request("ec2:RunInstances", context=ctx), identity=[p]).decision

    assert run({"ec2:InstanceType": ["t2.micro"]}) is A
    assert run({"ec2:InstanceType": ["p4d.24xlarge"]}) is IMPL
    assert run({}) is A


def test_null_temporary_credentials() -> None:
    # OPERATORS (Null): allow EC2 only with long-term credentials (no aws:TokenIssueTime).
    p = doc(
        {
            "Effect": "Allow",
            "Action": "ec2:*",
            "Resource": "*",
            "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
        }
    )
    assert evaluate(Request("ec2:DescribeVpcs", context={}), identity=[p]).decision is A
    session = {"aws:TokenIssueTime": ["2026-11-29T08:00:00Z"]}
    assert evaluate(Request("ec2:DescribeVpcs", context=session), identity=[p]).decision is IMPL


def test_tag_keys_set_operators() -> None:
    # MULTIVALUED: ForAllValues permits only the listed tag keys and is true with no
    # tags; ForAnyValue needs one of them.
    only = doc(
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}
            },
        }
    )
    some = doc(
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {
                "ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}
            },
        }
    )

    def tags(policy: Policy, keys: list[str] | None) -> Decision:
        ctx = {} if keys is None else {"aws:TagKeys": keys}
        return evaluate(Request("ec2:CreateTags", context=ctx), identity=[policy]).decision

    assert tags(only, ["environment"]) is A
    assert tags(only, ["environment", "owner"]) is IMPL
    assert tags(only, None) is A  # the documented pitfall of ForAllValues with Allow
    assert tags(some, ["environment", "owner"]) is A
    assert tags(some, ["owner"]) is IMPL
    assert tags(some, None) is IMPL


def test_multiple_keys_and_values_logic() -> None:
    # LOGIC: values of one key are ORed, keys and operators are ANDed.
    p = doc(
        {
            "Effect": "Allow",
            "Action": "iam:GetUser",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                    "aws:PrincipalTag/role": ["audit", "security"],
                },
                "StringLike": {"aws:PrincipalTag/cost-center": "cc-*"},
            },
        }
    )
    base = {
        "aws:PrincipalTag/department": ["hr"],
        "aws:PrincipalTag/role": ["security"],
        "aws:PrincipalTag/cost-center": ["cc-42"],
    }
    assert evaluate(Request("iam:GetUser", context=base), identity=[p]).decision is A
    for key, value in [
        ("aws:PrincipalTag/department", "sales"),
        ("aws:PrincipalTag/role", "dev"),
        ("aws:PrincipalTag/cost-center", "x-42"),
    ]:
        ctx = {**base, key: [value]}
        assert evaluate(Request("iam:GetUser", context=ctx), identity=[p]).decision is IMPL


def test_username_variable_home_folder() -> None:
    # VARIABLES: each user reaches only their own prefix.
    p = doc(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*",
        }
    )
    bob = {"aws:username": ["bob"]}
    own = "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt"
    theirs = "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/notes.txt"
    assert evaluate(Request("s3:GetObject", own, context=bob), identity=[p]).decision is A
    assert evaluate(Request("s3:GetObject", theirs, context=bob), identity=[p]).decision is IMPL


def test_time_window_and_source_ip() -> None:
    # EXAMPLES: "Allows access within specific dates" and "Denies access to AWS based
    # on the source IP" (NotIpAddress + aws:ViaAWSService false).
    window = doc(
        {
            "Effect": "Allow",
            "Action": "bedrock:InvokeModel",
            "Resource": "*",
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2026-07-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2026-12-31T23:59:59Z"},
            },
        }
    )
    ip_guard = doc(
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
                "Bool": {"aws:ViaAWSService": "false"},
            },
        }
    )
    inside = {
        "aws:CurrentTime": ["2026-11-29T10:00:00Z"],
        "aws:SourceIp": ["203.0.113.9"],
        "aws:ViaAWSService": ["false"],
    }
    outside_ip = {**inside, "aws:SourceIp": ["198.51.100.7"]}
    via_service = {**outside_ip, "aws:ViaAWSService": ["true"]}
    late = {**inside, "aws:CurrentTime": ["2027-01-02T00:00:00Z"]}

    def decide(ctx: dict[str, list[str]]) -> Decision:
        return evaluate(
            Request("bedrock:InvokeModel", context=ctx), identity=[window, ip_guard]
        ).decision

    assert decide(inside) is A
    assert decide(outside_ip) is E
    assert decide(via_service) is A
    assert decide(late) is IMPL


def test_bedrock_documented_key_controls() -> None:
    # BEDROCK-KEYS: deny bedrock:CallWithBearerToken to stop key use; scope it with
    # bedrock:bearerTokenType to stop only long-term keys.
    user_policy = doc(
        {"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "bedrock:CallWithBearerToken",
            "Resource": "*",
            "Condition": {"StringEquals": {"bedrock:bearerTokenType": "LONG_TERM"}},
        },
    )

    def use(token_type: str) -> Decision:
        req = Request(
            "bedrock:CallWithBearerToken", context={"bedrock:BearerTokenType": [token_type]}
        )
        return evaluate(req, identity=[user_policy]).decision

    assert use("LONG_TERM") is E
    assert use("SHORT_TERM") is A
