"""Shared fixtures of the report tests: the canned documents in ``fixtures/``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = ("scan", "hunt", "leaks", "coverage")


def load_fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return loaded


@pytest.fixture
def fixture_doc() -> Callable[[str], dict[str, Any]]:
    """A fresh deep copy of a canned document, safe to mutate."""
    return lambda name: copy.deepcopy(load_fixture(name))


@pytest.fixture(params=COMMANDS)
def any_doc(request: pytest.FixtureRequest) -> dict[str, Any]:
    return copy.deepcopy(load_fixture(request.param))
