"""Deploy plans for SCPs and alert rules: desired state vs. what AWS holds, as steps.

A plan is built by a pure function from the observed state, shown before it
runs, and contains only idempotent steps. A step that is already true is
``already-done`` from the start, so rerunning a deploy changes nothing and
makes no write call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from phantomkeys.core.controls.alerts import TARGET_ID, AlertRule, rules_for_region, topic_policy
from phantomkeys.core.controls.scp import SCP_MAX_PER_TARGET, GeneratedPolicy


class StepStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    ALREADY_DONE = "already-done"
    SKIPPED = "skipped"
    FAILED = "failed"


class StepKind(StrEnum):
    ENABLE_POLICY_TYPE = "enable-policy-type"
    CREATE_POLICY = "create-policy"
    UPDATE_POLICY = "update-policy"
    ATTACH_POLICY = "attach-policy"
    CREATE_TOPIC = "create-topic"
    SET_TOPIC_POLICY = "set-topic-policy"
    PUT_RULE = "put-rule"
    PUT_TARGETS = "put-targets"


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    #: What the step acts on: a policy name, "policy -> target", a rule or topic name.
    subject: str
    description: str
    region: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    status: StepStatus = StepStatus.PENDING
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.kind.value,
            "subject": self.subject,
            "description": self.description,
            "status": self.status.value,
        }
        if self.region:
            out["region"] = self.region
        if self.error:
            out["error"] = self.error
        return out

    def done(self, status: StepStatus, error: str | None = None) -> Step:
        return replace(self, status=status, error=error)


def pending(steps: Sequence[Step]) -> list[Step]:
    return [s for s in steps if s.status is StepStatus.PENDING]


def same_json(a: str | Mapping[str, Any] | None, b: str | Mapping[str, Any] | None) -> bool:
    """Equal as JSON values (whitespace and key order do not matter)."""

    def load(value: str | Mapping[str, Any] | None) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    return bool(load(a) == load(b))


# ----------------------------------------------------------------- SCPs

ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")


class TargetKind(StrEnum):
    ROOT = "root"
    OU = "ou"
    ACCOUNT = "account"


def target_kind(target_id: str) -> TargetKind | None:
    if ROOT_ID.match(target_id):
        return TargetKind.ROOT
    if OU_ID.match(target_id):
        return TargetKind.OU
    if ACCOUNT_ID.match(target_id):
        return TargetKind.ACCOUNT
    return None


@dataclass(frozen=True, slots=True)
class ExistingPolicy:
    id: str
    name: str
    description: str
    content: str


@dataclass(frozen=True, slots=True)
class ScpDeployState:
    """What the Organization holds, read before planning."""

    root_id: str
    scp_enabled: bool
    #: Existing SCPs with the names we deploy (name -> policy).
    policies: Mapping[str, ExistingPolicy]
    #: Target id -> ids of the SCPs attached to it.
    attachments: Mapping[str, frozenset[str]]
    #: Names of every SCP in the Organization.
    all_names: frozenset[str] = frozenset()


def stale_parts(
    base_name: str, desired: Sequence[GeneratedPolicy], state: ScpDeployState
) -> list[str]:
    """Policies an earlier deploy of ``base_name`` created that this one does not.

    A policy that once needed ``-part1..3`` and now fits in one leaves the old
    parts behind; they are reported, never deleted behind the user's back.
    """
    wanted = {p.name for p in desired}
    pattern = re.compile(re.escape(base_name) + r"(-part\d+)?")
    return sorted(n for n in state.all_names if pattern.fullmatch(n) and n not in wanted)


def plan_scp_deploy(
    desired: Sequence[GeneratedPolicy], targets: Sequence[str], state: ScpDeployState
) -> list[Step]:
    steps: list[Step] = []
    steps.append(
        Step(
            StepKind.ENABLE_POLICY_TYPE,
            state.root_id,
            "enable the SERVICE_CONTROL_POLICY policy type on the root",
            params={"root_id": state.root_id},
            status=StepStatus.ALREADY_DONE if state.scp_enabled else StepStatus.PENDING,
        )
    )
    for policy in desired:
        existing = state.policies.get(policy.name)
        params = {"name": policy.name, "description": policy.description, "content": policy.content}
        if existing is None:
            steps.append(
                Step(
                    StepKind.CREATE_POLICY,
                    policy.name,
                    f"create SCP {policy.name} ({policy.size} characters)",
                    params=params,
                )
            )
        elif (
            same_json(existing.content, policy.content)
            and existing.description == policy.description
        ):
            steps.append(
                Step(
                    StepKind.UPDATE_POLICY,
                    policy.name,
                    f"SCP {policy.name} ({existing.id}) is up to date",
                    params={**params, "policy_id": existing.id},
                    status=StepStatus.ALREADY_DONE,
                )
            )
        else:
            steps.append(
                Step(
                    StepKind.UPDATE_POLICY,
                    policy.name,
                    f"update SCP {policy.name} ({existing.id}) to the generated content",
                    params={**params, "policy_id": existing.id},
                )
            )
    for target in targets:
        attached = state.attachments.get(target, frozenset())
        for policy in desired:
            existing = state.policies.get(policy.name)
            done = existing is not None and existing.id in attached
            steps.append(
                Step(
                    StepKind.ATTACH_POLICY,
                    f"{policy.name} -> {target}",
                    f"attach {policy.name} to {target_kind(target) or 'target'} {target}",
                    params={
                        "name": policy.name,
                        "target_id": target,
                        "policy_id": existing.id if existing else None,
                    },
                    status=StepStatus.ALREADY_DONE if done else StepStatus.PENDING,
                )
            )
    return steps


def attachment_overflow(
    desired: Sequence[GeneratedPolicy], targets: Sequence[str], state: ScpDeployState
) -> dict[str, int]:
    """Targets that would exceed AWS's 5-SCPs-per-target limit (target -> count after)."""
    ours = {state.policies[p.name].id for p in desired if p.name in state.policies}
    out: dict[str, int] = {}
    for target in targets:
        attached = set(state.attachments.get(target, frozenset()))
        new = sum(1 for p in desired if p.name not in state.policies) + len(ours - attached)
        if len(attached) + new > SCP_MAX_PER_TARGET:
            out[target] = len(attached) + new
    return out


