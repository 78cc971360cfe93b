"""The backup format (what a run writes before its first write) and the journal (what each
step's outcome was), as pure data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phantomkeys.core.plans.facts import RoleState, State, UserState
from phantomkeys.core.plans.model import Operation, Outcome, Plan, PlanError, _parse_ts, _ts

BACKUP_FORMAT = "phantomkeys/backup"
BACKUP_VERSION = 1


@dataclass(frozen=True, slots=True)
class Backup:
    """What a run wrote before its first write: the state, and the plan it ran."""

    run_id: str
    created_at: datetime
    caller_arn: str | None
    plan: Plan
    user: UserState | None = None
    role: RoleState | None = None
    #: Restore runs: the run id of the backup they restore.
    restores: str | None = None
    #: SCP and alert deploys (and their restores): the state saved before the first
    #: write (``ControlsState.to_dict()``, ``core/controls/plan.py``).
    controls: Mapping[str, Any] | None = None

    @property
    def operation(self) -> Operation:
        return self.plan.operation

    @property
    def state(self) -> State:
        found = self.user if self.user is not None else self.role
        if found is None:
            raise PlanError("backup holds no state")
        return found

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "run_id": self.run_id,
            "operation": self.plan.operation.value,
            "created_at": _ts(self.created_at),
            "account_id": self.plan.account_id,
            "subject": self.plan.subject,
            "subject_type": self.plan.subject_type,
            "caller_arn": self.caller_arn,
            "restores": self.restores,
            "user": self.user.to_dict() if self.user else None,
            "role": self.role.to_dict() if self.role else None,
            "plan": self.plan.to_dict(),
        }
        if self.controls is not None:
            out["controls"] = dict(self.controls)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Backup:
        if d.get("format") != BACKUP_FORMAT:
            raise PlanError(f"not a phantomkeys backup (format {d.get('format')!r})")
        if d.get("version") != BACKUP_VERSION:
            raise PlanError(f"unsupported backup version {d.get('version')!r}")
        created = _parse_ts(d.get("created_at"))
        if created is None:
            raise PlanError("backup without created_at")
        run_id = d["run_id"]
        if not (isinstance(run_id, str) and re.fullmatch(r"[0-9a-f]{8,64}", run_id)):
            raise PlanError("run_id is not a hex run id")
        plan = Plan.from_dict(d["plan"])
        backup = cls(
            run_id=run_id,
            created_at=created,
            caller_arn=d.get("caller_arn"),
            plan=plan,
            user=UserState.from_dict(d["user"]) if d.get("user") else None,
            role=RoleState.from_dict(d["role"]) if d.get("role") else None,
            restores=d.get("restores"),
            controls=dict(d["controls"]) if d.get("controls") else None,
        )
        for name, value in (
            ("operation", plan.operation.value),
            ("account_id", plan.account_id),
            ("subject", plan.subject),
            ("subject_type", plan.subject_type),
        ):
            if name in d and d[name] != value:
                raise PlanError(f"its {name} {d[name]!r} disagrees with its plan's {value!r}")
        return backup


# ------------------------------------------------------------------ journal


def journal_outcomes(records: Iterable[Mapping[str, Any]]) -> dict[str, Outcome]:
    """The last recorded outcome of each step (``start`` without an outcome is absent)."""
    out: dict[str, Outcome] = {}
    for r in records:
        step = r.get("step")
        outcome = r.get("outcome")
        if isinstance(step, str) and isinstance(outcome, str):
            try:
                out[step] = Outcome(outcome)
            except ValueError:
                continue
    return out


def journal_complete(records: Sequence[Mapping[str, Any]]) -> bool:
    """A run is over when it ``finished`` with no failed step, or was ``abandoned``
    (the state changed under an interrupted run: a fresh plan replaces it)."""
    if any(r.get("event") == "abandoned" for r in records):
        return True
    finished = [r for r in records if r.get("event") == "finished"]
    return bool(finished) and not finished[-1].get("failed") and not finished[-1].get("stopped")
