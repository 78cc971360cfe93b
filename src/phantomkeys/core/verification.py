"""What IAM says about a leaked key (``leaks --verify``): the value ``aws/verify.py``
returns and the leak findings carry. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class VerifyStatus(StrEnum):
    """What IAM says about a leaked key's user and credential (``--verify``)."""

    LIVE = "live"  # the user and an active credential (or access key) exist
    INACTIVE = "inactive"  # the credential exists but is Inactive
    DEAD = "dead"  # the user or credential is gone, or the key expired
    UNKNOWN = "unknown"  # not checked, not the caller's account, or a lookup failed


@dataclass(frozen=True, slots=True)
class Verification:
    status: VerifyStatus
    reason: str
    #: Error code of the failed lookup, when ``status`` is unknown because of one.
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_lookup(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "reason": self.reason}
        if self.error:
            out["error"] = self.error
        if self.details:
            out.update(self.details)
        return out
