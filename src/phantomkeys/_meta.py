"""Package identity stamped on every JSON document."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

TOOL_NAME = "phantomkeys"
#: The package version: the one place it is written (pyproject.toml reads it).
#: A literal, because importlib.metadata costs ~30 ms at every CLI start.
__version__ = "0.1.0"
#: Version of the JSON output contract (bumped on incompatible changes only).
SCHEMA_VERSION = "1.0"


def tool_info() -> dict[str, Any]:
    return {"name": TOOL_NAME, "version": __version__}


#: Keys that already say when a document describes, in order of preference: the
#: document time ``metadata.generated_at`` is copied from the first one present
#: (``scan_time`` stays as its alias in scan output).
_TIME_KEYS = ("generated_at", "scan_time")


def envelope(*, generated_at: datetime | str | None = None, **fields: Any) -> dict[str, Any]:
    """The top of every JSON document: ``schema_version`` and ``tool`` first, and
    ``metadata.generated_at`` (ISO 8601 UTC), the one document time key.

    ``generated_at`` defaults to the metadata's own time (``generated_at`` or
    ``scan_time``), then a top-level ``created_at`` (backups), then the clock.
    """
    document = {"schema_version": SCHEMA_VERSION, "tool": tool_info(), **fields}
    metadata = document.get("metadata")
    if not isinstance(metadata, MutableMapping):
        metadata = document["metadata"] = {}
    stamp: Any = generated_at
    for key in _TIME_KEYS:
        if stamp is None:
            stamp = metadata.get(key)
    if stamp is None:
        stamp = fields.get("created_at")
    if stamp is None:
        stamp = datetime.now(UTC)
    if isinstance(stamp, datetime):
        stamp = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["generated_at"] = str(stamp)
    return document
