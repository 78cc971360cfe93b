"""Apply a plan: re-check, back up, write step by step, journal every outcome.

The sequence for every plan (DESIGN "Mutations only through plans"):

1. re-read the state the plan depends on, immediately before writing; stop
   (``drift``) when it changed in a way the plan does not explain, and build a
   fresh plan for the user to review instead of acting on stale data;
2. before the first write, save a backup (JSON, mode 0600, directory 0700)
   holding the state and the plan, so ``restore`` can undo what AWS allows;
3. run each step, recording ``start`` and then its outcome in an append-only
   journal next to the backup (fsynced line by line), so a rerun after a
   crash, Ctrl-C or fault resumes the same run with the same backup and ends
   in the same state as an uninterrupted run.

Only the actions plan builders produce can run (``ALLOWED_ACTIONS``), and only
on the plan's own subject: a backup file edited by hand cannot make phantomkeys
call arbitrary APIs or touch another user.

Files on disk are never trusted to steer a write (``docs/backups.md``): backups
and journals carry an HMAC-SHA256 tag made with a per-user key kept in the
user's state directory (0600), and a file whose tag, owner or mode is wrong is
ignored (never resumed) and refused by ``restore``. A resumed run only learns
from its files which steps were done; its plan is always derived again by the
same builders, from the saved and the fresh state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import botocore.exceptions

from phantomkeys._meta import envelope
from phantomkeys.aws.organizations_controls import CONTROLS_WRITE_ACTIONS
from phantomkeys.aws.session import AwsContext, error_code, error_message
from phantomkeys.core.controls.plan import CONTROLS_KINDS, ControlsState, validate_controls_plan
from phantomkeys.core.plans import (
    Backup,
    Operation,
    Outcome,
    Plan,
    PlanError,
    RoleState,
    Step,
    UserState,
    canonical_json,
    drift,
    facts_of,
    journal_complete,
    journal_outcomes,
    step_done,
    valid_iam_name,
)

#: The state a plan is checked against: an IAM principal, or an SCP/alerts deploy.
S = TypeVar("S", bound=UserState | RoleState | ControlsState)

#: Every write phantomkeys can make, and the boto3 method that makes it.
ALLOWED_ACTIONS: Mapping[str, str] = {
    "iam:PutUserPolicy": "put_user_policy",
    "iam:DeleteUserPolicy": "delete_user_policy",
    "iam:UpdateServiceSpecificCredential": "update_service_specific_credential",
    "iam:DeleteServiceSpecificCredential": "delete_service_specific_credential",
    "iam:UpdateAccessKey": "update_access_key",
    "iam:DeleteAccessKey": "delete_access_key",
    "iam:DeleteLoginProfile": "delete_login_profile",
    "iam:DeleteSigningCertificate": "delete_signing_certificate",
    "iam:DeleteSSHPublicKey": "delete_ssh_public_key",
    "iam:DeactivateMFADevice": "deactivate_mfa_device",
    "iam:DeleteVirtualMFADevice": "delete_virtual_mfa_device",
    "iam:DetachUserPolicy": "detach_user_policy",
    "iam:RemoveUserFromGroup": "remove_user_from_group",
    "iam:DeleteUserPermissionsBoundary": "delete_user_permissions_boundary",
    "iam:DeleteUser": "delete_user",
    "iam:CreateUser": "create_user",
    "iam:UpdateUser": "update_user",
    "iam:TagUser": "tag_user",
    "iam:PutUserPermissionsBoundary": "put_user_permissions_boundary",
    "iam:AddUserToGroup": "add_user_to_group",
    "iam:AttachUserPolicy": "attach_user_policy",
    "iam:UploadSigningCertificate": "upload_signing_certificate",
    "iam:UploadSSHPublicKey": "upload_ssh_public_key",
    "iam:PutRolePolicy": "put_role_policy",
    "iam:DeleteRolePolicy": "delete_role_policy",
    # SCP and alert deploys and their restores (listed in aws/organizations_controls.py,
    # whose least-privilege policy, permissions/prevention.json, grants them)
    **CONTROLS_WRITE_ACTIONS,
}

#: Resolvers of a step's ``@`` references (a name AWS only turns into an id at run
#: time, read fresh), by service: ``resolver(client, params) -> boto3 params``.
#: Registered by the module that builds such steps (``aws/controls_apply.py``).
REFERENCE_RESOLVERS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {}

#: Called around every step: phase ``before`` (nothing sent yet), ``called`` (AWS
#: answered, outcome not journaled yet) and ``after``. Tests raise KeyboardInterrupt
#: here to simulate a process killed at the worst moment.
StepHook = Callable[[Step, str], None]


class ApplyError(Exception):
    """A plan or backup that must not run (message is user-facing)."""


class InvalidFile(ApplyError):
    """A file that is not what it claims to be (malformed): ``FILE is not a valid KIND: why``."""

    def __init__(self, path: Path, kind: str, reason: str) -> None:
        super().__init__(f"{path} is not a valid {kind}: {reason}")
        self.path = path
        self.reason = reason


class UntrustedFile(ApplyError):
    """A well-formed backup or journal whose integrity tag, owner or mode is wrong."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} cannot be trusted: {reason}")
        self.path = path
        self.reason = reason


