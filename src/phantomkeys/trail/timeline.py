"""``timeline``: what a user or a key did, in time order, from the API or from log files.

TARGET is an IAM user name, a long-term key (its phantom user), a short-term
key (the access key id that signed it) or a bare access key id. The key is
decoded offline; its secret never leaves :mod:`phantomkeys.core.keys`.

From the API, ``LookupEvents`` is asked by ``Username`` (what the user did),
``ResourceName`` (what was done *to* the user: policies, keys, passwords) and
``AccessKeyId`` (what a key did), in every enabled region in parallel, each
region paced under AWS's 2 requests/s limit. LookupEvents only holds
management events of the last 90 days; data events (Claude Platform
inference, some Bedrock operations) are only in trail log files, which
``--from`` reads with the embedded engine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from phantomkeys._meta import envelope
from phantomkeys.core import target as core_target
from phantomkeys.core.completeness import Coverage

LOOKUP_DAYS = 90
NOTES_API = (
    "LookupEvents searches management events of the last 90 days only; data events "
    "(Claude Platform inference, InvokeModelWithBidirectionalStream, ...) are only in trail "
    "log files: use --from s3://bucket/prefix or a local folder."
)


class TimelineError(ValueError):
    """A target or option the user must fix (one line, exit 2)."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # user | long-term-key | short-term-key | access-key
    username: str | None = None
    access_key_id: str | None = None
    account_id: str | None = None
    surface: str | None = None
    region: str | None = None
    key_preview: str | None = None

    def lookups(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.username:
            out += [("Username", self.username), ("ResourceName", self.username)]
        if self.access_key_id:
            out.append(("AccessKeyId", self.access_key_id))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("kind", self.kind),
                ("username", self.username),
                ("access_key_id", self.access_key_id),
                ("account_id", self.account_id),
                ("surface", self.surface),
                ("region", self.region),
                ("key", self.key_preview),
            )
            if v is not None
        }


def resolve_target(text: str) -> Target:
    """TARGET (classified by :func:`phantomkeys.core.target.resolve_target`)."""
    try:
        found = core_target.resolve_target(text, access_key_ids=True)
    except core_target.TargetError as exc:
        if exc.problem is core_target.TargetProblem.EMPTY:
            raise TimelineError("empty TARGET") from None
        if exc.problem is core_target.TargetProblem.BAD_KEY:
            raise TimelineError(
                f"TARGET looks like an API key but does not decode: {exc.reason}"
            ) from None
        raise TimelineError(
            "TARGET is neither an IAM user name, an access key id nor an API key"
        ) from None
    return Target(
        found.kind.value,
        username=found.username,
        access_key_id=found.access_key_id,
        account_id=found.account_id,
        surface=found.surface.value if found.surface else None,
        region=found.region,
        key_preview=found.redacted,
    )


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


#: IAM calls whose ``UserName`` is optional: absent, the subject is the caller
#: (docs/aws-facts.md).
SELF_SUBJECT_EVENTS = frozenset(
    {
        "CreateAccessKey",
        "ResetServiceSpecificCredential",
        "UpdateServiceSpecificCredential",
        "DeleteServiceSpecificCredential",
    }
)


def target_user(event_name: Any, named: Any, caller_type: Any, caller_name: Any) -> str | None:
    """The IAM user an event is about: the named one, else the calling user where allowed."""
    if named:
        return str(named)
    if event_name in SELF_SUBJECT_EVENTS and caller_type == "IAMUser" and caller_name:
        return str(caller_name)
    return None