# ----------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class ExistingRule:
    name: str
    pattern: str | None
    state: str | None
    description: str | None
    #: Target id -> ARN.
    targets: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RegionAlertState:
    region: str
    #: The topic the rules publish to: the given one, or ours if it already exists.
    topic_arn: str | None
    topic_exists: bool
    topic_policy: str | None
    rules: Mapping[str, ExistingRule]


@dataclass(frozen=True, slots=True)
class AlertDeployState:
    account_id: str
    partition: str
    regions: Sequence[RegionAlertState]


def plan_alerts_deploy(
    rules: Sequence[AlertRule],
    state: AlertDeployState,
    *,
    topic_name: str,
    topic_given: Mapping[str, str],
) -> list[Step]:
    steps: list[Step] = []
    for region_state in state.regions:
        region = region_state.region
        given = topic_given.get(region)
        topic_arn = given or (f"arn:{state.partition}:sns:{region}:{state.account_id}:{topic_name}")
        if given is None:
            steps.append(
                Step(
                    StepKind.CREATE_TOPIC,
                    topic_name,
                    f"create SNS topic {topic_name}",
                    region=region,
                    params={"name": topic_name, "topic_arn": topic_arn},
                    status=StepStatus.ALREADY_DONE
                    if region_state.topic_exists
                    else StepStatus.PENDING,
                )
            )
            desired_policy = topic_policy(topic_arn, state.account_id)
            ok = same_json(region_state.topic_policy, desired_policy)
            steps.append(
                Step(
                    StepKind.SET_TOPIC_POLICY,
                    topic_name,
                    f"let EventBridge publish to {topic_name}",
                    region=region,
                    params={"topic_arn": topic_arn, "policy": json.dumps(desired_policy)},
                    status=StepStatus.ALREADY_DONE if ok else StepStatus.PENDING,
                )
            )
        for rule in rules_for_region(rules, region, state.partition):
            existing = region_state.rules.get(rule.name)
            same = (
                existing is not None
                and same_json(existing.pattern, rule.pattern)
                and existing.state == "ENABLED"
                and existing.description == rule.description
            )
            steps.append(
                Step(
                    StepKind.PUT_RULE,
                    rule.name,
                    f"EventBridge rule {rule.name}",
                    region=region,
                    params={
                        "name": rule.name,
                        "pattern": json.dumps(rule.pattern),
                        "description": rule.description,
                    },
                    status=StepStatus.ALREADY_DONE if same else StepStatus.PENDING,
                )
            )
            targeted = existing is not None and existing.targets.get(TARGET_ID) == topic_arn
            steps.append(
                Step(
                    StepKind.PUT_TARGETS,
                    rule.name,
                    f"{rule.name} -> {topic_arn}",
                    region=region,
                    params={"rule": rule.name, "target_id": TARGET_ID, "arn": topic_arn},
                    status=StepStatus.ALREADY_DONE if targeted else StepStatus.PENDING,
                )
            )
    return steps
