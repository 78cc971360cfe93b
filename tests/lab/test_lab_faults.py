"""Fault specs: parsing, matching, seeded rates (pure, no server)."""

from __future__ import annotations

import pytest

from phantomkeys.lab.faults import FaultInjector, FaultKind, FaultSpecError, parse_spec

SPEC = (
    "iam:ListServiceSpecificCredentials=throttle:0.5,iam:*=5xx:0.05,"
    "sts:AssumeRole@222222222222=denied,iam:GetAccountAuthorizationDetails=latency:200ms"
)


def test_the_documented_example_parses() -> None:
    rules = parse_spec(SPEC)
    assert [r.kind for r in rules] == [
        FaultKind.THROTTLE,
        FaultKind.SERVER_ERROR,
        FaultKind.DENIED,
        FaultKind.LATENCY,
    ]
    assert rules[0].rate == 0.5
    assert rules[2].account_id == "222222222222"
    assert rules[2].rate == 1.0
    assert rules[3].latency_seconds == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("iam:ListUsers", "expected TARGET=KIND"),
        ("iam=throttle", "SERVICE:OPERATION"),
        ("iam:ListUsers=explode", "unknown kind"),
        ("iam:ListUsers=throttle:1.5", "between 0 and 1"),
        ("iam:ListUsers=throttle:often", "rate must be a number"),
        ("iam:ListUsers@12345=denied", "12 digits"),
        ("iam:ListUsers=latency", "needs a duration"),
        ("iam:ListUsers=latency:fast", "200ms"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, needle: str) -> None:
    with pytest.raises(FaultSpecError, match=needle):
        parse_spec(spec)


def _hits(
    injector: FaultInjector,
    n: int,
    op: str = "ListServiceSpecificCredentials",
    account: str = "111111111111",
) -> list[bool]:
    return [injector.decide("iam", op, account).error is not None for _ in range(n)]


def test_rate_is_honoured_and_seeded() -> None:
    first = _hits(FaultInjector("iam:ListServiceSpecificCredentials=throttle:0.3", seed=7), 2000)
    again = _hits(FaultInjector("iam:ListServiceSpecificCredentials=throttle:0.3", seed=7), 2000)
    other = _hits(FaultInjector("iam:ListServiceSpecificCredentials=throttle:0.3", seed=8), 2000)
    assert first == again  # same seed, same sequence
    assert first != other
    assert 0.25 < sum(first) / len(first) < 0.35


def test_account_scoped_rules_only_hit_that_account() -> None:
    injector = FaultInjector("sts:AssumeRole@222222222222=denied")
    assert injector.decide("sts", "AssumeRole", "222222222222").error is FaultKind.DENIED
    assert injector.decide("sts", "AssumeRole", "333333333333").error is None
    assert injector.decide("sts", "GetCallerIdentity", "222222222222").error is None


def test_wildcards_latency_and_runtime_change() -> None:
    injector = FaultInjector("iam:List*=latency:1.5s,*=throttle:0")
    decision = injector.decide("iam", "ListUsers", None)
    assert decision.latency_seconds == pytest.approx(1.5)
    assert decision.error is None
    assert injector.decide("iam", "GetUser", None).latency_seconds == 0
    injector.set_spec("iam:GetUser=5xx")
    assert injector.decide("iam", "GetUser", None).error is FaultKind.SERVER_ERROR
    assert injector.decide("iam", "ListUsers", None).latency_seconds == 0
    injector.set_spec(None)
    assert injector.spec is None
    assert injector.decide("iam", "GetUser", None).error is None


def test_a_bad_runtime_spec_keeps_the_old_rules() -> None:
    injector = FaultInjector("iam:GetUser=denied")
    with pytest.raises(FaultSpecError):
        injector.set_spec("iam:GetUser=nonsense")
    assert injector.spec == "iam:GetUser=denied"
