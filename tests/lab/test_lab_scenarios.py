"""Scenario plans and their ground truth (pure: no server)."""

from __future__ import annotations

import json

import pytest

from phantomkeys.lab.scenarios import (
    LabPlan,
    UserSpec,
    count_plan,
    demo_plan,
    describe_scenarios,
    org_plan,
    plan_for,
)
from phantomkeys.surfaces import get_surface, is_api_key_service, surface_for_username


def expected_status(user: UserSpec, plan_accounts_groups: dict[str, tuple[str, ...]]) -> str:
    """The status rules of issue 4, re-derived independently from the user's facts."""
    assert user.surface is not None
    surface_policy = get_surface(user.surface).managed_policy_arn()
    # Every variant of the surface's policy is normal (Claude Platform has two).
    surface_policies = set(get_surface(user.surface).managed_policy_arns())
    beyond = (
        any(p not in surface_policies for p in user.managed_policies)
        or bool(user.inline_policies)
        or any(plan_accounts_groups.get(g) for g in user.groups)
    )
    if user.boundary == surface_policy:
        beyond = False
    # Another service's live credential (CodeCommit, ...) is a way in too (issue 18).
    other = any(c.usable() and not is_api_key_service(c.service) for c in user.credentials)
    if any(k.active for k in user.access_keys) or user.password or beyond or other:
        return "at-risk"
    creds = [
        c for c in user.credentials if c.service == get_surface(user.surface).credential_service
    ]
    if any(c.usable() for c in creds):
        return "active"
    if creds:
        return "expired"
    return "orphaned"


def expected_kind(user: UserSpec) -> str:
    assert user.surface is not None
    if surface_for_username(user.name) is not None:
        return "phantom"
    only_surface = (
        not user.access_keys
        and not user.password
        and not user.groups
        and not user.inline_policies
        and len(user.managed_policies) <= 1
        and set(user.managed_policies) <= set(get_surface(user.surface).managed_policy_arns())
    )
    return "suspected-phantom" if only_surface else "human"


@pytest.mark.parametrize(
    "plan", [demo_plan(), org_plan(), count_plan(60, 30, 1)], ids=["demo", "org", "counts"]
)
def test_declared_truth_follows_the_rules(plan: LabPlan) -> None:
    for acct in plan.accounts:
        groups = {
            g.name: g.managed_policies + tuple(n for n, _ in g.inline_policies) for g in acct.groups
        }
        for user in acct.users:
            if not user.reported:
                assert user.surface is None, user.name
                assert not user.credentials, user.name
                continue
            assert user.status == expected_status(user, groups), user.name
            assert user.kind == expected_kind(user), user.name


def test_demo_covers_every_case() -> None:
    users = demo_plan().accounts[0].users
    statuses = {(u.kind, u.status) for u in users if u.reported}
    assert {
        ("phantom", "orphaned"),
        ("phantom", "active"),
        ("phantom", "at-risk"),
        ("phantom", "expired"),
        ("suspected-phantom", "active"),
        ("suspected-phantom", "orphaned"),
        ("human", "at-risk"),
    } <= statuses
    facts = {u.name: u.facts() for u in users}
    assert facts["BedrockAPIKey-mf4a"]["has_mfa"]
    assert not facts["BedrockAPIKey-mf4a"]["has_password"]
    assert facts["BedrockAPIKey-n3vr"]["never_expiring_key"]
    assert facts["BedrockAPIKey-gr0p"]["groups"] == ["data-science"]
    assert facts["BedrockAPIKey-bnd1"]["permissions_boundary"]
    assert any(u.name.startswith("AeaApiKey-") for u in users)
    assert sum(1 for u in users if not u.reported) >= 3
    assert sum(1 for u in users for c in u.credentials if c.leaked) == 1


def test_manifest_is_json_and_lists_not_reported_users() -> None:
    manifest = demo_plan().manifest()
    json.dumps(manifest)
    account = manifest["accounts"][0]
    assert {"bob", "ci-deploy", "carol"} <= set(account["not_reported"])
    assert len(account["identities"]) + len(account["not_reported"]) == account["user_count"]


def test_counts_are_exact_and_deterministic() -> None:
    plan = count_plan(500, 100, 2, seed=3)
    assert [len(a.users) for a in plan.accounts] == [500, 500, 500]
    assert [sum(1 for u in a.users if u.reported) for a in plan.accounts] == [100, 100, 100]
    assert plan == count_plan(500, 100, 2, seed=3)
    assert plan != count_plan(500, 100, 2, seed=4)
    names = [u.name for u in plan.accounts[0].users]
    assert len(set(names)) == len(names)
    assert count_plan(0, 0, 0).accounts[0].users == ()


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot exceed"):
        count_plan(5, 6, 0)
    with pytest.raises(ValueError, match="unknown scenario"):
        plan_for("nope")


def test_scenarios_are_described() -> None:
    names = {s["name"] for s in describe_scenarios()}
    assert names == {"demo", "org", "empty"}


def test_capabilities_use_the_judged_vocabulary() -> None:
    from phantomkeys.lab.scenarios import CAPABILITY_IDS

    manifest = demo_plan().manifest()
    assert manifest["capability_ids"] == list(CAPABILITY_IDS)
    for ident in manifest["accounts"][0]["identities"]:
        assert set(ident["capabilities"]) <= set(CAPABILITY_IDS), ident["username"]
        assert "invoke-models" in ident["capabilities"]
