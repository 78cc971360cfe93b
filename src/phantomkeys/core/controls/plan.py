"""SCP and alert deploys as steps of the one plan model (:mod:`phantomkeys.core.plans`).

Pure. The deploy planners of :mod:`phantomkeys.core.controls.deploy` decide
*what* to change; this module turns their steps into :class:`~phantomkeys.core.plans.Step`
values (boto3 keyword arguments, the facts each step makes true), so a deploy
is applied like every other write by ``aws/apply.py``: allow-list, re-check,
backup before the first write, journal, resume, and ``phantomkeys restore``.

Two conventions make the steps safe to store in a backup:

* a policy is always named, never addressed by id: ``{"@PolicyName": NAME}`` is
  resolved to the policy id at run time from a fresh read (the id of a policy
  an earlier step created is not known when the plan is built), so a hand-edited
  backup cannot point a step at another policy;
* ``@Region`` says which regional client makes the call (alerts are per region).

Keys starting with ``@`` are never sent to AWS.

State facts (see :mod:`phantomkeys.core.plans` for how facts decide "already
done" and "changed since the plan"):

* ``scp-type:root`` = ``enabled`` when the SCP policy type is enabled;
* ``scp:NAME`` = hash of the policy's content and description;
* ``scp-attached:NAME@TARGET`` = ``attached``;
* ``topic:REGION:ARN`` = ``exists``; ``topic-policy:REGION:ARN`` = hash of its policy;
* ``rule:REGION:NAME`` = hash of pattern, state and description;
* ``rule-target:REGION:NAME:ID`` = the target's ARN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.controls.alerts import AlertRule
from phantomkeys.core.controls.deploy import (
    AlertDeployState,
    ExistingPolicy,
    ExistingRule,
    RegionAlertState,
    ScpDeployState,
    StepKind,
    StepStatus,
    plan_alerts_deploy,
    plan_scp_deploy,
)
from phantomkeys.core.controls.deploy import Step as DeployStep
from phantomkeys.core.controls.iac import MANAGED_TAG_KEY, MANAGED_TAG_VALUE, SCP_TYPE
from phantomkeys.core.controls.scp import GeneratedPolicy
from phantomkeys.core.model import LookupFailure
from phantomkeys.core.plans import (
    Backup,
    Operation,
    Outcome,
    Plan,
    PlanError,
    Step,
    document_sha,
    step_done,
)

#: ``Plan.subject_type`` of the plans this module builds (the backup's kind).
SCP_KIND = "scp"
ALERTS_KIND = "alerts"
CONTROLS_KINDS = (SCP_KIND, ALERTS_KIND)

_TAGS = [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}]
_SERVICES = {SCP_KIND: ("organizations",), ALERTS_KIND: ("events", "sns")}


def _load(value: str | Mapping[str, Any] | None) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def policy_sha(content: str, description: str) -> str:
    return document_sha({"content": _load(content), "description": description or ""})


def rule_sha(pattern: str | None, state: str | None, description: str | None) -> str:
    return document_sha(
        {"pattern": _load(pattern), "state": state or "", "description": description or ""}
    )


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ====================================================================== state


@dataclass(frozen=True, slots=True)
class ControlsState:
    """What a deploy depends on, read just before planning and again before writing."""

    kind: str  # scp | alerts
    account_id: str
    #: The plan's subject: the SCP base name, or the alert topic name.
    name: str
    read_at: datetime
    scp: ScpDeployState | None = None
    alerts: AlertDeployState | None = None
    failures: tuple[LookupFailure, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failures

    def facts(self) -> dict[str, str]:
        facts: dict[str, str] = {}
        if self.scp is not None:
            s = self.scp
            if s.scp_enabled:
                facts["scp-type:root"] = "enabled"
            names = {p.id: n for n, p in s.policies.items()}
            for name, policy in s.policies.items():
                facts[f"scp:{name}"] = policy_sha(policy.content, policy.description)
            for target, ids in s.attachments.items():
                for policy_id in ids:
                    if policy_id in names:
                        facts[f"scp-attached:{names[policy_id]}@{target}"] = "attached"
        if self.alerts is not None:
            for r in self.alerts.regions:
                if r.topic_exists and r.topic_arn:
                    facts[f"topic:{r.region}:{r.topic_arn}"] = "exists"
                    if r.topic_policy:
                        facts[f"topic-policy:{r.region}:{r.topic_arn}"] = document_sha(
                            _load(r.topic_policy)
                        )
                for name, rule in r.rules.items():
                    facts[f"rule:{r.region}:{name}"] = rule_sha(
                        rule.pattern, rule.state, rule.description
                    )
                    for target_id, arn in rule.targets.items():
                        facts[f"rule-target:{r.region}:{name}:{target_id}"] = arn
        return facts

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "account_id": self.account_id,
            "name": self.name,
            "read_at": _ts(self.read_at),
            "failures": [f.to_dict() for f in self.failures],
        }
        if self.scp is not None:
            s = self.scp
            out["scp"] = {
                "root_id": s.root_id,
                "scp_enabled": s.scp_enabled,
                "policies": {
                    n: {
                        "id": p.id,
                        "name": p.name,
                        "description": p.description,
                        "content": p.content,
                    }
                    for n, p in s.policies.items()
                },
                "attachments": {t: sorted(ids) for t, ids in s.attachments.items()},
                "all_names": sorted(s.all_names),
            }
        if self.alerts is not None:
            a = self.alerts
            out["alerts"] = {
                "account_id": a.account_id,
                "partition": a.partition,
                "regions": [
                    {
                        "region": r.region,
                        "topic_arn": r.topic_arn,
                        "topic_exists": r.topic_exists,
                        "topic_policy": r.topic_policy,
                        "rules": {
                            n: {
                                "pattern": x.pattern,
                                "state": x.state,
                                "description": x.description,
                                "targets": dict(x.targets),
                            }
                            for n, x in r.rules.items()
                        },
                    }
                    for r in a.regions
                ],
            }
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ControlsState:
        read_at = datetime.fromisoformat(str(d["read_at"]).replace("Z", "+00:00"))
        scp = None
        if d.get("scp"):
            s = d["scp"]
            scp = ScpDeployState(
                root_id=s["root_id"],
                scp_enabled=bool(s["scp_enabled"]),
                policies={
                    n: ExistingPolicy(
                        id=p["id"],
                        name=p["name"],
                        description=p["description"],
                        content=p["content"],
                    )
                    for n, p in s["policies"].items()
                },
                attachments={t: frozenset(ids) for t, ids in s["attachments"].items()},
                all_names=frozenset(s.get("all_names", ())),
            )
        alerts = None
        if d.get("alerts"):
            a = d["alerts"]
            alerts = AlertDeployState(
                account_id=a["account_id"],
                partition=a["partition"],
                regions=[
                    RegionAlertState(
                        region=r["region"],
                        topic_arn=r.get("topic_arn"),
                        topic_exists=bool(r.get("topic_exists")),
                        topic_policy=r.get("topic_policy"),
                        rules={
                            n: ExistingRule(
                                name=n,
                                pattern=x.get("pattern"),
                                state=x.get("state"),
                                description=x.get("description"),
                                targets=dict(x.get("targets", {})),
                            )
                            for n, x in r.get("rules", {}).items()
                        },
                    )
                    for r in a["regions"]
                ],
            )
        if d.get("kind") not in CONTROLS_KINDS:
            raise PlanError(f"unknown controls state kind {d.get('kind')!r}")
        return cls(
            kind=d["kind"],
            account_id=d["account_id"],
            name=d["name"],
            read_at=read_at,
            scp=scp,
            alerts=alerts,
            failures=tuple(LookupFailure.from_dict(f) for f in d.get("failures", ())),
        )


def backup_state(backup: Backup) -> ControlsState:
    """The state a controls backup saved before its first write."""
    if backup.controls is None or backup.plan.subject_type not in CONTROLS_KINDS:
        raise PlanError("not the backup of an SCP or alerts deploy")
    try:
        return ControlsState.from_dict(backup.controls)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(
            f"the backup's saved state is damaged ({type(exc).__name__}: {exc})"
        ) from None


# ====================================================================== deploy steps


def _attached_key(name: str, target: str) -> str:
    return f"scp-attached:{name}@{target}"


def _step_id(step: DeployStep) -> str:
    region = f"{step.region}:" if step.region else ""
    return f"{step.kind.value}:{region}{step.subject}"


def deploy_step(step: DeployStep) -> Step:
    """One step of a deploy planner as a plan step (what it calls, what it makes true)."""
    p = step.params
    sid = _step_id(step)
    region = {"@Region": step.region} if step.region else {}
    match step.kind:
        case StepKind.ENABLE_POLICY_TYPE:
            return Step(
                sid,
                "organizations:EnablePolicyType",
                {"RootId": p["root_id"], "PolicyType": SCP_TYPE},
                step.description,
                sets={"scp-type:root": "enabled"},
                done_errors=("PolicyTypeAlreadyEnabledException",),
                undo="not undone: disabling the SCP policy type detaches every SCP of the "
                "Organization",
            )
        case StepKind.CREATE_POLICY:
            return Step(
                sid,
                "organizations:CreatePolicy",
                {
                    "Name": p["name"],
                    "Description": p["description"],
                    "Content": p["content"],
                    "Type": SCP_TYPE,
                    "Tags": _TAGS,
                },
                step.description,
                sets={f"scp:{p['name']}": policy_sha(p["content"], p["description"])},
                undo="restore detaches and deletes the policy",
            )
        case StepKind.UPDATE_POLICY:
            return Step(
                sid,
                "organizations:UpdatePolicy",
                {
                    "@PolicyName": p["name"],
                    "Description": p["description"],
                    "Content": p["content"],
                },
                step.description,
                sets={f"scp:{p['name']}": policy_sha(p["content"], p["description"])},
                undo="restore puts the previous content back",
            )
        case StepKind.ATTACH_POLICY:
            return Step(
                sid,
                "organizations:AttachPolicy",
                {"@PolicyName": p["name"], "TargetId": p["target_id"]},
                step.description,
                sets={_attached_key(p["name"], p["target_id"]): "attached"},
                done_errors=("DuplicatePolicyAttachmentException",),
                undo="restore detaches the policy",
            )
        case StepKind.CREATE_TOPIC:
            return Step(
                sid,
                "sns:CreateTopic",
                {**region, "Name": p["name"], "Tags": _TAGS},
                step.description,
                sets={f"topic:{step.region}:{p['topic_arn']}": "exists"},
                undo="restore deletes the topic",
            )
        case StepKind.SET_TOPIC_POLICY:
            return Step(
                sid,
                "sns:SetTopicAttributes",
                {
                    **region,
                    "TopicArn": p["topic_arn"],
                    "AttributeName": "Policy",
                    "AttributeValue": p["policy"],
                },
                step.description,
                sets={
                    f"topic-policy:{step.region}:{p['topic_arn']}": document_sha(_load(p["policy"]))
                },
                undo="restore puts the previous topic policy back",
            )
        case StepKind.PUT_RULE:
            return Step(
                sid,
                "events:PutRule",
                {
                    **region,
                    "Name": p["name"],
                    "EventPattern": p["pattern"],
                    "State": "ENABLED",
                    "Description": p["description"],
                    "Tags": _TAGS,
                },
                step.description,
                sets={
                    f"rule:{step.region}:{p['name']}": rule_sha(
                        p["pattern"], "ENABLED", p["description"]
                    )
                },
                undo="restore puts the previous rule back, or deletes a rule it created",
            )
        case StepKind.PUT_TARGETS:
            return Step(
                sid,
                "events:PutTargets",
                {**region, "Rule": p["rule"], "Targets": [{"Id": p["target_id"], "Arn": p["arn"]}]},
                step.description,
                sets={f"rule-target:{step.region}:{p['rule']}:{p['target_id']}": p["arn"]},
                undo="restore puts the previous target back, or removes it",
            )
    raise PlanError(f"no plan step for {step.kind}")  # pragma: no cover - every kind above


def _deploy_plan(
    kind: str,
    state: ControlsState,
    steps: Sequence[DeployStep],
    intent: Mapping[str, Any],
    at: datetime,
) -> Plan:
    return Plan(
        operation=Operation.DEPLOY,
        account_id=state.account_id,
        subject=state.name,
        subject_type=kind,
        built_at=at,
        steps=tuple(deploy_step(s) for s in steps),
        baseline=state.facts(),
        intent=dict(intent),
    )


def scp_intent(desired: Sequence[GeneratedPolicy], targets: Sequence[str]) -> dict[str, Any]:
    return {
        "policies": {p.name: policy_sha(p.content, p.description) for p in desired},
        "targets": sorted(dict.fromkeys(targets)),
    }


def build_scp_deploy_plan(
    desired: Sequence[GeneratedPolicy],
    targets: Sequence[str],
    state: ControlsState,
    *,
    at: datetime,
) -> tuple[Plan, list[DeployStep]]:
    """The plan of an SCP deploy, and the planner's steps (for the table the CLI shows)."""
    if state.scp is None:
        raise PlanError("no SCP state")
    steps = plan_scp_deploy(desired, targets, state.scp)
    return _deploy_plan(SCP_KIND, state, steps, scp_intent(desired, targets), at), steps


