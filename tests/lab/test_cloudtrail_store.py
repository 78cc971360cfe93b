"""The lab's CloudTrail store: LookupEvents semantics and the S3 log layout (pure)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.lab.cloudtrail_store import EventStore, LookupError_, make_record, write_log_files

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACCOUNT = "111111111111"


def _user(name: str, key: str | None = None) -> dict[str, Any]:
    ident = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "userName": name,
    }
    if key:
        ident["accessKeyId"] = key
    return ident


def _store() -> EventStore:
    store = EventStore()
    for i in range(120):  # 120 invocations by a phantom, one a minute
        store.add(
            make_record(
                event_name="InvokeModel",
                event_source="bedrock.amazonaws.com",
                event_time=NOW - timedelta(minutes=i),
                account_id=ACCOUNT,
                region="us-east-1",
                user_identity=_user("BedrockAPIKey-a1b2"),
                additional_event_data={"callWithBearerToken": True},
                read_only=True,
                event_id=f"inv-{i}",
            )
        )
    store.add(
        make_record(
            event_name="CreateAccessKey",
            event_source="iam.amazonaws.com",
            event_time=NOW - timedelta(hours=5),
            account_id=ACCOUNT,
            region="us-east-1",
            user_identity=_user("ci-deploy", "AKIACIDEPLOY"),
            request_parameters={"userName": "BedrockAPIKey-p1v0"},
            response_elements={"accessKey": {"accessKeyId": "AKIAPIVOT"}},
            event_id="pivot",
        )
    )
    store.add(
        make_record(
            event_name="InvokeModel",
            event_source="bedrock.amazonaws.com",
            event_time=NOW - timedelta(hours=1),
            account_id=ACCOUNT,
            region="eu-west-3",
            user_identity=_user("BedrockAPIKey-p1v0"),
            event_id="elsewhere",
        )
    )
    store.add(
        make_record(
            event_name="InvokeModel",
            event_source="bedrock.amazonaws.com",
            event_time=NOW - timedelta(days=91),
            account_id=ACCOUNT,
            region="us-east-1",
            user_identity=_user("BedrockAPIKey-a1b2"),
            event_id="too-old",
        )
    )
    data_event = make_record(
        event_name="CreateInference",
        event_source="aws-external-anthropic.amazonaws.com",
        event_time=NOW - timedelta(hours=2),
        account_id=ACCOUNT,
        region="us-east-1",
        user_identity=_user("AeaApiKey-cp01"),
        event_id="data",
    )
    data_event["managementEvent"] = False
    store.add(data_event)
    return store


def _lookup(store: EventStore, **request: Any) -> dict[str, Any]:
    return store.lookup(account_id=ACCOUNT, region="us-east-1", request=request, at=NOW)


def test_pages_of_50_newest_first_until_no_token() -> None:
    store = _store()
    ids: list[str] = []
    token = None
    pages = 0
    while True:
        request: dict[str, Any] = {
            "LookupAttributes": [
                {"AttributeKey": "Username", "AttributeValue": "BedrockAPIKey-a1b2"}
            ]
        }
        if token:
            request["NextToken"] = token
        page = _lookup(store, **request)
        pages += 1
        ids += [e["EventId"] for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert len(ids) == 120
    assert ids[0] == "inv-0"
    assert ids[-1] == "inv-119"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventName", "CreateAccessKey", {"pivot"}),
        ("AccessKeyId", "AKIACIDEPLOY", {"pivot"}),
        ("ResourceName", "BedrockAPIKey-p1v0", {"pivot"}),
        ("ResourceName", "AKIAPIVOT", {"pivot"}),
        ("ResourceType", "AWS::IAM::AccessKey", {"pivot"}),
        ("EventSource", "iam.amazonaws.com", {"pivot"}),
        ("ReadOnly", "false", {"pivot"}),
        ("EventId", "inv-7", {"inv-7"}),
    ],
)
def test_each_lookup_attribute(key: str, value: str, expected: set[str]) -> None:
    page = _lookup(_store(), LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
    assert {e["EventId"] for e in page["Events"]} == expected


def test_events_are_regional_and_data_events_are_not_returned() -> None:
    store = _store()
    ids = {
        e["EventId"]
        for e in store.lookup(account_id=ACCOUNT, region="eu-west-3", request={}, at=NOW)["Events"]
    }
    assert ids == {"elsewhere"}
    everything = {
        e["EventId"]
        for e in _lookup(
            store,
            MaxResults=50,
            StartTime=(NOW - timedelta(hours=3)).timestamp(),
            EndTime=NOW.timestamp(),
        )["Events"]
    }
    assert "data" not in everything
    assert "elsewhere" not in everything


def test_time_range() -> None:
    page = _lookup(
        _store(),
        StartTime=(NOW - timedelta(minutes=9, seconds=30)).isoformat(),
        EndTime=(NOW - timedelta(minutes=5)).isoformat(),
    )
    assert [e["EventId"] for e in page["Events"]] == [f"inv-{i}" for i in range(5, 10)]


def test_lookup_event_shape() -> None:
    event = _lookup(
        _store(),
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}],
    )["Events"][0]
    assert event["Username"] == "ci-deploy"
    assert event["AccessKeyId"] == "AKIACIDEPLOY"
    assert event["ReadOnly"] == "false"
    assert event["EventSource"] == "iam.amazonaws.com"
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": "BedrockAPIKey-p1v0"} in event[
        "Resources"
    ]
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventID"] == "pivot"
    assert record["recipientAccountId"] == ACCOUNT


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "Username", "AttributeValue": "a"},
                    {"AttributeKey": "EventName", "AttributeValue": "b"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"LookupAttributes": [{"AttributeKey": "UserAgent", "AttributeValue": "a"}]},
            "InvalidLookupAttributesException",
        ),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"MaxResults": 0}, "InvalidMaxResultsException"),
        (
            {"StartTime": NOW.timestamp(), "EndTime": (NOW - timedelta(hours=1)).timestamp()},
            "InvalidTimeRangeException",
        ),
        ({"NextToken": "garbage"}, "InvalidNextTokenException"),
    ],
)
def test_requests_aws_refuses(request_: dict[str, Any], code: str) -> None:
    with pytest.raises(LookupError_) as info:
        _lookup(_store(), **request_)
    assert info.value.code == code


def test_log_files_in_the_s3_layout(tmp_path: Path) -> None:
    store = _store()
    paths = write_log_files(store.records(), tmp_path)
    assert paths
    for path in paths:
        rel = path.relative_to(tmp_path).parts
        assert rel[:3] == ("AWSLogs", ACCOUNT, "CloudTrail")
        region, year, month, day = rel[3:7]
        assert path.name.startswith(f"{ACCOUNT}_CloudTrail_{region}_{year}{month}{day}T")
        assert path.name.endswith(".json.gz")
    records = [r for p in paths for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    assert len(records) == len(store.records())
    # deterministic names: writing again produces the same files
    again = write_log_files(store.records(), tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in paths]
