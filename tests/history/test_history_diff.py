"""history.diff: new, resolved, unverified and changed findings by fingerprint."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from phantomkeys.history import diff

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"


def scan_doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "scan.json").read_text("utf-8"))
    return loaded


def _by_rule(document: dict[str, Any], rule_id: str, account: str) -> dict[str, Any]:
    return next(
        f for f in document["findings"] if f["rule_id"] == rule_id and f["account_id"] == account
    )


def test_identical_scans_have_no_changes() -> None:
    result = diff(scan_doc(), scan_doc())
    assert result.is_empty()
    assert result.unchanged == 12


def test_new_resolved_and_changed() -> None:
    before, after = scan_doc(), scan_doc()
    pivot = _by_rule(after, "PK-SCAN-002", "111111111111")
    after["findings"].remove(pivot)  # the access key was deleted
    added = copy.deepcopy(_by_rule(after, "PK-SCAN-001", "333333333333"))
    added.update(fingerprint="a" * 32, subject="arn:aws:iam::333333333333:user/AeaApiKey-zz99")
    after["findings"].append(added)
    worse = _by_rule(after, "PK-SCAN-003", "111111111111")
    worse["severity"] = "high"
    worse["evidence"]["credential_id"] = "ACCANEWKEYEXAMPLE0001"

    result = diff(before, after, before_label="#1", after_label="#2")
    assert [f["fingerprint"] for f in result.new] == ["a" * 32]
    assert [f["fingerprint"] for f in result.resolved] == [pivot["fingerprint"]]
    assert len(result.changed) == 1
    change = result.changed[0]
    assert change.fields["severity"] == ("medium", "high")
    assert change.fields["evidence.credential_id"] == (
        "ACCAQ2RXHR8LEXAMPLE01",
        "ACCANEWKEYEXAMPLE0001",
    )
    assert result.new_fingerprints == frozenset({"a" * 32})
    assert result.to_dict()["counts"] == {
        "new": 1,
        "resolved": 1,
        "unverified": 0,
        "changed": 1,
        "unchanged": 10,
    }


def test_ageing_alone_is_not_a_change() -> None:
    before, after = scan_doc(), scan_doc()
    for f in after["findings"]:
        if "age_days" in f["evidence"]:
            f["evidence"]["age_days"] += 7
        if "last_used" in f["evidence"]:
            f["evidence"]["last_used"] = "2026-12-06T00:00:00Z"
    assert diff(before, after).is_empty()


def test_findings_missing_from_an_unreadable_account_are_unverified_not_resolved() -> None:
    before, after = scan_doc(), scan_doc()
    prod = next(a for a in after["accounts"] if a["account_id"] == "222222222222")
    prod["status"] = "error"
    prod["identities"] = []
    gone = [f for f in after["findings"] if f["account_id"] == "222222222222"]
    after["findings"] = [f for f in after["findings"] if f["account_id"] != "222222222222"]
    result = diff(before, after)
    assert result.resolved == ()
    assert {f["fingerprint"] for f in result.unverified} == {f["fingerprint"] for f in gone}
    assert "222222222222" in result.notes[0]


def test_findings_of_an_account_not_scanned_at_all_are_unverified() -> None:
    before, after = scan_doc(), scan_doc()
    after["accounts"] = [a for a in after["accounts"] if a["account_id"] != "333333333333"]
    after["findings"] = [f for f in after["findings"] if f["account_id"] != "333333333333"]
    result = diff(before, after)
    assert len(result.unverified) == 2
    assert result.resolved == ()


def test_lists_of_findings_work_too() -> None:
    before = scan_doc()["findings"]
    result = diff(before, before[:-1])
    assert len(result.resolved) == 1
