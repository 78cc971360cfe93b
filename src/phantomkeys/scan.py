"""Library API of the scan: collect (AWS) -> assess (pure) -> one report document.

``scan_account(ctx)`` and ``assess_snapshot(snapshot)`` are what the CLI, the
Lambda handler and users' own code call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phantomkeys._meta import envelope
from phantomkeys.core.completeness import Coverage, Skipped
from phantomkeys.core.findings import Finding, Rule, sort_findings
from phantomkeys.core.model import AccountEntry, AccountSnapshot, OrgSnapshot
from phantomkeys.surfaces import SURFACES, Surface

if TYPE_CHECKING:
    from phantomkeys.core.assess import Assessed, Identity, ManagedCache

# The assessment (phantomkeys.core.assess and the policy engine) is imported
# where it is used: a scan imports it while AWS answers its first requests,
# not before sending them.


@dataclass(frozen=True, slots=True)
class AccountResult:
    account_id: str
    status: str  # ok | error | incomplete
    error: str | None
    identities: tuple[Identity, ...]
    snapshot: AccountSnapshot | None
    name: str = ""
    ou_path: tuple[str, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [f for i in self.identities for f in i.findings]


@dataclass
class ScanResult:
    at: datetime
    accounts: list[AccountResult]
    caller_arn: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def identities(self) -> list[Identity]:
        return [i for a in self.accounts for i in a.identities]

    @property
    def findings(self) -> list[Finding]:
        return sort_findings(f for a in self.accounts for f in a.findings)

    @property
    def incomplete(self) -> bool:
        return any(a.status in ("error", "incomplete") for a in self.accounts)

    def coverage(self) -> Coverage:
        """What the scan read (accounts, identities) and which accounts it could not read
        completely: an account that failed, or one with lookups that failed."""
        read = {
            "accounts": sum(1 for a in self.accounts if a.status != "error"),
            "identities": sum(len(a.identities) for a in self.accounts),
        }
        skipped = [
            Skipped(
                "account" if a.status == "error" else "account lookup",
                a.account_id,
                a.error or a.status,
            )
            for a in self.accounts
            if a.status in ("error", "incomplete")
        ]
        nothing = None if self.accounts else "no account was scanned"
        return Coverage(read=read, skipped=tuple(skipped), nothing_read=nothing)

    def to_document(self) -> dict[str, Any]:
        return build_document(self)


def _default_catalog() -> Any:
    from phantomkeys.catalog import default_catalog

    return default_catalog()


def warm_catalog() -> None:
    """Load the IAM catalog (from the user cache when possible) and the
    assessment's modules ahead of assessment."""
    from platformdirs import user_cache_dir

    import phantomkeys.core.assess  # noqa: F401
    from phantomkeys.catalog import default_catalog

    default_catalog().warm(Path(user_cache_dir("phantomkeys")))


def assess_snapshot(
    snapshot: AccountSnapshot,
    *,
    at: datetime,
    surfaces: Sequence[Surface] = SURFACES,
    catalog: Any = None,
    parsed: ManagedCache | None = None,
    ahead: Sequence[Assessed] = (),
) -> AccountResult:
    """Analyse a snapshot offline (``--from-snapshot``) or right after collection.

    ``parsed`` and ``ahead``: policies parsed and users assessed while the
    snapshot was collected (:func:`~phantomkeys.core.assess.assess_ahead`).
    """
    from phantomkeys.core.assess import Status, assess_account

    identities = assess_account(
        snapshot,
        catalog=catalog or _default_catalog(),
        at=at,
        surfaces=surfaces,
        parsed=parsed,
        ahead=ahead,
    )
    unrecovered = snapshot.unrecovered()
    unknown = any(i.status is Status.UNKNOWN for i in identities)
    status = "incomplete" if (unrecovered or unknown) else "ok"
    error = None
    if unrecovered:
        first = unrecovered[0]
        error = f"{len(unrecovered)} lookup(s) failed, first: {first.operation} {first.error_code}"
    return AccountResult(
        account_id=snapshot.account_id,
        status=status,
        error=error,
        identities=tuple(identities),
        snapshot=snapshot,
    )


