"""The pytest fixtures users get with phantomkeys[lab]."""

from __future__ import annotations

import os

import boto3
import pytest

from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.lab


def test_fixture_points_boto3_at_the_lab_and_away_from_real_credentials(
    phantomkeys_lab: Lab,
) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == phantomkeys_lab.endpoint_url
    assert "AWS_PROFILE" not in os.environ
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert boto3.client("sts").get_caller_identity()["Account"] == "111111111111"
    assert phantomkeys_lab.scenario == "demo"


def test_factory_gives_reset_labs(phantomkeys_lab_factory: object) -> None:
    factory = phantomkeys_lab_factory
    assert callable(factory)
    lab = factory(scenario="empty")
    iam = boto3.client("iam")
    iam.create_user(UserName="left-behind")
    assert lab.manifest["scenario"] == "empty"
    again = factory(scenario="empty")
    assert again is lab  # one lab per configuration per session ...
    assert boto3.client("iam").list_users()["Users"] == []  # ... reset for each request


@pytest.mark.phantomkeys_lab(users=12, phantoms=4, accounts=1, seed=5)
def test_marker_selects_counts(phantomkeys_lab: Lab) -> None:
    assert phantomkeys_lab.member_account_ids == ["222222222222"]
    users = boto3.client("iam").list_users()["Users"]
    assert len(users) == 12
    member = phantomkeys_lab.client("iam", "222222222222")
    assert len(member.list_users()["Users"]) == 12


def test_session_fixture_is_the_shared_demo_lab(
    phantomkeys_lab_session: Lab, phantomkeys_lab: Lab
) -> None:
    assert phantomkeys_lab_session is phantomkeys_lab


def test_the_plugin_imports_without_moto() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['moto'] = None\n"
        "import phantomkeys.lab.pytest_plugin as plugin\n"
        "from phantomkeys.lab import lab_available\n"
        "assert not lab_available()\n"
        "assert 'moto' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "assert 'boto3' not in sys.modules\n"
        "pool = plugin.LabPool()\n"
        "import _pytest.outcomes as o\n"
        "try:\n"
        "    pool.get(scenario='demo')\n"
        "except o.Skipped as skip:\n"
        "    print('skipped:', skip.msg)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "skipped: the phantomkeys lab needs moto" in out.stdout
