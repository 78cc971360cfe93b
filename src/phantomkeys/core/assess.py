"""Classify API-key holders, evaluate what they can really do, and rate the risk.

Pure: a snapshot, a catalog and a clock in; identities and findings out.

Status is fail-closed (issue 4, DESIGN "Fail closed"): ``unknown`` whenever a
lookup this identity depends on failed — never ``orphaned`` on incomplete
information, because ``orphaned`` is what ``cleanup`` deletes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol, cast

from phantomkeys.core.capabilities import Grant, assess_capabilities, beyond_managed_policy
from phantomkeys.core.findings import Finding, Rule, Severity, max_severity
from phantomkeys.core.model import (
    AccountSnapshot,
    IamUser,
    ManagedPolicy,
    ServiceCredential,
    other_ways_in,
)
from phantomkeys.core.policy import Policy, PolicyKind, PolicyParseError
from phantomkeys.surfaces import SURFACES, Surface, SurfaceId, is_api_key_service

#: A key this far in the future is treated as never expiring (36,600 days is the
#: API maximum; prowler uses 10,000 days as "never").
NEVER_EXPIRES_AFTER = timedelta(days=10_000)
OLD_KEY_AGE = timedelta(days=90)


class IdentityKind(StrEnum):
    PHANTOM = "phantom"
    SUSPECTED_PHANTOM = "suspected-phantom"
    HUMAN = "human"


class Status(StrEnum):
    AT_RISK = "at-risk"
    ACTIVE = "active"
    EXPIRED = "expired"
    ORPHANED = "orphaned"
    UNKNOWN = "unknown"


STATUS_ORDER = (Status.AT_RISK, Status.ACTIVE, Status.EXPIRED, Status.ORPHANED, Status.UNKNOWN)


class Catalog(Protocol):
    def expand(self, pattern: str) -> frozenset[str]: ...


# ----------------------------------------------------------------------- rules

_REVOKE = "phantomkeys revoke {subject} (then phantomkeys cleanup --user {subject})"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "pivot-access-key",
            "Active IAM access key on an API-key user",
            Severity.CRITICAL,
            "An access key turns a Bedrock-only bearer token holder into a full IAM principal: "
            "whoever holds it can call every API the user's policies allow, from anywhere.",
            "Deactivate and delete the access key (phantomkeys revoke USER --access-keys), "
            "then find who created it in CloudTrail (phantomkeys timeline USER).",
            attack=("T1098.001", "T1078.004"),
            tags=("pivot",),
        ),
        Rule(
            "pivot-console-password",
            "Console password on an API-key user",
            Severity.CRITICAL,
            "A console password lets someone sign in to the AWS console as the key's user.",
            "Delete the login profile (phantomkeys revoke USER --console), then investigate who "
            "created it (phantomkeys timeline USER).",
            attack=("T1098", "T1078.004"),
            tags=("pivot",),
        ),
        Rule(
            "pivot-other-credential",
            "Another long-term credential on an API-key user",
            Severity.HIGH,
            "A service-specific credential of another service (CodeCommit, Keyspaces, "
            "CloudWatch, ...), an SSH public key or a signing certificate is a way into the "
            "user that outlives its API keys: revoking the keys does not close it.",
            "Delete it (phantomkeys cleanup --user USER --force deletes every credential), "
            "then find who added it in CloudTrail (phantomkeys timeline USER).",
            attack=("T1098.001", "T1078.004"),
            tags=("pivot",),
        ),
        Rule(
            "mfa-on-api-key-user",
            "MFA device registered on an API-key user",
            Severity.MEDIUM,
            "Phantom users are never meant to sign in; an MFA device suggests someone is preparing "
            "console access.",
            "Deactivate and delete the MFA device and check CloudTrail for EnableMFADevice.",
            attack=("T1556.006",),
            tags=("pivot",),
        ),
        Rule(
            "extra-permissions",
            "Permissions beyond the surface's managed policy",
            Severity.HIGH,
            "The user can do more than the managed policy the console attaches: extra attached, "
            "inline or group policies widen what a leaked key or pivot can reach.",
            "Remove the extra policies or move the workload to a least-privilege role "
            "(phantomkeys least-privilege USER).",
            attack=("T1078.004",),
            tags=("permissions",),
        ),
        Rule(
            "never-expiring-key",
            "API key that never expires",
            Severity.HIGH,
            "A long-term key without an expiry date (or tens of thousands of days away) stays a "
            "valid bearer token until someone remembers to delete it.",
            "Replace it with a short-term key (phantomkeys mint) or a key with an expiry, then "
            "revoke it; enforce a cap with phantomkeys scp generate --preset max-age.",
            attack=("T1078.004",),
            tags=("hygiene",),
        ),
        Rule(
            "old-key",
            "API key older than 90 days",
            Severity.MEDIUM,
            "Old bearer tokens have had time to spread into scripts, notebooks and logs.",
            "Rotate: create a new key or short-term keys, then revoke this one.",
            tags=("hygiene",),
        ),
        Rule(
            "active-key",
            "Active long-term API key",
            Severity.LOW,
            "A long-term key is a bearer token: anyone holding the string can use it.",
            "Prefer short-term keys (phantomkeys mint); keep long-term keys short-lived.",
            tags=("inventory",),
        ),
        Rule(
            "human-holds-api-key",
            "Human IAM user holds an API key",
            Severity.MEDIUM,
            "The key is a bearer token for a person's IAM user: it carries that person's "
            "Bedrock permissions and is not tied to their MFA or session.",
            "Use short-term keys minted from the person's session instead (phantomkeys mint).",
            tags=("inventory",),
        ),
        Rule(
            "orphaned-phantom",
            "Orphaned phantom user left behind",
            Severity.LOW,
            "Revoking a key leaves the auto-created IAM user and its broad managed policy; "
            "anyone who later adds a credential to it inherits those permissions.",
            "Delete it with its prerequisites and a backup: phantomkeys cleanup.",
            tags=("hygiene",),
        ),
        Rule(
            "lingering-inactive-key",
            "Expired or inactive API keys still present",
            Severity.LOW,
            "An inactive key can be re-activated with one call; an expired one is clutter that "
            "hides the live ones.",
            "Delete keys no longer needed (phantomkeys cleanup --include-expired).",
            tags=("hygiene",),
        ),
        Rule(
            "inactive-access-key",
            "Inactive access key on an API-key user",
            Severity.LOW,
            "An inactive access key can be re-activated with one call.",
            "Delete it (phantomkeys cleanup deletes it with the user).",
            tags=("pivot",),
        ),
        Rule(
            "unknown-state",
            "State could not be read completely",
            Severity.MEDIUM,
            "A lookup this identity depends on failed, so its status cannot be trusted; "
            "phantomkeys never calls such a user orphaned and never cleans it up.",
            "Rerun with permissions for the failed calls (see the evidence), or with "
            "--verify-credentials.",
            tags=("coverage",),
        ),
        Rule(
            "managed-policy-without-key",
            "Surface managed policy without an API key",
            Severity.INFO,
            "The user has the surface's managed policy but no API key: a key can be added later "
            "and inherits it.",
            "Detach the policy if the user does not need Bedrock or Claude Platform access.",
            tags=("inventory",),
        ),
    )
}


def capability_rule(grant: Grant) -> Rule:
    return Rule(
        id=f"capability-{grant.capability}",
        title=f"Can {grant.title.lower()}",
        severity=grant.severity,
        rationale=f"Effective permissions allow {grant.title.lower()}.",
        remediation="Remove the granting statement, or add a deny, or move the workload to a "
        "least-privilege role (phantomkeys least-privilege USER).",
        tags=("capability",),
    )


# --------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class PolicyRef:
    name: str
    kind: str  # managed | inline | group-managed | group-inline | boundary | scp
    arn: str | None = None
    via: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "arn": self.arn, "via": self.via}


@dataclass(frozen=True, slots=True)
class Identity:
    account_id: str
    username: str
    arn: str
    kind: IdentityKind
    surface: Surface
    status: Status
    credentials: tuple[ServiceCredential, ...] | None
    user: IamUser
    policies: tuple[PolicyRef, ...] = ()
    capabilities: tuple[Grant, ...] = ()
    beyond_managed: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    unknown_because: tuple[str, ...] = ()
    scps_evaluated: bool = False
    #: The last to_dict() result and the time it was made for.
    _dict: tuple[datetime, dict[str, Any]] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @property
    def severity(self) -> Severity:
        return max_severity(f.severity for f in self.findings) or Severity.INFO

    def to_dict(self, at: datetime) -> dict[str, Any]:
        """The identity for reports, as of ``at`` (made once per ``at``; a scan
        makes it while the last pages are read). A fresh top-level dict each call."""
        made = self._dict
        if made is None or made[0] != at:
            made = (at, self._to_dict(at))
            object.__setattr__(self, "_dict", made)
        return dict(made[1])

    def _to_dict(self, at: datetime) -> dict[str, Any]:
        u = self.user
        return {
            "username": self.username,
            "arn": self.arn,
            "account_id": self.account_id,
            "kind": self.kind.value,
            "surface": self.surface.id.value,
            "status": self.status.value,
            # Every service's credentials of the user, the surface's API keys
            # first; AWS reports no last use for service-specific credentials.
            "credentials": None
            if self.credentials is None or u.service_credentials is None
            else [
                {
                    "id": c.id,
                    "service": c.service,
                    "api_key": c.service == self.surface.credential_service,
                    "status": _cred_status(c, at),
                    "created": _ts(c.created),
                    "expires": _ts(c.expires),
                    "age_days": _age_days(c.created, at),
                    "last_used": None,
                }
                for c in sorted(
                    u.service_credentials,
                    key=lambda c: (c.service != self.surface.credential_service, c.service, c.id),
                )
            ],
            "access_keys": None
            if u.access_keys is None
            else [
                {
                    "id": k.id or None,
                    "status": k.status,
                    "created": _ts(k.created),
                    "last_used": _ts(k.last_used),
                }
                for k in u.access_keys
            ],
            "console_access": u.password_enabled,
            "signing_certificates": u.signing_certificates,
            "ssh_public_keys": u.ssh_public_keys,
            "credentials_verified_at": _ts(u.credentials_verified_at),
            "mfa_devices": list(u.mfa_devices)
            if u.mfa_devices is not None
            else (None if u.mfa_active is None else (["(MFA active)"] if u.mfa_active else [])),
            "groups": list(u.group_names),
            "permissions_boundary": u.boundary_arn,
            "policies": [p.to_dict() for p in self.policies],
            "capabilities": [_capability_dict(g) for g in self.capabilities],
            "permissions_beyond_managed_policy": list(self.beyond_managed[:50]),
            "scps_evaluated": self.scps_evaluated,
            "risk": {
                "severity": self.severity.value,
                "reasons": [f.title for f in self.findings],
            },
            "unknown_because": list(self.unknown_because),
        }


#: Long action lists (full-admin grants thousands) are cut in reports; the
#: counts stay exact.
ACTIONS_SHOWN = 10


def _capability_dict(grant: Grant) -> dict[str, Any]:
    d = grant.to_dict(limit=ACTIONS_SHOWN)
    d["actions_total"] = len(grant.actions)
    d["api_key_actions_total"] = len(grant.api_key_actions)
    d["conditional_actions_total"] = len(grant.conditional_actions)
    return d


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _age_days(created: datetime | None, at: datetime) -> int | None:
    return (at - created).days if created else None


def _cred_status(c: ServiceCredential, at: datetime) -> str:
    if c.status == "Active" and c.expires is not None and c.expires <= at:
        return "Expired"
    return c.status


# ----------------------------------------------------------------- assessment


@dataclass
class _PolicySet:
    identity: list[Policy] = field(default_factory=list)
    refs: list[PolicyRef] = field(default_factory=list)
    boundary: Policy | None = None
    missing: list[str] = field(default_factory=list)


def _parse(
    document: Mapping[str, Any] | None, *, name: str, kind: PolicyKind, sink: _PolicySet
) -> Policy | None:
    if document is None:
        sink.missing.append(f"policy {name} could not be read")
        return None
    try:
        return Policy.parse(document, name=name, kind=kind)
    except PolicyParseError as exc:
        sink.missing.append(f"policy {name} could not be parsed: {exc}")
        return None


#: Managed policies parsed once per account, not once per user: (arn, kind) ->
#: (the ManagedPolicy it was parsed from, the policy or None, why it is missing).
#: A hit counts only for the very ManagedPolicy object it was parsed from.
ManagedCache = dict[
    tuple[str, PolicyKind], tuple[ManagedPolicy | None, Policy | None, tuple[str, ...]]
]


def _managed(
    arn: str, kind: PolicyKind, snap: AccountSnapshot, cache: ManagedCache
) -> tuple[Policy | None, tuple[str, ...]]:
    mp: ManagedPolicy | None = snap.managed_policies.get(arn)
    hit = cache.get((arn, kind))
    if hit is None or hit[0] is not mp:
        sink = _PolicySet()
        hit = (
            mp,
            _parse(mp.document if mp else None, name=arn, kind=kind, sink=sink),
            tuple(sink.missing),
        )
        cache[(arn, kind)] = hit
    return hit[1], hit[2]


def collect_policies(
    user: IamUser, snap: AccountSnapshot, parsed: ManagedCache | None = None
) -> _PolicySet:
    ps = _PolicySet()
    cache: ManagedCache = {} if parsed is None else parsed

    def managed(arn: str, kind: PolicyKind, via: str | None) -> None:
        ps.refs.append(PolicyRef(name=arn.rsplit("/", 1)[-1], kind=kind.value, arn=arn, via=via))
        policy, missing = _managed(arn, kind, snap, cache)
        ps.missing.extend(missing)
        if policy is not None:
            ps.identity.append(policy)

    for arn in user.attached_policy_arns:
        managed(arn, PolicyKind.MANAGED, None)
    for ip in user.inline_policies:
        name = f"inline:{user.name}/{ip.name}"
        ps.refs.append(PolicyRef(name=ip.name, kind=PolicyKind.INLINE.value))
        policy = _parse(ip.document, name=name, kind=PolicyKind.INLINE, sink=ps)
        if policy is not None:
            ps.identity.append(policy)
    for gname in user.group_names:
        group = snap.groups.get(gname)
        if group is None:
            ps.missing.append(f"group {gname} could not be read")
            continue
        for arn in group.attached_policy_arns:
            managed(arn, PolicyKind.GROUP_MANAGED, gname)
        for ip in group.inline_policies:
            ps.refs.append(PolicyRef(name=ip.name, kind=PolicyKind.GROUP_INLINE.value, via=gname))
            policy = _parse(
                ip.document,
                name=f"inline:group/{gname}/{ip.name}",
                kind=PolicyKind.GROUP_INLINE,
                sink=ps,
            )
            if policy is not None:
                ps.identity.append(policy)
    if user.boundary_arn:
        mp = snap.managed_policies.get(user.boundary_arn)
        ps.refs.append(
            PolicyRef(
                name=user.boundary_arn.rsplit("/", 1)[-1],
                kind=PolicyKind.BOUNDARY.value,
                arn=user.boundary_arn,
            )
        )
        ps.boundary = _parse(
            mp.document if mp else None, name=user.boundary_arn, kind=PolicyKind.BOUNDARY, sink=ps
        )
    return ps


def scp_levels(snap: AccountSnapshot) -> tuple[tuple[Policy, ...], ...] | None:
    if snap.scps is None:
        return None
    levels = []
    for level in snap.scps:
        parsed = []
        for p in level.policies:
            if p.document is None:
                return None  # an unreadable SCP: do not pretend it was evaluated
            try:
                parsed.append(Policy.parse(p.document, name=p.arn, kind=PolicyKind.SCP))
            except PolicyParseError:
                return None
        levels.append(tuple(parsed))
    return tuple(levels)


def _surfaces_of(
    user: IamUser, surfaces: Sequence[Surface], snap: AccountSnapshot
) -> list[Surface]:
    found = []
    policy_names = {a.rsplit("/", 1)[-1] for a in user.attached_policy_arns}
    for g in user.group_names:
        if g in snap.groups:
            policy_names.update(a.rsplit("/", 1)[-1] for a in snap.groups[g].attached_policy_arns)
    for s in surfaces:
        holds = any(c.service == s.credential_service for c in user.service_credentials or ())
        if (
            s.is_phantom_name(user.name)
            or holds
            or not policy_names.isdisjoint(s.managed_policy_names)
        ):
            found.append(s)
    return found


def classify_kind(user: IamUser, surface: Surface, partition: str) -> IdentityKind:
    if surface.is_phantom_name(user.name):
        return IdentityKind.PHANTOM
    attached = set(user.attached_policy_arns)
    only_managed = (
        len(attached) == 1
        and attached <= set(surface.managed_policy_arns(partition))
        and not user.inline_policies
        and not user.group_names
    )
    # Other services' credentials do not change what the user is shaped like
    # (they make it at-risk instead); another surface's key does.
    creds = [c for c in user.service_credentials or () if is_api_key_service(c.service)]
    only_surface_creds = all(c.service == surface.credential_service for c in creds)
    no_login = not user.password_enabled and not any(
        k.status == "Active" for k in user.access_keys or ()
    )
    # The phantom shape without the name: renamed, or created by hand like the console does.
    if only_managed and only_surface_creds and (creds or no_login):
        return IdentityKind.SUSPECTED_PHANTOM
    return IdentityKind.HUMAN


def _surface_policies(
    snap: AccountSnapshot, surfaces: Sequence[Surface], parsed: ManagedCache
) -> dict[SurfaceId, Policy | None]:
    """Each surface's managed policies, the reference for "beyond" (None: unreadable).

    Where sources disagree on the policy the console attaches (Claude Platform:
    AnthropicInferenceAccess or AnthropicLimitedAccess), the reference is the
    union of every variant that could be read: holding either is normal. An
    unreadable variant only narrows the reference (more is "beyond", never less).
    """
    out: dict[SurfaceId, Policy | None] = {}
    for s in surfaces:
        found = [
            p
            for arn in s.managed_policy_arns(snap.partition)
            if (p := _managed(arn, PolicyKind.MANAGED, snap, parsed)[0]) is not None
        ]
        out[s.id] = _union(found, s) if len(found) > 1 else (found[0] if found else None)
    return out


def _union(policies: Sequence[Policy], surface: Surface) -> Policy:
    return replace(
        policies[0],
        name=" + ".join(p.name for p in policies),
        statements=tuple(st for p in policies for st in p.statements),
    )


@dataclass(frozen=True)
class Assessed:
    """Identities assessed from a partial snapshot, for :func:`assess_account` to reuse."""

    part: AccountSnapshot
    at: datetime
    surfaces: tuple[Surface, ...]
    catalog: Any
    #: id(user) -> (the user, its identities)
    by_user: Mapping[int, tuple[IamUser, list[Identity]]]


def assess_ahead(
    part: AccountSnapshot,
    *,
    catalog: Catalog,
    at: datetime,
    surfaces: Sequence[Surface] = SURFACES,
    parsed: ManagedCache | None = None,
) -> Assessed:
    """Assess the users of a partial snapshot while the rest is still being read.

    A scan calls this with the pages of users already read; :func:`assess_account`
    then reuses each result whose inputs are the very same objects in the final
    snapshot (see :func:`_same_inputs`) and assesses the others. The costly part,
    the effective permissions of each distinct policy set, is memoised either way.
    """
    cache: ManagedCache = {} if parsed is None else parsed
    scps = scp_levels(part)
    refs = _surface_policies(part, surfaces, cache)
    by_user: dict[int, tuple[IamUser, list[Identity]]] = {}
    for user in part.users:
        by_user[id(user)] = (
            user,
            [
                _assess_one(
                    user,
                    surface,
                    part,
                    catalog=catalog,
                    at=at,
                    scps=scps,
                    managed=refs[surface.id],
                    parsed=cache,
                )
                for surface in _surfaces_of(user, surfaces, part)
            ],
        )
    return Assessed(part, at, tuple(surfaces), catalog, by_user)


def _same_inputs(
    part: AccountSnapshot, snap: AccountSnapshot, user: IamUser, surfaces: Sequence[Surface]
) -> bool:
    """Everything :func:`_assess_one` reads about ``user`` is the same object in both
    snapshots (a partial snapshot records no failures: any in ``snap`` disqualifies)."""
    if (
        part.account_id != snap.account_id
        or part.partition != snap.partition
        or part.scps is not snap.scps
        or part.credential_report_generated_at != snap.credential_report_generated_at
        or part.failures
        or snap.failures_for(user.name)
    ):
        return False
    arns = [
        *user.attached_policy_arns,
        *(a for s in surfaces for a in s.managed_policy_arns(snap.partition)),
    ]
    if user.boundary_arn:
        arns.append(user.boundary_arn)
    for g in user.group_names:
        group = snap.groups.get(g)
        if group is not part.groups.get(g):
            return False
        if group is not None:
            arns.extend(group.attached_policy_arns)
    return all(snap.managed_policies.get(a) is part.managed_policies.get(a) for a in arns)


def _evaluate(
    ps: _PolicySet,
    surface: Surface,
    scps: tuple[tuple[Policy, ...], ...] | None,
    managed: Policy | None,
    catalog: Catalog,
) -> tuple[tuple[Grant, ...], tuple[str, ...], frozenset[str]]:
    """Capabilities, and the actions beyond the surface's managed policy (memoised)."""
    scp_input: Sequence[Sequence[Policy]] = scps or ()
    grants = assess_capabilities(
        ps.identity, boundary=ps.boundary, scps=scp_input, surface=surface, catalog=catalog
    )
    if managed is None:
        return grants, (), frozenset()
    # Most key holders share one policy set: compare each distinct set once.
    beyond, extra_actions = _beyond_cached(
        tuple(ps.identity),
        ps.boundary,
        tuple(tuple(x) for x in scp_input),
        managed,
        cast(Hashable, catalog),
    )
    return grants, beyond, extra_actions


