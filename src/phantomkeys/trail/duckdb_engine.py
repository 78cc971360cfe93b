"""The embedded engine: DuckDB, streaming over batches of log files.

Ingestion is designed for the real delivery shape, thousands of small gzip
files. DuckDB reads a whole batch of files in one ``read_json`` call with a
fixed schema (``Records`` as a list of raw JSON values) and pulls every field
the pack needs out of each record with one multi-path ``json_extract_string``,
so per-file cost is a few microseconds and parsing runs on every core.

The records of a batch some rule may match are flattened (a materialized
CTE), every detection rule runs on them as SQL, and only matching rows are
kept (the ``hits`` table). Memory is bounded by one batch plus the hits,
whatever the size of the archive.

A batch that DuckDB cannot read (a truncated gzip, invalid JSON, a pretty-
printed or non-``Records`` file) is split in halves until the offending files
are isolated; those go through the Python decoder
(:func:`phantomkeys.trail.records.decode_file`), which reads the other accepted
shapes and names the files that are bad. Bad files are counted and reported,
never fatal.
"""

# ruff: noqa: S608 - this module generates SQL from trusted rule text; every literal goes
# through Target.string() / _sql_string(), which quote and escape it.

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from phantomkeys.trail import fields as F
from phantomkeys.trail.finish import (
    HuntResult,
    HuntStats,
    findings_from_duckdb,
    profile_from_duckdb,
)
from phantomkeys.trail.pack import RulePack
from phantomkeys.trail.queries import compile_detections, hit_columns, hits_select, time_filter
from phantomkeys.trail.records import (
    DEFAULT_LIMITS,
    BadFile,
    DecodeError,
    Limits,
    SourceFile,
    decode_file,
    iter_content,
)
from phantomkeys.trail.sql import FLAT_DUCKDB

ENGINE_NAME = "duckdb"
#: Largest single JSON value (one delivered file) DuckDB will accept.
MAX_OBJECT_BYTES = 256 << 20

_RECORD_PATHS = [f.json_path for f in F.FLAT_FIELDS]
_INDEX = {f.name: i + 1 for i, f in enumerate(F.FLAT_FIELDS)}  # DuckDB lists are 1-based


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _coalesce(names: Iterable[str]) -> str:
    return "coalesce(" + ", ".join(f"x[{_INDEX[n]}]" for n in names) + ")"


def flat_columns_ddl() -> str:
    cols = ["source_file VARCHAR"]
    for f in F.FLAT_FIELDS:
        kind = "TIMESTAMP" if f.name == F.EVENT_TIME else "VARCHAR"
        cols.append(f"{FLAT_DUCKDB.quote(f.name)} {kind}")
    cols += [f"{FLAT_DUCKDB.quote(n)} VARCHAR" for n in (*F.DERIVED_FIELDS, *F.JSON_FIELDS)]
    return ", ".join(cols)


def records_select(read_expr: str, source_expr: str = "filename") -> str:
    """(source_file, r): one row per record as raw JSON; r is NULL for a file without Records."""
    return (
        f"SELECT {source_expr} AS source_file, unnest(coalesce(Records, [NULL::JSON])) AS r "
        f"FROM {read_expr}"
    )


def flatten_select(records: str) -> str:
    """SELECT producing flat-schema rows (plus ``_no_records``) from (source_file, r) rows."""
    q = FLAT_DUCKDB.quote
    paths = "[" + ", ".join(_sql_string(p) for p in _RECORD_PATHS) + "]"
    json_paths = "[" + ", ".join(_sql_string("$." + n) for n in F.JSON_FIELDS) + "]"
    cols = []
    for f in F.FLAT_FIELDS:
        ref = f"x[{_INDEX[f.name]}]"
        if f.name == F.EVENT_TIME:
            ref = _time_expr(ref)
        cols.append(f"{ref} AS {q(f.name)}")
    cols.append(f"{_coalesce(F.PRINCIPAL_SOURCES)} AS {q(F.PRINCIPAL)}")
    cols.append(f"{_coalesce(F.MODEL_SOURCES)} AS {q(F.MODEL)}")
    cols += [f"CAST(j[{i + 1}] AS VARCHAR) AS {q(n)}" for i, n in enumerate(F.JSON_FIELDS)]
    return (
        f"SELECT source_file, r IS NULL AS _no_records, {', '.join(cols)} FROM ("
        f"SELECT source_file, r, json_extract_string(r, {paths}) AS x, "
        f"json_extract(r, {json_paths}) AS j FROM ({records}))"
    )


