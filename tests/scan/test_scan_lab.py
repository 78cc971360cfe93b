"""``phantomkeys scan`` end to end over real HTTP against the lab."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli

pytestmark = pytest.mark.lab


def scan(*args: str):
    result = CliRunner().invoke(cli, ["scan", "--no-history", *args], catch_exceptions=False)
    return result


def scan_json(*args: str) -> tuple[int, dict]:
    result = scan("--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def identities(doc: dict) -> dict[tuple[str, str], dict]:
    return {(i["username"], i["surface"]): i for a in doc["accounts"] for i in a["identities"]}


def expected(lab, account_id: str | None = None) -> list[dict]:
    out = []
    for acct in lab.manifest["accounts"]:
        if account_id is None or acct["account_id"] == account_id:
            out.extend(acct["identities"])
    return out


def test_every_demo_identity_classified(phantomkeys_lab):
    code, doc = scan_json()
    assert code == 0, doc["accounts"][0].get("failures")
    got = identities(doc)
    want = expected(phantomkeys_lab)
    assert want, "the demo scenario must seed identities"
    for e in want:
        ident = got.get((e["username"], e["surface"]))
        assert ident is not None, f"{e['username']} ({e['case']}) not reported"
        assert (ident["kind"], ident["status"]) == (e["kind"], e["status"]), e["case"]
        caps = {c["id"] for c in ident["capabilities"]}
        missing = set(e.get("capabilities", ())) - caps
        assert not missing, f"{e['username']}: capabilities {missing} not found ({e['case']})"
    reported = {u for u, _ in got}
    plain = {u for a in phantomkeys_lab.manifest["accounts"] for u in a["not_reported"]}
    assert plain
    assert not (reported & plain), "plain users must not be reported"


def test_json_contract_fields(phantomkeys_lab):
    _, doc = scan_json()
    assert doc["schema_version"] and doc["tool"]["name"] == "phantomkeys"
    meta = doc["metadata"]
    assert {"scan_time", "caller_arn", "api_calls"} <= set(meta)
    assert meta["api_calls"]["total"] == sum(meta["api_calls"]["by_operation"].values())
    for status in ("at-risk", "active", "expired", "orphaned", "unknown"):
        assert status in doc["summary"]
    acct = doc["accounts"][0]
    assert {"account_id", "status", "error", "identities"} <= set(acct)
    ident = acct["identities"][0]
    for field in (
        "username",
        "arn",
        "kind",
        "surface",
        "status",
        "credentials",
        "access_keys",
        "console_access",
        "mfa_devices",
        "policies",
        "capabilities",
        "risk",
    ):
        assert field in ident
    assert {"severity", "reasons"} <= set(ident["risk"])
    for f in doc["findings"]:
        assert {
            "rule_id",
            "title",
            "severity",
            "subject",
            "account_id",
            "evidence",
            "remediation",
            "fingerprint",
        } <= set(f)


def test_no_secret_in_any_output(phantomkeys_lab, tmp_path):
    from phantomkeys.core import keys

    secrets = [keys.decode(k).reveal() for k in phantomkeys_lab.leaked_keys.values()]
    assert secrets
    for fmt in ("json", "table", "csv", "markdown", "sarif", "html"):
        out = scan("--format", fmt).stdout
        assert not any(s in out for s in secrets), fmt


def test_calls_are_account_wide(phantomkeys_lab):
    _, doc = scan_json()
    ops = doc["metadata"]["api_calls"]["by_operation"]
    per_user = [
        op
        for op in ops
        if op
        in (
            "iam:ListAccessKeys",
            "iam:ListAttachedUserPolicies",
            "iam:ListUserPolicies",
            "iam:GetLoginProfile",
        )
    ]
    assert not per_user, f"per-user calls in the default mode: {per_user}"
    assert doc["metadata"]["api_calls"]["total"] <= 30
    sources = doc["accounts"][0]["sources"]
    assert sources["service_credentials"].startswith("ListServiceSpecificCredentials(AllUsers")


def test_fresh_confirms_with_per_user_calls(phantomkeys_lab):
    code, doc = scan_json("--fresh")
    assert code == 0
    ops = doc["metadata"]["api_calls"]["by_operation"]
    assert ops.get("iam:ListAccessKeys", 0) >= 1
    assert "per user" in doc["accounts"][0]["sources"]["access_keys"]
    assert (identities(doc)[("BedrockAPIKey-p1v0", "bedrock")]["status"]) == "at-risk"


def test_throttling_is_retried(phantomkeys_lab):
    phantomkeys_lab.set_faults(
        "iam:ListServiceSpecificCredentials=throttle:0.5,"
        "iam:GetAccountAuthorizationDetails=throttle:0.5"
    )
    code, doc = scan_json()
    assert code == 0
    assert doc["summary"]["unknown"] == 0


@pytest.mark.parametrize(
    "fault",
    [
        "iam:ListServiceSpecificCredentials=denied",
        "iam:GetCredentialReport=denied,iam:ListAccessKeys=denied",
        # without authorization details, the policy holders cannot be found either
        "iam:GetAccountAuthorizationDetails=denied,iam:ListEntitiesForPolicy=denied",
    ],
)
def test_failed_lookup_is_unknown_never_orphaned(phantomkeys_lab, fault):
    phantomkeys_lab.set_faults(fault)
    code, doc = scan_json()
    assert code == 3
    got = identities(doc)
    orphan = got[("BedrockAPIKey-0rph", "bedrock")]
    assert orphan["status"] == "unknown"
    assert all(i["status"] != "orphaned" for i in got.values())
    assert doc["accounts"][0]["status"] == "incomplete"


def test_unreadable_managed_policy_makes_key_holders_unknown(phantomkeys_lab):
    # The surfaces' managed policies are read ahead; a failed read must still count.
    phantomkeys_lab.set_faults("iam:GetPolicyVersion=denied")
    code, doc = scan_json()
    assert code == 3
    got = identities(doc)
    assert got[("BedrockAPIKey-0rph", "bedrock")]["status"] == "unknown"
    assert any(f["operation"] == "iam:GetPolicyVersion" for f in doc["accounts"][0]["failures"])


@pytest.mark.phantomkeys_lab(scenario="empty")
def test_read_ahead_failure_is_not_reported_where_nothing_needs_it(phantomkeys_lab):
    phantomkeys_lab.set_faults("iam:GetPolicy=denied")
    code, doc = scan_json()
    assert code == 0, doc["accounts"][0]["failures"]
    assert doc["accounts"][0]["status"] == "ok" and not doc["accounts"][0]["failures"]


def test_credential_report_denied_falls_back_to_per_user(phantomkeys_lab):
    phantomkeys_lab.set_faults("iam:GetCredentialReport=denied")
    code, doc = scan_json()
    assert code == 0  # recovered by per-user calls: complete, and the path is reported
    acct = doc["accounts"][0]
    assert "per user" in acct["sources"]["access_keys"]
    assert acct["failures"][0]["fallback"]
    got = identities(doc)
    assert got[("BedrockAPIKey-p1v0", "bedrock")]["status"] == "at-risk"
    assert got[("BedrockAPIKey-0rph", "bedrock")]["status"] == "orphaned"


def test_snapshot_round_trip_offline(phantomkeys_lab, tmp_path, monkeypatch):
    snap = tmp_path / "snap.json"
    code, live = scan_json("--save-snapshot", str(snap))
    assert code == 0 and stat.S_IMODE(os.stat(snap).st_mode) == 0o600
    # Offline: no endpoint at all.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    code, offline = scan_json("--from-snapshot", str(snap))
    assert code == 0

    def strip(d: dict) -> dict:
        return {
            k: (v["kind"], v["status"], v["risk"]["severity"]) for k, v in identities(d).items()
        }

    assert strip(offline) == strip(live)


def test_bad_snapshot_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    result = scan("--from-snapshot", str(bad))
    assert result.exit_code == 2 and "snapshot" in result.stderr


def test_fail_on_and_table(phantomkeys_lab):
    result = scan("--format", "table", "--fail-on", "critical")
    assert result.exit_code == 1
    assert "BedrockAPIKey-p1v0" in result.stdout and "Next:" in result.stdout


def test_csv_is_formula_safe(phantomkeys_lab):
    import boto3

    boto3.client("iam").create_user(UserName="=cmd|calc")
    boto3.client("iam").attach_user_policy(
        UserName="=cmd|calc", PolicyArn="arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"
    )
    out = scan("--format", "csv").stdout
    assert "=cmd|calc" in out and "\n=cmd" not in out and ",=cmd" not in out


def test_surface_filter(phantomkeys_lab):
    _, doc = scan_json("--surface", "claude-platform")
    assert {i["surface"] for i in identities(doc).values()} == {"claude-platform"}
