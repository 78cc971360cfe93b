"""phantomkeys: Bedrock and Claude Platform on AWS API keys and their phantom IAM users.

The curated library API::

    from phantomkeys import decode_key
    key = decode_key("ABSK...")          # offline, raises KeyDecodeError
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from phantomkeys._meta import __version__
from phantomkeys.core.findings import Finding, Rule, Severity
from phantomkeys.core.keys import DecodedKey, KeyDecodeError, KeyKind, KeyPosition
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, SURFACES, Surface, SurfaceId

if TYPE_CHECKING:
    from phantomkeys.core.model import AccountSnapshot
    from phantomkeys.scan import AccountResult


def decode_key(text: str, *, partition: str = "aws") -> DecodedKey:
    """Decode any supported API key offline. Raises :class:`KeyDecodeError`."""
    from phantomkeys.core import keys

    return keys.decode(text, partition=partition)


def scan_account(
    *,
    profile: str | None = None,
    region: str | None = None,
    at: datetime | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Scan the caller's account (read-only) and return the JSON report document."""
    from datetime import UTC

    from phantomkeys.aws.session import AwsContext
    from phantomkeys.scan import scan_account as _scan

    result, _snapshot = _scan(
        AwsContext.from_cli(profile, region), at=at or datetime.now(UTC), fresh=fresh
    )
    return result.to_document()


def assess_snapshot(snapshot: AccountSnapshot, *, at: datetime) -> AccountResult:
    """Assess a saved snapshot offline (no AWS access)."""
    from phantomkeys.scan import assess_snapshot as _assess

    return _assess(snapshot, at=at)


__all__ = [
    "BEDROCK",
    "CLAUDE_PLATFORM",
    "SURFACES",
    "DecodedKey",
    "Finding",
    "KeyDecodeError",
    "KeyKind",
    "KeyPosition",
    "Rule",
    "Severity",
    "Surface",
    "SurfaceId",
    "__version__",
    "assess_snapshot",
    "decode_key",
    "scan_account",
]