def assess_account(
    snap: AccountSnapshot,
    *,
    catalog: Catalog,
    at: datetime,
    surfaces: Sequence[Surface] = SURFACES,
    parsed: ManagedCache | None = None,
    ahead: Sequence[Assessed] = (),
) -> list[Identity]:
    """Every identity the scan reports in one account, worst first.

    ``parsed``: managed policies parsed already; ``ahead``: users assessed from
    partial snapshots (see :func:`assess_ahead`), reused where nothing differs.
    """
    scps = scp_levels(snap)
    if parsed is None:
        parsed = {}
    managed_refs = _surface_policies(snap, surfaces, parsed)
    early: dict[int, tuple[IamUser, list[Identity], AccountSnapshot]] = {}
    for a in ahead:
        if a.at == at and a.surfaces == tuple(surfaces) and a.catalog is catalog:
            for key, (u, found) in a.by_user.items():
                early[key] = (u, found, a.part)
    out: list[Identity] = []
    for user in snap.users:
        hit = early.get(id(user))
        if hit is not None and hit[0] is user and _same_inputs(hit[2], snap, user, surfaces):
            out.extend(hit[1])
            continue
        for surface in _surfaces_of(user, surfaces, snap):
            out.append(
                _assess_one(
                    user,
                    surface,
                    snap,
                    catalog=catalog,
                    at=at,
                    scps=scps,
                    managed=managed_refs[surface.id],
                    parsed=parsed,
                )
            )
    out.sort(key=lambda i: (-i.severity.rank, STATUS_ORDER.index(i.status), i.username))
    return out


