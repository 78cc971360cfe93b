"""Scan every reachable commit of a git repository, each distinct blob once.

Pipeline (git walks, inflates and searches in C; Python decodes only blobs that
hold a key prefix)::

    cat-file --batch-all-objects --batch-check --unordered   every blob once, in
        |                                                   pack order, with its
        v                                                   delta base
    mktree (in a throw-away object directory)  -> one synthetic tree per worker,
        |                                        whole delta families together
        v
    git grep -l -F <the four key prefixes> <tree>   x jobs, in parallel
        |
        v  blobs containing a prefix (almost always few), relayed as each
        v  grep names them: decoding overlaps the greps, not follows them
    cat-file --batch -> Scanner          exact candidates, decoded
        |
        v
    git log --all --raw  (started first, runs alongside; read only when some
                          blob holds a key) -> commits and paths that added and
                          removed each key; ls-tree HEAD -> still in HEAD?

Why: piping every blob through Python costs more than git inflating it (730 MB
of distinct content in a 20,000-commit repository: ~1.3 s of CPU for the pipe
alone), while ``git grep`` reads each blob in-process and searches it with its
own literal matcher. Every key starts with one of the four prefixes verbatim,
so a blob without one cannot hold a key: the prefilter loses nothing, and the
blobs it passes are scanned by the same :class:`Scanner` as files. Delta
families (all versions of a file) go to the same worker so that each worker's
delta-base cache stays warm; splitting otherwise costs more than it saves.
The synthetic trees are written stored (zlib level 0): compressing them cost
more than git saves reading them back, on the critical path before the greps.

The synthetic trees are written with ``GIT_OBJECT_DIRECTORY`` pointing to a
temporary directory and the repository's object store as an alternate: the
repository is never written to. Scanning scales with the size of the *distinct
content*, not with commits x tree size as ``git grep $(git rev-list --all)``
(what ``git secrets --scan-history`` runs) does.

Every blob in the object store is searched, unreachable ones included (they
are few after ``git gc``, none in a fresh clone); only keys in blobs that some
ref reaches are reported: blobs the log does not show (merge resolutions, a tag
of a blob) are looked up with one ``git log -m --find-object`` walk, then
``git rev-list --objects --all``, only when there are such blobs.

Statistics: ``blobs_scanned``/``bytes_scanned`` count every distinct blob
searched; ``blobs_skipped_binary`` counts binary blobs holding a key prefix
(binary blobs without one need no decision).

Memory: one dict entry per blob (~100 bytes) for the delta-family map while
the listing is read (git's own ``rev-list --objects`` holds more), one
synthetic tree's entries per worker, the blobs that hold a prefix; the log goes
to a temporary file and is parsed in pieces; blob content is never held in Python
beyond one chunk.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import os
import subprocess
import tempfile
import threading
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from phantomkeys.leaks.gitcmd import git_argv
from phantomkeys.leaks.model import (
    Appearance,
    FileResult,
    HistoryInfo,
    KeyHit,
    LocatedHit,
    ScanError,
)
from phantomkeys.leaks.patterns import TRIGGERS
from phantomkeys.leaks.scanner import Scanner, is_binary

_BATCH_FORMAT = "--batch=%(objectname) %(objecttype) %(objectsize)"
_LISTING_FORMAT = "--batch-check=%(objecttype) %(objectname) %(objectsize) %(deltabase)"
_MAX_FIND_OBJECT = 500  # merge-only blobs looked up per extra walk of the log
_MAX_PATHSPECS = 2000  # beyond this, log every path (command-line length)
_PIPE_BUFFER = 1 << 20
#: Entries per synthetic tree: git reads a whole tree object into memory.
_TREE_ENTRIES = 50_000
#: ``git log`` output is parsed in pieces of about this size (bounded memory).
_LOG_PIECE = 8 << 20
#: What no ``git`` config may change in the commands whose output is parsed.
_LOG_CONFIG = ("-c", "log.showRoot=true", "-c", "log.showSignature=false", "-c", "color.ui=false")
_GREP_PATTERNS = [arg for t in TRIGGERS for arg in ("-e", t.decode("ascii"))]


class HistoryError(Exception):
    """The path is not a git repository, or git failed (shown as a ScanError)."""


@dataclass
class HistoryScan:
    repo: str
    hits: list[LocatedHit] = field(default_factory=list)
    blobs_scanned: int = 0
    blobs_binary: int = 0
    bytes_scanned: int = 0
    commits: int = 0
    rejected: int = 0
    errors: list[ScanError] = field(default_factory=list)
    #: The commits that added or removed the blobs holding keys (``git log --raw``).
    changes: list[_RawChange] = field(default_factory=list, repr=False)
    commits_counted: bool = False
    #: Modified and untracked files (``scan_history(worktree=...)``), or the error.
    worktree: list[str] = field(default_factory=list)
    worktree_error: str | None = None
    #: Blobs searched by ``git grep`` because they hold a key prefix.
    blobs_with_prefix: int = 0


def _git(repo: str, *args: str, timeout: float = 3600) -> bytes:
    proc = subprocess.run(  # noqa: S603 - argv list, no shell
        git_argv("-C", repo, *args),
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise HistoryError(msg[-1] if msg else f"git {args[0]} failed")
    return proc.stdout


def repo_toplevel(path: str) -> str:
    try:
        out = _git(path, "rev-parse", "--show-toplevel", timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HistoryError(f"cannot run git: {exc}") from None
    return out.decode("utf-8", "replace").strip()


class _Limited:
    """``readinto`` over the next ``remaining`` bytes of a pipe (one big blob)."""

    def __init__(self, stream: IO[bytes], remaining: int) -> None:
        self.stream = stream
        self.remaining = remaining

    def readinto(self, view: memoryview) -> int:
        if self.remaining <= 0:
            return 0
        n = self.stream.readinto(view[: min(len(view), self.remaining)])  # type: ignore[attr-defined]
        self.remaining -= n or 0
        return n or 0


class _Git:
    """A git process whose stderr goes to a temporary file (never blocks on it)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        stdin: int | None = None,
        stdout: int | IO[bytes] | None = subprocess.PIPE,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=self._stderr,
            env=env,
            bufsize=_PIPE_BUFFER,
        )

    def finish(self, ok: tuple[int, ...] = (0,)) -> str | None:
        """Wait; the error message when the exit code is not in ``ok``."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        code = self.proc.wait()
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", "replace").strip()
        self._stderr.close()
        if code in ok:
            return None
        last = err.splitlines()[-1] if err else f"exit status {code}"
        return f"git {self.name} failed: {last}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        self.finish(ok=(self.proc.wait(),))


def _object_dir(repo: str) -> str:
    out = _git(repo, "rev-parse", "--git-path", "objects", timeout=60)
    return os.path.join(repo, os.fsdecode(out.strip()))


def _scratch_env(repo: str, scratch: str) -> dict[str, str]:
    """Write new objects to ``scratch``; read the repository's as an alternate."""
    alternates = [_quote_alternate(_object_dir(repo))]
    if os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES"):
        alternates.append(os.environ["GIT_ALTERNATE_OBJECT_DIRECTORIES"])
    return {
        **os.environ,
        "GIT_OBJECT_DIRECTORY": scratch,
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(alternates),
    }


