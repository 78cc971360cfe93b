"""Lab tests need moto; the fixtures come from the phantomkeys.lab.pytest_plugin plugin."""

from __future__ import annotations

import pytest

pytest.importorskip("moto", reason="the lab needs moto: pip install 'phantomkeys[lab]'")
