"""Condition operators, one by one, against the IAM User Guide's rules.

Source: IAM User Guide, "IAM JSON policy elements: Condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
and "Single-valued vs. multivalued context keys"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
"""

from __future__ import annotations

import pytest

from phantomkeys.core.policy import Condition, Truth, evaluate_condition

T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
BREAK_GLASS = "arn:aws:iam::123456789012:role/BreakGlass"


def check(
    operator: str,
    key: str,
    values: list[str] | str,
    context: dict[str, list[str]] | None,
    *,
    complete: bool = True,
) -> Truth:
    vals = (values,) if isinstance(values, str) else tuple(values)
    return evaluate_condition(Condition(operator, key, vals), context, complete=complete)


@pytest.mark.parametrize(
    ("operator", "values", "request_values", "expected"),
    [
        # Strings: exact and case-sensitive; several policy values are ORed.
        ("StringEquals", ["LONG_TERM"], ["LONG_TERM"], T),
        ("StringEquals", ["LONG_TERM"], ["long_term"], F),
        ("StringEquals", ["A", "LONG_TERM"], ["LONG_TERM"], T),
        ("StringNotEquals", ["A", "B"], ["C"], T),
        ("StringNotEquals", ["A", "B"], ["B"], F),
        ("StringEqualsIgnoreCase", ["long_term"], ["LONG_TERM"], T),
        ("StringNotEqualsIgnoreCase", ["long_term"], ["LONG_TERM"], F),
        ("StringLike", ["BedrockAPIKey-*"], ["BedrockAPIKey-hr8l"], T),
        ("StringLike", ["BedrockAPIKey-????"], ["BedrockAPIKey-hr8l"], T),
        ("StringLike", ["BedrockAPIKey-???"], ["BedrockAPIKey-hr8l"], F),
        ("StringLike", ["bedrockapikey-*"], ["BedrockAPIKey-hr8l"], F),
        ("StringNotLike", ["AeaApiKey-*"], ["BedrockAPIKey-hr8l"], T),
        ("StringLike", ["a[b]c"], ["a[b]c"], T),  # brackets are literal, unlike fnmatch
        # Numbers
        ("NumericGreaterThanEquals", ["30"], ["30"], T),
        ("NumericGreaterThanEquals", ["30"], ["29"], F),
        ("NumericGreaterThan", ["30"], ["30.5"], T),
        ("NumericLessThan", ["3600"], ["120"], T),
        ("NumericLessThanEquals", ["10"], ["10"], T),
        ("NumericEquals", ["1"], ["1.0"], T),
        ("NumericNotEquals", ["1"], ["2"], T),
        ("NumericEquals", ["1"], ["one"], F),
        # Dates: ISO 8601 and epoch seconds
        ("DateGreaterThan", ["2026-01-01T00:00:00Z"], ["2026-11-29T10:00:00Z"], T),
        ("DateLessThan", ["2026-01-01T00:00:00Z"], ["2026-11-29T10:00:00Z"], F),
        ("DateLessThanEquals", ["2026-11-29T10:00:00Z"], ["1795946400"], T),
        ("DateEquals", ["2026-11-29"], ["2026-11-29T00:00:00+00:00"], T),
        ("DateNotEquals", ["2026-11-29"], ["2026-11-30"], T),
        ("DateGreaterThan", ["2026-01-01"], ["not a date"], F),
        # Bool
        ("Bool", ["true"], ["true"], T),
        ("Bool", ["true"], ["TRUE"], T),
        ("Bool", ["false"], ["true"], F),
        # IP addresses
        ("IpAddress", ["203.0.113.0/24"], ["203.0.113.7"], T),
        ("IpAddress", ["203.0.113.0/24", "2001:db8::/32"], ["2001:db8::1"], T),
        ("IpAddress", ["203.0.113.7"], ["203.0.113.7"], T),
        ("NotIpAddress", ["203.0.113.0/24"], ["198.51.100.1"], T),
        ("NotIpAddress", ["203.0.113.0/24"], ["203.0.113.7"], F),
        ("IpAddress", ["203.0.113.0/24"], ["garbage"], F),
        # ARNs: per-segment globbing, case-sensitive
        ("ArnLike", ["arn:aws:iam::*:role/BreakGlass"], [BREAK_GLASS], T),
        ("ArnEquals", ["arn:aws:iam::*:role/BreakGlass"], [BREAK_GLASS], T),
        ("ArnLike", ["arn:aws:iam::*:role/breakglass"], [BREAK_GLASS], F),
        ("ArnLike", ["arn:aws:iam::*:role/*"], ["arn:aws:iam::123456789012:user/x"], F),
        ("ArnNotLike", ["arn:aws:iam::*:role/*"], ["arn:aws:iam::123456789012:user/x"], T),
        ("ArnNotEquals", ["arn:aws:iam::1:role/a"], ["arn:aws:iam::1:role/a"], F),
        ("ArnLike", ["arn:aws:iam::*:role/*"], ["not-an-arn"], F),
        ("BinaryEquals", ["QmluYXJ5VmFsdWU="], ["QmluYXJ5VmFsdWU="], T),
    ],
)
def test_operators(
    operator: str, values: list[str], request_values: list[str], expected: Truth
) -> None:
    assert check(operator, "k:key", values, {"k:key": request_values}) is expected


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        # "the values do not match and the condition is false" …
        ("StringEquals", F),
        ("StringLike", F),
        ("NumericGreaterThanEquals", F),
        ("DateLessThan", F),
        ("Bool", F),
        ("IpAddress", F),
        ("ArnLike", F),
        # … "If the policy condition requires that the key is not matched, such as
        # StringNotLike or ArnNotLike, and the right key is not present, the
        # condition is true."
        ("StringNotEquals", T),
        ("StringNotLike", T),
        ("ArnNotLike", T),
        ("NotIpAddress", T),
        ("NumericNotEquals", T),
        # IfExists: a missing key passes.
        ("StringEqualsIfExists", T),
        ("NumericLessThanIfExists", T),
        ("BoolIfExists", T),
        ("StringNotEqualsIfExists", T),
        # Set operators decide for missing keys.
        ("ForAllValues:StringEquals", T),
        ("ForAllValues:StringNotEquals", T),
        ("ForAnyValue:StringEquals", F),
        ("ForAnyValue:StringNotEquals", F),
        ("ForAnyValue:StringEqualsIfExists", F),
    ],
)
def test_missing_key(operator: str, expected: Truth) -> None:
    assert check(operator, "aws:SourceVpc", ["vpc-1"], {"aws:other": ["x"]}) is expected
    # An empty value list counts as missing.
    assert check(operator, "aws:SourceVpc", ["vpc-1"], {"aws:SourceVpc": []}) is expected


