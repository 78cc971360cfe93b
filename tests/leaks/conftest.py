"""Fixtures for the leak scanner tests (helpers live in ``leakfixtures``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from leakfixtures import KEYS, Planted, PlantedKey, write_tree


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Planted]:
    root = tmp_path / "project"
    return root, write_tree(root)


@pytest.fixture
def planted_keys() -> dict[str, PlantedKey]:
    return KEYS
