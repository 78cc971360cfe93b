"""Collect an :class:`AccountSnapshot` with account-wide listings (read-only).

The number of AWS calls does not grow with the number of key holders:

* ``GetAccountAuthorizationDetails`` — users (with inline policies, boundaries,
  tags), and side by side groups and customer policies (paged, up to 1,000
  items a page);
* ``ListServiceSpecificCredentials(AllUsers=True)`` without ``ServiceName``:
  every service's credentials (API keys, CodeCommit, Keyspaces, CloudWatch and
  future services) in one listing (paged by hand: botocore has no paginator);
* the IAM credential report — access keys with last use, console passwords,
  MFA, signing certificates; its generation time goes into the snapshot (AWS
  reuses a report up to 4 hours old: docs/aws-facts.md "Credential report");
* ``GetPolicy`` + ``GetPolicyVersion`` for each *distinct* AWS managed policy
  the key holders use.

Per-user calls happen only where an account-wide call is denied or unavailable
(and then only for the users that need them; without authorization details,
``ListEntitiesForPolicy`` finds who holds any of a surface's managed policies),
or for key holders with ``fresh=True`` (``--verify-credentials``: access keys,
password, MFA, SSH public keys and signing certificates, read live). Users are
built, and key holders' policies
requested, page by page while later pages are still on their way. Every
failure is recorded as a :class:`LookupFailure`; the affected fields stay
``None`` (unknown), never empty.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import unescape

import botocore.exceptions

from phantomkeys.aws.session import LOOKUP_ERRORS as _AWS_ERRORS
from phantomkeys.aws.session import AwsContext, error_code, error_message
from phantomkeys.core.model import (
    AccessKey,
    AccountSnapshot,
    Group,
    IamUser,
    InlinePolicy,
    LookupFailure,
    ManagedPolicy,
    ScpLevel,
    ServiceCredential,
)
from phantomkeys.core.timeparse import parse_iso_or_none
from phantomkeys.surfaces import SURFACES, Surface, is_api_key_service

Progress = Callable[[str], None]
#: Authorization details: raw users, groups and customer managed policies.
_Details = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


class PagingError(RuntimeError):
    """The endpoint returned a truncated page without a usable marker."""


LOOKUP_ERRORS: tuple[type[BaseException], ...] = (*_AWS_ERRORS, PagingError)
_REPORT_ERRORS: tuple[type[BaseException], ...] = (*LOOKUP_ERRORS, TimeoutError)
_LISTING_ERRORS: tuple[type[BaseException], ...] = (
    *LOOKUP_ERRORS,
    botocore.exceptions.ParamValidationError,
)

#: Error codes that mean "try again later", not "you may not" or "not supported".
_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceFailure",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "EndpointConnectionError",
    }
)

#: Items per page of the account-wide listings (IAM's maximum).
PAGE_SIZE = 1000

#: How long to wait for AWS to finish generating a credential report.
REPORT_TIMEOUT_S = 120.0


def _noop(_: str) -> None:
    return None


@dataclass
class _Collector:
    ctx: AwsContext
    surfaces: Sequence[Surface]
    fresh: bool
    max_workers: int
    progress: Progress
    now: datetime | None = None
    failures: list[LookupFailure] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    all_users_unavailable: bool = False

    @property
    def iam(self) -> Any:
        return self.ctx.client("iam")

    def fail(self, operation: str, exc: BaseException, user: str | None = None) -> None:
        self.failures.append(
            LookupFailure(
                operation=operation,
                error_code=error_code(exc),
                message=error_message(exc)[:300],
                user=user,
            )
        )

    # ---------------------------------------------------------- users/policies

    def get_authorization_details(
        self,
        kinds: Sequence[str] = ("User", "Group", "LocalManagedPolicy"),
        on_users: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> _Details | None:
        """Users, groups and customer managed policies (the ``kinds`` asked for).

        ``on_users`` sees each page's users as soon as the page is parsed.
        """
        users: list[dict[str, Any]] = []
        groups: list[dict[str, Any]] = []
        policies: list[dict[str, Any]] = []
        try:
            for page in _prefetched_pages(
                self.iam,
                "get_account_authorization_details",
                Filter=list(kinds),
                MaxItems=PAGE_SIZE,
            ):
                page_users = page.get("UserDetailList", ())
                users.extend(page_users)
                groups.extend(page.get("GroupDetailList", ()))
                policies.extend(page.get("Policies", ()))
                if page_users:
                    if on_users is not None:
                        on_users(list(page_users))
                    self.progress(f"authorization details: {len(users)} users")
        except LOOKUP_ERRORS as exc:
            self.fail("iam:GetAccountAuthorizationDetails", exc)
            return None
        if "User" in kinds:
            self.sources["users"] = "GetAccountAuthorizationDetails"
        return users, groups, policies

    def get_users_fallback(self) -> list[dict[str, Any]] | None:
        """``ListUsers`` when authorization details are denied: names only."""
        users: list[dict[str, Any]] = []
        try:
            for page in _pages(self.iam.list_users, MaxItems=PAGE_SIZE):
                users.extend(page.get("Users", ()))
        except LOOKUP_ERRORS as exc:
            self.fail("iam:ListUsers", exc)
            return None
        self.sources["users"] = "ListUsers (authorization details unavailable)"
        return users

    def get_surface_policy_holders(self, partition: str) -> set[str] | None:
        """Users a surface's managed policy is attached to, directly or through a
        group (``ListEntitiesForPolicy``, ``GetGroup``): the key holders without a
        key, when authorization details are unavailable. None if a lookup failed."""
        iam = self.iam
        users: set[str] = set()
        try:
            for surface in self.surfaces:
                # Every variant of the surface's policy (Claude Platform has two).
                for arn in surface.managed_policy_arns(partition):
                    try:
                        for page in _pages(
                            iam.list_entities_for_policy, PolicyArn=arn, MaxItems=PAGE_SIZE
                        ):
                            users.update(u["UserName"] for u in page.get("PolicyUsers", ()))
                            for g in page.get("PolicyGroups", ()):
                                for members in _pages(
                                    iam.get_group, GroupName=g["GroupName"], MaxItems=PAGE_SIZE
                                ):
                                    users.update(u["UserName"] for u in members.get("Users", ()))
                    except botocore.exceptions.ClientError as exc:
                        # A policy that does not exist (in this partition) has no holders.
                        if error_code(exc) != "NoSuchEntity":
                            raise
        except LOOKUP_ERRORS as exc:
            self.fail("iam:ListEntitiesForPolicy", exc)
            return None
        return users

    def get_user_policies(self, name: str) -> dict[str, Any] | None:
        """Per-user policy lookups, only for key holders when GAAD was unavailable."""
        iam = self.iam
        try:
            detail: dict[str, Any] = dict(iam.get_user(UserName=name)["User"])
            attached = [
                p
                for page in _pages(iam.list_attached_user_policies, UserName=name)
                for p in page.get("AttachedPolicies", ())
            ]
            inline = []
            for page in _pages(iam.list_user_policies, UserName=name):
                for pname in page.get("PolicyNames", ()):
                    doc = iam.get_user_policy(UserName=name, PolicyName=pname)["PolicyDocument"]
                    inline.append({"PolicyName": pname, "PolicyDocument": doc})
            groups = [
                g["GroupName"]
                for page in _pages(iam.list_groups_for_user, UserName=name)
                for g in page.get("Groups", ())
            ]
        except LOOKUP_ERRORS as exc:
            self.fail("iam:GetUser/ListUserPolicies", exc, user=name)
            return None
        detail.update(AttachedManagedPolicies=attached, UserPolicyList=inline, GroupList=groups)
        return detail

    def get_group_policies(self, name: str) -> Group | None:
        iam = self.iam
        try:
            arn = iam.get_group(GroupName=name, MaxItems=1)["Group"]["Arn"]
            attached = tuple(
                p["PolicyArn"]
                for page in _pages(iam.list_attached_group_policies, GroupName=name)
                for p in page.get("AttachedPolicies", ())
            )
            inline = []
            for page in _pages(iam.list_group_policies, GroupName=name):
                for pname in page.get("PolicyNames", ()):
                    doc = iam.get_group_policy(GroupName=name, PolicyName=pname)["PolicyDocument"]
                    inline.append(InlinePolicy(pname, _document(doc)))
        except LOOKUP_ERRORS as exc:
            self.fail("iam:ListGroupPolicies", exc, user=f"group:{name}")
            return None
        return Group(
            name=name, arn=arn, inline_policies=tuple(inline), attached_policy_arns=attached
        )

    def _read_managed_policy(self, arn: str) -> ManagedPolicy:
        meta = self.iam.get_policy(PolicyArn=arn)["Policy"]
        version = meta["DefaultVersionId"]
        doc = self.iam.get_policy_version(PolicyArn=arn, VersionId=version)
        return ManagedPolicy(
            arn=arn,
            name=meta["PolicyName"],
            version_id=version,
            document=_document(doc["PolicyVersion"]["Document"]),
        )

    def get_managed_policy(self, arn: str) -> ManagedPolicy:
        try:
            return self._read_managed_policy(arn)
        except LOOKUP_ERRORS as exc:
            self.fail("iam:GetPolicyVersion", exc, user=f"policy:{arn}")
            return ManagedPolicy(arn=arn, name=arn.rsplit("/", 1)[-1], document=None)

    def try_managed_policy(self, arn: str) -> ManagedPolicy:
        """A read ahead of knowing whether the policy is needed: a failure is not
        recorded (a needed policy is then read again, and that failure counts)."""
        try:
            return self._read_managed_policy(arn)
        except LOOKUP_ERRORS:
            return ManagedPolicy(arn=arn, name=arn.rsplit("/", 1)[-1], document=None)

    # ------------------------------------------------------------ credentials

    def get_service_credentials(self) -> dict[str, list[ServiceCredential]] | None:
        """Every service's credentials in the account, by user; None if the listing failed.

        Without ``ServiceName`` the listing returns all services' credentials
        (botocore model, ListServiceSpecificCredentialsRequest.ServiceName):
        one listing, whatever the number of surfaces or services.
        """
        by_user: dict[str, list[ServiceCredential]] = {}
        try:
            for page in _pages(
                self.iam.list_service_specific_credentials, AllUsers=True, MaxItems=PAGE_SIZE
            ):
                for c in page.get("ServiceSpecificCredentials", ()):
                    cred = _credential(c)
                    by_user.setdefault(cred.username, []).append(cred)
        except _LISTING_ERRORS as exc:
            self.fail("iam:ListServiceSpecificCredentials(AllUsers)", exc)
            self.all_users_unavailable = error_code(exc) not in _TRANSIENT
            return None
        self.sources["service_credentials"] = "ListServiceSpecificCredentials(AllUsers=True)"
        return by_user

    def get_user_service_credentials(self, name: str) -> list[ServiceCredential] | None:
        """Every service's credentials of one user (cleanup and the per-user fallback)."""
        try:
            listed = self.iam.list_service_specific_credentials(UserName=name)
        except LOOKUP_ERRORS as exc:
            self.fail("iam:ListServiceSpecificCredentials", exc, user=name)
            return None
        return [_credential(c) for c in listed.get("ServiceSpecificCredentials", ())]

    def get_credential_report(self) -> tuple[dict[str, dict[str, str]], datetime] | None:
        iam = self.iam
        try:
            deadline = time.monotonic() + REPORT_TIMEOUT_S
            delay = 0.5
            while iam.generate_credential_report()["State"] != "COMPLETE":
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"credential report not ready after {REPORT_TIMEOUT_S:.0f} s"
                    )
                self.progress("waiting for the IAM credential report")
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
            report = iam.get_credential_report()
        except _REPORT_ERRORS as exc:
            self.fail("iam:GetCredentialReport", exc)
            return None
        content = report["Content"]
        text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
        rows = {row["user"]: row for row in csv.DictReader(io.StringIO(text))}
        generated = report.get("GeneratedTime")
        if isinstance(generated, datetime):
            generated = generated if generated.tzinfo else generated.replace(tzinfo=UTC)
        else:
            generated = datetime.now(UTC)  # pragma: no cover - AWS always sends it
        self.sources["access_keys"] = "credential report"
        self.sources["console_access"] = "credential report"
        return rows, generated

    def get_login_facts(self, name: str) -> dict[str, Any] | None:
        """Per-user access keys, password, MFA, SSH public keys and signing
        certificates (``--verify-credentials`` or no credential report)."""
        iam = self.iam
        try:
            keys = []
            for page in _pages(iam.list_access_keys, UserName=name):
                for k in page.get("AccessKeyMetadata", ()):
                    keys.append(
                        AccessKey(
                            id=k["AccessKeyId"],
                            status=k["Status"],
                            created=_aware(k.get("CreateDate")),
                        )
                    )
            try:
                iam.get_login_profile(UserName=name)
                password = True
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
                password = False
            mfa = tuple(
                d["SerialNumber"]
                for page in _pages(iam.list_mfa_devices, UserName=name)
                for d in page.get("MFADevices", ())
            )
            ssh = sum(
                1
                for page in _pages(iam.list_ssh_public_keys, UserName=name)
                for k in page.get("SSHPublicKeys", ())
                if k.get("Status") == "Active"
            )
            certs = sum(
                1
                for page in _pages(iam.list_signing_certificates, UserName=name)
                for c in page.get("Certificates", ())
                if c.get("Status") == "Active"
            )
        except LOOKUP_ERRORS as exc:
            self.fail(
                "iam:ListAccessKeys/GetLoginProfile/ListMFADevices/ListSSHPublicKeys/"
                "ListSigningCertificates",
                exc,
                user=name,
            )
            return None
        return {
            "access_keys": tuple(keys),
            "password_enabled": password,
            "mfa_devices": mfa,
            "ssh_public_keys": ssh,
            "signing_certificates": certs,
            "credentials_verified_at": self.now or datetime.now(UTC),
        }

    def recovered(self, operation: str, fallback: str) -> None:
        """Mark account-wide failures of ``operation`` as covered by ``fallback``."""
        self.failures = [
            replace(f, fallback=fallback) if f.operation == operation and f.user is None else f
            for f in self.failures
        ]

    def run_per_user(self, names: Iterable[str], fn: Callable[[str], Any]) -> dict[str, Any]:
        names = sorted(set(names))
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
            return dict(zip(names, pool.map(fn, names), strict=True))


