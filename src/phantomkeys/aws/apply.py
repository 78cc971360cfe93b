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
"""

from __future__ import annotations

import json
import os
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
    Outcome,
    Plan,
    PlanError,
    RoleState,
    Step,
    UserState,
    drift,
    facts_of,
    journal_complete,
    journal_outcomes,
    step_done,
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
    """Append-only JSON lines, fsynced per line; a torn last line is ignored on read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, **record: Any) -> None:
        record.setdefault("at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
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
        out = []
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill mid-write
            if isinstance(rec, dict):
                out.append(rec)
        return out


class BackupStore:
    """Backups and journals under ``root/ACCOUNT/`` (directories 0700, files 0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, account_id: str) -> Path:
        # Only directories phantomkeys creates are made private; an existing
        # --backup-dir keeps its mode (it may be shared, like /tmp).
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.root / account_id
        path.mkdir(exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        return path

    def create(self, backup: Backup) -> RunFiles:
        directory = self._dir(backup.plan.account_id)
        stamp = backup.created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{stamp}-{backup.operation.value}-{backup.plan.subject}-{backup.run_id[:8]}"
        path = directory / f"{base}.json"
        text = json.dumps(envelope(**backup.to_dict()), indent=2, sort_keys=False) + "\n"
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
            records = Journal(journal_path_for(path)).records()
            if journal_complete(records):
                continue
            try:
                backup = Backup.from_dict(data)
            except (PlanError, KeyError, ValueError):
                continue
            out.append(
                PendingRun(
                    backup=backup,
                    files=RunFiles(path, journal_path_for(path)),
                    records=tuple(records),
                )
            )
        return out


def load_backup(path: Path) -> Backup:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApplyError(f"backup {path} not found") from None
    except (OSError, ValueError) as exc:
        raise ApplyError(f"backup {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ApplyError(f"{path} is not a phantomkeys backup")
    try:
        return Backup.from_dict(data)
    except (PlanError, KeyError, ValueError) as exc:
        raise ApplyError(f"{path} is not a usable phantomkeys backup: {exc}") from None


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
    """Re-check, back up, and apply ``plan`` (or continue ``resume``'s run)."""
    base = resume.backup.plan if resume is not None else plan
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
            Journal(resume.files.journal).append(
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
    journal = Journal(files.journal)
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
