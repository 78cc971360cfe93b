"""The fast paths find exactly what the simple ones find.

* the one-pass trigger search (``ahocorasick_rs``) against the stdlib four-pass
  search, on crafted and random inputs;
* files read into the reusable buffer (and large files counted lazily) against
  the whole-buffer scan;
* the forked workers, the thread pool and the process pool against a single
  scanner;
* ``--history``'s ``git grep`` prefilter over synthetic trees against decoding
  every blob, with merges, tags, unreachable objects, binaries, packed repos.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from leakfixtures import KEYS, NOW, git, json_escape, write_tree

from phantomkeys.leaks import ScanOptions, build_findings, engine, scan
from phantomkeys.leaks import history as hist
from phantomkeys.leaks.model import Skipped, SkipReason
from phantomkeys.leaks.patterns import (
    TRIGGERS,
    fast_search,
    find_candidates,
    trigger_positions,
    use_fast_search,
)
from phantomkeys.leaks.scanner import OVERLAP, Scanner
from phantomkeys.leaks.sources import FileEntry, iter_files

HAVE_FAST = fast_search() is not None
needs_fast = pytest.mark.skipif(not HAVE_FAST, reason="ahocorasick_rs is not installed")


@pytest.fixture
def stdlib_search() -> Iterator[None]:
    use_fast_search(False)
    yield
    use_fast_search(True)


def _both(
    data: bytes, start: int = 0, stop: int | None = None, end: int | None = None
) -> tuple[list[int], list[int]]:
    stop = len(data) if stop is None else stop
    end = len(data) if end is None else end
    use_fast_search(True)
    fast = trigger_positions(data, start, stop, end)
    use_fast_search(False)
    try:
        slow = trigger_positions(data, start, stop, end)
    finally:
        use_fast_search(True)
    return fast, slow


def _candidates(data: bytes, fast: bool) -> list[tuple[int, int, str]]:
    use_fast_search(fast)
    try:
        return [(c.start, c.end, c.text) for c in find_candidates(data, 0, len(data))]
    finally:
        use_fast_search(True)


# ----------------------------------------------------------- trigger search


@needs_fast
@pytest.mark.parametrize(
    "text",
    [
        b"AEAABSK",
        b"ABSKABSK",
        b"AEAAEAA",
        b"xAEAAx",
        b"bedrock-api-key-bedrock-api-key-",
        b"aws-external-anthropic-api-key-ABSK",
        b"ABS",
        b"",
        b"\nABSK\n",
    ],
)
def test_one_pass_and_four_pass_searches_agree_on_adjacent_triggers(text: bytes) -> None:
    fast, slow = _both(text)
    # leftmost-first matching skips a trigger that starts inside another one
    # ("AEAABSK": the ABSK); the four-pass search sees it, and match_at rejects it
    # (it follows a base64 character): the candidates are what must agree.
    assert set(fast) <= set(slow)
    assert _candidates(text, True) == _candidates(text, False)


@needs_fast
def test_one_pass_and_four_pass_searches_agree_on_random_base64_with_keys() -> None:
    rng = random.Random(9)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n\"'-\\"
    pieces = [
        *TRIGGERS,
        *(k.key.encode() for k in KEYS.values()),
        json_escape(KEYS["lt_claude"].key).encode(),
    ]
    for _ in range(40):
        parts = []
        for _ in range(rng.randint(20, 200)):
            if rng.random() < 0.15:
                parts.append(rng.choice(pieces))
            else:
                parts.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
        data = b"".join(parts)
        fast, slow = _both(data)
        assert set(fast) <= set(slow)
        assert _candidates(data, True) == _candidates(data, False)
        # windows: a trigger straddling ``stop`` counts, one past it does not
        stop = rng.randrange(1, len(data))
        f, s = _both(data, 0, stop)
        assert all(p < stop for p in f)
        assert set(f) <= set(s)
        # only a trigger overlapping AEAA's last "A" can be skipped (and is rejected)
        assert all(data[p - 1 : p] == b"A" for p in set(s) - set(f))


def test_triggers_near_the_window_edges() -> None:
    data = b"xx" + b"bedrock-api-key-" + b"yy"
    for fast in (True, False):
        use_fast_search(fast)
        try:
            assert trigger_positions(data, 0, 3, len(data)) == [2]  # starts before stop
            assert trigger_positions(data, 0, 2, len(data)) == []  # starts at stop
            assert trigger_positions(data, 0, 3, 10) == []  # does not fit before limit
            assert trigger_positions(data, 3, len(data), len(data)) == []
        finally:
            use_fast_search(True)


def test_stdlib_search_finds_every_format(stdlib_search: None) -> None:
    for name, planted in sorted(KEYS.items()):
        hits, rejected = Scanner().scan_buffer(f"k = '{planted.key}'\n".encode())
        assert [h.key.token_sha256 for h in hits] != [], name
        assert rejected == 0


# ------------------------------------------------------------------- files


def _whole(data: bytes) -> list[tuple[int, int, int, str]]:
    hits, _ = Scanner().scan_buffer(data)
    return [(h.line, h.column, h.offset, h.key.token_sha256) for h in hits]


def test_large_file_lines_are_counted_only_where_needed(tmp_path: Path) -> None:
    """A file several chunks long, keys in later chunks: same lines and columns as
    scanning it whole (the line count comes from re-reading the file)."""
    lines = []
    for n in range(6000):
        if n % 1500 == 1499:
            lines.append(f"key_{n} = '{KEYS['lt_bedrock'].key}'  # é")
        elif n == 4000:
            lines.append("x" * (3 * OVERLAP) + KEYS["st_claude"].key)  # a line over chunks
        else:
            lines.append(f"line {n} " + "lorem ipsum " * (n % 13))
    data = "\n".join(lines).encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    scanner = Scanner(chunk_size=OVERLAP + 4096)
    res = scanner.scan_file(str(path))
    assert res.size == len(data)
    got = [(h.line, h.column, h.offset, h.key.token_sha256) for h in res.hits]
    assert got == _whole(data)
    assert len(got) == 5
    # the stream path (no re-reading) agrees too
    with open(path, "rb") as fh:
        streamed = scanner.scan_stream(fh.readinto)
    assert [(h.line, h.column, h.offset) for h in streamed.hits] == [g[:3] for g in got]


def test_long_non_ascii_line_over_chunks_has_code_point_columns(tmp_path: Path) -> None:
    """A file read in small chunks: a key in a line that started chunks earlier,
    after non-ASCII text, gets the column a whole-buffer scan gives (code points)."""
    key = KEYS["lt_bedrock"].key
    data = ("first line\n" + "é" * (2 * OVERLAP) + " = '" + key + "'\n").encode()
    path = tmp_path / "wide.txt"
    path.write_bytes(data)
    res = Scanner(chunk_size=OVERLAP + 4096).scan_file(str(path))
    got = [(h.line, h.column, h.offset, h.key.token_sha256) for h in res.hits]
    assert got == _whole(data)
    assert got[0][:2] == (2, 2 * OVERLAP + 5)


def test_large_file_without_readv_and_pread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portable fallbacks (no ``os.readv``/``os.pread``, as on Windows) agree."""
    from phantomkeys.leaks import scanner as scanner_module

    lines = [f"row {n} " + "x" * (n % 90) for n in range(5000)]
    lines[3333] = f"late = '{KEYS['lt_second'].key}'"
    data = "\n".join(lines).encode()
    (tmp_path / "f.txt").write_bytes(data)
    monkeypatch.setattr(scanner_module, "_HAVE_READV", False)
    monkeypatch.delattr(os, "pread")
    res = Scanner(chunk_size=OVERLAP + 1024).scan_file(str(tmp_path / "f.txt"))
    assert [(h.line, h.column, h.offset, h.key.token_sha256) for h in res.hits] == _whole(data)
    assert [h.line for h in res.hits] == [3334]


