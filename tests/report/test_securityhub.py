"""``--security-hub``: BatchImportFindings in batches, retried, failures counted."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws
from tests.report.conftest import load_fixture

from phantomkeys.aws.securityhub import import_findings
from phantomkeys.hub import import_document
from phantomkeys.report.asff import to_asff


@pytest.fixture
def session() -> Any:
    with mock_aws():
        yield boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )


def _many(n: int) -> list[dict[str, Any]]:
    base = to_asff(load_fixture("scan"))[0]
    out = []
    for i in range(n):
        item = copy.deepcopy(base)
        item["Id"] = f"{i:032x}"
        out.append(item)
    return out


def test_document_import_lands_in_security_hub_and_is_idempotent(session: Any) -> None:
    hub = session.client("securityhub")
    hub.enable_security_hub()
    document = load_fixture("scan")
    first = import_document(session, document)
    assert (first.imported, first.failed, first.batches) == (12, 0, 1)
    stored = hub.get_findings(MaxResults=100)["Findings"]
    assert {f["Id"] for f in stored} == {f["fingerprint"] for f in document["findings"]}
    second = import_document(session, document)  # same Ids: updated, not duplicated
    assert second.imported == 12
    assert len(hub.get_findings(MaxResults=100)["Findings"]) == 12
    assert str(first) == "imported 12 finding(s) in 1 batch(es), 0 failed"


def test_findings_go_in_batches_of_100(session: Any) -> None:
    session.client("securityhub").enable_security_hub()
    outcome = import_findings(session, _many(250))
    assert (outcome.imported, outcome.batches) == (250, 3)


class _Recorder:
    """A Security Hub stand-in: scripted responses per call, arguments recorded."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.sizes: list[int] = []

    def client(self, service: str, *args: Any, **kwargs: Any) -> Any:
        assert service == "securityhub"
        return self

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.sizes.append(len(Findings))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(Findings) if callable(step) else step


def _error(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": code}}, "BatchImportFindings"
    )


def _ok(findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"SuccessCount": len(findings), "FailedCount": 0, "FailedFindings": []}


def test_throttled_batches_are_retried_with_backoff() -> None:
    fake = _Recorder([_error("TooManyRequestsException"), _error("ThrottlingException"), _ok, _ok])
    delays: list[float] = []
    outcome = import_findings(fake, _many(150), sleep=delays.append, base_delay=0.5)
    assert outcome.imported == 150
    assert outcome.failed == 0
    assert outcome.retries == 2
    assert delays == [0.5, 1.0]
    assert fake.sizes == [100, 100, 100, 50]


def test_a_batch_still_throttled_after_the_last_attempt_is_counted_failed() -> None:
    fake = _Recorder([_error("TooManyRequestsException")] * 3 + [_ok])
    outcome = import_findings(fake, _many(120), sleep=lambda _s: None, max_attempts=3)
    assert (outcome.imported, outcome.failed) == (20, 100)
    assert {f.error_code for f in outcome.failures} == {"TooManyRequestsException"}
    assert not outcome.ok


def test_rejected_findings_are_listed() -> None:
    def partial(findings: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "SuccessCount": len(findings) - 1,
            "FailedCount": 1,
            "FailedFindings": [
                {"Id": findings[0]["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "bad"}
            ],
        }

    outcome = import_findings(_Recorder([partial]), _many(5))
    assert (outcome.imported, outcome.failed) == (4, 1)
    assert outcome.failures[0].to_dict() == {
        "id": f"{0:032x}",
        "error_code": "InvalidInput",
        "message": "bad",
    }


def test_security_hub_not_enabled_stops_after_the_first_batch() -> None:
    fake = _Recorder([_error("InvalidAccessException")])
    outcome = import_findings(fake, _many(350))
    assert fake.sizes == [100]  # no pointless repeats
    assert (outcome.imported, outcome.failed) == (0, 350)
    assert "InvalidAccessException" in str(outcome)
