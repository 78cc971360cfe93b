"""The Athena engine against moto: table DDL, the hits query, polling and result paging."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from trailkit import example_records, trail_key

from phantomkeys.trail.athena_engine import (
    AthenaOptions,
    create_table_ddl,
    hits_query,
    layouts_from_region_dirs,
    run_athena,
)
from phantomkeys.trail.hunt import plan_sources, run_duckdb
from phantomkeys.trail.pack import load_pack

moto = pytest.importorskip("moto")
PACK = load_pack()
ACCOUNT = "123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


def test_layouts_cover_accounts_regions_and_org_trails() -> None:
    dirs = [
        "logs/AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/",
        "logs/AWSLogs/o-abc123def4/444455556666/CloudTrail/eu-west-1/",
        "AWSLogs/777788889999/CloudTrail/us-west-2/",
        "AWSLogs/777788889999/CloudTrail-Digest/us-west-2/",
    ]
    single, org = layouts_from_region_dirs("b", dirs)
    assert single.base == "AWSLogs/"
    assert single.accounts == ("777788889999",)
    assert org.base == "logs/AWSLogs/o-abc123def4/"
    assert org.accounts == ("111122223333", "444455556666")
    assert org.regions == ("eu-west-1", "us-east-1")
    ddl = create_table_ddl("default", "ct", org)
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`ct`" in ddl
    assert "'projection.enabled'='true'" in ddl
    assert "'projection.timestamp.format'='yyyy/MM/dd'" in ddl
    assert (
        "'storage.location.template'='s3://b/logs/AWSLogs/o-abc123def4/${account}/"
        "CloudTrail/${region}/${timestamp}'"
    ) in ddl
    assert "com.amazon.emr.cloudtrail.CloudTrailInputFormat" in ddl
    assert "org.apache.hive.hcatalog.data.JsonSerDe" in ddl
    sqlglot.parse_one(ddl.replace("`", ""), read="hive")


def test_hits_query_prunes_partitions_and_parses_as_trino() -> None:
    sql = hits_query(
        PACK, "default", "ct", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    )
    assert "\"timestamp\" >= '2026/11/01'" in sql
    assert "\"timestamp\" <= '2026/11/09'" in sql
    assert (
        "from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('2026-11-01T00:00:00Z')" in sql
    )
    sqlglot.parse_one(sql, read="trino")


def _athena_rows(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """What Athena returns for the hits query: computed by the local engine on the same files."""
    import duckdb

    from phantomkeys.trail.duckdb_engine import DuckDBEngine
    from phantomkeys.trail.records import batches, discover

    engine = DuckDBEngine(PACK, threads=1)
    engine.run(batches(discover([tmp_path]).files))
    cur = engine.con.execute("SELECT * FROM hits")
    names = [d[0] for d in cur.description]
    rows = [{"Data": [{"VarCharValue": n.lower()} for n in names]}]
    for r in cur.fetchall():
        rows.append(
            {
                "Data": [
                    {}
                    if v is None
                    else {
                        "VarCharValue": (
                            v.strftime("%Y-%m-%d %H:%M:%S.000 UTC")
                            if isinstance(v, datetime)
                            else str(v)
                        )
                    }
                    for v in r
                ]
            }
        )
    info = [{"Name": n.lower(), "Type": "varchar"} for n in names]
    assert isinstance(duckdb, object)
    return rows, info


@pytest.mark.lab
def test_hunt_with_athena_end_to_end_through_the_lab(phantomkeys_lab: Any, tmp_path: Path) -> None:
    """``hunt --engine athena`` through the real CLI against the lab over HTTP, with the
    installed botocore's Athena protocol (rest-json from botocore 1.44), finds what the
    local engine finds on the same files."""
    import boto3
    from click.testing import CliRunner

    from phantomkeys.cli import cli

    athena = boto3.client("athena", region_name="us-east-1")
    protocol = athena.meta.service_model.protocol
    local = tmp_path / "local"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="trail-bucket")
    for i, (rule, region) in enumerate(
        (
            ("invocation-spike", "us-east-1"),
            ("phantom-user-policy-added", "us-east-1"),
            ("bearer-new-region", "eu-west-1"),
        )
    ):
        key = trail_key(ACCOUNT, region, "20261120T1000", i)
        body = gzip.compress(json.dumps({"Records": example_records(rule)}).encode())
        s3.put_object(Bucket="trail-bucket", Key=key, Body=body)
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(body)
    rows, info = _athena_rows(local)
    account = phantomkeys_lab.management_account_id
    phantomkeys_lab.queue_athena_results(
        [{"rows": [], "column_info": []}, {"rows": rows, "column_info": info}],  # DDL, hits
        account_id=account,
    )

    result = CliRunner().invoke(
        cli,
        [
            "hunt",
            "s3://trail-bucket/",
            "--engine",
            "athena",
            "--athena-output",
            "s3://trail-bucket/athena/",
            "--format",
            "json",
            "--region",
            "us-east-1",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)

    # the queries the lab received, read back through the same protocol
    ids = athena.list_query_executions()["QueryExecutionIds"]
    sent = sorted(
        (athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids),
        key=lambda q: q["Status"]["SubmissionDateTime"],
    )
    assert sent[0]["Query"].startswith(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`phantomkeys_cloudtrail_"
    )
    assert "UNION ALL" in sent[1]["Query"]
    assert "json_extract_scalar(additionaleventdata" in sent[1]["Query"]
    assert sent[1]["ResultConfiguration"]["OutputLocation"].startswith("s3://trail-bucket/athena/")
    # the lab names REST operations by method and path
    calls = phantomkeys_lab.stats()["by_operation"]
    start, results = (
        ("athena:POST /query-executions", "/results")
        if protocol == "rest-json"
        else ("athena:StartQueryExecution", "athena:GetQueryResults")
    )
    assert calls.get(start) == 2, (protocol, calls)
    assert any(op.endswith(results) for op in calls), (protocol, calls)

    from phantomkeys.trail.hunt import add_incidents

    local_result = add_incidents(
        run_duckdb(PACK, plan_sources([str(local)], None, None), since=None, until=None, threads=1)
    )
    assert sorted((f["rule_id"], f["subject"], f["fingerprint"]) for f in document["findings"]) == (
        sorted((f.rule_id, f.subject, f.fingerprint) for f in local_result.findings)
    )
    spike = next(f for f in document["findings"] if f["rule_id"] == "invocation-spike")
    # 105 spike calls plus the bearer-new-region example's Converse at the same minute.
    assert spike["evidence"]["window"]["peak"] == 106


def test_the_installed_botocore_is_what_users_get() -> None:
    """No pin holds botocore back: the suite runs the release a fresh install picks."""
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert "botocore<" not in text.replace(" ", "")


def test_athena_failures_are_reported(aws: Any) -> None:
    import boto3

    from phantomkeys.aws.session import AwsContext
    from phantomkeys.trail.hunt import HuntError

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="empty-bucket")
    with pytest.raises(HuntError, match="no AWSLogs"):
        run_athena(
            PACK,
            ["s3://empty-bucket/"],
            AthenaOptions(),
            since=None,
            until=None,
            ctx=AwsContext.from_cli(None, "us-east-1"),
            sleep=lambda s: None,
        )
