"""Deploy plans (pure): what is created, updated, attached, or already done."""

from __future__ import annotations

import json

import pytest

from phantomkeys.core.controls.alerts import build_alert_rules
from phantomkeys.core.controls.deploy import (
    AlertDeployState,
    ExistingPolicy,
    ExistingRule,
    RegionAlertState,
    ScpDeployState,
    StepKind,
    StepStatus,
    TargetKind,
    attachment_overflow,
    plan_alerts_deploy,
    plan_scp_deploy,
    stale_parts,
    target_kind,
)
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.surfaces import SURFACES

OU = "ou-ab12-34567890"
POLICIES = generate_policies(ScpOptions(presets=(Preset.BLOCK_ALL,)))
NAME = POLICIES[0].name


def _state(
    *,
    content: str | None = None,
    attached: bool = False,
    enabled: bool = True,
    others: frozenset[str] = frozenset(),
) -> ScpDeployState:
    existing = (
        {}
        if content is None
        else {NAME: ExistingPolicy("p-abcd1234", NAME, POLICIES[0].description, content)}
    )
    return ScpDeployState(
        root_id="r-ab12",
        scp_enabled=enabled,
        policies=existing,
        attachments={OU: frozenset({"p-FullAWSAccess", *(["p-abcd1234"] if attached else [])})},
        all_names=frozenset({"FullAWSAccess", *existing, *others}),
    )


def _plan(state: ScpDeployState) -> list[tuple[str, str]]:
    return [(s.kind.value, s.status.value) for s in plan_scp_deploy(POLICIES, [OU], state)]


def test_fresh_organization_plan() -> None:
    assert _plan(_state(enabled=False)) == [
        ("enable-policy-type", "pending"),
        ("create-policy", "pending"),
        ("attach-policy", "pending"),
    ]


def test_identical_policy_with_other_whitespace_is_up_to_date() -> None:
    pretty = json.dumps(POLICIES[0].document, indent=4)
    assert _plan(_state(content=pretty, attached=True)) == [
        ("enable-policy-type", "already-done"),
        ("update-policy", "already-done"),
        ("attach-policy", "already-done"),
    ]


def test_changed_content_is_updated_in_place() -> None:
    old = generate_policies(ScpOptions(presets=(Preset.BLOCK_PIVOT,)))[0].content
    steps = plan_scp_deploy(POLICIES, [OU], _state(content=old, attached=True))
    update = next(s for s in steps if s.kind is StepKind.UPDATE_POLICY)
    assert update.status is StepStatus.PENDING
    assert update.params["policy_id"] == "p-abcd1234"
    assert update.params["content"] == POLICIES[0].content


def test_five_scps_per_target_limit() -> None:
    state = _state()
    crowded = ScpDeployState(
        state.root_id, True, {}, {OU: frozenset({"p-FullAWSAccess", "p-1", "p-2", "p-3", "p-4"})}
    )
    assert attachment_overflow(POLICIES, [OU], crowded) == {OU: 6}
    assert attachment_overflow(POLICIES, [OU], state) == {}


def test_stale_parts_of_an_earlier_split_are_reported() -> None:
    state = _state(others=frozenset({f"{NAME}-part1", f"{NAME}-part2", f"{NAME}-other"}))
    assert stale_parts(NAME, POLICIES, state) == [f"{NAME}-part1", f"{NAME}-part2"]


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("r-ab12", TargetKind.ROOT),
        ("ou-ab12-34567890", TargetKind.OU),
        ("111122223333", TargetKind.ACCOUNT),
        ("prod", None),
        ("11112222333", None),
    ],
)
def test_target_kinds(target, kind) -> None:
    assert target_kind(target) is kind


def test_alert_plan_per_region_with_a_given_topic() -> None:
    rules = build_alert_rules(SURFACES)
    given = "arn:aws:sns:us-east-1:111122223333:security"
    existing = {
        r.name: ExistingRule(
            r.name,
            json.dumps(r.pattern, indent=1),
            "ENABLED",
            r.description,
            {"phantomkeys-sns": given},
        )
        for r in rules
    }
    state = AlertDeployState(
        "111122223333",
        "aws",
        [
            RegionAlertState("us-east-1", given, True, None, existing),
            RegionAlertState("eu-west-1", None, False, None, {}),
        ],
    )
    steps = plan_alerts_deploy(
        rules, state, topic_name="phantomkeys-alerts", topic_given={"us-east-1": given}
    )
    us = [s for s in steps if s.region == "us-east-1"]
    eu = [s for s in steps if s.region == "eu-west-1"]
    assert {s.status for s in us} == {StepStatus.ALREADY_DONE}
    assert StepKind.CREATE_TOPIC not in {s.kind for s in us}
    assert [s.kind for s in eu][:2] == [StepKind.CREATE_TOPIC, StepKind.SET_TOPIC_POLICY]
    eu_rules = {s.subject for s in eu if s.kind is StepKind.PUT_RULE}
    assert eu_rules == {"phantomkeys-bearer-token-used", "phantomkeys-phantom-user-activity"}
    # A disabled rule is re-enabled.
    disabled = dict(existing)
    name = rules[0].name
    disabled[name] = ExistingRule(
        name,
        json.dumps(rules[0].pattern),
        "DISABLED",
        rules[0].description,
        {"phantomkeys-sns": given},
    )
    state = AlertDeployState(
        "111122223333", "aws", [RegionAlertState("us-east-1", given, True, None, disabled)]
    )
    again = plan_alerts_deploy(rules, state, topic_name="x", topic_given={"us-east-1": given})
    assert [s.subject for s in again if s.status is StepStatus.PENDING] == [name]