def _time_expr(ref: str) -> str:
    # "2026-11-29T10:00:00Z" (trails) or "2026-11-29 10:00:00.000" (Lake).
    return f"TRY_CAST(replace(replace({ref}, 'T', ' '), 'Z', '') AS TIMESTAMP)"


@dataclass(frozen=True, slots=True)
class Prefilter:
    """Pass 1: the few fields rule conditions read, and "could any rule match?".

    Extracting every field of every record costs more than reading it; most
    CloudTrail records (EC2, S3, KMS ...) match no rule, so pass 1 pulls only
    the fields the conditions use, keeps the records some rule may match, and
    pass 2 flattens just those.
    """

    fields: tuple[str, ...]
    keep: str

    @classmethod
    def for_pack(cls, pack: RulePack) -> Prefilter:
        from phantomkeys.trail.pack import detection_fields
        from phantomkeys.trail.sql import Target, or_join, where_clauses

        names: set[str] = {F.EVENT_TIME}
        for r in pack.detections:
            names |= detection_fields(r.document)
        fields = tuple(sorted(names))
        target = Target(FLAT_DUCKDB.dialect, FLAT_DUCKDB.schema, frozenset(fields))
        clauses = [or_join(where_clauses(dict(r.document), target)) for r in pack.detections]
        return cls(fields, or_join(clauses))

    def select(self, records: str) -> str:
        q = FLAT_DUCKDB.quote
        paths = "[" + ", ".join(_sql_string("$." + n) for n in self.fields) + "]"
        cols = [
            (_time_expr(f"x[{i + 1}]") if n == F.EVENT_TIME else f"x[{i + 1}]") + f" AS {q(n)}"
            for i, n in enumerate(self.fields)
        ]
        inner = (
            f"SELECT source_file, r, r IS NULL AS _no_records, {', '.join(cols)} FROM ("
            f"SELECT source_file, r, json_extract_string(r, {paths}) AS x FROM ({records}))"
        )
        # Keep the raw record only where some rule may match (pass 2 needs no more),
        # and the event time of every record (for the counts). The condition sits
        # in a CASE so DuckDB evaluates it with selection vectors, each OR branch
        # and AND operand only on the rows still undecided; as a plain projection
        # every operand would run on every record (NULL is "no", as before).
        t = q(F.EVENT_TIME)
        keep = f"CASE WHEN ({self.keep}) THEN TRUE ELSE FALSE END"
        return (
            "SELECT CASE WHEN _keep OR _no_records THEN source_file END AS source_file, "
            f"CASE WHEN _keep THEN r END AS r, _no_records, {t} FROM ("
            f"SELECT source_file, r, _no_records, {t}, {keep} AS _keep "
            f"FROM ({inner}))"
        )


#: Characters DuckDB's file readers treat as a glob pattern, even in a list of paths.
_GLOB_CHARS = frozenset("*?[]{}")


def safe_path(path: str) -> str:
    """A path DuckDB will open as it is, never expand: only our own staging names
    (user file names, which may hold ``*`` or ``[1]``, never reach DuckDB)."""
    if _GLOB_CHARS & set(path):
        raise ValueError(f"{path!r}: refusing to pass a glob pattern to DuckDB")
    return path