class RunStatus(StrEnum):
    DONE = "done"  # every step applied or already done
    NOTHING = "nothing-to-do"
    FAILED = "failed"  # a step failed (exit 4)
    DRIFT = "state-changed"  # the state changed since the plan; nothing written (exit 4)
    UNREADABLE = "state-unreadable"  # the fresh read was incomplete; nothing written (exit 3)


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    outcome: Outcome
    error_code: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.step.id,
            "action": self.step.action,
            "description": self.step.description,
            "outcome": self.outcome.value,
            "error_code": self.error_code,
            "message": self.message,
        }


@dataclass
class RunReport:
    plan: Plan
    status: RunStatus
    results: list[StepResult] = field(default_factory=list)
    run_id: str | None = None
    backup_path: Path | None = None
    journal_path: Path | None = None
    drift: list[str] = field(default_factory=list)
    fresh_plan: Plan | None = None
    resumed: bool = False
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in (RunStatus.FAILED, RunStatus.DRIFT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.plan.subject,
            "subject_type": self.plan.subject_type,
            "operation": self.plan.operation.value,
            "status": self.status.value,
            "run_id": self.run_id,
            "resumed": self.resumed,
            "backup": str(self.backup_path) if self.backup_path else None,
            "journal": str(self.journal_path) if self.journal_path else None,
            "results": [r.to_dict() for r in self.results],
            "drift": list(self.drift),
            "fresh_plan": self.fresh_plan.to_dict() if self.fresh_plan else None,
            "message": self.message,
        }


# ================================================================ integrity


def state_dir() -> Path:
    """The user's phantomkeys state directory (platformdirs ``user_state_dir``)."""
    import platformdirs

    return platformdirs.user_state_path("phantomkeys", appauthor=False)


def default_backup_dir() -> Path:
    """Backups live with the user's state, never in the current directory (a repository)."""
    return state_dir() / "backups"


