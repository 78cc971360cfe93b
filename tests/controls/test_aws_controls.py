"""SCP deploy, coverage and alerts against an emulated Organization over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from phantomkeys.aws.apply import BackupStore
from phantomkeys.aws.controls_apply import deploy_alerts, deploy_scp
from phantomkeys.aws.organizations_controls import (
    get_alerts_deploy_state,
    get_coverage_snapshot,
)
from phantomkeys.aws.session import AwsContext
from phantomkeys.cli.scp import alerts, scp
from phantomkeys.core.controls.alerts import AlertScope, build_alert_rules, deployment_regions
from phantomkeys.core.controls.deploy import (
    StepKind,
    StepStatus,
    plan_alerts_deploy,
)
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.surfaces import SURFACES

from .conftest import REGION, OrgEnv, attach_document
from .samples import AWS_SAMPLE_30_DAYS

pytestmark = pytest.mark.lab

READ_PREFIXES = ("List", "Describe", "Get")
PROD_PRESETS = [
    "--preset",
    "block-long-term",
    "--preset",
    "max-age",
    "--max-age-days",
    "30",
    "--preset",
    "block-pivot",
    "--preset",
    "block-phantom-creation",
]


def _writes(ctx: AwsContext) -> dict[str, int]:
    calls = ctx.counter.snapshot()["by_operation"]
    return {op: n for op, n in calls.items() if not op.split(":", 1)[1].startswith(READ_PREFIXES)}


def _ctx() -> AwsContext:
    return AwsContext(session=boto3.session.Session(region_name=REGION))


def _store() -> BackupStore:
    return BackupStore(Path("phantomkeys-backups"))  # in the test's own directory


def _deploy(options: ScpOptions, targets: list[str]) -> tuple[AwsContext, list[Any]]:
    ctx = _ctx()
    policies = generate_policies(options)
    _, steps = deploy_scp(ctx, policies, targets, base_name=options.base_name, store=_store())
    return ctx, steps


def _deploy_alerts(ctx: AwsContext, regions: list[str]) -> list[Any]:
    return deploy_alerts(ctx, build_alert_rules(SURFACES), regions, store=_store())[1]


def _attached_names(env: OrgEnv, target: str) -> set[str]:
    orgs = env.client("organizations")
    found = orgs.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")
    return {p["Name"] for p in found["Policies"]}


# ----------------------------------------------------------------- deploy


def test_deploy_creates_attaches_and_a_rerun_makes_no_write_call(org: OrgEnv) -> None:
    options = ScpOptions(presets=(Preset.BLOCK_ALL,))
    targets = [org.ous["Prod"], org.accounts["shared"]]
    first_ctx, first = _deploy(options, targets)
    assert {s.status for s in first} == {StepStatus.APPLIED}
    assert _writes(first_ctx) == {
        "organizations:EnablePolicyType": 1,
        "organizations:CreatePolicy": 1,
        "organizations:AttachPolicy": 2,
    }
    for target in targets:
        assert "phantomkeys-block-all" in _attached_names(org, target)
    content = org.client("organizations").describe_policy(
        PolicyId=first[1].params.get("policy_id") or _policy_id(org, "phantomkeys-block-all")
    )
    assert json.loads(content["Policy"]["Content"]) == generate_policies(options)[0].document

    second_ctx, second = _deploy(options, targets)
    assert {s.status for s in second} == {StepStatus.ALREADY_DONE}
    assert _writes(second_ctx) == {}


def _policy_id(env: OrgEnv, name: str) -> str:
    for p in env.client("organizations").list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]:
        if p["Name"] == name:
            return str(p["Id"])
    raise AssertionError(name)


def test_deploy_updates_changed_content_in_place(org: OrgEnv) -> None:
    target = [org.ous["Dev"]]
    _deploy(ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=30, name="pk-age"), target)
    policy_id = _policy_id(org, "pk-age")
    ctx, steps = _deploy(
        ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=7, name="pk-age"), target
    )
    assert [(s.kind, s.status) for s in steps if s.status is not StepStatus.ALREADY_DONE] == [
        (StepKind.UPDATE_POLICY, StepStatus.APPLIED)
    ]
    assert _writes(ctx) == {"organizations:UpdatePolicy": 1}
    content = org.client("organizations").describe_policy(PolicyId=policy_id)["Policy"]["Content"]
    assert '"NumericGreaterThan":{"iam:ServiceSpecificCredentialAgeDays":"7"}' in content


def test_cli_deploy_safety_rails(org: OrgEnv) -> None:
    runner = CliRunner()
    root = runner.invoke(scp, ["deploy", "--preset", "block-all", "--target", org.root_id, "--yes"])
    assert root.exit_code == 2
    assert "refusing to attach to the root" in root.output

    bad = runner.invoke(scp, ["deploy", "--preset", "block-all", "--target", "prod", "--yes"])
    assert bad.exit_code == 2

    dry = runner.invoke(
        scp,
        [
            "deploy",
            "--preset",
            "block-all",
            "--target",
            org.ous["Prod"],
            "--dry-run",
            "--format",
            "json",
        ],
    )
    assert dry.exit_code == 0, dry.output
    document = json.loads(dry.stdout)
    assert document["dry_run"] is True
    assert [s["status"] for s in document["steps"]] == ["pending"] * 3
    assert "phantomkeys-block-all" not in _attached_names(org, org.ous["Prod"])

    no_consent = runner.invoke(
        scp, ["deploy", "--preset", "block-all", "--target", org.ous["Prod"], "--yes"]
    )
    assert no_consent.exit_code == 2
    assert "--enable-policy-type" in no_consent.output
    assert "phantomkeys-block-all" not in _attached_names(org, org.ous["Prod"])

    unconfirmed = runner.invoke(
        scp,
        ["deploy", "--preset", "block-all", "--target", org.ous["Prod"], "--enable-policy-type"],
    )
    assert unconfirmed.exit_code == 2
    assert "--yes" in unconfirmed.output


def test_cli_deploy_to_root_with_consent_then_rerun_is_a_no_op(org: OrgEnv) -> None:
    runner = CliRunner()
    args = [
        "deploy",
        "--preset",
        "block-pivot",
        "--target",
        org.root_id,
        "--i-understand-root",
        "--enable-policy-type",
        "--yes",
        "--format",
        "json",
    ]
    first = runner.invoke(scp, args)
    assert first.exit_code == 0, first.output
    assert {s["status"] for s in json.loads(first.stdout)["steps"]} == {"applied"}
    assert "phantomkeys-block-pivot" in _attached_names(org, org.root_id)
    second = runner.invoke(scp, args)
    assert second.exit_code == 0, second.output
    assert {s["status"] for s in json.loads(second.stdout)["steps"]} == {"already-done"}
    assert "nothing to do" in second.stderr


# ----------------------------------------------------------------- coverage


def _protect(org: OrgEnv) -> None:
    runner = CliRunner()
    prod = runner.invoke(
        scp, ["deploy", *PROD_PRESETS, "--target", org.ous["Prod"], "--enable-policy-type", "--yes"]
    )
    assert prod.exit_code == 0, prod.output
    shared = runner.invoke(
        scp,
        [
            "deploy",
            "--preset",
            "block-all",
            "--preset",
            "block-pivot",
            "--preset",
            "block-phantom-creation",
            "--preset",
            "max-age",
            "--max-age-days",
            "7",
            "--target",
            org.accounts["shared"],
            "--yes",
        ],
    )
    assert shared.exit_code == 0, shared.output
    attach_document(org, "aws-sample-30-days", AWS_SAMPLE_30_DAYS, org.ous["Dev"])


def _matrix(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        a["name"] or a["account_id"]: {g: r["state"] for g, r in a["goals"].items()}
        for a in document["accounts"]
    }


BLOCKED_IN_PROD = {
    "long-term-key-creation-blocked": "blocked",
    "never-expiring-keys-blocked": "blocked",
    "long-term-key-use-blocked": "blocked",
    "bearer-token-use-blocked": "gap",
    "phantom-user-creation-blocked": "blocked",
    "phantom-pivot-blocked": "blocked",
}


def test_org_coverage_matrix_across_ous(org: OrgEnv) -> None:
    _protect(org)
    result = CliRunner().invoke(scp, ["coverage", "--org", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["metadata"]["scp_enabled"] is True
    matrix = _matrix(document)
    assert matrix["prod"] == BLOCKED_IN_PROD
    assert matrix["team"] == BLOCKED_IN_PROD  # Prod -> Team -> account
    assert set(matrix["shared"].values()) == {"blocked"}
    assert set(matrix["sandbox"].values()) == {"gap"}
    assert matrix["dev"]["never-expiring-keys-blocked"] == "gap"  # no Null guard
    assert matrix["dev"]["long-term-key-creation-blocked"] == "gap"
    assert set(matrix["master"].values()) == {"not-enforceable"}
    dev = org.accounts["dev"]
    gap = next(
        f
        for f in document["findings"]
        if f["account_id"] == dev and f["rule_id"] == "scp-gap-never-expiring-keys"
    )
    assert "bedrock: create key without an age: allowed" in gap["evidence"]["not_denied"]
    paths = {a["name"]: a["ou_path"] for a in document["accounts"]}
    assert paths["team"] == ["Prod", "Team"]
    assert paths["shared"] == []
    # CI use: fail on the high-severity gaps.
    failing = CliRunner().invoke(
        scp, ["coverage", "--org", "--format", "json", "--fail-on", "high"]
    )
    assert failing.exit_code == 1


def test_single_account_coverage_reads_its_path(org: OrgEnv) -> None:
    _protect(org)
    result = CliRunner().invoke(
        scp, ["coverage", "--account", org.accounts["team"], "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (account,) = json.loads(result.stdout)["accounts"]
    assert {g: r["state"] for g, r in account["goals"].items()} == BLOCKED_IN_PROD
    assert account["ou_path"] == ["Prod", "Team"]


def test_coverage_snapshot_replays_offline(org: OrgEnv, tmp_path) -> None:
    _protect(org)
    saved = tmp_path / "coverage.json"
    live = CliRunner().invoke(
        scp, ["coverage", "--org", "--format", "json", "--save-snapshot", str(saved)]
    )
    assert saved.stat().st_mode & 0o777 == 0o600
    replay = CliRunner().invoke(
        scp, ["coverage", "--from-snapshot", str(saved), "--format", "json"]
    )
    assert replay.exit_code == 0, replay.output
    assert json.loads(replay.stdout)["accounts"] == json.loads(live.stdout)["accounts"]


def test_org_wide_read_cost_grows_with_policies_not_accounts(org: OrgEnv) -> None:
    _protect(org)
    ctx = _ctx()
    from datetime import UTC, datetime

    snapshot = get_coverage_snapshot(ctx, org_wide=True, at=datetime.now(UTC))
    calls = ctx.counter.snapshot()["by_operation"]
    assert len(snapshot.accounts) == 6
    assert "organizations:ListPoliciesForTarget" not in calls
    assert "organizations:ListParents" not in calls
    policies = calls["organizations:DescribePolicy"]
    assert calls["organizations:ListTargetsForPolicy"] == policies


def test_unreadable_policy_makes_the_account_unknown_and_exits_3(org: OrgEnv) -> None:
    orgs = org.client("organizations")
    policy_id = orgs.create_policy(
        Name="broken", Description="x", Type="SERVICE_CONTROL_POLICY", Content="{not json"
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=policy_id, TargetId=org.ous["Sandbox"])
    orgs.enable_policy_type(RootId=org.root_id, PolicyType="SERVICE_CONTROL_POLICY")
    result = CliRunner().invoke(scp, ["coverage", "--org", "--format", "json"])
    assert result.exit_code == 3
    rows = {a["name"]: a for a in json.loads(result.stdout)["accounts"]}
    assert rows["sandbox"]["status"] == "error"
    assert set(r["state"] for r in rows["sandbox"]["goals"].values()) == {"unknown"}
    assert rows["dev"]["status"] == "ok"


# ----------------------------------------------------------------- alerts


def _alert_state(regions: list[str], given: dict[str, str] | None = None) -> tuple[Any, Any]:
    ctx = _ctx()
    rules = build_alert_rules(SURFACES)
    state = get_alerts_deploy_state(ctx, regions, [r.name for r in rules], topic_given=given)
    return ctx, plan_alerts_deploy(
        rules, state, topic_name="phantomkeys-alerts", topic_given=given or {}
    )


def test_alerts_deploy_puts_iam_rules_in_us_east_1_only_and_rerun_is_a_no_op(aws_env) -> None:
    regions = deployment_regions(["eu-west-1"], "aws")
    ctx, _ = _alert_state(regions)
    result = _deploy_alerts(ctx, regions)
    assert {s.status for s in result} == {StepStatus.APPLIED}
    session = boto3.session.Session()
    rules = build_alert_rules(SURFACES)
    for region in regions:
        events = session.client("events", region_name=region, endpoint_url=aws_env)
        names = {r["Name"] for r in events.list_rules(NamePrefix="phantomkeys-")["Rules"]}
        expected = {
            r.name for r in rules if region == "us-east-1" or r.scope is AlertScope.REGIONAL
        }
        assert names == expected, region
        for name in names:
            (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
            assert target["Arn"] == f"arn:aws:sns:{region}:123456789012:phantomkeys-alerts"
        sns = session.client("sns", region_name=region, endpoint_url=aws_env)
        policy = json.loads(
            sns.get_topic_attributes(
                TopicArn=f"arn:aws:sns:{region}:123456789012:phantomkeys-alerts"
            )["Attributes"]["Policy"]
        )
        assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    rerun_ctx, rerun = _alert_state(regions)
    assert {s.status for s in rerun} == {StepStatus.ALREADY_DONE}
    _deploy_alerts(rerun_ctx, regions)
    assert _writes(rerun_ctx) == {}


def test_alerts_deploy_with_a_given_topic_creates_no_topic(aws_env) -> None:
    sns = boto3.session.Session().client("sns", region_name=REGION, endpoint_url=aws_env)
    topic = sns.create_topic(Name="security-alerts")["TopicArn"]
    result = CliRunner().invoke(
        alerts,
        ["deploy", "--regions", "us-east-1", "--topic-arn", topic, "--yes", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert {s["action"] for s in steps} == {"put-rule", "put-targets"}
    events = boto3.session.Session().client("events", region_name=REGION, endpoint_url=aws_env)
    (target,) = events.list_targets_by_rule(Rule="phantomkeys-api-key-created")["Targets"]
    assert target["Arn"] == topic
    again = CliRunner().invoke(
        alerts,
        ["deploy", "--regions", "us-east-1", "--topic-arn", topic, "--yes", "--format", "json"],
    )
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"already-done"}


def test_alerts_deploy_rejects_a_missing_topic(aws_env) -> None:
    result = CliRunner().invoke(
        alerts,
        [
            "deploy",
            "--regions",
            "us-east-1",
            "--yes",
            "--topic-arn",
            "arn:aws:sns:us-east-1:123456789012:does-not-exist",
        ],
    )
    assert result.exit_code == 3
    assert "not found" in result.output


def test_scp_deploy_plan_kinds_cover_every_step() -> None:
    assert {k.value for k in StepKind} >= {"create-policy", "attach-policy", "put-rule"}


# ----------------------------------------------------------------- permissions


PERMISSIONS = Path(__file__).resolve().parents[2] / "permissions" / "prevention.json"
#: Calls with Tags= also need the service's TagResource permission.
IMPLIED = {
    "organizations:CreatePolicy": "organizations:TagResource",
    "events:PutRule": "events:TagResource",
    "sns:CreateTopic": "sns:TagResource",
}


@pytest.mark.skipif(not PERMISSIONS.exists(), reason="permissions/prevention.json not shipped")
def test_shipped_permissions_cover_every_call_the_commands_make(org: OrgEnv) -> None:
    from datetime import UTC, datetime

    ctx = _ctx()
    for options, targets in (
        (ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=30), [org.ous["Prod"]]),
        (ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=7), [org.ous["Prod"]]),
    ):
        policies = generate_policies(options)
        deploy_scp(ctx, policies, targets, base_name=options.base_name, store=_store())
    get_coverage_snapshot(ctx, org_wide=True, at=datetime.now(UTC))
    get_coverage_snapshot(
        ctx, org_wide=False, at=datetime.now(UTC), account_ids=[org.accounts["team"]]
    )
    _deploy_alerts(ctx, ["us-east-1"])
    called = set(ctx.counter.snapshot()["by_operation"]) - {"sts:GetCallerIdentity"}
    needed = called | {IMPLIED[c] for c in called if c in IMPLIED}
    granted = {
        a
        for st in json.loads(PERMISSIONS.read_text())["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {
        "organizations:UpdatePolicy",
        "organizations:ListTargetsForPolicy",
        "events:PutRule",
        "sns:SetTopicAttributes",
    } <= called
    assert needed - granted == set()