def _quote_alternate(path: str) -> str:
    """git reads a double-quoted alternate C-style: a path holding ``:`` stays whole."""
    if not any(c in path for c in (os.pathsep, '"', "\\", "\n")):
        return path
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _TreeWriter:
    """Writes synthetic trees of blobs, ``_TREE_ENTRIES`` at most each, as loose
    objects into the scratch object directory (what ``git mktree`` would write,
    without a process and a second parse of every line).

    Entry names are ``<sequence>-<blob>``: git keeps a tree sorted by name, so the
    fixed-width sequence keeps the blobs in pack order, and ``git grep`` prints
    the blob id. The object format (SHA-1 or SHA-256) follows the blob ids.
    """

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch
        self.entries: list[bytes] = []
        self.trees: list[str] = []

    def add(self, blob: bytes, seq: int) -> None:
        self.entries.append(b"100644 %010d-%s\0%s" % (seq, blob, binascii.unhexlify(blob)))
        if len(self.entries) >= _TREE_ENTRIES:
            self.flush()

    def flush(self) -> None:
        if not self.entries:
            return
        algorithm = "sha256" if self.entries[0].index(b"\0") - 18 == 64 else "sha1"
        body = b"".join(self.entries)
        self.entries = []
        data = b"tree %d\0%s" % (len(body), body)
        oid = hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
        folder = os.path.join(self.scratch, oid[:2])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, oid[2:]), "wb") as fh:
            fh.write(zlib.compress(data, 0))  # stored: git inflates it as a copy
        self.trees.append(oid)