def alerts_intent(
    rules: Sequence[AlertRule],
    regions: Sequence[str],
    *,
    topic_name: str,
    topic_given: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "rules": sorted({r.name for r in rules}),
        "regions": list(regions),
        "topic_name": topic_name,
        "topic_given": dict(sorted(topic_given.items())),
        "patterns": document_sha([(r.name, r.pattern, r.description) for r in rules]),
    }


def build_alerts_deploy_plan(
    rules: Sequence[AlertRule],
    state: ControlsState,
    *,
    topic_name: str,
    topic_given: Mapping[str, str],
    at: datetime,
) -> tuple[Plan, list[DeployStep]]:
    if state.alerts is None:
        raise PlanError("no alerts state")
    steps = plan_alerts_deploy(rules, state.alerts, topic_name=topic_name, topic_given=topic_given)
    regions = [r.region for r in state.alerts.regions]
    intent = alerts_intent(rules, regions, topic_name=topic_name, topic_given=topic_given)
    return _deploy_plan(ALERTS_KIND, state, steps, intent, at), steps


def with_outcomes(
    steps: Sequence[DeployStep], outcomes: Mapping[str, tuple[Outcome, str | None]]
) -> list[DeployStep]:
    """The planner's steps with the outcomes of a run (by step id), for display."""
    status = {
        Outcome.APPLIED: StepStatus.APPLIED,
        Outcome.ALREADY_DONE: StepStatus.ALREADY_DONE,
        Outcome.SKIPPED: StepStatus.SKIPPED,
        Outcome.FAILED: StepStatus.FAILED,
    }
    out = []
    for step in steps:
        found = outcomes.get(_step_id(step))
        out.append(step if found is None else step.done(status[found[0]], found[1]))
    return out


