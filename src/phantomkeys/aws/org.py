"""Organization fan-out: accounts, the OU tree, SCPs per node, roles, checkpoints.

* The OU tree is walked once (``ListOrganizationalUnitsForParent`` and
  ``ListAccountsForParent`` per node); SCPs are read once per node
  (``ListPoliciesForTarget``) and each distinct policy once (``DescribePolicy``).
* Member accounts are read through an assumed role whose credentials refresh
  themselves before they expire, so long scans never die of expiry.
* One account failing marks that account ``error``/``incomplete`` with the
  reason; it never stops or corrupts the others.
* Progress is checkpointed after every account, so an interrupted scan can be
  resumed and only scans what is left.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import orjson
from botocore.credentials import RefreshableCredentials
from botocore.session import Session as BotocoreSession
from botocore.session import get_session

from phantomkeys.aws.collect import LOOKUP_ERRORS, AwsManagedPolicies, collect_account
from phantomkeys.aws.session import AwsContext, CallCounter, error_code, error_message
from phantomkeys.core.model import AccountEntry, ManagedPolicy, OrgSnapshot, ScpLevel
from phantomkeys.surfaces import Surface

SCP_TYPE = "SERVICE_CONTROL_POLICY"
_SCP_ERRORS: tuple[type[BaseException], ...] = (*LOOKUP_ERRORS, json.JSONDecodeError)
ROLE_SESSION_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class OrgAccount:
    account_id: str
    name: str
    status: str  # ACTIVE | SUSPENDED | PENDING_CLOSURE
    #: Node ids from the root to the account's parent: (r-xxxx, ou-a, ou-b).
    path: tuple[str, ...]
    path_names: tuple[str, ...]


@dataclass
class OrgTree:
    organization_id: str
    management_account_id: str
    root_id: str
    scp_enabled: bool
    accounts: list[OrgAccount]
    node_names: dict[str, str] = field(default_factory=dict)


def _pages(method: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, ()))
        token = page.get("NextToken")
        if not token:
            return items


def get_org_tree(ctx: AwsContext) -> OrgTree:
    org = ctx.client("organizations")
    desc = org.describe_organization()["Organization"]
    roots = org.list_roots()["Roots"]
    root = roots[0]
    scp_enabled = any(
        t["Type"] == SCP_TYPE and t["Status"] == "ENABLED" for t in root.get("PolicyTypes", ())
    )
    names = {root["Id"]: root.get("Name", "Root")}
    accounts: list[OrgAccount] = []
    # Breadth-first over the OU tree: two calls per node, not per account.
    queue: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
        (root["Id"], (root["Id"],), (names[root["Id"]],))
    ]
    while queue:
        node, path, path_names = queue.pop(0)
        for a in _pages(org.list_accounts_for_parent, "Accounts", ParentId=node):
            accounts.append(
                OrgAccount(
                    account_id=a["Id"],
                    name=a.get("Name", ""),
                    status=a.get("Status", "ACTIVE"),
                    path=path,
                    path_names=path_names,
                )
            )
        for ou in _pages(
            org.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=node
        ):
            names[ou["Id"]] = ou.get("Name", ou["Id"])
            queue.append((ou["Id"], (*path, ou["Id"]), (*path_names, names[ou["Id"]])))
    accounts.sort(key=lambda a: a.account_id)
    return OrgTree(
        organization_id=desc["Id"],
        management_account_id=desc["MasterAccountId"],
        root_id=root["Id"],
        scp_enabled=scp_enabled,
        accounts=accounts,
        node_names=names,
    )


class ScpCache:
    """SCPs attached to each node, read once per node; documents once per policy."""

    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._node: dict[str, tuple[str, ...] | BaseException] = {}
        self._doc: dict[str, ManagedPolicy | BaseException] = {}
        self._node_locks: dict[str, threading.Lock] = {}

    def _node_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._node_locks.setdefault(key, threading.Lock())

    def policies_for(self, target: str) -> tuple[str, ...]:
        with self._node_lock("n:" + target):
            if target not in self._node:
                org = self.ctx.client("organizations")
                try:
                    listed = _pages(
                        org.list_policies_for_target, "Policies", TargetId=target, Filter=SCP_TYPE
                    )
                    self._node[target] = tuple(p["Id"] for p in listed)
                except LOOKUP_ERRORS as exc:
                    self._node[target] = exc
            value = self._node[target]
        if isinstance(value, BaseException):
            raise value
        return value

    def document(self, policy_id: str) -> ManagedPolicy:
        with self._node_lock("p:" + policy_id):
            if policy_id not in self._doc:
                org = self.ctx.client("organizations")
                try:
                    p = org.describe_policy(PolicyId=policy_id)["Policy"]
                    summary = p["PolicySummary"]
                    self._doc[policy_id] = ManagedPolicy(
                        arn=summary["Arn"],
                        name=summary.get("Name", policy_id),
                        document=json.loads(p["Content"]),
                        version_id=None,
                    )
                except _SCP_ERRORS as exc:
                    self._doc[policy_id] = exc
            value = self._doc[policy_id]
        if isinstance(value, BaseException):
            raise value
        return value

    def levels(self, tree: OrgTree, account: OrgAccount) -> tuple[ScpLevel, ...] | None:
        """SCP levels root -> OUs -> account; None when they could not all be read."""
        if not tree.scp_enabled:
            return ()  # SCPs disabled: evaluated, and nothing restricts
        try:
            levels = []
            for node in (*account.path, account.account_id):
                ids = self.policies_for(node)
                levels.append(
                    ScpLevel(
                        target_id=node,
                        target_name=tree.node_names.get(node, account.name),
                        policies=tuple(self.document(i) for i in ids),
                    )
                )
            return tuple(levels)
        except _SCP_ERRORS:
            return None


def _child_botocore_session(parent: Any) -> Any:
    """A new botocore session with a copy of the parent's event handlers.

    Registering botocore's ~300 built-in handlers costs ~12 ms of CPU per
    session, and an Organization scan makes one session per account; copying
    the parent's already registered handlers costs well under 1 ms.
    """
    hooks = getattr(parent, "_original_handler", None)
    if hooks is None:  # a botocore without the attribute: the plain way
        return get_session()
    return BotocoreSession(event_hooks=copy.copy(hooks), include_builtin_handlers=False)


def assumed_session(
    ctx: AwsContext,
    role_arn: str,
    *,
    session_name: str,
    external_id: str | None,
    identity: dict[str, str] | None = None,
) -> boto3.session.Session:
    """A session on ``role_arn`` whose credentials refresh before they expire.

    ``identity``, when given, receives what ``GetCallerIdentity`` would say of
    the new session (``Account``, ``Arn``), read from the AssumeRole answer.
    """
    sts = ctx.client("sts")

    def refresh() -> dict[str, str]:
        kwargs: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if external_id:
            kwargs["ExternalId"] = external_id
        answer = sts.assume_role(**kwargs)
        creds = answer["Credentials"]
        assumed = answer.get("AssumedRoleUser", {}).get("Arn")
        if identity is not None and assumed and not identity:
            identity.update(Account=assumed.split(":")[4], Arn=assumed)
        expiry = creds["Expiration"]
        if isinstance(expiry, datetime):
            expiry = expiry.astimezone(UTC).isoformat()
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry,
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    core = _child_botocore_session(ctx.session._session)
    # Reuse the parent's loaded service models: loading them again per account
    # costs ~0.1 s of CPU each.
    core.register_component("data_loader", ctx.session._session.get_component("data_loader"))
    core._credentials = credentials  # the documented way to inject refreshable creds
    core.set_config_variable("region", ctx.region)
    return boto3.session.Session(botocore_session=core)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Checkpoint:
    """Finished accounts, appended one JSON line each (0600), so writing stays O(1).

    The first line holds the scan's scope; a resumed scan must match it. A line
    cut short by a crash is ignored (that account is scanned again).
    """

    def __init__(self, path: Path, scope: dict[str, Any]) -> None:
        self.path = path
        self.scope = scope
        self.done: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._started = False
        self._fd: int | None = None
        self._synced = time.monotonic()

    def load(self) -> None:
        """Read an earlier checkpoint; ``ValueError`` ("FILE is not a valid org-scan
        checkpoint: reason") when it is malformed or of another scan."""
        invalid = f"{self.path} is not a valid org-scan checkpoint"
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ValueError(f"{invalid}: it cannot be read ({exc.strerror})") from None
        if not lines:
            return
        try:
            head = json.loads(lines[0])
        except ValueError:
            raise ValueError(f"{invalid}: its first line is not JSON") from None
        if not isinstance(head, dict) or "scope" not in head:
            raise ValueError(f"{invalid}: its first line holds no scope")
        if head.get("scope") != self.scope:
            raise ValueError(
                f"checkpoint {self.path} is for a different scan "
                f"(scope {head.get('scope')}); remove it or drop --resume"
            )
        done: dict[str, dict[str, Any]] = {}
        for n, line in enumerate(lines[1:], 2):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # torn last line after a crash
            try:
                if not isinstance(entry, dict) or not isinstance(entry.get("account_id"), str):
                    raise ValueError("no account_id")
                AccountEntry.from_dict(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(f"{invalid}: line {n}: {type(exc).__name__}: {exc}") from None
            done[entry["account_id"]] = entry
        self.done.update(done)
        self._started = True

    def record(self, entry: AccountEntry) -> None:
        """Append one finished account: one ``write`` on a file kept open.

        A line written is safe from a crash of this process at once; ``fsync``
        (safety from a crash of the machine) runs at most once a second and on
        :meth:`close`, so large Organizations do not wait on the disk per account.
        """
        data = entry.to_dict()
        line = orjson.dumps(data) + b"\n"
        with self._lock:
            self.done[entry.account_id] = data
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not self._started:
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    _write_all(fd, orjson.dumps({"scope": self.scope}) + b"\n")
                    self._started = True
                else:
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
                self._fd = fd
            _write_all(self._fd, line)
            if time.monotonic() - self._synced > 1.0:
                os.fsync(self._fd)
                self._synced = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def completed(self) -> dict[str, AccountEntry]:
        """Accounts that need no rescan: those that ended ``ok`` or ``skipped``."""
        return {
            k: AccountEntry.from_dict(v)
            for k, v in self.done.items()
            if v.get("status") in ("ok", "skipped")
        }


@dataclass
class OrgScanOptions:
    surfaces: Sequence[Surface]
    role: str = "OrganizationAccountAccessRole"
    external_id: str | None = None
    role_session_name: str = "phantomkeys-scan"
    max_workers: int = 8
    fresh: bool = False
    accounts: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()

    def scope(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this scan."""
        return {
            "surfaces": sorted(s.id.value for s in self.surfaces),
            "accounts": sorted(self.accounts),
            "exclude": sorted(self.exclude),
            "ous": sorted(self.ous),
            "role": self.role,
        }


def select_accounts(
    tree: OrgTree, opts: OrgScanOptions
) -> tuple[list[OrgAccount], list[OrgAccount]]:
    """(to scan, skipped as suspended) after --account / --exclude / --ou."""
    chosen: list[OrgAccount] = []
    suspended: list[OrgAccount] = []
    for a in tree.accounts:
        if opts.accounts and a.account_id not in opts.accounts:
            continue
        if a.account_id in opts.exclude:
            continue
        if opts.ous and not any(ou in a.path for ou in opts.ous):
            continue
        (suspended if a.status != "ACTIVE" else chosen).append(a)
    return chosen, suspended


def scan_organization(
    ctx: AwsContext,
    opts: OrgScanOptions,
    *,
    now: datetime,
    checkpoint: Checkpoint | None = None,
    on_account: Callable[[AccountEntry], None] = lambda _e: None,
    on_start: Callable[[int, int], None] = lambda _total, _done: None,
) -> OrgSnapshot:
    tree = get_org_tree(ctx)
    for ou in opts.ous:
        if ou not in tree.node_names:
            raise ValueError(f"--ou {ou}: no such OU in organization {tree.organization_id}")
    chosen, suspended = select_accounts(tree, opts)
    scps = ScpCache(ctx)
    aws_policies = AwsManagedPolicies()
    # The reads each account runs side by side, on threads shared by all accounts.
    reads = ThreadPoolExecutor(max_workers=max(1, opts.max_workers) * 6, thread_name_prefix="read")
    done: dict[str, AccountEntry] = checkpoint.completed() if checkpoint else {}
    todo = [a for a in chosen if a.account_id not in done]
    on_start(len(chosen), len(chosen) - len(todo))
    entries: dict[str, AccountEntry] = {
        k: v for k, v in done.items() if k in {a.account_id for a in chosen}
    }
    for a in suspended:
        entries[a.account_id] = AccountEntry(
            account_id=a.account_id,
            name=a.name,
            status="skipped",
            error=f"account is {a.status.lower()}",
            ou_path=a.path_names,
        )

    def one(account: OrgAccount) -> AccountEntry:
        counter = CallCounter()
        identity: dict[str, str] = {}
        try:
            if account.account_id == tree.management_account_id:
                actx = AwsContext(session=ctx.session, counter=counter, max_pool=ctx.max_pool)
            else:
                partition = ctx.partition
                role_arn = f"arn:{partition}:iam::{account.account_id}:role/{opts.role}"
                session = assumed_session(
                    ctx,
                    role_arn,
                    session_name=opts.role_session_name,
                    external_id=opts.external_id,
                    identity=identity,
                )
                actx = AwsContext(session=session, counter=counter, max_pool=ctx.max_pool)
            levels = scps.levels(tree, account)
            snap = collect_account(
                actx,
                surfaces=opts.surfaces,
                fresh=opts.fresh,
                max_workers=2,
                scps=levels,
                now=now,
                identity=identity or None,
                aws_policies=aws_policies,
                executor=reads,
            )
            status = "incomplete" if snap.unrecovered() or levels is None else "ok"
            error = None
            if levels is None:
                error = "SCPs could not be read; capabilities ignore SCPs for this account"
            return AccountEntry(
                account_id=account.account_id,
                name=account.name,
                status=status,
                error=error,
                ou_path=account.path_names,
                snapshot=snap,
            )
        except (*LOOKUP_ERRORS, botocore.exceptions.BotoCoreError) as exc:
            what = "cannot assume role" if "AssumeRole" in str(exc) else "scan failed"
            return AccountEntry(
                account_id=account.account_id,
                name=account.name,
                status="error",
                error=f"{what}: {error_code(exc)}: {error_message(exc)[:200]}",
                ou_path=account.path_names,
            )
        finally:
            ctx.counter.merge(counter)

    pool = ThreadPoolExecutor(max_workers=max(1, opts.max_workers))
    futures: dict[Any, OrgAccount] = {}
    try:
        futures = {pool.submit(one, a): a for a in todo}
        for fut in as_completed(futures):
            entry = fut.result()
            entries[entry.account_id] = entry
            if checkpoint is not None:
                checkpoint.record(entry)
            on_account(entry)
    except BaseException:
        # Ctrl-C or a crash: start no new account, let the ones in flight finish and
        # keep them in the checkpoint, so a resume repeats nothing.
        pool.shutdown(wait=True, cancel_futures=True)
        if checkpoint is not None:
            for fut in futures:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    entry = fut.result()
                    if entry.account_id not in checkpoint.done:
                        checkpoint.record(entry)
        raise
    finally:
        if checkpoint is not None:
            checkpoint.close()
        # Every account has finished (or the pool waited for those in flight).
        pool.shutdown(wait=True)
        reads.shutdown(wait=True)

    ordered = tuple(entries[k] for k in sorted(entries))
    return OrgSnapshot(
        organization_id=tree.organization_id,
        management_account_id=tree.management_account_id,
        collected_at=now,
        accounts=ordered,
        api_calls=ctx.counter.snapshot()["by_operation"],
    )