def test_file_exactly_one_buffer_long(tmp_path: Path) -> None:
    key = KEYS["lt_claude"].key.encode()
    scanner = Scanner(chunk_size=OVERLAP)
    size = OVERLAP + OVERLAP  # the buffer's length
    data = b"a\n" * ((size - len(key) - 1) // 2) + key + b"\n"
    data = data + b"z" * (size - len(data))
    assert len(data) == size
    (tmp_path / "f").write_bytes(data)
    res = scanner.scan_file(str(tmp_path / "f"))
    assert [(h.line, h.column) for h in res.hits] == [t[:2] for t in _whole(data)]
    assert res.size == size


def test_scan_file_skips_what_is_not_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text(KEYS["lt_bedrock"].key)
    (tmp_path / "link").symlink_to(target)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    scanner = Scanner()
    assert scanner.scan_file(str(tmp_path / "link")).skipped is SkipReason.SYMLINK
    assert scanner.scan_file(str(fifo)).skipped is SkipReason.NOT_A_FILE  # never blocks
    missing = scanner.scan_file(str(tmp_path / "gone"))
    assert missing.error
    assert missing.skipped is None
    assert len(scanner.scan_file(str(target)).hits) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_is_an_error_value(tmp_path: Path) -> None:
    f = tmp_path / "secret.txt"
    f.write_text("x")
    f.chmod(0)
    assert Scanner().scan_file(str(f)).error


def test_walk_order_labels_and_symlinked_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "z.txt").write_text("z")
    (tmp_path / "a" / "y.txt").write_text("y")
    (tmp_path / "b" / "x.txt").write_text("x")
    (tmp_path / "top.txt").write_text("t")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    (tmp_path / "linked").symlink_to(tmp_path / "a", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    items = list(iter_files(["."], respect_ignore=False))
    shown = [e.path for e in items if isinstance(e, FileEntry)]
    assert shown == [
        "top.txt",
        os.path.join("a", "y.txt"),
        os.path.join("a", "z.txt"),
        os.path.join("b", "x.txt"),
    ]
    # what was left out is reported, never silently dropped
    assert {(e.path, e.reason) for e in items if isinstance(e, Skipped)} == {
        (".git", SkipReason.VCS),
        ("linked", SkipReason.SYMLINK),
    }
    items = list(iter_files([str(tmp_path)], respect_ignore=False))
    shown = [e.path for e in items if isinstance(e, FileEntry)]
    assert shown[0] == os.path.join(str(tmp_path), "top.txt")


def _found(res: engine.LeakScan) -> list[tuple[str, int, int, str]]:
    return sorted((h.path, h.hit.line, h.hit.column, h.hit.key.token_sha256) for h in res.hits)


def _many_files(root: Path) -> None:
    write_tree(root)
    rng = random.Random(3)
    names = sorted(KEYS)
    for n in range(150):
        body = "".join(f"value_{i} = {rng.random()}\n" for i in range(rng.randint(1, 200)))
        if n % 7 == 0:
            body += f'K{n} = "{KEYS[names[n % len(names)]].key}"\n'
        (root / f"pkg{n % 5}").mkdir(exist_ok=True)
        (root / f"pkg{n % 5}" / f"m{n}.py").write_text(body)


@needs_fast
def test_thread_pool_gives_the_same_results_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many_files(tmp_path)
    monkeypatch.setattr(engine, "_can_fork", lambda: False)  # where there is no fork
    one = scan([str(tmp_path)], ScanOptions(jobs=1, respect_ignore=False))
    two = scan([str(tmp_path)], ScanOptions(jobs=2, respect_ignore=False))
    four = scan([str(tmp_path)], ScanOptions(jobs=4, respect_ignore=False))
    assert _found(one) == _found(two) == _found(four)
    assert [h.path for h in one.hits] == [h.path for h in two.hits]  # walk order kept
    assert one.skipped == two.skipped
    assert one.files_scanned == two.files_scanned > 150
    assert len({t for *_, t in _found(one)}) == len(KEYS)


# The forked path runs only in a process with one thread (forking a threaded
# process is unsafe). A pytest worker has leftover threads from other tests, so
# these tests run the scan in a fresh interpreter and compare what it reports.
_ISOLATED = r"""
import json, os, sys, time
from phantomkeys.leaks import ScanOptions, engine, scan
from phantomkeys.leaks.scanner import Scanner

root, jobs, after, fail = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
engine.FORK_AFTER_SECONDS = after
forks = []
real_fork = os.fork
def fork():
    pid = real_fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = fork
if fail:
    parent = os.getpid()
    real_scan_file = Scanner.scan_file
    def scan_file(self, path, *, label=None):
        if os.getpid() != parent:
            raise PermissionError("helper failed")
        time.sleep(0.005)  # leave the helper batches to take, however busy the machine
        return real_scan_file(self, path, label=label)
    Scanner.scan_file = scan_file
out = {"forks": 0}
try:
    res = scan([root], ScanOptions(jobs=jobs, respect_ignore=False))
    out["found"] = sorted(
        [h.path, h.hit.line, h.hit.column, h.hit.key.token_sha256] for h in res.hits
    )
    out["paths"] = [h.path for h in res.hits]
    out["skipped"] = len(res.skipped)
    out["files"] = [res.files_scanned, res.bytes_scanned]
except PermissionError as exc:
    out["error"] = str(exc)
    try:
        os.waitpid(forks[0], os.WNOHANG)
        out["reaped"] = False
    except ChildProcessError:
        out["reaped"] = True  # no zombie left behind
out["forks"] = len(forks)
print(json.dumps(out))
"""


def _isolated_scan(root: Path, jobs: int, *, fork_after: float, fail: bool = False) -> dict:
    import json
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _ISOLATED, str(root), str(jobs), str(fork_after), str(int(fail))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
@pytest.mark.parametrize("jobs", [2, 4])
def test_forked_workers_give_the_same_results_in_the_same_order(tmp_path: Path, jobs: int) -> None:
    _many_files(tmp_path)
    one = scan([str(tmp_path)], ScanOptions(jobs=1, respect_ignore=False))
    many = _isolated_scan(tmp_path, jobs, fork_after=0)  # fork after the first batch
    assert many["forks"] == jobs - 1
    assert [tuple(x) for x in many["found"]] == _found(one)
    assert many["paths"] == [h.path for h in one.hits]  # walk order kept
    assert many["skipped"] == len(one.skipped)
    assert many["files"] == [one.files_scanned, one.bytes_scanned]
    assert len({t for *_, t in _found(one)}) == len(KEYS)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_small_scans_do_not_fork(tmp_path: Path) -> None:
    _many_files(tmp_path)
    assert _isolated_scan(tmp_path, 2, fork_after=3600)["forks"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_a_failing_forked_worker_fails_the_scan(tmp_path: Path) -> None:
    """An exception in a helper is re-raised in the caller, as the threads did."""
    _many_files(tmp_path)
    out = _isolated_scan(tmp_path, 2, fork_after=0, fail=True)
    assert out["forks"] == 1
    assert out["error"] == "helper failed"
    assert out["reaped"] is True


def test_threaded_processes_do_not_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert engine._can_fork() is False
    finally:
        stop.set()
        t.join()


def test_process_pool_without_the_fast_search(
    tmp_path: Path, stdlib_search: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many_files(tmp_path)
    monkeypatch.setattr(engine, "_can_fork", lambda: False)  # where there is no fork
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    one = scan([str(tmp_path)], ScanOptions(jobs=1, respect_ignore=False))
    two = scan([str(tmp_path)], ScanOptions(jobs=2, respect_ignore=False))
    assert _found(one) == _found(two)
    assert [h.path for h in one.hits] == [h.path for h in two.hits]


# ----------------------------------------------------------------- history


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def _decode_every_blob(repo: Path) -> dict[str, set[str]]:
    """The reference: every reachable blob through the Scanner, no prefilter."""
    names = "".join(
        line.split()[0] + "\n" for line in git(repo, "rev-list", "--objects", "--all").splitlines()
    )
    kinds = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check"],
        input=names,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    out: dict[str, set[str]] = {}
    scanner = Scanner()
    for line in kinds:
        sha, kind, _ = line.split()
        if kind != "blob":
            continue
        data = subprocess.run(
            ["git", "-C", str(repo), "cat-file", "blob", sha], capture_output=True, check=True
        ).stdout
        if b"\0" in data[:8000]:
            continue
        hits, _ = scanner.scan_buffer(data)
        if hits:
            out[sha] = {h.key.token_sha256 for h in hits}
    return out


@pytest.fixture(scope="module")
def busy_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Branches, a merge whose resolution adds a key, a tag of a blob, an
    unreachable blob, a binary blob, and a repack so blobs are deltas."""
    tmp_path = tmp_path_factory.mktemp("busy")
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    base = "".join(f"setting_{i} = {i}\n" for i in range(300))
    (r / "app.py").write_text(base)
    (r / "notes.md").write_text("# notes\n")
    _commit(r, "base")
    for n in range(12):  # many versions of one file: a delta chain after repack
        (r / "app.py").write_text(base + "".join(f"extra_{n}_{i} = 1\n" for i in range(n + 1)))
        _commit(r, f"edit {n}")
    (r / "app.py").write_text(base + f"KEY = '{KEYS['lt_bedrock'].key}'\n")
    _commit(r, "leak")
    git(r, "checkout", "-q", "-b", "side")
    (r / "side.txt").write_text("side one\n")
    _commit(r, "side")
    git(r, "checkout", "-q", "main")
    (r / "side.txt").write_text("main one\n")
    _commit(r, "main side")
    with pytest.raises(subprocess.CalledProcessError):  # both added side.txt: a conflict
        git(r, "merge", "-q", "side")
    (r / "side.txt").write_text(f"resolved\nTOKEN={KEYS['st_bedrock'].key}\n")
    merge = _commit(r, "merge: resolution brings a key")
    # a blob only a tag reaches
    tagged = tmp_path / "tagged.txt"
    tagged.write_text(f"tagged {KEYS['lt_claude'].key}\n")
    blob = git(r, "hash-object", "-w", str(tagged)).strip()
    git(r, "tag", "keyblob", blob)
    # a blob no ref reaches
    loose = tmp_path / "loose.txt"
    loose.write_text(f"never committed {KEYS['lt_second'].key}\n")
    unreachable = git(r, "hash-object", "-w", str(loose)).strip()
    # a binary blob holding a key
    (r / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + KEYS["st_claude"].key.encode())
    _commit(r, "binary")
    git(r, "repack", "-a", "-d", "-f", "-q", "--window=50", "--depth=50")
    return {"path": r, "merge": merge, "tagged": blob, "unreachable": unreachable}


def _names(tokens: set[str]) -> set[str]:
    by_token = {}
    for name, planted in KEYS.items():
        hits, _ = Scanner().scan_buffer(planted.key.encode())
        by_token[hits[0].key.token_sha256] = name
    return {by_token[t] for t in tokens}


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_prefilter_finds_what_decoding_every_blob_finds(
    busy_repo: dict[str, object], jobs: int
) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)
    reference = _decode_every_blob(r)
    found, stats = hist.scan_blobs(str(r), Scanner(), jobs=jobs)
    assert not stats.errors
    assert {b: {h.key.token_sha256 for h in hits} for b, (hits, _) in found.items()} == reference
    assert _names(set().union(*reference.values())) == {"lt_bedrock", "st_bedrock", "lt_claude"}
    assert busy_repo["unreachable"] not in found  # no ref reaches it: not reported
    assert busy_repo["tagged"] in found
    assert stats.blobs_binary == 1  # logo.png: holds a prefix, skipped by content
    paths = {path for _, path in found.values()}
    assert {"app.py", "side.txt"} <= paths


def test_history_reports_merge_resolutions_and_tagged_blobs(busy_repo: dict[str, object]) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)
    res = scan([str(r)], ScanOptions(history=True, jobs=2))
    assert not res.errors
    by_key = {f.evidence["token_sha256"]: f for f in build_findings(res.hits, at=NOW)}
    assert _names(set(by_key)) == {"lt_bedrock", "st_bedrock", "lt_claude"}
    merged = next(
        f
        for f in by_key.values()
        if f.location is not None and str(f.location.path).endswith("side.txt")
    )
    assert merged.location is not None
    assert merged.location.commit == busy_repo["merge"]
    assert merged.evidence["history"]["in_head"] is True
    assert res.commits == int(git(r, "rev-list", "--all", "--count"))


def test_history_never_writes_to_the_repository(busy_repo: dict[str, object]) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)

    def objects() -> list[str]:
        return sorted(str(p.relative_to(r)) for p in (r / ".git" / "objects").rglob("*"))

    before = objects()
    scan([str(r)], ScanOptions(history=True, jobs=2))
    assert objects() == before


def test_repository_path_with_a_colon(tmp_path: Path) -> None:
    r = tmp_path / "we:ird"
    r.mkdir()
    git(r, "init", "-q")
    (r / "k.env").write_text(f"K={KEYS['lt_claude'].key}\n")
    _commit(r, "key")
    res = scan([str(r)], ScanOptions(history=True, jobs=1))
    assert not res.errors
    assert len(res.hits) == 1


def test_changes_parser_agrees_with_the_full_parser(busy_repo: dict[str, object]) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)
    raw = hist._raw_log(str(r))
    everything = list(hist._parse_raw_log(raw))
    wanted = {c.new.encode() for c in everything[::3]}
    pieces = [raw[i : i + 97] for i in range(0, len(raw), 97)]  # odd piece boundaries

    class Reader:
        def __init__(self) -> None:
            self.pieces = iter(pieces)

        def read(self, _n: int) -> bytes:
            return next(self.pieces, b"")

    changes, commits = hist._changes_of(hist._read_pieces(Reader()), wanted)  # type: ignore[arg-type]
    assert changes == [
        c for c in everything if c.new.encode() in wanted or c.old.encode() in wanted
    ]
    assert commits == raw.count(b"\x01")


def test_mapping_from_the_concurrent_log_equals_a_fresh_log(busy_repo: dict[str, object]) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)
    found, stats = hist.scan_blobs(str(r), Scanner(), jobs=2)
    reused = hist.map_history(str(r), found, "repo", stats.changes)
    fresh = hist.map_history(str(r), found, "repo")  # runs its own (path-limited) log

    def shape(located: list) -> list:
        return sorted((h.path, h.hit.key.token_sha256, h.blob, h.history) for h in located)

    assert shape(reused) == shape(fresh)
    assert any(h.history is not None and h.history.added_in for h in reused)


def test_many_synthetic_trees_per_worker(
    busy_repo: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = busy_repo["path"]
    assert isinstance(r, Path)
    reference, _ = hist.scan_blobs(str(r), Scanner(), jobs=2)
    monkeypatch.setattr(hist, "_TREE_ENTRIES", 3)  # dozens of trees, each grep gets several
    found, stats = hist.scan_blobs(str(r), Scanner(), jobs=2)
    assert not stats.errors
    assert found.keys() == reference.keys()


def test_sha256_repository(tmp_path: Path) -> None:
    r = tmp_path / "sha256"
    r.mkdir()
    try:
        git(r, "init", "-q", "--object-format=sha256")
    except subprocess.CalledProcessError:
        pytest.skip("this git cannot create SHA-256 repositories")
    (r / "a.env").write_text(f"K={KEYS['lt_bedrock'].key}\n")
    first = _commit(r, "key")
    (r / "a.env").write_text("K=\n")
    _commit(r, "no key")
    res = scan([str(r)], ScanOptions(history=True, jobs=2))
    assert not res.errors
    (hit,) = res.hits
    assert hit.history is not None
    assert [a.commit for a in hit.history.added_in] == [first]
    assert len(first) == 64
