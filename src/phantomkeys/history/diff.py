"""What changed between two reports, by finding fingerprint (pure).

* **new**: a fingerprint in the later report and not in the earlier one.
* **resolved**: in the earlier report, not in the later one, and the later scan
  did read the finding's account completely.
* **unverified**: in the earlier report, not in the later one, but the later
  scan did not read that account completely (``status`` ``error`` or
  ``incomplete``, or the account was not scanned at all). Fail closed: a
  lookup that failed is not a fix.
* **changed**: in both, with a different severity, title, location or
  evidence (ignoring evidence that moves on its own, such as ages).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phantomkeys.report import document as doc

#: Evidence keys that change with the clock alone, not with the facts.
VOLATILE_EVIDENCE: frozenset[str] = frozenset(
    {
        "age_days",
        "days_left",
        "last_used",
        "password_last_used",
        "credential_report_age_minutes",
        "expires_in_days",
    }
)

_COMPARED = ("severity", "title", "subject", "account_id", "location")


@dataclass(frozen=True, slots=True)
class Change:
    fingerprint: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    #: field -> (before, after); evidence keys appear as ``evidence.<key>``.
    fields: Mapping[str, tuple[Any, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "finding": dict(self.after),
            "changes": {k: {"before": b, "after": a} for k, (b, a) in self.fields.items()},
        }


@dataclass(frozen=True, slots=True)
class HistoryDiff:
    new: tuple[Mapping[str, Any], ...] = ()
    resolved: tuple[Mapping[str, Any], ...] = ()
    unverified: tuple[Mapping[str, Any], ...] = ()
    changed: tuple[Change, ...] = ()
    unchanged: int = 0
    before_label: str = ""
    after_label: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def new_fingerprints(self) -> frozenset[str]:
        return frozenset(str(f.get("fingerprint")) for f in self.new)

    def is_empty(self) -> bool:
        return not (self.new or self.resolved or self.unverified or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before_label,
            "after": self.after_label,
            "counts": {
                "new": len(self.new),
                "resolved": len(self.resolved),
                "unverified": len(self.unverified),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
            "new": [dict(f) for f in self.new],
            "resolved": [dict(f) for f in self.resolved],
            "unverified": [dict(f) for f in self.unverified],
            "changed": [c.to_dict() for c in self.changed],
            "notes": list(self.notes),
        }


def _findings(
    source: Mapping[str, Any] | Iterable[Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    items = doc.findings(source) if isinstance(source, Mapping) else list(source)
    return {str(f.get("fingerprint")): f for f in items if f.get("fingerprint")}


def _read_completely(source: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> set[str] | None:
    """Accounts the report read completely; ``None`` when it does not say (hunt, leaks)."""
    if not isinstance(source, Mapping) or "accounts" not in source:
        return None
    return {
        str(a.get("account_id"))
        for a in doc.accounts(source)
        if a.get("status") in ("ok", "management")
    }


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for key in _COMPARED:
        if before.get(key) != after.get(key):
            out[key] = (before.get(key), after.get(key))
    ev_b = before.get("evidence") if isinstance(before.get("evidence"), Mapping) else {}
    ev_a = after.get("evidence") if isinstance(after.get("evidence"), Mapping) else {}
    assert isinstance(ev_b, Mapping)
    assert isinstance(ev_a, Mapping)
    for key in sorted(set(ev_b) | set(ev_a)):
        if key in VOLATILE_EVIDENCE:
            continue
        if ev_b.get(key) != ev_a.get(key):
            out[f"evidence.{key}"] = (ev_b.get(key), ev_a.get(key))
    return out


def _order(f: Mapping[str, Any]) -> tuple[int, str, str, str]:
    return (
        -doc.severity_rank(f.get("severity")),
        str(f.get("account_id") or ""),
        str(f.get("subject") or ""),
        str(f.get("rule_id") or ""),
    )


def diff(
    before: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    after: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    before_label: str = "",
    after_label: str = "",
) -> HistoryDiff:
    """Compare two report documents (or two lists of findings) by fingerprint."""
    old, cur = _findings(before), _findings(after)
    complete = _read_completely(after)
    new = sorted((cur[fp] for fp in cur.keys() - old.keys()), key=_order)
    gone = sorted((old[fp] for fp in old.keys() - cur.keys()), key=_order)

    def verified(f: Mapping[str, Any]) -> bool:
        account = f.get("account_id")
        return complete is None or account is None or str(account) in complete

    resolved = [f for f in gone if verified(f)]
    unverified = [f for f in gone if not verified(f)]
    changed = []
    unchanged = 0
    for fp in sorted(old.keys() & cur.keys(), key=lambda k: _order(cur[k])):
        fields = _changes(old[fp], cur[fp])
        if fields:
            changed.append(Change(fp, old[fp], cur[fp], fields))
        else:
            unchanged += 1
    notes = []
    if unverified:
        accounts = sorted({str(f.get("account_id")) for f in unverified})
        notes.append(
            f"{len(unverified)} earlier finding(s) are absent but their account was not "
            f"read completely in the later scan ({', '.join(accounts)}): "
            "not counted as resolved"
        )
    return HistoryDiff(
        new=tuple(new),
        resolved=tuple(resolved),
        unverified=tuple(unverified),
        changed=tuple(changed),
        unchanged=unchanged,
        before_label=before_label,
        after_label=after_label,
        notes=tuple(notes),
    )
