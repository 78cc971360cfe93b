"""Which files a folder scan reads: every file by default, or git's view of it.

* By default every regular file under a folder is read, git-ignored ones
  included (``.env``, ``config/local.*`` and notebooks are usually ignored, and
  that is where keys live); VCS internals (``.git``, ``.hg``, ``.svn``) are
  skipped and reported (history is what ``--history`` reads).
* With ``--respect-gitignore``, inside a git work tree git decides: ``git
  ls-files -co --exclude-standard`` lists tracked files plus untracked ones that
  no ignore rule excludes, and ``git ls-files -oi --directory`` lists what was
  left out, so every ignored file or folder is reported as skipped. Elsewhere
  ``.gitignore`` files are honoured at every depth with :mod:`pathspec`'s
  git-compatible matcher, and what they exclude is reported the same way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phantomkeys.leaks.gitcmd import git_argv
from phantomkeys.leaks.model import ScanError, Skipped, SkipReason

if TYPE_CHECKING:
    import pathspec  # imported when a .gitignore is read: ~15 ms of start-up otherwise

_GIT_DIR = ".git"
#: Version-control internals never read as files (``--history`` reads git's history).
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})


#: A file's size the listing did not look up (the scan ``fstat``-s every file anyway).
UNKNOWN_SIZE = -1


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file to scan: ``path`` opens it, ``label`` is what reports show."""

    path: str
    #: Bytes when listed; ``UNKNOWN_SIZE`` when the walk did not ``stat`` it.
    size: int
    label: str | None = None

    @property
    def shown(self) -> str:
        return self.label or self.path


def git_toplevel(directory: str) -> str | None:
    """The work tree root holding ``directory``, or ``None`` outside git (or no git)."""
    import subprocess  # not at import time: --all and stdin scans never run git

    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            git_argv("-C", directory, "rev-parse", "--is-inside-work-tree", "--show-toplevel"),
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0 or len(lines) < 2 or lines[0] != "true":
        return None
    return lines[1]


def iter_files(
    paths: list[str], *, respect_ignore: bool = False
) -> Iterator[FileEntry | Skipped | ScanError]:
    """Every file under ``paths`` to scan, plus what was skipped or failed, as values.

    A file named explicitly is always scanned, ignored or not; everything left out
    (ignored with ``respect_ignore``, VCS internals, symlinks) comes back as a
    :class:`Skipped` so the report can count and show it.
    """
    for root in paths:
        try:
            st = os.lstat(root)
        except OSError as exc:
            yield ScanError(root, exc.strerror or type(exc).__name__)
            continue
        if os.path.isdir(root):
            yield from _iter_dir(root, respect_ignore)
        elif os.path.islink(root):
            yield Skipped(root, SkipReason.SYMLINK)
        elif os.path.isfile(root):
            yield FileEntry(root, st.st_size)
        else:
            yield Skipped(root, SkipReason.NOT_A_FILE)


def _join(root: str, rel: str) -> str:
    return rel if root in (".", "./") else os.path.join(root, rel)


def _iter_dir(root: str, respect_ignore: bool) -> Iterator[FileEntry | Skipped | ScanError]:
    if respect_ignore and git_toplevel(root) is not None:
        listed = _git_ls_files(root)
        ignored = git_ignored(root)
        if listed is not None and ignored is not None:
            yield from _entries(root, listed)
            for rel in ignored:
                yield Skipped(_join(root, rel), SkipReason.IGNORED)
            return
    yield from _walk(root, respect_ignore)


def git_ignored(root: str) -> list[str] | None:
    """The git-ignored files and folders under ``root`` (relative, a folder once), or
    ``None`` when git failed."""
    listed = _git_ls_files(root, ignored=True)
    if listed is None:
        return None
    # git lists a folder holding only ignored files ("config/") as well as the ignored
    # files in it that a pattern names ("config/local.yaml"): keep the files then.
    ordered = sorted(listed)
    out = []
    for n, rel in enumerate(ordered):
        if rel.endswith("/"):
            if n + 1 < len(ordered) and ordered[n + 1].startswith(rel):
                continue
            rel = rel[:-1]
        out.append(rel)
    return out


