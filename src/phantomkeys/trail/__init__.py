"""CloudTrail: the Sigma rule pack, its engines (DuckDB, Athena, Spark), exports and timelines.

Library use::

    from phantomkeys.trail import load_pack, hunt_files

    result = hunt_files(["./AWSLogs"])          # DuckDB, all rules
    for finding in result.findings:
        print(finding.severity, finding.rule_id, finding.subject)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from phantomkeys.trail.finish import HuntResult
from phantomkeys.trail.pack import PackError, RulePack, load_pack


def hunt_files(
    sources: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    pack: RulePack | None = None,
) -> HuntResult:
    """Run the rule pack over local CloudTrail files or folders with DuckDB."""
    from phantomkeys.trail.hunt import plan_sources, run_duckdb

    plan = plan_sources(list(sources), since, until)
    return run_duckdb(pack or load_pack(), plan, since=since, until=until)


__all__ = ["HuntResult", "PackError", "RulePack", "hunt_files", "load_pack"]
