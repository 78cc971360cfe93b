"""Run phantomkeys from compiled bytecode, as an installed wheel does.

pip byte-compiles a package when it installs a wheel, so the peers' CLIs (and
phantomkeys installed from PyPI) never compile their modules at start-up. An
editable install run with ``PYTHONDONTWRITEBYTECODE=1`` (as on CI machines)
would compile every module on every CLI run, ~40 ms that no real install pays.
The benchmarks therefore compile the package once before timing anything.
"""

from __future__ import annotations

import compileall
import os


def ensure_bytecode() -> str:
    """Compile phantomkeys' modules (a no-op when they are up to date); say what was done."""
    import phantomkeys

    package = os.path.dirname(phantomkeys.__file__)
    ok = compileall.compile_dir(package, quiet=1)
    return "byte-compiled, as an installed wheel" if ok else "byte-compilation failed"
