"""``rules test``: every rule must fire on its positive examples and stay quiet on its negatives.

Examples are real-shaped CloudTrail files (``{"Records": [...]}``) under
``examples/<rule name>/positive*.json`` and ``negative*.json``. A rule with no
positive or no negative example fails the test: an untested rule is a defect.
Base rules that only feed correlations are tested as if they emitted findings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from phantomkeys.trail.finish import HuntResult
from phantomkeys.trail.pack import PackRule, RulePack, default_examples_dir, example_files_for
from phantomkeys.trail.records import SourceFile

#: (pack, files) -> result; the DuckDB engine by default, Spark in its test.
Runner = Callable[[RulePack, list[SourceFile]], HuntResult]


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    path: str
    expected: bool
    fired: bool
    count: int
    error: str | None = None
    #: Detection rules: records in the file and records the rule matched.
    records: int = 0
    matched: int | None = None

    @property
    def ok(self) -> bool:
        if self.error is not None or self.expected != self.fired:
            return False
        # Every record of a detection rule's positive example is a true positive.
        return not (self.expected and self.matched is not None and self.matched != self.records)


@dataclass(slots=True)
class RuleOutcome:
    rule: str
    examples: list[ExampleOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.ok for e in self.examples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ok": self.ok,
            "problems": list(self.problems),
            "examples": [
                {
                    "path": e.path,
                    "expected": "fire" if e.expected else "quiet",
                    "fired": e.fired,
                    "findings": e.count,
                    "ok": e.ok,
                    "records": e.records,
                    **({"matched_records": e.matched} if e.matched is not None else {}),
                    **({"error": e.error} if e.error else {}),
                }
                for e in self.examples
            ],
        }


def duckdb_runner(pack: RulePack, files: list[SourceFile]) -> HuntResult:
    from phantomkeys.trail.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(pack, threads=1)
    try:
        return engine.run([files])
    finally:
        engine.close()


def example_files(examples_dir: Path, rule: str) -> tuple[list[Path], list[Path]]:
    return (
        example_files_for(examples_dir, rule, "positive"),
        example_files_for(examples_dir, rule, "negative"),
    )


def _as_emitting(pack: RulePack, rule: PackRule) -> RulePack:
    selected = pack.select([rule.name])
    return RulePack(
        tuple(replace(r, emits=True) if r.name == rule.name else r for r in selected.rules)
    )


def check_rule(
    pack: RulePack, rule: PackRule, examples_dir: Path, runner: Runner = duckdb_runner
) -> RuleOutcome:
    outcome = RuleOutcome(rule.name)
    positives, negatives = example_files(examples_dir, rule.name)
    if not positives:
        outcome.problems.append("no positive example")
    if not negatives:
        outcome.problems.append("no negative example")
    sub = _as_emitting(pack, rule)
    for expected, paths in ((True, positives), (False, negatives)):
        for path in paths:
            try:
                result = runner(sub, [SourceFile(path, str(path), path.stat().st_size)])
            except Exception as exc:  # reported per example, the run goes on
                outcome.examples.append(
                    ExampleOutcome(str(path), expected, False, 0, f"{type(exc).__name__}: {exc}")
                )
                continue
            mine = [f for f in result.findings if f.rule_id == rule.name]
            error = None
            if result.bad_files:
                error = "; ".join(f"{b.name}: {b.reason}" for b in result.bad_files)
            matched = None
            if not rule.is_correlation:
                matched = sum(int(f.evidence.get("count") or 0) for f in mine)
            outcome.examples.append(
                ExampleOutcome(
                    str(path),
                    expected,
                    bool(mine),
                    len(mine),
                    error,
                    records=result.stats.records_read,
                    matched=matched,
                )
            )
    return outcome


def check_pack(
    pack: RulePack,
    examples_dir: Path | None = None,
    runner: Runner = duckdb_runner,
    only: Sequence[str] = (),
) -> list[RuleOutcome]:
    folder = examples_dir or default_examples_dir()
    rules = [pack.get(n) for n in only] if only else list(pack)
    if getattr(runner, "batched", False):
        return check_batched(pack, rules, folder, runner)
    return [check_rule(pack, r, folder, runner) for r in rules]


def _norm(path: str) -> str:
    from urllib.parse import unquote

    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            path = unquote(path[len(prefix) :])
            break
    return str(Path(path).resolve())


def check_batched(
    pack: RulePack, rules: Sequence[PackRule], folder: Path, runner: Runner
) -> list[RuleOutcome]:
    """One run over every example, each file evaluated apart (distributed engines)."""
    everything = RulePack(tuple(replace(r, emits=True) for r in pack))
    plan: list[tuple[RuleOutcome, bool, Path]] = []
    outcomes = []
    for rule in rules:
        outcome = RuleOutcome(rule.name)
        positives, negatives = example_files(folder, rule.name)
        if not positives:
            outcome.problems.append("no positive example")
        if not negatives:
            outcome.problems.append("no negative example")
        plan += [(outcome, True, p) for p in positives] + [(outcome, False, p) for p in negatives]
        outcomes.append(outcome)
    files = sorted({p for _, _, p in plan})
    result = runner(everything, [SourceFile(p, str(p), p.stat().st_size) for p in files])
    bad = {_norm(b.name): b.reason for b in result.bad_files}
    by_key: dict[tuple[str, str], list[Any]] = {}
    for f in result.findings:
        key = (f.rule_id, _norm(str(f.evidence.get("source_file", ""))))
        by_key.setdefault(key, []).append(f)
    for outcome, expected, path in plan:
        mine = by_key.get((outcome.rule, _norm(str(path))), [])
        rule = pack.get(outcome.rule)
        matched = (
            sum(int(f.evidence.get("count") or 0) for f in mine)
            if not rule.is_correlation
            else None
        )
        records = _count_records(path)
        outcome.examples.append(
            ExampleOutcome(
                str(path),
                expected,
                bool(mine),
                len(mine),
                bad.get(_norm(str(path))),
                records=records,
                matched=matched,
            )
        )
    return outcomes


def _count_records(path: Path) -> int:
    from phantomkeys.trail.records import decode_file

    return len(decode_file(path))