def pending_steps(plan: Plan, state: ControlsState) -> list[Step]:
    facts = state.facts()
    return [s for s in plan.steps if step_done(s, facts) is not True]


# ====================================================================== checks


def validate_controls_plan(plan: Plan) -> None:
    """Every step acts only on what the plan's intent names (raises PlanError).

    A backup edited by hand cannot make a controls plan touch another policy,
    rule or topic: SCPs are named (``@PolicyName``, never an id), and rule and
    topic names must be those the deploy manages.
    """
    kind = plan.subject_type
    services = _SERVICES.get(kind)
    if services is None:
        raise PlanError(f"not a controls plan ({kind})")
    intent = plan.intent
    restored = intent.get("restores_intent")
    scope = restored if isinstance(restored, Mapping) else intent
    for step in plan.steps:
        service, _, _ = step.action.partition(":")
        if service not in services:
            raise PlanError(f"step {step.id}: {step.action} does not belong to a {kind} plan")
        p = step.params
        if kind == SCP_KIND:
            names = set(scope.get("policies", {}))
            if "PolicyId" in p:
                raise PlanError(f"step {step.id}: SCPs are named by @PolicyName, not by id")
            name = p.get("@PolicyName", p.get("Name"))
            if step.action == "organizations:EnablePolicyType":
                if p.get("PolicyType") != SCP_TYPE:
                    raise PlanError(f"step {step.id}: only the SCP policy type is enabled")
                continue
            if name not in names:
                raise PlanError(f"step {step.id}: policy {name!r} is not one this deploy manages")
            if step.action == "organizations:CreatePolicy" and p.get("Type") != SCP_TYPE:
                raise PlanError(f"step {step.id}: only SCPs are created")
            if "TargetId" in p and p["TargetId"] not in scope.get("targets", ()):
                raise PlanError(f"step {step.id}: target {p['TargetId']} is not a deploy target")
        else:
            rules = set(scope.get("rules", ()))
            regions = set(scope.get("regions", ()))
            if p.get("@Region") not in regions:
                raise PlanError(f"step {step.id}: region {p.get('@Region')!r} is not deployed to")
            if service == "events":
                rule = p.get("Name", p.get("Rule"))
                if rule not in rules:
                    raise PlanError(f"step {step.id}: rule {rule!r} is not one phantomkeys deploys")
            else:
                topic = str(p.get("TopicArn") or p.get("Name") or "")
                ours = topic == scope.get("topic_name") or topic.endswith(
                    f":{plan.account_id}:{scope.get('topic_name')}"
                )
                if not ours:
                    raise PlanError(f"step {step.id}: topic {topic!r} is not the deploy's topic")
                if step.action == "sns:SetTopicAttributes" and p.get("AttributeName") != "Policy":
                    raise PlanError(f"step {step.id}: only the topic policy is set")


