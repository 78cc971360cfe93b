"""AwsManagedPolicies: one read per policy per scan, failures never shared."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from phantomkeys.aws.collect import AwsManagedPolicies, _is_aws_managed
from phantomkeys.core.model import ManagedPolicy

ARN = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"


def good(arn: str) -> ManagedPolicy:
    return ManagedPolicy(arn=arn, name=arn.rsplit("/", 1)[-1], document={"Statement": []})


def test_concurrent_accounts_share_one_read() -> None:
    cache = AwsManagedPolicies()
    reads: list[str] = []
    lock = threading.Lock()

    def slow_read(arn: str) -> ManagedPolicy:
        with lock:
            reads.append(arn)
        time.sleep(0.05)
        return good(arn)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: cache.get(ARN, slow_read), range(16)))
    assert reads == [ARN]
    assert all(g is got[0] for g in got)


def test_a_failed_read_is_not_shared() -> None:
    cache = AwsManagedPolicies()
    failed = ManagedPolicy(arn=ARN, name="AmazonBedrockLimitedAccess", document=None)
    assert cache.get(ARN, lambda a: failed).document is None
    # The next account reads for itself, and its success is then shared.
    assert cache.get(ARN, good).document is not None
    assert cache.get(ARN, lambda a: pytest.fail("read again")).document is not None


def test_an_exception_is_not_shared() -> None:
    cache = AwsManagedPolicies()

    def boom(arn: str) -> ManagedPolicy:
        raise RuntimeError("network")

    with pytest.raises(RuntimeError):
        cache.get(ARN, boom)
    assert cache.get(ARN, good).document is not None


@pytest.mark.parametrize(
    ("arn", "shared"),
    [
        (ARN, True),
        ("arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws:iam::111111111111:policy/Custom", False),
        ("not-an-arn", False),
    ],
)
def test_only_aws_managed_policies_are_shared(arn: str, shared: bool) -> None:
    assert _is_aws_managed(arn) is shared
