"""No operation left unclassified: every Bedrock API operation has a class the pack acts on.

A new AWS API appears in botocore's service models first; this test then fails
until ``trail/operations.yml`` places it in a class (read, invoke, costly,
destructive, config, tamper) and, for the classes with rules, until the rule
matches it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from phantomkeys.trail.hunt import plan_sources, run_duckdb
from phantomkeys.trail.operations import CLASSES, classify, load_operations, operations_in
from phantomkeys.trail.pack import load_pack

BOTOCORE_SERVICES = ("bedrock", "bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime")
#: Planes botocore may model one day; classified from AWS documentation until then.
OPTIONAL_SERVICES = ("bedrock-mantle", "aws-external-anthropic")
SESSION = botocore.session.get_session()
BY_SERVICE = {s.service: s for s in load_operations()}


def _botocore_ops(service: str) -> list[str]:
    return list(SESSION.get_service_model(service).operation_names)


@pytest.mark.parametrize("service", BOTOCORE_SERVICES)
def test_every_botocore_operation_is_classified(service: str) -> None:
    spec = BY_SERVICE[service]
    missing = [op for op in _botocore_ops(service) if spec.class_of(op) is None]
    assert not missing, f"{service}: classify these in trail/operations.yml: {missing}"


@pytest.mark.parametrize("service", OPTIONAL_SERVICES)
def test_mantle_and_claude_platform_are_classified_where_botocore_has_them(service: str) -> None:
    spec = BY_SERVICE[service]
    if service in SESSION.get_available_services():
        missing = [op for op in _botocore_ops(service) if spec.class_of(op) is None]
        assert not missing, f"{service}: classify these in trail/operations.yml: {missing}"
    # Until then, the documented operations are classified (from the issue and AWS docs).
    for op in ("DeleteInference", "DeleteFile", "ArchiveProject", "CancelFineTuningJob"):
        if service == "bedrock-mantle":
            assert spec.class_of(op) == "destructive", op
    if service == "bedrock-mantle":
        assert spec.class_of("CreateFineTuningJob") == "costly"


def test_classes_are_known_and_each_operation_has_one() -> None:
    for spec in load_operations():
        assert set(spec.classes) <= set(CLASSES)
        ops = [op for ops in spec.classes.values() for op in ops]
        assert len(ops) == len(set(ops)), f"{spec.service}: an operation in two classes"
        # Operations a newer (or older) botocore has and the installed one lacks may
        # stay classified: the list serves every supported botocore.


def test_the_apis_the_issue_named_are_destructive_or_costly() -> None:
    b = "bedrock.amazonaws.com"
    for op in (
        "DeleteMarketplaceModelEndpoint",
        "DeleteCustomModelDeployment",
        "DeleteAutomatedReasoningPolicy",
        "DeleteKnowledgeBase",
        "DeleteAgent",
        "DeleteImportedModel",
        "DeleteProvisionedModelThroughput",
    ):
        assert classify(b, op) == "destructive", op
    for op in ("PutEnforcedGuardrailConfiguration", "DeleteEnforcedGuardrailConfiguration"):
        assert classify(b, op) == "tamper", op
    for op in ("CreateModelImportJob", "CreateProvisionedModelThroughput", "CreateKnowledgeBase"):
        assert classify(b, op) == "costly", op


def _bearer_call(source: str, op: str, i: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    extra: dict[str, Any] | None = {"callWithBearerToken": True}
    if source != "bedrock.amazonaws.com":
        params = {"callWithBearerToken": True, "bearerTokenType": "ABSK"}
        extra = None
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/BedrockAPIKey-hr8l",
            "accountId": "111122223333",
            "userName": "BedrockAPIKey-hr8l",
        },
        "eventTime": f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}Z",
        "eventSource": source,
        "eventName": op,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.24",
        "userAgent": "Boto3/1.35.10",
        "requestParameters": params,
        "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "recipientAccountId": "111122223333",
    }
    if extra is not None:
        rec["additionalEventData"] = extra
    return rec


#: class -> the rules that must match every operation of the class (made with an API key).
RULES_FOR_CLASS = {
    "destructive": {"bearer-token-destructive-action"},
    "costly": {"bearer-token-costly-resource"},
    "tamper": {"bearer-token-guardrail-tampering", "key-logging-tampering"},
}


def test_rules_match_every_operation_of_their_class(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    keyed = [
        (src, op, klass)
        for klass in (*RULES_FOR_CLASS, "read", "config")
        for src, op in sorted(operations_in(klass))
    ]
    records = [_bearer_call(src, op, i) for i, (src, op, _) in enumerate(keyed)]
    write_trail(records)
    result = run_duckdb(
        load_pack(), plan_sources([str(tmp_path)], None, None), since=None, until=None
    )
    by_event: dict[str, set[str]] = {}
    for f in result.findings:
        for e in f.evidence.get("event_ids") or ():
            by_event.setdefault(e, set()).add(f.rule_id)
    unmatched = []
    wrong = []
    every_class_rule = set().union(*RULES_FOR_CLASS.values())
    for (src, op, klass), rec in zip(keyed, records, strict=True):
        fired = by_event.get(rec["eventID"], set())
        if klass in RULES_FOR_CLASS:
            if not fired & RULES_FOR_CLASS[klass]:
                unmatched.append((klass, src, op))
        elif fired & every_class_rule:
            wrong.append((klass, src, op, sorted(fired & every_class_rule)))
    assert not unmatched, f"operations their class rule misses: {unmatched}"
    assert not wrong, f"read/config operations a destructive, costly or tamper rule flags: {wrong}"