# ====================================================================== restore


def build_controls_restore_plan(backup: Backup, current: ControlsState, *, at: datetime) -> Plan:
    """Undo a deploy from the state its backup saved: put back what it changed,
    delete what it created. Inverses already in place are left out (idempotent)."""
    if backup.operation is not Operation.DEPLOY:
        raise PlanError(
            "this is the backup of a restore; restoring it is not supported (deploy again instead)"
        )
    before = backup_state(backup)
    if current.kind != before.kind or current.account_id != before.account_id:
        raise PlanError("backup and current state are of different deploys or accounts")
    facts = current.facts()
    steps: list[Step] = []
    lost: list[str] = []
    notes: list[str] = []
    if before.scp is not None and current.scp is not None:
        _restore_scp(backup, before.scp, current.scp, steps, lost)
    elif before.alerts is not None and current.alerts is not None:
        _restore_alerts(backup, before.alerts, current.alerts, steps, notes)
    else:
        raise PlanError("the backup holds no deploy state")
    kept = [s for s in steps if step_done(s, facts) is not True]
    return Plan(
        operation=Operation.RESTORE,
        account_id=before.account_id,
        subject=before.name,
        subject_type=before.kind,
        built_at=at,
        steps=tuple(kept),
        baseline=facts,
        intent={"restores": backup.run_id, "restores_intent": dict(backup.plan.intent)},
        notes=tuple(notes),
        not_restorable=tuple(lost),
    )