def _scan_candidates(
    repo: str, jobs: int, scanner: Scanner, result: HistoryScan
) -> dict[str, list[KeyHit]]:
    """Every blob in the object store searched once by ``git grep``; the blobs it
    passes (those holding a key prefix) decoded as they come, while the greps
    still run. The blobs with hits, in pack order."""
    listing = _Git(
        "cat-file",
        git_argv("-C", repo, "cat-file", "--batch-all-objects", _LISTING_FORMAT, "--unordered"),
    )
    with tempfile.TemporaryDirectory(prefix="phantomkeys-history-") as scratch:
        env = _scratch_env(repo, scratch)
        trees = _write_trees(listing, scratch, jobs, result)
        greps = [
            _Git(
                "grep",
                git_argv(
                    "-C",
                    repo,
                    "-c",
                    "grep.threads=1",
                    "grep",
                    "-l",
                    "-z",
                    "-F",
                    "--no-color",
                    "--no-textconv",
                    *_GREP_PATTERNS,
                    *ids,
                    "--",
                ),
                env=env,
            )
            for ids in trees
            if ids
        ]
        try:
            found, order = _decode_passed(repo, scanner, greps, result)
        except BaseException:
            for grep in greps:
                grep.kill()
            raise
        err = None
        for grep in greps:
            err = grep.finish(ok=(0, 1)) or err
        if err:
            raise HistoryError(err)
    result.blobs_with_prefix = len(order)
    return {blob: found[blob] for blob in sorted(found, key=order.__getitem__)}


def _write_trees(listing: _Git, scratch: str, jobs: int, result: HistoryScan) -> list[list[str]]:
    """The synthetic trees of every blob the listing shows, per worker, whole
    delta families together; ``blobs_scanned``/``bytes_scanned`` counted."""
    assert listing.proc.stdout is not None
    workers = max(1, jobs)
    writers = [_TreeWriter(scratch) for _ in range(workers)]
    load = [0] * workers
    family: dict[bytes, int] = {}  # blob -> worker of its delta family
    seq = 0
    try:
        for line in listing.proc.stdout:
            if not line.startswith(b"blob "):
                continue
            _, blob, size_text, base = line.split()
            size = int(size_text)
            worker = family.get(base)
            if worker is None:  # a family's root: to the least loaded worker
                worker = min(range(workers), key=load.__getitem__)
            family[blob] = worker
            load[worker] += size
            result.blobs_scanned += 1
            result.bytes_scanned += size
            writers[worker].add(blob, seq)
            seq += 1
    finally:
        err = listing.finish()
    family.clear()
    for writer in writers:
        writer.flush()
    if err:
        raise HistoryError(err)
    return [writer.trees for writer in writers]


