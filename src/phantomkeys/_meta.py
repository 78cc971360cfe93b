"""Package identity stamped on every JSON document."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

TOOL_NAME = "phantomkeys"
#: Version of the JSON output contract (bumped on incompatible changes only).
SCHEMA_VERSION = "1.0"

try:
    __version__ = version(TOOL_NAME)
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"


def tool_info() -> dict[str, Any]:
    return {"name": TOOL_NAME, "version": __version__}


def envelope(**fields: Any) -> dict[str, Any]:
    """The top of every JSON document: ``schema_version`` and ``tool`` first."""
    return {"schema_version": SCHEMA_VERSION, "tool": tool_info(), **fields}
