"""The Apache-2.0 licence text is at the root and ships in both the sdist and the wheel."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_license_is_the_apache_2_text() -> None:
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_sdist_and_wheel_ship_the_license(source_tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("build")
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), "."],
        cwd=source_tree,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    licence = (REPO_ROOT / "LICENSE").read_bytes()
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and "LICENSE" in m.name)
        handle = tar.extractfile(member)
        assert handle is not None
        assert handle.read() == licence
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert whl.read(name) == licence
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
