"""AWS side of the preventive controls: read SCPs on account paths, deploy SCPs and alerts.

``get_*`` functions only read. Deploys write through the one plan mechanism
(``aws/apply.py``, steps from :mod:`phantomkeys.core.controls.plan`), driven by
:mod:`phantomkeys.aws.controls_apply`. A failed read is a
value (an account with ``error`` set), never an empty policy list: coverage of
an account we could not read is *unknown*, not "no protection".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import botocore.exceptions

from phantomkeys.aws.org import get_org_tree
from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext, error_code, error_message
from phantomkeys.core.controls.alerts import DEFAULT_TOPIC_NAME
from phantomkeys.core.controls.coverage import AccountScpPath, CoverageSnapshot
from phantomkeys.core.controls.deploy import (
    AlertDeployState,
    ExistingPolicy,
    ExistingRule,
    RegionAlertState,
    ScpDeployState,
)
from phantomkeys.core.controls.iac import SCP_TYPE
from phantomkeys.core.model import ManagedPolicy, ScpLevel

__all__ = [
    "CONTROLS_WRITE_ACTIONS",
    "ControlsAwsError",
    "get_alerts_deploy_state",
    "get_coverage_snapshot",
    "get_scp_deploy_state",
    "get_scp_levels",
    "resolve_references",
]


#: The writes of SCP and alert deploys and their restores (steps built by
#: core/controls/plan.py), and the boto3 method of each: part of the one allow-list,
#: ``aws/apply.py`` ``ALLOWED_ACTIONS``.
CONTROLS_WRITE_ACTIONS: dict[str, str] = {
    "organizations:EnablePolicyType": "enable_policy_type",
    "organizations:CreatePolicy": "create_policy",
    "organizations:UpdatePolicy": "update_policy",
    "organizations:AttachPolicy": "attach_policy",
    "organizations:DetachPolicy": "detach_policy",
    "organizations:DeletePolicy": "delete_policy",
    "sns:CreateTopic": "create_topic",
    "sns:SetTopicAttributes": "set_topic_attributes",
    "sns:DeleteTopic": "delete_topic",
    "events:PutRule": "put_rule",
    "events:PutTargets": "put_targets",
    "events:RemoveTargets": "remove_targets",
    "events:DeleteRule": "delete_rule",
}

#: Creating with ``Tags`` also needs the service's TagResource permission (the
#: deploy steps tag what they create ``phantomkeys:managed``).
TAG_ON_CREATE: dict[str, str] = {
    "organizations:CreatePolicy": "organizations:TagResource",
    "events:PutRule": "events:TagResource",
    "sns:CreateTopic": "sns:TagResource",
}


class ControlsAwsError(Exception):
    """A read the whole command depends on failed (shown as one line)."""

    def __init__(self, operation: str, exc: BaseException) -> None:
        self.operation = operation
        self.code = error_code(exc)
        super().__init__(f"{operation} failed: {self.code}: {error_message(exc)}")


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**kwargs):
        yield from page.get(key, [])


def _list(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return list(_pages(client, operation, key, **kwargs))


def _describe_policy(org: Any, policy_id: str) -> Any:
    return org.describe_policy(PolicyId=policy_id)["Policy"]


def _required(operation: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except LOOKUP_ERRORS as exc:
        raise ControlsAwsError(operation, exc) from exc


def _root(org: Any) -> dict[str, Any]:
    roots = _required("ListRoots", lambda: list(_pages(org, "list_roots", "Roots")))
    if not roots:
        raise ControlsAwsError("ListRoots", RuntimeError("the organization has no root"))
    return dict(roots[0])


def _scp_enabled(root: dict[str, Any]) -> bool:
    return any(
        t.get("Type") == SCP_TYPE and t.get("Status") == "ENABLED"
        for t in root.get("PolicyTypes", [])
    )


# ----------------------------------------------------------------- coverage


class _PolicyCache:
    def __init__(self, org: Any) -> None:
        self.org = org
        self.documents: dict[str, ManagedPolicy] = {}

    def get(self, summary: dict[str, Any]) -> ManagedPolicy:
        policy_id = summary["Id"]
        if policy_id not in self.documents:
            detail = self.org.describe_policy(PolicyId=policy_id)["Policy"]
            content = detail.get("Content")
            try:
                document = json.loads(content) if content else None
            except ValueError:
                document = None
            self.documents[policy_id] = ManagedPolicy(
                arn=summary.get("Arn") or policy_id,
                name=summary.get("Name") or policy_id,
                document=document,
                version_id=policy_id,
            )
        return self.documents[policy_id]


def get_scp_levels(ctx: AwsContext, account_id: str) -> tuple[ScpLevel, ...]:
    """The SCPs on ``account_id``'s path, root first, then each OU, then the account.

    Raises the AWS error (a lookup failure must not read as "no SCPs").
    """
    org = ctx.client("organizations")
    cache = _PolicyCache(org)
    chain: list[tuple[str, str]] = [(account_id, account_id)]
    child = account_id
    while True:
        parents = list(_pages(org, "list_parents", "Parents", ChildId=child))
        if not parents:
            break
        parent = parents[0]
        name = parent["Id"]
        if parent.get("Type") == "ORGANIZATIONAL_UNIT":
            name = org.describe_organizational_unit(OrganizationalUnitId=parent["Id"])[
                "OrganizationalUnit"
            ].get("Name", name)
        elif parent.get("Type") == "ROOT":
            name = "Root"
        chain.append((parent["Id"], name))
        if parent.get("Type") == "ROOT":
            break
        child = parent["Id"]
    levels = []
    for target_id, name in reversed(chain):
        summaries = _pages(
            org, "list_policies_for_target", "Policies", TargetId=target_id, Filter=SCP_TYPE
        )
        levels.append(
            ScpLevel(
                target_id=target_id,
                target_name=name,
                policies=tuple(cache.get(s) for s in summaries),
            )
        )
    return tuple(levels)


def get_coverage_snapshot(
    ctx: AwsContext, *, org_wide: bool, at: datetime, account_ids: Sequence[str] = ()
) -> CoverageSnapshot:
    """Read every account's SCP path (``org_wide``) or the caller's account only.

    Organization-wide, attachments are read per *policy* (``ListTargetsForPolicy``)
    rather than per account, so the cost grows with the number of SCPs and OUs,
    not with the number of accounts.
    """
    org = ctx.client("organizations")
    description = _required(
        "DescribeOrganization", lambda: org.describe_organization()["Organization"]
    )
    root = _root(org)
    enabled = _scp_enabled(root)
    meta = {
        "organization_id": description.get("Id", ""),
        "management_account_id": description.get("MasterAccountId", ""),
        "feature_set": description.get("FeatureSet", ""),
        "scp_enabled": enabled,
        "collected_at": at,
    }
    if not org_wide:
        targets = list(account_ids) or [
            _required(
                "GetCallerIdentity", lambda: ctx.client("sts").get_caller_identity()["Account"]
            )
        ]
        accounts = []
        for account_id in targets:
            try:
                levels = get_scp_levels(ctx, account_id)
                ou_path = tuple(lv.target_name for lv in levels[1:-1])
                accounts.append(
                    AccountScpPath(account_id=account_id, name="", levels=levels, ou_path=ou_path)
                )
            except LOOKUP_ERRORS as exc:
                accounts.append(
                    AccountScpPath(
                        account_id=account_id,
                        name="",
                        levels=None,
                        error=f"{error_code(exc)}: {error_message(exc)}",
                    )
                )
        return CoverageSnapshot(accounts=tuple(accounts), **meta)
    return CoverageSnapshot(accounts=tuple(_org_paths(ctx)), **meta)


def _org_paths(ctx: AwsContext) -> list[AccountScpPath]:
    """Every account's path from the OU tree walk, with the SCPs read once per policy."""
    tree = _required("walking the OU tree", partial(get_org_tree, ctx))
    org = ctx.client("organizations")
    cache = _PolicyCache(org)
    attached: dict[str, list[ManagedPolicy]] = {}
    policy_error: str | None = None
    try:
        for summary in _pages(org, "list_policies", "Policies", Filter=SCP_TYPE):
            policy = cache.get(summary)
            for target in _pages(org, "list_targets_for_policy", "Targets", PolicyId=summary["Id"]):
                attached.setdefault(target["TargetId"], []).append(policy)
    except LOOKUP_ERRORS as exc:
        policy_error = f"{error_code(exc)}: {error_message(exc)}"
    accounts: list[AccountScpPath] = []
    for account in tree.accounts:
        ou_path = tuple(account.path_names[1:])
        if policy_error is not None:  # unknown, not unprotected
            accounts.append(
                AccountScpPath(
                    account_id=account.account_id,
                    name=account.name,
                    levels=None,
                    ou_path=ou_path,
                    error=policy_error,
                )
            )
            continue
        nodes = [
            *zip(account.path, account.path_names, strict=True),
            (account.account_id, account.name),
        ]
        levels = tuple(
            ScpLevel(target_id=node, target_name=label, policies=tuple(attached.get(node, ())))
            for node, label in nodes
        )
        accounts.append(
            AccountScpPath(
                account_id=account.account_id, name=account.name, levels=levels, ou_path=ou_path
            )
        )
    return accounts