def entry_from_record(rec: Mapping[str, Any], via: str) -> dict[str, Any]:
    ident = rec.get("userIdentity") or {}
    params = rec.get("requestParameters") or {}
    extra = rec.get("additionalEventData") or {}
    if not isinstance(params, Mapping):
        params = {}
    if not isinstance(extra, Mapping):
        extra = {}
    return {
        "time": rec.get("eventTime"),
        "event_id": rec.get("eventID"),
        "event_source": rec.get("eventSource"),
        "event_name": rec.get("eventName"),
        "region": rec.get("awsRegion"),
        "principal": ident.get("arn") or ident.get("userName") or ident.get("principalId"),
        "access_key_id": ident.get("accessKeyId"),
        "source_ip": rec.get("sourceIPAddress"),
        "user_agent": rec.get("userAgent"),
        "bearer_token": _flag(extra.get("callWithBearerToken"))
        or _flag(params.get("callWithBearerToken")),
        "model": params.get("modelId") or params.get("model"),
        "error_code": rec.get("errorCode"),
        "target_user": target_user(
            rec.get("eventName"), params.get("userName"), ident.get("type"), ident.get("userName")
        ),
        "via": via,
    }


def _merge(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for e in entries:
        eid = e.get("event_id")
        if not eid:
            anonymous.append(e)
            continue
        if eid in by_id:
            vias = set(str(by_id[eid]["via"]).split(",")) | {str(e["via"])}
            by_id[eid]["via"] = ",".join(sorted(vias))
        else:
            by_id[eid] = dict(e)
    return sorted(
        [*by_id.values(), *anonymous],
        key=lambda e: (str(e.get("time") or ""), str(e.get("event_id") or "")),
    )


def from_api(
    target: Target, ctx: Any, regions: Sequence[str], start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """All lookups in all regions (parallel across regions, paced within each)."""
    from phantomkeys.aws.cloudtrail import lookup_events

    def region_job(region: str) -> list[Any]:
        return [
            lookup_events(ctx, region=region, attribute=attr, value=value, start=start, end=end)
            for attr, value in target.lookups()
        ]

    entries: list[dict[str, Any]] = []
    lookups: list[dict[str, Any]] = []
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(regions)))) as pool:
        for results in pool.map(region_job, regions):
            for res in results:
                lookups.append(
                    {
                        "region": res.region,
                        "attribute": res.attribute,
                        "pages": res.pages,
                        "events": len(res.events),
                        **({"error": res.error} if res.error else {}),
                    }
                )
                if res.error:
                    errors.append(f"LookupEvents {res.attribute} in {res.region}: {res.error}")
                entries += [
                    entry_from_record(e.record_or_summary(), f"LookupEvents:{res.attribute}")
                    for e in res.events
                ]
    return _merge(entries), lookups, errors


def _timeline_rule(target: Target) -> dict[str, Any]:
    """A one-off Sigma rule selecting the target's records (run by the embedded engine)."""
    detection: dict[str, Any] = {}
    names = []
    if target.username:
        detection["sel_actor"] = {"userIdentity.userName|cased": target.username}
        detection["sel_subject"] = {"requestParameters.userName|cased": target.username}
        names += ["sel_actor", "sel_subject"]
    if target.access_key_id:
        detection["sel_key"] = {"userIdentity.accessKeyId|cased": target.access_key_id}
        names.append("sel_key")
    detection["condition"] = " or ".join(names)
    return {
        "title": "Timeline target",
        "id": "00000000-0000-4000-8000-000000000001",
        "name": "timeline",
        "status": "experimental",
        "description": "timeline target",
        "level": "informational",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
    }


