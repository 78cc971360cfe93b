"""The class of every Bedrock and Claude Platform operation (``operations.yml``).

Classes: ``read``, ``invoke``, ``costly``, ``destructive``, ``config`` and
``tamper``. The destructive, costly and tamper rules of the pack match every
operation of their class (tests/trail/test_trail_operations.py checks both
this and that every operation of the installed botocore's Bedrock models is
classified).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

CLASSES: tuple[str, ...] = ("read", "invoke", "costly", "destructive", "config", "tamper")


@dataclass(frozen=True, slots=True)
class ServiceOperations:
    """One API (a botocore service name) and its operations by class."""

    service: str
    event_source: str
    in_botocore: bool
    classes: dict[str, tuple[str, ...]]

    def class_of(self, operation: str) -> str | None:
        for name, ops in self.classes.items():
            if operation in ops:
                return name
        return None


@cache
def load_operations() -> tuple[ServiceOperations, ...]:
    text = (resources.files("phantomkeys.trail") / "operations.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    out = []
    for service, spec in data.items():
        classes = {str(c): tuple(str(o) for o in ops) for c, ops in spec["classes"].items()}
        unknown = set(classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"operations.yml: {service}: unknown classes {sorted(unknown)}")
        out.append(
            ServiceOperations(
                service=str(service),
                event_source=str(spec["eventSource"]),
                in_botocore=bool(spec.get("botocore")),
                classes=classes,
            )
        )
    return tuple(out)


def operations_in(klass: str) -> set[tuple[str, str]]:
    """(eventSource, eventName) of every operation in ``klass``."""
    return {(s.event_source, op) for s in load_operations() for op in s.classes.get(klass, ())}


def classify(event_source: str, event_name: str) -> str | None:
    for s in load_operations():
        if s.event_source == event_source:
            found = s.class_of(event_name)
            if found is not None:
                return found
    return None
