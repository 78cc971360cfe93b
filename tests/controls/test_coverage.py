"""scp coverage (pure): goals per account, evaluated by the scan's policy engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from phantomkeys.core.controls.coverage import (
    AccountScpPath,
    CoverageSnapshot,
    Goal,
    GoalState,
    assess_coverage,
)
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.core.findings import Severity
from phantomkeys.core.model import ManagedPolicy, ScpLevel
from phantomkeys.surfaces import BEDROCK, SURFACES

from .samples import AWS_SAMPLE_30_DAYS, AWS_SAMPLE_LONG_TERM

FULL = ManagedPolicy(
    arn="arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
    name="FullAWSAccess",
    document={
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
)
MGMT, PROD, TEAM, DEV, SANDBOX, SHARED = (f"{n}" * 12 for n in range(1, 7))
AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def _generated(*presets: Preset, days: int | None = None) -> list[ManagedPolicy]:
    return [
        ManagedPolicy(arn=p.name, name=p.name, document=p.document)
        for p in generate_policies(ScpOptions(presets=presets, max_age_days=days))
    ]


def _sample(name: str, document: dict[str, Any]) -> ManagedPolicy:
    return ManagedPolicy(arn=name, name=name, document=document)


PROD_POLICIES = _generated(
    Preset.BLOCK_LONG_TERM,
    Preset.MAX_AGE,
    Preset.BLOCK_PIVOT,
    Preset.BLOCK_PHANTOM_CREATION,
    days=30,
)


def _path(
    account: str,
    name: str,
    *ous: tuple[str, str, list[ManagedPolicy]],
    own: list[ManagedPolicy] | None = None,
) -> AccountScpPath:
    levels = [ScpLevel("r-ab12", "Root", (FULL,))]
    levels += [ScpLevel(ou_id, ou_name, (FULL, *extra)) for ou_id, ou_name, extra in ous]
    levels.append(ScpLevel(account, name, (FULL, *(own or []))))
    return AccountScpPath(account, name, tuple(levels), ou_path=tuple(o[1] for o in ous))


def _org(*, scp_enabled: bool = True) -> CoverageSnapshot:
    prod_ou = ("ou-ab12-11111111", "Prod", PROD_POLICIES)
    return CoverageSnapshot(
        organization_id="o-exampleorgid",
        management_account_id=MGMT,
        scp_enabled=scp_enabled,
        collected_at=AT,
        accounts=(
            _path(MGMT, "management"),
            _path(PROD, "prod", prod_ou),
            _path(TEAM, "team", prod_ou, ("ou-ab12-22222222", "Team", [])),
            _path(
                DEV,
                "dev",
                (
                    "ou-ab12-33333333",
                    "Dev",
                    [
                        _sample("aws-sample-30-days", AWS_SAMPLE_30_DAYS),
                        _sample("aws-sample-long-term", AWS_SAMPLE_LONG_TERM),
                    ],
                ),
            ),
            _path(SANDBOX, "sandbox", ("ou-ab12-44444444", "Sandbox", [])),
            _path(SHARED, "shared", own=_generated(*Preset, days=7)),
            AccountScpPath("777777777777", "unreadable", None, error="AccessDenied: nope"),
        ),
    )


def _states(report, account: str) -> dict[Goal, GoalState]:
    row = next(a for a in report.accounts if a.account_id == account)
    return {r.goal: r.state for r in row.results}


B, G = GoalState.BLOCKED, GoalState.GAP


@pytest.fixture(scope="module")
def report():
    return assess_coverage(_org(), SURFACES)


def test_accounts_under_the_protected_ou_and_its_child_ou(report) -> None:
    expected = {
        Goal.LONG_TERM_KEY_CREATION: B,
        Goal.NEVER_EXPIRING_KEYS: B,
        Goal.LONG_TERM_KEY_USE: B,
        Goal.BEARER_TOKEN_USE: G,
        Goal.PHANTOM_USER_CREATION: B,
        Goal.PHANTOM_PIVOT: B,
    }
    assert _states(report, PROD) == expected
    assert _states(report, TEAM) == expected  # inherited from Prod through Team


def test_age_cap_without_null_guard_is_a_never_expiring_gap(report) -> None:
    states = _states(report, DEV)
    assert states[Goal.NEVER_EXPIRING_KEYS] is G
    assert states[Goal.LONG_TERM_KEY_CREATION] is G
    # The AWS long-term sample covers bedrock but not bedrock-mantle: still a gap.
    assert states[Goal.LONG_TERM_KEY_USE] is G
    gap = next(
        f
        for f in report.findings
        if f.account_id == DEV and f.rule_id == "scp-gap-never-expiring-keys"
    )
    assert "bedrock: create key without an age: allowed" in gap.evidence["not_denied"]
    # The 36,600-day request is denied by the >= 30 cap: the gap is the missing Null guard.
    assert "bedrock: create key with the 36600-day age: allowed" not in gap.evidence["not_denied"]
    assert (
        "aws-sample-30-days#DenyBedrockApiKeysLongerThan30Days" in gap.evidence["partly_denied_by"]
    )
    mantle = next(
        f
        for f in report.findings
        if f.account_id == DEV and f.rule_id == "scp-gap-long-term-key-use"
    )
    assert (
        "bedrock-mantle:CallWithBearerToken with a LONG_TERM key: allowed"
        in mantle.evidence["not_denied"]
    )


def test_unprotected_ou_has_every_gap(report) -> None:
    assert set(_states(report, SANDBOX).values()) == {G}
    rules = sorted(f.rule_id for f in report.findings if f.account_id == SANDBOX)
    assert rules == sorted(
        [
            "scp-gap-long-term-key-creation",
            "scp-gap-never-expiring-keys",
            "scp-gap-long-term-key-use",
            "scp-gap-bearer-token-use",
            "scp-gap-phantom-user-creation",
            "scp-gap-phantom-pivot",
        ]
    )


def test_account_level_attachment_protects_every_goal_and_names_the_policy(report) -> None:
    assert set(_states(report, SHARED).values()) == {B}
    row = next(a for a in report.accounts if a.account_id == SHARED)
    never = next(r for r in row.results if r.goal is Goal.NEVER_EXPIRING_KEYS)
    assert never.achieved_by[0].startswith("phantomkeys-block-all-")


def test_management_account_is_never_protected_by_scps(report) -> None:
    assert set(_states(report, MGMT).values()) == {GoalState.NOT_ENFORCEABLE}
    findings = [f for f in report.findings if f.account_id == MGMT]
    assert len(findings) == len(Goal)
    assert all("management account" in f.evidence["reason"] for f in findings)
    assert {f.severity for f in findings} == {Severity.INFO}


def test_unreadable_account_is_unknown_not_unprotected(report) -> None:
    assert set(_states(report, "777777777777").values()) == {GoalState.UNKNOWN}
    assert not [f for f in report.findings if f.account_id == "777777777777"]
    assert report.incomplete


def test_break_glass_exemptions_are_reported_with_the_goal() -> None:
    breakglass = "arn:aws:iam::*:role/BreakGlass"
    policies = generate_policies(
        ScpOptions(presets=(Preset.BLOCK_ALL,), exempt_principals=(breakglass,))
    )
    snapshot = CoverageSnapshot(
        "o-1",
        MGMT,
        True,
        AT,
        accounts=(_path(PROD, "prod", own=[_sample(p.name, p.document) for p in policies]),),
    )
    row = assess_coverage(snapshot, SURFACES).accounts[0]
    bearer = next(r for r in row.results if r.goal is Goal.BEARER_TOKEN_USE)
    assert bearer.state is B
    assert bearer.exempt_principals == (breakglass,)
    assert bearer.to_dict()["exempt_principals"] == [breakglass]


def test_policy_type_disabled_means_no_scp_applies() -> None:
    report = assess_coverage(_org(scp_enabled=False), SURFACES)
    assert set(_states(report, SHARED).values()) == {G}


def test_missing_allow_at_a_level_is_an_implicit_deny() -> None:
    snapshot = CoverageSnapshot(
        "o-1",
        MGMT,
        True,
        AT,
        accounts=(
            AccountScpPath(
                PROD,
                "allow-list",
                (
                    ScpLevel("r-ab12", "Root", (FULL,)),
                    ScpLevel(
                        PROD,
                        "allow-list",
                        (
                            _sample(
                                "s3-only",
                                {
                                    "Version": "2012-10-17",
                                    "Statement": [
                                        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
                                    ],
                                },
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )
    report = assess_coverage(snapshot, (BEDROCK,))
    row = report.accounts[0]
    assert {r.state for r in row.results} == {B}
    assert row.results[0].achieved_by == ("no SCP allows it at allow-list",)


def test_surface_choice_limits_the_probes() -> None:
    bedrock_cap = generate_policies(
        ScpOptions(presets=(Preset.MAX_AGE,), surfaces=(BEDROCK,), max_age_days=30)
    )[0]
    snapshot = CoverageSnapshot(
        "o-1",
        MGMT,
        True,
        AT,
        accounts=(_path(PROD, "prod", own=[_sample(bedrock_cap.name, bedrock_cap.document)]),),
    )
    bedrock = _states(assess_coverage(snapshot, (BEDROCK,)), PROD)
    both = _states(assess_coverage(snapshot, SURFACES), PROD)
    assert bedrock[Goal.NEVER_EXPIRING_KEYS] is B
    assert both[Goal.NEVER_EXPIRING_KEYS] is G  # Claude Platform keys are not capped


def test_unparsable_scp_makes_the_account_unknown() -> None:
    snapshot = CoverageSnapshot(
        "o-1",
        MGMT,
        True,
        AT,
        accounts=(_path(PROD, "prod", own=[_sample("broken", {"Statement": "nope"})]),),
    )
    report = assess_coverage(snapshot, SURFACES)
    assert report.accounts[0].status == "error"
    assert "broken" in (report.accounts[0].error or "")
    assert report.findings == ()


def test_snapshot_round_trip_gives_the_same_report(report) -> None:
    again = assess_coverage(CoverageSnapshot.from_dict(_org().to_dict()), SURFACES)
    assert [a.to_dict() for a in again.accounts] == [a.to_dict() for a in report.accounts]
    assert [f.fingerprint for f in again.findings] == [f.fingerprint for f in report.findings]


def test_gap_fingerprints_differ_per_account_and_goal(report) -> None:
    prints = [f.fingerprint for f in report.findings]
    assert len(prints) == len(set(prints))