def _decode_passed(
    repo: str, scanner: Scanner, greps: list[_Git], result: HistoryScan
) -> tuple[dict[str, list[KeyHit]], dict[str, int]]:
    """Decode the blobs the ``greps`` name, read with ``cat-file --batch`` as the
    names come: ``({blob: hits}, {blob: pack sequence})`` for every blob named.

    One thread per grep relays its output to cat-file (a grep's names arrive in
    pieces while it runs); this thread decodes what cat-file sends back.
    """
    found: dict[str, list[KeyHit]] = {}
    order: dict[str, int] = {}
    if not greps:
        return found, order
    # no --buffer: cat-file sends each blob as soon as it is asked for
    catfile = _Git(
        "cat-file", git_argv("-C", repo, "cat-file", _BATCH_FORMAT), stdin=subprocess.PIPE
    )
    stdin = catfile.proc.stdin
    assert stdin is not None
    lock = threading.Lock()
    running = [len(greps)]

    def relay(grep: _Git) -> None:
        out = grep.proc.stdout
        assert out is not None
        pending = b""
        broken = False
        try:
            while data := out.read1(1 << 16):  # type: ignore[attr-defined]
                names = (pending + data).split(b"\0")
                pending = names.pop()
                asked = []
                for name in names:
                    # "<tree>:<sequence>-<blob>"
                    seq, _, blob = name.rpartition(b":")[2].partition(b"-")
                    order[blob.decode("ascii")] = int(seq)
                    asked.append(blob + b"\n")
                if asked and not broken:
                    with lock:
                        try:
                            stdin.write(b"".join(asked))
                            stdin.flush()
                        except (BrokenPipeError, ValueError):
                            broken = True  # cat-file stopped: drain the grep; it is reported
        finally:
            with lock:
                running[0] -= 1
                if not running[0]:
                    with contextlib.suppress(OSError):
                        stdin.close()

    relays = [
        threading.Thread(target=relay, args=(grep,), name="leaks-grep", daemon=True)
        for grep in greps
    ]
    for thread in relays:
        thread.start()
    out = catfile.proc.stdout
    assert out is not None
    chunk = scanner.chunk_size
    try:
        while True:
            header = out.readline()
            if not header:
                break
            parts = header.split()
            if len(parts) < 3 or parts[1] == b"missing":
                continue
            sha = parts[0].decode()
            size = int(parts[2])
            if size <= chunk:
                data = out.read(size)
                out.read(1)  # the newline after each object
                if is_binary(data):
                    result.blobs_binary += 1
                    continue
                hits, rejected = scanner.scan_buffer(data)
            else:
                limited = _Limited(out, size)
                res: FileResult = scanner.scan_stream(limited.readinto, label=sha)
                _discard(out, limited.remaining + 1)
                if res.skipped is not None:
                    result.blobs_binary += 1
                    continue
                hits, rejected = list(res.hits), res.rejected
            result.rejected += rejected
            if hits:
                found[sha] = hits
    except BaseException:  # stop everything; the relays then end at the greps' EOF
        for proc in (catfile.proc, *(grep.proc for grep in greps)):
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
        raise
    finally:
        for thread in relays:
            thread.join()
        err = catfile.finish()
    if err:
        result.errors.append(ScanError(repo, err))
    return found, order


