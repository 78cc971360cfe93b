"""The format registry, JSON, CSV and Markdown renderers, and secret redaction."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from tests.report.conftest import COMMANDS, load_fixture

from phantomkeys.core import keys
from phantomkeys.report import csv_report, formats, markdown
from phantomkeys.report.redact import scrub
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

SECRET = "Zx9" * 20


def _long_term_key() -> str:
    return keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-hr8l", account_id="111111111111", secret=SECRET
    )


def _short_term_key() -> str:
    from datetime import UTC, datetime

    return keys.mint_short_term(
        BEDROCK,
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        issued_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
    )


def _offline_formats(command: str) -> list[str]:
    return [f for f in formats.formats_for(command) if f != "sarif"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_format_renders_every_command(command: str) -> None:
    document = load_fixture(command)
    for fmt in _offline_formats(command):
        text = formats.render(document, fmt)
        assert text.strip(), f"{command} as {fmt} is empty"
        assert text.endswith("\n")


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(formats.UnknownFormat, match="choose from"):
        formats.render(load_fixture("scan"), "pdf")


def test_json_round_trips_the_document() -> None:
    document = load_fixture("hunt")
    assert json.loads(formats.render(document, "json")) == document


def test_no_format_ever_carries_a_key_secret(any_doc: dict[str, Any]) -> None:
    """A producer bug that leaks a full key into evidence is caught at render time."""
    long_key, short_key = _long_term_key(), _short_term_key()
    any_doc["findings"][0]["evidence"]["context"] = f"export AWS_BEARER_TOKEN_BEDROCK={long_key}"
    any_doc["findings"][0]["evidence"]["raw"] = short_key
    any_doc["findings"][0]["evidence"]["secret"] = SECRET
    any_doc["findings"][0]["title"] = f"leaked {long_key}"
    command = any_doc["metadata"]["command"]
    for fmt in _offline_formats(command):
        text = formats.render(any_doc, fmt)
        assert SECRET not in text, fmt
        assert long_key not in text, fmt
        assert short_key[40:120] not in text, fmt
        if (command, fmt) != ("scan", "csv"):  # the scan CSV lists identities, not findings
            assert long_key[:12] in text, f"{fmt}: the redacted preview should remain"


def test_scrub_keeps_previews_and_ordinary_text() -> None:
    preview = keys.redact(_long_term_key())
    doc = {"a": preview, "b": "ABSK is a prefix", "c": ["x" * 200], "n": 3}
    assert scrub(doc) == doc


def test_scrub_redacts_claude_platform_keys_too() -> None:
    key = keys.encode_long_term(
        CLAUDE_PLATFORM, username="AeaApiKey-d3qp", account_id="111111111111", secret=SECRET
    )
    assert SECRET not in json.dumps(scrub({"k": f"token: {key}"}))


# ------------------------------------------------------------------ CSV


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_scan_csv_has_one_row_per_identity_with_stable_columns() -> None:
    document = load_fixture("scan")
    rows = _rows(csv_report.render(document))
    assert len(rows) == sum(len(a["identities"]) for a in document["accounts"])
    assert list(rows[0]) == [c for c, _ in csv_report.SCAN_COLUMNS]
    hr8l = next(r for r in rows if r["username"] == "BedrockAPIKey-hr8l")
    assert hr8l["status"] == "at-risk"
    assert hr8l["never_expiring_key"] == "yes"
    assert hr8l["access_keys_active"] == "1"
    toqd = next(r for r in rows if r["username"] == "BedrockAPIKey-toqd")
    assert toqd["access_keys_active"] == "unknown"  # failed lookup is not "0"
    assert toqd["console_access"] == "unknown"


def test_hunt_csv_spreads_the_evidence_into_columns() -> None:
    rows = _rows(csv_report.render(load_fixture("hunt")))
    spike = next(r for r in rows if r["rule_id"] == "PK-HUNT-010")
    assert spike["count"] == "1874"
    assert spike["regions"] == "us-east-1, us-west-2, eu-central-1"
    assert spike["first_seen"] == "2026-11-28T02:03:11Z"


@pytest.mark.parametrize(
    "payload",
    [
        '=HYPERLINK("http://evil","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_defuses_formula_injection(payload: str) -> None:
    document = load_fixture("scan")
    ident = document["accounts"][0]["identities"][0]
    ident["username"] = payload  # IAM allows = + - @ in user names
    rows = _rows(csv_report.render(document))
    cell = rows[0]["username"]
    assert cell == "'" + payload
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_numbers_stay_numbers() -> None:
    assert csv_report.safe_cell(-3) == -3
    assert csv_report.safe_cell("-3") == "'-3"
    assert csv_report.safe_cell(None) == ""


# ------------------------------------------------------------------ Markdown


def test_markdown_scan_report_has_counts_tables_and_details() -> None:
    text = markdown.render(load_fixture("scan"))
    assert text.startswith("## phantomkeys: API-key scan")
    assert "**12 findings** (2 critical, 5 high, 4 medium, 1 low)" in text
    assert "| 3 | 3 | 1 | 1 | 1 |" in text  # status counts
    assert "❌ error" in text
    assert "⚠️ incomplete" in text
    assert text.count("<details>") == 12
    assert text.count("</details>") == 12


def test_markdown_escapes_hostile_values() -> None:
    document = load_fixture("leaks")
    document["findings"][0]["location"]["path"] = "a|b`c.env"
    document["findings"][0]["title"] = "<img src=x onerror=alert(1)> [click](http://evil)"
    text = markdown.render(document)
    assert "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "[click](" not in text
    assert "\\[click\\](http://evil)" in text
    table_line = next(line for line in text.splitlines() if "a\\|b" in line)
    assert table_line.count(" | ") == 4  # five cells: the pipe did not split the row


def test_markdown_coverage_matrix() -> None:
    text = markdown.render(load_fixture("coverage"))
    assert "| account | name | Long-term key creation blocked |" in text
    assert "✅ blocked (phantomkeys-block-all)" in text
    assert "➖ n/a (management)" in text


def test_markdown_without_findings_says_so() -> None:
    document = load_fixture("hunt")
    document["findings"] = []
    assert "No findings. ✅" in markdown.render(document)
