"""Cleanup: which users a cleanup may delete (fail closed), and the plan that deletes one
completely."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from phantomkeys.core.model import other_ways_in
from phantomkeys.core.plans import items
from phantomkeys.core.plans.facts import UserState, _require_complete, user_facts
from phantomkeys.core.plans.model import Operation, Plan, PlanError, Step
from phantomkeys.surfaces import is_api_key_service

# ------------------------------------------------------------------ cleanup


def live_items(state: UserState, *, at: datetime) -> list[str]:
    """Credentials that still work: what makes deleting a user more than tidying up.

    Live API keys, then :func:`~phantomkeys.core.model.other_ways_in`: the one
    definition the scan's ``at-risk`` uses too.
    """
    out = [
        f"active API key {c.id} ({c.service})"
        for c in state.service_credentials
        if is_api_key_service(c.service) and c.is_active(at)
    ]
    out += other_ways_in(
        service_credentials=state.service_credentials,
        access_keys=state.access_keys,
        password=state.login_profile,
        signing_certificates=sum(1 for c in state.signing_certificates if c.status == "Active"),
        ssh_public_keys=sum(1 for k in state.ssh_public_keys if k.status == "Active"),
        at=at,
    )
    return out


def build_cleanup_plan(state: UserState, *, at: datetime, allow_live: bool = False) -> Plan:
    """Delete a user completely: every ``DeleteUser`` prerequisite in order, then the user.

    Order (IAM user guide id_users_remove; docs/aws-facts.md "DeleteUser
    prerequisites"): login profile, access keys, signing certificates, SSH keys,
    every service's credentials, MFA devices (deactivate; delete virtual ones),
    inline policies, attached policies, group memberships, permissions
    boundary, the user.
    """
    _require_complete(state)
    name = state.name
    if not state.exists:
        return Plan(
            operation=Operation.CLEANUP,
            account_id=state.account_id,
            subject=name,
            subject_type="user",
            built_at=at,
            steps=(),
            baseline={},
            notes=(f"{name} does not exist (already deleted)",),
        )
    live = live_items(state, at=at)
    if live and not allow_live:
        raise PlanError(
            f"{name} still has {', '.join(live)}: not deleted without --force "
            "(revoke it first, or name it with --user NAME --force)"
        )
    steps: list[Step] = []
    cannot: list[str] = []
    if state.login_profile:
        steps.append(
            items.delete_login_profile(
                name, description="delete the console password", undo="cannot be undone: password"
            )
        )
        cannot.append("console password")
    for k in sorted(state.access_keys, key=lambda k: k.id):
        steps.append(items.delete_access_key(name, k.id, k.status))
        cannot.append(f"access key {k.id}")
    for cert in sorted(state.signing_certificates, key=lambda c: c.id):
        steps.append(items.delete_signing_certificate(name, cert.id, cert.fingerprint, cert.status))
    for ssh in sorted(state.ssh_public_keys, key=lambda k: k.id):
        steps.append(items.delete_ssh_public_key(name, ssh.id, ssh.fingerprint, ssh.status))
    for cred in sorted(state.service_credentials, key=lambda c: (c.service, c.id)):
        steps.append(
            items.delete_credential(
                name,
                cred.id,
                description=f"delete service credential {cred.id} ({cred.service}, {cred.status})",
            )
        )
        cannot.append(f"service credential {cred.id} ({cred.service})")
    for m in sorted(state.mfa_devices, key=lambda m: m.serial):
        steps.append(items.deactivate_mfa_device(name, m.serial))
        if m.virtual:
            steps.append(items.delete_virtual_mfa_device(m.serial))
        cannot.append(f"MFA device {m.serial}")
    for p in sorted(state.inline_policies, key=lambda p: p.name):
        steps.append(items.delete_user_policy(name, p.name))
    for arn in sorted(state.attached_policy_arns):
        steps.append(items.detach_user_policy(name, arn))
    for g in sorted(state.group_names):
        steps.append(items.remove_user_from_group(name, g))
    if state.boundary_arn:
        steps.append(items.delete_user_permissions_boundary(name, state.boundary_arn))
    steps.append(items.delete_user(name, list(state.tags)))
    notes = []
    if live:
        notes.append(f"--force: {name} still has {', '.join(live)}; they are deleted too")
    return Plan(
        operation=Operation.CLEANUP,
        account_id=state.account_id,
        subject=name,
        subject_type="user",
        built_at=at,
        steps=tuple(steps),
        baseline=user_facts(state),
        intent={"allow_live": allow_live},
        notes=tuple(notes),
        cannot_undo=tuple(cannot),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the scan says about one identity (``core.assess.Identity``, flattened)."""

    username: str
    kind: str  # phantom | suspected-phantom | human
    status: str  # at-risk | active | expired | orphaned | unknown
    surface: str
    created: datetime | None = None
    #: True/False whether it holds an API key of the surface; None when not known.
    holds_key: bool | None = None
    unknown_because: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class CleanupSelection:
    selected: tuple[str, ...]
    refused: tuple[Refusal, ...]
    #: Users passed over by the default filter (not errors): status -> count.
    passed_over: Mapping[str, int] = field(default_factory=dict)


_STATUS_RANK = {"unknown": 0, "at-risk": 1, "active": 2, "expired": 3, "orphaned": 4}


def combined(candidates: Sequence[Candidate]) -> Candidate:
    """One user may be two identities (both surfaces): the worst status wins."""
    worst = min(candidates, key=lambda c: _STATUS_RANK.get(c.status, 0))
    phantom = next((c.kind for c in candidates if c.kind != "human"), "human")
    holds: bool | None = False
    if any(c.holds_key for c in candidates):
        holds = True
    elif any(c.holds_key is None for c in candidates):
        holds = None
    reasons = tuple(r for c in candidates for r in c.unknown_because)
    return replace(worst, kind=phantom, holds_key=holds, unknown_because=reasons)


def select_for_cleanup(
    candidates: Iterable[Candidate],
    *,
    users: Sequence[str] = (),
    include_expired: bool = False,
    older_than_days: int | None = None,
    force: bool = False,
    at: datetime,
) -> CleanupSelection:
    """Which users a cleanup may delete. Fail closed: when in doubt, refuse and say why.

    * ``unknown`` is never selected (the scan could not read it completely);
    * ``orphaned`` phantom users by default; ``expired`` with ``--include-expired``
      or an explicit ``--user``; suspected phantoms (phantom-shaped users without the
      console's name) only when named with ``--user``;
    * ``active``/``at-risk`` users and human users only with ``--user`` and ``--force``.
    """
    by_user: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_user.setdefault(c.username, []).append(c)
    named = list(dict.fromkeys(users))
    selected: list[str] = []
    refused: list[Refusal] = []
    passed: dict[str, int] = {}
    for name in named:
        if name not in by_user:
            refused.append(
                Refusal(
                    name,
                    "not an API-key user found by the scan; cleanup "
                    "deletes only users the scan reports",
                )
            )
    pool = [n for n in named if n in by_user] if named else sorted(by_user)
    for name in pool:
        c = combined(by_user[name])
        explicit = name in named
        reason: str | None = None
        if c.status == "unknown":
            why = "; ".join(c.unknown_because[:3]) or "a lookup failed"
            reason = f"status unknown ({why}): never cleaned up on incomplete information"
        elif c.status in ("active", "at-risk"):
            if not (explicit and force):
                reason = (
                    f"is {c.status} (a live key holder): deleted only with "
                    f"--user {name} --force; consider phantomkeys revoke {name} first"
                )
        elif c.kind == "human" and not (explicit and force):
            reason = f"is a human IAM user, not a phantom: deleted only with --user {name} --force"
        elif c.kind == "suspected-phantom" and not explicit:
            # Shaped like a phantom but not named like one: a person may own it.
            key = "suspected phantom (name it with --user to delete it)"
            passed[key] = passed.get(key, 0) + 1
            continue
        elif c.status == "expired" and not (include_expired or explicit):
            passed["expired (use --include-expired)"] = (
                passed.get("expired (use --include-expired)", 0) + 1
            )
            continue
        if reason is None and older_than_days is not None:
            if c.created is None:
                reason = "creation time unknown: cannot apply --older-than"
            elif at - c.created < timedelta(days=older_than_days):
                if explicit:
                    reason = f"created less than {older_than_days} days ago (--older-than)"
                else:
                    passed[f"newer than {older_than_days} days"] = (
                        passed.get(f"newer than {older_than_days} days", 0) + 1
                    )
                    continue
        if reason is not None:
            if explicit or c.status == "unknown" or c.status == "orphaned":
                refused.append(Refusal(name, reason))
            else:
                passed[c.status] = passed.get(c.status, 0) + 1
            continue
        selected.append(name)
    return CleanupSelection(selected=tuple(selected), refused=tuple(refused), passed_over=passed)


def key_holder_problem(candidates: Sequence[Candidate], username: str) -> str | None:
    """Why ``username`` is not a key holder found by the scan (None when it is)."""
    if not candidates:
        return (
            f"{username} is not an API-key holder found by the scan (no Bedrock or Claude "
            "Platform key, not a phantom user)"
        )
    c = combined(candidates)
    if c.kind != "human" or c.holds_key:
        return None
    if c.holds_key is None:
        return f"the scan could not list {username}'s API keys, so it is not known to hold one"
    return (
        f"{username} is a human IAM user without an API key (it only has the surface's "
        "managed policy)"
    )