def _restore_scp(
    backup: Backup, s0: ScpDeployState, now: ScpDeployState, steps: list[Step], lost: list[str]
) -> None:
    names = list(backup.plan.intent.get("policies", {}))
    targets = list(backup.plan.intent.get("targets", ()))
    ids_now = {p.id: n for n, p in now.policies.items()}
    for name in names:
        old = s0.policies.get(name)
        if old is not None:
            steps.append(
                Step(
                    f"put-back-policy:{name}",
                    "organizations:UpdatePolicy",
                    {"@PolicyName": name, "Description": old.description, "Content": old.content},
                    f"put back the previous content of SCP {name} ({old.id})",
                    sets={f"scp:{name}": policy_sha(old.content, old.description)},
                )
            )
    for target in targets:
        attached0 = {n for n, p in s0.policies.items() if p.id in s0.attachments.get(target, ())}
        attached_now = {ids_now[i] for i in now.attachments.get(target, ()) if i in ids_now}
        for name in names:
            key = _attached_key(name, target)
            if name in attached0 and name not in attached_now and name in now.policies:
                steps.append(
                    Step(
                        f"attach-back:{name}@{target}",
                        "organizations:AttachPolicy",
                        {"@PolicyName": name, "TargetId": target},
                        f"attach {name} to {target} again",
                        sets={key: "attached"},
                        done_errors=("DuplicatePolicyAttachmentException",),
                    )
                )
            elif name not in attached0:
                steps.append(
                    Step(
                        f"detach:{name}@{target}",
                        "organizations:DetachPolicy",
                        {"@PolicyName": name, "TargetId": target},
                        f"detach {name} from {target} (the deploy attached it)",
                        removes=(key,),
                        done_errors=("PolicyNotAttachedException", "PolicyNotFoundException"),
                    )
                )
    deployed = dict(backup.plan.intent.get("policies", {}))
    for name in names:
        if name not in s0.policies:
            policy = now.policies.get(name)
            if policy is not None and policy_sha(
                policy.content, policy.description
            ) != deployed.get(name):
                lost.append(
                    f"SCP {name} changed since the deploy created it: not deleted (delete it "
                    "yourself if it is no longer wanted)"
                )
                continue
            steps.append(
                Step(
                    f"delete-policy:{name}",
                    "organizations:DeletePolicy",
                    {"@PolicyName": name},
                    f"delete SCP {name} (the deploy created it)",
                    removes=(f"scp:{name}",),
                    done_errors=("PolicyNotFoundException",),
                )
            )
    if not s0.scp_enabled and now.scp_enabled:
        lost.append(
            "the SCP policy type stays enabled on the root: disabling it detaches every SCP "
            "of the Organization (aws organizations disable-policy-type, if you mean it)"
        )


