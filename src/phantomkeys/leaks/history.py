"""Scan every reachable commit of a git repository, each distinct blob once.

Pipeline (git does the walking and inflating in C, Python only scans):

1. ``git rev-list --objects --all --filter=object:type=blob`` lists every
   blob reachable from any ref, once, whatever the number of commits that
   contain it; a thread forwards blob lines to
2. ``git cat-file --batch --buffer``, whose output is read in large blocks and
   scanned blob by blob (streamed when a blob is larger than a chunk). git
   inflates while Python scans: two processes busy at once.
3. Only when some blob holds a key: ``git log --all --raw`` maps those blobs
   to the commits that introduced and removed them at each path, and
   ``git ls-tree -r HEAD`` says whether the key is still in HEAD.

This is why history scans scale with the size of the *distinct content*, not
with commits x tree size as a ``git grep $(git rev-list --all)`` does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import defaultdict
from collections.abc import Iterable
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
from phantomkeys.leaks.scanner import Scanner, is_binary

_BATCH_FORMAT = "--batch=%(objectname) %(objecttype) %(objectsize) %(rest)"
_MAX_FIND_OBJECT = 64  # merge-only blobs looked up one by one, at most this many
_MAX_PATHSPECS = 2000  # beyond this, log every path (command-line length)
_PIPE_BUFFER = 1 << 20


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


def _git(repo: str, *args: str, timeout: float = 3600) -> bytes:
    proc = subprocess.run(git_argv("-C", repo, *args), capture_output=True, check=False,  # noqa: S603 - argv list, no shell
                          timeout=timeout)
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
        n = self.stream.readinto(view[:min(len(view), self.remaining)])  # type: ignore[attr-defined]
        self.remaining -= n or 0
        return n or 0


def _forward_blob_lines(src: IO[bytes], dst: IO[bytes]) -> None:
    """rev-list prints commits too (filters never drop them): keep lines with a path."""
    try:
        for line in src:
            if b" " in line:
                dst.write(line)
    except (BrokenPipeError, ValueError):
        pass  # cat-file stopped reading: the reader reports what went wrong
    finally:
        with contextlib.suppress(OSError):
            dst.close()


def scan_blobs(repo: str, scanner: Scanner) -> tuple[dict[str, tuple[list[KeyHit], str]],
                                                      HistoryScan]:
    """Scan each reachable blob once: ``{blob: (hits, a path it had)}`` and the stats."""
    result = HistoryScan(repo=repo)
    found: dict[str, tuple[list[KeyHit], str]] = {}
    revlist = subprocess.Popen(  # noqa: S603 - argv list, no shell
        git_argv("-C", repo, "rev-list", "--objects", "--all", "--filter=object:type=blob"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=_PIPE_BUFFER)
    catfile = subprocess.Popen(  # noqa: S603 - argv list, no shell
        git_argv("-C", repo, "cat-file", _BATCH_FORMAT, "--buffer"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        bufsize=_PIPE_BUFFER)
    assert revlist.stdout is not None
    assert catfile.stdin is not None
    assert catfile.stdout is not None
    forward = threading.Thread(target=_forward_blob_lines,
                               args=(revlist.stdout, catfile.stdin), daemon=True)
    forward.start()
    out = catfile.stdout
    chunk = scanner.chunk_size
    try:
        while True:
            header = out.readline()
            if not header:
                break
            parts = header.rstrip(b"\n").split(b" ", 3)
            if len(parts) < 3 or parts[1] == b"missing":
                continue
            sha = parts[0].decode()
            size = int(parts[2])
            path = os.fsdecode(parts[3]) if len(parts) > 3 else sha
            if parts[1] != b"blob":
                _discard(out, size + 1)
                continue
            result.blobs_scanned += 1
            result.bytes_scanned += size
            if size <= chunk:
                data = out.read(size)
                out.read(1)  # the newline after each object
                if is_binary(data):
                    result.blobs_binary += 1
                    continue
                hits, rejected = scanner.scan_buffer(data)
            else:
                limited = _Limited(out, size)
                res: FileResult = scanner.scan_stream(limited.readinto, label=path)
                _discard(out, limited.remaining + 1)
                if res.skipped is not None:
                    result.blobs_binary += 1
                    continue
                hits, rejected = list(res.hits), res.rejected
            result.rejected += rejected
            if hits:
                found[sha] = (hits, path)
    finally:
        forward.join(timeout=60)
        for proc in (catfile, revlist):
            proc.wait(timeout=60)
    for name, proc in (("rev-list", revlist), ("cat-file", catfile)):
        if proc.returncode != 0:
            err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
            result.errors.append(ScanError(repo, f"git {name} failed: {err or proc.returncode}"))
        if proc.stderr:
            proc.stderr.close()
    out.close()
    return found, result


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
                yield _RawChange(commit, time, cols[2].decode(), cols[3].decode(),
                                 os.fsdecode(items[i + 1]))
            i += 2


def _raw_log(repo: str, *extra: str) -> bytes:
    return _git(repo, "log", "--all", "--raw", "--no-abbrev", "--no-renames", "-z",
                "--format=%x01%H %ct", *extra)


def map_history(repo: str, found: dict[str, tuple[list[KeyHit], str]],
                display: str) -> list[LocatedHit]:
    """Turn blob hits into per-(key, path) hits with the commits that added and removed them.

    ``git log`` is limited to the paths the hit blobs were seen at (rev-list names
    each blob by its first path), with ``--full-history`` so no side branch is
    pruned; that keeps it fast on long histories. A blob with a key that also sits,
    byte for byte, at another path is reported at the first path only.
    """
    tokens_of: dict[str, set[str]] = {
        blob: {h.key.token_sha256 for h in hits} for blob, (hits, _) in found.items()}
    paths = sorted({path for _, path in found.values()})
    limit = ["--", *(f":(literal){p}" for p in paths)] if len(paths) <= _MAX_PATHSPECS else []
    changes = _parse_raw_log(_raw_log(repo, "--full-history", *limit))
    relevant = [c for c in changes if c.old in found or c.new in found]
    seen_blobs = {c.new for c in relevant} | {c.old for c in relevant}
    missing = [b for b in found if b not in seen_blobs]
    for blob in missing[:_MAX_FIND_OBJECT]:  # introduced only by a merge resolution
        relevant.extend(c for c in _parse_raw_log(_raw_log(repo, "-m", f"--find-object={blob}"))
                        if c.old in found or c.new in found)
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
            removed_in=tuple(sorted(removed.get((token, path), ()),
                                    key=lambda a: (a.time, a.commit))),
            in_head=in_head,
        )
        located.append(LocatedHit(path=_display(display, path), hit=hit, history=info,
                                  blob=blob))
        done.add((token, path))
    # blobs whose commits could not be found: report them with the path rev-list gave
    for blob, (hits, path) in found.items():
        for hit in hits:
            if any(t == hit.key.token_sha256 for t, _ in done):
                continue  # the key is already reported where commits introduced it
            done.add((hit.key.token_sha256, path))
            head_blob = head.get(path)
            in_head = head_blob == blob
            located.append(LocatedHit(path=_display(display, path), hit=hit,
                                      history=HistoryInfo(in_head=in_head), blob=blob))
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


def worktree_changes(repo: str, *, include_ignored: bool = False) -> list[str]:
    """Work-tree files that differ from the index, or are untracked (ignored ones too
    with ``include_ignored``)."""
    args = ["ls-files", "-z", "--modified", "--others"]
    if not include_ignored:
        args.append("--exclude-standard")
    data = _git(repo, *args)
    return list(dict.fromkeys(os.fsdecode(n) for n in data.split(b"\0") if n))


def scan_history(path: str, scanner: Scanner, *, display: str | None = None) -> HistoryScan:
    """Everything ``--history`` reports for the repository holding ``path``."""
    repo = repo_toplevel(path)
    shown = display if display is not None else os.path.relpath(repo)
    found, result = scan_blobs(repo, scanner)
    if found:
        result.hits = map_history(repo, found, shown)
    try:
        result.commits = int(_git(repo, "rev-list", "--all", "--count").strip() or 0)
    except (HistoryError, ValueError):
        result.commits = 0  # a repository without commits
    return result


def parse_raw_log_for_tests(data: bytes) -> list[_RawChange]:
    """The raw-log parser, exposed for its unit test."""
    return list(_parse_raw_log(data))
