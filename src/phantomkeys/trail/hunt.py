"""``hunt``: run the rule pack over CloudTrail, on the engine the user picked.

This module wires sources (local files and folders, ``s3://`` URIs) to an
engine and builds the output document; the CLI only parses flags and prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phantomkeys._meta import envelope
from phantomkeys.core.findings import Finding, Severity
from phantomkeys.trail.finish import HuntResult
from phantomkeys.trail.pack import RulePack
from phantomkeys.trail.records import BadFile, SourceFile, batches, discover

ENGINES = ("duckdb", "athena", "spark")


class HuntError(Exception):
    """A problem the user must fix (bad source, missing engine); one line, exit 2."""


def is_s3(source: str) -> bool:
    return source.startswith(("s3://", "s3a://"))


@dataclass(slots=True)
class SourcePlan:
    """What will be read, and what was skipped or missing before reading."""

    local: list[SourceFile] = field(default_factory=list)
    s3_uris: list[str] = field(default_factory=list)
    skipped_by_date: int = 0
    skipped_digest: int = 0
    missing: list[str] = field(default_factory=list)
    s3_failures: list[BadFile] = field(default_factory=list)
    s3_objects: int = 0


def plan_sources(
    sources: Sequence[str], since: datetime | None, until: datetime | None
) -> SourcePlan:
    plan = SourcePlan()
    local = [s for s in sources if not is_s3(s)]
    plan.s3_uris = [s for s in sources if is_s3(s)]
    found = discover(local, since, until)
    plan.local = found.files
    plan.skipped_by_date = found.skipped_by_date
    plan.skipped_digest = found.skipped_digest
    plan.missing = found.missing
    return plan


def file_batches(
    plan: SourcePlan,
    since: datetime | None,
    until: datetime | None,
    ctx_factory: Callable[[], Any] | None = None,
) -> Iterator[list[SourceFile]]:
    """Local batches, then S3 batches downloaded on demand."""
    yield from batches(plan.local)
    if not plan.s3_uris:
        return
    from phantomkeys.aws.trail import S3Downloader, list_cloudtrail_objects

    if ctx_factory is None:
        raise HuntError("s3:// sources need AWS credentials")
    ctx = ctx_factory()
    for uri in plan.s3_uris:
        listing = list_cloudtrail_objects(ctx, uri, since, until)
        plan.skipped_by_date += listing.skipped_by_date
        plan.s3_objects += len(listing.keys)
        downloader = S3Downloader(ctx, listing)
        yield from downloader
        plan.s3_failures.extend(
            BadFile(name, f"download failed ({code})") for name, code in downloader.failed
        )


def run_duckdb(
    pack: RulePack,
    plan: SourcePlan,
    *,
    since: datetime | None,
    until: datetime | None,
    threads: int | None = None,
    ctx_factory: Callable[[], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HuntResult:
    from phantomkeys.trail.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(pack, threads=threads)
    try:
        return engine.run(
            file_batches(plan, since, until, ctx_factory),
            since=since,
            until=until,
            progress=progress,
        )
    finally:
        engine.close()


def add_incidents(result: HuntResult, config: Any = None) -> HuntResult:
    """One verdict per principal: score the findings into incidents (appended as findings)."""
    from dataclasses import replace

    from phantomkeys.core.findings import sort_findings
    from phantomkeys.trail.incidents import ScoreConfig, incident_finding, score_incidents

    cfg = config if config is not None else ScoreConfig()
    incidents = score_incidents(result.findings, result.profile, cfg)
    # Every incident is in the document; those scoring at least "low" are also
    # findings, so every output format and --fail-on see the verdict.
    verdicts = [incident_finding(i) for i in incidents if i.severity is not Severity.INFO]
    findings = sort_findings([*result.findings, *verdicts])
    return replace(result, findings=tuple(findings), incidents=tuple(incidents))


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    out = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
    for f in findings:
        out[f.severity.value] += 1
    return out


def build_document(
    result: HuntResult,
    plan: SourcePlan,
    *,
    sources: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    generated_at: datetime,
    elapsed_seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    bad = [b.to_dict() for b in (*result.bad_files, *plan.s3_failures)]
    bad += [{"path": m, "reason": "not found"} for m in plan.missing]
    stats = result.stats.to_dict()
    engine = stats.pop("engine")
    metadata: dict[str, Any] = {
        "command": "hunt",
        "engine": engine,
        "generated_at": _iso(generated_at),
        "sources": list(sources),
        "since": _iso(since),
        "until": _iso(until),
        "elapsed_seconds": round(elapsed_seconds, 3),
        "files_skipped_by_date": plan.skipped_by_date,
        "files_skipped_digest": plan.skipped_digest,
        "files_bad": len(bad),
        **stats,
        "rules_run": len(result.pack),
        "findings_by_severity": severity_counts(result.findings),
        "windows": "sliding",
        "bad_files": bad,
    }
    if plan.s3_uris:
        metadata["s3_objects"] = plan.s3_objects
    if extra:
        metadata.update(extra)
    from phantomkeys.trail.incidents import INCIDENT_RULE

    rules = [r.to_dict() for r in result.pack]
    if result.incidents:
        rules.append(INCIDENT_RULE.to_dict())
    return envelope(
        metadata=metadata,
        findings=[f.to_dict() for f in result.findings],
        incidents=[i.to_dict() for i in result.incidents],
        rules=rules,
    )


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
