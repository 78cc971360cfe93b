"""The published pre-commit hooks, run by pre-commit itself (``pre-commit try-repo``) in a
temporary repository: a staged key blocks the commit with one line per finding and no
secret; a clean commit passes; the manual-stage hook reads the history."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "leaks"))
from leakfixtures import KEYS  # noqa: E402

pytest.importorskip("pre_commit")

#: ``path:line[:col]: severity: …`` — the hook's one line per finding.
FINDING_LINE = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+)(?::\d+)?: (?P<sev>\w+): ")


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


def _try_repo(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO_ROOT), *args, "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _findings(output: str) -> list[re.Match[str]]:
    return [m for line in output.splitlines() if (m := FINDING_LINE.match(line))]


def test_pre_commit_runs_the_published_hooks(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and the repository's checkout")
    env = _env(tmp_path / "pre-commit-home")
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
    blocked = _try_repo(repo, env, "phantomkeys-leaks")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode == 1, out
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
    clean = _try_repo(repo, env, "phantomkeys-leaks")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.search(r"phantomkeys leaks .*Passed", clean.stdout)
    assert _findings(clean.stdout) == []

    # the manual-stage hook reads the whole history (a key committed, then removed)
    _git(repo, env, "add", "settings.py")
    _git(repo, env, "commit", "-qm", "oops", "--no-verify")
    _git(repo, env, "rm", "-q", "settings.py")
    _git(repo, env, "commit", "-qm", "remove", "--no-verify")
    history = _try_repo(repo, env, "phantomkeys-leaks-history", "--hook-stage", "manual")
    out = history.stdout + history.stderr
    assert history.returncode == 1, out
    assert [(m["path"], m["line"]) for m in _findings(out)] == [
        (".env", "2"),  # untracked, in the work tree
        ("settings.py", "3"),  # only in history
    ]
    assert bedrock.secret not in out