# ----------------------------------------------------------------- SCP deploy


def get_scp_deploy_state(
    ctx: AwsContext, names: Iterable[str], targets: Iterable[str]
) -> ScpDeployState:
    org = ctx.client("organizations")
    root = _root(org)
    wanted = set(names)
    policies: dict[str, ExistingPolicy] = {}
    all_names: set[str] = set()
    for summary in _required(
        "ListPolicies", lambda: list(_pages(org, "list_policies", "Policies", Filter=SCP_TYPE))
    ):
        all_names.add(summary.get("Name", ""))
        if summary.get("Name") in wanted:
            policy_id = summary["Id"]
            detail = _required("DescribePolicy", partial(_describe_policy, org, policy_id))
            policies[summary["Name"]] = ExistingPolicy(
                id=summary["Id"],
                name=summary["Name"],
                description=detail.get("PolicySummary", {}).get("Description") or "",
                content=detail.get("Content") or "",
            )
    attachments: dict[str, frozenset[str]] = {}
    for target in dict.fromkeys(targets):
        found = _required(
            f"ListPoliciesForTarget {target}",
            partial(
                _list, org, "list_policies_for_target", "Policies", TargetId=target, Filter=SCP_TYPE
            ),
        )
        attachments[target] = frozenset(p["Id"] for p in found)
    return ScpDeployState(
        root_id=root["Id"],
        scp_enabled=_scp_enabled(root),
        policies=policies,
        attachments=attachments,
        all_names=frozenset(all_names),
    )


