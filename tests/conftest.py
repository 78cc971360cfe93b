"""Suite-wide rules: slow, benchmark-style tests run only with ``-m slow``; every test
has its own phantomkeys state directory, so no test reads or writes the user's."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("-m") or ""
    if "slow" in markexpr:
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test its own phantomkeys state directory (integrity key, default backups)."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state / "phantomkeys"


@pytest.fixture(autouse=True)
def fresh_global_flags() -> None:
    """The global flags (``--debug -q --no-color``) are process state set by the root
    group; a test that invokes a subcommand directly must not inherit another test's."""
    from phantomkeys.cli.common import GLOBALS

    GLOBALS.debug = GLOBALS.quiet = GLOBALS.no_color = False
