"""``hunt``: run the rule pack over CloudTrail, on the engine the user picked.

This module wires sources (local files and folders, ``s3://`` URIs) to an
engine and builds the output document. :func:`hunt` is the one function the
CLI calls: it plans the sources, runs the engine (DuckDB, Athena or Spark),
scores incidents and returns a :class:`HuntOutcome`; the CLI only parses
flags, renders and maps the outcome to an exit code (docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phantomkeys._meta import envelope
from phantomkeys.core.completeness import Coverage, Skipped, coverage_of
from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.findings import Finding, Severity
from phantomkeys.trail.finish import HuntResult
from phantomkeys.trail.pack import RulePack
from phantomkeys.trail.records import (
    DEFAULT_LIMITS,
    BadFile,
    Limits,
    SourceFile,
    batches,
    discover,
)

ENGINES = ("duckdb", "athena", "spark")


class HuntError(Exception):
    """A problem the user must fix (bad source, missing engine): one line (and a hint),
    and the exit code the CLI maps it to (2 by default; 3 when a source could not be
    read, as an S3 listing or an Athena query that failed)."""

    def __init__(self, message: str, *, code: int = ExitCode.USAGE, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = int(code)
        self.hint = hint


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
    #: Sources that exist but hold nothing to read (an empty folder or S3 prefix).
    empty: list[str] = field(default_factory=list)
    #: (path, reason) of folders and links that could not be listed or followed.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Paths not read again: the same real file or folder reached twice (links, loops).
    repeated: int = 0
    #: S3 downloads still on disk until the engine is done (see :meth:`close`).
    downloads: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Delete downloaded files; call once the engine has read every batch."""
        while self.downloads:
            self.downloads.pop().close()


def plan_sources(
    sources: Sequence[str], since: datetime | None, until: datetime | None
) -> SourcePlan:
    plan = SourcePlan()
    local = [s for s in sources if not is_s3(s)]
    plan.s3_uris = [s for s in sources if is_s3(s)]
    if plan.s3_uris:
        from phantomkeys.aws.cloudtrail import parse_s3_uri

        for uri in plan.s3_uris:
            try:
                parse_s3_uri(uri)
            except ValueError as exc:
                raise HuntError(str(exc)) from None
    found = discover(local, since, until)
    if found.missing:
        # A path that does not exist is a typo to fix before any work (exit 2), as in
        # every command; an empty or unreadable one is read as far as it goes (exit 3).
        more = f" (and {len(found.missing) - 1} more)" if len(found.missing) > 1 else ""
        raise HuntError(f"{found.missing[0]}: no such file or directory{more}")
    plan.local = found.files
    plan.skipped_by_date = found.skipped_by_date
    plan.skipped_digest = found.skipped_digest
    plan.missing = found.missing
    plan.empty = found.empty
    plan.unreadable = found.unreadable
    plan.repeated = found.repeated
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
    from phantomkeys.aws.cloudtrail import S3Downloader, list_cloudtrail_objects

    if ctx_factory is None:
        raise HuntError("s3:// sources need AWS credentials")
    ctx = ctx_factory()
    for uri in plan.s3_uris:
        listing = list_cloudtrail_objects(ctx, uri, since, until)
        plan.skipped_by_date += listing.skipped_by_date
        plan.s3_objects += len(listing.keys)
        if not listing.keys and not listing.skipped_by_date:
            plan.empty.append(uri)
        downloader = S3Downloader(ctx, listing)
        plan.downloads.append(downloader)
        yield from downloader
        plan.s3_failures.extend(
            BadFile(str(f.where), f"download failed ({f.error_code})") for f in downloader.failed
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
    limits: Limits = DEFAULT_LIMITS,
) -> HuntResult:
    from phantomkeys.trail.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(pack, threads=threads, limits=limits)
    try:
        return engine.run(
            file_batches(plan, since, until, ctx_factory),
            since=since,
            until=until,
            progress=progress,
        )
    finally:
        engine.close()
        plan.close()


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