def test_null_operator() -> None:
    assert check("Null", "aws:TokenIssueTime", "true", {}) is T
    assert check("Null", "aws:TokenIssueTime", "false", {}) is F
    assert check("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": ["x"]}) is T
    assert check("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": ["x"]}) is F
    assert check("Null", "aws:TokenIssueTime", "TRUE", {}) is T
    assert check("Null", "aws:TokenIssueTime", "maybe", {}) is F
    assert check("Null", "aws:TokenIssueTime", "true", None) is U
    assert check("Null", "aws:TokenIssueTime", "true", {}, complete=False) is U


@pytest.mark.parametrize(
    ("operator", "request_tags", "expected"),
    [
        # The documented aws:TagKeys examples: policy values [environment, cost-center].
        ("ForAllValues:StringEquals", ["environment"], T),
        ("ForAllValues:StringEquals", ["environment", "cost-center"], T),
        ("ForAllValues:StringEquals", ["environment", "dept"], F),
        ("ForAnyValue:StringEquals", ["environment", "dept"], T),
        ("ForAnyValue:StringEquals", ["dept"], F),
        ("ForAllValues:StringNotEquals", ["dept", "owner"], T),
        ("ForAllValues:StringNotEquals", ["dept", "environment"], F),
        ("ForAnyValue:StringNotEquals", ["dept", "environment"], T),
        ("ForAnyValue:StringNotEquals", ["environment"], F),
        ("ForAnyValue:StringLike", ["cost-*"], F),
        ("ForAnyValue:StringLike", ["cost-center"], T),
        # No qualifier on a multivalued key: any value matches.
        ("StringEquals", ["dept", "environment"], T),
        ("StringNotEquals", ["dept", "environment"], F),
    ],
)
def test_set_operators(operator: str, request_tags: list[str], expected: Truth) -> None:
    assert (
        check(
            operator, "aws:TagKeys", ["environment", "cost-center"], {"aws:TagKeys": request_tags}
        )
        is expected
    )


def test_unknown_context_and_unknown_operators() -> None:
    assert check("StringEquals", "aws:username", "bob", None) is U
    assert check("StringEquals", "aws:username", "bob", {"other": ["x"]}, complete=False) is U
    assert (
        check("StringEquals", "aws:username", "bob", {"aws:username": ["bob"]}, complete=False) is T
    )
    assert check("StringSoundsLike", "aws:username", "bob", {"aws:username": ["bob"]}) is U
    assert check("ForSomeValues:StringEquals", "aws:TagKeys", "a", {"aws:TagKeys": ["a"]}) is U
    assert check("NullIfExists", "aws:username", "true", {}) is U
    assert check("NumericBetween", "k", "1", {"k": ["1"]}) is U


def test_variables_in_condition_values() -> None:
    cond = ("StringEquals", "s3:prefix", "home/${aws:username}/")
    assert check(*cond, {"s3:prefix": ["home/bob/"], "aws:username": ["bob"]}) is T
    assert check(*cond, {"s3:prefix": ["home/eve/"], "aws:username": ["bob"]}) is F
    assert check(*cond, {"s3:prefix": ["home/bob/"]}, complete=False) is U
    # A complete context without the variable: that value matches nothing.
    assert check(*cond, {"s3:prefix": ["home/bob/"]}) is F
    assert check("StringEquals", "k", "${aws:username, 'anon'}", {"k": ["anon"]}) is T


def test_key_names_are_case_insensitive() -> None:
    assert (
        check(
            "StringEquals",
            "Bedrock:BearerTokenType",
            "LONG_TERM",
            {"bedrock:bearertokentype": ["LONG_TERM"]},
        )
        is T
    )
    assert check("stringequals", "k", "v", {"K": ["v"]}) is T
    assert check("forallvalues:stringequals", "k", "v", {"K": ["v"]}) is T
