"""The plan model: a :class:`Step` is one idempotent write, a :class:`Plan` an ordered list
of them built by a pure function (see :mod:`phantomkeys.core.plans` for how facts decide
"already done")."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from phantomkeys.core.timeparse import parse_iso

_ISO = "%Y-%m-%dT%H:%M:%SZ"

#: IAM user and role names (IAM API reference, ``UserName``/``RoleName``): the only
#: subjects a plan, a backup or a file name may carry.
IAM_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def valid_iam_name(name: object) -> bool:
    return isinstance(name, str) and IAM_NAME_RE.fullmatch(name) is not None


class PlanError(ValueError):
    """A plan cannot be built for this state and intent (message is user-facing)."""


class Operation(StrEnum):
    REVOKE = "revoke"
    CLEANUP = "cleanup"
    RESTORE = "restore"
    #: SCP and alert deploys (their steps: ``core/controls/plan.py``).
    DEPLOY = "deploy"


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_DONE = "already-done"
    SKIPPED = "skipped"
    FAILED = "failed"


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(_ISO) if value else None


def _parse_ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_iso(value if isinstance(value, datetime) else str(value))


def canonical_json(document: Any) -> str:
    """Stable JSON text: the same document always gives the same text and hash."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def document_sha(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:16]


#: A state reduced to facts: ``{"access-key:AKIA…": "Active", "user": "/"}``.
Facts = Mapping[str, str]

# ====================================================================== steps


@dataclass(frozen=True, slots=True)
class Step:
    """One idempotent write. ``params`` are the boto3 keyword arguments of ``action``."""

    id: str
    action: str  # "iam:DeleteAccessKey"
    params: Mapping[str, Any]
    description: str
    #: Fact keys that are absent once the step is done.
    removes: tuple[str, ...] = ()
    #: Fact values that hold once the step is done.
    sets: Mapping[str, str] = field(default_factory=dict)
    #: AWS error codes meaning "the effect is already there" (e.g. NoSuchEntity on a delete).
    done_errors: tuple[str, ...] = ()
    #: False when a state read cannot see the effect (then errors and the journal decide).
    observable: bool = True
    #: What a restore does about this step, or why it cannot bring it back.
    undo: str = ""
    #: True when restore cannot bring back what this step removes.
    irreversible: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "params": dict(self.params),
            "description": self.description,
            "done_when": {
                "absent": list(self.removes),
                "present": dict(self.sets),
                "errors": list(self.done_errors),
                "observable": self.observable,
            },
            "undo": self.undo,
            "irreversible": self.irreversible,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        done = d.get("done_when", {})
        return cls(
            id=d["id"],
            action=d["action"],
            params=dict(d.get("params", {})),
            description=d.get("description", ""),
            removes=tuple(done.get("absent", ())),
            sets=dict(done.get("present", {})),
            done_errors=tuple(done.get("errors", ())),
            observable=bool(done.get("observable", True)),
            undo=d.get("undo", ""),
            irreversible=bool(d.get("irreversible", False)),
        )


def step_done(step: Step, facts: Facts) -> bool | None:
    """True when the step's effect already holds; None when a state read cannot tell."""
    if not step.observable:
        return None
    return all(k not in facts for k in step.removes) and all(
        facts.get(k) == v for k, v in step.sets.items()
    )


# ====================================================================== plans


@dataclass(frozen=True, slots=True)
class Plan:
    operation: Operation
    account_id: str
    subject: str
    subject_type: str  # user | role
    built_at: datetime
    steps: tuple[Step, ...]
    #: Facts of the state the plan was built from (what drift is measured against).
    baseline: Mapping[str, str]
    #: The options that shaped the plan (a rerun with the same intent resumes the run).
    intent: Mapping[str, Any] = field(default_factory=dict)
    #: Blast radius, warnings, guidance, shown before confirmation.
    notes: tuple[str, ...] = ()
    #: What the plan removes that no restore can bring back.
    cannot_undo: tuple[str, ...] = ()
    #: Restore plans: what the backup held that cannot come back.
    not_restorable: tuple[str, ...] = ()

    @property
    def intent_key(self) -> str:
        return document_sha(
            {
                "operation": self.operation.value,
                "account": self.account_id,
                "subject": self.subject,
                "type": self.subject_type,
                "intent": dict(self.intent),
            }
        )

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def stop_on_failure(self) -> bool:
        """Revocation does as much as it can; cleanup and restore stop at the first failure
        so a user is never left half-deleted for no reason (a rerun continues)."""
        return self.operation is not Operation.REVOKE

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.value,
            "account_id": self.account_id,
            "subject": self.subject,
            "subject_type": self.subject_type,
            "built_at": _ts(self.built_at),
            "intent": dict(self.intent),
            "intent_key": self.intent_key,
            "steps": [s.to_dict() for s in self.steps],
            "baseline": dict(self.baseline),
            "notes": list(self.notes),
            "cannot_undo": list(self.cannot_undo),
            "not_restorable": list(self.not_restorable),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        built = _parse_ts(d.get("built_at"))
        if built is None:
            raise PlanError("plan without built_at")
        return cls(
            operation=Operation(d["operation"]),
            account_id=d["account_id"],
            subject=d["subject"],
            subject_type=d.get("subject_type", "user"),
            built_at=built,
            steps=tuple(Step.from_dict(s) for s in d.get("steps", ())),
            baseline=dict(d.get("baseline", {})),
            intent=dict(d.get("intent", {})),
            notes=tuple(d.get("notes", ())),
            cannot_undo=tuple(d.get("cannot_undo", ())),
            not_restorable=tuple(d.get("not_restorable", ())),
        )
