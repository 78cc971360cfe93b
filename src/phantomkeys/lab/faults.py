"""Seeded, deterministic fault injection for the lab.

A spec is a comma-separated list of rules::

    iam:ListServiceSpecificCredentials=throttle:0.5
    iam:*=5xx:0.05
    sts:AssumeRole@222222222222=denied
    iam:GetAccountAuthorizationDetails=latency:200ms

``SERVICE:OPERATION[@ACCOUNT]=KIND[:ARG][:RATE]``. SERVICE and OPERATION are
shell-style patterns (``*``, ``List*``); ACCOUNT is a 12-digit account id: the
account the request runs in, or for ``sts:AssumeRole`` the account of the role
being assumed.
KIND is ``throttle`` (HTTP 400 ``Throttling``), ``5xx`` (HTTP 500
``ServiceFailure``/``InternalFailure``), ``denied`` (HTTP 403 ``AccessDenied``)
or ``latency`` (its ARG is a duration: ``200ms``, ``1.5s``). RATE is the
probability a matching request is hit, 0..1, default 1.0.

Every rule draws from its own random generator seeded from the lab seed and
the rule text, so a given sequence of requests meets the same faults on every
run. Pure: no I/O; the server applies the decision.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    THROTTLE = "throttle"
    SERVER_ERROR = "5xx"
    DENIED = "denied"
    LATENCY = "latency"


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says which rule and why."""


_ACCOUNT_RE = re.compile(r"^\d{12}$")
_DURATION_RE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s)$")


@dataclass(frozen=True, slots=True)
class FaultRule:
    service: str
    operation: str
    account_id: str | None
    kind: FaultKind
    rate: float = 1.0
    latency_seconds: float = 0.0
    text: str = ""

    def matches(self, service: str, operation: str, account_id: str | None) -> bool:
        if self.account_id is not None and self.account_id != account_id:
            return False
        return fnmatch.fnmatchcase(service.lower(), self.service.lower()) and fnmatch.fnmatchcase(
            operation, self.operation
        )


def parse_rule(text: str) -> FaultRule:
    rule = text.strip()
    target, sep, action = rule.partition("=")
    if not sep or not target or not action:
        raise FaultSpecError(f"fault rule {rule!r}: expected TARGET=KIND[:ARG][:RATE]")
    account: str | None = None
    if "@" in target:
        target, account = target.rsplit("@", 1)
        if not _ACCOUNT_RE.match(account):
            raise FaultSpecError(f"fault rule {rule!r}: account {account!r} is not 12 digits")
    if target == "*":
        service, operation = "*", "*"
    else:
        service, sep, operation = target.partition(":")
        if not sep or not service or not operation:
            raise FaultSpecError(
                f"fault rule {rule!r}: target must be SERVICE:OPERATION (e.g. iam:ListUsers)"
            )
    parts = action.split(":")
    try:
        kind = FaultKind(parts[0].strip().lower())
    except ValueError:
        raise FaultSpecError(
            f"fault rule {rule!r}: unknown kind {parts[0]!r} "
            f"(expected {', '.join(k.value for k in FaultKind)})"
        ) from None
    args = [p.strip() for p in parts[1:]]
    latency = 0.0
    if kind is FaultKind.LATENCY:
        if not args:
            raise FaultSpecError(f"fault rule {rule!r}: latency needs a duration like 200ms")
        m = _DURATION_RE.match(args.pop(0))
        if not m:
            raise FaultSpecError(f"fault rule {rule!r}: duration must look like 200ms or 1.5s")
        latency = float(m.group("n")) / (1000 if m.group("unit") == "ms" else 1)
    rate = 1.0
    if args:
        try:
            rate = float(args.pop(0))
        except ValueError:
            raise FaultSpecError(f"fault rule {rule!r}: rate must be a number") from None
    if args:
        raise FaultSpecError(f"fault rule {rule!r}: too many ':' parts")
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"fault rule {rule!r}: rate must be between 0 and 1")
    return FaultRule(
        service=service.strip(),
        operation=operation.strip(),
        account_id=account,
        kind=kind,
        rate=rate,
        latency_seconds=latency,
        text=rule,
    )


def parse_spec(spec: str | None) -> tuple[FaultRule, ...]:
    if not spec or not spec.strip():
        return ()
    return tuple(parse_rule(part) for part in spec.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class FaultDecision:
    latency_seconds: float = 0.0
    error: FaultKind | None = None
    rule: str | None = None


NO_FAULT = FaultDecision()


class FaultInjector:
    """Decides, per request, which fault (if any) it meets. Thread-safe."""

    def __init__(self, spec: str | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._spec: str | None = None
        self._rules: tuple[FaultRule, ...] = ()
        self._rngs: list[random.Random] = []
        self.injected = 0
        self.set_spec(spec)

    @property
    def spec(self) -> str | None:
        return self._spec

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    def set_spec(self, spec: str | None) -> None:
        rules = parse_spec(spec)  # validate before replacing anything
        with self._lock:
            self._spec = ",".join(r.text for r in rules) or None
            self._rules = rules
            self._rngs = [random.Random(f"{self._seed}|{i}|{r.text}") for i, r in enumerate(rules)]

    def decide(self, service: str, operation: str, account_id: str | None) -> FaultDecision:
        if not self._rules:
            return NO_FAULT
        latency = 0.0
        error: FaultKind | None = None
        hit: str | None = None
        with self._lock:
            for rule, rng in zip(self._rules, self._rngs, strict=True):
                if not rule.matches(service, operation, account_id):
                    continue
                if rng.random() >= rule.rate:
                    continue
                if rule.kind is FaultKind.LATENCY:
                    latency += rule.latency_seconds
                    hit = hit or rule.text
                elif error is None:
                    error = rule.kind
                    hit = rule.text
            if error is not None:
                self.injected += 1
        if error is None and latency == 0.0:
            return NO_FAULT
        return FaultDecision(latency_seconds=latency, error=error, rule=hit)
