"""Fixtures for the safer-path tests: the IAM catalog, realistic CloudTrail, fake credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phantomkeys.catalog import IamCatalog, default_catalog

from .helpers import aws_env, load_activity


@pytest.fixture(scope="session")
def catalog() -> IamCatalog:
    return default_catalog()


@pytest.fixture(scope="session")
def activity() -> list[dict[str, Any]]:
    return load_activity()


@pytest.fixture
def isolated_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Apply :func:`aws_env` to the process (for direct calls to the AWS adapter)."""
    for name, value in aws_env(tmp_path).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return tmp_path
