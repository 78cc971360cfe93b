"""``hunt s3://bucket/prefix``: only the day folders in the window are listed and downloaded."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from trailkit import example_records, trail_key

from phantomkeys.trail.hunt import plan_sources, run_duckdb
from phantomkeys.trail.pack import load_pack

moto = pytest.importorskip("moto")
PACK = load_pack()


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="org-trail")
        recs = example_records("phantom-user-credential-added")
        for account in ("111122223333", "444455556666"):
            for stamp in ("20261120T1000", "20261001T1000"):
                key = "org/AWSLogs/o-abc123def4/" + trail_key(account, "us-east-1", stamp)[8:]
                s3.put_object(
                    Bucket="org-trail",
                    Key=key,
                    Body=gzip.compress(json.dumps({"Records": recs}).encode()),
                )
        s3.put_object(
            Bucket="org-trail",
            Key="org/AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/11/20/"
            "broken.json.gz",
            Body=b"\x1f\x8b\x08garbage",
        )
        yield s3


def test_hunt_from_s3_lists_only_the_window(bucket: Any) -> None:
    from phantomkeys.aws.cloudtrail import list_cloudtrail_objects
    from phantomkeys.aws.session import AwsContext

    ctx = AwsContext.from_cli(None, "us-east-1")
    since = datetime(2026, 11, 19, tzinfo=UTC)
    until = datetime(2026, 11, 21, tzinfo=UTC)
    listing = list_cloudtrail_objects(ctx, "s3://org-trail/org/", since, until)
    assert len(listing.keys) == 3  # two accounts on 11/20 plus the broken file
    assert all("/2026/11/2" in k for k, _ in listing.keys)
    listed_days = ctx.counter.snapshot()["by_operation"]["s3:ListObjectsV2"]
    assert listed_days < 20

    plan = plan_sources(["s3://org-trail/org/"], since, until)
    result = run_duckdb(
        PACK,
        plan,
        since=since,
        until=until,
        threads=1,
        ctx_factory=lambda: AwsContext.from_cli(None, "us-east-1"),
    )
    assert plan.s3_objects == 3
    assert result.stats.files_read == 2
    assert [b.name for b in result.bad_files] == [
        "s3://org-trail/org/AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/11/20/"
        "broken.json.gz"
    ]
    accounts = {
        f.account_id for f in result.findings if f.rule_id == "phantom-user-credential-added"
    }
    assert accounts == {"111122223333"}  # example records carry their own recipientAccountId
