#!/usr/bin/env python3
"""Organization scan: phantomkeys vs the peer (``bks scan --org``) on the same lab.

Seeds a lab Organization (management account + A member accounts, each with N
users of which P are phantoms), runs both tools as real processes against the
same endpoint, and prints AWS calls (counted by the lab server) and wall time,
with ratios. The peer repeats its whole org scan once per surface; phantomkeys
reads both surfaces in one pass over each account.

Target (issue 5): at least 5x faster and at most 1/5 of the calls, at A=50.

    python benchmarks/org_vs_peer.py                  # A=50, N=100, P=20
    python benchmarks/org_vs_peer.py --accounts 10 --latency-ms 40
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scan_vs_peer import run_rounds


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--phantoms", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--workers",
        type=int,
        default=8,
        help="phantomkeys -j/--jobs (the peer uses 8 accounts in parallel)",
    )
    ap.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="add this much latency to every lab call (0 = raw lab speed)",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per tool, alternating which goes first; the median is reported",
    )
    args = ap.parse_args()

    from phantomkeys.lab import Lab

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _bytecode import ensure_bytecode

    print(f"phantomkeys modules: {ensure_bytecode()}", file=sys.stderr)

    print(
        f"seeding lab: {args.accounts} member accounts x {args.users} users "
        f"({args.phantoms} phantoms) …",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    results = []
    with Lab.start(
        users=args.users, phantoms=args.phantoms, accounts=args.accounts, seed=args.seed
    ) as lab:
        print(f"seeded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.latency_ms:
            lab.set_faults(f"*:*=latency:{args.latency_ms}ms")
        env = {**os.environ, **lab.env}
        with tempfile.TemporaryDirectory() as tmp:
            mine_cmd = [
                sys.executable,
                "-m",
                "phantomkeys",
                "scan",
                "--org",
                "--format",
                "json",
                "--no-history",
                "-j",
                str(args.workers),
                "--checkpoint",
                os.path.join(tmp, "cp.json"),
            ]
            exe = shutil.which("bks") or shutil.which("bks", path=os.path.dirname(sys.executable))
            if exe is None:
                print("peer tool missing: pip install bedrock-keys-security", file=sys.stderr)
            bks = (
                None
                if exe is None
                else [exe, "--output-dir", tmp, "-q", "scan", "--org", "--service", "all", "--json"]
            )
            # Without --resume every run starts its checkpoint afresh and scans all accounts.
            results = run_rounds([("phantomkeys", mine_cmd), ("bks", bks)], env, lab, args.repeat)
            mine = results[0]
            doc = json.loads(mine["stdout"]) if mine["stdout"].strip() else {}
            mine["accounts_scanned"] = len(doc.get("accounts", []))
    if args.json:
        print(
            json.dumps([{k: v for k, v in r.items() if k != "stdout"} for r in results], indent=2)
        )
        return 0
    print(
        f"\nOrganization scan: {args.accounts} member accounts + management, "
        f"{args.users} users / {args.phantoms} phantoms each"
        + (f", {args.latency_ms} ms latency per call" if args.latency_ms else "")
        + "\n"
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
        calls = a["calls"] / max(b["calls"], 1)
        speed = b["wall_s"] / max(a["wall_s"], 1e-9)
        print(
            f"\nphantomkeys makes {calls:.2f} of the peer's calls "
            f"(target <= 0.20) and is {speed:.1f}x faster (target >= 5x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
