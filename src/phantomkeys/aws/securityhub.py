"""``--security-hub``: import findings into AWS Security Hub (``BatchImportFindings``).

* Batches of at most 100 findings (the API limit).
* Throttled batches (``TooManyRequestsException``, ``ThrottlingException``,
  ``LimitExceededException``) are retried with exponential backoff on top of
  botocore's own retries; a batch still throttled after ``max_attempts`` is
  counted as failed, never dropped silently.
* Findings Security Hub rejects one by one (``FailedFindings``) are counted and
  listed with their error code.
* An account-level refusal (Security Hub not enabled, access denied) stops
  early: every remaining finding is reported failed with that reason, instead
  of repeating the same refused call for each batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import botocore.exceptions

from phantomkeys.aws.session import error_code, error_message

BATCH_SIZE = 100
THROTTLING_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "LimitExceededException",
        "Throttling",
        "RequestLimitExceeded",
    }
)
#: Errors that will refuse every batch the same way.
FATAL_CODES = frozenset(
    {
        "InvalidAccessException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
    }
)


class ClientFactory(Protocol):
    """An :class:`~phantomkeys.aws.session.AwsContext` or a ``boto3.Session``."""

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class ImportFailure:
    finding_id: str
    error_code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.finding_id, "error_code": self.error_code, "message": self.message}


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    imported: int
    failed: int
    batches: int
    retries: int
    failures: tuple[ImportFailure, ...] = field(default=())
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def __str__(self) -> str:
        text = (
            f"imported {self.imported} finding(s) in {self.batches} batch(es), {self.failed} failed"
        )
        if self.retries:
            text += f", {self.retries} throttled retr{'y' if self.retries == 1 else 'ies'}"
        if self.skipped:
            text += f", {self.skipped} skipped (no account id)"
        if self.failures:
            codes = sorted({f.error_code for f in self.failures})
            text += f" ({', '.join(codes)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "failed": self.failed,
            "batches": self.batches,
            "retries": self.retries,
            "skipped": self.skipped,
            "failures": [f.to_dict() for f in self.failures],
        }


def _client(clients: ClientFactory, region: str | None) -> Any:
    # AwsContext.client(service, region) and boto3.Session.client(service, region_name)
    # both take the region as their second positional argument.
    return clients.client("securityhub", region) if region else clients.client("securityhub")


def import_findings(
    clients: ClientFactory,
    findings: Sequence[Mapping[str, Any]],
    *,
    region: str | None = None,
    max_attempts: int = 6,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> ImportOutcome:
    """Send ASFF ``findings`` with ``BatchImportFindings``, 100 at a time."""
    client = _client(clients, region)
    imported = failed = retries = batches = 0
    failures: list[ImportFailure] = []
    items = list(findings)
    for start in range(0, len(items), BATCH_SIZE):
        batch = items[start : start + BATCH_SIZE]
        batches += 1
        for attempt in range(1, max_attempts + 1):
            try:
                response = client.batch_import_findings(Findings=batch)
            except botocore.exceptions.ClientError as exc:
                code = error_code(exc)
                if code in THROTTLING_CODES and attempt < max_attempts:
                    retries += 1
                    sleep(base_delay * 2 ** (attempt - 1))
                    continue
                failed += len(batch)
                failures += [
                    ImportFailure(str(f.get("Id")), code, error_message(exc)) for f in batch
                ]
                if code in FATAL_CODES:
                    rest = items[start + BATCH_SIZE :]
                    failed += len(rest)
                    failures += [
                        ImportFailure(str(f.get("Id")), code, "not sent: " + code) for f in rest
                    ]
                    return ImportOutcome(imported, failed, batches, retries, tuple(failures))
                break
            except botocore.exceptions.BotoCoreError as exc:
                failed += len(batch)
                failures += [
                    ImportFailure(str(f.get("Id")), error_code(exc), str(exc)) for f in batch
                ]
                break
            rejected = response.get("FailedFindings") or []
            imported += int(response.get("SuccessCount", len(batch) - len(rejected)))
            failed += int(response.get("FailedCount", len(rejected)))
            failures += [
                ImportFailure(
                    str(r.get("Id")), str(r.get("ErrorCode")), str(r.get("ErrorMessage", ""))
                )
                for r in rejected
            ]
            break
    return ImportOutcome(imported, failed, batches, retries, tuple(failures))


def caller_account(clients: Any) -> str | None:
    try:
        identity = clients.client("sts").get_caller_identity()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return None
    account = identity.get("Account")
    return str(account) if account else None
