"""The scheduled scan: CloudFormation stack, then runs that write reports to S3 and
publish new findings to SNS (moto; the scan itself is injected)."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.report.conftest import load_fixture

from phantomkeys.report.schema import validate
from phantomkeys.scheduled import (
    ConfigurationError,
    ScheduledScanConfig,
    run_scheduled_scan,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "scheduled-scan.yaml"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


class Stack:
    """The deployed template in moto, with an SQS queue subscribed to its topic."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        s3 = session.client("s3")
        s3.create_bucket(Bucket="artifacts")
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("phantomkeys/__init__.py", "")
        s3.put_object(Bucket="artifacts", Key="phantomkeys-lambda.zip", Body=package.getvalue())
        cfn = session.client("cloudformation")
        cfn.create_stack(
            StackName="phantomkeys",
            TemplateBody=TEMPLATE.read_text(),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": "CodeBucket", "ParameterValue": "artifacts"}],
        )
        stack = cfn.describe_stacks(StackName="phantomkeys")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        function = session.client("lambda").get_function(
            FunctionName=self.outputs["ScanFunctionName"]
        )["Configuration"]
        self.environment: dict[str, str] = function["Environment"]["Variables"]
        self.handler = function["Handler"]
        sqs = session.client("sqs")
        self.queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        session.client("sns").subscribe(
            TopicArn=self.outputs["FindingsTopicArn"], Protocol="sqs", Endpoint=queue_arn
        )

    def messages(self) -> list[dict[str, Any]]:
        sqs = self.session.client("sqs")
        got = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]

    def object(self, key: str) -> bytes:
        body: bytes = (
            self.session.client("s3")
            .get_object(Bucket=self.outputs["ReportBucketName"], Key=key)["Body"]
            .read()
        )
        return body


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws():
        yield Stack(
            boto3.Session(
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        )


def scans(*documents: dict[str, Any]) -> Any:
    queue = list(documents)

    def scan(_clients: Any, _at: datetime, _config: ScheduledScanConfig) -> dict[str, Any]:
        return queue.pop(0)

    return scan


def test_template_wires_the_function_schedule_role_and_environment(stack: Stack) -> None:
    assert stack.handler == "phantomkeys.scheduled.handler"
    config = ScheduledScanConfig.from_env(stack.environment)
    assert config.bucket == stack.outputs["ReportBucketName"]
    assert config.topic_arn == stack.outputs["FindingsTopicArn"]
    assert config.member_role == "phantomkeys-scan"
    assert config.org is True
    events = stack.session.client("events")
    rule = events.describe_rule(Name="phantomkeys-scheduled-scan")
    assert rule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    targets = events.list_targets_by_rule(Rule="phantomkeys-scheduled-scan")["Targets"]
    assert targets[0]["Arn"].endswith(":function:phantomkeys-scheduled-scan")


def test_runs_write_reports_and_publish_only_what_is_new(stack: Stack) -> None:
    config = ScheduledScanConfig.from_env(stack.environment)
    first = load_fixture("scan")
    second = copy.deepcopy(first)
    second["metadata"]["scan_time"] = "2026-11-30T06:00:00Z"
    resolved = second["findings"].pop(0)
    added = copy.deepcopy(second["findings"][0])
    added.update(
        fingerprint="d" * 32,
        title="New pivot on BedrockAPIKey-zz01",
        subject="arn:aws:iam::222222222222:user/BedrockAPIKey-zz01",
        account_id="222222222222",
        severity="high",
    )
    low = copy.deepcopy(added)
    low.update(fingerprint="e" * 32, severity="low", title="Low noise")
    second["findings"] += [added, low]
    third = copy.deepcopy(second)
    run = scans(first, second, third)

    # first run: everything at or above medium is new to the team
    one = run_scheduled_scan(config, clients=stack.session, scan=run, now=NOW)
    assert one.first_run
    assert one.errors == ()
    assert set(one.report_keys) == {"json", "html", "markdown", "sarif"}
    assert one.report_keys["html"] == "phantomkeys/runs/2026/11/29/20261129T100000Z/report.html"
    assert stack.object(one.report_keys["html"]).startswith(b"<!DOCTYPE html>")
    validate(json.loads(stack.object("phantomkeys/latest.json")), "scan")
    assert len(one.notified) == 11  # 12 findings, one of them low
    first_message = stack.messages()
    assert len(first_message) == 1

    # second run: one new high, one new low (below NOTIFY_SEVERITY), one resolved
    two = run_scheduled_scan(config, clients=stack.session, scan=run, now=NOW)
    assert not two.first_run
    assert [f["fingerprint"] for f in two.new] == ["d" * 32, "e" * 32]
    assert [f["fingerprint"] for f in two.notified] == ["d" * 32]
    assert two.resolved == 1
    assert resolved["fingerprint"] not in json.dumps(two.to_dict())
    [note] = stack.messages()
    assert note["Subject"] == "phantomkeys: 1 new finding(s), worst high, in o-a1b2c3d4e5"
    assert "New pivot on BedrockAPIKey-zz01" in note["Message"]
    assert "Low noise" not in note["Message"]
    assert "1 resolved" in note["Message"]
    assert f"s3://{config.bucket}/phantomkeys/runs/2026/11/30/" in note["Message"]
    assert "WARNING: some accounts could not be read completely" in note["Message"]
    assert note["MessageAttributes"]["severity"]["Value"] == "high"

    # third run: nothing new, nothing published
    three = run_scheduled_scan(config, clients=stack.session, scan=run, now=NOW)
    assert three.new == ()
    assert three.message_id is None
    assert stack.messages() == []
    listed = stack.session.client("s3").list_objects_v2(
        Bucket=config.bucket, Prefix="phantomkeys/runs/"
    )["KeyCount"]
    assert listed == 8  # two distinct scan times x four formats (the third overwrote the second)


def test_reports_never_carry_secrets(stack: Stack) -> None:
    from phantomkeys.core import keys
    from phantomkeys.surfaces import BEDROCK

    secret = "Kp4" * 20
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-hr8l", account_id="111111111111", secret=secret
    )
    document = load_fixture("scan")
    document["findings"][0]["evidence"]["context"] = key
    config = ScheduledScanConfig.from_env(stack.environment)
    outcome = run_scheduled_scan(config, clients=stack.session, scan=scans(document), now=NOW)
    for k in [*outcome.report_keys.values(), "phantomkeys/latest.json"]:
        assert secret.encode() not in stack.object(k), k
    assert all(secret not in m["Message"] for m in stack.messages())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "REPORT_BUCKET is not set"),
        ({"REPORT_BUCKET": "b", "NOTIFY_SEVERITY": "loud"}, "NOTIFY_SEVERITY"),
        ({"REPORT_BUCKET": "b", "MAX_WORKERS": "many"}, "MAX_WORKERS"),
    ],
)
def test_configuration_errors_are_clear(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ScheduledScanConfig.from_env(env)


def test_configuration_defaults_and_normalisation() -> None:
    config = ScheduledScanConfig.from_env(
        {
            "REPORT_BUCKET": "b",
            "REPORT_PREFIX": "x",
            "REPORT_FORMATS": "html, csv",
            "SCAN_ORG": "no",
        }
    )
    assert config.prefix == "x/"
    assert config.formats == ("json", "html", "csv")
    assert config.org is False
    assert config.notify_severity == "medium"


@pytest.mark.parametrize("name", ["scheduled-scan.yaml", "member-role.yaml"])
def test_templates_pass_cfn_lint(name: str) -> None:
    cfnlint_api = pytest.importorskip("cfnlint.api")
    path = TEMPLATE.parent / name
    config = cfnlint_api.ManualArgs(regions=["us-east-1"])
    matches = cfnlint_api.lint(path.read_text(), config=config)
    assert [str(m) for m in matches] == []