def read_json_expr(paths: list[str]) -> str:
    files = "[" + ", ".join(_sql_string(safe_path(p)) for p in paths) + "]"
    return (
        f"read_json({files}, format='newline_delimited', records=true, filename=true, "
        f"columns={{'Records': 'JSON[]'}}, maximum_object_size={MAX_OBJECT_BYTES})"
    )


#: Files at least this large (compressed) are read by DuckDB directly; smaller
#: ones are decompressed in Python and concatenated into one staging file per
#: batch, which removes DuckDB's per-file cost on the many-small-files shape.
DIRECT_BYTES = 1 << 20


#: Decompressed bytes one batch may stage (its small files plus its large ones);
#: files past it are deferred to a follow-up part of the same batch.
BATCH_BUDGET = 1 << 30


@dataclass(slots=True)
class Staged:
    """One batch's files, made ready for DuckDB under names we chose.

    Small files are decompressed into a single NDJSON staging file, one line
    each: ``{"f": "<path>", "d": <the file's JSON>}`` (JSON text never holds a
    raw newline inside a value, so newlines are replaced by spaces). Large files
    are decompressed (gzip) or linked (plain) into a private folder as
    ``<n>.json``, so DuckDB reads exactly those files: a user's file name, which
    may be a glob pattern such as ``*.json`` or ``trail[1].json``, never reaches it.
    """

    files: list[SourceFile]
    path: str | None = None
    #: Indexes (into ``files``) of the files written to the staging file.
    lines: list[int] = field(default_factory=list)
    max_line: int = 0
    bad: list[BadFile] = field(default_factory=list)
    not_json: list[SourceFile] = field(default_factory=list)
    #: Large files, with the safe name DuckDB reads each one under.
    direct: list[tuple[SourceFile, str]] = field(default_factory=list)
    folder: str | None = None
    #: Files left for a follow-up part: staging them would pass the batch budget.
    deferred: list[SourceFile] = field(default_factory=list)
    staged_bytes: int = 0

    @property
    def taken(self) -> list[SourceFile]:
        return self.files[: len(self.files) - len(self.deferred)]

    def lookup(self, key: str) -> SourceFile:
        for f in self.files:
            if str(f.path) == key:
                return f
        return SourceFile(Path(key), key, 0)

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def default_staging_dir() -> str:
    """Memory-backed /dev/shm when present (staging files live for one batch)."""
    shm = "/dev/shm"  # noqa: S108 - private files created with mkstemp
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    tmp = tempfile.gettempdir()
    # Staging names reach DuckDB, which would expand a glob in TMPDIR's name.
    return tmp if not _GLOB_CHARS & set(tmp) else "/tmp"  # noqa: S108


def _unreadable(f: SourceFile, exc: OSError) -> BadFile:
    return BadFile(f.name, f"unreadable ({exc.strerror or exc})")


def stage(
    files: list[SourceFile],
    staging_dir: str | None = None,
    *,
    direct_bytes: int | None = DIRECT_BYTES,
    limits: Limits = DEFAULT_LIMITS,
    budget: int | None = BATCH_BUDGET,
) -> Staged:
    """Decompress the batch's files under safe names (runs in a helper thread).

    Every file is read in chunks within ``limits``, so memory stays bounded
    whatever a file holds; a file over the cap is a bad file.
    """
    staged = Staged(files=files)
    where = staging_dir or default_staging_dir()
    fd, staged.path = tempfile.mkstemp(prefix="phantomkeys-stage-", suffix=".ndjson", dir=where)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, f in enumerate(files):
                if budget is not None and staged.staged_bytes > budget and i > 0:
                    staged.deferred = files[i:]
                    break
                if direct_bytes is not None and f.size >= direct_bytes:
                    if staged.folder is None:
                        staged.folder = tempfile.mkdtemp(prefix="phantomkeys-direct-", dir=where)
                    problem = _stage_direct(staged, f, limits)
                else:
                    problem = _stage_line(staged, out, i, f, limits)
                if problem is not None:
                    staged.bad.append(problem)
    except BaseException:  # interrupted, out of memory or disk: leave nothing behind
        staged.discard()
        raise
    return staged


