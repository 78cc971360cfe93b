"""Helpers for the CloudTrail tests: example records and the S3 delivery layout."""

from __future__ import annotations

import json
from typing import Any

from phantomkeys.trail.pack import default_examples_dir, example_files_for


def example_records(rule: str, kind: str = "positive") -> list[dict[str, Any]]:
    return [
        r
        for f in example_files_for(default_examples_dir(), rule, kind)
        for r in json.loads(f.read_text())["Records"]
    ]


def trail_key(account: str, region: str, stamp: str, n: int = 0) -> str:
    """S3 layout path of one delivered file (DOMAIN-FACTS §6)."""
    day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{day}/"
        f"{account}_CloudTrail_{region}_{stamp}Z_{n:016X}.json.gz"
    )


# ---------------------------------------------------------------- public shapes

PUBLIC_DIR = __import__("pathlib").Path(__file__).parents[1] / "data" / "public"


def _set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with None remove) ``a.b.c``; a JSON-text field is parsed first."""
    keys = path.split(".")
    node = record
    for k in keys[:-1]:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value


def public_cases() -> list[dict[str, Any]]:
    """Every public record file and every probe, with its expected verdict."""
    import copy

    import yaml

    spec = yaml.safe_load((PUBLIC_DIR / "expected.yml").read_text())
    cases = []
    for name, verdict in spec["records"].items():
        records = json.loads((PUBLIC_DIR / name).read_text())["Records"]
        cases.append({"name": name.removesuffix(".json"), "records": records, **verdict})
    for name, probe in spec["probes"].items():
        records = copy.deepcopy(json.loads((PUBLIC_DIR / probe["base"]).read_text())["Records"])
        (path, value), *rest = probe["set"].items()
        assert not rest, f"probe {name}: one field changed, not {len(probe['set'])}"
        _set_path(records[int(probe.get("record", 0))], path, value)
        verdict = {k: v for k, v in probe.items() if k in ("fire", "quiet", "incident")}
        cases.append({"name": name, "records": records, **verdict})
    return cases


def check_verdict(case: dict[str, Any], findings: Any, incidents: Any) -> list[str]:
    """Problems with one case's result (empty when it matches ``expected.yml``)."""
    from phantomkeys.core.findings import Severity

    fired = {f.rule_id for f in findings}
    problems = [f"{r} did not fire" for r in case.get("fire") or () if r not in fired]
    problems += [f"{r} fired" for r in case.get("quiet") or () if r in fired]
    want = case.get("incident")
    if want:
        worst = max((i.severity.rank for i in incidents), default=-1)
        if "min" in want and worst < Severity(want["min"]).rank:
            problems.append(f"incident below {want['min']}")
        if "below" in want and worst >= Severity(want["below"]).rank:
            problems.append(f"incident not below {want['below']}")
    return [f"{case['name']}: {p}" for p in problems]


def athena_rows(pack: Any, root: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """What Athena returns for the hits query over ``root``: computed by the local engine."""
    from datetime import datetime

    from phantomkeys.trail.duckdb_engine import DuckDBEngine
    from phantomkeys.trail.records import batches, discover

    engine = DuckDBEngine(pack, threads=1)
    try:
        engine.run(batches(discover([root]).files))
        cur = engine.con.execute("SELECT * FROM hits")
        names = [d[0] for d in cur.description]
        data = cur.fetchall()
    finally:
        engine.close()
    rows: list[dict[str, Any]] = [{"Data": [{"VarCharValue": n.lower()} for n in names]}]
    for r in data:
        rows.append(
            {
                "Data": [
                    {}
                    if v is None
                    else {
                        "VarCharValue": v.strftime("%Y-%m-%d %H:%M:%S.000 UTC")
                        if isinstance(v, datetime)
                        else str(v)
                    }
                    for v in r
                ]
            }
        )
    return rows, [{"Name": n.lower(), "Type": "varchar"} for n in names]
