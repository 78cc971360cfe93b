#!/usr/bin/env python3
"""Account scan: phantomkeys vs the peer (``bks scan``) on the same lab endpoint.

Seeds the lab with N users of which P are phantom users in varied states, runs
both tools as real processes against the same endpoint, and prints the AWS
calls each made (counted by the lab server) and the wall time, with ratios.

Target (issue 4): at N=5,000 and P=1,000, phantomkeys makes at most 30 AWS calls
(the peer needs about 4 per phantom) and finishes at least 5x faster; its call
count does not grow with P.

    python benchmarks/scan_vs_peer.py                       # N=5000 P=1000, 3 runs each
    python benchmarks/scan_vs_peer.py --users 500 --phantoms 100 --scaling 10,100
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any


def run_tool(name: str, argv: list[str], env: dict[str, str], lab: Any) -> dict[str, Any]:
    lab.reset_stats()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = lab.stats()
    return {
        "tool": name,
        "exit": proc.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "calls": stats["total"],
        "by_operation": stats["by_operation"],
        "stdout": proc.stdout,
        "stderr": proc.stderr[-2000:],
    }


def run_rounds(
    tools: list[tuple[str, list[str] | None]], env: dict[str, str], lab: Any, repeat: int
) -> list[dict[str, Any]]:
    """Run every tool ``repeat`` times, alternating which goes first, and keep the
    median run of each (by wall time): neither tool always meets a cold or a warm
    lab, and one noisy run does not decide the ratio. ``calls`` is the most any
    run made (the first run also generates the credential report)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, argv in tools if argv}
    order = [(name, argv) for name, argv in tools if argv]
    for n in range(max(1, repeat)):
        for name, argv in order if n % 2 == 0 else list(reversed(order)):
            assert argv is not None
            runs[name].append(run_tool(name, argv, env, lab))
    out = []
    for name, _ in order:
        ranked = sorted(runs[name], key=lambda r: r["wall_s"])
        median = dict(ranked[(len(ranked) - 1) // 2])
        median["calls"] = max(r["calls"] for r in ranked)
        median["walls"] = [round(r["wall_s"], 2) for r in runs[name]]
        out.append(median)
    return out


def phantomkeys_cmd() -> list[str]:
    return [sys.executable, "-m", "phantomkeys", "scan", "--format", "json", "--no-history"]


def bks_cmd(outdir: str) -> list[str] | None:
    exe = shutil.which("bks") or shutil.which("bks", path=os.path.dirname(sys.executable))
    if exe is None:
        return None
    return [exe, "--output-dir", outdir, "-q", "scan", "--service", "all", "--json"]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--phantoms", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--scaling",
        default="",
        help="comma-separated phantom counts: also check phantomkeys' calls do not grow with P",
    )
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per tool, alternating which goes first; the median is reported",
    )
    ap.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="add this much latency to every lab call (real AWS round trips are "
        "tens of milliseconds; 0 = the lab's raw speed)",
    )
    args = ap.parse_args()

    from phantomkeys.lab import Lab

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _bytecode import ensure_bytecode

    print(f"phantomkeys modules: {ensure_bytecode()}", file=sys.stderr)

    results: list[dict[str, Any]] = []
    print(f"seeding lab: {args.users} users, {args.phantoms} phantoms …", file=sys.stderr)
    t0 = time.perf_counter()
    with Lab.start(users=args.users, phantoms=args.phantoms, seed=args.seed) as lab:
        print(f"seeded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.latency_ms:
            lab.set_faults(f"iam:*=latency:{args.latency_ms}ms,sts:*=latency:{args.latency_ms}ms")
        env = {**os.environ, **lab.env}
        env.pop("AWS_PROFILE", None)
        with tempfile.TemporaryDirectory() as outdir:
            cmd = bks_cmd(outdir)
            if cmd is None:
                print("peer tool missing: pip install bedrock-keys-security", file=sys.stderr)
            results = run_rounds(
                [("phantomkeys", phantomkeys_cmd()), ("bks", cmd)], env, lab, args.repeat
            )
        mine = results[0]
        doc = json.loads(mine["stdout"]) if mine["stdout"].strip() else {}
        mine["identities"] = doc.get("summary", {}).get("identities")

    scaling = []
    for p in [int(x) for x in args.scaling.split(",") if x.strip()]:
        with Lab.start(users=max(args.users, p), phantoms=p, seed=args.seed) as lab:
            env = {**os.environ, **lab.env}
            r = run_tool("phantomkeys", phantomkeys_cmd(), env, lab)
            scaling.append({"phantoms": p, "calls": r["calls"], "wall_s": r["wall_s"]})

    if args.json:
        print(
            json.dumps(
                {
                    "results": [
                        {k: v for k, v in r.items() if k not in ("stdout",)} for r in results
                    ],
                    "scaling": scaling,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"\nAccount scan, N={args.users} users, P={args.phantoms} phantoms "
        "(same lab endpoint, calls counted by the server)\n"
    )
    print(
        f"{'tool':<12} {'exit':>4} {'AWS calls':>10} {'wall s':>8} {'client CPU s':>13}"
        "   (median of runs: every run's wall s)"
    )
    for r in results:
        print(
            f"{r['tool']:<12} {r['exit']:>4} {r['calls']:>10} {r['wall_s']:>8.2f} "
            f"{r['cpu_s']:>13.2f}   {r['walls']}"
        )
    if len(results) == 2:
        a, b = results
        print(
            f"\nratio (bks / phantomkeys): calls {b['calls'] / max(a['calls'], 1):.1f}x, "
            f"wall time {b['wall_s'] / max(a['wall_s'], 1e-9):.1f}x"
        )
    if args.latency_ms:
        print(
            f"(every IAM/STS call delayed by {args.latency_ms} ms in the lab, as a stand-in "
            "for real AWS round trips)"
        )
    print("\nphantomkeys calls by operation:")
    for op, n in sorted(results[0]["by_operation"].items()):
        print(f"  {op:<55} {n}")
    if scaling:
        print("\nphantomkeys calls vs P:")
        for s in scaling:
            print(f"  P={s['phantoms']:<6} calls={s['calls']:<5} wall={s['wall_s']:.2f}s")
    ok = results[0]["calls"] <= 30
    print(f"\ntarget <= 30 calls: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