def _restore_alerts(
    backup: Backup,
    a0: AlertDeployState,
    now: AlertDeployState,
    steps: list[Step],
    notes: list[str],
) -> None:
    rule_names = list(backup.plan.intent.get("rules", ()))
    topic_name = str(backup.plan.intent.get("topic_name", ""))
    given = dict(backup.plan.intent.get("topic_given", {}))
    current = {r.region: r for r in now.regions}
    for r0 in a0.regions:
        region = r0.region
        rr = {"@Region": region}
        cur = current.get(region)
        if cur is None:
            continue
        for name in rule_names:
            old = r0.rules.get(name)
            new = cur.rules.get(name)
            if new is None and old is None:
                continue
            added = sorted(set(new.targets) - set(old.targets if old else ())) if new else []
            for target_id in added:
                steps.append(
                    Step(
                        f"remove-target:{region}:{name}:{target_id}",
                        "events:RemoveTargets",
                        {**rr, "Rule": name, "Ids": [target_id]},
                        f"remove target {target_id} from {name} ({region})",
                        removes=(f"rule-target:{region}:{name}:{target_id}",),
                        done_errors=("ResourceNotFoundException",),
                    )
                )
            if old is None:
                steps.append(
                    Step(
                        f"delete-rule:{region}:{name}",
                        "events:DeleteRule",
                        {**rr, "Name": name},
                        f"delete rule {name} ({region}; the deploy created it)",
                        removes=(f"rule:{region}:{name}",),
                        done_errors=("ResourceNotFoundException",),
                    )
                )
                continue
            put: dict[str, Any] = {**rr, "Name": name, "State": old.state or "ENABLED"}
            if old.pattern is not None:
                put["EventPattern"] = old.pattern
            if old.description is not None:
                put["Description"] = old.description
            steps.append(
                Step(
                    f"put-back-rule:{region}:{name}",
                    "events:PutRule",
                    put,
                    f"put back the previous rule {name} ({region})",
                    sets={
                        f"rule:{region}:{name}": rule_sha(old.pattern, old.state, old.description)
                    },
                )
            )
            for target_id, arn in sorted(old.targets.items()):
                if new is not None and new.targets.get(target_id) != arn:
                    steps.append(
                        Step(
                            f"put-back-target:{region}:{name}:{target_id}",
                            "events:PutTargets",
                            {**rr, "Rule": name, "Targets": [{"Id": target_id, "Arn": arn}]},
                            f"point {name} at {arn} again ({region})",
                            sets={f"rule-target:{region}:{name}:{target_id}": arn},
                        )
                    )
        if region in given:
            continue
        topic_arn = cur.topic_arn
        if topic_arn is None:
            continue
        if not r0.topic_exists:
            steps.append(
                Step(
                    f"delete-topic:{region}:{topic_name}",
                    "sns:DeleteTopic",
                    {**rr, "TopicArn": topic_arn},
                    f"delete SNS topic {topic_name} ({region}; the deploy created it)",
                    removes=(f"topic:{region}:{topic_arn}", f"topic-policy:{region}:{topic_arn}"),
                    done_errors=("NotFound", "NotFoundException"),
                )
            )
            notes.append(f"deleting topic {topic_arn} also drops its subscriptions")
        elif r0.topic_policy is not None:
            steps.append(
                Step(
                    f"put-back-topic-policy:{region}:{topic_name}",
                    "sns:SetTopicAttributes",
                    {
                        **rr,
                        "TopicArn": topic_arn,
                        "AttributeName": "Policy",
                        "AttributeValue": r0.topic_policy,
                    },
                    f"put back the previous policy of {topic_name} ({region})",
                    sets={
                        f"topic-policy:{region}:{topic_arn}": document_sha(_load(r0.topic_policy))
                    },
                )
            )