def from_files(
    target: Target,
    sources: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    ctx_factory: Callable[[], Any] | None,
    limits: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], Coverage]:
    from phantomkeys.trail.duckdb_engine import DuckDBEngine
    from phantomkeys.trail.hunt import file_batches, hunt_coverage, plan_sources
    from phantomkeys.trail.pack import RulePack, rule_from_document
    from phantomkeys.trail.records import DEFAULT_LIMITS

    rule = rule_from_document(_timeline_rule(target))
    pack = RulePack((rule,))
    from phantomkeys.trail.hunt import HuntError

    try:
        plan = plan_sources(list(sources), start, end)
    except HuntError as exc:
        raise TimelineError(str(exc)) from None
    extra_cols = (
        "additionalEventData.callWithBearerToken",
        "requestParameters.callWithBearerToken",
        "requestParameters.userName",
    )
    engine = DuckDBEngine(pack, extra_columns=extra_cols, limits=limits or DEFAULT_LIMITS)
    try:
        result = engine.run(file_batches(plan, start, end, ctx_factory), since=start, until=end)
        cur = engine.con.execute('SELECT * FROM hits ORDER BY "eventTime", "eventID"')
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        engine.close()
        plan.close()
    entries = []
    for r in rows:
        t = r.get("eventTime")
        entries.append(
            {
                "time": t.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(t, datetime) else t,
                "event_id": r.get("eventID"),
                "event_source": r.get("eventSource"),
                "event_name": r.get("eventName"),
                "region": r.get("awsRegion"),
                "principal": r.get("principal"),
                "access_key_id": r.get("userIdentity.accessKeyId"),
                "source_ip": r.get("sourceIPAddress"),
                "user_agent": r.get("userAgent"),
                "bearer_token": _flag(r.get("additionalEventData.callWithBearerToken"))
                or _flag(r.get("requestParameters.callWithBearerToken")),
                "model": r.get("model"),
                "error_code": r.get("errorCode"),
                "target_user": target_user(
                    r.get("eventName"),
                    r.get("requestParameters.userName"),
                    r.get("userIdentity.type"),
                    r.get("userIdentity.userName"),
                ),
                "via": "files",
            }
        )
    stats = result.stats.to_dict()
    stats["bad_files"] = [b.to_dict() for b in (*result.bad_files, *plan.s3_failures)]
    stats["bad_files"] += [{"path": m, "reason": "not found"} for m in plan.missing]
    stats["bad_files"] += [{"path": p, "reason": r} for p, r in plan.unreadable]
    return _merge(entries), stats, hunt_coverage(result, plan, sources)


def run_timeline(
    target_text: str,
    *,
    days: int,
    regions: str,
    sources: Sequence[str],
    now: datetime,
    ctx_factory: Callable[[], Any],
    limits: Any = None,
) -> tuple[dict[str, Any], bool, Coverage | None]:
    """The timeline document, whether it is incomplete, and (``--from``) its coverage."""
    target = resolve_target(target_text)
    start = now - timedelta(days=days)
    metadata: dict[str, Any] = {
        "command": "timeline",
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": target.to_dict(),
        "since": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "until": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": [],
        "errors": [],
    }
    failed = False
    coverage: Coverage | None = None
    if sources:
        entries, stats, coverage = from_files(target, sources, start, now, ctx_factory, limits)
        metadata.update({"source": "files", "sources": list(sources), "files": stats})
        metadata["errors"] += [f"{b['path']}: {b['reason']}" for b in stats["bad_files"]]
        failed = not coverage.complete
    else:
        ctx = ctx_factory()
        if days > LOOKUP_DAYS:
            metadata["notes"].append(
                f"--days {days}: LookupEvents keeps {LOOKUP_DAYS} days; older activity needs --from"
            )
        region_list = _regions(ctx, regions, metadata)
        entries, lookups, errors = from_api(target, ctx, region_list, start, now)
        metadata.update(
            {
                "source": "api",
                "regions": region_list,
                "lookups": lookups,
                "api_calls": ctx.counter.snapshot(),
            }
        )
        metadata["notes"].append(NOTES_API)
        metadata["errors"] += errors
        failed = bool(errors) or bool(metadata.get("region_error"))
        if target.username:
            metadata["identity"] = _identity(ctx, target.username, entries)

    metadata["events"] = len(entries)
    if coverage is None:
        return envelope(metadata=metadata, events=entries), failed, None
    return (
        envelope(metadata=metadata, coverage=coverage.to_json(), events=entries),
        failed,
        coverage,
    )


@dataclass(frozen=True, slots=True)
class TimelineRequest:
    """One timeline, parsed by the caller: the TARGET text (a user name or a key, already
    read from stdin when it was ``-``), the window and where to read.

    ``sources`` empty: LookupEvents in ``regions`` ('all' or a comma-separated list);
    otherwise the log files (local or ``s3://``) are read with the embedded engine.
    """

    target: str
    now: datetime
    ctx_factory: Callable[[], Any]
    days: int = LOOKUP_DAYS
    regions: str = "all"
    sources: Sequence[str] = ()
    limits: Any = None