def private_file_problem(path: Path) -> str | None:
    """Why a file phantomkeys wrote for this user cannot be trusted (None: it can).

    A regular file (not a symlink), owned by the current user, that neither group nor
    others can read or write: anything else may have been planted or edited by someone
    else.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "it does not exist"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"it is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
    if st.st_mode & 0o066:
        return (
            f"its mode {stat.S_IMODE(st.st_mode):04o} lets group or others read or write "
            "it (phantomkeys writes 0600)"
        )
    return None


KEY_FILE_NAME = "integrity.key"


class IntegrityKey:
    """The per-user HMAC-SHA256 key that tags backups and journal lines.

    Kept in the user's state directory (directory 0700, file 0600), created on first
    use. A file copied from elsewhere, or written by anyone without this key, does not
    verify.
    """

    def __init__(self, secret: bytes, path: Path | None = None) -> None:
        self._secret = secret
        self.path = path

    @classmethod
    def load(cls, directory: Path | None = None) -> IntegrityKey:
        directory = directory if directory is not None else state_dir()
        path = directory / KEY_FILE_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                try:
                    os.write(fd, secrets.token_hex(32).encode() + b"\n")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            problem = private_file_problem(path)
            if problem is not None:
                raise ApplyError(
                    f"the integrity key {path} cannot be trusted: {problem}; fix or remove it"
                )
            text = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise ApplyError(f"the integrity key {path} cannot be used: {exc.strerror}") from None
        except UnicodeDecodeError:
            text = ""
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) < 32:
            raise ApplyError(f"{path} is not a valid integrity key: expected 64 hex digits")
        return cls(secret, path)

    def tag(self, purpose: str, data: str) -> str:
        message = purpose.encode() + b"\n" + data.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, purpose: str, data: str, tag: object) -> bool:
        return isinstance(tag, str) and hmac.compare_digest(self.tag(purpose, data), tag)


INTEGRITY_FIELD = "integrity"


def sign_backup_document(document: dict[str, Any], key: IntegrityKey) -> dict[str, Any]:
    body = {k: v for k, v in document.items() if k != INTEGRITY_FIELD}
    return {
        **body,
        INTEGRITY_FIELD: {
            "algorithm": "HMAC-SHA256",
            "key": "per-user key in the phantomkeys state directory",
            "tag": key.tag("backup", canonical_json(body)),
        },
    }


def backup_tag_problem(document: Mapping[str, Any], key: IntegrityKey) -> str | None:
    integrity = document.get(INTEGRITY_FIELD)
    if not isinstance(integrity, Mapping) or "tag" not in integrity:
        return "it has no integrity tag (not written by this phantomkeys user, or edited)"
    body = {k: v for k, v in document.items() if k != INTEGRITY_FIELD}
    if not key.verify("backup", canonical_json(body), integrity.get("tag")):
        return "its integrity tag does not match (edited, or written with another user's key)"
    return None


# ================================================================ backup store


@dataclass(frozen=True, slots=True)
class RunFiles:
    backup: Path
    journal: Path


@dataclass(frozen=True, slots=True)
class PendingRun:
    """An earlier run of the same intent that did not finish cleanly: resume it."""

    backup: Backup
    files: RunFiles
    records: tuple[Mapping[str, Any], ...]

    @property
    def done_steps(self) -> int:
        outcomes = journal_outcomes(self.records)
        return sum(1 for o in outcomes.values() if o in (Outcome.APPLIED, Outcome.ALREADY_DONE))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def journal_path_for(backup_path: Path) -> Path:
    name = backup_path.name
    stem = name[: -len(".json")] if name.endswith(".json") else name
    return backup_path.with_name(stem + ".journal.jsonl")


class Journal:
    """Append-only JSON lines, fsynced per line; a torn last line is ignored on read.

    With a key, every line carries ``tag``: an HMAC of the line bound to its run id, so
    lines cannot be forged, edited or moved from another run's journal.
    """

    def __init__(
        self, path: Path, *, key: IntegrityKey | None = None, run_id: str | None = None
    ) -> None:
        self.path = path
        self.key = key
        self.run_id = run_id

    def _purpose(self) -> str:
        return f"journal:{self.run_id or ''}"

    def append(self, **record: Any) -> None:
        record.setdefault("at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        record.pop("tag", None)
        if self.key is not None:
            record["tag"] = self.key.tag(self._purpose(), canonical_json(record))
        line = json.dumps(record, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:
            raise InvalidFile(self.path, "phantomkeys journal", "not UTF-8 text") from None
        except OSError as exc:
            reason = f"it cannot be read ({exc.strerror})"
            raise InvalidFile(self.path, "phantomkeys journal", reason) from None
        out = []
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill mid-write
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def tag_problem(self, records: list[dict[str, Any]]) -> str | None:
        """Why these records cannot be trusted (None: every line carries a valid tag)."""
        if self.key is None:
            return None
        for n, rec in enumerate(records, 1):
            body = {k: v for k, v in rec.items() if k != "tag"}
            if not self.key.verify(self._purpose(), canonical_json(body), rec.get("tag")):
                return f"its record {n} has no valid integrity tag (forged or edited)"
        return None


class BackupStore:
    """Backups and journals under ``root/ACCOUNT/`` (directories 0700, files 0600).

    Every backup and journal line is tagged with the user's :class:`IntegrityKey`;
    :meth:`pending` ignores files that do not verify and lists them in ``rejected``
    (path -> reason) for the caller to warn about.
    """

    def __init__(self, root: Path, *, key: IntegrityKey | None = None) -> None:
        self.root = root
        self._key = key
        self.rejected: dict[Path, str] = {}

    @property
    def key(self) -> IntegrityKey:
        if self._key is None:
            self._key = IntegrityKey.load()
        return self._key

    def journal(self, files: RunFiles, run_id: str) -> Journal:
        return Journal(files.journal, key=self.key, run_id=run_id)

    def _dir(self, account_id: str) -> Path:
        # Only directories phantomkeys creates are made private; an existing
        # --backup-dir keeps its mode (it may be shared, like /tmp).
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.root / account_id
        path.mkdir(exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        return path

    def create(self, backup: Backup) -> RunFiles:
        subject, account = backup.plan.subject, backup.plan.account_id
        if backup.operation is Operation.DEPLOY:
            # A deploy's subject is an SCP or alert name (up to 128 characters, any text
            # in Organizations): the file name gets a safe slug of it; nothing is read
            # back from the name.
            subject = re.sub(r"[^\w+=,.@-]", "_", subject, flags=re.ASCII)[:64] or "deploy"
        if not valid_iam_name(subject) or not (account.isdigit() and len(account) == 12):
            raise ApplyError(f"refusing a backup file name from {account!r}/{subject!r}")
        key = self.key
        directory = self._dir(account)
        stamp = backup.created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{stamp}-{backup.operation.value}-{subject}-{backup.run_id[:8]}"
        path = directory / f"{base}.json"
        document = sign_backup_document(envelope(**backup.to_dict()), key)
        text = json.dumps(document, indent=2, sort_keys=False) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        journal = journal_path_for(path)
        os.close(os.open(journal, os.O_WRONLY | os.O_CREAT, 0o600))
        _fsync_dir(directory)
        return RunFiles(backup=path, journal=journal)

    def runs(self, account_id: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every file of ``account_id`` that claims to be a backup (not yet verified)."""
        if not (account_id.isdigit() and len(account_id) == 12):
            return
        directory = self.root / account_id
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.json"), reverse=True):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("format") == "phantomkeys/backup":
                yield path, data

    def verify(self, path: Path, data: Mapping[str, Any]) -> tuple[Backup, list[dict[str, Any]]]:
        """The backup and its journal records, or :class:`UntrustedFile`/:class:`InvalidFile`."""
        problem = private_file_problem(path) or backup_tag_problem(data, self.key)
        if problem is not None:
            raise UntrustedFile(path, problem)
        backup = backup_from_document(path, data)
        journal_file = journal_path_for(path)
        problem = private_file_problem(journal_file)
        if problem is not None:
            raise UntrustedFile(journal_file, problem)
        journal = Journal(journal_file, key=self.key, run_id=backup.run_id)
        records = journal.records()
        problem = journal.tag_problem(records)
        if problem is not None:
            raise UntrustedFile(journal_file, problem)
        return backup, records

    def pending(
        self,
        *,
        operation: str,
        account_id: str,
        subject: str | None = None,
        intent_key: str | None = None,
    ) -> list[PendingRun]:
        """Unfinished runs (newest first) matching the operation and, when given, subject
        and intent."""
        out = []
        for path, data in self.runs(account_id):
            plan = data.get("plan") or {}
            if data.get("operation") != operation:
                continue
            if subject is not None and data.get("subject") != subject:
                continue
            if intent_key is not None and plan.get("intent_key") != intent_key:
                continue
            try:
                backup, records = self.verify(path, data)
            except ApplyError as exc:
                self.rejected[path] = str(exc)
                continue
            if journal_complete(records):
                continue
            out.append(
                PendingRun(
                    backup=backup,
                    files=RunFiles(path, journal_path_for(path)),
                    records=tuple(records),
                )
            )
        return out