def hunt_coverage(
    result: HuntResult,
    plan: SourcePlan,
    sources: Sequence[str],
    *,
    read: dict[str, int] | None = None,
) -> Coverage:
    """What the hunt read and what it did not: an incomplete hunt is never clean.

    Nothing read from what the user named (an empty or missing folder, an S3
    prefix without objects, every file outside the time window), a source that
    held nothing, and every file that could not be read make it incomplete;
    digest files and files outside --since/--until are skipped by choice.
    """
    skipped: list[Skipped] = [Skipped("source", m, "not found") for m in plan.missing]
    skipped += [Skipped("source", e, "holds no CloudTrail log file") for e in plan.empty]
    skipped += [Skipped("file", path, reason) for path, reason in plan.unreadable]
    skipped += [Skipped("file", b.name, b.reason) for b in (*result.bad_files, *plan.s3_failures)]
    if plan.skipped_by_date:
        skipped.append(
            Skipped(
                "file",
                "--since/--until",
                "outside the time window",
                plan.skipped_by_date,
                incomplete=False,
            )
        )
    if plan.skipped_digest:
        skipped.append(
            Skipped("file", "CloudTrail-Digest", "digest file", plan.skipped_digest, False)
        )
    if plan.repeated:
        skipped.append(
            Skipped("file", "links and loops", "already read by another path", plan.repeated, False)
        )
    if read is not None:  # Athena: the query engine reads the files, not us
        return coverage_of(read, skipped)
    counts = {"files": result.stats.files_read, "records": result.stats.records_read}
    return coverage_of(counts, skipped, asked_for=", ".join(sources) if sources else None)


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
    coverage: Coverage | None = None,
) -> dict[str, Any]:
    bad = [b.to_dict() for b in (*result.bad_files, *plan.s3_failures)]
    bad += [{"path": m, "reason": "not found"} for m in plan.missing]
    bad += [{"path": p, "reason": r} for p, r in plan.unreadable]
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
    if coverage is None:
        coverage = hunt_coverage(result, plan, sources)
    from phantomkeys.trail.incidents import INCIDENT_RULE

    rules = [r.to_dict() for r in result.pack]
    if result.incidents:
        rules.append(INCIDENT_RULE.to_dict())
    return envelope(
        metadata=metadata,
        coverage=coverage.to_json(),
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


# ---------------------------------------------------------------- the command


@dataclass(frozen=True, slots=True)
class AthenaRequest:
    """Where ``--engine athena`` keeps its table and results."""

    database: str = "default"
    table: str | None = None
    workgroup: str = "primary"
    output: str | None = None


@dataclass(frozen=True, slots=True)
class HuntRequest:
    """Everything one hunt needs, parsed and validated by the caller.

    ``ctx_factory`` makes the AWS context (S3 sources, Athena) only when one is
    needed; ``generated_at`` is the document's time (the library reads no clock
    for it).
    """

    sources: Sequence[str]
    pack: RulePack
    generated_at: datetime
    since: datetime | None = None
    until: datetime | None = None
    engine: str = "duckdb"
    score_config: Any = None
    threads: int | None = None
    limits: Limits = DEFAULT_LIMITS
    ctx_factory: Callable[[], Any] | None = None
    athena: AthenaRequest = field(default_factory=AthenaRequest)
    spark_master: str = "local[*]"


@dataclass(frozen=True, slots=True)
class HuntOutcome:
    """What a hunt found and read: the document, its findings and its coverage.

    The caller renders ``document`` and decides the exit: findings at or above its
    threshold, else ``coverage.complete``.
    """

    document: dict[str, Any]
    findings: tuple[Finding, ...]
    coverage: Coverage

    @property
    def complete(self) -> bool:
        return self.coverage.complete


def hunt(
    request: HuntRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> HuntOutcome:
    """Run the rule pack over ``request.sources`` on the chosen engine.

    Raises :class:`HuntError` for what the user must fix (exit 2) or a source that
    could not be read at all (exit 3); S3 downloads are deleted before it returns.
    ``progress(done, total)`` is called by the DuckDB engine as batches are read.
    """
    if request.engine not in ENGINES:
        raise HuntError(f"--engine {request.engine}: not one of {', '.join(ENGINES)}")
    timer = Timer()
    sources = list(request.sources)
    since, until = request.since, request.until
    extra: dict[str, Any] = {}
    read: dict[str, int] | None = None
    plan = plan_sources(sources, since, until)
    if request.engine == "duckdb":
        from phantomkeys.aws.cloudtrail import S3SourceError

        try:
            result = run_duckdb(
                request.pack,
                plan,
                since=since,
                until=until,
                threads=request.threads,
                ctx_factory=request.ctx_factory,
                progress=progress,
                limits=request.limits,
            )
        except S3SourceError as exc:
            raise HuntError(str(exc), code=ExitCode.INCOMPLETE) from None
    elif request.engine == "athena":
        result, extra = _run_athena(request, sources)
        plan.local = []
        read = {"queries": len(extra.get("athena", {}).get("queries", []))}
    else:
        from phantomkeys.trail.spark_engine import SparkUnavailable, run_spark

        try:
            result = run_spark(
                request.pack,
                plan,
                sources,
                master=request.spark_master,
                since=since,
                until=until,
            )
        except SparkUnavailable as exc:
            raise HuntError(
                str(exc), hint="pip install 'phantomkeys[spark]' and a Java runtime"
            ) from None
        finally:
            plan.close()
    result = add_incidents(result, request.score_config)
    coverage = hunt_coverage(result, plan, sources, read=read)
    document = build_document(
        result,
        plan,
        sources=sources,
        since=since,
        until=until,
        generated_at=request.generated_at,
        elapsed_seconds=timer.elapsed,
        extra=extra,
        coverage=coverage,
    )
    return HuntOutcome(document=document, findings=result.findings, coverage=coverage)


def _run_athena(request: HuntRequest, sources: list[str]) -> tuple[HuntResult, dict[str, Any]]:
    from phantomkeys.trail.athena_engine import AthenaOptions, run_athena

    if not all(is_s3(s) for s in sources):
        raise HuntError("--engine athena reads s3:// sources only")
    athena = request.athena
    if athena.output is not None:
        from phantomkeys.aws.cloudtrail import parse_s3_uri

        try:
            parse_s3_uri(athena.output)
        except ValueError as exc:
            raise HuntError(f"--athena-output: {exc}") from None
    if request.ctx_factory is None:
        raise HuntError("--engine athena needs AWS credentials")
    opts = AthenaOptions(
        database=athena.database,
        table=athena.table,
        workgroup=athena.workgroup,
        output=athena.output,
    )
    try:
        return run_athena(
            request.pack,
            sources,
            opts,
            since=request.since,
            until=request.until,
            ctx=request.ctx_factory(),
        )
    except HuntError as exc:
        # The query ran against what was asked for and could not read it: incomplete.
        raise HuntError(str(exc), code=ExitCode.INCOMPLETE, hint=exc.hint) from None
