"""Lab tests need moto; the fixtures come from the phantomkeys.lab.pytest_plugin plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("moto", reason="the lab needs moto: pip install 'phantomkeys[lab]'")

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Benchmark-style lab tests (``slow``) run only when asked for with ``-m slow``."""
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords and _HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)