def _start_log(repo: str) -> tuple[_Git, IO[bytes]]:
    """``git log --all --raw`` of every commit, to a temporary file, in the background."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    return _Git(
        "log",
        git_argv(
            "-C",
            repo,
            *_LOG_CONFIG,
            "log",
            "--all",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "-z",
            "--no-color",
            "--format=%x01%H %ct",
        ),
        stdout=out,
    ), out


def scan_blobs(
    repo: str, scanner: Scanner, *, jobs: int = 2
) -> tuple[dict[str, tuple[list[KeyHit], str]], HistoryScan]:
    """Scan each blob once: ``{blob: (hits, a path it had)}`` and the stats.

    Only blobs that a reachable commit (or ref) holds are returned, each with
    the path of its latest introduction; ``HistoryScan.changes`` holds the
    commits that added and removed them, for :func:`map_history`.
    """
    result = HistoryScan(repo=repo)
    log, log_out = _start_log(repo)
    try:
        try:
            hits = _scan_candidates(repo, jobs, scanner, result)
        except HistoryError as exc:
            result.errors.append(ScanError(repo, str(exc)))
            hits = {}
        if not hits:
            log.kill()
            return {}, result
        err = log.finish()
        if err:
            result.errors.append(ScanError(repo, err))
        log_out.seek(0)
        wanted = {blob.encode("ascii") for blob in hits}
        result.changes, result.commits = _changes_of(_read_pieces(log_out), wanted)
        result.commits_counted = not err
    finally:
        if log.proc.poll() is None:
            log.kill()
        log_out.close()
    found = _locate(repo, hits, result)
    return found, result


def _locate(
    repo: str, hits: dict[str, list[KeyHit]], result: HistoryScan
) -> dict[str, tuple[list[KeyHit], str]]:
    """A path for each blob with hits; blobs that no ref reaches are left out."""
    path_of = _paths_of(result.changes)
    missing = [b for b in hits if b not in path_of]
    # introduced only by a merge resolution: one more walk, through merges' diffs
    # (--find-object accumulates: one walk for all of them)
    for start in range(0, len(missing) if result.commits_counted else 0, _MAX_FIND_OBJECT):
        objects = [f"--find-object={b}" for b in missing[start : start + _MAX_FIND_OBJECT]]
        try:
            raw = _raw_log(repo, "-m", *objects)
        except HistoryError as exc:
            result.errors.append(ScanError(repo, f"git log --find-object: {exc}"))
            break
        result.changes.extend(c for c in _parse_raw_log(raw) if c.old in hits or c.new in hits)
    path_of = _paths_of(result.changes)
    missing = [b for b in hits if b not in path_of]
    if missing:  # under a tag of a tree or blob, or unreachable (expired reflogs...)
        path_of.update(_reachable_paths(repo, set(missing), result))
    return {blob: (found, path_of[blob]) for blob, found in hits.items() if blob in path_of}


def _paths_of(changes: list[_RawChange]) -> dict[str, str]:
    """A path of every blob in ``changes``: where it was last (newest first) added."""
    path_of: dict[str, str] = {}
    for c in changes:
        path_of.setdefault(c.new, c.path)
    for c in changes:
        path_of.setdefault(c.old, c.path)
    return path_of


def _reachable_paths(repo: str, blobs: set[str], result: HistoryScan) -> dict[str, str]:
    """Which of ``blobs`` some ref reaches (``rev-list --objects --all``), with a path."""
    proc = _Git("rev-list", git_argv("-C", repo, "rev-list", "--objects", "--all"))
    assert proc.proc.stdout is not None
    paths: dict[str, str] = {}
    for line in proc.proc.stdout:
        sha, _, path = line.rstrip(b"\n").partition(b" ")
        name = sha.decode("ascii", "replace")
        if name in blobs:
            paths[name] = os.fsdecode(path) if path else name
    err = proc.finish()
    if err:
        result.errors.append(ScanError(repo, err))
    return paths


def _discard(stream: IO[bytes], n: int) -> None:
    while n > 0:
        got = stream.read(min(n, 1 << 20))
        if not got:
            return
        n -= len(got)


# ----------------------------------------------------------------- mapping


@dataclass(frozen=True, slots=True)
class _RawChange:
    commit: str
    time: int
    old: str
    new: str
    path: str


def _parse_raw_log(data: bytes) -> Iterable[_RawChange]:
    """``git log --raw -z --format=%x01%H %ct`` records."""
    for record in data.split(b"\x01"):
        if not record:
            continue
        head, _, rest = record.partition(b"\0")
        fields = head.split()
        if len(fields) < 2:
            continue
        commit, time = fields[0].decode(), int(fields[1])
        items = rest.lstrip(b"\n").split(b"\0")
        i = 0
        while i + 1 < len(items):
            meta = items[i].lstrip(b"\n")
            if not meta.startswith(b":"):
                i += 1
                continue
            cols = meta[1:].split()
            if len(cols) >= 5:
                yield _RawChange(
                    commit, time, cols[2].decode(), cols[3].decode(), os.fsdecode(items[i + 1])
                )
            i += 2


def _read_pieces(fh: IO[bytes]) -> Iterator[bytes]:
    """The raw log in pieces of whole commit records (bounded memory)."""
    rest = b""
    while True:
        data = fh.read(_LOG_PIECE)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data
        cut = data.rfind(b"\x01")
        if cut <= 0:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]


def _changes_of(pieces: Iterable[bytes], wanted: set[bytes]) -> tuple[list[_RawChange], int]:
    """The changes whose old or new blob is in ``wanted``, and the number of commits.

    The same records as :func:`_parse_raw_log`, but a change is only turned
    into a value when it involves a wanted blob (a log holds one per file
    changed in every commit; the keys, a handful).
    """
    out: list[_RawChange] = []
    commits = 0
    for piece in pieces:
        for record in piece.split(b"\x01"):
            if not record:
                continue
            commits += 1
            head, _, rest = record.partition(b"\0")
            items = rest.split(b"\0")
            commit: tuple[str, int] | None = None
            for i in range(0, len(items) - 1, 2):
                meta = items[i].lstrip(b"\n")
                if not meta.startswith(b":"):
                    break
                cols = meta[1:].split()
                if len(cols) < 5 or (cols[2] not in wanted and cols[3] not in wanted):
                    continue
                if commit is None:
                    fields = head.split()
                    commit = (fields[0].decode(), int(fields[1]))
                out.append(
                    _RawChange(
                        commit[0],
                        commit[1],
                        cols[2].decode(),
                        cols[3].decode(),
                        os.fsdecode(items[i + 1]),
                    )
                )
    return out, commits


def _raw_log(repo: str, *extra: str) -> bytes:
    return _git(
        repo,
        *_LOG_CONFIG,
        "log",
        "--all",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "-z",
        "--no-color",
        "--format=%x01%H %ct",
        *extra,
    )


def map_history(
    repo: str,
    found: dict[str, tuple[list[KeyHit], str]],
    display: str,
    changes: list[_RawChange] | None = None,
) -> list[LocatedHit]:
    """Turn blob hits into per-(key, path) hits with the commits that added and removed them.

    ``changes`` are the log records of the blobs in ``found`` (what
    :func:`scan_blobs` collects). Without them, ``git log`` is run, limited to the
    paths of the hit blobs with ``--full-history`` so no side branch is pruned.
    A blob with a key that also sits, byte for byte, at another path is reported
    at the first path only.
    """
    tokens_of: dict[str, set[str]] = {
        blob: {h.key.token_sha256 for h in hits} for blob, (hits, _) in found.items()
    }
    if changes is not None:
        relevant = [c for c in changes if c.old in found or c.new in found]
    else:
        paths = sorted({path for _, path in found.values()})
        limit = ["--", *(f":(literal){p}" for p in paths)] if len(paths) <= _MAX_PATHSPECS else []
        relevant = [
            c
            for c in _parse_raw_log(_raw_log(repo, "--full-history", *limit))
            if c.old in found or c.new in found
        ]
        seen_blobs = {c.new for c in relevant} | {c.old for c in relevant}
        missing = [b for b in found if b not in seen_blobs]
        for start in range(0, len(missing), _MAX_FIND_OBJECT):  # merge resolutions
            objects = [f"--find-object={b}" for b in missing[start : start + _MAX_FIND_OBJECT]]
            relevant.extend(
                c
                for c in _parse_raw_log(_raw_log(repo, "-m", *objects))
                if c.old in found or c.new in found
            )
    # (token, path) -> introductions / removals
    added: dict[tuple[str, str], list[tuple[Appearance, str]]] = defaultdict(list)
    removed: dict[tuple[str, str], list[Appearance]] = defaultdict(list)
    for c in relevant:
        new_tokens = tokens_of.get(c.new, set())
        old_tokens = tokens_of.get(c.old, set())
        for token in new_tokens - old_tokens:
            added[(token, c.path)].append((Appearance(c.commit, c.path, "added", c.time), c.new))
        for token in old_tokens - new_tokens:
            removed[(token, c.path)].append(Appearance(c.commit, c.path, "removed", c.time))
    head = _head_tree(repo)
    located: list[LocatedHit] = []
    done: set[tuple[str, str]] = set()
    for (token, path), intro in added.items():
        intro.sort(key=lambda a: (a[0].time, a[0].commit))
        head_blob = head.get(path)
        in_head = head_blob is not None and token in tokens_of.get(head_blob, set())
        # the line shown: HEAD's when the key is still there, else where it came in
        blob = head_blob if in_head and head_blob else intro[0][1]
        hit = next(h for h in found[blob][0] if h.key.token_sha256 == token)
        info = HistoryInfo(
            added_in=tuple(a for a, _ in _unique_by_commit(intro)),
            removed_in=tuple(
                sorted(removed.get((token, path), ()), key=lambda a: (a.time, a.commit))
            ),
            in_head=in_head,
        )
        located.append(LocatedHit(path=_display(display, path), hit=hit, history=info, blob=blob))
        done.add((token, path))
    # blobs whose commits could not be found: report them with the path rev-list gave
    for blob, (hits, path) in found.items():
        for hit in hits:
            if any(t == hit.key.token_sha256 for t, _ in done):
                continue  # the key is already reported where commits introduced it
            done.add((hit.key.token_sha256, path))
            head_blob = head.get(path)
            in_head = head_blob == blob
            located.append(
                LocatedHit(
                    path=_display(display, path),
                    hit=hit,
                    history=HistoryInfo(in_head=in_head),
                    blob=blob,
                )
            )
    return located


def _unique_by_commit(items: list[tuple[Appearance, str]]) -> list[tuple[Appearance, str]]:
    seen: set[str] = set()
    out = []
    for a, blob in items:
        if a.commit not in seen:
            seen.add(a.commit)
            out.append((a, blob))
    return out


def _head_tree(repo: str) -> dict[str, str]:
    try:
        data = _git(repo, "ls-tree", "-r", "-z", "--full-tree", "HEAD")
    except HistoryError:
        return {}  # no commits yet, or a detached, unborn HEAD
    tree: dict[str, str] = {}
    for entry in data.split(b"\0"):
        meta, _, path = entry.partition(b"\t")
        cols = meta.split()
        if len(cols) == 3 and cols[1] == b"blob":
            tree[os.fsdecode(path)] = cols[2].decode()
    return tree


def _display(display: str, path: str) -> str:
    return path if display in ("", ".") else os.path.join(display, path)


def _worktree_args(include_ignored: bool) -> list[str]:
    args = ["ls-files", "-z", "--modified", "--others"]
    if not include_ignored:
        args.append("--exclude-standard")
    return args


def _worktree_names(data: bytes) -> list[str]:
    return list(dict.fromkeys(os.fsdecode(n) for n in data.split(b"\0") if n))


def worktree_changes(repo: str, *, include_ignored: bool = False) -> list[str]:
    """Work-tree files that differ from the index, or are untracked (ignored ones too
    with ``include_ignored``)."""
    return _worktree_names(_git(repo, *_worktree_args(include_ignored)))


def scan_history(
    path: str,
    scanner: Scanner,
    *,
    display: str | None = None,
    jobs: int = 2,
    worktree: bool | None = None,
) -> HistoryScan:
    """Everything ``--history`` reports for the repository holding ``path``.

    With ``worktree`` not ``None``, :func:`worktree_changes` (``include_ignored=
    worktree``) runs alongside the history scan, into ``HistoryScan.worktree``
    (or ``worktree_error``).
    """
    repo = repo_toplevel(path)
    shown = display if display is not None else os.path.relpath(repo)
    listing: tuple[_Git, IO[bytes]] | None = None
    if worktree is not None:
        out = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        listing = (
            _Git("ls-files", git_argv("-C", repo, *_worktree_args(worktree)), stdout=out),
            out,
        )
    try:
        found, result = scan_blobs(repo, scanner, jobs=jobs)
        if found:
            result.hits = map_history(repo, found, shown, result.changes)
        if not result.commits_counted:
            try:
                result.commits = int(_git(repo, "rev-list", "--all", "--count").strip() or 0)
            except (HistoryError, ValueError):
                result.commits = 0  # a repository without commits
        if listing is not None:
            err = listing[0].finish()
            listing[1].seek(0)
            result.worktree = _worktree_names(listing[1].read())
            result.worktree_error = err
    finally:
        if listing is not None:
            if listing[0].proc.poll() is None:
                listing[0].kill()
            listing[1].close()
    return result


def parse_raw_log_for_tests(data: bytes) -> list[_RawChange]:
    """The raw-log parser, exposed for its unit test."""
    return list(_parse_raw_log(data))
