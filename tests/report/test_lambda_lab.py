"""The scheduled-scan handler end to end against the lab: the real library scan of
an account holding a phantom user, reports to S3, new findings to SNS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from phantomkeys.report.schema import validate
from phantomkeys.scheduled import handler

pytestmark = pytest.mark.lab


class LabAccount:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.s3 = self.client("s3")
        self.s3.create_bucket(Bucket="reports")
        sns = self.client("sns")
        self.topic = sns.create_topic(Name="phantomkeys-new-findings")["TopicArn"]
        sqs = self.client("sqs")
        self.queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn)

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.url)  # type: ignore[call-overload]

    def phantom(self, name: str, *, access_key: bool) -> None:
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.attach_user_policy(
            UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"
        )
        iam.create_service_specific_credential(UserName=name, ServiceName="bedrock.amazonaws.com")
        if access_key:
            iam.create_access_key(UserName=name)

    def messages(self) -> list[dict[str, Any]]:
        got = (
            self.client("sqs")
            .receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        for m in got:
            self.client("sqs").delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabAccount]:
    from phantomkeys.lab.server import LabApp, make_http_server

    server = make_http_server(LabApp(seed=7), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    for key, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        account = LabAccount(url)
        monkeypatch.setenv("REPORT_BUCKET", "reports")
        monkeypatch.setenv("TOPIC_ARN", account.topic)
        monkeypatch.setenv("SCAN_ORG", "false")
        monkeypatch.setenv("NOTIFY_SEVERITY", "high")
        yield account
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_handler_scans_the_lab_and_reports_only_new_findings(lab: LabAccount) -> None:
    lab.phantom("BedrockAPIKey-ab12", access_key=True)
    first = handler({}, None)
    assert first["first_run"] is True
    assert first["errors"] == []
    document = json.loads(
        lab.s3.get_object(Bucket="reports", Key="phantomkeys/latest.json")["Body"].read()
    )
    validate(document, "scan")
    [identity] = [i for a in document["accounts"] for i in a["identities"]]
    assert (identity["username"], identity["status"]) == ("BedrockAPIKey-ab12", "at-risk")
    assert document["metadata"]["trigger"] == "scheduled"
    html = lab.s3.get_object(Bucket="reports", Key=first["report_keys"]["html"])["Body"].read()
    assert b"BedrockAPIKey-ab12" in html
    [message] = lab.messages()
    assert "BedrockAPIKey-ab12" in message["Message"]

    lab.phantom("BedrockAPIKey-cd34", access_key=False)
    second = handler({}, None)
    assert second["first_run"] is False
    assert second["new"] >= 1
    [message] = lab.messages()
    assert "BedrockAPIKey-cd34" in message["Message"]
    assert "BedrockAPIKey-ab12" not in message["Message"]  # already reported

    third = handler({}, None)
    assert third["new"] == 0
    assert third["message_id"] is None
    assert lab.messages() == []
