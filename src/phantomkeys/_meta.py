"""Package identity stamped on every JSON document."""

from __future__ import annotations

from typing import Any

TOOL_NAME = "phantomkeys"
#: The package version: the one place it is written (pyproject.toml reads it).
#: A literal, because importlib.metadata costs ~30 ms at every CLI start.
__version__ = "0.1.0"
#: Version of the JSON output contract (bumped on incompatible changes only).
SCHEMA_VERSION = "1.0"


def tool_info() -> dict[str, Any]:
    return {"name": TOOL_NAME, "version": __version__}


def envelope(**fields: Any) -> dict[str, Any]:
    """The top of every JSON document: ``schema_version`` and ``tool`` first."""
    return {"schema_version": SCHEMA_VERSION, "tool": tool_info(), **fields}
