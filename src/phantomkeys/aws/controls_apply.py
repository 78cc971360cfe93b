"""SCP and alert deploys (and their restores) through the one plan mechanism.

Reads the deploy state as a :class:`~phantomkeys.core.controls.plan.ControlsState`
and hands the plan to :func:`phantomkeys.aws.apply.apply_plan`, which re-checks,
backs up, journals and applies it like every IAM plan (docs/architecture.md,
"Writes").

Resuming an interrupted deploy never replays the steps saved in its backup:
the plan is always derived again from a fresh read, and only the run's files
(backup and journal) are carried on, so the backup still holds the state from
before the first write and ``restore`` undoes the whole deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from phantomkeys.aws.apply import (
    REFERENCE_RESOLVERS,
    BackupStore,
    RunReport,
    StepHook,
    apply_plan,
)
from phantomkeys.aws.organizations_controls import (
    ControlsAwsError,
    get_alerts_deploy_state,
    get_scp_deploy_state,
    resolve_references,
)
from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext
from phantomkeys.core.controls.alerts import DEFAULT_TOPIC_NAME, AlertRule
from phantomkeys.core.controls.deploy import Step as DeployStep
from phantomkeys.core.controls.deploy import pending
from phantomkeys.core.controls.plan import (
    ALERTS_KIND,
    SCP_KIND,
    ControlsState,
    build_alerts_deploy_plan,
    build_scp_deploy_plan,
    with_outcomes,
)
from phantomkeys.core.controls.scp import GeneratedPolicy
from phantomkeys.core.plans import Backup, Plan, PlanError, Step

__all__ = [
    "caller",
    "deploy_alerts",
    "deploy_scp",
    "read_alerts_state",
    "read_scp_state",
    "restore_reader",
    "run_controls_plan",
    "unfinished_run",
]


# SCP steps name their policy (@PolicyName); the id is read when the step runs.
REFERENCE_RESOLVERS.setdefault("organizations", resolve_references)


def _now() -> datetime:
    return datetime.now(UTC)


def caller(ctx: AwsContext) -> tuple[str, str]:
    """(account id, caller ARN) of the credentials in use."""
    try:
        identity = ctx.client("sts").get_caller_identity()
    except LOOKUP_ERRORS as exc:
        raise ControlsAwsError("GetCallerIdentity", exc) from exc
    return str(identity["Account"]), str(identity["Arn"])


def read_scp_state(
    ctx: AwsContext, *, account_id: str, subject: str, names: Iterable[str], targets: Iterable[str]
) -> ControlsState:
    state = get_scp_deploy_state(ctx, list(names), list(targets))
    return ControlsState(
        kind=SCP_KIND, account_id=account_id, name=subject, read_at=_now(), scp=state
    )


def read_alerts_state(
    ctx: AwsContext,
    *,
    subject: str,
    regions: Sequence[str],
    rule_names: Iterable[str],
    topic_name: str,
    topic_given: Mapping[str, str],
) -> ControlsState:
    state = get_alerts_deploy_state(
        ctx, regions, list(rule_names), topic_name=topic_name, topic_given=dict(topic_given)
    )
    return ControlsState(
        kind=ALERTS_KIND, account_id=state.account_id, name=subject, read_at=_now(), alerts=state
    )


def restore_reader(ctx: AwsContext, backup: Backup) -> Callable[[], ControlsState]:
    """Reads what the deploy in ``backup`` touched, as it is now."""
    plan = backup.plan
    intent = plan.intent
    if plan.subject_type == SCP_KIND:
        return lambda: read_scp_state(
            ctx,
            account_id=plan.account_id,
            subject=plan.subject,
            names=list(intent.get("policies", {})),
            targets=list(intent.get("targets", ())),
        )
    if plan.subject_type == ALERTS_KIND:
        return lambda: read_alerts_state(
            ctx,
            subject=plan.subject,
            regions=list(intent.get("regions", ())),
            rule_names=list(intent.get("rules", ())),
            topic_name=str(intent.get("topic_name", "")),
            topic_given=dict(intent.get("topic_given", {})),
        )
    raise PlanError(f"not the backup of an SCP or alerts deploy ({plan.subject_type})")


def _noop(_step: Step, _phase: str) -> None:
    return None


def run_controls_plan(
    ctx: AwsContext,
    plan: Plan,
    *,
    read_state: Callable[[], ControlsState],
    rebuild: Callable[[ControlsState], Plan],
    store: BackupStore,
    caller_arn: str | None,
    now: datetime,
    restores: str | None = None,
    hook: StepHook = _noop,
) -> RunReport:
    """Apply ``plan`` (built from a fresh read); continue an unfinished run of the same
    intent in its own backup and journal when there is one."""
    found = store.pending(
        operation=plan.operation.value,
        account_id=plan.account_id,
        subject=plan.subject,
        intent_key=plan.intent_key,
    )
    resume = None
    if found:
        earlier = found[0]
        # Re-derived, not replayed: the fresh plan runs; the earlier files are kept.
        resume = replace(earlier, backup=replace(earlier.backup, plan=plan))
    return apply_plan(
        ctx,
        plan,
        read_state=read_state,
        rebuild=rebuild,
        store=store,
        caller_arn=caller_arn,
        now=now,
        resume=resume,
        hook=hook,
        restores=restores,
    )


def _outcomes(run: RunReport, steps: Sequence[DeployStep]) -> list[DeployStep]:
    return with_outcomes(
        steps, {r.step.id: (r.outcome, r.message or r.error_code) for r in run.results}
    )


def unfinished_run(store: BackupStore, plan: Plan) -> bool:
    """An earlier run of this intent did not finish (a rerun closes it, even with nothing
    left to write)."""
    return bool(
        store.pending(
            operation=plan.operation.value,
            account_id=plan.account_id,
            subject=plan.subject,
            intent_key=plan.intent_key,
        )
    )


def deploy_scp(
    ctx: AwsContext,
    policies: Sequence[GeneratedPolicy],
    targets: Sequence[str],
    *,
    base_name: str,
    store: BackupStore,
    hook: StepHook = _noop,
) -> tuple[RunReport | None, list[DeployStep]]:
    """Plan and apply an SCP deploy without asking (the library form of ``scp deploy --yes``,
    without its safety rails). ``None`` run: nothing to do and nothing to finish."""
    account_id, caller_arn = caller(ctx)

    def read() -> ControlsState:
        return read_scp_state(
            ctx,
            account_id=account_id,
            subject=base_name,
            names=[p.name for p in policies],
            targets=targets,
        )

    def rebuild(fresh: ControlsState) -> Plan:
        return build_scp_deploy_plan(policies, targets, fresh, at=_now())[0]

    plan, steps = build_scp_deploy_plan(policies, targets, read(), at=_now())
    if not pending(steps) and not unfinished_run(store, plan):
        return None, steps
    run = run_controls_plan(
        ctx,
        plan,
        read_state=read,
        rebuild=rebuild,
        store=store,
        caller_arn=caller_arn,
        now=_now(),
        hook=hook,
    )
    return run, _outcomes(run, steps)


def deploy_alerts(
    ctx: AwsContext,
    rules: Sequence[AlertRule],
    regions: Sequence[str],
    *,
    store: BackupStore,
    topic_name: str = DEFAULT_TOPIC_NAME,
    topic_given: Mapping[str, str] | None = None,
    hook: StepHook = _noop,
) -> tuple[RunReport | None, list[DeployStep]]:
    """Plan and apply an alerts deploy without asking (``alerts deploy --yes``)."""
    given = dict(topic_given or {})
    _, caller_arn = caller(ctx)

    def read() -> ControlsState:
        return read_alerts_state(
            ctx,
            subject=topic_name,
            regions=regions,
            rule_names=[r.name for r in rules],
            topic_name=topic_name,
            topic_given=given,
        )

    def rebuild(fresh: ControlsState) -> Plan:
        return build_alerts_deploy_plan(
            rules, fresh, topic_name=topic_name, topic_given=given, at=_now()
        )[0]

    plan, steps = build_alerts_deploy_plan(
        rules, read(), topic_name=topic_name, topic_given=given, at=_now()
    )
    if not pending(steps) and not unfinished_run(store, plan):
        return None, steps
    run = run_controls_plan(
        ctx,
        plan,
        read_state=read,
        rebuild=rebuild,
        store=store,
        caller_arn=caller_arn,
        now=_now(),
        hook=hook,
    )
    return run, _outcomes(run, steps)
