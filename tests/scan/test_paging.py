"""IAM paging: the prefetching pager returns exactly what plain paging returns."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.hooks import HierarchicalEmitter

from phantomkeys.aws.collect import PagingError, _pages, _prefetched_pages


class FakeIam:
    """A client double: emits ``before-parse`` with a raw body, then returns the page.

    ``body_marker`` lets a test make the raw body disagree with the parsed page.
    """

    def __init__(self, pages: int, body_marker: Any = None) -> None:
        self.pages = pages
        self.body_marker = body_marker or (lambda n: f"m{n}")
        self.calls: list[str | None] = []
        self.lock = threading.Lock()
        self.meta = SimpleNamespace(
            events=HierarchicalEmitter(),
            service_model=SimpleNamespace(service_id=SimpleNamespace(hyphenize=lambda: "iam")),
        )

    def list_things(self, **kwargs: Any) -> dict[str, Any]:
        marker = kwargs.get("Marker")
        with self.lock:
            self.calls.append(marker)
        n = 0 if marker is None else int(marker[1:])
        truncated = n + 1 < self.pages
        body = f"<R><IsTruncated>{str(truncated).lower()}</IsTruncated>".encode()
        if truncated:
            body += f"<Marker>{self.body_marker(n + 1)}</Marker>".encode()
        self.meta.events.emit("before-parse.iam.ListThings", response_dict={"body": body + b"</R>"})
        page: dict[str, Any] = {"Items": [n], "IsTruncated": truncated}
        if truncated:
            page["Marker"] = f"m{n + 1}"
        return page


def test_same_pages_and_calls_as_plain_paging() -> None:
    fake = FakeIam(6)
    got = [p["Items"][0] for p in _prefetched_pages(fake, "list_things", MaxItems=1)]
    assert got == [0, 1, 2, 3, 4, 5]
    assert sorted(fake.calls, key=str) == sorted([None, "m1", "m2", "m3", "m4", "m5"], key=str)
    # The handler is gone afterwards: a later call prefetches nothing.
    fake.calls.clear()
    fake.list_things()
    assert fake.calls == [None]


def test_a_body_marker_that_disagrees_is_not_trusted() -> None:
    fake = FakeIam(4, body_marker=lambda n: f"m{n + 1}")  # the raw body skips ahead
    got = [p["Items"][0] for p in _prefetched_pages(fake, "list_things")]
    assert got == [0, 1, 2, 3]  # every page, in order, from the parsed markers


def test_repeated_marker_is_a_paging_error() -> None:
    class Loop(FakeIam):
        def list_things(self, **kwargs: Any) -> dict[str, Any]:
            return {"Items": [0], "IsTruncated": True, "Marker": "same"}

    with pytest.raises(PagingError):
        list(_prefetched_pages(Loop(1), "list_things"))


@pytest.mark.lab
@pytest.mark.phantomkeys_lab(scenario="empty")
def test_lab_listing_matches_plain_paging_under_throttling(phantomkeys_lab: Any) -> None:
    iam = boto3.client("iam")
    for i in range(230):
        iam.create_user(UserName=f"user-{i:04d}")
    phantomkeys_lab.set_faults("iam:GetAccountAuthorizationDetails=throttle:0.1")

    def names(pages: Any) -> list[str]:
        return [u["UserName"] for p in pages for u in p["UserDetailList"]]

    kwargs = {"Filter": ["User"], "MaxItems": 50}
    plain = names(_pages(iam.get_account_authorization_details, **kwargs))
    fast = names(_prefetched_pages(iam, "get_account_authorization_details", **kwargs))
    assert fast == plain
    assert len(plain) == 230 and len(set(plain)) == 230
