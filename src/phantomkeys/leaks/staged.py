"""The lines a commit is about to add: ``git diff --cached`` (the pre-commit hook).

Only added lines are scanned, with their line numbers in the staged file, so a
hook blocks the commit that introduces a key and not every later commit that
touches the same file (a key already committed is ``--history``'s business).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from phantomkeys.leaks.gitcmd import git_argv
from phantomkeys.leaks.model import FileResult, KeyHit, ScanError
from phantomkeys.leaks.scanner import Scanner

_HUNK_RE = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_C_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\"}


@dataclass
class StagedFile:
    path: str
    lines: list[tuple[int, bytes]] = field(default_factory=list)  # (line number, content)


def staged_diff(repo: str) -> bytes:
    proc = subprocess.run(  # noqa: S603 - argv list, no shell
        git_argv(
            "-C",
            repo,
            "-c",
            "core.quotePath=false",
            "diff",
            "--cached",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--diff-filter=ACMRT",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ),
        capture_output=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(msg[-1] if msg else "git diff --cached failed")
    return proc.stdout


def _unquote(raw: bytes) -> bytes:
    """git's C-style quoting of unusual paths: ``"a\\tb"``, octal escapes."""
    if not (raw.startswith(b'"') and raw.endswith(b'"')):
        return raw
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        if body[i : i + 1] == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            if nxt in _C_ESCAPES:
                out += _C_ESCAPES[nxt]
                i += 2
                continue
            if body[i + 1 : i + 4].isdigit():
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
        out += body[i : i + 1]
        i += 1
    return bytes(out)


def parse_added_lines(diff: bytes) -> list[StagedFile]:
    """Added lines per file from a unified diff (``-U0``); binary files have none."""
    files: list[StagedFile] = []
    current: StagedFile | None = None
    line_no = 0
    for line in diff.split(b"\n"):
        if line.startswith(b"diff --git "):
            current = None
        elif line.startswith(b"+++ "):
            target = _unquote(line[4:].rstrip(b"\r"))
            if target == b"/dev/null":
                current = None
            else:
                name = target[2:] if target.startswith(b"b/") else target
                current = StagedFile(os.fsdecode(name))
                files.append(current)
        elif line.startswith(b"@@"):
            m = _HUNK_RE.match(line)
            line_no = int(m.group(1)) if m else 0
        elif current is not None and line.startswith(b"+"):
            current.lines.append((line_no, line[1:]))
            line_no += 1
        elif current is not None and line.startswith(b" "):
            line_no += 1
    return [f for f in files if f.lines]


def scan_staged_file(scanner: Scanner, staged: StagedFile, display: str) -> FileResult:
    """Scan the added lines as one buffer and map hits back to real line numbers."""
    buffer = b"\n".join(content for _, content in staged.lines)
    hits, rejected = scanner.scan_buffer(buffer)
    mapped = [
        KeyHit(
            key=h.key,
            line=staged.lines[h.line - 1][0],
            column=h.column,
            offset=h.offset,
            encoding=h.encoding,
            preview=h.preview,
            context=h.context,
        )
        for h in hits
    ]
    return FileResult(path=display, size=len(buffer), hits=tuple(mapped), rejected=rejected)


def scan_staged(repo: str, scanner: Scanner) -> tuple[list[FileResult], list[ScanError]]:
    """Every file with staged additions in the repository holding ``repo``."""
    try:
        top = subprocess.run(  # noqa: S603 - argv list, no shell
            git_argv("-C", repo, "rev-parse", "--show-toplevel"),
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return [], [ScanError(repo, f"cannot run git: {exc}")]
    if top.returncode != 0:
        return [], [ScanError(repo, "not inside a git work tree (--staged needs one)")]
    root = top.stdout.decode("utf-8", "replace").strip()
    try:
        diff = staged_diff(root)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        return [], [ScanError(repo, str(exc))]
    shown = os.path.relpath(root)
    results = [
        scan_staged_file(scanner, f, f.path if shown == "." else os.path.join(shown, f.path))
        for f in parse_added_lines(diff)
    ]
    return results, []
