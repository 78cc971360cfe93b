"""Folder scans: every planted key found at the right place; decoys, binaries, ignores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from leakfixtures import KEYS, NOW, Planted, decoys, git, json_escape

from phantomkeys.core.findings import Severity
from phantomkeys.leaks import ScanOptions, build_findings, scan
from phantomkeys.leaks.model import SkipReason


def _found(findings: list, root: Path) -> set[tuple[str, str, int]]:
    by_token = {}
    from phantomkeys.core import keys

    for name, p in KEYS.items():
        by_token[keys.decode(p.key).token_sha256] = name
    out = set()
    for f in findings:
        rel = os.path.relpath(f.location.path, root)
        out.add((rel, by_token[f.evidence["token_sha256"]], f.location.line))
    return out


def test_every_planted_key_found_with_path_and_line(tree: tuple[Path, Planted]) -> None:
    root, planted = tree
    result = scan([str(root)], ScanOptions(jobs=1))
    findings = build_findings(result.hits, at=NOW)
    assert _found(findings, root) == set(planted)
    assert not result.errors


def test_decoys_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(decoys())
    result = scan([str(tmp_path)], ScanOptions(jobs=1))
    assert result.hits == []
    # the wrong-payload lines were candidates that failed to decode
    assert result.candidates_rejected >= 2


def test_binary_files_are_skipped_by_content(tree: tuple[Path, Planted]) -> None:
    root, _ = tree
    result = scan([str(root)], ScanOptions(jobs=1))
    skipped = {os.path.relpath(s.path, root): s.reason for s in result.skipped}
    assert skipped == {"assets/blob.bin": SkipReason.BINARY}
    assert result.files_binary == 1


def test_columns_and_contexts(tree: tuple[Path, Planted]) -> None:
    root, _ = tree
    findings = build_findings(scan([str(root / "logs")], ScanOptions(jobs=1)).hits, at=NOW)
    (f,) = findings
    line = (root / "logs/app.log").read_text().splitlines()[40]
    assert f.location.column == line.index("ABSK") + 1
    assert f.evidence["context"] == "authorization-header"
    json_finding = build_findings(scan([str(root / "config")], ScanOptions(jobs=1)).hits, at=NOW)
    assert json_finding[0].evidence["encoding"] == "json-escaped"


def test_decoded_facts_and_severities(tree: tuple[Path, Planted]) -> None:
    root, _ = tree
    findings = build_findings(scan([str(root)], ScanOptions(jobs=1)).hits, at=NOW)
    by_path = {os.path.relpath(f.location.path, root): f for f in findings}
    lt = by_path["src/app/settings.py"]
    assert lt.rule_id == "leaked-long-term-key"
    assert lt.severity is Severity.CRITICAL
    assert lt.account_id == "123456789012"
    assert lt.evidence["username"] == "BedrockAPIKey-hr8l"
    assert lt.evidence["surface"] == "bedrock"
    assert lt.subject == "arn:aws:iam::123456789012:user/BedrockAPIKey-hr8l"
    claude = by_path["notebooks/explore.ipynb"]
    assert claude.evidence["surface"] == "claude-platform"
    assert claude.evidence["kind"] == "short-term"
    assert claude.evidence["access_key_type"] == "ASIA"
    assert claude.severity is Severity.HIGH
    assert claude.evidence["expired"] is False
    expired = by_path["deploy/values.yaml"]
    assert expired.severity is Severity.LOW
    assert expired.evidence["expired"] is True
    assert "expired" in expired.title
    second = by_path[".env"]
    assert second.evidence["key_position"] == "secondary"
    assert second.account_id == "210987654321"


def test_ignored_files_read_by_default_and_counted_when_respected(tmp_path: Path) -> None:
    key = KEYS["lt_bedrock"].key
    (tmp_path / ".gitignore").write_text("build/\n*.secret\n!keep.secret\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.txt").write_text(key)
    (tmp_path / "a.secret").write_text(key)
    (tmp_path / "keep.secret").write_text(key)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("local.txt\n")
    (tmp_path / "sub" / "local.txt").write_text(key)
    (tmp_path / "sub" / "shared.txt").write_text(key)

    def paths(**kw: bool) -> tuple[set[str], set[str]]:
        res = scan([str(tmp_path)], ScanOptions(jobs=1, **kw))
        skipped = {
            os.path.relpath(s.path, tmp_path) for s in res.skipped if s.reason == "git-ignored"
        }
        return {os.path.relpath(h.path, tmp_path) for h in res.hits}, skipped

    kept = {"keep.secret", "sub/shared.txt"}
    ignored = {"build", "a.secret", "sub/local.txt"}
    ignored_files = {"build/out.txt", "a.secret", "sub/local.txt"}
    assert paths() == (kept | ignored_files, set())  # every file, by default
    # --respect-gitignore: pathspec outside git, git's own view inside; what was left
    # out is reported (a whole ignored folder once)
    assert paths(respect_ignore=True) == (kept, ignored)
    git(tmp_path, "init", "-q")
    assert paths(respect_ignore=True) == (kept, ignored)
    assert paths() == (kept | ignored_files, set())


def test_git_view_includes_untracked_and_tracked_files(tmp_path: Path) -> None:
    key = KEYS["lt_claude"].key
    git(tmp_path, "init", "-q")
    (tmp_path / "tracked.py").write_text(f"K = '{key}'\n")
    git(tmp_path, "add", "tracked.py")
    (tmp_path / "untracked.py").write_text(f"K = '{key}'\n")
    res = scan([str(tmp_path)], ScanOptions(jobs=1))
    assert {os.path.basename(h.path) for h in res.hits} == {"tracked.py", "untracked.py"}


def test_explicit_file_is_scanned_even_if_ignored(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.env\n")
    f = tmp_path / "prod.env"
    f.write_text(f"K={KEYS['lt_bedrock'].key}\n")
    assert len(scan([str(f)], ScanOptions(jobs=1)).hits) == 1


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_unreadable_file_is_an_error_value() -> None:
    # /proc/self/mem is a regular file whose read at offset 0 fails (EIO) even for root
    res = scan(["/proc/self/mem"], ScanOptions(jobs=1))
    assert [e.path for e in res.errors] == ["/proc/self/mem"]
    assert res.errors[0].error


def test_missing_path_is_an_error_value(tmp_path: Path) -> None:
    res = scan([str(tmp_path / "nope")], ScanOptions(jobs=1))
    assert res.errors
    assert res.errors[0].path.endswith("nope")


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text(KEYS["lt_bedrock"].key)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "link.txt").symlink_to(target)
    res = scan([str(proj)], ScanOptions(jobs=1))
    assert res.hits == []
    assert [s.reason for s in res.skipped] == [SkipReason.SYMLINK]


def test_process_pool_gives_the_same_findings(
    tree: tuple[Path, Planted], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phantomkeys.leaks import engine

    root, planted = tree
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    res = scan([str(root)], ScanOptions(jobs=2))
    assert _found(build_findings(res.hits, at=NOW), root) == set(planted)


def test_same_key_twice_in_a_file_is_one_finding_with_occurrences(tmp_path: Path) -> None:
    key = KEYS["lt_bedrock"].key
    (tmp_path / "a.txt").write_text(f'{key}\nfoo\n"{json_escape(key)}"\n')
    (f,) = build_findings(scan([str(tmp_path)], ScanOptions(jobs=1)).hits, at=NOW)
    assert [o["line"] for o in f.evidence["occurrences"]] == [1, 3]
    assert f.evidence["occurrence_count"] == 2


def test_fingerprint_survives_line_moves(tmp_path: Path) -> None:
    key = KEYS["st_bedrock"].key
    f = tmp_path / "a.txt"
    f.write_text(f"{key}\n")
    first = build_findings(scan([str(f)], ScanOptions(jobs=1)).hits, at=NOW)[0]
    f.write_text("\n" * 10 + f"x = '{key}'\n")
    moved = build_findings(scan([str(f)], ScanOptions(jobs=1)).hits, at=NOW)[0]
    assert moved.location.line == 11
    assert moved.fingerprint == first.fingerprint
