"""Seeding speed (benchmark-style; run with ``pytest tests/lab -m slow``).

Measured numbers are in BENCHMARK.md next to this file.
"""

from __future__ import annotations

import time

import pytest

from phantomkeys.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_5000_users_1000_phantoms_seed_well_under_a_minute() -> None:
    started = time.perf_counter()
    with Lab.start(users=5000, phantoms=1000, seed=1) as lab:
        elapsed = time.perf_counter() - started
        seeding = lab.manifest["seeding"]
        print(
            f"\nstart {elapsed:.1f} s, seeding {seeding['seconds']} s, "
            f"{seeding['api_calls']} API calls"
        )
        assert elapsed < 45
        iam = lab.client("iam")
        users = [u for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
        assert len(users) == 5000
        creds: list[dict[str, object]] = []
        marker = None
        while True:
            page = iam.list_service_specific_credentials(
                AllUsers=True, MaxItems=1000, **({"Marker": marker} if marker else {})
            )
            creds += page["ServiceSpecificCredentials"]
            if not page["IsTruncated"]:
                break
            marker = page["Marker"]
        expected = sum(i["facts"]["api_keys"] for i in lab.manifest["accounts"][0]["identities"])
        assert len(creds) == expected
        reset_started = time.perf_counter()
        lab.reset()
        assert time.perf_counter() - reset_started < 5
