"""``phantomkeys scan --org`` over the lab's Organization."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from phantomkeys.cli import cli

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="org")]


@pytest.fixture(autouse=True)
def _few_retries(phantomkeys_lab, monkeypatch):
    # The lab throttles one member on every call; keep the test short.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")


def org_scan(*args: str) -> tuple[int, dict]:
    if "--checkpoint" not in args:  # never the default file in the working directory
        args = (*args, "--checkpoint", str(_tmp() / "checkpoint.jsonl"))
    result = CliRunner().invoke(
        cli, ["scan", "--org", "--no-history", "--format", "json", *args], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout)


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="pk-org-"))


def by_account(doc: dict) -> dict[str, dict]:
    return {a["account_id"]: a for a in doc["accounts"]}


def statuses(doc: dict) -> dict[str, dict[str, str]]:
    return {
        a["account_id"]: {i["username"]: i["status"] for i in a["identities"]}
        for a in doc["accounts"]
    }


def test_org_scan_isolates_failures(phantomkeys_lab, tmp_path):
    code, doc = org_scan("--checkpoint", str(tmp_path / "cp.json"))
    assert code == 3  # one account cannot be assumed, one is throttled to death
    accts = by_account(doc)
    manifest = {a["account_id"]: a for a in phantomkeys_lab.manifest["accounts"]}
    assert set(accts) == set(manifest)
    for acct_id, m in manifest.items():
        a = accts[acct_id]
        if not m["reachable_with_org_role"]:
            assert a["status"] == "error" and "cannot assume role" in a["error"]
            continue
        got = {i["username"]: (i["kind"], i["status"]) for i in a["identities"]}
        for e in m["identities"]:
            if m["faults"]:  # throttled on every API-key listing: unknown, never orphaned
                assert got[e["username"]][1] == "unknown"
            else:
                assert got[e["username"]] == (e["kind"], e["status"]), (acct_id, e["case"])
    assert doc["metadata"]["organization_id"] == phantomkeys_lab.organization_id


def test_scps_read_once_per_node_and_evaluated(phantomkeys_lab):
    phantomkeys_lab.reset_stats()
    _, doc = org_scan()
    ops = phantomkeys_lab.stats()["by_operation"]
    nodes = 1 + len(phantomkeys_lab.manifest["organization"]["ous"])
    reachable = sum(1 for a in phantomkeys_lab.manifest["accounts"] if a["reachable_with_org_role"])
    # root + OUs once each, plus one account-level listing per scanned account
    assert ops["organizations:ListPoliciesForTarget"] <= nodes + reachable
    # AWS managed policies are the same everywhere: read once per scan, not per
    # account; member identities come from AssumeRole, not GetCallerIdentity.
    distinct = ops["iam:GetPolicy"]
    assert distinct == ops["iam:GetPolicyVersion"] and 0 < distinct <= 4
    assert ops["sts:GetCallerIdentity"] <= 2  # the management account and the report
    per_account = phantomkeys_lab.stats()["by_account_operation"]
    members = [
        a for a in doc["accounts"] if a["account_id"] != doc["metadata"]["management_account_id"]
    ]
    assert all("sts:GetCallerIdentity" not in per_account.get(a["account_id"], {}) for a in members)
    prod = next(a for a in doc["accounts"] if a["name"] == "prod-apps")
    assert prod["scps_evaluated"] is True
    key_user = next(i for i in prod["identities"] if i["status"] == "active")
    invoke = [c for c in key_user["capabilities"] if c["id"] == "invoke-models"]
    # The Production OU's SCP denies bearer-token use: the key itself reaches nothing.
    assert not invoke or "api-key" not in invoke[0]["reach"]


def test_filters(phantomkeys_lab):
    code, doc = org_scan("--accounts", "222222222222,555555555555")
    assert set(by_account(doc)) == {"222222222222", "555555555555"}
    assert code == 0
    code, doc = org_scan("--exclude", "333333333333,444444444444")
    assert "333333333333" not in by_account(doc) and code == 0
    org = phantomkeys_lab.session().client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"][0]
    code, doc = org_scan("--ou", ou["Id"])
    assert {a["ou_path"][-1] for a in doc["accounts"]} == {ou["Name"]}


def test_bad_filter_values_are_clean_errors(phantomkeys_lab):
    result = CliRunner().invoke(cli, ["scan", "--org", "--accounts", "12345"])
    assert result.exit_code == 2 and "12-digit" in result.stderr
    result = CliRunner().invoke(cli, ["scan", "--org", "--ou", "ou-nope-nope"])
    assert result.exit_code == 2 and "no such OU" in result.stderr


def test_interrupted_scan_resumes_to_the_same_report(phantomkeys_lab, tmp_path):
    from phantomkeys.aws.org import Checkpoint, OrgScanOptions, scan_organization
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.surfaces import SURFACES

    _, full = org_scan("--checkpoint", str(tmp_path / "full.json"))
    cp_path = tmp_path / "cp.json"
    opts = OrgScanOptions(surfaces=SURFACES, max_workers=1)
    seen: list[str] = []

    def crash_after_two(entry) -> None:
        seen.append(entry.account_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_organization(
            AwsContext.from_cli(),
            opts,
            now=datetime.now(UTC),
            checkpoint=Checkpoint(cp_path, opts.scope()),
            on_account=crash_after_two,
        )
    lines = [json.loads(x) for x in cp_path.read_text().splitlines()[1:]]
    finished_ok = {e["account_id"] for e in lines if e["status"] == "ok"}
    assert len(lines) >= 2  # the two that completed, plus any that were in flight
    phantomkeys_lab.reset_stats()
    _, resumed = org_scan("--checkpoint", str(cp_path), "--resume")
    per_account = phantomkeys_lab.stats()["by_account_operation"]
    rescanned = {
        k.split("/")[0] for k in per_account if k.endswith("/iam:GetAccountAuthorizationDetails")
    }
    assert not (rescanned & finished_ok), "a finished account was scanned again"
    assert statuses(resumed) == statuses(full)