@lru_cache(maxsize=512)
def _beyond_cached(
    identity: tuple[Policy, ...],
    boundary: Policy | None,
    scps: tuple[tuple[Policy, ...], ...],
    managed: Policy,
    catalog: Any,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """Most key holders, across accounts too, share one policy set: compare it once.

    The actions as a tuple (for reports) and as a set (for lookups).
    """
    beyond = tuple(
        beyond_managed_policy(
            identity, boundary=boundary, scps=scps, managed=managed, catalog=catalog
        )
    )
    return beyond, frozenset(beyond)


def _assess_one(
    user: IamUser,
    surface: Surface,
    snap: AccountSnapshot,
    *,
    catalog: Catalog,
    at: datetime,
    scps: tuple[tuple[Policy, ...], ...] | None,
    managed: Policy | None,
    parsed: ManagedCache | None = None,
) -> Identity:
    ps = collect_policies(user, snap, parsed)
    unknown = [
        f"{f.operation} failed: {f.error_code}"
        for f in snap.failures_for(user.name)
        if not (f.user or "").startswith(("policy:", "group:"))
    ]
    unknown += ps.missing
    creds = (
        None
        if user.service_credentials is None
        else tuple(c for c in user.service_credentials if c.service == surface.credential_service)
    )
    if creds is None:
        unknown.append("API keys could not be listed")
    if user.access_keys is None:
        unknown.append(
            "access keys unknown (not in the credential report; rerun with --verify-credentials)"
        )
    if user.password_enabled is None:
        unknown.append("console password unknown")
    if managed is None:
        unknown.append(f"{' and '.join(surface.managed_policy_names)} could not be read")
    stale = stale_credential_data(user, snap.credential_report_generated_at)

    # extra_actions: canonical catalog names, like Grant.actions
    grants, beyond, extra_actions = _evaluate(ps, surface, scps, managed, catalog)
    kind = classify_kind(user, surface, snap.partition)
    active_keys = [k for k in user.access_keys or () if k.status == "Active"]
    live = [c for c in creds or () if c.is_active(at)]
    ways_in = other_ways_in(
        service_credentials=user.service_credentials or (),
        access_keys=user.access_keys or (),
        password=bool(user.password_enabled),
        signing_certificates=user.signing_certificates or 0,
        ssh_public_keys=user.ssh_public_keys or 0,
        at=at,
    )
    # A credential report older than a change to the user cannot show what the
    # change added: unknown, unless the user is at-risk anyway (fail closed).
    if stale and not (ways_in or beyond):
        unknown.append(stale)

    if unknown:
        status = Status.UNKNOWN
    elif ways_in or beyond:
        status = Status.AT_RISK
    elif live:
        status = Status.ACTIVE
    elif creds:
        status = Status.EXPIRED
    else:
        status = Status.ORPHANED

    subject = user.name
    acct = snap.account_id
    findings: list[Finding] = []

    def add(
        rule_id: str,
        evidence: Mapping[str, Any] | None = None,
        *ident: str,
        severity: Severity | None = None,
    ) -> None:
        findings.append(
            Finding.from_rule(
                RULES[rule_id],
                subject=subject,
                account_id=acct,
                evidence=evidence,
                identity=(surface.id.value, *ident),
                severity=severity,
                location=None,
            )
        )

    if unknown:
        add("unknown-state", {"because": unknown})
    phantom_like = kind is not IdentityKind.HUMAN
    for k in active_keys:
        if phantom_like:
            add(
                "pivot-access-key",
                {"access_key": k.id or "(from credential report)", "last_used": _ts(k.last_used)},
                k.id,
            )
    if user.password_enabled and phantom_like:
        add("pivot-console-password", {"password_last_used": _ts(user.password_last_used)})
    others = [
        c
        for c in user.service_credentials or ()
        if not is_api_key_service(c.service) and c.is_active(at)
    ]
    if phantom_like and (others or user.ssh_public_keys or user.signing_certificates):
        add(
            "pivot-other-credential",
            {
                "credentials": [f"{c.service} {c.id}" for c in others],
                "ssh_public_keys": user.ssh_public_keys,
                "signing_certificates": user.signing_certificates,
            },
            *(c.id for c in others),
        )
    if user.has_mfa and phantom_like:
        add("mfa-on-api-key-user", {"mfa_devices": list(user.mfa_devices or ())})
    if phantom_like and any(k.status != "Active" for k in user.access_keys or ()):
        add("inactive-access-key")
    if beyond:
        add(
            "extra-permissions",
            {
                "examples": list(beyond[:10]),
                "count": len(beyond),
                "policies": [p.name for p in ps.refs],
            },
            severity=Severity.CRITICAL if active_keys or user.password_enabled else None,
        )
    for c in live:
        ev = {
            "credential_id": c.id,
            "created": _ts(c.created),
            "expires": _ts(c.expires),
            "age_days": _age_days(c.created, at),
        }
        if c.expires is None or c.expires - at > NEVER_EXPIRES_AFTER:
            add("never-expiring-key", ev, c.id)
        if c.created and at - c.created > OLD_KEY_AGE:
            add("old-key", ev, c.id)
        add("active-key", ev, c.id)
    if creds and not live:
        add("lingering-inactive-key", {"credentials": [c.id for c in creds]})
    if kind is IdentityKind.HUMAN and creds:
        add("human-holds-api-key", {"credentials": [c.id for c in creds]})
    if status is Status.ORPHANED and phantom_like:
        add("orphaned-phantom", {"created": _ts(user.created)})
    if not creds and not phantom_like and creds is not None:
        add("managed-policy-without-key")
    for g in grants:
        if (
            g.severity.rank >= Severity.HIGH.rank
            and extra_actions
            and not extra_actions.isdisjoint(g.actions)
        ):
            findings.append(
                Finding.from_rule(
                    capability_rule(g),
                    subject=subject,
                    account_id=acct,
                    evidence={
                        "reach": list(g.reach),
                        "granted_by": list(g.granted_by),
                        "conditional": g.conditional,
                        "actions": list(g.actions[:10]),
                    },
                    identity=(surface.id.value,),
                )
            )

    return Identity(
        account_id=acct,
        username=user.name,
        arn=user.arn,
        kind=kind,
        surface=surface,
        status=status,
        credentials=creds,
        user=user,
        policies=tuple(ps.refs),
        capabilities=tuple(grants),
        beyond_managed=beyond,
        findings=tuple(findings),
        unknown_because=tuple(unknown),
        scps_evaluated=scps is not None,
    )


def stale_credential_data(user: IamUser, report_generated_at: datetime | None) -> str | None:
    """Why the credential report cannot speak for ``user`` (None when it can).

    AWS hands back a report up to four hours old (docs/aws-facts.md "Credential
    report"): a user created, or given a service-specific credential, at or
    after its generation time may hold an access key, password or certificate
    the report does not show. Facts read per user (``--verify-credentials``)
    are never stale.
    """
    if user.credentials_verified_at is not None or report_generated_at is None:
        return None
    if user.created is not None and user.created >= report_generated_at:
        return (
            f"created after the credential report of {_ts(report_generated_at)}: "
            "rerun with --verify-credentials"
        )
    changed = [
        c.created
        for c in user.service_credentials or ()
        if c.created is not None and c.created >= report_generated_at
    ]
    if changed:
        return (
            f"changed at {_ts(max(changed))}, after the credential report of "
            f"{_ts(report_generated_at)}: rerun with --verify-credentials"
        )
    return None


def summarize(identities: Iterable[Identity]) -> dict[str, Any]:
    counts = {s.value: 0 for s in STATUS_ORDER}
    kinds = {k.value: 0 for k in IdentityKind}
    sev = {s.value: 0 for s in Severity}
    total = 0
    for i in identities:
        total += 1
        counts[i.status.value] += 1
        kinds[i.kind.value] += 1
        sev[i.severity.value] += 1
    return {
        "identities": total,
        "by_status": counts,
        **counts,
        "by_kind": kinds,
        "by_severity": sev,
    }