def assess_org_snapshot(
    org: OrgSnapshot,
    *,
    at: datetime,
    surfaces: Sequence[Surface] = SURFACES,
    catalog: Any = None,
    assessed: Mapping[str, tuple[AccountEntry, AccountResult]] | None = None,
) -> list[AccountResult]:
    """Every account's result; ``assessed`` holds results already computed during
    the scan (used only for the very entry they were computed from)."""
    catalog = catalog or _default_catalog()
    results = []
    for entry in org.accounts:
        done = (assessed or {}).get(entry.account_id)
        if done is not None and done[0] is entry:
            results.append(done[1])
        else:
            results.append(assess_entry(entry, at=at, surfaces=surfaces, catalog=catalog))
    return results


def assess_entry(
    entry: AccountEntry, *, at: datetime, surfaces: Sequence[Surface], catalog: Any
) -> AccountResult:
    if entry.snapshot is None:
        return AccountResult(
            account_id=entry.account_id,
            status=entry.status or "error",
            error=entry.error,
            identities=(),
            snapshot=None,
            name=entry.name,
            ou_path=entry.ou_path,
        )
    r = assess_snapshot(entry.snapshot, at=at, surfaces=surfaces, catalog=catalog)
    status = r.status if entry.status == "ok" else entry.status
    return AccountResult(
        account_id=r.account_id,
        status=status,
        error=r.error or entry.error,
        identities=r.identities,
        snapshot=r.snapshot,
        name=entry.name,
        ou_path=entry.ou_path,
    )


def used_rules(findings: Sequence[Finding]) -> list[Rule]:
    from phantomkeys.core.assess import RULES

    seen: dict[str, Rule] = {}
    for f in findings:
        if f.rule_id in seen:
            continue
        rule = RULES.get(f.rule_id)
        if rule is None:  # capability rules are built per grant
            rule = Rule(
                id=f.rule_id,
                title=f.title,
                severity=f.severity,
                rationale=f.rationale,
                remediation=f.remediation,
                tags=f.tags,
            )
        seen[f.rule_id] = rule
    return list(seen.values())


