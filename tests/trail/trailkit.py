"""Helpers for the CloudTrail tests: example records and the S3 delivery layout."""

from __future__ import annotations

import json
from typing import Any

from phantomkeys.trail.pack import default_examples_dir, example_files_for


def example_records(rule: str, kind: str = "positive") -> list[dict[str, Any]]:
    return [
        r
        for f in example_files_for(default_examples_dir(), rule, kind)
        for r in json.loads(f.read_text())["Records"]
    ]


def trail_key(account: str, region: str, stamp: str, n: int = 0) -> str:
    """S3 layout path of one delivered file (DOMAIN-FACTS §6)."""
    day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{day}/"
        f"{account}_CloudTrail_{region}_{stamp}Z_{n:016X}.json.gz"
    )
