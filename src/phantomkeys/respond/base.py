"""What every response job shares: the account, the target, reads, refusals, the console."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.keys import DecodedKey, KeyKind
from phantomkeys.core.plans import Candidate, Plan, PlanError, RoleState, State, UserState


class RespondError(Exception):
    """A refusal or a problem the run stops on: one line (and a hint) for the user, and
    the exit code the command maps it to (2 refused, 3 incomplete, 4 write refused or
    failed, 130 interrupted)."""

    def __init__(self, message: str, *, code: int = ExitCode.USAGE, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = int(code)
        self.hint = hint


class Console(Protocol):
    """How a job talks to the person running it (the CLI supplies one)."""

    def say(self, text: str) -> None:
        """A line of the run's text output (plans, outcomes)."""

    def info(self, text: str) -> None:
        """Progress and notes."""

    def warn(self, text: str) -> None:
        """A warning."""

    def confirm(self, question: str) -> bool:
        """Ask before writing; False when declined (KeyboardInterrupt when interrupted)."""


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Aws:
    ctx: Any
    account_id: str
    caller_arn: str

    @property
    def partition(self) -> str:
        return self.caller_arn.split(":")[1] if self.caller_arn.count(":") >= 5 else "aws"

    @classmethod
    def connect(cls, profile: str | None, region: str | None) -> Aws:
        """The session for ``--profile``/``--region`` and the identity it signs as."""
        from phantomkeys.aws.session import AwsContext
        from phantomkeys.aws.state import caller_identity

        ctx = AwsContext.from_cli(profile, region)
        account, arn = caller_identity(ctx)
        return cls(ctx=ctx, account_id=account, caller_arn=arn)


# ================================================================ targets


@dataclass(frozen=True, slots=True)
class Target:
    """What TARGET named: a user, or a decoded key (whose secret is never printed)."""

    text_kind: str  # user | long-term | short-term
    username: str | None = None
    key: DecodedKey | None = None
    from_stdin: bool = False

    def describe(self) -> str:
        if self.key is None:
            return f"user {self.username}"
        if self.key.kind is KeyKind.LONG_TERM:
            return f"long-term {self.key.surface.value} key of {self.key.username}"
        return (
            f"short-term {self.key.surface.value} key signed by "
            f"{self.key.access_key_id} ({self.key.region})"
        )

    def to_dict(self, at: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.text_kind, "username": self.username}
        if self.key is not None:
            out["key"] = self.key.to_dict(at=at)
        return out


# ================================================================ scan and reads


def candidates(aws: Aws, at: datetime, ui: Console) -> tuple[dict[str, list[Candidate]], Any]:
    from phantomkeys.scan import scan_account

    ui.info(f"scanning account {aws.account_id} for API-key holders…")
    # revoke, cleanup and report never trust the (up to 4 h old) credential
    # report: key holders' access keys, password, MFA, SSH keys and signing
    # certificates are read live (docs/aws-facts.md "Credential report").
    result, _snapshot = scan_account(aws.ctx, at=at, fresh=True)
    return candidates_from_identities(result.identities), result


def candidates_from_identities(identities: Sequence[Any]) -> dict[str, list[Candidate]]:
    """``core.assess.Identity`` values flattened into what the plan layer needs."""
    out: dict[str, list[Candidate]] = {}
    for i in identities:
        creds = i.credentials
        out.setdefault(i.username, []).append(
            Candidate(
                username=i.username,
                kind=str(i.kind.value),
                status=str(i.status.value),
                surface=str(i.surface.id.value),
                created=i.user.created,
                holds_key=None if creds is None else bool(creds),
                unknown_because=tuple(i.unknown_because),
            )
        )
    return out


def read_user(aws: Aws, name: str, at: datetime, *, last_used: bool = False) -> UserState:
    from phantomkeys.aws.state import read_user_state

    return read_user_state(
        aws.ctx,
        name,
        account_id=aws.account_id,
        partition=aws.partition,
        now=at,
        last_used=last_used,
    )


def read_role(aws: Aws, name: str, at: datetime) -> RoleState:
    from phantomkeys.aws.state import read_role_state

    return read_role_state(
        aws.ctx, name, account_id=aws.account_id, partition=aws.partition, now=at
    )


def user_reader(aws: Aws, name: str) -> Callable[[], State]:
    """Re-reads ``name`` at call time (just before applying)."""

    def read() -> State:
        return read_user(aws, name, now_utc())

    return read


def role_reader(aws: Aws, name: str) -> Callable[[], State]:
    def read() -> State:
        return read_role(aws, name, now_utc())

    return read


def incomplete(state: State) -> str:
    return "; ".join(f"{f.operation}: {f.error_code}" for f in state.failures[:3])


def plan_or_refuse(build: Callable[[], Plan]) -> Plan:
    try:
        return build()
    except PlanError as exc:
        raise RespondError(str(exc)) from None