def _git_ls_files(root: str, *, ignored: bool = False) -> list[str] | None:
    """What git lists under ``root``: tracked and untracked-not-ignored files, or
    (``ignored``) the ignored files and folders (a folder once, ``name/``)."""
    import subprocess

    which = (
        ("--others", "--ignored", "--exclude-standard", "--directory")
        if ignored
        else ("--cached", "--others", "--exclude-standard")
    )
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            git_argv("-C", root, "ls-files", "-z", *which),
            capture_output=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = proc.stdout.split(b"\0")
    # --cached lists a path once per index stage during a merge: deduplicate.
    return list(dict.fromkeys(os.fsdecode(n) for n in names if n))


def _entries(root: str, rels: list[str]) -> Iterator[FileEntry | Skipped | ScanError]:
    for rel in rels:
        path = _join(root, rel)
        try:
            mode = (st := os.lstat(path)).st_mode
        except FileNotFoundError:
            continue  # tracked but deleted in the work tree: nothing to read
        except OSError as exc:
            yield ScanError(path, exc.strerror or type(exc).__name__)
            continue
        if stat.S_ISLNK(mode):
            yield Skipped(path, SkipReason.SYMLINK)
        elif stat.S_ISDIR(mode):
            yield Skipped(path, SkipReason.SUBMODULE)
        elif stat.S_ISREG(mode):
            yield FileEntry(path, st.st_size)
        else:
            yield Skipped(path, SkipReason.NOT_A_FILE)


_Specs = list[tuple[str, "pathspec.GitIgnoreSpec"]]


def _walk(root: str, respect_ignore: bool) -> Iterator[FileEntry | Skipped | ScanError]:
    """Every file under ``root``, directories first-to-last in sorted order, the files
    of a directory (sorted) before its subdirectories, ``.git`` directories pruned.

    ``os.scandir`` gives each entry's type without a ``stat`` (sizes are left
    unknown: the scan ``fstat``-s each file it opens). A symlink is reported as
    skipped, never followed (a symlink to a directory is not descended, like
    ``os.walk``).
    """
    # (directory path, directory relative to root, the .gitignore specs in force)
    dot = root in (".", "./")
    stack: list[tuple[str, str, _Specs]] = [(root, "", [])]
    while stack:
        dirpath, rel_dir, specs = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                listing = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield ScanError(exc.filename or dirpath, exc.strerror or type(exc).__name__)
            continue
        if respect_ignore:
            spec = _load_gitignore(os.path.join(dirpath, ".gitignore"))
            if spec is not None:
                specs = [*specs, (rel_dir, spec)]
        subdirs: list[tuple[str, str, _Specs]] = []
        for entry in listing:
            rel = f"{rel_dir}{os.sep}{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir()  # follows a symlink, as os.walk does
            except OSError:
                is_dir = False
            # entry.path is os.path.join(root, rel), joined in C; "./x" for root "."
            path = rel if dot else entry.path
            if is_dir:
                if entry.is_symlink():
                    yield Skipped(path, SkipReason.SYMLINK)
                    continue
                if entry.name in VCS_DIRS:
                    yield Skipped(path, SkipReason.VCS)
                    continue
                if respect_ignore and _ignored(rel, specs, is_dir=True):
                    yield Skipped(path, SkipReason.IGNORED)
                    continue
                subdirs.append((entry.path, rel, specs))
                continue
            if entry.name == _GIT_DIR:  # a linked work tree's or submodule's ".git" file
                yield Skipped(path, SkipReason.VCS)
                continue
            if respect_ignore and _ignored(rel, specs, is_dir=False):
                yield Skipped(path, SkipReason.IGNORED)
                continue
            try:
                if entry.is_symlink():
                    yield Skipped(path, SkipReason.SYMLINK)
                elif entry.is_file(follow_symlinks=False):
                    yield FileEntry(path, UNKNOWN_SIZE)
                else:
                    yield Skipped(path, SkipReason.NOT_A_FILE)
            except OSError as exc:
                yield ScanError(path, exc.strerror or type(exc).__name__)
        stack.extend(reversed(subdirs))


def _within(rel_dir: str, spec_dir: str) -> bool:
    return spec_dir == "" or rel_dir == spec_dir or rel_dir.startswith(spec_dir + os.sep)


def _load_gitignore(path: str) -> pathspec.GitIgnoreSpec | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(rel: str, specs: _Specs, *, is_dir: bool) -> bool:
    """Deeper .gitignore files override shallower ones, last matching pattern wins."""
    decision = False
    for spec_dir, spec in specs:
        sub = os.path.relpath(rel, spec_dir) if spec_dir else rel
        sub = sub.replace(os.sep, "/") + ("/" if is_dir else "")
        result = spec.check_file(sub)
        if result.include is not None:
            decision = bool(result.include)
    return decision
