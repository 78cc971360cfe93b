"""The :class:`Lab`: start, seed, reset, inspect and stop an emulated AWS environment."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import weakref
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from phantomkeys.lab.accounts import DEFAULT_REGION, MANAGEMENT_ACCOUNT_ID
from phantomkeys.lab.cloudtrail_store import write_log_files
from phantomkeys.lab.faults import parse_spec
from phantomkeys.lab.scenarios import LabPlan, plan_for
from phantomkeys.lab.seed import ControlClient, Credentials, SeedResult

if TYPE_CHECKING:
    import boto3

START_TIMEOUT = 60.0


class LabError(RuntimeError):
    """The lab could not start, or a control call failed."""


_live: weakref.WeakSet[Lab] = weakref.WeakSet()
_live_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:  # a lab never outlives the Python process that started it
    with _live_lock:
        labs = list(_live)
    for lab in labs:
        lab.request_stop()
    for lab in labs:
        lab.stop()


class Lab:
    """A running lab. Create it with :meth:`start`; use it as a context manager."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, plan: LabPlan, log: IO[bytes]
    ) -> None:
        self._process = process
        self._log = log
        self.port = port
        self.plan = plan
        self.scenario = plan.scenario
        self.seed = plan.seed
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.management_account_id = MANAGEMENT_ACCOUNT_ID
        self.member_account_ids: list[str] = [
            a.account_id for a in plan.accounts if a.account_id != MANAGEMENT_ACCOUNT_ID
        ]
        self.manifest: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        #: username -> the full key the scenario leaks (the demo's is BedrockAPIKey-p1v0).
        #: Secrets: never print or log these; decode them.
        self.leaked_keys: dict[str, str] = {}
        self.organization_id: str | None = None
        self.seconds_to_seed = 0.0
        self.scenario_faults: str | None = None
        self._control = ControlClient(self.endpoint_url)
        self._credentials: dict[str, Credentials] = {}
        self._stopped = False
        with _live_lock:
            _live.add(self)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        scenario: str | None = None,
        users: int = 0,
        phantoms: int = 0,
        accounts: int = 0,
        seed: int = 0,
        faults: str | None = None,
        port: int = 0,
        *,
        workers: int | None = None,
        timeout: float = START_TIMEOUT,
    ) -> Lab:
        """Start a lab server, seed it, snapshot the seeded state and return it.

        ``scenario`` is ``"demo"``, ``"org"`` or ``"empty"``; with ``None`` the lab is
        seeded by counts (``users`` per account, ``phantoms`` of them, ``accounts``
        members besides the management account). ``faults`` is added to the
        scenario's own fault rules once seeding is done (seeding never meets faults).
        """
        plan = plan_for(scenario, users=users, phantoms=phantoms, accounts=accounts, seed=seed)
        parse_spec(faults)  # a bad spec fails before anything starts
        lab = cls._spawn(plan, port=port, timeout=timeout)
        try:
            lab._seed(workers=workers, faults=faults)
        except BaseException:
            lab.stop()
            raise
        return lab

    @classmethod
    def _spawn(cls, plan: LabPlan, *, port: int, timeout: float) -> Lab:
        # The server's stderr: an unnamed temporary file (gone with its last handle).
        log = tempfile.TemporaryFile(prefix="phantomkeys-lab-")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable,
            "-m",
            "phantomkeys.lab.server",
            "--port",
            str(port),
            "--seed",
            str(plan.seed),
            "--watch-stdin",
        ]
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env
        )
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                break
            if process.poll() is not None:
                break
        if not line.startswith(b"{"):
            process.kill()
            process.wait()
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            log.close()
            reason = lines[-1] if lines else "no output"  # e.g. the exception line
            raise LabError(f"the lab server did not start: {reason}")
        ready_msg = json.loads(line)
        process.stdout.close()  # the server prints nothing more there
        return cls(process, int(ready_msg["port"]), plan, log)

    def _seed(self, *, workers: int | None, faults: str | None) -> None:
        from phantomkeys.lab.seed import SEED_WORKERS, seed
        from phantomkeys.lab.seeded_history import history_for

        result = seed(self.endpoint_url, self.plan, workers=workers or SEED_WORKERS)
        records = history_for(self.plan, result.users, result.started_at)
        for start in range(0, len(records), 2000):
            self._call("POST", "trail", {"records": records[start : start + 2000]})
        self._call("POST", "recording", {"enabled": True})
        self.scenario_faults = self.plan.faults
        combined = ",".join(s for s in (self.plan.faults, faults) if s) or None
        self._call("POST", "faults", {"spec": combined})
        self._call("POST", "snapshot")
        # every AWS request seeding made (bootstrap, Organizations, IAM), counted by the server
        result.api_calls = int(self._call("GET", "stats")["total"])
        self._call("POST", "stats/reset")
        self._apply_seed_result(result)

    def _apply_seed_result(self, result: SeedResult) -> None:
        admin = result.admin
        self._credentials = dict(result.account_credentials)
        self.leaked_keys = dict(result.leaked_keys)
        self.organization_id = result.organization_id
        self.seconds_to_seed = result.seconds
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": admin.access_key_id,
            "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
            "AWS_SESSION_TOKEN": admin.session_token or "",
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "AWS_REGION": DEFAULT_REGION,
        }
        manifest = self.plan.manifest()
        for acct in manifest["accounts"]:
            for ident in acct["identities"]:
                rt = result.users.get((acct["account_id"], ident["username"]))
                if rt is not None:
                    ident["user_id"] = rt.user_id
                    ident["credential_ids"] = list(rt.credential_ids)
                    ident["access_key_ids"] = list(rt.access_key_ids)
        import hashlib

        from phantomkeys.core import keys

        leaked = []
        for username, key in sorted(result.leaked_keys.items()):
            decoded = keys.decode(key)
            leaked.append(
                {
                    "username": username,
                    "surface": decoded.surface.value,
                    "secret_sha256": decoded.secret_sha256,
                    "token_sha256": hashlib.sha256(key.encode()).hexdigest(),
                }
            )
        manifest["leaked_keys"] = leaked
        manifest["organization_id"] = result.organization_id
        manifest["seeding"] = {
            "seconds": round(result.seconds, 2),
            "api_calls": result.api_calls,
            "seeded_at": result.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        manifest["endpoint_url"] = self.endpoint_url
        self.manifest = manifest

    def request_stop(self) -> None:
        """Ask the server to stop without waiting (``stop()`` waits)."""
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin:
                self._process.stdin.close()  # the server watches its stdin, exits on EOF

    def stop(self) -> None:
        """Stop the server process (idempotent); nothing is left running."""
        if self._stopped:
            return
        self._stopped = True
        proc = self._process
        self.request_stop()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
        with _live_lock:
            _live.discard(self)

    @property
    def running(self) -> bool:
        return not self._stopped and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab {self.scenario} {self.endpoint_url} {state}>"

    # ------------------------------------------------------------ AWS access

    def credentials(self, account_id: str | None = None) -> Credentials:
        """Admin credentials for an account (a role session; members: the access role)."""
        account = account_id or self.management_account_id
        try:
            return self._credentials[account]
        except KeyError:
            raise LabError(f"account {account} is not part of this lab") from None

    def session(self, account_id: str | None = None) -> boto3.Session:
        """A boto3 session on the lab: management admin, or assumed into a member."""
        import boto3

        creds = self.credentials(account_id)
        return boto3.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=DEFAULT_REGION,
        )

    def client(self, service: str, account_id: str | None = None, **kwargs: Any) -> Any:
        """``session(account_id).client(service, endpoint_url=lab.endpoint_url)``."""
        return self.session(account_id).client(service, endpoint_url=self.endpoint_url, **kwargs)

    # ------------------------------------------------------------ control

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        """A control call; failures become :class:`LabError` with the server's reason."""
        try:
            return self._control.call(method, route, payload)
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read() or b"{}").get("error", exc.reason)
            except ValueError:
                reason = exc.reason
            raise LabError(f"lab control {method} {route}: {reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            state = "running" if self.running else "not running"
            raise LabError(f"lab control {method} {route}: {exc} (server {state})") from None

    def set_faults(self, spec: str | None) -> None:
        """Replace the fault rules now (``None`` clears them, scenario rules included)."""
        parse_spec(spec)
        self._call("POST", "faults", {"spec": spec})

    @property
    def faults(self) -> str | None:
        spec: str | None = self._call("GET", "faults").get("spec")
        return spec

    def stats(self) -> dict[str, Any]:
        """Request counts: ``total``, ``by_operation`` (``"iam:ListUsers": n``), ``by_account``,
        ``by_account_operation`` (``"<acct>/iam:ListUsers": n``), ``faults_injected``."""
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    def reset(self) -> float:
        """Back to the seeded state (IAM, STS, Organizations, CloudTrail, faults, stats).

        Restores an in-server snapshot; nothing is re-seeded. Returns the seconds it took.
        """
        seconds: float = self._call("POST", "reset").get("seconds", 0.0)
        return seconds

    def cloudtrail_records(self) -> list[dict[str, Any]]:
        """Every CloudTrail record the lab holds (injected history and recorded IAM calls)."""
        records: list[dict[str, Any]] = self._call("GET", "trail")["records"]
        return records

    def inject_events(self, records: list[dict[str, Any]]) -> int:
        added: int = self._call("POST", "trail", {"records": records})["added"]
        return added

    def queue_athena_results(
        self,
        results: list[dict[str, Any]],
        *,
        account_id: str | None = None,
        region: str | None = None,
    ) -> int:
        """What the next Athena queries return, in order (the lab runs no SQL): each
        ``{"rows": [{"Data": [{"VarCharValue": ...}]}], "column_info": [...]}``."""
        payload: dict[str, Any] = {"results": results}
        if account_id:
            payload["account_id"] = account_id
        if region:
            payload["region"] = region
        queued: int = self._call("POST", "athena/query-results", payload)["queued"]
        return queued

    def write_cloudtrail(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write the lab's CloudTrail as S3 log files under ``directory``.

        Layout ``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz``.
        """
        return write_log_files(self.cloudtrail_records(), Path(directory))

    def backdate(
        self,
        user_name: str,
        what: str,
        days: float,
        *,
        id: str | None = None,
        account_id: str | None = None,
        **extra: Any,
    ) -> None:
        """Move a timestamp ``days`` into the past, as if it had happened then.

        ``what``: ``user``, ``password``, ``password_last_used``, ``access_key``,
        ``access_key_last_used`` (``service=``, ``region=``) or ``service_credential``
        (its ExpirationDate moves with it, so ``days`` beyond its age expires it).
        """
        item: dict[str, Any] = {
            "account_id": account_id or self.management_account_id,
            "user_name": user_name,
            "what": what,
            "days": days,
            **extra,
        }
        if id is not None:
            item["id"] = id
        self._call("POST", "backdate", {"items": [item]})

    def now(self) -> datetime:
        return datetime.now(UTC)


__all__ = ["Lab", "LabError"]
