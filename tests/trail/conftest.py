"""Shared fixtures for the CloudTrail tests: real-shaped records and files."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from trailkit import trail_key


@pytest.fixture
def write_trail(tmp_path: Path) -> Callable[..., Path]:
    def write(
        records: list[dict[str, Any]],
        *,
        account: str = "111122223333",
        region: str = "us-east-1",
        stamp: str = "20261120T1000",
        n: int = 0,
        root: Path | None = None,
    ) -> Path:
        path = (root or tmp_path) / trail_key(account, region, stamp, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
        return path

    return write