@contextmanager
def _pool_or(executor: Executor | None, size: int) -> Iterator[Executor]:
    """``executor`` when given, else a pool of ``size`` threads for the block."""
    if executor is not None:
        yield executor
        return
    with ThreadPoolExecutor(max_workers=size) as own:
        yield own


def _is_aws_managed(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "iam" and parts[4] == "aws"


class AwsManagedPolicies:
    """AWS managed policies read once per scan, not once per account.

    An AWS managed policy (``arn:<partition>:iam::aws:policy/...``) has the same
    default version and document in every account of a partition. The first
    account to need one reads it; accounts needing it meanwhile wait for that
    read. A read that failed is not shared: each account then tries itself (and
    records its own failure).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[str, Future[ManagedPolicy]] = {}

    def get(self, arn: str, read: Callable[[str], ManagedPolicy]) -> ManagedPolicy:
        with self._lock:
            pending = self._reads.get(arn)
            if pending is None:
                mine: Future[ManagedPolicy] = Future()
                self._reads[arn] = mine
        if pending is not None:
            try:
                shared = pending.result()
            except Exception:  # the first reader's own problem: read for this account
                return read(arn)
            return shared if shared.document is not None else read(arn)
        try:
            policy = read(arn)
        except BaseException as exc:
            with self._lock:
                self._reads.pop(arn, None)
            mine.set_exception(exc)
            raise
        if policy.document is None:
            with self._lock:
                self._reads.pop(arn, None)
        mine.set_result(policy)
        return policy


def _policy_arns(u: dict[str, Any], groups: Mapping[str, Group]) -> Iterator[str]:
    """The managed policies a user's authorization details depend on."""
    for p in u.get("AttachedManagedPolicies", ()):
        yield p["PolicyArn"]
    if u.get("PermissionsBoundary"):
        yield u["PermissionsBoundary"]["PermissionsBoundaryArn"]
    for g in u.get("GroupList", ()):
        if g in groups:
            yield from groups[g].attached_policy_arns


def _succeeded(f: Future[Any]) -> bool:
    return f.done() and not f.cancelled() and f.exception() is None


@dataclass(eq=False)
class _EarlyUsers:
    """Users built, and their policies requested, while later pages still arrive.

    Only on the common path: not ``--verify-credentials``, and the groups and customer
    policies, the API keys (account-wide) and the credential report all read.
    As soon as the groups and policies are in, the managed policies each page's
    key holders use are requested, not after the last page (holders by name or
    by policy at once, holders by key once the API keys are listed). Once the
    credential report is in too, each page becomes the :class:`IamUser` objects
    the end of the collection would build from the same facts, and ``prepare``
    receives, as a partial snapshot, the key holders whose policies are all read.
    """

    creds_future: Future[dict[str, list[ServiceCredential]] | None]
    report: Future[tuple[dict[str, dict[str, str]], datetime] | None]
    rest: Future[_Details | None]
    reads: dict[str, Future[ManagedPolicy]]
    request: Callable[[str], Future[ManagedPolicy]]
    surfaces: Sequence[Surface]
    prepare: Callable[[AccountSnapshot], None] | None
    now: datetime
    scps: tuple[ScpLevel, ...] | None
    users: dict[str, IamUser] = field(default_factory=dict)
    #: Users seen, with their policies if they are key holders; "settled" once
    #: the API keys are known (a user may hold a key and nothing else).
    seen: list[tuple[dict[str, Any], tuple[str, ...] | None]] = field(default_factory=list)
    unsettled: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[tuple[IamUser, tuple[str, ...]]] = field(default_factory=list)
    groups: dict[str, Group] | None = None
    local: dict[str, ManagedPolicy] = field(default_factory=dict)
    creds: dict[str, list[ServiceCredential]] | None = None
    rows: dict[str, dict[str, str]] | None = None
    report_time: datetime | None = None
    off: bool = False

    def add(self, raw_users: list[dict[str, Any]]) -> None:
        self.unsettled.extend(raw_users)

    def step(self) -> None:
        if self.off or not self._policies_in():
            return
        assert self.groups is not None
        known = self._creds_in()
        if self.off:
            return
        holders = self.creds or {}
        unsettled = []
        for u in self.unsettled:
            if _is_candidate(u, holders, self.groups, self.surfaces):
                needs = tuple(_policy_arns(u, self.groups))
                for arn in needs:
                    if arn not in self.local and arn not in self.reads:
                        self.reads[arn] = self.request(arn)
                self.seen.append((u, needs))
            elif known:
                self.seen.append((u, None))
            else:
                unsettled.append(u)
        self.unsettled = unsettled
        if not known or not self._report_in():
            return
        assert self.creds is not None and self.rows is not None
        for u, arns in self.seen:
            name = u["UserName"]
            parts = str(u.get("Arn") or "").split(":")
            if len(parts) < 6:  # left to the end of the collection, which knows the account
                continue
            fields: dict[str, Any] = {"service_credentials": tuple(self.creds.get(name, ()))}
            fields.update(_report_fields(self.rows.get(name)))
            # The user's ARN names the partition and account: no need to wait for
            # the caller's identity (which only fills in a missing ARN).
            user = _user(u, parts[1], parts[4], fields)
            self.users[name] = user
            if arns is not None and self.prepare is not None:
                self.waiting.append((user, arns))
        self.seen = []
        if self.waiting:
            self._prepare()

    def _policies_in(self) -> bool:
        """The groups and customer managed policies are in (parsed once)."""
        if self.groups is not None:
            return True
        rest = self._result(self.rest)
        if rest is None:
            return False
        self.groups = {g["GroupName"]: _group(g) for g in rest[1]}
        self.local = {mp.arn: mp for mp in map(_managed_policy, rest[2])}
        return True

    def _creds_in(self) -> bool:
        if self.creds is None:
            self.creds = self._result(self.creds_future)
        return self.creds is not None

    def _report_in(self) -> bool:
        if self.rows is None:
            report = self._result(self.report)
            self.rows = report[0] if report is not None else None
            self.report_time = report[1] if report is not None else None
        return self.rows is not None

    def _result(self, f: Future[Any]) -> Any:
        """A finished read's result; None while it runs. A failed read (None, or
        an exception) turns the early work off: the end of the collection takes
        its own path then."""
        if not f.done():
            return None
        result = f.result() if _succeeded(f) else None
        if result is None:
            self.off = True
        return result

    def _prepare(self) -> None:
        assert self.prepare is not None and self.groups is not None
        managed = dict(self.local)
        for arn, read in list(self.reads.items()):
            if _succeeded(read) and read.result().document is not None:
                managed.setdefault(arn, read.result())
        ready, waiting = [], []
        for user, arns in self.waiting:
            if all(a in managed or self.reads[a].done() for a in arns):
                ready.append(user)
            else:
                waiting.append((user, arns))
        self.waiting = waiting
        if ready:
            parts = ready[0].arn.split(":")
            self.prepare(
                AccountSnapshot(
                    account_id=parts[4],
                    partition=parts[1],
                    collected_at=self.now,
                    users=tuple(ready),
                    groups=self.groups,
                    managed_policies=managed,
                    credential_report_generated_at=self.report_time,
                    scps=self.scps,
                )
            )


def collect_account(
    ctx: AwsContext,
    *,
    surfaces: Sequence[Surface] = SURFACES,
    fresh: bool = False,
    max_workers: int = 8,
    progress: Progress = _noop,
    scps: tuple[ScpLevel, ...] | None = None,
    now: datetime,
    identity: Mapping[str, str] | None = None,
    aws_policies: AwsManagedPolicies | None = None,
    executor: Executor | None = None,
    while_waiting: Callable[[], None] | None = None,
    prepare: Callable[[AccountSnapshot], None] | None = None,
) -> AccountSnapshot:
    """Read one account into a snapshot. Never raises for a failed read: records it.

    ``identity``: the caller's ``Account`` and ``Arn`` when already known (an
    assumed role's AssumeRole answer names both), saving GetCallerIdentity.
    ``aws_policies``: AWS managed policies already read in this scan (an
    Organization scan shares one across its accounts). ``executor``: where the
    side-by-side reads run (an Organization scan shares one, so accounts do not
    start threads of their own); none of them waits for a queued one.
    ``while_waiting`` runs once the account-wide requests are on their way (at
    the first answer): CPU work placed there fills the wait for the long ones
    instead of delaying the requests. ``prepare`` is called, on the
    calling thread, with partial snapshots while the users' pages arrive: each
    holds key holders whose facts and policies are all read (see
    :class:`_EarlyUsers`), for work that can start before the last page.
    """
    c = _Collector(
        ctx=ctx,
        surfaces=surfaces,
        fresh=fresh,
        max_workers=max_workers,
        progress=progress,
        now=now,
    )
    if ctx.on_throttle is None:
        ctx.on_throttle = throttle_reporter(progress)

    def read_policy(arn: str, read: Callable[[str], ManagedPolicy]) -> ManagedPolicy:
        if aws_policies is not None and _is_aws_managed(arn):
            return aws_policies.get(arn, read)
        return read(arn)

    # The account-wide reads are independent: run them side by side, with the
    # caller's identity (the credential report may need a few seconds to
    # generate). Users are read apart from groups and customer policies, so that
    # the policies are in hand while the users' pages still arrive. The surfaces'
    # managed policies, which every key holder is compared with, are read ahead
    # too, for the partition the region implies.
    progress("reading users, groups, policies, API keys and the credential report")
    ahead_partition = ctx.partition
    pages: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
    early: _EarlyUsers | None = None
    with _pool_or(executor, 5 + len(surfaces)) as pool:
        # The longest reads first; the STS client is built while IAM answers.
        users_future = pool.submit(c.get_authorization_details, ("User",), pages.put)
        rest_future = pool.submit(c.get_authorization_details, ("Group", "LocalManagedPolicy"))
        report_future = pool.submit(c.get_credential_report)
        creds_future = pool.submit(c.get_service_credentials)
        reads: dict[str, Future[ManagedPolicy]] = {
            arn: pool.submit(read_policy, arn, c.try_managed_policy)
            for arn in {a for s in surfaces for a in s.managed_policy_arns(ahead_partition)}
        }
        ident_future = (
            pool.submit(lambda: ctx.client("sts").get_caller_identity())
            if identity is None
            else None
        )
        # Every request is out once the first answer is in: CPU work placed
        # here now fills the wait instead of delaying the requests.
        first: list[Future[Any]] = [users_future, rest_future, report_future, creds_future]
        wait([*first, *reads.values()], return_when=FIRST_COMPLETED)
        if while_waiting is not None:
            while_waiting()
        if not fresh:

            def wake(_: Future[Any]) -> None:
                pages.put(None)

            def request(arn: str) -> Future[ManagedPolicy]:
                read = pool.submit(read_policy, arn, c.try_managed_policy)
                read.add_done_callback(wake)
                return read

            early = _EarlyUsers(
                creds_future=creds_future,
                report=report_future,
                rest=rest_future,
                reads=reads,
                request=request,
                surfaces=surfaces,
                prepare=prepare,
                now=now,
                scps=scps,
            )
            watched: list[Future[Any]] = [users_future, rest_future, report_future, creds_future]
            for f in (*watched, *reads.values()):
                f.add_done_callback(wake)
            while not (users_future.done() and pages.empty()):
                page = pages.get()
                if page is not None:
                    early.add(page)
                early.step()
        creds = creds_future.result()
        if ident_future is not None:
            identity = ident_future.result()
        users_part = users_future.result()
        rest = rest_future.result()
        details = None if users_part is None or rest is None else (users_part[0], *rest[1:])
        report = report_future.result()
        read_ahead = {arn: f.result() for arn, f in list(reads.items())}
    assert identity is not None
    account_id, caller_arn = identity["Account"], identity["Arn"]
    partition = caller_arn.split(":")[1]
    raw_users: list[dict[str, Any]]
    groups: dict[str, Group] = {}
    managed: dict[str, ManagedPolicy] = {}
    if details is not None:
        raw_users, raw_groups, raw_policies = details
        if early is not None and early.groups is not None:  # parsed while the users arrived
            groups, managed = dict(early.groups), dict(early.local)
        else:
            groups = {g["GroupName"]: _group(g) for g in raw_groups}
            managed = {mp.arn: mp for mp in map(_managed_policy, raw_policies)}
    else:
        raw_users = c.get_users_fallback() or []

    if creds is None and c.all_users_unavailable:
        # Denied or unsupported account-wide: per user, for every user. (After
        # throttling that outlasted the retries, per-user calls would only be
        # throttled too: the identities stay unknown instead.)
        names = [u["UserName"] for u in raw_users]
        per_user = c.run_per_user(names, c.get_user_service_credentials)
        c.sources["service_credentials"] = (
            "ListServiceSpecificCredentials per user (AllUsers unavailable)"
        )
        c.recovered("iam:ListServiceSpecificCredentials(AllUsers)", "per-user listing")
        creds = {}
        for name, listed in per_user.items():
            if listed is not None:
                creds[name] = listed  # every service's, as the AllUsers listing has
    listing_failed = creds is None
    if creds is None:
        creds = {}
    cred_failed_users = {
        f.user for f in c.failures if f.operation == "iam:ListServiceSpecificCredentials"
    }

    # Users from the credential listing that the user listing did not return
    # (e.g. GAAD and ListUsers both denied) are still reported.
    known = {u["UserName"] for u in raw_users}
    for name in sorted(set(creds) - known):
        raw_users.append(
            {"UserName": name, "Arn": f"arn:{partition}:iam::{account_id}:user/{name}"}
        )

    candidates = {u["UserName"] for u in raw_users if _is_candidate(u, creds, groups, surfaces)}
    if details is None:
        # Holders of a surface policy without a key are only found through the policy.
        holders = c.get_surface_policy_holders(partition)
        candidates |= (holders or set()) & {u["UserName"] for u in raw_users}
        progress(f"reading policies of {len(candidates)} key holders one by one")
        fetched = c.run_per_user(candidates, c.get_user_policies)
        raw_users = [fetched.get(u["UserName"]) or u for u in raw_users]
        needed_groups = {
            g for u in raw_users if u["UserName"] in candidates for g in u.get("GroupList", ())
        }
        for name, grp in c.run_per_user(needed_groups, c.get_group_policies).items():
            if grp is not None:
                groups[name] = grp
        c.sources["policies"] = "per user (authorization details unavailable)"
        if raw_users:
            c.recovered(
                "iam:GetAccountAuthorizationDetails",
                "ListUsers, ListEntitiesForPolicy and per-user policies",
            )
        candidates = {u["UserName"] for u in raw_users if _is_candidate(u, creds, groups, surfaces)}

    login: dict[str, Any] = {}
    if report is None or fresh:
        progress(
            "verifying access keys, passwords, MFA, SSH keys and signing certificates of "
            f"{len(candidates)} key holders"
        )
        login = c.run_per_user(candidates, c.get_login_facts)
        c.sources["access_keys"] = (
            "per user (--verify-credentials)"
            if fresh and report is not None
            else "per user (credential report unavailable)"
        )
        c.sources["console_access"] = c.sources["access_keys"]
        c.recovered("iam:GetCredentialReport", "per-user access keys, password and MFA")

    # AWS managed policies (and any customer policy GAAD did not return) that the
    # candidates depend on: fetched once each, not once per user.
    needed: set[str] = set()
    for u in raw_users:
        if u["UserName"] in candidates:
            needed.update(_policy_arns(u, groups))
    if candidates:  # the reference for "beyond the managed policy", attached or not
        needed.update(a for s in surfaces for a in s.managed_policy_arns(partition))
    for arn, mp in read_ahead.items():
        if arn in needed and arn not in managed and mp.document is not None:
            managed[arn] = mp
    missing = sorted(needed - set(managed))
    if missing:
        progress(f"reading {len(missing)} managed policies")
        with _pool_or(executor, max(1, min(max_workers, 8))) as pool:
            for mp in pool.map(lambda arn: read_policy(arn, c.get_managed_policy), missing):
                managed[mp.arn] = mp

    # Users built while the pages arrived are exactly what this loop would build.
    built = early.users if early is not None and details is not None and report else {}
    users = []
    for u in raw_users:
        name = u["UserName"]
        if name in built:
            users.append(built[name])
            continue
        fields: dict[str, Any] = {
            "service_credentials": None
            if listing_failed or name in cred_failed_users
            else tuple(creds.get(name, ()))
        }
        if report is not None:
            fields.update(_report_fields(report[0].get(name)))
        facts = login.get(name)
        if facts is not None:
            fields.update(facts)
        elif name in login:  # per-user lookup failed: unknown, not "none"
            fields.update(
                access_keys=None,
                password_enabled=None,
                mfa_devices=None,
                ssh_public_keys=None,
                signing_certificates=None,
            )
        users.append(_user(u, partition, account_id, fields))

    return AccountSnapshot(
        account_id=account_id,
        partition=partition,
        collected_at=now,
        caller_arn=caller_arn,
        users=tuple(users),
        groups=groups,
        managed_policies=managed,
        failures=tuple(c.failures),
        sources=c.sources,
        credential_report_generated_at=report[1] if report else None,
        scps=scps,
        api_calls=ctx.counter.snapshot()["by_operation"],
    )


def throttle_reporter(progress: Progress, every_s: float = 1.0) -> Callable[[str], None]:
    """A :attr:`AwsContext.on_throttle` that tells ``progress`` AWS is throttling
    (at most once per ``every_s``, with the count so far)."""
    lock = threading.Lock()
    state = {"count": 0, "last": 0.0}

    def on_throttle(operation: str) -> None:
        with lock:
            state["count"] += 1
            now = time.monotonic()
            if now - state["last"] < every_s:
                return
            state["last"] = now
            count = int(state["count"])
        progress(f"waiting on AWS throttling: {operation}, {count} throttled so far; retrying")

    return on_throttle


# ------------------------------------------------------------------ transforms


def _is_candidate(
    u: dict[str, Any],
    creds: dict[str, list[ServiceCredential]],
    groups: dict[str, Group],
    surfaces: Sequence[Surface],
) -> bool:
    """Users the scan reports: API-key holders, phantom names, holders of a surface policy.

    Another service's credential alone (CodeCommit, ...) does not make a user one.
    """
    name = u["UserName"]
    if any(is_api_key_service(c.service) for c in creds.get(name, ())):
        return True
    if any(s.is_phantom_name(name) for s in surfaces):
        return True
    policy_names = {p["PolicyArn"].rsplit("/", 1)[-1] for p in u.get("AttachedManagedPolicies", ())}
    for g in u.get("GroupList", ()):
        if g in groups:
            policy_names.update(a.rsplit("/", 1)[-1] for a in groups[g].attached_policy_arns)
    return any(not policy_names.isdisjoint(s.managed_policy_names) for s in surfaces)


def _document(doc: Any) -> dict[str, Any]:
    """Policy documents arrive as dicts (botocore decodes) or URL-encoded JSON text."""
    if isinstance(doc, dict):
        return doc
    text = str(doc)
    if text.lstrip().startswith("%7B") or "%22" in text:
        text = unquote(text)
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("policy document is not a JSON object")
    return parsed


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _credential(c: dict[str, Any]) -> ServiceCredential:
    return ServiceCredential(
        id=c["ServiceSpecificCredentialId"],
        username=c["UserName"],
        service=c["ServiceName"],
        status=c.get("Status", "Active"),
        created=_aware(c.get("CreateDate")),
        expires=_aware(c.get("ExpirationDate")),
        alias=c.get("ServiceCredentialAlias"),
    )


def _group(g: dict[str, Any]) -> Group:
    return Group(
        name=g["GroupName"],
        arn=g["Arn"],
        inline_policies=tuple(
            InlinePolicy(p["PolicyName"], _document(p["PolicyDocument"]))
            for p in g.get("GroupPolicyList", ())
        ),
        attached_policy_arns=tuple(p["PolicyArn"] for p in g.get("AttachedManagedPolicies", ())),
    )


def _managed_policy(p: dict[str, Any]) -> ManagedPolicy:
    default = next((v for v in p.get("PolicyVersionList", ()) if v.get("IsDefaultVersion")), None)
    return ManagedPolicy(
        arn=p["Arn"],
        name=p.get("PolicyName") or p["Arn"].rsplit("/", 1)[-1],
        version_id=p.get("DefaultVersionId"),
        document=_document(default["Document"]) if default else None,
    )


def _user(
    u: dict[str, Any], partition: str, account_id: str, fields: dict[str, Any] | None = None
) -> IamUser:
    """One user from its authorization details, plus ``fields`` read elsewhere."""
    boundary = u.get("PermissionsBoundary") or {}
    return IamUser(
        **(fields or {}),
        name=u["UserName"],
        arn=u.get("Arn") or f"arn:{partition}:iam::{account_id}:user/{u['UserName']}",
        user_id=u.get("UserId", ""),
        path=u.get("Path", "/"),
        created=_aware(u.get("CreateDate")),
        tags={t["Key"]: t["Value"] for t in u.get("Tags", ())},
        inline_policies=tuple(
            InlinePolicy(p["PolicyName"], _document(p["PolicyDocument"]))
            for p in u.get("UserPolicyList", ())
        ),
        attached_policy_arns=tuple(p["PolicyArn"] for p in u.get("AttachedManagedPolicies", ())),
        group_names=tuple(u.get("GroupList", ())),
        boundary_arn=boundary.get("PermissionsBoundaryArn"),
    )


#: Credential-report cell values that mean "nothing here".
_REPORT_NONE = frozenset({"", "N/A", "no_information", "not_supported"})


def _report_time(value: str | None) -> datetime | None:
    if not value or value in _REPORT_NONE:
        return None
    return parse_iso_or_none(value)


def _report_fields(row: dict[str, str] | None) -> dict[str, Any]:
    """Credential-report facts. Access key ids are not in the report: ids stay blank."""
    if row is None:  # user created after the report: unknown, not "none"
        return {"access_keys": None, "password_enabled": None, "mfa_active": None}
    keys = []
    for n in (1, 2):
        active = row.get(f"access_key_{n}_active", "false").lower() == "true"
        # ``access_key_N_last_rotated`` is N/A for a key that is not active
        # (docs/aws-facts.md "Credential report"): an inactive key then shows
        # only through its last use, and an active one is kept without a date.
        rotated = _report_time(row.get(f"access_key_{n}_last_rotated"))
        used = _report_time(row.get(f"access_key_{n}_last_used_date"))
        service = row.get(f"access_key_{n}_last_used_service") or ""
        if active or rotated or used:
            keys.append(
                AccessKey(
                    id="",
                    status="Active" if active else "Inactive",
                    created=rotated,
                    last_used=used,
                    last_used_service=None if service in _REPORT_NONE else service,
                )
            )
    password = row.get("password_enabled", "false").lower() == "true"
    certs = sum(1 for n in (1, 2) if row.get(f"cert_{n}_active", "false").lower() == "true")
    return {
        "access_keys": tuple(keys),
        "password_enabled": password,
        "password_last_used": _report_time(row.get("password_last_used")),
        "mfa_active": row.get("mfa_active", "false").lower() == "true",
        "signing_certificates": certs,
    }


# ------------------------------------------------------------------ paging


def _pages(method: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Follow ``Marker``/``IsTruncated`` (IAM's paging) for any list call."""
    marker: str | None = None
    seen: set[str] = set()
    while True:
        page = method(**kwargs, **({"Marker": marker} if marker else {}))
        yield page
        if not page.get("IsTruncated"):
            return
        marker = page.get("Marker")
        if not marker or marker in seen:  # a broken endpoint must not loop forever
            raise PagingError(
                f"{getattr(method, '__name__', 'list')}: paging marker missing or repeated"
            )
        seen.add(marker)


_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>")
_MARKER = re.compile(rb"<Marker>([^<]*)</Marker>")
_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}


def _prefetched_pages(client: Any, method_name: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """:func:`_pages` for a large IAM listing, requesting page k+1 while page k is parsed.

    The marker is read from the raw response as soon as it arrives (before
    botocore parses it), and the next request goes out on a helper thread; the
    parsed page must then name the same marker, otherwise the prefetched page
    is dropped and the next page is requested as usual. The number of calls is
    the same as :func:`_pages`; only the waiting overlaps.
    """
    method = getattr(client, method_name)
    ours = threading.local()
    prefetched: dict[str, Future[dict[str, Any]]] = {}
    lock = threading.Lock()
    pools: list[ThreadPoolExecutor] = []  # made on the first truncated page only

    def fetch(marker: str | None) -> dict[str, Any]:
        ours.active = True
        try:
            return dict(method(**kwargs, **({"Marker": marker} if marker else {})))
        finally:
            ours.active = False

    def on_response(response_dict: dict[str, Any], **_: Any) -> None:
        if not getattr(ours, "active", False):
            return  # someone else's call on the same client
        body = response_dict.get("body")
        if not isinstance(body, bytes) or not _TRUNCATED.search(body):
            return
        found = _MARKER.findall(body)
        if len(found) != 1:
            return  # not the shape we expect: page normally
        marker = unescape(found[0].decode("utf-8", "replace"), _XML_ENTITIES)
        with lock:
            if marker and marker not in prefetched:
                if not pools:
                    pools.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="pages"))
                prefetched[marker] = pools[0].submit(fetch, marker)

    event = f"before-parse.{client.meta.service_model.service_id.hyphenize()}.*"
    handler_id = f"phantomkeys-prefetch-{id(prefetched)}"
    client.meta.events.register(event, on_response, unique_id=handler_id)
    try:
        marker: str | None = None
        seen: set[str] = set()
        while True:
            with lock:
                ahead = prefetched.pop(marker, None) if marker else None
            page = ahead.result() if ahead is not None else fetch(marker)
            yield page
            if not page.get("IsTruncated"):
                return
            marker = page.get("Marker")
            if not marker or marker in seen:  # a broken endpoint must not loop forever
                raise PagingError(f"{method_name}: paging marker missing or repeated")
            seen.add(marker)
    finally:
        client.meta.events.unregister(event, unique_id=handler_id)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
