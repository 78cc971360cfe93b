"""How long ``phantomkeys leaks --staged`` takes from exec to exit: the pre-commit hook.

The hook runs on every ``git commit``, so its whole cost is start-up: the interpreter,
the imports, one ``git diff --cached`` and the scan of the staged lines. Target
(issue 21): under 0.3 s on the project's test machine.

Builds a temporary repository with a few staged files (one holding a key, one clean),
then runs the hook's command line (from ``.pre-commit-hooks.yaml``) ``--repeat`` times
with the ``phantomkeys`` console script next to this interpreter, and prints the least
and the median wall time, plus the heaviest imports of one run (``-X importtime``).

Usage::

    python benchmarks/leaks_staged_startup.py            # 15 runs
    python benchmarks/leaks_staged_startup.py --repeat 30 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 0.3


def _hook_argv() -> list[str]:
    import yaml

    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    entry = next(h["entry"] for h in hooks if h["id"] == "phantomkeys-leaks")
    return shlex.split(entry)[1:]


def _program() -> list[str]:
    script = Path(sys.executable).with_name("phantomkeys")
    return [str(script)] if script.exists() else [sys.executable, "-m", "phantomkeys"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src")  # this checkout, as the hook would install
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_SYSTEM=os.devnull, NO_COLOR="1")
    return env


def _repo(root: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from phantomkeys.core import keys
    from phantomkeys.surfaces import BEDROCK

    env = _env()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    (root / "README.md").write_text("# bench\n")
    git("add", "README.md")
    git("commit", "-qm", "init")
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-bnch", account_id="123456789012", secret="s" * 40
    )
    (root / "app.py").write_text("def main():\n    return 1\n" * 200)
    (root / "settings.py").write_text(f"KEY = '{key}'\n")
    git("add", "app.py", "settings.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    cmd = [*_program(), *_hook_argv()]
    env = _env()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _repo(root)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 1 or "settings.py:1" not in proc.stdout:
                print(f"unexpected result {proc.returncode}: {proc.stdout}{proc.stderr}")
                return 2
        imports = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "phantomkeys", *_hook_argv()],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        ).stderr
    rows = []
    for line in imports.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    best, median = min(times), statistics.median(times)
    print(f"command: {' '.join(shlex.quote(c) for c in cmd)}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"runs: {args.repeat}  least: {best:.3f} s  median: {median:.3f} s")
    print(f"target: < {TARGET_SECONDS} s  {'OK' if median < TARGET_SECONDS else 'OVER'}")
    print("heaviest imports (cumulative µs):")
    for us, name in sorted(rows, reverse=True)[:8]:
        print(f"  {us:>8}  {name}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"least": best, "median": median, "runs": times}, indent=2) + "\n"
        )
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
