"""``rules export``: SIEM queries keep sliding windows; EventBridge patterns match real events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from trailkit import example_records

from phantomkeys.trail.export import eventbridge_pattern, export_pack
from phantomkeys.trail.pack import load_pack

PACK = load_pack()


def _bridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "6f2f3c1e-0000-4000-8000-000000000000",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".")[0],
        "account": "111122223333",
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


EXPORTED = [r for r in PACK.emitting if r.correlation is None]


@pytest.mark.parametrize("rule", EXPORTED, ids=lambda r: r.name)
def test_eventbridge_pattern_matches_like_the_rule(rule: Any) -> None:
    pytest.importorskip("moto")
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(eventbridge_pattern(rule)))
    for record in example_records(rule.name, "positive"):
        assert pattern.matches_event(_bridge_event(record)), record["eventName"]
    for record in example_records(rule.name, "negative"):
        assert not pattern.matches_event(_bridge_event(record)), record["eventName"]


def test_eventbridge_export_lists_what_it_cannot_express() -> None:
    doc = json.loads(export_pack(PACK, "eventbridge"))
    skipped = {s["rule"] for s in doc["not_exported"]}
    assert skipped == {r.name for r in PACK.correlations}
    assert len(doc["rules"]) == len(EXPORTED)


def test_splunk_correlations_use_sliding_windows() -> None:
    text = export_pack(PACK, "splunk")
    assert "streamstats time_window=5m count as event_count by recipientAccountId" in text
    assert "dc(awsRegion)" in text
    assert "| bin _time" not in text


def test_sentinel_uses_the_awscloudtrail_table() -> None:
    text = export_pack(PACK, "sentinel")
    assert text.count("AWSCloudTrail") >= len(PACK.emitting)
    assert "tostring(parse_json(AdditionalEventData).callWithBearerToken)" in text
    assert "TimeGenerated1 between ((TimeGenerated - 300s) .. TimeGenerated)" in text
    assert "bin(" not in text


def test_approximations_are_labelled() -> None:
    for target in ("elastic", "cloudwatch"):
        assert "approximation" in export_pack(PACK, target)


def test_sigma_export_round_trips() -> None:
    import yaml

    docs = list(yaml.safe_load_all(export_pack(PACK, "sigma")))
    assert {d["name"] for d in docs} == {r.name for r in PACK}
