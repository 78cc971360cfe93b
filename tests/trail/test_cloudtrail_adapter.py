"""The one CloudTrail adapter (aws/cloudtrail.py): one pacer per account and region shared
by every caller, failures as the core's LookupFailure, one S3 log fetcher."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from phantomkeys.aws import cloudtrail
from phantomkeys.aws.cloudtrail import (
    RateLimiter,
    download_s3_logs,
    enabled_regions,
    get_principal_events,
    lookup_events,
    shared_limiter,
)
from phantomkeys.core.model import LookupFailure

NOW = datetime(2026, 11, 29, tzinfo=UTC)


class _Client:
    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls = 0

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": self.fail, "Message": "no " * 200}}, "LookupEvents"
            )
        record = {"eventID": f"e{self.calls}", "eventName": "GetUser", "awsRegion": "us-east-1"}
        return {
            "Events": [
                {"EventId": f"e{self.calls}", "CloudTrailEvent": json.dumps(record)},
                {"EventId": "bad", "EventName": "ListUsers", "CloudTrailEvent": "{not json"},
            ]
        }

    def describe_regions(self, **_: Any) -> dict[str, Any]:
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DescribeRegions"
        )


class _Creds:
    access_key = "AKIAADAPTERTEST00001"


class _Session:
    def get_credentials(self) -> _Creds:
        return _Creds()


class _Ctx:
    """Two contexts with the same credentials are one account."""

    region = "us-east-1"

    def __init__(self, fail: str | None = None) -> None:
        self.session = _Session()
        self.clients: dict[str, _Client] = {}
        self.fail = fail

    def client(self, service: str, region: str | None = None) -> _Client:
        return self.clients.setdefault(f"{service}:{region}", _Client(self.fail))


def test_every_caller_in_the_process_shares_one_pacer_per_account_and_region() -> None:
    """The timeline, report/revoke and least-privilege readers used to pace separately."""
    a, b = _Ctx(), _Ctx()
    assert shared_limiter(a, "eu-west-1") is shared_limiter(b, "eu-west-1")
    assert shared_limiter(a, "eu-west-1") is not shared_limiter(a, "eu-west-2")
    assert shared_limiter(a, "eu-west-1", "111111111111") is not shared_limiter(a, "eu-west-1")

    clock = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    limiter = shared_limiter(a, "ap-south-2")
    limiter.clock, limiter.sleep = (lambda: clock[0]), sleep
    # Two callers (a report's lookup and a least-privilege fan-out) in the same region.
    lookup_events(a, region="ap-south-2", attribute="Username", value="u", end=NOW)
    get_principal_events(
        b, regions=["ap-south-2"], attribute="Username", value="u", since=None, until=NOW
    )
    lookup_events(b, region="ap-south-2", attribute="AccessKeyId", value="AKIA", end=NOW)
    assert clock[0] == pytest.approx(1.0)  # three calls: at 0, 0.5 and 1.0 s
    assert sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


def test_a_failed_lookup_is_a_lookup_failure_not_nothing() -> None:
    result = lookup_events(
        _Ctx("AccessDeniedException"),
        region="us-west-2",
        attribute="Username",
        value="u",
        limiter=RateLimiter(float("inf")),
    )
    assert isinstance(result.failure, LookupFailure)
    assert result.failure.operation == "cloudtrail:LookupEvents"
    assert result.failure.where == "us-west-2"
    assert len(result.failure.message) <= 200
    assert result.error == f"AccessDeniedException: {result.failure.message}"
    assert result.to_dict()["error"] == result.error
    regions, failure = enabled_regions(_Ctx())
    assert regions == ()
    assert failure is not None and failure.operation == "ec2:DescribeRegions"


def test_unparsable_records_are_summarised_for_the_timeline_and_left_out_of_activity() -> None:
    result = lookup_events(
        _Ctx(), region="us-east-1", attribute="Username", value="u", limiter=RateLimiter(1e9)
    )
    summary = result.events[1].record_or_summary()
    assert summary["eventID"] == "bad" and summary["eventName"] == "ListUsers"
    fetch = get_principal_events(
        _Ctx(),
        regions=["us-east-1"],
        attribute="Username",
        value="u",
        since=None,
        until=None,
        min_interval=0,
    )
    assert [r["eventID"] for r in fetch.records] == ["e1"]


def test_s3_logs_are_downloaded_under_names_of_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object key is never a path: ``..`` in a key cannot leave the destination."""
    moto = pytest.importorskip("moto")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    import boto3

    from phantomkeys.aws.session import AwsContext

    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="org-trail")
        body = gzip.compress(json.dumps({"Records": []}).encode())
        s3.put_object(Bucket="org-trail", Key="logs/../../escape.json.gz", Body=body)
        ctx = AwsContext.from_cli(None, "us-east-1")
        paths, failures = download_s3_logs(
            ctx, "s3://org-trail/logs/", tmp_path / "dl", since=None, until=None
        )
        assert failures == []
        assert paths and all((tmp_path / "dl") in p.parents for p in paths)
        assert not (tmp_path / "escape.json.gz").exists()
        _, failures = download_s3_logs(
            ctx, "s3://no-such-bucket-x/", tmp_path / "dl2", since=NOW - timedelta(1), until=NOW
        )
        assert [f.operation for f in failures] == ["s3:ListObjectsV2"]
        assert isinstance(failures[0], LookupFailure)
    assert cloudtrail.LOOKUP_RATE_PER_SECOND == 2.0
