"""Scan-scale timing: 1,000 identities, most sharing the surface's managed policy.

Run with ``pytest -m slow tests/core/test_capabilities_perf.py -s`` to see the figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.catalog import default_catalog
from phantomkeys.core.capabilities import assess_capabilities, beyond_managed_policy, clear_caches
from phantomkeys.core.policy import Policy, PolicyKind, parse_policy
from phantomkeys.surfaces import BEDROCK

DATA = Path(__file__).parent / "data"


def _moto(name: str) -> dict[str, Any]:
    managed = pytest.importorskip("moto.iam.aws_managed_policies")
    data = json.loads(managed.aws_managed_policies_data)
    if name not in data:
        pytest.skip(f"moto lacks {name}")
    return dict(data[name]["Document"])


def _data(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / name).read_text()))


@pytest.mark.slow
def test_assess_1000_identities() -> None:
    catalog = default_catalog()
    catalog.all_actions()  # load the catalog outside the measurement
    limited_doc = _moto("AmazonBedrockLimitedAccess")
    admin_doc = _moto("AdministratorAccess")
    extra_doc = _data("inline_bedrock_admin.json")
    group_doc = _data("group_data_science.json")
    limited_arn = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"
    scps = [
        [parse_policy(_data("scp_full_aws_access.json"), name="FullAWSAccess", kind="scp")],
        [
            parse_policy(_data("scp_full_aws_access.json"), name="FullAWSAccess", kind="scp"),
            parse_policy(_data("scp_deny_bedrock_long_term_keys.json"), name="lt", kind="scp"),
        ],
    ]

    def identity(n: int) -> tuple[list[Policy], Policy | None]:
        # The scan parses every user's policies afresh, as here.
        policies = [parse_policy(limited_doc, name=limited_arn, kind=PolicyKind.MANAGED)]
        boundary = None
        if n % 10 == 1:  # 10%: an inline policy of its own (same content, own name)
            policies.append(
                parse_policy(extra_doc, name=f"inline:BedrockAPIKey-{n:04d}/extra", kind="inline")
            )
        elif n % 33 == 2:  # ~3%: a group
            policies.append(
                parse_policy(
                    group_doc,
                    name="inline:group/ds/read",
                    kind="group-inline",
                    via="DataScientists",
                )
            )
        elif n % 100 == 3:  # 1%: administrators, half of them confined by a boundary
            policies.append(
                parse_policy(
                    admin_doc, name="arn:aws:iam::aws:policy/AdministratorAccess", kind="managed"
                )
            )
            if n % 200 == 3:
                boundary = parse_policy(limited_doc, name=limited_arn, kind="boundary")
        return policies, boundary

    managed = parse_policy(limited_doc, name=limited_arn, kind="managed")
    clear_caches()
    start = time.perf_counter()
    at_risk = 0
    for n in range(1000):
        policies, boundary = identity(n)
        grants = assess_capabilities(
            policies, boundary=boundary, scps=scps, surface=BEDROCK, catalog=catalog
        )
        assert grants
        if beyond_managed_policy(policies, boundary, scps, managed, catalog):
            at_risk += 1
    elapsed = time.perf_counter() - start
    print(
        f"\n1,000 identities (managed policy + 4 variants, 2 SCP levels): {elapsed:.2f}s, "
        f"{at_risk} with permissions beyond the managed policy"
    )
    # inline extras (100), group readers (28), unconfined admins (5); confined admins
    # and managed-only users have nothing beyond the managed policy.
    assert at_risk == 100 + 28 + 5
    assert elapsed < 30
