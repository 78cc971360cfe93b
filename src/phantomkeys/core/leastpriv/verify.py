"""Checks of a built policy with the scan's policy engine: every recorded call is
allowed and nothing destructive that was not recorded is; size and action validation."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from phantomkeys.core.findings import Finding, Location, Rule, Severity
from phantomkeys.core.leastpriv.build import (
    _CHANGING_LEVELS,
    DESTRUCTIVE_PROBES,
    GrantKind,
    LeastPrivilege,
)
from phantomkeys.core.leastpriv.catalog import (
    LeastPrivilegeCatalog,
)
from phantomkeys.core.policy import Decision, PolicyKind, Request, evaluate, parse_policy

#: IAM limit on the inline policies of one role, whitespace not counted
#: (IAM User Guide, "IAM and AWS STS quotas": role policy size 10,240 characters).
ROLE_INLINE_POLICY_MAX_CHARS = 10_240


# ------------------------------------------------------------------ checks


class CheckKind(StrEnum):
    RECORDED_ALLOWED = "recorded-call-allowed"
    UNRECORDED_DENIED = "unrecorded-destructive-denied"
    EXCLUDED_DENIED = "excluded-call-denied"
    OTHER_REGION_DENIED = "other-region-denied"


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    action: str
    resource: str
    region: str | None
    decision: Decision
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "action": self.action,
            "resource": self.resource,
            "region": self.region,
            "decision": self.decision.value,
            "ok": self.ok,
        }


def verify_policy(result: LeastPrivilege, catalog: LeastPrivilegeCatalog) -> tuple[Check, ...]:
    """Prove the policy with the scan's policy engine.

    * every recorded call (action, resource, region, profile) is ``allowed``;
    * every destructive probe (:data:`DESTRUCTIVE_PROBES`), every
      Write / Permissions-management / Tagging action of the services the
      principal used, and every IAM and STS action, not recorded, is
      ``implicit-deny`` even with an unknown request context;
    * excluded actions are denied;
    * a recorded call is denied from a region it was never used in.
    """
    policy = (
        parse_policy(result.policy, name=result.policy_name, kind=PolicyKind.INLINE)
        if not result.empty
        else None
    )
    identity = (policy,) if policy else ()
    checks: list[Check] = []
    seen: set[tuple[str, str, str, tuple[tuple[str, str], ...]]] = set()
    for g in result.grants:
        resource = g.resource
        if g.kind is GrantKind.VIA_PROFILE:
            resource = resource.replace(":bedrock:*::", f":bedrock:{g.region}::")
        key = (g.action, resource, g.region, g.context)
        if key in seen:
            continue
        seen.add(key)
        context = {"aws:RequestedRegion": [g.region], **{k: [v] for k, v in g.context}}
        decision = evaluate(
            Request(g.action, resource, context=context), identity=identity, catalog=catalog
        ).decision
        checks.append(
            Check(
                CheckKind.RECORDED_ALLOWED,
                g.action,
                resource,
                g.region,
                decision,
                decision is Decision.ALLOWED,
            )
        )
    recorded = result.recorded_actions
    excluded = set(result.excluded)
    probes: set[str] = set()
    for action in DESTRUCTIVE_PROBES:
        canonical = catalog.canonical_action(action)
        if canonical:
            probes.add(canonical)
    for prefix in {a.split(":", 1)[0] for a in recorded} | {"iam", "sts"}:
        for action in catalog.actions_of(prefix):
            level = catalog.access_level(action)
            if str(getattr(level, "value", level)) in _CHANGING_LEVELS or prefix in ("iam", "sts"):
                probes.add(action)
    for action in sorted(probes - recorded):
        decision = evaluate(Request(action), identity=identity, catalog=catalog).decision
        checks.append(
            Check(
                CheckKind.UNRECORDED_DENIED,
                action,
                "*",
                None,
                decision,
                decision is Decision.IMPLICIT_DENY,
            )
        )
    for action in sorted(excluded):
        decision = evaluate(Request(action), identity=identity, catalog=catalog).decision
        checks.append(
            Check(
                CheckKind.EXCLUDED_DENIED,
                action,
                "*",
                None,
                decision,
                decision is Decision.IMPLICIT_DENY,
            )
        )
    other = _unused_region(result.regions)
    if other:
        for g in result.grants:
            if g.kind is not GrantKind.REGIONAL or g.resource != "*":
                continue
            decision = evaluate(
                Request(g.action, "*", context={"aws:RequestedRegion": [other]}),
                identity=identity,
                catalog=catalog,
            ).decision
            checks.append(
                Check(
                    CheckKind.OTHER_REGION_DENIED,
                    g.action,
                    "*",
                    other,
                    decision,
                    not decision.allowed,
                )
            )
            break
    return tuple(checks)


def _unused_region(used: Sequence[str]) -> str | None:
    for candidate in ("ap-southeast-2", "sa-east-1", "eu-north-1", "us-west-1"):
        if candidate not in used:
            return candidate
    return None


# ------------------------------------------------------------------ validation

RULE_POLICY_TOO_LARGE = Rule(
    id="least-privilege-policy-too-large",
    title="Role policy exceeds IAM's inline size limit",
    severity=Severity.HIGH,
    rationale="IAM refuses inline role policies over 10,240 characters (whitespace excluded).",
    remediation="Narrow the window (--days), exclude actions, or split the policy into "
    "customer managed policies.",
    references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",),
    tags=("least-privilege", "validate"),
)
RULE_UNKNOWN_ACTION = Rule(
    id="least-privilege-unknown-action",
    title="Policy names an action the IAM catalog does not know",
    severity=Severity.HIGH,
    rationale="A misspelt action grants nothing; the workload would fail after the switch.",
    remediation="Report it: the event-to-action mapping needs a fix.",
    tags=("least-privilege", "validate"),
)

#: The SCP checker's rules that concern SCP size, not identity policies.
_SCP_ONLY_RULES = frozenset({"scp-too-large", "scp-not-minified"})


def validate_policy(
    result: LeastPrivilege, catalog: LeastPrivilegeCatalog, checker: Any | None = None
) -> list[Finding]:
    """Validate the generated policy: every action in the catalog, IAM's size limit, and
    ``scp validate``'s checker (grammar, condition keys and operators) when given.

    ``checker`` is ``(policy_text, path) -> list[Finding]``; the CLI passes
    :func:`phantomkeys.core.controls.validate.validate_policies` bound to the catalog.
    """
    path = f"{result.policy_name}.json"
    text = json.dumps(result.policy, indent=2)
    findings: list[Finding] = []
    for statement in result.policy.get("Statement", []):
        for action in statement.get("Action", []):
            if catalog.canonical_action(action) != action:
                findings.append(
                    Finding.from_rule(
                        RULE_UNKNOWN_ACTION,
                        subject=f"{path}#{statement.get('Sid')}",
                        account_id=result.account_id,
                        evidence={"action": action},
                        identity=(action,),
                        location=Location(path=path),
                    )
                )
    size = len(re.sub(r"\s+", "", json.dumps(result.policy, separators=(",", ":"))))
    if size > ROLE_INLINE_POLICY_MAX_CHARS:
        findings.append(
            Finding.from_rule(
                RULE_POLICY_TOO_LARGE,
                subject=path,
                account_id=result.account_id,
                evidence={"characters": size, "limit": ROLE_INLINE_POLICY_MAX_CHARS},
                location=Location(path=path),
            )
        )
    if checker is not None:
        findings.extend(f for f in checker(text, path) if f.rule_id not in _SCP_ONLY_RULES)
    return findings