def backup_from_document(path: Path, data: Any) -> Backup:
    """A :class:`Backup` from a parsed document, or :class:`InvalidFile` saying why not."""
    if not isinstance(data, dict):
        raise InvalidFile(path, "phantomkeys backup", "not a JSON object")
    try:
        return Backup.from_dict(data)
    except PlanError as exc:
        raise InvalidFile(path, "phantomkeys backup", str(exc)) from None
    except KeyError as exc:
        raise InvalidFile(path, "phantomkeys backup", f"missing field {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        reason = f"a field has the wrong type ({exc})"
        raise InvalidFile(path, "phantomkeys backup", reason) from None


def _looks_like_journal(path: Path, text: str) -> bool:
    if path.name.endswith(".journal.jsonl"):
        return True
    first = text.lstrip().split("\n", 1)[0]
    try:
        rec = json.loads(first)
    except ValueError:
        return False
    return isinstance(rec, dict) and ("event" in rec or "step" in rec) and "format" not in rec


@dataclass(frozen=True, slots=True)
class LoadedBackup:
    backup: Backup
    #: The backup file used (the one given, or the backup next to a given journal).
    path: Path
    #: Why it cannot be trusted (integrity tag, owner, mode: "FILE cannot be trusted:
    #: reason"); None when it and its journal verify.
    untrusted: str | None = None
    #: Set when the user gave the journal and the backup next to it was used.
    from_journal: Path | None = None


def load_backup(path: Path) -> Backup:
    """A backup that verifies (:func:`open_backup`), or :class:`ApplyError` saying why not."""
    loaded = open_backup(path)
    if loaded.untrusted is not None:
        raise ApplyError(loaded.untrusted)
    return loaded.backup


def open_backup(path: Path, *, store: BackupStore | None = None) -> LoadedBackup:
    """The backup at ``path`` (or next to the journal at ``path``), checked.

    Malformed input raises :class:`InvalidFile`. A well-formed backup whose tag, owner,
    mode or journal does not verify is returned with ``untrusted`` set: the caller
    refuses it unless the user overrides explicitly.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApplyError(f"backup {path} not found") from None
    except IsADirectoryError:
        raise InvalidFile(path, "phantomkeys backup", "it is a directory") from None
    except UnicodeDecodeError:
        raise InvalidFile(path, "phantomkeys backup", "not UTF-8 text") from None
    except OSError as exc:
        raise ApplyError(f"backup {path} cannot be read: {exc.strerror}") from None
    from_journal = None
    if _looks_like_journal(path, text):
        name = path.name
        stem = name[: -len(".journal.jsonl")] if name.endswith(".journal.jsonl") else None
        candidate = path.with_name(stem + ".json") if stem else None
        if candidate is None or not candidate.is_file():
            raise InvalidFile(
                path,
                "phantomkeys backup",
                "it is a journal, and its backup "
                f"({candidate.name if candidate else 'NAME.json'}) is not next to it",
            )
        from_journal, path = path, candidate
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidFile(path, "phantomkeys backup", f"cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidFile(path, "phantomkeys backup", f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "phantomkeys/backup":
        raise InvalidFile(path, "phantomkeys backup", "it has no phantomkeys backup marker")
    backup = backup_from_document(path, data)
    store = store if store is not None else BackupStore(path.parent)
    untrusted = None
    try:
        store.verify(path, data)
    except UntrustedFile as exc:
        untrusted = str(exc)
    except InvalidFile as exc:  # the journal next to it is malformed
        untrusted = str(exc)
    return LoadedBackup(backup=backup, path=path, untrusted=untrusted, from_journal=from_journal)


# ================================================================ execution


#: Module level, so tests/report/aws_calls.py does not count it as a call of
#: every module that imports apply_plan (the deploys' policy does not grant it).
_DELETE_VIRTUAL_MFA = "iam:DeleteVirtualMFADevice"


def validate_plan(plan: Plan) -> None:
    """Refuse actions outside the allow-list, and steps aimed at another principal."""
    if plan.subject_type in CONTROLS_KINDS:  # SCP and alert deploys: their own scope rules
        for step in plan.steps:
            if step.action not in ALLOWED_ACTIONS:
                raise ApplyError(
                    f"step {step.id}: action {step.action} is not one phantomkeys makes"
                )
        try:
            validate_controls_plan(plan)
        except PlanError as exc:
            raise ApplyError(str(exc)) from None
        return
    for step in plan.steps:
        if step.action not in ALLOWED_ACTIONS:
            raise ApplyError(f"step {step.id}: action {step.action} is not one phantomkeys makes")
        key = "RoleName" if plan.subject_type == "role" else "UserName"
        other = "UserName" if key == "RoleName" else "RoleName"
        if other in step.params:
            raise ApplyError(
                f"step {step.id} names a {other}, but the plan is for a {plan.subject_type}"
            )
        if key in step.params and step.params[key] != plan.subject:
            raise ApplyError(f"step {step.id} targets {step.params[key]}, not {plan.subject}")
        if step.action == _DELETE_VIRTUAL_MFA:
            serial = str(step.params.get("SerialNumber", ""))
            if f":{plan.account_id}:mfa/" not in serial:
                raise ApplyError(
                    f"step {step.id}: MFA device {serial} is not in account {plan.account_id}"
                )
        elif key not in step.params:
            raise ApplyError(f"step {step.id} does not name its {plan.subject_type}")


def call_step(ctx: AwsContext, step: Step) -> None:
    service, _, operation = step.action.partition(":")
    params = dict(step.params)
    region = params.pop("@Region", None)
    client = ctx.client(service, region) if region else ctx.client(service)
    if any(k.startswith("@") for k in params):  # names resolved at run time
        resolver = REFERENCE_RESOLVERS.get(service)
        if resolver is None:
            raise ApplyError(f"step {step.id}: nothing resolves its references")
        params = resolver(client, params)
    method = getattr(client, ALLOWED_ACTIONS[step.action])
    result = method(**params)
    if isinstance(result, dict) and result.get("FailedEntryCount"):  # events:PutTargets
        entry = (result.get("FailedEntries") or [{}])[0]
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": entry.get("ErrorCode"), "Message": entry.get("ErrorMessage")}},
            operation,
        )


def _noop_hook(_step: Step, _phase: str) -> None:
    return None


def apply_plan(
    ctx: AwsContext,
    plan: Plan,
    *,
    read_state: Callable[[], S],
    rebuild: Callable[[S], Plan],
    store: BackupStore,
    caller_arn: str | None,
    now: datetime,
    resume: PendingRun | None = None,
    hook: StepHook = _noop_hook,
    restores: str | None = None,
) -> RunReport:
    """Re-check, back up, and apply ``plan`` (or continue ``resume``'s run).

    ``plan`` is always the one phantomkeys derived for this run; a resumed run's files
    only say which of its steps were already done (``resume.records``) and where the
    backup of the state before the first write is. The steps written in the backup
    file are never run.
    """
    base = plan
    validate_plan(base)
    fresh = read_state()
    if not fresh.complete:
        what = "; ".join(f"{f.operation}: {f.error_code}" for f in fresh.failures[:3])
        return RunReport(
            plan=base,
            status=RunStatus.UNREADABLE,
            message=f"the state of {fresh.name} could not be re-read ({what}); nothing was written",
        )
    facts = facts_of(fresh)
    changes = drift(base.baseline, facts, base.steps)
    if resume is not None and isinstance(fresh, UserState | RoleState):
        changes = _identity_change(resume.backup.state, fresh) + changes
    if changes:
        fresh_plan: Plan | None = None
        message = None
        try:
            fresh_plan = rebuild(fresh)
        except PlanError as exc:
            message = str(exc)
        if resume is not None:
            # The interrupted run cannot continue on changed state; its backup stays for
            # restore, and the next run starts from the fresh plan shown to the user.
            store.journal(resume.files, resume.backup.run_id).append(
                event="abandoned", reason="state changed since the plan", drift=changes
            )
        return RunReport(
            plan=base,
            status=RunStatus.DRIFT,
            drift=changes,
            fresh_plan=fresh_plan,
            message=message,
            run_id=resume.backup.run_id if resume else None,
        )
    if not base.steps:
        if resume is not None:  # nothing left: the interrupted run is over
            store.journal(resume.files, resume.backup.run_id).append(
                event="finished", failed=0, stopped=0
            )
        return RunReport(plan=base, status=RunStatus.NOTHING)

    earlier = journal_outcomes(resume.records) if resume is not None else {}

    def already(step: Step) -> bool:
        done = step_done(step, facts)
        if done is None:
            return earlier.get(step.id) in (Outcome.APPLIED, Outcome.ALREADY_DONE)
        return done

    if resume is None and all(already(s) for s in base.steps):
        return RunReport(
            plan=base,
            status=RunStatus.DONE,
            results=[StepResult(s, Outcome.ALREADY_DONE) for s in base.steps],
        )

    if resume is None:
        backup = Backup(
            run_id=uuid.uuid4().hex,
            created_at=now,
            caller_arn=caller_arn,
            plan=plan,
            user=fresh if isinstance(fresh, UserState) else None,
            role=fresh if isinstance(fresh, RoleState) else None,
            restores=restores,
            controls=fresh.to_dict() if isinstance(fresh, ControlsState) else None,
        )
        files = store.create(backup)
    else:
        backup, files = resume.backup, resume.files
    journal = store.journal(files, backup.run_id)
    journal.append(
        event="resumed" if resume is not None else "started",
        run_id=backup.run_id,
        pid=os.getpid(),
        steps=len(base.steps),
    )

    results: list[StepResult] = []
    stopped = False
    try:
        for step in base.steps:
            if stopped:
                result = StepResult(step, Outcome.SKIPPED, message="an earlier step failed")
            elif already(step):
                result = StepResult(step, Outcome.ALREADY_DONE)
            else:
                hook(step, "before")
                journal.append(step=step.id, event="start", action=step.action)
                result = _run_step(ctx, step)
                hook(step, "called")
            journal.append(
                step=step.id,
                outcome=result.outcome.value,
                error_code=result.error_code,
                message=result.message,
            )
            results.append(result)
            if result.outcome is not Outcome.SKIPPED:
                hook(step, "after")
            if result.outcome is Outcome.FAILED and base.stop_on_failure:
                stopped = True
    except KeyboardInterrupt:
        journal.append(event="interrupted")
        raise
    failed = sum(1 for r in results if r.outcome is Outcome.FAILED)
    skipped = sum(1 for r in results if r.outcome is Outcome.SKIPPED)
    journal.append(event="finished", failed=failed, stopped=skipped)
    return RunReport(
        plan=base,
        status=RunStatus.FAILED if failed else RunStatus.DONE,
        results=results,
        run_id=backup.run_id,
        backup_path=files.backup,
        journal_path=files.journal,
        resumed=resume is not None,
    )


def _identity_change(saved: UserState | RoleState, fresh: UserState | RoleState) -> list[str]:
    """A principal deleted and re-created under the same name is not the one the
    interrupted run was about (its unique id differs): never continue on it."""
    if type(saved) is not type(fresh) or saved.name != fresh.name:
        return [f"the interrupted run was about {saved.name}, not {fresh.name}"]
    if saved.account_id != fresh.account_id:
        return [f"the interrupted run was in account {saved.account_id}"]
    old = saved.user_id if isinstance(saved, UserState) else saved.role_id
    new = fresh.user_id if isinstance(fresh, UserState) else fresh.role_id
    if fresh.exists and old and new and old != new:
        return [f"{fresh.name} was re-created since the interrupted run (unique id {old} -> {new})"]
    return []


def _run_step(ctx: AwsContext, step: Step) -> StepResult:
    try:
        call_step(ctx, step)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in step.done_errors:
            return StepResult(step, Outcome.ALREADY_DONE, error_code=code)
        return StepResult(step, Outcome.FAILED, error_code=code, message=error_message(exc)[:300])
    except botocore.exceptions.BotoCoreError as exc:
        return StepResult(
            step, Outcome.FAILED, error_code=error_code(exc), message=error_message(exc)[:300]
        )
    return StepResult(step, Outcome.APPLIED)