def resolve_references(org: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A plan step's ``@PolicyName`` as the policy id AWS holds now (a fresh read).

    Steps name SCPs, never ids: a policy created by an earlier step of the same
    run has no id when the plan is built, and a backup edited by hand cannot aim
    a step at another policy. An unknown name raises ``PolicyNotFoundException``.
    """
    out = {k: v for k, v in params.items() if not k.startswith("@")}
    name = params.get("@PolicyName")
    if name is None:
        return out
    for summary in _pages(org, "list_policies", "Policies", Filter=SCP_TYPE):
        if summary.get("Name") == name:
            out["PolicyId"] = summary["Id"]
            return out
    raise botocore.exceptions.ClientError(
        {"Error": {"Code": "PolicyNotFoundException", "Message": f"no SCP named {name}"}},
        "ListPolicies",
    )


# ----------------------------------------------------------------- alerts


def get_alerts_deploy_state(
    ctx: AwsContext,
    regions: Sequence[str],
    rule_names: Iterable[str],
    *,
    topic_name: str = DEFAULT_TOPIC_NAME,
    topic_given: dict[str, str] | None = None,
) -> AlertDeployState:
    identity = _required("GetCallerIdentity", lambda: ctx.client("sts").get_caller_identity())
    account_id = identity["Account"]
    partition = identity["Arn"].split(":")[1]
    names = list(rule_names)
    out = []
    for region in regions:
        events = ctx.client("events", region)
        sns = ctx.client("sns", region)
        given = (topic_given or {}).get(region)
        topic_arn = given or f"arn:{partition}:sns:{region}:{account_id}:{topic_name}"
        exists, policy = _topic(sns, topic_arn)
        if given and not exists:
            raise ControlsAwsError(
                "GetTopicAttributes", RuntimeError(f"SNS topic {given} not found")
            )
        rules: dict[str, ExistingRule] = {}
        for name in names:
            try:
                rule = events.describe_rule(Name=name)
            except LOOKUP_ERRORS as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    continue
                raise ControlsAwsError(f"DescribeRule {name} ({region})", exc) from exc
            targets = _required(
                f"ListTargetsByRule {name}",
                partial(_list, events, "list_targets_by_rule", "Targets", Rule=name),
            )
            rules[name] = ExistingRule(
                name=name,
                pattern=rule.get("EventPattern"),
                state=rule.get("State"),
                description=rule.get("Description"),
                targets={t["Id"]: t["Arn"] for t in targets},
            )
        out.append(
            RegionAlertState(
                region=region,
                topic_arn=topic_arn if exists else None,
                topic_exists=exists,
                topic_policy=policy,
                rules=rules,
            )
        )
    return AlertDeployState(account_id=account_id, partition=partition, regions=out)


def _topic(sns: Any, topic_arn: str) -> tuple[bool, str | None]:
    try:
        attrs = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    except LOOKUP_ERRORS as exc:
        if error_code(exc) in ("NotFound", "NotFoundException", "NotFoundError"):
            return False, None
        raise ControlsAwsError(f"GetTopicAttributes {topic_arn}", exc) from exc
    return True, attrs.get("Policy")
