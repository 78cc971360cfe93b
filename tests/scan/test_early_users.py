"""Work done while the users' pages arrive changes nothing in the result.

The collection builds users, requests their managed policies and hands partial
snapshots to ``prepare`` before the last page is in (``_EarlyUsers``); the scan
primes the policy evaluations with them (``core.assess.prime``). These tests
hold both to "the same snapshot and the same assessment as without them", with
many small pages, and check the fallbacks when one of the two authorization
detail listings fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from phantomkeys.aws import collect
from phantomkeys.aws.session import AwsContext
from phantomkeys.core import capabilities
from phantomkeys.core.assess import assess_account, prime
from phantomkeys.core.model import AccountSnapshot
from phantomkeys.scan import _default_catalog

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _collect(**kwargs: Any) -> AccountSnapshot:
    return collect.collect_account(AwsContext.from_cli(), now=NOW, **kwargs)


def _comparable(snap: AccountSnapshot) -> dict[str, Any]:
    doc = snap.to_dict()
    doc.pop("api_calls", None)
    return doc


@pytest.fixture
def small_pages(phantomkeys_lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many slow pages: the credential report is in well before the last one."""
    monkeypatch.setattr(collect, "PAGE_SIZE", 3)
    phantomkeys_lab.set_faults("iam:GetAccountAuthorizationDetails=latency:100ms")


def test_users_built_early_are_the_users_built_at_the_end(
    phantomkeys_lab: Any, small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts: list[AccountSnapshot] = []
    early = _collect(prepare=parts.append)
    assert parts, "prepare must see the key holders before the collection ends"
    final = {u.name: u for u in early.users}
    for part in parts:
        for user in part.users:
            assert final[user.name] is user  # built once, not twice
            assert user.service_credentials is not None

    monkeypatch.setattr(collect._EarlyUsers, "step", lambda self: None)
    late = _collect()
    assert _comparable(early) == _comparable(late)


def test_priming_changes_nothing_and_leaves_no_evaluation_for_later(
    phantomkeys_lab: Any, small_pages: None
) -> None:
    catalog = _default_catalog()
    parts: list[AccountSnapshot] = []
    snap = _collect(prepare=parts.append)
    plain = [i.to_dict(NOW) for i in assess_account(snap, catalog=catalog, at=NOW)]

    capabilities.clear_caches()
    parsed: dict[Any, Any] = {}
    for part in parts:
        prime(part, catalog=catalog, parsed=parsed)
    primed_users = {u.name for p in parts for u in p.users}
    before = capabilities._assess_cached.cache_info().misses
    got = assess_account(
        AccountSnapshot(
            account_id=snap.account_id,
            partition=snap.partition,
            collected_at=snap.collected_at,
            users=tuple(u for u in snap.users if u.name in primed_users),
            groups=snap.groups,
            managed_policies=snap.managed_policies,
            failures=snap.failures,
        ),
        catalog=catalog,
        at=NOW,
        parsed=parsed,
    )
    assert got, "the demo account has key holders"
    assert capabilities._assess_cached.cache_info().misses == before
    again = assess_account(snap, catalog=catalog, at=NOW, parsed=parsed)
    assert [i.to_dict(NOW) for i in again] == plain


def test_a_managed_policy_read_again_is_parsed_again(phantomkeys_lab: Any) -> None:
    """The parse cache shared by prime and assess keys on the very policy object:
    a policy that was missing (or different) when primed is not taken from it."""
    catalog = _default_catalog()
    snap = _collect()
    arn = next(a for u in snap.users for a in u.attached_policy_arns if a in snap.managed_policies)
    parsed: dict[Any, Any] = {}
    without = AccountSnapshot(
        account_id=snap.account_id,
        partition=snap.partition,
        collected_at=snap.collected_at,
        users=snap.users,
        groups=snap.groups,
        managed_policies={k: v for k, v in snap.managed_policies.items() if k != arn},
    )
    prime(without, catalog=catalog, parsed=parsed)
    cached = [i.to_dict(NOW) for i in assess_account(snap, catalog=catalog, at=NOW, parsed=parsed)]
    fresh = [i.to_dict(NOW) for i in assess_account(snap, catalog=catalog, at=NOW)]
    assert cached == fresh


@pytest.mark.parametrize("failing", [("User",), ("Group", "LocalManagedPolicy")])
def test_either_detail_listing_failing_falls_back_to_per_user_reads(
    phantomkeys_lab: Any, small_pages: None, monkeypatch: pytest.MonkeyPatch, failing: tuple
) -> None:
    reference = _collect()
    real = collect._Collector.get_authorization_details

    def flaky(self: Any, kinds: Any = ("User",), on_users: Any = None) -> Any:
        if tuple(kinds) == failing:
            self.fail("iam:GetAccountAuthorizationDetails", RuntimeError("AccessDenied"))
            return None
        return real(self, kinds, on_users)

    monkeypatch.setattr(collect._Collector, "get_authorization_details", flaky)
    parts: list[AccountSnapshot] = []
    snap = _collect(prepare=parts.append)
    assert snap.sources["users"].startswith("ListUsers")
    assert snap.sources["policies"].startswith("per user")
    assert not snap.unrecovered()
    catalog = _default_catalog()

    def verdicts(s: AccountSnapshot) -> dict[tuple[str, str], tuple[str, str]]:
        return {
            (i.username, i.surface.id.value): (i.kind.value, i.status.value)
            for i in assess_account(s, catalog=catalog, at=NOW)
        }

    assert verdicts(snap) == verdicts(reference)
