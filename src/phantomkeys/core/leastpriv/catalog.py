"""The IAM catalog seam: what least privilege needs to know about actions (the
scan's catalog implements it; tests pass a small one)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

# ------------------------------------------------------------------ catalog seam


class LeastPrivilegeCatalog(Protocol):
    """What this module needs from :class:`phantomkeys.catalog.IamCatalog`."""

    def canonical_action(self, action: str) -> str | None: ...

    def access_level(self, action: str) -> Any: ...

    def actions_of(self, prefix: str) -> Collection[str]: ...

    def expand(self, pattern: str) -> frozenset[str]: ...

    def resource_arn_formats(self, action: str) -> tuple[str, ...] | None: ...

    def __hash__(self) -> int: ...