@dataclass(frozen=True, slots=True)
class TimelineOutcome:
    """The timeline document and the facts its exit code depends on.

    ``incomplete``: a lookup, a region listing or a log file failed (exit 3);
    ``coverage``: what was read, for ``--from`` runs only.
    """

    document: dict[str, Any]
    incomplete: bool
    coverage: Coverage | None

    @property
    def notes(self) -> list[str]:
        return list(self.document["metadata"].get("notes", []))

    @property
    def errors(self) -> list[str]:
        return list(self.document["metadata"].get("errors", []))

    @property
    def deleted(self) -> dict[str, Any] | None:
        """The user's DeleteUser event (when, by whom), when CloudTrail shows one."""
        gone = (self.document["metadata"].get("identity") or {}).get("deleted")
        return dict(gone) if gone else None


def timeline(request: TimelineRequest) -> TimelineOutcome:
    """The one function behind ``phantomkeys timeline``: resolve the target, read the
    API or the files, and return the document. Raises :class:`TimelineError` for what
    the user must fix (exit 2); S3 downloads are deleted before it returns."""
    document, failed, coverage = run_timeline(
        request.target,
        days=request.days,
        regions=request.regions,
        sources=list(request.sources),
        now=request.now,
        ctx_factory=request.ctx_factory,
        limits=request.limits,
    )
    return TimelineOutcome(document=document, incomplete=failed, coverage=coverage)


def _identity(ctx: Any, username: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Whether the user exists; when it does not, the DeleteUser event that proves it
    existed, or :class:`TimelineError` (a typo or a wrong-case name: "not found")."""
    from phantomkeys.aws.state import user_exists

    exists, error = user_exists(ctx, username)
    if exists is not False:
        return {"username": username, "exists": exists, **({"error": error} if error else {})}
    deletions = [
        e
        for e in entries
        if e.get("event_name") == "DeleteUser"
        and not e.get("error_code")
        and e.get("target_user") in (None, username)
    ]
    if not deletions:
        raise TimelineError(
            f"IAM user {username!r} not found (iam:GetUser), and CloudTrail shows no "
            "DeleteUser of it in the searched period: check the name, its case and the "
            "account (--profile)"
        )
    newest = max(deletions, key=lambda e: str(e.get("time") or ""))
    return {
        "username": username,
        "exists": False,
        "status": "deleted",
        "deleted": {
            "event_time": newest.get("time"),
            "by": newest.get("principal"),
            "source_ip": newest.get("source_ip"),
        },
    }


def _regions(ctx: Any, spec: str, metadata: dict[str, Any]) -> list[str]:
    if spec.strip().lower() != "all":
        regions = [r.strip() for r in spec.split(",") if r.strip()]
        if not regions:
            raise TimelineError("--regions: give 'all' or a comma-separated list")
        return regions
    from phantomkeys.aws.cloudtrail import enabled_regions

    found, failure = enabled_regions(ctx)
    regions = list(found)
    if failure or not regions:
        # Fail closed: say so, search at least the configured region and us-east-1
        # (where IAM events are recorded), and exit "incomplete".
        error = f"{failure.error_code}: {failure.message}" if failure else "no regions returned"
        metadata["region_error"] = f"DescribeRegions: {error}"
        metadata["errors"].append(metadata["region_error"])
        return sorted({ctx.region, "us-east-1"})
    return regions


# ------------------------------------------------------------------ output

COLUMNS = (
    "time",
    "region",
    "event_source",
    "event_name",
    "principal",
    "source_ip",
    "user_agent",
    "bearer_token",
    "model",
    "error_code",
    "target_user",
    "event_id",
)


def render_csv(document: Mapping[str, Any]) -> str:
    from phantomkeys.report.csv_report import safe_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in document.get("events", []):
        writer.writerow([safe_cell(e.get(c)) for c in COLUMNS])
    return buffer.getvalue()
