"""Run a leak scan over paths, stdin, staged changes or git history.

:func:`scan` never prints and never raises for a bad file: unreadable files,
failing git commands and skipped binaries come back in :class:`LeakScan` as
values for the report. :func:`build_document` turns a scan into the shared
report document (``{schema_version, tool, metadata, findings, rules}``).

Files are scanned by ``jobs`` processes where ``os.fork`` is available (helpers
are forked once a scan has run long enough to pay for them); elsewhere by
``jobs`` threads when ``ahocorasick_rs`` is installed (its search and the reads
release the GIL), else by a process pool on large scans.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from phantomkeys._meta import envelope
from phantomkeys.core.completeness import Coverage, coverage_of
from phantomkeys.core.completeness import Skipped as CoverageSkip
from phantomkeys.leaks.findings import RULES
from phantomkeys.leaks.model import (
    FileResult,
    LocatedHit,
    ScanError,
    Skipped,
    SkipReason,
)
from phantomkeys.leaks.patterns import fast_search
from phantomkeys.leaks.scanner import CHUNK_SIZE, Scanner, clear_decode_cache
from phantomkeys.leaks.sources import UNKNOWN_SIZE, FileEntry, iter_files

if TYPE_CHECKING:
    import multiprocessing.context

    from phantomkeys.core.findings import Finding

# Imported where used, not here: multiprocessing, concurrent.futures and the git
# modules cost ~30 ms of start-up that a folder scan of a few files never needs.

STDIN_LABEL = "<stdin>"
#: Below this many bytes a process pool costs more than it saves (the stdlib
#: fallback search holds the GIL, so only processes run it in parallel).
POOL_MIN_BYTES = 48 << 20
#: With ``ahocorasick_rs`` the search and the reads release the GIL: ``jobs``
#: threads scan in parallel, and start in microseconds (no threshold needed).
_BATCH_BYTES = 32 << 20
_BATCH_FILES = 2000
#: Files a thread takes from the shared cursor at a time.
_THREAD_BATCH_FILES = 16
#: Files a forked worker takes from the shared queue at a time.
_FORK_BATCH_FILES = 16
#: Helpers are forked once the scan has run this long with files left: a small
#: scan ends before a fork would pay for itself.
FORK_AFTER_SECONDS = 0.015
#: How long a worker waits for the queue before checking that the others live.
_QUEUE_POLL_SECONDS = 1.0
#: How many skipped paths the report lists (all are counted).
MAX_SKIPPED_LISTED = 200


@dataclass(frozen=True, slots=True)
class ScanOptions:
    history: bool = False
    #: ``--respect-gitignore``: leave out what git ignores (counted and shown as
    #: skipped). Off by default: ignored files are where keys live.
    respect_ignore: bool = False
    staged: bool = False
    jobs: int = 2
    partition: str = "aws"
    chunk_size: int = CHUNK_SIZE


@dataclass
class LeakScan:
    hits: list[LocatedHit] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    files_binary: int = 0
    blobs_scanned: int = 0
    blobs_binary: int = 0
    commits: int = 0
    candidates_rejected: int = 0
    repositories: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    #: The one repository whose root history paths are relative to (``--history`` of a
    #: single PATH), else ``None``.
    repository_root: str | None = None
    #: Files the user named on the command line: skipping one makes the scan incomplete.
    named: set[str] = field(default_factory=set)

    def add_file(self, res: FileResult) -> None:
        if res.error is not None:
            self.errors.append(ScanError(res.path, res.error))
            return
        if res.skipped is not None:
            if res.skipped is SkipReason.BINARY:
                self.files_binary += 1
            self.skipped.append(Skipped(res.path, res.skipped))
            return
        self.files_scanned += 1
        self.bytes_scanned += res.size
        self.candidates_rejected += res.rejected
        self.hits.extend(LocatedHit(path=res.path, hit=h) for h in res.hits)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "files_skipped_binary": self.files_binary,
            "candidates_rejected": self.candidates_rejected,
            "duration_seconds": round(self.duration_seconds, 3),
        }
        if self.repositories:
            out.update(
                blobs_scanned=self.blobs_scanned,
                blobs_skipped_binary=self.blobs_binary,
                commits=self.commits,
            )
        return out

    def coverage(self, asked_for: str | None) -> Coverage:
        """What was read and what was not (``asked_for`` names the paths given; the
        scan read nothing of them when no file and no blob was read)."""
        read = {"files": self.files_scanned}
        if self.repositories:
            read.update(blobs=self.blobs_scanned, commits=self.commits)
        items: list[CoverageSkip] = [
            CoverageSkip(
                "directory" if s.reason in _DIRECTORY_SKIPS else "file",
                s.path,
                _SKIP_WORDS.get(s.reason, s.reason.value),
                # skipped on purpose, unless the user named this very file
                incomplete=s.path in self.named,
            )
            for s in self.skipped
        ]
        if self.blobs_binary:
            items.append(
                CoverageSkip(
                    "blob", "git history", "binary", count=self.blobs_binary, incomplete=False
                )
            )
        items.extend(CoverageSkip("file", e.path, e.error) for e in self.errors)
        return coverage_of(read, items, asked_for=asked_for)


#: Skip reasons that (may) name a whole directory.
_DIRECTORY_SKIPS = frozenset({SkipReason.VCS, SkipReason.SUBMODULE})
_SKIP_WORDS = {
    SkipReason.IGNORED: "git-ignored (--respect-gitignore)",
    SkipReason.VCS: "VCS internals (--history reads git history)",
    SkipReason.BINARY: "binary",
    SkipReason.SYMLINK: "symlink (not followed)",
}


# --------------------------------------------------------------- workers

_WORKER_SCANNER: Scanner | None = None


def _scan_batch(paths: list[tuple[str, str]], partition: str, chunk_size: int) -> list[FileResult]:
    global _WORKER_SCANNER
    if (
        _WORKER_SCANNER is None
        or _WORKER_SCANNER.partition != partition
        or _WORKER_SCANNER.chunk_size != chunk_size
    ):
        _WORKER_SCANNER = Scanner(partition=partition, chunk_size=chunk_size)
    return [_WORKER_SCANNER.scan_file(p, label=label) for p, label in paths]


def _batches(
    entries: list[FileEntry], max_bytes: int = _BATCH_BYTES, max_files: int = _BATCH_FILES
) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    size = 0
    for e in entries:
        batch.append((e.path, e.shown))
        size += max(e.size, 0)
        if size >= max_bytes or len(batch) >= max_files:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _sized(entries: list[FileEntry]) -> list[FileEntry]:
    """Entries with their sizes looked up where the listing left them unknown."""
    out = []
    for e in entries:
        if e.size == UNKNOWN_SIZE:
            try:
                e = FileEntry(e.path, os.lstat(e.path).st_size, e.label)
            except OSError:
                e = FileEntry(e.path, 0, e.label)  # scan_file reports the error
        out.append(e)
    return out


def scan_entries(entries: list[FileEntry], options: ScanOptions) -> Iterator[FileResult]:
    """Scan files, results in the order of ``entries``: in ``options.jobs`` forked
    processes where this process can fork; else in that many threads when the
    GIL-free search is installed, else in a process pool of that size, when
    either pays off."""
    if options.jobs > 1 and len(entries) > _FORK_BATCH_FILES and _can_fork():
        yield from _scan_forked(entries, options)
        return
    if options.jobs > 1 and len(entries) > 1 and fast_search() is not None:
        yield from _scan_threaded(entries, options)
        return
    if options.jobs > 1 and len(entries) > 1:
        entries = _sized(entries)
        if sum(e.size for e in entries) >= POOL_MIN_BYTES:
            yield from _scan_processes(entries, options)
            return
    scanner = Scanner(partition=options.partition, chunk_size=options.chunk_size)
    for e in entries:
        yield scanner.scan_file(e.path, label=e.shown)


def _scan_threaded(entries: list[FileEntry], options: ScanOptions) -> Iterator[FileResult]:
    """``options.jobs`` threads take the next few files from a shared cursor until
    none are left (no sizes needed to balance the work)."""
    import threading

    results: list[FileResult | None] = [None] * len(entries)
    cursor = iter(range(0, len(entries), _THREAD_BATCH_FILES))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        scanner = Scanner(partition=options.partition, chunk_size=options.chunk_size)
        try:
            while True:
                with lock:
                    start = next(cursor, None)
                if start is None or failures:
                    return
                for i in range(start, min(start + _THREAD_BATCH_FILES, len(entries))):
                    e = entries[i]
                    results[i] = scanner.scan_file(e.path, label=e.shown)
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [
        threading.Thread(target=work, name=f"leaks-{n}", daemon=True)
        for n in range(options.jobs - 1)
    ]
    for t in threads:
        t.start()
    work()  # this thread is a worker too
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    for res in results:
        assert res is not None
        yield res


def _can_fork() -> bool:
    """``os.fork`` exists and this process runs one thread (forking a threaded
    process can deadlock the child on a lock another thread held). Not on macOS,
    where system libraries are not fork-safe (multiprocessing spawns there)."""
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return False
    threading = sys.modules.get("threading")  # not imported: one thread
    return threading is None or threading.active_count() == 1


def _scan_forked(entries: list[FileEntry], options: ScanOptions) -> Iterator[FileResult]:
    """Scan in this process and, once the scan has run for :data:`FORK_AFTER_SECONDS`
    with files left, in ``options.jobs - 1`` forked helpers too.

    Why processes: with threads the per-file Python (open, fstat, the result)
    serialises on the GIL, and on the 1 GB benchmark tree two threads took
    longer than one; two processes took half the time. Why ``fork``: the
    helpers share the listing and the compiled patterns without a pickle or an
    import (a process pool costs ~60 ms of imports alone).

    Every worker takes the next batch of files from a shared queue: a pipe that
    holds one 8-byte counter, read (only one reader gets it) and written back
    incremented. A helper sends its results back pickled when the queue is
    exhausted, and exits with ``os._exit`` (nothing of this process's
    ``atexit`` or buffered output runs twice). A helper whose parent is gone,
    or a parent whose helper died, notices it while waiting for the queue.
    """
    import pickle
    import select
    import signal

    batches = -(-len(entries) // _FORK_BATCH_FILES)
    queue_r, queue_w = os.pipe()
    os.set_blocking(queue_r, False)
    os.write(queue_w, (0).to_bytes(8, "little"))
    parent = os.getpid()
    helpers: dict[int, int] = {}  # pid -> read end of its result pipe
    exited: dict[int, int] = {}  # pid -> wait status, for helpers reaped early
    results: list[FileResult | None] = [None] * len(entries)
    scanner = Scanner(partition=options.partition, chunk_size=options.chunk_size)

    def take() -> int | None:
        """The next batch number, or ``None`` when every batch is taken."""
        while True:
            try:
                data = os.read(queue_r, 8)
            except BlockingIOError:  # another worker holds the counter: a moment
                ready, _, _ = select.select([queue_r], [], [], _QUEUE_POLL_SECONDS)
                if not ready:
                    check_others()
                continue
            n = int.from_bytes(data, "little")
            os.write(queue_w, (n + 1 if n < batches else n).to_bytes(8, "little"))
            return n if n < batches else None

    def check_others() -> None:
        if os.getpid() != parent:
            if os.getppid() != parent:
                os._exit(1)  # the parent is gone: nobody wants the results
            return
        for pid in helpers:
            if pid not in exited:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exited[pid] = status
                    if status != 0:  # died, possibly holding the counter
                        raise RuntimeError(f"leak scan worker {pid} died (status {status})")

    def work(out: list[tuple[int, FileResult]], *, fork_helpers: bool) -> None:
        started = time.perf_counter()
        while (n := take()) is not None:
            for i in range(n * _FORK_BATCH_FILES, min((n + 1) * _FORK_BATCH_FILES, len(entries))):
                e = entries[i]
                out.append((i, scanner.scan_file(e.path, label=e.shown)))
            if fork_helpers and time.perf_counter() - started >= FORK_AFTER_SECONDS:
                fork_helpers = False
                if n + 1 < batches:
                    for _ in range(options.jobs - 1):
                        start_helper()

    def start_helper() -> None:
        read_end, write_end = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: this one scans on alone
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # the helper
            status = 1
            try:
                os.close(read_end)
                for other in helpers.values():
                    os.close(other)
                out: list[tuple[int, FileResult]] = []
                work(out, fork_helpers=False)
                payload: object = _pack(out)
                status = 0
            except BaseException as exc:  # sent back and re-raised by the parent
                payload = exc
            try:
                with os.fdopen(write_end, "wb") as fh:
                    pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            finally:
                os._exit(status)
        os.close(write_end)
        helpers[pid] = read_end

    try:
        mine: list[tuple[int, FileResult]] = []
        work(mine, fork_helpers=True)
        for i, res in mine:
            results[i] = res
        for pid, read_end in list(helpers.items()):
            with os.fdopen(read_end, "rb") as fh:
                del helpers[pid]
                try:
                    payload = pickle.load(fh)  # noqa: S301 - our own child, a private pipe
                except EOFError:
                    payload = RuntimeError(f"leak scan worker {pid} died without results")
            if pid not in exited:
                _, exited[pid] = os.waitpid(pid, 0)
            if isinstance(payload, BaseException):
                raise payload
            _unpack(payload, entries, results)
    finally:
        for pid, read_end in helpers.items():  # after an error: stop the rest
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.close(read_end)
            if pid not in exited:
                with contextlib.suppress(OSError):
                    os.waitpid(pid, 0)
        os.close(queue_r)
        os.close(queue_w)
    for done in results:
        assert done is not None
        yield done


def _pack(
    out: list[tuple[int, FileResult]],
) -> tuple[list[tuple[int, FileResult]], list[int], list[int]]:
    """A helper's results for the pipe: most files hold nothing, and for them the
    index and size are enough (unpickling ~10,000 frozen dataclasses costs the
    parent more than scanning a few MB)."""
    full = []
    clean_index = []
    clean_size = []
    for i, res in out:
        if res.hits or res.skipped or res.error is not None or res.rejected:
            full.append((i, res))
        else:
            clean_index.append(i)
            clean_size.append(res.size)
    return full, clean_index, clean_size


def _unpack(
    packed: tuple[list[tuple[int, FileResult]], list[int], list[int]],
    entries: list[FileEntry],
    results: list[FileResult | None],
) -> None:
    full, clean_index, clean_size = packed
    for i, res in full:
        results[i] = res
    for i, size in zip(clean_index, clean_size, strict=True):
        results[i] = FileResult(path=entries[i].shown, size=size)


def _scan_processes(entries: list[FileEntry], options: ScanOptions) -> Iterator[FileResult]:
    from concurrent.futures import ProcessPoolExecutor

    # Big files first so the pool does not end waiting on one straggler; results
    # are put back in the order of ``entries``.
    order = sorted(range(len(entries)), key=lambda i: -entries[i].size)
    ordered = [entries[i] for i in order]
    results: list[FileResult | None] = [None] * len(entries)
    done = 0
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=_mp_context()) as pool:
        futures = [
            pool.submit(_scan_batch, batch, options.partition, options.chunk_size)
            for batch in _batches(ordered)
        ]
        for fut in futures:
            for got in fut.result():
                results[order[done]] = got
                done += 1
    for res in results:
        assert res is not None
        yield res


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` when this process has a single thread (starts in milliseconds, nothing
    to re-import); otherwise the thread-safe ``forkserver`` or ``spawn``."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# ------------------------------------------------------------------- scan


def scan(
    paths: Sequence[str], options: ScanOptions = ScanOptions(), *, stdin: BinaryIO | None = None
) -> LeakScan:
    """Scan ``paths`` (``-`` is ``stdin``) as the options say."""
    try:
        return _scan(paths, options, stdin)
    finally:
        clear_decode_cache()  # it holds the keys seen: not kept past the scan


def _scan(paths: Sequence[str], options: ScanOptions, stdin: BinaryIO | None) -> LeakScan:
    started = time.perf_counter()
    result = LeakScan()
    scanner = Scanner(partition=options.partition, chunk_size=options.chunk_size)
    if options.staged:
        from phantomkeys.leaks.staged import scan_staged

        for repo in paths or ["."]:
            files, errors = scan_staged(repo, scanner)
            result.errors.extend(errors)
            for res in files:
                result.add_file(res)
        result.duration_seconds = time.perf_counter() - started
        return result
    entries: list[FileEntry] = []
    for path in paths:
        if path == "-":
            if stdin is None:
                result.errors.append(ScanError(STDIN_LABEL, "no standard input"))
                continue
            result.add_file(
                scanner.scan_stream(
                    stdin.readinto,  # type: ignore[attr-defined]
                    label=STDIN_LABEL,
                )
            )
        elif options.history and os.path.isdir(path):
            # One repository: paths relative to its root (SARIF's %SRCROOT%), wherever
            # the scan runs from. Several paths: each repository's paths are prefixed
            # with where it is, so they stay apart.
            alone = len(paths) == 1
            _scan_repository(path, options, scanner, result, entries, root_relative=alone)
        else:
            if not os.path.isdir(path):
                result.named.add(path)
            for item in iter_files([path], respect_ignore=options.respect_ignore):
                if isinstance(item, FileEntry):
                    entries.append(item)
                elif isinstance(item, Skipped):
                    result.skipped.append(item)
                else:
                    result.errors.append(item)
    unique = list({e.path: e for e in entries}.values())  # a file named twice is read once
    for res in scan_entries(unique, options):
        result.add_file(res)
    result.duration_seconds = time.perf_counter() - started
    return result


def _scan_repository(
    path: str,
    options: ScanOptions,
    scanner: Scanner,
    result: LeakScan,
    entries: list[FileEntry],
    *,
    root_relative: bool = True,
) -> None:
    from phantomkeys.leaks import history as git_history

    try:
        hist = git_history.scan_history(
            path,
            scanner,
            display="" if root_relative else None,
            jobs=options.jobs,
            worktree=not options.respect_ignore,
        )
    except (git_history.HistoryError, OSError) as exc:
        result.errors.append(ScanError(path, f"--history: {exc}"))
        return
    result.repositories.append(hist.repo)
    shown = "" if root_relative else os.path.relpath(hist.repo)
    if root_relative:
        result.repository_root = hist.repo
    result.hits.extend(hist.hits)
    result.blobs_scanned += hist.blobs_scanned
    result.blobs_binary += hist.blobs_binary
    result.bytes_scanned += hist.bytes_scanned
    result.commits += hist.commits
    result.candidates_rejected += hist.rejected
    result.errors.extend(hist.errors)
    # Uncommitted work: modified and untracked files (ignored ones too with --all),
    # listed while the history was scanned.
    if hist.worktree_error is not None:
        result.errors.append(
            ScanError(path, f"--history: listing work-tree changes: {hist.worktree_error}")
        )
        return
    if options.respect_ignore:
        from phantomkeys.leaks.sources import git_ignored

        ignored = git_ignored(hist.repo)
        if ignored is None:
            result.errors.append(ScanError(path, "--history: listing git-ignored files failed"))
        else:
            result.skipped.extend(
                Skipped(_label(shown, rel), SkipReason.IGNORED) for rel in ignored
            )
    for rel in hist.worktree:
        full = os.path.join(hist.repo, rel)
        label = _label(shown, rel)
        try:
            size = os.lstat(full).st_size
        except OSError:
            continue  # deleted in the work tree
        if os.path.isfile(full) and not os.path.islink(full):
            entries.append(FileEntry(full, size, label))


def _label(shown: str, rel: str) -> str:
    return rel if shown in ("", ".") else os.path.join(shown, rel)


# ---------------------------------------------------------------- document


def build_document(
    scan_result: LeakScan,
    findings: Sequence[Finding],
    *,
    at: datetime,
    paths: Sequence[str],
    options: ScanOptions,
    baseline: Mapping[str, Any] | None = None,
    verify: Mapping[str, Any] | None = None,
    coverage: Coverage | None = None,
) -> dict[str, Any]:
    """The report document every output format renders (its ``coverage`` block is
    ``coverage`` when given, else the scan's own)."""
    if coverage is None:
        coverage = scan_result.coverage(None)
    skipped = scan_result.skipped
    metadata: dict[str, Any] = {
        "command": "leaks",
        "scan_time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "paths": list(paths),
        "mode": "staged" if options.staged else ("history" if options.history else "files"),
        "respect_gitignore": options.respect_ignore,
        "stats": scan_result.stats(),
        "skipped": [s.to_dict() for s in skipped[:MAX_SKIPPED_LISTED]],
        "skipped_total": len(skipped),
        "errors": [e.to_dict() for e in scan_result.errors],
        "complete": coverage.complete,
    }
    if scan_result.repositories:
        metadata["repositories"] = scan_result.repositories
    if scan_result.repository_root is not None:
        # history paths are relative to the repository root (SARIF's %SRCROOT%)
        metadata["repository_root"] = scan_result.repository_root
    if baseline is not None:
        metadata["baseline"] = dict(baseline)
    if verify is not None:
        metadata["verify"] = dict(verify)
    document = envelope(
        metadata=metadata,
        summary=_summary(findings),
        findings=[f.to_dict() for f in findings],
        rules=[r.to_dict() for r in RULES],
    )
    document["coverage"] = coverage.to_json()
    return document


def _summary(findings: Sequence[Finding]) -> dict[str, Any]:
    by_severity: dict[str, int] = {}
    by_surface: dict[str, int] = {}
    for f in findings:
        by_severity[f.severity.value] = by_severity.get(f.severity.value, 0) + 1
        surface = str(f.evidence.get("surface", ""))
        by_surface[surface] = by_surface.get(surface, 0) + 1
    return {
        "findings": len(findings),
        "by_severity": by_severity,
        "by_surface": by_surface,
        "keys": len({f.evidence.get("token_sha256") for f in findings}),
    }
