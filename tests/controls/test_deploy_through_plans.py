"""SCP and alert deploys go through the one plan mechanism (``aws/apply.py``).

Against the lab's Organization over HTTP, through the real CLI: a backup and a
journal are written before the first write, a fault mid-deploy is finished by
a rerun (resumed in the same backup, derived from a fresh read), ``restore
BACKUP`` puts the previous state back, every step passes the allow-list and
the state is re-checked before writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from click.testing import CliRunner, Result

from phantomkeys.aws.apply import ALLOWED_ACTIONS, ApplyError, BackupStore, RunStatus, validate_plan
from phantomkeys.aws.controls_apply import deploy_scp, read_scp_state, run_controls_plan
from phantomkeys.aws.session import AwsContext
from phantomkeys.cli import cli
from phantomkeys.core.controls.alerts import build_alert_rules
from phantomkeys.core.controls.plan import build_scp_deploy_plan
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.core.plans import Step
from phantomkeys.surfaces import SURFACES

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="org")]

REGION = "us-east-1"
SCP = "SERVICE_CONTROL_POLICY"
WRITES = ("Create", "Update", "Attach", "Detach", "Delete", "Put", "Remove", "Set", "Enable")


@pytest.fixture
def lab(phantomkeys_lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lab]:
    import phantomkeys.aws.session as session

    # A permanent fault should exhaust the retries at once, not after minutes.
    monkeypatch.setattr(session, "DEFAULT_RETRIES", {"mode": "standard", "max_attempts": 1})
    monkeypatch.chdir(tmp_path)
    phantomkeys_lab.set_faults(None)
    _clean_alerts(phantomkeys_lab)  # EventBridge and SNS are not part of the lab's snapshot
    phantomkeys_lab.reset_stats()
    yield phantomkeys_lab
    phantomkeys_lab.set_faults(None)
    _clean_alerts(phantomkeys_lab)


def _clean_alerts(lab: Lab) -> None:
    events = lab.client("events", region_name=REGION)
    for rule in events.list_rules()["Rules"]:
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        if ids:
            events.remove_targets(Rule=rule["Name"], Ids=ids)
        events.delete_rule(Name=rule["Name"])
    sns = lab.client("sns", region_name=REGION)
    for topic in sns.list_topics()["Topics"]:
        sns.delete_topic(TopicArn=topic["TopicArn"])


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _writes(lab: Lab) -> dict[str, int]:
    return {
        op: n
        for op, n in lab.stats()["by_operation"].items()
        if op.split(":", 1)[-1].startswith(WRITES)
    }


def _ous(lab: Lab) -> dict[str, str]:
    orgs = lab.client("organizations")
    root = orgs.list_roots()["Roots"][0]["Id"]
    found = orgs.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    return {ou["Name"]: ou["Id"] for ou in found}


def _policy(lab: Lab, name: str) -> dict[str, Any] | None:
    orgs = lab.client("organizations")
    for summary in orgs.list_policies(Filter=SCP)["Policies"]:
        if summary["Name"] == name:
            return dict(orgs.describe_policy(PolicyId=summary["Id"])["Policy"])
    return None


def _attached(lab: Lab, target: str) -> set[str]:
    orgs = lab.client("organizations")
    found = orgs.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"]
    return {p["Name"] for p in found}


def _ctx() -> AwsContext:
    return AwsContext(session=boto3.session.Session(region_name=REGION))


def _backups(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json"))


def _journal(backup: Path) -> list[dict[str, Any]]:
    path = backup.with_name(backup.name[: -len(".json")] + ".journal.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _deploy_args(target: str, *extra: str) -> list[str]:
    return [
        "scp",
        "deploy",
        "--preset",
        "block-all",
        "--target",
        target,
        "--yes",
        "--backup-dir",
        "bk",
        "--format",
        "json",
        *extra,
    ]


# ----------------------------------------------------------------- backup and journal


def test_scp_deploy_writes_backup_and_journal_before_the_first_write(lab: Lab) -> None:
    prod = _ous(lab)["Production"]
    lab.set_faults("organizations:CreatePolicy=denied")  # the first write fails ...
    failed = _run(*_deploy_args(prod))
    assert failed.exit_code == 4, failed.output
    (backup,) = _backups(Path("bk"))  # ... and the backup was already on disk
    saved = json.loads(backup.read_text())
    assert saved["operation"] == "deploy" and saved["subject_type"] == "scp"
    assert "phantomkeys-block-all" not in saved["controls"]["scp"]["policies"]
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    journal = _journal(backup)
    assert journal[0]["event"] == "started"
    assert journal[1]["outcome"] == "already-done"  # the lab's root has SCPs enabled
    assert journal[2]["event"] == "start"
    assert journal[2]["action"] == "organizations:CreatePolicy"
    assert journal[3]["outcome"] == "failed" and journal[3]["error_code"].startswith("AccessDenied")
    assert _policy(lab, "phantomkeys-block-all") is None


def test_backup_exists_when_the_first_step_is_called(lab: Lab, tmp_path: Path) -> None:
    """Order, seen from inside the run: before the first call, backup and journal exist."""
    seen: list[tuple[str, bool, list[Any]]] = []
    store = BackupStore(tmp_path / "bk")

    def hook(step: Step, phase: str) -> None:
        if phase == "before" and not seen:
            files = _backups(tmp_path / "bk")
            seen.append((step.action, len(files) == 1, _journal(files[0]) if files else []))

    options = ScpOptions(presets=(Preset.BLOCK_PIVOT,))
    run, _ = deploy_scp(
        _ctx(),
        generate_policies(options),
        [_ous(lab)["Production"]],
        base_name=options.base_name,
        store=store,
        hook=hook,
    )
    assert run is not None and run.status is RunStatus.DONE
    ((action, backup_written, journal),) = seen
    assert action == "organizations:CreatePolicy"
    assert backup_written
    assert journal[0]["event"] == "started"
    assert not [r for r in journal if r.get("event") == "start"]  # nothing called yet


# ----------------------------------------------------------------- faults and resume


def test_fault_mid_deploy_then_a_rerun_converges_in_the_same_backup(lab: Lab) -> None:
    ous = _ous(lab)
    targets = [ous["Production"], ous["Sandbox"]]
    args = _deploy_args(targets[0], "--target", targets[1])
    lab.set_faults("organizations:AttachPolicy=denied")
    first = _run(*args)
    assert first.exit_code == 4, first.output
    doc = json.loads(first.stdout)
    assert [s["status"] for s in doc["steps"]] == [
        "already-done",  # the lab's root has SCPs enabled
        "applied",
        "failed",
        "skipped",
    ]
    assert _policy(lab, "phantomkeys-block-all") is not None
    assert not any("phantomkeys-block-all" in _attached(lab, t) for t in targets)

    lab.set_faults(None)
    lab.reset_stats()
    second = _run(*args)
    assert second.exit_code == 0, second.output
    run = json.loads(second.stdout)["run"]
    assert run["resumed"] is True
    assert run["backup"] == doc["run"]["backup"]  # the same run, the same backup
    assert _writes(lab) == {"organizations:AttachPolicy": 2}  # no second CreatePolicy
    assert all("phantomkeys-block-all" in _attached(lab, t) for t in targets)
    (backup,) = _backups(Path("bk"))
    events = [r.get("event") for r in _journal(backup)]
    assert events.count("started") == 1 and events.count("resumed") == 1
    assert events[-1] == "finished"

    third = _run(*args)
    assert third.exit_code == 0
    assert {s["status"] for s in json.loads(third.stdout)["steps"]} == {"already-done"}


def test_interrupted_deploy_resumes_from_a_fresh_read(lab: Lab, tmp_path: Path) -> None:
    """Killed right after CreatePolicy answered, before its outcome was journaled: the
    rerun reads AWS again, sees the policy, and only attaches it."""
    options = ScpOptions(presets=(Preset.BLOCK_LONG_TERM,))
    policies = generate_policies(options)
    target = _ous(lab)["Production"]
    store = BackupStore(tmp_path / "bk")

    def killer(step: Step, phase: str) -> None:
        if step.action == "organizations:CreatePolicy" and phase == "called":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy_scp(
            _ctx(), policies, [target], base_name=options.base_name, store=store, hook=killer
        )
    assert _policy(lab, policies[0].name) is not None
    lab.reset_stats()
    run, _ = deploy_scp(_ctx(), policies, [target], base_name=options.base_name, store=store)
    assert run is not None and run.resumed and run.status is RunStatus.DONE
    assert _writes(lab) == {"organizations:AttachPolicy": 1}
    assert policies[0].name in _attached(lab, target)
    assert len(_backups(tmp_path / "bk")) == 1


def test_a_run_killed_after_its_last_write_is_closed_by_the_rerun(lab: Lab, tmp_path: Path) -> None:
    """Nothing is left to write, but the journal is unfinished: the rerun closes the run
    (no write call) instead of leaving it to be resumed by a later, different deploy."""
    options = ScpOptions(presets=(Preset.BLOCK_PIVOT,))
    policies = generate_policies(options)
    target = _ous(lab)["Sandbox"]
    store = BackupStore(tmp_path / "bk")

    def killer(step: Step, phase: str) -> None:
        if step.action == "organizations:AttachPolicy" and phase == "called":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy_scp(
            _ctx(), policies, [target], base_name=options.base_name, store=store, hook=killer
        )
    lab.reset_stats()
    run, _ = deploy_scp(_ctx(), policies, [target], base_name=options.base_name, store=store)
    assert run is not None and run.resumed and run.status is RunStatus.DONE
    assert _writes(lab) == {}
    (backup,) = _backups(tmp_path / "bk")
    assert _journal(backup)[-1]["event"] == "finished"
    again, _ = deploy_scp(_ctx(), policies, [target], base_name=options.base_name, store=store)
    assert again is None


# ----------------------------------------------------------------- restore


def test_restore_of_an_scp_deploy_puts_the_old_content_back_or_deletes_what_it_created(
    lab: Lab,
) -> None:
    dev = _ous(lab)["Sandbox"]
    base = ["scp", "deploy", "--preset", "max-age", "--name", "pk-age", "--target", dev]
    common = ["--yes", "--backup-dir", "bk", "--format", "json"]
    created = _run(*base, "--max-age-days", "30", *common)
    assert created.exit_code == 0, created.output
    create_backup = json.loads(created.stdout)["run"]["backup"]
    old = _policy(lab, "pk-age")
    assert old is not None and "pk-age" in _attached(lab, dev)

    updated = _run(*base, "--max-age-days", "7", *common)
    assert updated.exit_code == 0, updated.output
    update_backup = json.loads(updated.stdout)["run"]["backup"]
    now = _policy(lab, "pk-age")
    assert now is not None and now["Content"] != old["Content"]

    # restore the update: the old content comes back, the attachment stays
    undo_update = _run("restore", update_backup, "--yes", "--backup-dir", "bk")
    assert undo_update.exit_code == 0, undo_update.output
    back = _policy(lab, "pk-age")
    assert back is not None
    assert json.loads(back["Content"]) == json.loads(old["Content"])
    assert back["PolicySummary"]["Id"] == old["PolicySummary"]["Id"]
    assert "pk-age" in _attached(lab, dev)
    again = _run("restore", update_backup, "--yes", "--backup-dir", "bk")
    assert again.exit_code == 0 and "already as it was" in again.output

    # restore the first deploy: the policy it created is detached and deleted
    lab.reset_stats()
    undo_create = _run("restore", create_backup, "--yes", "--backup-dir", "bk", "--format", "json")
    assert undo_create.exit_code == 0, undo_create.output
    assert _writes(lab) == {"organizations:DetachPolicy": 1, "organizations:DeletePolicy": 1}
    assert _policy(lab, "pk-age") is None
    assert "pk-age" not in _attached(lab, dev)
    # the Organization's own SCP is untouched
    assert any(p["Name"] != "FullAWSAccess" for p in _list_scps(lab))


def _list_scps(lab: Lab) -> list[dict[str, Any]]:
    return list(lab.client("organizations").list_policies(Filter=SCP)["Policies"])


def test_restore_of_an_alerts_deploy_puts_the_previous_rule_back(lab: Lab) -> None:
    events = lab.client("events", region_name=REGION)
    rules = build_alert_rules(SURFACES)
    mine = rules[0].name
    events.put_rule(
        Name=mine,
        EventPattern=json.dumps({"source": ["aws.iam"]}),
        State="DISABLED",
        Description="hand-made",
    )
    events.put_targets(
        Rule=mine, Targets=[{"Id": "mine", "Arn": "arn:aws:sns:us-east-1:111111111111:ops"}]
    )
    deployed = _run(
        "alerts", "deploy", "--regions", REGION, "--yes", "--backup-dir", "bk", "--format", "json"
    )
    assert deployed.exit_code == 0, deployed.output
    backup = json.loads(deployed.stdout)["run"]["backup"]
    assert events.describe_rule(Name=mine)["State"] == "ENABLED"
    names = {r["Name"] for r in events.list_rules(NamePrefix="phantomkeys-")["Rules"]}
    assert len(names) > 1

    dry = _run("restore", backup, "--dry-run", "--backup-dir", "bk")
    assert dry.exit_code == 0 and "events:DeleteRule" in dry.output

    undone = _run("restore", backup, "--yes", "--backup-dir", "bk")
    assert undone.exit_code == 0, undone.output
    rule = events.describe_rule(Name=mine)
    assert (rule["State"], rule["Description"]) == ("DISABLED", "hand-made")
    assert json.loads(rule["EventPattern"]) == {"source": ["aws.iam"]}
    targets = events.list_targets_by_rule(Rule=mine)["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [
        ("mine", "arn:aws:sns:us-east-1:111111111111:ops")
    ]
    left = {r["Name"] for r in events.list_rules(NamePrefix="phantomkeys-")["Rules"]}
    assert left == {mine}  # the rules the deploy created are gone
    topics = lab.client("sns", region_name=REGION).list_topics()["Topics"]
    assert not [t for t in topics if t["TopicArn"].endswith(":phantomkeys-alerts")]


# ----------------------------------------------------------------- allow-list and re-check


def _scp_plan(lab: Lab) -> Any:
    options = ScpOptions(presets=(Preset.BLOCK_ALL,))
    policies = generate_policies(options)
    target = _ous(lab)["Production"]
    ctx = _ctx()

    def read() -> Any:
        return read_scp_state(
            ctx,
            account_id=lab.management_account_id,
            subject=options.base_name,
            names=[p.name for p in policies],
            targets=[target],
        )

    plan, _ = build_scp_deploy_plan(policies, [target], read(), at=datetime.now(UTC))
    return (
        ctx,
        plan,
        read,
        lambda fresh: build_scp_deploy_plan(policies, [target], fresh, at=datetime.now(UTC))[0],
    )


def test_every_controls_write_is_on_the_allow_list() -> None:
    for action in (
        "organizations:CreatePolicy",
        "organizations:UpdatePolicy",
        "organizations:AttachPolicy",
        "organizations:DetachPolicy",
        "organizations:DeletePolicy",
        "organizations:EnablePolicyType",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:DeleteRule",
        "sns:CreateTopic",
        "sns:SetTopicAttributes",
        "sns:DeleteTopic",
    ):
        assert action in ALLOWED_ACTIONS


def test_the_allow_list_refuses_a_step_outside_it(lab: Lab, tmp_path: Path) -> None:
    ctx, plan, read, rebuild = _scp_plan(lab)
    outside = Step("leave", "organizations:LeaveOrganization", {}, "leave the Organization")
    bad = replace(plan, steps=(*plan.steps, outside))
    with pytest.raises(ApplyError, match="not one phantomkeys makes"):
        validate_plan(bad)
    # also when it is smuggled in as another service's allowed action, or at another policy
    with pytest.raises(ApplyError, match="does not belong"):
        validate_plan(replace(plan, steps=(Step("x", "iam:DeleteUser", {"UserName": "a"}, ""),)))
    foreign = Step("x", "organizations:DeletePolicy", {"@PolicyName": "FullAWSAccess"}, "")
    with pytest.raises(ApplyError, match="not one this deploy manages"):
        validate_plan(replace(plan, steps=(foreign,)))
    by_id = Step("x", "organizations:DeletePolicy", {"PolicyId": "p-FullAWSAccess"}, "")
    with pytest.raises(ApplyError, match="@PolicyName"):
        validate_plan(replace(plan, steps=(by_id,)))
    lab.reset_stats()
    with pytest.raises(ApplyError):
        run_controls_plan(
            ctx,
            bad,
            read_state=read,
            rebuild=rebuild,
            store=BackupStore(tmp_path / "bk"),
            caller_arn=None,
            now=datetime.now(UTC),
        )
    assert _writes(lab) == {}
    assert not (tmp_path / "bk").exists()


def test_a_change_since_the_plan_stops_the_deploy_before_any_write(
    lab: Lab, tmp_path: Path
) -> None:
    ctx, plan, read, rebuild = _scp_plan(lab)
    orgs = lab.client("organizations")
    orgs.create_policy(
        Name="phantomkeys-block-all",
        Description="someone else's",
        Type=SCP,
        Content=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    lab.reset_stats()
    run = run_controls_plan(
        ctx,
        plan,
        read_state=read,
        rebuild=rebuild,
        store=BackupStore(tmp_path / "bk"),
        caller_arn=None,
        now=datetime.now(UTC),
    )
    assert run.status is RunStatus.DRIFT
    assert any("phantomkeys-block-all" in d for d in run.drift)
    assert run.fresh_plan is not None
    assert [s.action for s in run.fresh_plan.steps if s.action.endswith("Policy")][:1] == [
        "organizations:UpdatePolicy"
    ]
    assert _writes(lab) == {}


def test_restore_does_not_delete_a_created_scp_that_changed_since(lab: Lab) -> None:
    """Restore deletes what the deploy created only while it is as the deploy left it."""
    sandbox = _ous(lab)["Sandbox"]
    deployed = _run(*_deploy_args(sandbox))
    assert deployed.exit_code == 0, deployed.output
    backup = json.loads(deployed.stdout)["run"]["backup"]
    policy = _policy(lab, "phantomkeys-block-all")
    assert policy is not None
    edited = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
    }
    lab.client("organizations").update_policy(
        PolicyId=policy["PolicySummary"]["Id"], Content=json.dumps(edited)
    )
    undone = _run("restore", backup, "--yes", "--backup-dir", "bk")
    assert undone.exit_code == 0, undone.output
    assert "changed since the deploy created it: not deleted" in undone.output
    assert _policy(lab, "phantomkeys-block-all") is not None
    assert "phantomkeys-block-all" not in _attached(lab, sandbox)  # the attachment is undone


# ----------------------------------------------------------------- pure: state and checks


def test_controls_state_round_trips_and_reduces_to_facts() -> None:
    from phantomkeys.core.controls.deploy import (
        AlertDeployState,
        ExistingPolicy,
        ExistingRule,
        RegionAlertState,
        ScpDeployState,
    )
    from phantomkeys.core.controls.plan import ControlsState

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    scp = ControlsState(
        kind="scp",
        account_id="111111111111",
        name="pk",
        read_at=at,
        scp=ScpDeployState(
            root_id="r-abcd",
            scp_enabled=True,
            policies={"pk": ExistingPolicy("p-1", "pk", "d", '{"Version": "2012-10-17"}')},
            attachments={"ou-abcd-12345678": frozenset({"p-1", "p-other"})},
            all_names=frozenset({"pk", "other"}),
        ),
    )
    assert ControlsState.from_dict(json.loads(json.dumps(scp.to_dict()))) == scp
    facts = scp.facts()
    assert facts["scp-type:root"] == "enabled"
    assert facts["scp-attached:pk@ou-abcd-12345678"] == "attached"
    assert not [k for k in facts if "p-other" in k]  # only the deploy's own policies
    alerts = ControlsState(
        kind="alerts",
        account_id="111111111111",
        name="phantomkeys-alerts",
        read_at=at,
        alerts=AlertDeployState(
            account_id="111111111111",
            partition="aws",
            regions=[
                RegionAlertState(
                    region=REGION,
                    topic_arn="arn:aws:sns:us-east-1:111111111111:phantomkeys-alerts",
                    topic_exists=True,
                    topic_policy="{}",
                    rules={
                        "phantomkeys-x": ExistingRule("phantomkeys-x", "{}", "ENABLED", "d", {})
                    },
                )
            ],
        ),
    )
    assert ControlsState.from_dict(json.loads(json.dumps(alerts.to_dict()))) == alerts
    assert "rule:us-east-1:phantomkeys-x" in alerts.facts()


def test_a_damaged_deploy_backup_is_refused_in_one_line(lab: Lab) -> None:
    sandbox = _ous(lab)["Sandbox"]
    deployed = _run(*_deploy_args(sandbox))
    assert deployed.exit_code == 0, deployed.output
    path = Path(json.loads(deployed.stdout)["run"]["backup"])
    data = json.loads(path.read_text())
    del data["controls"]["scp"]["root_id"]
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["restore", str(path), "--yes", "--backup-dir", "bk"])
    # The edited file fails its integrity tag first: refused (exit 4), nothing undone.
    assert result.exit_code == 4, result.output
    assert "integrity tag does not match" in result.output
    # Trusted anyway, its damage is a one-line input error (exit 2).
    result = CliRunner().invoke(
        cli, ["restore", str(path), "--yes", "--backup-dir", "bk", "--allow-unverified"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "phantomkeys-block-all" in _attached(lab, sandbox)  # nothing was undone
