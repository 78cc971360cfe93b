"""--history: keys added then deleted are found with their commits; blobs read once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from leakfixtures import KEYS, NOW, git

from phantomkeys.core import keys
from phantomkeys.leaks import ScanOptions, build_findings, scan
from phantomkeys.leaks.history import parse_raw_log_for_tests, scan_blobs
from phantomkeys.leaks.scanner import Scanner


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, object]:
    """A history where keys are added, moved, kept and deleted across branches."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "README.md").write_text("# service\n")
    (r / "app.py").write_text("import os\n\nREGION = 'us-east-1'\n")
    c1 = _commit(r, "initial")
    lt = KEYS["lt_bedrock"].key
    (r / "app.py").write_text(f"import os\n\nREGION = 'us-east-1'\nKEY = '{lt}'\n")
    c2 = _commit(r, "add key (oops)")
    (r / "app.py").write_text("import os\n\nREGION = 'us-east-1'\nKEY = os.environ['KEY']\n")
    c3 = _commit(r, "remove key")
    st = KEYS["st_claude"].key
    (r / "config").mkdir()
    (r / "config" / "dev.env").write_text(f"# dev\nANTHROPIC_TOKEN={st}\n")
    c4 = _commit(r, "dev config")
    (r / "config" / "dev.env").write_text(f"# dev\n# more\nANTHROPIC_TOKEN={st}\n")
    c5 = _commit(r, "edit config; key kept")
    # a branch that is never merged still counts (every reachable commit)
    git(r, "checkout", "-q", "-b", "experiment")
    claude = KEYS["lt_claude"].key
    (r / "notes.txt").write_text(f"try this one:\n{claude}\n")
    c6 = _commit(r, "experiment")
    git(r, "checkout", "-q", "main")
    return {"path": r, "c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5, "c6": c6}


def _by_name(findings: list) -> dict[str, object]:
    names = {keys.decode(p.key).token_sha256: n for n, p in KEYS.items()}
    return {names[f.evidence["token_sha256"]]: f for f in findings}


def test_added_then_deleted_key_found_with_commits(repo: dict[str, object]) -> None:
    r = repo["path"]
    assert isinstance(r, Path)
    res = scan([str(r)], ScanOptions(history=True, jobs=1))
    assert not res.errors
    found = _by_name(build_findings(res.hits, at=NOW))
    assert set(found) == {"lt_bedrock", "st_claude", "lt_claude"}

    deleted = found["lt_bedrock"]
    assert deleted.location.path.endswith("app.py")
    assert deleted.location.line == 4
    assert deleted.location.commit == repo["c2"]
    hist = deleted.evidence["history"]
    assert hist["in_head"] is False
    assert [c["commit"] for c in hist["introduced_in"]] == [repo["c2"]]
    assert [c["commit"] for c in hist["removed_in"]] == [repo["c3"]]

    kept = found["st_claude"]
    assert kept.location.path.endswith(os.path.join("config", "dev.env"))
    assert kept.evidence["history"]["in_head"] is True
    # introduced once; the edit in c5 kept it (not a new introduction)
    assert [c["commit"] for c in kept.evidence["history"]["introduced_in"]] == [repo["c4"]]
    assert kept.location.line == 3  # HEAD's line, after the edit moved it

    branch = found["lt_claude"]
    assert branch.location.commit == repo["c6"]
    assert branch.evidence["history"]["in_head"] is False
    assert res.commits == 6


def test_each_distinct_blob_is_scanned_once(repo: dict[str, object]) -> None:
    r = repo["path"]
    assert isinstance(r, Path)
    objects = [line.split()[0] for line in git(r, "rev-list", "--objects", "--all").splitlines()]
    listing = subprocess.run(
        ["git", "-C", str(r), "cat-file", "--batch-check=%(objecttype)"],
        input="\n".join(objects) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    blobs = listing.count("blob")
    _, stats = scan_blobs(str(r), Scanner())
    # README.md, app.py x3, dev.env x2, notes.txt: README is the same blob in all
    # six commits and is read once, not six times
    assert stats.blobs_scanned == blobs == 7


def test_history_and_folder_scans_share_fingerprints(
    repo: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = repo["path"]
    assert isinstance(r, Path)
    monkeypatch.chdir(r)
    hist = {
        f.fingerprint
        for f in build_findings(scan(["."], ScanOptions(history=True, jobs=1)).hits, at=NOW)
    }
    files = {f.fingerprint for f in build_findings(scan(["."], ScanOptions(jobs=1)).hits, at=NOW)}
    assert files
    assert files <= hist  # HEAD's key has the same identity in both modes


def test_uncommitted_changes_are_scanned_with_history(repo: dict[str, object]) -> None:
    r = repo["path"]
    assert isinstance(r, Path)
    (r / "scratch.py").write_text(f"K = '{KEYS['lt_second'].key}'\n")
    found = _by_name(build_findings(scan([str(r)], ScanOptions(history=True, jobs=1)).hits, at=NOW))
    assert "lt_second" in found
    assert found["lt_second"].location.commit is None


def test_not_a_repository_is_an_error_value(tmp_path: Path) -> None:
    res = scan([str(tmp_path)], ScanOptions(history=True, jobs=1))
    assert res.errors
    assert "--history" in res.errors[0].error


def test_empty_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    res = scan([str(tmp_path)], ScanOptions(history=True, jobs=1))
    assert res.hits == []
    assert not res.errors


def test_raw_log_parser_handles_odd_paths() -> None:
    data = (
        b"\x01"
        + b"a" * 40
        + b" 1700000000\0\n:100644 100644 "
        + b"1" * 40
        + b" "
        + b"2" * 40
        + b" M\0dir/with space/\xc3\xa9.txt\0:000000 100644 "
        + b"0" * 40
        + b" "
        + b"3" * 40
        + b" A\0new\tfile\0"
    )
    changes = parse_raw_log_for_tests(data)
    assert [(c.path, c.old[:1], c.new[:1]) for c in changes] == [
        ("dir/with space/é.txt", "1", "2"),
        ("new\tfile", "0", "3"),
    ]


def test_blob_larger_than_a_chunk_is_streamed(tmp_path: Path) -> None:
    from phantomkeys.leaks.scanner import OVERLAP

    r = tmp_path / "big"
    r.mkdir()
    git(r, "init", "-q")
    filler = "x = 1  # filler line for a big generated file\n" * 8000
    (r / "generated.py").write_text(filler + f"K = '{KEYS['lt_claude'].key}'\n" + filler)
    _commit(r, "big file")
    scanner = Scanner(chunk_size=OVERLAP)  # the blob is several chunks long
    found, stats = scan_blobs(str(r), scanner)
    assert stats.bytes_scanned > 4 * OVERLAP
    ((hits, path),) = found.values()
    assert path == "generated.py"
    assert [h.line for h in hits] == [8001]