def _stage_line(staged: Staged, out: Any, i: int, f: SourceFile, limits: Limits) -> BadFile | None:
    """Append one small file to the staging file as one NDJSON line."""
    start = out.tell()
    out.write(b'{"f":' + json.dumps(str(f.path)).encode() + b',"d":')
    first = last = b""
    try:
        for chunk in iter_content(f.path, limits):
            if not first:
                first = chunk.lstrip()[:1]
            tail = chunk.rstrip()
            if tail:
                last = tail[-1:]
            if b"\n" in chunk or b"\r" in chunk:
                chunk = chunk.replace(b"\r", b" ").replace(b"\n", b" ")
            out.write(chunk)
    except DecodeError as exc:
        problem: BadFile | None = BadFile(f.name, str(exc))
    except OSError as exc:
        problem = _unreadable(f, exc)
    else:
        problem = None
        if first == b"{" and last == b"}":
            out.write(b"}\n")
            length = out.tell() - start
            staged.lines.append(i)
            staged.max_line = max(staged.max_line, length)
            staged.staged_bytes += length
            return None
        staged.not_json.append(f)
    out.seek(start)
    out.truncate()
    return problem


def _stage_direct(staged: Staged, f: SourceFile, limits: Limits) -> BadFile | None:
    """A large file: decompressed (gzip) or linked (plain) as ``<folder>/<n>.json``."""
    assert staged.folder is not None
    safe = os.path.join(staged.folder, f"{len(staged.direct)}.json")
    try:
        with open(f.path, "rb") as fh:
            compressed = fh.read(2) == b"\x1f\x8b"
        if not compressed:
            if f.size > limits.max_bytes:
                return BadFile(f.name, limits.size_reason())
            os.symlink(os.path.abspath(f.path), safe)
        else:
            with open(safe, "wb") as out:
                for chunk in iter_content(f.path, limits):
                    out.write(chunk)
                    staged.staged_bytes += len(chunk)
    except DecodeError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(safe)
        return BadFile(f.name, str(exc))
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(safe)
        return _unreadable(f, exc)
    staged.direct.append((f, safe))
    return None


def staged_read_expr(staged: Staged) -> str:
    assert staged.path is not None
    size = max(staged.max_line + 1024, 16 << 20)
    return (
        f"(SELECT f AS source_file, d.Records AS Records FROM read_json("
        f"{_sql_string(safe_path(staged.path))}, format='newline_delimited', "
        f"columns={{'f': 'VARCHAR', 'd': 'STRUCT(Records JSON[])'}}, "
        f"maximum_object_size={size}))"
    )


Progress = Callable[[int, int], None]


@dataclass(slots=True)
class _BatchOutcome:
    bad: list[BadFile] = field(default_factory=list)
    fallback_files: int = 0


