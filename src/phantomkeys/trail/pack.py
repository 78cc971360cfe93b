"""The Sigma rule pack: loading, metadata, and the checks every rule must pass.

Rules are Sigma YAML files under ``trail/rules/`` (detection rules, and
correlation rules wherever a threshold or window is involved, in the same
file as their base rule or referring to one by ``name``). phantomkeys reads
two extra attributes from a ``phantomkeys:`` mapping, which Sigma allows as
custom attributes:

* ``subject``: the field naming what a finding is about (default: the caller,
  ``userIdentity.arn``; rules about changes *to* a user use
  ``requestParameters.userName``), or a list of fields, the first present
  one winning (``[requestParameters.userName, userIdentity.userName]`` for
  IAM calls whose ``UserName`` is optional: absent, the subject is the
  caller; docs/aws-facts.md);
* ``remediation``: what to do about a finding.

A detection rule produces findings itself unless a correlation uses it with
``generate: false`` (the Sigma meaning of that flag).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from phantomkeys.core.findings import Rule, Severity
from phantomkeys.trail import fields as F

#: Sigma ``level`` -> finding severity.
LEVEL_SEVERITY: Mapping[str, Severity] = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}

DEFAULT_SUBJECT = "userIdentity.arn"
_TIMESPAN_RE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ATTACK_TECHNIQUE_RE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")


class PackError(ValueError):
    """The rule pack (or a user-supplied rule file) is not usable; the message says why."""


class CorrelationType(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"


@dataclass(frozen=True, slots=True)
class Correlation:
    """A Sigma correlation, normalised to "at least ``threshold`` in any ``timespan``"."""

    type: CorrelationType
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: str
    timespan_seconds: int
    threshold: int
    field: str | None
    generate: bool

    def describe(self) -> str:
        what = {
            CorrelationType.EVENT_COUNT: "events",
            CorrelationType.VALUE_COUNT: f"distinct {self.field}",
            CorrelationType.TEMPORAL: "of the rules",
        }[self.type]
        return (
            f">= {self.threshold} {what} within any {self.timespan} "
            f"(sliding) per {', '.join(self.group_by)}"
        )


@dataclass(frozen=True, slots=True)
class PackRule:
    name: str
    sigma_id: str
    title: str
    level: str
    status: str
    description: str
    rule: Rule
    subject_field: str
    document: Mapping[str, Any] = field(repr=False)
    source: str = ""
    falsepositives: tuple[str, ...] = ()
    correlation: Correlation | None = None
    #: Fallbacks after ``subject_field`` (the first present field is the subject).
    subject_fallbacks: tuple[str, ...] = ()
    #: Produces findings itself (set by the pack from correlations' ``generate``).
    emits: bool = True

    @property
    def is_correlation(self) -> bool:
        return self.correlation is not None

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    def to_dict(self) -> dict[str, Any]:
        out = self.rule.to_dict()
        out.update(
            {
                "sigma_id": self.sigma_id,
                "level": self.level,
                "status": self.status,
                "kind": "correlation" if self.correlation else "detection",
                "emits_findings": self.emits,
                "subject": self.subject_field,
                "falsepositives": list(self.falsepositives),
                "source": self.source,
            }
        )
        if self.correlation is not None:
            c = self.correlation
            out["correlation"] = {
                "type": c.type.value,
                "rules": list(c.rules),
                "group_by": list(c.group_by),
                "timespan": c.timespan,
                "threshold": c.threshold,
                "field": c.field,
                "window": "sliding",
                "summary": c.describe(),
            }
        return out


@dataclass(frozen=True, slots=True)
class RulePack:
    rules: tuple[PackRule, ...]

    def __iter__(self) -> Iterator[PackRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> PackRule:
        for r in self.rules:
            if r.name == name or r.sigma_id == name:
                return r
        raise KeyError(name)

    @property
    def detections(self) -> tuple[PackRule, ...]:
        return tuple(r for r in self.rules if r.correlation is None)

    @property
    def correlations(self) -> tuple[PackRule, ...]:
        return tuple(r for r in self.rules if r.correlation is not None)

    @property
    def emitting(self) -> tuple[PackRule, ...]:
        return tuple(r for r in self.rules if r.emits)

    def select(self, names: Iterable[str]) -> RulePack:
        """The named rules plus every base rule their correlations need."""
        wanted = {self.get(n).name for n in names}
        for r in list(self.rules):
            if r.name in wanted and r.correlation is not None:
                wanted.update(r.correlation.rules)
        return RulePack(tuple(r for r in self.rules if r.name in wanted))


def default_rules_dir() -> Path:
    return Path(str(resources.files("phantomkeys.trail") / "rules"))


def default_examples_dir() -> Path:
    return Path(str(resources.files("phantomkeys.trail") / "examples"))


def example_files_for(examples_dir: Path, rule: str, kind: str) -> list[Path]:
    """``examples/<rule>/positive*.json`` (or ``negative*``), sorted."""
    folder = examples_dir / rule
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(kind))


def rule_files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted([*p.rglob("*.yml"), *p.rglob("*.yaml")]))
        elif p.is_file():
            out.append(p)
        else:
            raise PackError(f"rule path not found: {p}")
    return out


def load_documents(paths: Sequence[Path] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every YAML document of the pack as (file name, mapping)."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in rule_files(list(paths) if paths else [default_rules_dir()]):
        try:
            loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise PackError(f"{path.name}: not valid YAML ({exc})") from None
        for doc in loaded:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise PackError(f"{path.name}: a Sigma rule must be a mapping")
            docs.append((path.name, doc))
    return docs


def load_pack(paths: Sequence[Path] | None = None) -> RulePack:
    """Load and check the rule pack (the built-in one by default)."""
    docs = load_documents(paths)
    built = [_build(source, doc) for source, doc in docs]
    names = [r.name for r in built]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PackError(f"duplicate rule names: {', '.join(dupes)}")
    by_name = {r.name: r for r in built} | {r.sigma_id: r for r in built}
    suppressed: set[str] = set()
    resolved: list[PackRule] = []
    for r in built:
        c = r.correlation
        if c is None:
            resolved.append(r)
            continue
        refs = []
        for ref in c.rules:
            base = by_name.get(ref)
            if base is None:
                raise PackError(f"{r.source}: correlation {r.name} refers to unknown rule {ref}")
            if base.correlation is not None:
                raise PackError(f"{r.source}: {r.name} chains correlations, not supported")
            refs.append(base.name)
            if not c.generate:
                suppressed.add(base.name)
        resolved.append(_replace(r, correlation=_replace_corr(c, rules=tuple(refs))))
    final = tuple(_replace(r, emits=False) if r.name in suppressed else r for r in resolved)
    return RulePack(final)


def _replace(rule: PackRule, **changes: Any) -> PackRule:
    from dataclasses import replace

    return replace(rule, **changes)


def _replace_corr(corr: Correlation, **changes: Any) -> Correlation:
    from dataclasses import replace

    return replace(corr, **changes)


def _str_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def attack_ids(tags: Iterable[str]) -> tuple[str, ...]:
    """``attack.t1098.001`` -> ``T1098.001`` (tactics are kept only as tags)."""
    out = []
    for tag in tags:
        m = _ATTACK_TECHNIQUE_RE.match(tag.lower())
        if m:
            out.append(m.group(1).upper())
    return tuple(out)


def _build(source: str, doc: Mapping[str, Any]) -> PackRule:
    def need(key: str) -> Any:
        if key not in doc or doc[key] in (None, "", []):
            raise PackError(f"{source}: rule {doc.get('title', '?')!r} has no {key}")
        return doc[key]

    name = str(need("name"))
    level = str(need("level")).lower()
    if level not in LEVEL_SEVERITY:
        raise PackError(f"{source}: {name}: unknown level {level!r}")
    extra = doc.get("phantomkeys") or {}
    if not isinstance(extra, Mapping):
        raise PackError(f"{source}: {name}: 'phantomkeys' must be a mapping")
    subjects = _str_list(extra.get("subject")) or (DEFAULT_SUBJECT,)
    for subject in subjects:
        if not F.known_field(subject):
            raise PackError(f"{source}: {name}: unknown subject field {subject!r}")
    subject = subjects[0]
    correlation = _correlation(source, name, doc["correlation"]) if "correlation" in doc else None
    if correlation is None and "detection" not in doc:
        raise PackError(f"{source}: {name}: neither a detection nor a correlation")
    emits_alone = correlation is not None or "detection" in doc
    remediation = str(extra.get("remediation") or "").strip()
    tags = _str_list(doc.get("tags"))
    rule = Rule(
        id=name,
        title=str(need("title")),
        severity=LEVEL_SEVERITY[level],
        rationale=" ".join(str(need("description")).split()),
        remediation=" ".join(remediation.split()),
        references=_str_list(doc.get("references")),
        attack=attack_ids(tags),
        tags=tags,
    )
    return PackRule(
        name=name,
        sigma_id=str(need("id")),
        title=rule.title,
        level=level,
        status=str(doc.get("status") or "experimental"),
        description=rule.rationale,
        rule=rule,
        subject_field=subject,
        subject_fallbacks=subjects[1:],
        document=dict(doc),
        source=source,
        falsepositives=_str_list(doc.get("falsepositives")),
        correlation=correlation,
        emits=emits_alone,
    )


def rule_from_document(doc: Mapping[str, Any], source: str = "<generated>") -> PackRule:
    """One rule from a Sigma document (used for generated rules, e.g. timelines)."""
    return _build(source, doc)


def timespan_seconds(spec: str) -> int:
    m = _TIMESPAN_RE.match(spec.strip())
    if not m:
        raise PackError(f"timespan {spec!r} is not like 5m, 1h or 1d")
    return int(m.group("n")) * _UNIT_SECONDS[m.group("unit")]


def _correlation(source: str, name: str, spec: Any) -> Correlation:
    if not isinstance(spec, Mapping):
        raise PackError(f"{source}: {name}: correlation must be a mapping")
    try:
        ctype = CorrelationType(str(spec.get("type")))
    except ValueError:
        raise PackError(
            f"{source}: {name}: correlation type {spec.get('type')!r} is not supported "
            f"(use {', '.join(t.value for t in CorrelationType)})"
        ) from None
    rules = _str_list(spec.get("rules"))
    if not rules:
        raise PackError(f"{source}: {name}: correlation names no rules")
    group_by = _str_list(spec.get("group-by"))
    for g in group_by:
        if not F.known_field(g):
            raise PackError(f"{source}: {name}: unknown group-by field {g!r}")
    timespan = str(spec.get("timespan") or "")
    seconds = timespan_seconds(timespan)
    cond = spec.get("condition") or {}
    if ctype is CorrelationType.TEMPORAL and not cond:
        cond = {"gte": len(rules)}
    if not isinstance(cond, Mapping):
        raise PackError(f"{source}: {name}: correlation condition must be a mapping")
    ops = {k: v for k, v in cond.items() if k != "field"}
    if len(ops) != 1 or next(iter(ops)) not in ("gte", "gt"):
        # Sliding-window evaluation answers "at least N in some window"; an upper
        # bound (lt/lte/eq) would need "in every window" semantics instead.
        raise PackError(f"{source}: {name}: correlation condition must be gte or gt")
    op, value = next(iter(ops.items()))
    threshold = int(value) + (1 if op == "gt" else 0)
    value_field = cond.get("field")
    if ctype is CorrelationType.VALUE_COUNT and (
        not value_field or not F.known_field(str(value_field))
    ):
        raise PackError(f"{source}: {name}: value_count needs a known condition field")
    return Correlation(
        type=ctype,
        rules=rules,
        group_by=group_by,
        timespan=timespan,
        timespan_seconds=seconds,
        threshold=threshold,
        field=str(value_field) if value_field else None,
        generate=bool(spec.get("generate", False)),
    )


def detection_fields(doc: Mapping[str, Any]) -> set[str]:
    """Field names a detection rule's selections use (modifiers stripped)."""
    out: set[str] = set()

    def selection(node: Any) -> None:
        if isinstance(node, Mapping):
            out.update(str(key).split("|", 1)[0] for key in node)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, Mapping):
                    selection(item)

    for key, value in (doc.get("detection") or {}).items():
        if key not in ("condition", "timeframe"):
            selection(value)
    return out
