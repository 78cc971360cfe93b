"""``respond/deploy.py``: the deploy flow as a library call (issue 17).

Against the lab's Organization over HTTP, without the CLI: the flow talks only through
the Console it is given and returns a value (steps, run, exit code) the CLI renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from phantomkeys.aws.session import AwsContext
from phantomkeys.core.controls.alerts import build_alert_rules
from phantomkeys.core.controls.deploy import Step, StepStatus
from phantomkeys.core.controls.scp import Preset, ScpOptions, generate_policies
from phantomkeys.respond.base import RespondError
from phantomkeys.respond.deploy import Deployed, deploy_alerts, deploy_scp
from phantomkeys.surfaces import SURFACES

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="org")]

REGION = "us-east-1"
WRITES = ("Create", "Update", "Attach", "Detach", "Delete", "Put", "Remove", "Set", "Enable")


class Recorder:
    """A Console that answers ``answer`` and remembers everything it was told."""

    def __init__(self, answer: bool = False) -> None:
        self.answer = answer
        self.lines: list[tuple[str, str]] = []
        self.questions: list[str] = []
        self.shown: list[tuple[str, int]] = []

    def say(self, text: str) -> None:
        self.lines.append(("say", text))

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warn(self, text: str) -> None:
        self.lines.append(("warn", text))

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer

    def show_steps(self, steps: Sequence[Step], title: str) -> None:
        self.shown.append((title, len(steps)))


@pytest.fixture
def lab(phantomkeys_lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lab:
    monkeypatch.chdir(tmp_path)
    phantomkeys_lab.set_faults(None)
    phantomkeys_lab.reset_stats()
    return phantomkeys_lab


def _writes(lab: Lab) -> dict[str, int]:
    return {
        op: n
        for op, n in lab.stats()["by_operation"].items()
        if op.split(":", 1)[-1].startswith(WRITES)
    }


def _ou(lab: Lab) -> str:
    orgs = lab.client("organizations")
    root = orgs.list_roots()["Roots"][0]["Id"]
    found = orgs.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    return str(found[0]["Id"])


def _scp(ui: Recorder, target: str, **kwargs: object) -> Deployed:
    options = ScpOptions(presets=(Preset.BLOCK_ALL,))
    arguments: dict[str, object] = {
        "dry_run": False,
        "enable_policy_type": False,
        "yes": False,
        "interactive": True,
        "backup_dir": "bk",
        **kwargs,
    }
    return deploy_scp(
        ui,
        AwsContext(session=boto3.session.Session(region_name=REGION)),
        policies=generate_policies(options),
        base_name=options.base_name,
        targets=[target],
        **arguments,  # type: ignore[arg-type]
    )


def test_a_declined_question_writes_nothing_and_returns_cancelled(lab: Lab) -> None:
    ui = Recorder(answer=False)
    result = _scp(ui, _ou(lab))
    assert result.cancelled and result.code == 0 and result.run is None
    assert ui.shown == [("plan", len(result.steps))]
    assert ui.questions and ui.questions[0].startswith("Apply ")
    assert ("info", "cancelled; nothing was changed") in ui.lines
    assert _writes(lab) == {}


def test_no_terminal_and_no_yes_is_refused_before_any_write(lab: Lab) -> None:
    ui = Recorder(answer=True)
    with pytest.raises(RespondError) as refused:
        _scp(ui, _ou(lab), interactive=False)
    assert refused.value.message == "not applying without confirmation"
    assert refused.value.code == 2
    assert ui.questions == []
    assert _writes(lab) == {}


def test_yes_applies_returns_the_run_and_a_rerun_has_nothing_to_do(lab: Lab) -> None:
    target = _ou(lab)
    ui = Recorder()
    result = _scp(ui, target, yes=True)
    assert result.code == 0 and result.title == "result" and result.run is not None
    assert all(s.status is not StepStatus.PENDING for s in result.steps)
    assert any(kind == "info" and text.startswith("backup: ") for kind, text in ui.lines)
    assert _writes(lab)
    document = result.to_json()
    assert document["dry_run"] is False and document["run"]["status"]
    again = Recorder()
    rerun = _scp(again, target)
    assert rerun.run is None and again.questions == [] and again.shown == []
    assert ("info", "nothing to do: every policy is up to date and attached") in again.lines


def test_an_alerts_dry_run_returns_the_plan_and_writes_nothing(lab: Lab) -> None:
    ui = Recorder(answer=True)
    result = deploy_alerts(
        ui,
        AwsContext(session=boto3.session.Session(region_name=REGION)),
        rules=build_alert_rules(SURFACES),
        regions=[],
        topic_name="phantomkeys-test-alerts",
        topic_given={},
        dry_run=True,
        yes=False,
        interactive=False,
        backup_dir="bk",
    )
    assert result.dry_run and result.title == "plan (dry run)" and result.code == 0
    assert result.steps and all(s.status is StepStatus.PENDING for s in result.steps)
    assert "run" not in result.to_json()
    assert ui.questions == [] and _writes(lab) == {}