class DuckDBEngine:
    """Run a rule pack over local log files with DuckDB."""

    name = ENGINE_NAME

    def __init__(
        self,
        pack: RulePack,
        *,
        threads: int | None = None,
        database: str = ":memory:",
        staging_dir: str | None = None,
        extra_columns: tuple[str, ...] = (),
        limits: Limits = DEFAULT_LIMITS,
        batch_budget: int = BATCH_BUDGET,
    ) -> None:
        self.pack = pack
        self.limits = limits
        self.batch_budget = batch_budget
        self.staging_dir = staging_dir or default_staging_dir()
        self.con = duckdb.connect(database)
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = false")
        self.columns = hit_columns(pack) + tuple(
            c for c in extra_columns if c not in hit_columns(pack)
        )
        self.compiled = compile_detections(pack, FLAT_DUCKDB)
        self.prefilter = Prefilter.for_pack(pack)
        self._create_tables()

    def _create_tables(self) -> None:
        q = FLAT_DUCKDB.quote
        hit_cols = ", ".join(
            f"{q(c)} {'TIMESTAMP' if c == F.EVENT_TIME else 'VARCHAR'}" for c in self.columns
        )
        self.con.execute(f"CREATE TABLE hits (rule_name VARCHAR, subject VARCHAR, {hit_cols})")
        self.con.execute(
            f"CREATE TEMP TABLE pre (source_file VARCHAR, r VARCHAR, "
            f"_no_records BOOLEAN, {q(F.EVENT_TIME)} TIMESTAMP)"
        )

    # ------------------------------------------------------------------ run

    def run(
        self,
        file_batches: Iterable[list[SourceFile]],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        progress: Progress | None = None,
    ) -> HuntResult:
        stats = HuntStats(engine=self.name)
        bad: list[BadFile] = []
        tf = time_filter(FLAT_DUCKDB, _iso(since), _iso(until))
        counts = f"SELECT count(*), count(*) FILTER (WHERE {tf or 'TRUE'}) FROM pre"
        # Pass 2: flatten the kept records once (a materialized CTE, no table
        # insert) and run every rule on them.
        flatten = flatten_select(
            "SELECT source_file, r FROM pre WHERE r IS NOT NULL" + (f" AND {tf}" if tf else "")
        )
        insert = f"INSERT INTO hits WITH batch AS MATERIALIZED ({flatten}) " + hits_select(
            self.compiled, FLAT_DUCKDB, "batch", self.columns, time_filter=tf
        )
        # Stage batch k+1 (Python: read, gunzip, concatenate) in a helper thread
        # while DuckDB parses and matches batch k: the two overlap on two cores.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pk-stage")
        ahead: Future[Staged] | None = None

        def submit(files: list[SourceFile]) -> Future[Staged]:
            return pool.submit(
                stage, files, self.staging_dir, limits=self.limits, budget=self.batch_budget
            )

        try:
            it = iter(file_batches)
            nxt = next(it, None)
            ahead = submit(nxt) if nxt is not None else None
            while nxt is not None and ahead is not None:
                staged = ahead.result()
                ahead = None
                nxt = next(it, None)
                ahead = submit(nxt) if nxt is not None else None
                while True:
                    files = staged.taken
                    deferred = staged.deferred
                    outcome = self.load_batch(files, staged)
                    bad.extend(outcome.bad)
                    stats.files_read += len(files) - len(outcome.bad)
                    stats.files_fallback += outcome.fallback_files
                    records, window = self._one(counts)
                    stats.records_read += int(records)
                    stats.records_in_window += int(window)
                    self.con.execute(insert)
                    if progress is not None:
                        progress(len(files), int(records))
                    if not deferred:
                        break
                    # The batch expanded past the budget: the rest is a follow-up part.
                    staged = stage(
                        deferred, self.staging_dir, limits=self.limits, budget=self.batch_budget
                    )
        finally:
            if ahead is not None:  # an error mid-run: do not leave a staging file behind
                with contextlib.suppress(Exception):  # the original error is the one to show
                    ahead.result().discard()
            pool.shutdown(wait=True)
        (stats.hits,) = self._one("SELECT count(*) FROM hits")
        findings = findings_from_duckdb(self.con, self.pack, "hits")
        return HuntResult(
            findings=tuple(findings),
            stats=stats,
            bad_files=tuple(bad),
            pack=self.pack,
            profile=profile_from_duckdb(self.con, "hits"),
        )

    def _one(self, sql: str) -> tuple[Any, ...]:
        row = self.con.execute(sql).fetchone()
        assert row is not None
        return tuple(row)

    # -------------------------------------------------------------- loading

    def _insert_pre(self, read_expr: str, source_expr: str = "filename") -> None:
        self.con.execute(
            "INSERT INTO pre BY NAME "
            + self.prefilter.select(records_select(read_expr, source_expr))
        )

    def load_batch(self, files: list[SourceFile], staged: Staged | None = None) -> _BatchOutcome:
        """Replace the ``pre`` table with the records of ``files`` (pass 1)."""
        self.con.execute("DELETE FROM pre")
        outcome = _BatchOutcome()
        pending: list[SourceFile] = []
        if staged is None:
            staged = stage(files, self.staging_dir, limits=self.limits, budget=None)
        outcome.bad.extend(staged.bad)
        pending.extend(staged.not_json)
        try:
            self._insert_staged(staged, pending)
            self._insert_direct(staged.direct, pending)
        finally:
            staged.discard()
        # Files that parsed but hold no "Records" (NDJSON events, Lake results,
        # junk): drop their rows and let the Python decoder judge them.
        no_records = self.con.execute(
            "SELECT DISTINCT source_file FROM pre WHERE _no_records"
        ).fetchall()
        if no_records:
            self.con.execute(
                "DELETE FROM pre WHERE source_file IN "
                "(SELECT source_file FROM pre WHERE _no_records)"
            )
            for (key,) in no_records:
                pending.append(staged.lookup(key))
        for f in pending:
            outcome.fallback_files += 1
            problem = self._insert_decoded(f)
            if problem is not None:
                outcome.bad.append(problem)
        return outcome

    def _insert_staged(self, staged: Staged, pending: list[SourceFile]) -> None:
        if not staged.lines:
            return
        try:
            self._insert_pre(staged_read_expr(staged), "source_file")
            return
        except duckdb.Error:
            pass
        # Some file's content is not valid JSON: re-stage halves to isolate it.
        members = [staged.files[i] for i in staged.lines]
        if len(members) == 1:
            pending.append(members[0])
            return
        mid = len(members) // 2
        for half in (members[:mid], members[mid:]):
            sub = stage(half, self.staging_dir, direct_bytes=None, limits=self.limits, budget=None)
            try:
                self._insert_staged(sub, pending)
            finally:
                sub.discard()
            pending.extend(sub.not_json)

    def _insert_direct(
        self, files: list[tuple[SourceFile, str]], pending: list[SourceFile]
    ) -> None:
        """Large files: DuckDB reads them itself; on error, bisect to the bad ones."""
        if not files:
            return
        # DuckDB reads the safe names; each row is labelled with the user's path.
        names = ", ".join(f"({_sql_string(safe)}, {_sql_string(str(f.path))})" for f, safe in files)
        read = (
            f"(SELECT m.source AS source_file, t.Records AS Records "
            f"FROM {read_json_expr([safe for _, safe in files])} AS t "
            f"JOIN (VALUES {names}) AS m(safe, source) ON t.filename = m.safe)"
        )
        try:
            self._insert_pre(read, "source_file")
        except duckdb.Error:
            if len(files) == 1:
                pending.append(files[0][0])
                return
            mid = len(files) // 2
            self._insert_direct(files[:mid], pending)
            self._insert_direct(files[mid:], pending)

    def _insert_decoded(self, f: SourceFile) -> BadFile | None:
        try:
            events = decode_file(f.path, self.limits)
        except DecodeError as exc:
            return BadFile(f.name, str(exc))
        except OSError as exc:
            return BadFile(f.name, f"unreadable ({exc.strerror or exc})")
        if not events:
            return None
        fd, tmp = tempfile.mkstemp(suffix=".json", prefix="phantomkeys-", dir=self.staging_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"Records": events}, fh, separators=(",", ":"), default=str)
                fh.write("\n")
            self._insert_pre(read_json_expr([tmp]), _sql_string(str(f.path)))
        except duckdb.Error as exc:
            return BadFile(f.name, f"unreadable records ({str(exc).splitlines()[0]})")
        finally:
            os.unlink(tmp)
        return None

    def close(self) -> None:
        self.con.close()


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None
