"""The hunt benchmark runs end to end on a small corpus (``-m slow``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_benchmark_runs_and_reports_rates(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "benchmarks" / "hunt.py"
    spec = importlib.util.spec_from_file_location("bench_hunt", path)
    assert spec
    assert spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    bench.main(["--workdir", str(tmp_path / "work"), "--slots", "48", "--json", str(out)])
    figures = json.loads(out.read_text())["small_files"]
    rates = figures["events_per_second"]
    assert rates["phantomkeys hunt (whole pack)"] > rates["(c) LookupEvents ceiling"]
    assert figures["hunt"]["bad_files"] == 0
    assert {"invocation-spike", "cross-region-burst"} <= set(
        figures["hunt"]["rules_fired_medium_plus"]
    )
