"""The published pre-commit hooks, run by pre-commit itself (``pre-commit try-repo``) in a
temporary repository: a staged key blocks the commit with one line per finding and no
secret; a clean commit passes; the manual-stage hook reads the history."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "leaks"))
from leakfixtures import KEYS  # noqa: E402
from tests.packaging.conftest import source_files  # noqa: E402

#: ``path:line[:col]: severity: …`` — the hook's one line per finding.
FINDING_LINE = re.compile(
    r"^(?P<path>[^\s:]+):(?P<line>\d+)(?::\d+)?(?: @[0-9a-f]{12})?: (?P<sev>\w+): "
)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "GIT_"))}
    env.update(
        PRE_COMMIT_HOME=str(home),
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.com",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_SYSTEM=os.devnull,
        NO_COLOR="1",
    )
    return env


def _git(repo: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def _try_repo(
    hooks: Path, repo: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *args, "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _committed_copy(dest: Path, env: dict[str, str]) -> Path:
    """This checkout, working changes included, as a clean repository: try-repo then
    uses its HEAD, and every run shares one hook environment (one install, not three)."""
    for rel in source_files():
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, env, "init", "-q")
    _git(dest, env, "add", "-A")
    _git(dest, env, "commit", "-qm", "phantomkeys under test", "--no-verify")
    return dest


def _findings(output: str) -> list[re.Match[str]]:
    return [m for line in output.splitlines() if (m := FINDING_LINE.match(line))]


def _scenario(tmp_path: Path, env: dict[str, str], run: Runner, *, by_pre_commit: bool) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, env, "init", "-q")
    (repo / "README.md").write_text("# app\n")
    _git(repo, env, "add", "README.md")
    _git(repo, env, "commit", "-qm", "init", "--no-verify")

    # a staged Bedrock long-term key and a Claude Platform short-term key: blocked
    bedrock, claude = KEYS["lt_bedrock"], KEYS["st_claude"]
    (repo / "settings.py").write_text(f"import os\n\nKEY = '{bedrock.key}'\n")
    (repo / ".env").write_text(f"AWS_REGION=us-west-2\nCLAUDE_KEY={claude.key}\n")
    _git(repo, env, "add", "settings.py", ".env")
    blocked = run(repo, "phantomkeys-leaks", ())
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode == 1, out
    if by_pre_commit:
        assert re.search(r"phantomkeys leaks .*Failed", out)
    lines = _findings(out)
    assert sorted((m["path"], m["line"]) for m in lines) == [(".env", "2"), ("settings.py", "3")]
    assert "bedrock long-term key ABSK" in out and "claude-platform short-term key" in out
    for frag in (bedrock.key, bedrock.secret, claude.key, claude.key[40:100]):
        assert frag not in out  # the secret is never printed

    # a clean change passes
    _git(repo, env, "rm", "-q", "--cached", "settings.py", ".env")
    (repo / "app.py").write_text("print('hello')\n")
    _git(repo, env, "add", "app.py")
    clean = run(repo, "phantomkeys-leaks", ())
    assert clean.returncode == 0, clean.stdout + clean.stderr
    if by_pre_commit:
        assert re.search(r"phantomkeys leaks .*Passed", clean.stdout)
    assert _findings(clean.stdout) == []

    # the manual-stage hook reads the whole history (a key committed, then removed)
    _git(repo, env, "add", "settings.py")
    _git(repo, env, "commit", "-qm", "oops", "--no-verify")
    _git(repo, env, "rm", "-q", "settings.py")
    _git(repo, env, "commit", "-qm", "remove", "--no-verify")
    history = run(repo, "phantomkeys-leaks-history", ("--hook-stage", "manual"))
    out = history.stdout + history.stderr
    assert history.returncode == 1, out
    assert sorted((m["path"], m["line"]) for m in _findings(out)) == [
        (".env", "2"),  # untracked, in the work tree
        ("settings.py", "3"),  # only in history
    ]
    assert bedrock.secret not in out


Runner = Callable[[Path, str, Sequence[str]], subprocess.CompletedProcess[str]]


def _needs_git() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and the repository's checkout")


@pytest.mark.slow
def test_pre_commit_try_repo_runs_the_published_hooks(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    _needs_git()
    env = _env(tmp_path / "pre-commit-home")
    hooks = _committed_copy(tmp_path / "phantomkeys", env)

    def run(repo: Path, hook: str, extra: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return _try_repo(hooks, repo, env, hook, *extra)

    _scenario(tmp_path, env, run, by_pre_commit=True)


def test_hook_entries_as_declared(tmp_path: Path) -> None:
    """Each hook's ``entry`` from .pre-commit-hooks.yaml, run in the repository the way
    pre-commit runs it (no file names), with this checkout's phantomkeys."""
    _needs_git()
    hooks = {h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["phantomkeys-leaks"]["stages"] == ["pre-commit"]
    assert hooks["phantomkeys-leaks-history"]["stages"] == ["manual"]
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["entry"].startswith("phantomkeys leaks ")
    env = _env(tmp_path / "unused")
    env["PYTHONPATH"] = str(REPO_ROOT / "src")

    def run(repo: Path, hook: str, extra: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(hooks[hook]["entry"])[1:]
        return subprocess.run(
            [sys.executable, "-m", "phantomkeys", *argv],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    _scenario(tmp_path, env, run, by_pre_commit=False)


def test_staged_hook_imports_only_what_it_needs(tmp_path: Path) -> None:
    """The hook's start-up (benchmarks/leaks_staged_startup.py: < 0.3 s) does not pay for
    rich, boto3, YAML or the .gitignore parser."""
    _needs_git()
    env = _env(tmp_path / "unused")
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, env, "init", "-q")
    (repo / "a.py").write_text(f"K = '{KEYS['lt_claude'].key}'\n")
    _git(repo, env, "add", "a.py")
    probe = (
        "import sys\n"
        "from phantomkeys.cli import cli\n"
        "try:\n"
        "    cli.main(['leaks', '--staged', '--format', 'text', '--fail-on', 'low'],"
        " prog_name='phantomkeys')\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "heavy = ('rich', 'boto3', 'botocore', 'yaml', 'pathspec', 'multiprocessing')\n"
        "print('LOADED', code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, env=env, capture_output=True, text=True
    )
    assert "LOADED 1 []" in proc.stdout, proc.stdout + proc.stderr
