"""Which accounts the SCPs actually protect: goals evaluated on each account's path.

For every account, the SCPs attached at each level of its path (root, each
OU, the account) are evaluated with the same policy engine as ``scan``
(:mod:`phantomkeys.core.policy`). The identity policy is an allow-all: the
question is only what the SCPs stop. Each goal is a set of concrete requests
("probes") with an explicit request context; the goal holds when every probe
is denied.

Facts encoded here (docs/aws-facts.md "Controlling keys" and the AWS Organizations
guide):

* A key created without ``CredentialAgeDays`` carries **no** age key, and a
  numeric condition on a missing key is false, so the never-expiring probe has
  no age key at all. Whether the console's "never expires" omits the age or
  sends 36,600 is unconfirmed, so both are probed.
* SCPs never restrict the management account.
* If the SCP policy type is disabled on the root, no SCP applies anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from phantomkeys.core.controls.scp import (
    BEARER_TOKEN_TYPES,
    CREATE_CREDENTIAL,
    CREDENTIAL_AGE_KEY,
    CREDENTIAL_SERVICE_KEY,
    LONG_TERM,
    MAX_AGE_DAYS,
    MIN_AGE_DAYS,
    PIVOT_ACTIONS,
    POLICY_ARN_KEY,
    PRINCIPAL_ARN_KEY,
)
from phantomkeys.core.findings import Finding, Rule, Severity
from phantomkeys.core.model import ScpLevel
from phantomkeys.core.policy import (
    ActionCatalog,
    Decision,
    Policy,
    PolicyKind,
    PolicyParseError,
    Request,
    evaluate,
)
from phantomkeys.core.policy import Statement as PolicyStatement
from phantomkeys.core.timeparse import parse_iso
from phantomkeys.surfaces import Surface

COVERAGE_SNAPSHOT_FORMAT = "phantomkeys/scp-coverage-snapshot"
COVERAGE_SNAPSHOT_VERSION = 1
PROBE_PRINCIPAL = "phantomkeys-coverage-probe"
ALLOW_ALL: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


# ----------------------------------------------------------------- snapshot


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return parse_iso(value)


@dataclass(frozen=True, slots=True)
class AccountScpPath:
    account_id: str
    name: str
    #: SCP levels root first; None when they could not be read (see ``error``).
    levels: tuple[ScpLevel, ...] | None
    ou_path: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "ou_path": list(self.ou_path),
            "error": self.error,
            "levels": None if self.levels is None else [lv.to_dict() for lv in self.levels],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccountScpPath:
        levels = d.get("levels")
        return cls(
            account_id=d["account_id"],
            name=d.get("name", ""),
            ou_path=tuple(d.get("ou_path", ())),
            error=d.get("error"),
            levels=None if levels is None else tuple(ScpLevel.from_dict(x) for x in levels),
        )


@dataclass(frozen=True, slots=True)
class CoverageSnapshot:
    """Everything ``scp coverage`` read from AWS (save it, replay it offline)."""

    organization_id: str
    management_account_id: str
    scp_enabled: bool
    collected_at: datetime
    accounts: tuple[AccountScpPath, ...]
    feature_set: str = "ALL"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": COVERAGE_SNAPSHOT_FORMAT,
            "version": COVERAGE_SNAPSHOT_VERSION,
            "organization_id": self.organization_id,
            "management_account_id": self.management_account_id,
            "feature_set": self.feature_set,
            "scp_enabled": self.scp_enabled,
            "collected_at": _ts(self.collected_at),
            "accounts": [a.to_dict() for a in self.accounts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CoverageSnapshot:
        if d.get("format") != COVERAGE_SNAPSHOT_FORMAT:
            raise ValueError(f"not an SCP coverage snapshot (format {d.get('format')!r})")
        if d.get("version") != COVERAGE_SNAPSHOT_VERSION:
            raise ValueError(f"unsupported coverage snapshot version {d.get('version')!r}")
        collected = _parse_ts(d.get("collected_at"))
        if collected is None:
            raise ValueError("coverage snapshot has no collected_at time")
        return cls(
            organization_id=d.get("organization_id", ""),
            management_account_id=d.get("management_account_id", ""),
            feature_set=d.get("feature_set", "ALL"),
            scp_enabled=bool(d["scp_enabled"]),
            collected_at=collected,
            accounts=tuple(AccountScpPath.from_dict(a) for a in d.get("accounts", ())),
        )


# ----------------------------------------------------------------- goals


class Goal(StrEnum):
    LONG_TERM_KEY_CREATION = "long-term-key-creation-blocked"
    NEVER_EXPIRING_KEYS = "never-expiring-keys-blocked"
    LONG_TERM_KEY_USE = "long-term-key-use-blocked"
    BEARER_TOKEN_USE = "bearer-token-use-blocked"  # noqa: S105 - a goal name
    PHANTOM_USER_CREATION = "phantom-user-creation-blocked"
    PHANTOM_PIVOT = "phantom-pivot-blocked"


class GoalState(StrEnum):
    BLOCKED = "blocked"
    GAP = "gap"
    #: The engine could not decide (a condition on a key the probe does not set).
    CONDITIONAL = "conditional"
    #: SCPs cannot apply here (the management account).
    NOT_ENFORCEABLE = "not-enforceable"
    #: The SCPs on the path could not be read.
    UNKNOWN = "unknown"


def _gap_rule(
    goal: Goal, slug: str, title: str, severity: Severity, rationale: str, remediation: str
) -> Rule:
    return Rule(
        id=f"scp-gap-{slug}",
        title=title,
        severity=severity,
        rationale=rationale,
        remediation=remediation,
        tags=("scp", "coverage", goal.value),
        references=(
            "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-permissions.html",
        ),
    )


GOAL_RULES: dict[Goal, Rule] = {
    Goal.LONG_TERM_KEY_CREATION: _gap_rule(
        Goal.LONG_TERM_KEY_CREATION,
        "long-term-key-creation",
        "Long-term API keys can be created",
        Severity.HIGH,
        "No SCP on the account's path denies iam:CreateServiceSpecificCredential for the "
        "surface's service: anyone with IAM rights can mint a long-term key.",
        "Attach an SCP from `phantomkeys scp generate --preset block-long-term` (or block-all).",
    ),
    Goal.NEVER_EXPIRING_KEYS: _gap_rule(
        Goal.NEVER_EXPIRING_KEYS,
        "never-expiring-keys",
        "Never-expiring API keys can be created",
        Severity.HIGH,
        "A key created without an age never expires. A numeric age cap does not match a "
        "request that has no age, so only a Null-guarded Deny (or a full creation Deny) stops it.",
        "Attach `phantomkeys scp generate --preset max-age --max-age-days N` (it adds the "
        "Null guard), or block long-term keys.",
    ),
    Goal.LONG_TERM_KEY_USE: _gap_rule(
        Goal.LONG_TERM_KEY_USE,
        "long-term-key-use",
        "Long-term API keys can be used",
        Severity.HIGH,
        "Existing long-term keys keep working: no SCP denies the surface's bearer-token "
        "actions for LONG_TERM tokens on every endpoint (incl. bedrock-mantle).",
        "Attach `phantomkeys scp generate --preset block-long-term`.",
    ),
    Goal.BEARER_TOKEN_USE: _gap_rule(
        Goal.BEARER_TOKEN_USE,
        "bearer-token-use",
        "API keys (short- or long-term) can be used",
        Severity.LOW,
        "Some bearer-token use is allowed. Short-term keys may be intended; if not, deny "
        "every bearer-token action.",
        "Attach `phantomkeys scp generate --preset block-all` if no API keys should work.",
    ),
    Goal.PHANTOM_USER_CREATION: _gap_rule(
        Goal.PHANTOM_USER_CREATION,
        "phantom-user-creation",
        "Phantom users can be created",
        Severity.MEDIUM,
        "Users named like the console's API-key users, or users holding the key policy, can "
        "be created.",
        "Attach `phantomkeys scp generate --preset block-phantom-creation`.",
    ),
    Goal.PHANTOM_PIVOT: _gap_rule(
        Goal.PHANTOM_PIVOT,
        "phantom-pivot",
        "Phantom users can be turned into full identities",
        Severity.HIGH,
        "An access key, console password or MFA device can be added to a phantom user, "
        "turning a Bedrock-only key holder into a general IAM identity.",
        "Attach `phantomkeys scp generate --preset block-pivot`.",
    ),
}

GOAL_TITLES: dict[Goal, str] = {
    Goal.LONG_TERM_KEY_CREATION: "long-term key creation blocked",
    Goal.NEVER_EXPIRING_KEYS: "never-expiring keys blocked",
    Goal.LONG_TERM_KEY_USE: "long-term key use blocked",
    Goal.BEARER_TOKEN_USE: "bearer-token use blocked",
    Goal.PHANTOM_USER_CREATION: "phantom-user creation blocked",
    Goal.PHANTOM_PIVOT: "phantom pivot blocked",
}


#: The pivot the goal is about: an access key, a console password, an MFA device.
PIVOT_CORE: tuple[str, ...] = tuple(
    a
    for a in PIVOT_ACTIONS
    if a in ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:EnableMFADevice")
)


@dataclass(frozen=True, slots=True)
class Probe:
    """One request a goal requires to be denied."""

    label: str
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]]


def goal_probes(
    goal: Goal, surfaces: Sequence[Surface], account_id: str, partition: str
) -> list[Probe]:
    principal = f"arn:{partition}:iam::{account_id}:role/{PROBE_PRINCIPAL}"
    base = {PRINCIPAL_ARN_KEY: (principal,)}
    probes: list[Probe] = []
    for s in surfaces:
        phantom = f"arn:{partition}:iam::{account_id}:user/{s.phantom_user_prefix}pk01"
        svc = {CREDENTIAL_SERVICE_KEY: (s.credential_service,)}
        match goal:
            case Goal.LONG_TERM_KEY_CREATION:
                for days in (MIN_AGE_DAYS, MAX_AGE_DAYS):
                    probes.append(
                        Probe(
                            f"{s.id}: create key with {days}-day age",
                            CREATE_CREDENTIAL,
                            phantom,
                            {**base, **svc, CREDENTIAL_AGE_KEY: (str(days),)},
                        )
                    )
            case Goal.NEVER_EXPIRING_KEYS:
                # No age key at all: what a key created without CredentialAgeDays sends.
                probes.append(
                    Probe(
                        f"{s.id}: create key without an age",
                        CREATE_CREDENTIAL,
                        phantom,
                        {**base, **svc},
                    )
                )
                probes.append(
                    Probe(
                        f"{s.id}: create key with the {MAX_AGE_DAYS}-day age",
                        CREATE_CREDENTIAL,
                        phantom,
                        {**base, **svc, CREDENTIAL_AGE_KEY: (str(MAX_AGE_DAYS),)},
                    )
                )
            case Goal.LONG_TERM_KEY_USE | Goal.BEARER_TOKEN_USE:
                types = (LONG_TERM,) if goal is Goal.LONG_TERM_KEY_USE else BEARER_TOKEN_TYPES
                for action, type_key in zip(
                    s.bearer_token_actions, s.bearer_token_type_keys, strict=True
                ):
                    for token_type in types:
                        probes.append(
                            Probe(
                                f"{action} with a {token_type} key",
                                action,
                                "*",
                                {**base, type_key: (token_type,)},
                            )
                        )
            case Goal.PHANTOM_USER_CREATION:
                probes.append(
                    Probe(
                        f"{s.id}: create user {s.phantom_user_prefix}pk01",
                        "iam:CreateUser",
                        phantom,
                        dict(base),
                    )
                )
                for name, arn in zip(
                    s.managed_policy_names, s.managed_policy_arns(partition), strict=True
                ):
                    probes.append(
                        Probe(
                            f"{s.id}: attach {name} to a user",
                            "iam:AttachUserPolicy",
                            f"arn:{partition}:iam::{account_id}:user/renamed-key-user",
                            {**base, POLICY_ARN_KEY: (arn,)},
                        )
                    )
            case Goal.PHANTOM_PIVOT:
                for action in PIVOT_CORE:
                    probes.append(
                        Probe(f"{s.id}: {action} on a phantom user", action, phantom, dict(base))
                    )
    return probes


# ----------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class GoalResult:
    goal: Goal
    state: GoalState
    #: Policies (name, or "implicit deny at <level>") that make the goal hold.
    achieved_by: tuple[str, ...] = ()
    #: Probes that were not denied, with their decision.
    gaps: tuple[str, ...] = ()
    reason: str | None = None
    #: Principals the denying statements exempt (aws:PrincipalArn), e.g. break-glass roles.
    exempt_principals: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.state.value,
            "achieved_by": list(self.achieved_by),
            "gaps": list(self.gaps),
            "exempt_principals": list(self.exempt_principals),
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class AccountCoverage:
    account_id: str
    name: str
    ou_path: tuple[str, ...]
    status: str  # ok | error | management
    results: tuple[GoalResult, ...]
    error: str | None = None
    policies: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "ou_path": list(self.ou_path),
            "status": self.status,
            "error": self.error,
            "policies": list(self.policies),
            "goals": {r.goal.value: r.to_dict() for r in self.results},
        }


@dataclass(frozen=True, slots=True)
class CoverageReport:
    accounts: tuple[AccountCoverage, ...]
    findings: tuple[Finding, ...]
    goals: tuple[Goal, ...]

    @property
    def incomplete(self) -> bool:
        return any(a.status == "error" for a in self.accounts)


def _parse_levels(levels: Sequence[ScpLevel]) -> tuple[list[list[Policy]], str | None]:
    parsed: list[list[Policy]] = []
    for level in levels:
        row: list[Policy] = []
        for p in level.policies:
            if p.document is None:
                return [], f"SCP {p.name} on {level.target_id} could not be read"
            try:
                row.append(Policy.parse(p.document, name=p.name, kind=PolicyKind.SCP))
            except PolicyParseError as exc:
                return [], f"SCP {p.name} on {level.target_id} does not parse: {exc}"
        parsed.append(row)
    return parsed, None


_IDENTITY = (Policy.parse(ALLOW_ALL, name="allow-all", kind=PolicyKind.MANAGED),)


def evaluate_goal(
    goal: Goal,
    levels: Sequence[ScpLevel],
    scps: Sequence[Sequence[Policy]],
    surfaces: Sequence[Surface],
    account_id: str,
    partition: str,
    catalog: ActionCatalog | None = None,
) -> GoalResult:
    """Evaluate every probe of ``goal`` against the SCP levels (identity: allow-all)."""
    achieved: list[str] = []
    exempt: list[str] = []
    gaps: list[str] = []
    conditional = False
    statements = {(p.name, st.index): st for level in scps for p in level for st in p.statements}
    for probe in goal_probes(goal, surfaces, account_id, partition):
        request = Request(
            probe.action,
            resource=probe.resource,
            context={k: list(v) for k, v in probe.context.items()},
        )
        result = evaluate(
            request,
            identity=_IDENTITY,
            boundary=None,
            scps=[list(level) for level in scps],
            catalog=catalog,
        )
        match result.decision:
            case Decision.EXPLICIT_DENY:
                achieved.extend(ref.label for ref in result.denied_by)
                for ref in result.denied_by:
                    exempt.extend(_exemptions(statements.get((ref.policy, ref.index))))
            case Decision.IMPLICIT_DENY:
                achieved.extend(_implicit_levels(levels, result.missing_allow))
            case Decision.CONDITIONAL:
                conditional = True
                gaps.append(f"{probe.label}: conditional")
            case _:
                gaps.append(f"{probe.label}: allowed")
    unique = tuple(dict.fromkeys(a for a in achieved if a))
    if gaps:
        state = (
            GoalState.GAP
            if any(g.endswith(": allowed") for g in gaps) or not conditional
            else GoalState.CONDITIONAL
        )
        return GoalResult(goal, state, achieved_by=unique, gaps=tuple(gaps))
    return GoalResult(
        goal, GoalState.BLOCKED, achieved_by=unique, exempt_principals=tuple(dict.fromkeys(exempt))
    )


_EXEMPTING = ("arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals")


def _exemptions(statement: PolicyStatement | None) -> list[str]:
    """Principals a Deny leaves out through a negated ``aws:PrincipalArn`` condition."""
    if statement is None:
        return []
    return [
        value
        for cond in statement.conditions
        if cond.key.lower() == PRINCIPAL_ARN_KEY.lower()
        and cond.operator.lower().removesuffix("ifexists") in _EXEMPTING
        for value in cond.values
    ]


def _implicit_levels(levels: Sequence[ScpLevel], missing: Sequence[str]) -> list[str]:
    """``scp-level-2`` -> "no SCP allows it at <OU name>" (levels are 1-based, root first)."""
    out = []
    for layer in missing:
        if not layer.startswith("scp-level-"):
            continue
        try:
            level = levels[int(layer.rsplit("-", 1)[1]) - 1]
        except (ValueError, IndexError):
            out.append(f"no SCP allows it ({layer})")
            continue
        out.append(f"no SCP allows it at {level.target_name or level.target_id}")
    return out or ["implicit deny"]


def assess_coverage(
    snapshot: CoverageSnapshot,
    surfaces: Sequence[Surface],
    *,
    partition: str = "aws",
    goals: Iterable[Goal] = tuple(Goal),
    catalog: ActionCatalog | None = None,
) -> CoverageReport:
    """The accounts x goals matrix and a gap finding per goal that does not hold."""
    goal_list = tuple(goals)
    accounts: list[AccountCoverage] = []
    findings: list[Finding] = []
    for path in snapshot.accounts:
        policies = tuple(dict.fromkeys(p.name for lv in path.levels or () for p in lv.policies))
        if path.levels is None:
            accounts.append(
                AccountCoverage(
                    path.account_id,
                    path.name,
                    path.ou_path,
                    "error",
                    tuple(GoalResult(g, GoalState.UNKNOWN, reason=path.error) for g in goal_list),
                    error=path.error,
                )
            )
            continue
        if path.account_id == snapshot.management_account_id:
            reason = "SCPs do not apply to the management account"
            results = tuple(
                GoalResult(g, GoalState.NOT_ENFORCEABLE, reason=reason) for g in goal_list
            )
            accounts.append(
                AccountCoverage(
                    path.account_id,
                    path.name,
                    path.ou_path,
                    "management",
                    results,
                    policies=policies,
                )
            )
            findings.extend(_gap_finding(path, r) for r in results)
            continue
        if not snapshot.scp_enabled:
            reason = "the SERVICE_CONTROL_POLICY type is disabled on the root: no SCP applies"
            results = tuple(GoalResult(g, GoalState.GAP, reason=reason) for g in goal_list)
        else:
            parsed, error = _parse_levels(path.levels)
            if error is not None:
                accounts.append(
                    AccountCoverage(
                        path.account_id,
                        path.name,
                        path.ou_path,
                        "error",
                        tuple(GoalResult(g, GoalState.UNKNOWN, reason=error) for g in goal_list),
                        error=error,
                        policies=policies,
                    )
                )
                continue
            results = tuple(
                evaluate_goal(g, path.levels, parsed, surfaces, path.account_id, partition, catalog)
                for g in goal_list
            )
        accounts.append(
            AccountCoverage(
                path.account_id, path.name, path.ou_path, "ok", results, policies=policies
            )
        )
        findings.extend(
            _gap_finding(path, r)
            for r in results
            if r.state in (GoalState.GAP, GoalState.CONDITIONAL)
        )
    return CoverageReport(accounts=tuple(accounts), findings=tuple(findings), goals=goal_list)


def _gap_finding(path: AccountScpPath, result: GoalResult) -> Finding:
    rule = GOAL_RULES[result.goal]
    evidence: dict[str, Any] = {
        "goal": result.goal.value,
        "state": result.state.value,
        "account_name": path.name,
        "ou_path": list(path.ou_path),
    }
    if result.gaps:
        evidence["not_denied"] = list(result.gaps)
    if result.reason:
        evidence["reason"] = result.reason
    if result.achieved_by:
        evidence["partly_denied_by"] = list(result.achieved_by)
    management = result.state is GoalState.NOT_ENFORCEABLE
    return Finding.from_rule(
        rule,
        subject=f"account {path.account_id}" + (f" ({path.name})" if path.name else ""),
        account_id=path.account_id,
        evidence=evidence,
        identity=(result.goal.value,),
        # No SCP can close it: information for the reader, not a CI failure. Keep
        # workloads and key holders out of the management account instead.
        severity=Severity.INFO if management else None,
        title=f"{rule.title} (management account: SCPs never apply)" if management else None,
    )
