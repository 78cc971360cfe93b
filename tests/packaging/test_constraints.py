"""constraints.txt (exact versions for CI, the demo and the Action) agrees with
pyproject.toml: every dependency of every extra is pinned, within its declared bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)$")


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, raw in enumerate((REPO_ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"constraints.txt:{n}: not an exact pin: {raw!r}"
        name = canonicalize_name(m["name"])
        assert name not in pins, f"constraints.txt:{n}: {name} pinned twice"
        pins[name] = Version(m["version"])
    return pins


def _requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    out = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, reqs in project["optional-dependencies"].items():
        out += [(f"[{extra}]", Requirement(r)) for r in reqs]
    return out


def test_constraints_file_shape() -> None:
    pins = _pins()
    assert len(pins) > 50  # transitive dependencies too
    assert "phantomkeys" not in pins
    assert list(pins) == sorted(pins), "sorted by name, so a refresh's diff is readable"


@pytest.mark.slow
def test_constraints_pin_every_dependency_within_its_bounds() -> None:
    pins = _pins()
    problems = []
    for where, req in _requirements():
        name = canonicalize_name(req.name)
        if name == "phantomkeys":
            continue  # an extra naming another extra of this project
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name not in pins:
            problems.append(f"{where} {req}: not pinned in constraints.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{where} {req}: constraints.txt pins {pins[name]}")
    assert not problems, "run scripts/refresh-constraints:\n" + "\n".join(problems)


def test_installers_use_the_constraints() -> None:
    for script in ("scripts/test", "scripts/demo"):
        text = (REPO_ROOT / script).read_text()
        assert "-c constraints.txt" in text, script
    assert "constraints.txt" in (REPO_ROOT / "action.yml").read_text()
