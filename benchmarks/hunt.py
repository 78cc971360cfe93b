"""Benchmark ``phantomkeys hunt`` (the whole rule pack on DuckDB) on realistic CloudTrail.

Generates (once, cached in --workdir) CloudTrail in the real delivery shape:
one gzipped ``{"Records": [...]}`` file per account, region and 5 minutes
under ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` (DOMAIN-FACTS §6),
mostly management noise plus Bedrock traffic and one LLMjacking story
(``phantomkeys.trail.synth``). Then times, on the same files:

* **phantomkeys**: discovery, ingestion, every rule, aggregation and the
  sliding-window correlations, i.e. everything ``hunt`` does but printing;
* **(a) python loop**: gunzip + ``json.loads`` of every file (the naive baseline);
* **(b) zcat**: decompression only (the floor);
* **(c) LookupEvents ceiling**: 2 requests/s x 50 events per account and
  region, i.e. 100 events/s per account-region, the best the API allows;
* with ``--large``, also 1M records in large files, against **DuckDB's raw
  read** of the same files (``read_json`` + ``unnest`` of every record).

Targets (issue 7): the whole pack within 2x of the Python loop on the
many-small-files shape, and within 2x of the engine's raw read on 1M records
in large files. Prints events/s and ratios; ``--json FILE`` saves them.

Usage::

    python benchmarks/hunt.py                  # ~200k records in ~6,900 files
    python benchmarks/hunt.py --large          # plus 1M records in large files
    python benchmarks/hunt.py --slots 96 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phantomkeys.trail.synth import SynthConfig, generate

LOOKUP_EVENTS_PER_SECOND = 100  # 2 requests/s x 50 events, per account and region
GENERATOR_VERSION = "1"


@dataclass
class Corpus:
    path: Path
    files: int
    records: int
    bytes_gz: int
    accounts: int
    regions: int


def build_corpus(root: Path, config: SynthConfig) -> Corpus:
    """Write the files once; reuse them while the generator and config are unchanged."""
    stamp = root.with_name(root.name + ".corpus.json")
    key = json.dumps(
        {"v": GENERATOR_VERSION, **{k: str(v) for k, v in asdict(config).items()}}, sort_keys=True
    )
    if stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("key") == key:
            return Corpus(
                root,
                meta["files"],
                meta["records"],
                meta["bytes_gz"],
                len(config.accounts),
                len(config.regions),
            )
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    files = records = size = 0
    t = time.perf_counter()
    for sf in generate(config):
        path = root / sf.key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = gzip.compress(json.dumps({"Records": sf.records}, separators=(",", ":")).encode(), 6)
        path.write_bytes(data)
        files += 1
        records += len(sf.records)
        size += len(data)
    print(
        f"generated {records:,} records in {files:,} files "
        f"({size / 1e6:.1f} MB gz) in {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )
    stamp.write_text(json.dumps({"key": key, "files": files, "records": records, "bytes_gz": size}))
    return Corpus(root, files, records, size, len(config.accounts), len(config.regions))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz"))


def time_python_loop(corpus: Corpus) -> float:
    t = time.perf_counter()
    n = 0
    for p in _files(corpus.path):
        with open(p, "rb") as fh:
            n += len(json.loads(gzip.decompress(fh.read()))["Records"])
    assert n == corpus.records
    return time.perf_counter() - t


def time_zcat(corpus: Corpus) -> float | None:
    if shutil.which("zcat") is None:
        return None
    names = b"\0".join(str(p).encode() for p in _files(corpus.path))
    t = time.perf_counter()
    subprocess.run(["xargs", "-0", "zcat"], input=names, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def time_duckdb_raw(corpus: Corpus) -> float:
    import duckdb

    con = duckdb.connect()
    files = "[" + ", ".join(f"'{p}'" for p in _files(corpus.path)) + "]"
    sql = (
        f"SELECT count(*) FROM (SELECT unnest(Records) FROM read_json({files}, "  # noqa: S608
        "format='newline_delimited', records=true, columns={'Records': 'JSON[]'}, "
        "maximum_object_size=268435456))"
    )
    t = time.perf_counter()
    (n,) = con.execute(sql).fetchone()
    elapsed = time.perf_counter() - t
    assert n == corpus.records
    return elapsed


def time_hunt(corpus: Corpus) -> tuple[float, dict[str, Any]]:
    from phantomkeys.trail.hunt import plan_sources, run_duckdb
    from phantomkeys.trail.pack import load_pack

    t = time.perf_counter()
    pack = load_pack()
    plan = plan_sources([str(corpus.path)], None, None)
    result = run_duckdb(pack, plan, since=None, until=None)
    elapsed = time.perf_counter() - t
    assert result.stats.records_read == corpus.records, result.stats
    found = sorted({f.rule_id for f in result.findings if f.severity.rank >= 2})
    return elapsed, {
        "findings": len(result.findings),
        "rules_fired_medium_plus": found,
        "bad_files": len(result.bad_files),
    }


def best(fn: Any, repeat: int) -> Any:
    results = [fn() for _ in range(repeat)]
    if isinstance(results[0], tuple):
        return min(results, key=lambda r: r[0])
    return min(r for r in results if r is not None) if results[0] is not None else None


def report(label: str, corpus: Corpus, timings: dict[str, float | None]) -> dict[str, Any]:
    rate = {k: (corpus.records / v if v else None) for k, v in timings.items()}
    print(
        f"\n{label}: {corpus.records:,} records in {corpus.files:,} files "
        f"({corpus.bytes_gz / 1e6:.1f} MB gz), {corpus.accounts} accounts x "
        f"{corpus.regions} regions"
    )
    print(f"  {'':28} {'seconds':>9} {'events/s':>12} {'vs phantomkeys':>15}")
    hunt = timings["phantomkeys hunt (whole pack)"]
    for name, secs in timings.items():
        if secs is None:
            print(f"  {name:28} {'n/a':>9}")
            continue
        ratio = hunt / secs if hunt else float("nan")
        print(f"  {name:28} {secs:9.2f} {rate[name]:12,.0f} {ratio:14.2f}x")
    return {
        "records": corpus.records,
        "files": corpus.files,
        "bytes_gz": corpus.bytes_gz,
        "seconds": timings,
        "events_per_second": rate,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--workdir", default=os.environ.get("PHANTOMKEYS_BENCH_DIR", "/tmp/phantomkeys-bench-hunt")
    )
    ap.add_argument("--slots", type=int, default=576, help="5-minute slots (576 = 2 days)")
    ap.add_argument("--records-per-file", type=int, default=29)
    ap.add_argument("--large", action="store_true", help="also 1M records in large files")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per tool")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    ok = True

    small = build_corpus(
        work / "small", SynthConfig(slots=args.slots, records_per_file=args.records_per_file)
    )
    hunt_s, details = best(lambda: time_hunt(small), args.repeat)
    loop_s = best(lambda: time_python_loop(small), args.repeat)
    zcat_s = best(lambda: time_zcat(small), args.repeat)
    lookup_s = small.records / (LOOKUP_EVENTS_PER_SECOND * small.accounts * small.regions)
    out["small_files"] = report(
        "many small files (delivery shape)",
        small,
        {
            "phantomkeys hunt (whole pack)": hunt_s,
            "(a) python gunzip+json.loads": loop_s,
            "(b) zcat": zcat_s,
            "(c) LookupEvents ceiling": lookup_s,
        },
    )
    out["small_files"]["hunt"] = details
    ratio = hunt_s / loop_s
    out["small_files"]["target_within_2x_of_python_loop"] = ratio <= 2.0
    print(
        f"  target: whole pack within 2x of the Python loop -> {ratio:.2f}x "
        f"{'OK' if ratio <= 2.0 else 'MISSED'}"
    )
    print(f"  found (medium+): {', '.join(details['rules_fired_medium_plus'])}")
    ok &= ratio <= 2.0

    if args.large:
        per_slot = 58
        large = build_corpus(
            work / "large", SynthConfig(slots=1440, records_per_file=per_slot, slots_per_file=480)
        )
        hunt_l, details_l = best(lambda: time_hunt(large), args.repeat)
        raw_l = best(lambda: time_duckdb_raw(large), args.repeat)
        loop_l = best(lambda: time_python_loop(large), args.repeat)
        out["large_files"] = report(
            "1M records in large files",
            large,
            {
                "phantomkeys hunt (whole pack)": hunt_l,
                "DuckDB raw read_json": raw_l,
                "(a) python gunzip+json.loads": loop_l,
                "(b) zcat": best(lambda: time_zcat(large), args.repeat),
            },
        )
        out["large_files"]["hunt"] = details_l
        ratio_l = hunt_l / raw_l
        out["large_files"]["target_within_2x_of_raw_read"] = ratio_l <= 2.0
        print(
            f"  target: whole pack within 2x of DuckDB's raw read -> {ratio_l:.2f}x "
            f"{'OK' if ratio_l <= 2.0 else 'MISSED'}"
        )
        ok &= ratio_l <= 2.0

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
