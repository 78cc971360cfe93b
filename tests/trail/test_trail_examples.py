"""Every rule fires on its positive examples and stays quiet on its negatives (DuckDB)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from phantomkeys.trail.pack import default_examples_dir, load_pack
from phantomkeys.trail.selftest import check_rule, example_files

PACK = load_pack()
EXAMPLES = default_examples_dir()


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.name)
def test_rule_on_its_examples(rule: Any) -> None:
    outcome = check_rule(PACK, rule, EXAMPLES)
    assert outcome.ok, outcome.to_dict()
    assert any(e.expected for e in outcome.examples)
    assert any(not e.expected for e in outcome.examples)


def _records(name: str, kind: str) -> list[dict[str, Any]]:
    pos, neg = example_files(EXAMPLES, name)
    files = pos if kind == "positive" else neg
    return [r for f in files for r in json.loads(f.read_text())["Records"]]


def _t(rec: dict[str, Any]) -> datetime:
    return datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ")


def test_spike_example_defeats_fixed_buckets_and_per_region_thresholds() -> None:
    """The positive spike is exactly what the peer misses (PEERS.md defect 5)."""
    recs = _records("invocation-spike", "positive")
    threshold = PACK.get("invocation-spike").correlation.threshold  # type: ignore[union-attr]
    assert len(recs) >= threshold
    buckets = Counter((r["awsRegion"], int(_t(r).timestamp()) // 300) for r in recs)
    assert max(buckets.values()) < threshold, "a per-region 5-minute bucket would catch it"
    all_regions = Counter(int(_t(r).timestamp()) // 300 for r in recs)
    assert max(all_regions.values()) < threshold, "a cross-region fixed bucket would catch it"
    times = sorted(_t(r) for r in recs)
    assert (times[-1] - times[0]).total_seconds() <= 300


def test_user_agent_rules_ignore_plain_sdk_traffic() -> None:
    """An SDK user agent alone never fires (the peer's false positive)."""
    rule = PACK.get("bearer-token-http-tool")
    negatives = _records("bearer-token-http-tool", "negative")
    assert any(r["userAgent"].startswith("Boto3/") for r in negatives)
    assert any(r["userAgent"].startswith("aws-sdk-java/") for r in negatives)
    assert check_rule(PACK, rule, EXAMPLES).ok


def test_examples_cover_all_surfaces() -> None:
    sources = set()
    for rule in PACK:
        for kind in ("positive", "negative"):
            sources |= {r["eventSource"] for r in _records(rule.name, kind)}
    assert {
        "bedrock.amazonaws.com",
        "bedrock-mantle.amazonaws.com",
        "aws-external-anthropic.amazonaws.com",
        "iam.amazonaws.com",
    } <= sources