def build_document(result: ScanResult) -> dict[str, Any]:
    from phantomkeys.core.assess import summarize

    findings = result.findings
    accounts = []
    for a in result.accounts:
        snap = a.snapshot
        acct: dict[str, Any] = {
            "account_id": a.account_id,
            "name": a.name or None,
            "status": a.status,
            "error": a.error,
            "identities": [i.to_dict(result.at) for i in a.identities],
        }
        if a.ou_path:
            acct["ou_path"] = list(a.ou_path)
        if snap is not None:
            acct["sources"] = dict(snap.sources)
            acct["failures"] = [f.to_dict() for f in snap.failures]
            acct["scps_evaluated"] = snap.scps is not None
            acct["credential_report_generated_at"] = (
                snap.credential_report_generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                if snap.credential_report_generated_at
                else None
            )
            if snap.credential_report_generated_at:
                age = result.at - snap.credential_report_generated_at
                acct["credential_report_age_minutes"] = max(0, int(age.total_seconds() // 60))
        accounts.append(acct)
    api_total = sum(result.api_calls.values())
    reports = [
        a.snapshot.credential_report_generated_at
        for a in result.accounts
        if a.snapshot is not None and a.snapshot.credential_report_generated_at is not None
    ]
    metadata = {
        "command": "scan",
        "scan_time": result.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "caller_arn": result.caller_arn,
        # The credential report's freshness: facts it holds may be up to 4 h old.
        "credential_report_generated_at": min(reports).strftime("%Y-%m-%dT%H:%M:%SZ")
        if reports
        else None,
        "api_calls": {"total": api_total, "by_operation": dict(sorted(result.api_calls.items()))},
        **result.metadata,
    }
    return envelope(
        metadata=metadata,
        summary={
            **summarize(result.identities),
            "accounts": len(result.accounts),
            "accounts_not_ok": sum(1 for a in result.accounts if a.status != "ok"),
        },
        accounts=accounts,
        findings=[f.to_dict() for f in findings],
        rules=[r.to_dict() for r in used_rules(findings)],
        coverage=result.coverage().to_json(),
    )


def scan_account(
    ctx: Any,
    *,
    at: datetime,
    surfaces: Sequence[Surface] = SURFACES,
    fresh: bool = False,
    max_workers: int = 8,
    progress: Any = None,
) -> tuple[ScanResult, AccountSnapshot]:
    """Collect and assess one account with an :class:`~phantomkeys.aws.session.AwsContext`."""
    from phantomkeys.aws.collect import collect_account

    # Index the IAM catalog while AWS answers: once the requests are out, the
    # collection waits on the network (started earlier, it would delay them).
    # Then assess the users already read while the last pages arrive: the
    # assessment at the end reuses what it can and assesses only the rest.
    warm = threading.Thread(target=warm_catalog, name="catalog-warm", daemon=True)
    parsed: ManagedCache = {}
    ahead: list[Assessed] = []

    def prepare(part: AccountSnapshot) -> None:
        from phantomkeys.core.assess import assess_ahead

        warm.join()
        done = assess_ahead(
            part, catalog=_default_catalog(), at=at, surfaces=surfaces, parsed=parsed
        )
        ahead.append(done)
        for _, identities in done.by_user.values():
            for identity in identities:
                identity.to_dict(at)  # made now, reused by the report if unchanged

    snapshot = collect_account(
        ctx,
        surfaces=surfaces,
        fresh=fresh,
        max_workers=max_workers,
        progress=progress or (lambda _m: None),
        now=at,
        while_waiting=warm.start,
        prepare=prepare,
    )
    if warm.ident is None:  # the collection never got its requests out
        warm.start()
    warm.join()
    account = assess_snapshot(snapshot, at=at, surfaces=surfaces, parsed=parsed, ahead=ahead)
    result = ScanResult(
        at=at,
        accounts=[account],
        caller_arn=snapshot.caller_arn,
        api_calls=dict(ctx.counter.snapshot()["by_operation"]),
    )
    return result, snapshot


def scan_org(
    ctx: Any,
    opts: Any,
    *,
    at: datetime,
    checkpoint: Path,
    resume: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_account: Callable[[AccountEntry], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> tuple[ScanResult, OrgSnapshot]:
    """Collect and assess every account of the Organization (``opts``: an
    :class:`~phantomkeys.aws.org.OrgScanOptions`), checkpointing each finished account
    to ``checkpoint`` so an interrupted scan resumes (``resume``) with what is left.

    ``on_start(total, already)`` and ``on_account(entry)`` report progress; ``note``
    receives remarks for the user. A malformed checkpoint, or a scope it does not fit,
    raises ``ValueError``; AWS failures and ``KeyboardInterrupt`` propagate.
    """
    from phantomkeys.aws.org import Checkpoint, scan_organization

    say = note or (lambda _m: None)
    cp = Checkpoint(checkpoint, opts.scope())
    if resume:
        cp.load()
        if not cp.done:
            say(f"no checkpoint at {checkpoint}; starting from the beginning")
    else:
        checkpoint.unlink(missing_ok=True)

    warm = threading.Thread(target=warm_catalog, name="catalog-warm", daemon=True)
    warm.start()
    # Each account is assessed as soon as it is collected, while the others are
    # still being read: the assessment is pure, so the result is the same.
    assessed: dict[str, tuple[AccountEntry, AccountResult]] = {}

    def collected(entry: AccountEntry) -> None:
        if on_account is not None:
            on_account(entry)
        warm.join()
        assessed[entry.account_id] = (
            entry,
            assess_entry(entry, at=at, surfaces=opts.surfaces, catalog=_default_catalog()),
        )

    org = scan_organization(
        ctx,
        opts,
        now=at,
        checkpoint=cp,
        on_account=collected,
        on_start=on_start or (lambda _total, _done: None),
    )
    results = assess_org_snapshot(org, at=at, surfaces=opts.surfaces, assessed=assessed)
    caller = ctx.client("sts").get_caller_identity()["Arn"]
    result = ScanResult(
        at=at,
        accounts=results,
        caller_arn=caller,
        api_calls=dict(ctx.counter.snapshot()["by_operation"]),
    )
    result.metadata.update(
        organization_id=org.organization_id,
        management_account_id=org.management_account_id,
        checkpoint=str(checkpoint),
        skipped=[
            {"account_id": e.account_id, "reason": e.error}
            for e in org.accounts
            if e.status == "skipped"
        ],
    )
    return result, org
