"""pytest fixtures for the phantomkeys lab (registered as the ``phantomkeys_lab`` plugin).

Usable by your own tests once ``phantomkeys[lab]`` is installed::

    def test_no_orphans(phantomkeys_lab):            # the demo lab, reset, env set
        iam = boto3.client("iam")                     # reaches the lab via AWS_ENDPOINT_URL
        ...

    @pytest.mark.phantomkeys_lab(scenario="org")      # another scenario ...
    def test_org(phantomkeys_lab): ...

    @pytest.mark.phantomkeys_lab(users=200, phantoms=20, accounts=1)   # ... or counts
    def test_counts(phantomkeys_lab): ...

    def test_two(phantomkeys_lab_factory):            # several labs in one test
        org = phantomkeys_lab_factory(scenario="org")

Fixtures:

* ``phantomkeys_lab`` (function): a lab reset to its seeded state, with every
  ``AWS_*`` variable replaced by the lab's (endpoint, admin credentials,
  us-east-1) and ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` pointed at
  nothing, so real credentials are never used (boto3's cached default session
  is dropped too). Demo scenario unless the test
  carries a ``phantomkeys_lab(...)`` marker (arguments of ``Lab.start``).
* ``phantomkeys_lab_factory`` (function): ``factory(**Lab.start kwargs) -> Lab``,
  reset, environment set to the last lab asked for.
* ``phantomkeys_lab_session`` (session): the demo lab itself (not reset, no
  environment change), for read-only use.

Labs are started once per distinct configuration per test session (each
pytest-xdist worker has its own) and stopped at the end; a reset restores a
snapshot inside the server (tens of milliseconds). Tests are skipped when moto
is not installed. Importing this module imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

MARKER = "phantomkeys_lab"
_DEFAULT_CONFIG: dict[str, Any] = {"scenario": "demo"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(scenario=None, users=0, phantoms=0, accounts=0, seed=0, faults=None): "
        "which lab the phantomkeys_lab fixture gives this test",
    )


class LabPool:
    """Started labs, one per configuration, for the whole session."""

    def __init__(self) -> None:
        self._labs: dict[tuple[tuple[str, Any], ...], Lab] = {}

    def get(self, **config: Any) -> Lab:
        from phantomkeys.lab import lab_available

        if not lab_available():
            pytest.skip("the phantomkeys lab needs moto: pip install 'phantomkeys[lab]'")
        key = tuple(sorted(config.items()))
        lab = self._labs.get(key)
        if lab is None or not lab.running:
            from phantomkeys.lab.lab import Lab

            lab = Lab.start(**config)
            self._labs[key] = lab
        return lab

    def close(self) -> None:
        for lab in self._labs.values():
            lab.request_stop()  # all at once, then wait for each
        for lab in self._labs.values():
            lab.stop()
        self._labs.clear()


def point_environment_at(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every AWS_* variable with the lab's, so boto3 can only reach the lab."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    for key, value in lab.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # boto3's default session caches the credentials it first resolved: drop it, so
    # boto3.client() in the test reads the lab's environment.
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture(scope="session")
def phantomkeys_lab_pool() -> Iterator[LabPool]:
    pool = LabPool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def phantomkeys_lab_session(phantomkeys_lab_pool: LabPool) -> Lab:
    return phantomkeys_lab_pool.get(**_DEFAULT_CONFIG)


@pytest.fixture
def phantomkeys_lab(
    request: pytest.FixtureRequest, phantomkeys_lab_pool: LabPool, monkeypatch: pytest.MonkeyPatch
) -> Lab:
    marker = request.node.get_closest_marker(MARKER)
    config = dict(marker.kwargs) if marker is not None else dict(_DEFAULT_CONFIG)
    lab = phantomkeys_lab_pool.get(**config)
    lab.reset()
    point_environment_at(lab, monkeypatch)
    return lab


@pytest.fixture
def phantomkeys_lab_factory(
    phantomkeys_lab_pool: LabPool, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Lab]:
    def factory(**config: Any) -> Lab:
        lab = phantomkeys_lab_pool.get(**(config or _DEFAULT_CONFIG))
        lab.reset()
        point_environment_at(lab, monkeypatch)
        return lab

    return factory
