"""Work done while the users' pages arrive changes nothing in the result.

The collection builds users, requests their managed policies and hands partial
snapshots to ``prepare`` before the last page is in (``_EarlyUsers``); the scan
assesses them there (``core.assess.assess_ahead``) and the final assessment
reuses what is provably unchanged. These tests
hold both to "the same snapshot and the same assessment as without them", with
many small pages, and check the fallbacks when one of the two authorization
detail listings fails.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from phantomkeys.aws import collect
from phantomkeys.aws.session import AwsContext
from phantomkeys.core.assess import assess_account, assess_ahead
from phantomkeys.core.model import AccountSnapshot, LookupFailure, ManagedPolicy
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


def test_assessing_ahead_changes_nothing(phantomkeys_lab: Any, small_pages: None) -> None:
    catalog = _default_catalog()
    parts: list[AccountSnapshot] = []
    snap = _collect(prepare=parts.append)
    plain = [i.to_dict(NOW) for i in assess_account(snap, catalog=catalog, at=NOW)]

    parsed: dict[Any, Any] = {}
    ahead = [assess_ahead(p, catalog=catalog, at=NOW, parsed=parsed) for p in parts]
    early = {id(i) for a in ahead for _, found in a.by_user.values() for i in found}
    assert early, "the demo account has key holders"
    got = assess_account(snap, catalog=catalog, at=NOW, parsed=parsed, ahead=ahead)
    assert [i.to_dict(NOW) for i in got] == plain
    assert early <= {id(i) for i in got}, "identities assessed ahead are reused"


def test_nothing_assessed_ahead_is_reused_when_an_input_differs(phantomkeys_lab: Any) -> None:
    """A failure recorded later, a policy read again, another time: assessed anew."""
    catalog = _default_catalog()
    snap = _collect()
    user = next(u for u in snap.users if u.attached_policy_arns)
    ahead = [assess_ahead(replace(snap, users=(user,)), catalog=catalog, at=NOW)]
    early = {id(i) for _, found in ahead[0].by_user.values() for i in found}

    def reused(final: AccountSnapshot, at: datetime = NOW) -> bool:
        got = assess_account(final, catalog=catalog, at=at, ahead=ahead)
        return bool(early & {id(i) for i in got})

    assert reused(snap)
    failed = LookupFailure("iam:GetCredentialReport", "Throttling", "slow down")
    assert not reused(replace(snap, failures=(failed,)))
    arn = user.attached_policy_arns[0]
    again = dict(snap.managed_policies)
    if arn in again:
        again[arn] = replace(again[arn])  # equal, but read again: not the same object
    else:
        again[arn] = ManagedPolicy(arn=arn, name="x", document=None)
    assert not reused(replace(snap, managed_policies=again))
    assert not reused(snap, at=NOW + timedelta(days=1))
    assert not reused(replace(snap, users=(replace(user),)))


def test_a_managed_policy_read_again_is_parsed_again(phantomkeys_lab: Any) -> None:
    """The parse cache shared by early and final assessments keys on the very policy
    object: a policy that was missing (or different) early is not taken from it."""
    catalog = _default_catalog()
    snap = _collect()
    arn = next(a for u in snap.users for a in u.attached_policy_arns if a in snap.managed_policies)
    parsed: dict[Any, Any] = {}
    without = replace(
        snap, managed_policies={k: v for k, v in snap.managed_policies.items() if k != arn}
    )
    assess_ahead(without, catalog=catalog, at=NOW, parsed=parsed)
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
