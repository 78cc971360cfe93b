"""The response library on its own (issue 17, a thin CLI): it returns values, asks and
talks through the Console it is given, and never exits or writes before a yes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.respond.fixtures import ACCOUNT, NOW, phantom

from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.plans import RevokeOptions, build_revoke_plan
from phantomkeys.respond import Aws, RespondError
from phantomkeys.respond.jobs import Job, Session, run_jobs
from phantomkeys.respond.restore import restore


class Recorder:
    """A Console that records what the library says and answers the question."""

    def __init__(self, answer: bool = False) -> None:
        self.answer = answer
        self.said: list[str] = []
        self.notes: list[str] = []
        self.questions: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def info(self, text: str) -> None:
        self.notes.append(text)

    def warn(self, text: str) -> None:
        self.notes.append("warning: " + text)

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer


def _aws() -> Aws:
    return Aws(ctx=None, account_id=ACCOUNT, caller_arn=f"arn:aws:iam::{ACCOUNT}:user/me")


def _job() -> Job:
    state = phantom()
    plan = build_revoke_plan(state, RevokeOptions(), at=NOW)
    assert plan.steps

    def never() -> object:
        raise AssertionError("no state is re-read before a yes")

    return Job(plan=plan, read_state=never, rebuild=never)  # type: ignore[arg-type]


def test_a_declined_question_writes_nothing_and_is_a_refusal(tmp_path: Path) -> None:
    ui = Recorder(answer=False)
    session = Session(command="revoke", aws=_aws(), ui=ui, dry_run=False)
    with pytest.raises(RespondError) as refused:
        run_jobs(session, [_job()], yes=False, backup_dir=str(tmp_path), now=NOW)
    assert refused.value.code == ExitCode.USAGE
    assert refused.value.message == "not confirmed: nothing was written"
    assert len(ui.questions) == 1 and ui.questions[0].startswith("Apply ")
    assert any("revoke user BedrockAPIKey-hr8l" in text for text in ui.said)
    assert not any(tmp_path.rglob("*.json"))  # no backup before the yes


def test_a_dry_run_returns_the_plan_as_a_value(tmp_path: Path) -> None:
    ui = Recorder()
    session = Session(command="revoke", aws=_aws(), ui=ui, dry_run=True)
    response = run_jobs(session, [_job()], yes=False, backup_dir=str(tmp_path), now=NOW)
    assert response.code == ExitCode.OK
    assert [p.subject for p in response.plans] == ["BedrockAPIKey-hr8l"]
    assert response.runs == []
    assert ui.said[-1] == "dry run: nothing was written"
    assert ui.questions == []
    assert any(note.startswith("backups and journals: ") for note in ui.notes)


def test_restore_refuses_a_missing_backup_before_any_aws_call(tmp_path: Path) -> None:
    def connect() -> Aws:
        raise AssertionError("a bad file is refused before connecting")

    with pytest.raises(RespondError) as refused:
        restore(
            str(tmp_path / "missing.json"),
            connect=connect,
            allow_unverified=False,
            ui=Recorder(),
            yes=True,
            dry_run=False,
            backup_dir=str(tmp_path),
            now=NOW,
        )
    assert refused.value.code == ExitCode.USAGE
    assert "not found" in refused.value.message
