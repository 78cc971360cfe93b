"""The HTML report, read as text: self-contained, escaped, redacted, charted."""

from __future__ import annotations

import base64
import hashlib
import re

from tests.report.conftest import COMMANDS, load_fixture

from phantomkeys.core import keys
from phantomkeys.report import html_report
from phantomkeys.surfaces import BEDROCK


def _bundle() -> str:
    return html_report.render_many([load_fixture(c) for c in COMMANDS], title="demo")


def test_one_self_contained_file_with_no_network_references() -> None:
    page = _bundle()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page
    assert "url(" not in page
    assert "<link" not in page
    assert "<iframe" not in page


def test_content_security_policy_allows_only_the_inline_script_by_hash() -> None:
    page = _bundle()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp
    assert "default-src 'none'" in csp.group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp.group(1)
    assert page.count("<script") == 1


def test_every_chart_is_present_for_the_demo_bundle() -> None:
    page = _bundle()
    charts = set(re.findall(r'data-chart="([a-z-]+)"', page))
    assert charts >= {
        "status",
        "key-age",
        "key-expiry",
        "capabilities",
        "heat-map",
        "scp-coverage",
        "hunt-timeline",
    }


def test_key_age_and_expiry_buckets_are_relative_to_the_scan_time() -> None:
    page = html_report.render(load_fixture("scan"))
    # BedrockAPIKey-hr8l key created 2026-03-02, scan 2026-11-29: 272 days -> "90–365 d"
    assert "4 API keys created 90–365 d ago" in page
    assert "2 API keys: expiry never" in page  # hr8l and AeaApiKey-hx7q never expire


def test_values_are_escaped() -> None:
    document = load_fixture("scan")
    document["accounts"][0]["identities"][0]["username"] = "<script>alert(1)</script>"
    document["findings"][0]["title"] = '"><img src=x onerror=alert(1)>'
    page = html_report.render(document)
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_secrets_never_reach_the_page() -> None:
    secret = "Qw7" * 20
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-hr8l", account_id="111111111111", secret=secret
    )
    document = load_fixture("leaks")
    document["findings"][0]["evidence"]["context"] = f"AWS_BEARER_TOKEN_BEDROCK={key}"
    document["findings"][0]["evidence"]["secret"] = secret
    page = html_report.render(document)
    assert secret not in page
    assert key not in page
    assert keys.redact(key)[:20] in page


def test_unknown_is_shown_as_unknown_never_as_zero() -> None:
    page = html_report.render(load_fixture("scan"))
    row = re.search(r'<tr data-status="unknown".*?</tr>', page, re.S)
    assert row is not None
    assert row.group(0).count(">unknown<") >= 2  # access keys and console


def test_tables_offer_filters_and_counts() -> None:
    page = html_report.render(load_fixture("scan"))
    assert 'id="scan-0-identities"' in page
    assert 'id="scan-0-findings"' in page
    assert 'data-attr="status"' in page
    assert 'data-attr="severity"' in page
    assert '<span class="row-count" data-table="scan-0-identities">9 of 9</span>' in page


def test_empty_documents_render_with_empty_states() -> None:
    document = load_fixture("hunt")
    document["findings"] = []
    page = html_report.render(document)
    assert "No activity" in page
    assert "None." in page
    scan = load_fixture("scan")
    for account in scan["accounts"]:
        account["identities"] = []
    scan["findings"] = []
    scan["summary"] = dict.fromkeys(scan["summary"], 0)
    page = html_report.render(scan)
    assert "No API-key holders found" in page
    assert "No API keys" in page
