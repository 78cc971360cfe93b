"""``trail.hunt.hunt`` and ``trail.timeline.timeline``: the one library function behind each
command (issue 17, a thin CLI). They return a value, print nothing, and raise the
command's error carrying its exit code; the CLI renders exactly their document."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from trailkit import example_records

from phantomkeys.cli import cli
from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.trail.hunt import AthenaRequest, HuntError, HuntRequest, hunt
from phantomkeys.trail.pack import load_pack
from phantomkeys.trail.timeline import TimelineError, TimelineRequest, timeline

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PACK = load_pack()


def _no_aws() -> Any:
    raise AssertionError("local sources need no AWS context")


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def trail_dir(tmp_path: Path, write_trail: Callable[..., Path]) -> Path:
    write_trail(example_records("phantom-user-credential-added"), n=1)
    write_trail(example_records("bearer-token-call"), region="us-west-2", n=2)
    return tmp_path


def _comparable(doc: dict[str, Any], *clock: str) -> dict[str, Any]:
    """The document without what depends on the clock of the run."""
    meta = dict(doc["metadata"])
    for volatile in ("generated_at", "elapsed_seconds", *clock):
        meta.pop(volatile, None)
    return {**doc, "metadata": meta}


def test_hunt_returns_the_document_the_cli_prints(
    trail_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[int, int]] = []
    outcome = hunt(
        HuntRequest(sources=[str(trail_dir)], pack=PACK, generated_at=NOW, threads=1),
        progress=lambda files, records: calls.append((files, records)),
    )
    assert capsys.readouterr() == ("", "")  # the library prints nothing
    assert outcome.complete
    assert outcome.document["metadata"]["generated_at"] == "2026-12-01T00:00:00Z"
    assert outcome.document["coverage"] == outcome.coverage.to_json()
    assert [f.to_dict() for f in outcome.findings] == outcome.document["findings"]
    assert outcome.findings[0].rule_id == "incident"
    assert calls and calls[-1][0] == 2  # progress: both files read

    printed = _run("hunt", str(trail_dir), "--format", "json", "--fail-on", "never")
    assert printed.exit_code == 0
    assert _comparable(json.loads(printed.stdout)) == _comparable(outcome.document)


def test_hunt_of_an_empty_folder_is_an_incomplete_outcome(tmp_path: Path) -> None:
    outcome = hunt(HuntRequest(sources=[str(tmp_path)], pack=PACK, generated_at=NOW))
    assert not outcome.complete
    assert outcome.findings == ()


def test_hunt_errors_carry_the_exit_code_the_cli_maps(trail_dir: Path) -> None:
    with pytest.raises(HuntError, match="no such file or directory") as missing:
        hunt(HuntRequest(sources=[str(trail_dir / "nope")], pack=PACK, generated_at=NOW))
    assert missing.value.code == ExitCode.USAGE
    with pytest.raises(HuntError, match="reads s3:// sources only") as athena:
        hunt(
            HuntRequest(
                sources=[str(trail_dir)],
                pack=PACK,
                generated_at=NOW,
                engine="athena",
                ctx_factory=_no_aws,
            )
        )
    assert athena.value.code == ExitCode.USAGE
    with pytest.raises(HuntError, match="--athena-output") as output:
        hunt(
            HuntRequest(
                sources=["s3://trail-bucket/"],
                pack=PACK,
                generated_at=NOW,
                engine="athena",
                athena=AthenaRequest(output="s3://x'/"),
                ctx_factory=_no_aws,
            )
        )
    assert output.value.code == ExitCode.USAGE


def _user_of(records: list[dict[str, Any]]) -> str:
    for rec in records:
        name = (rec.get("userIdentity") or {}).get("userName")
        if name:
            return str(name)
    raise AssertionError("no user in the example")


def test_timeline_from_files_returns_its_document_and_coverage(
    trail_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = _user_of(example_records("phantom-user-credential-added"))
    outcome = timeline(
        TimelineRequest(
            target=user, now=NOW, ctx_factory=_no_aws, days=3650, sources=[str(trail_dir)]
        )
    )
    assert capsys.readouterr() == ("", "")
    assert not outcome.incomplete
    assert outcome.coverage is not None and outcome.coverage.complete
    assert outcome.document["metadata"]["source"] == "files"
    assert outcome.document["metadata"]["events"] > 0
    assert outcome.errors == [] and outcome.deleted is None

    printed = _run("timeline", user, "--from", str(trail_dir), "--days", "3650", "--format", "json")
    assert printed.exit_code == 0
    window = ("since", "until")  # the CLI's now
    assert _comparable(json.loads(printed.stdout), *window) == _comparable(
        outcome.document, *window
    )


def test_timeline_errors_and_incomplete_reads(tmp_path: Path) -> None:
    empty = timeline(
        TimelineRequest(target="alice", now=NOW, ctx_factory=_no_aws, sources=[str(tmp_path)])
    )
    assert empty.incomplete and empty.coverage is not None and not empty.coverage.complete
    with pytest.raises(TimelineError, match="no such file or directory"):
        timeline(
            TimelineRequest(
                target="alice", now=NOW, ctx_factory=_no_aws, sources=[str(tmp_path / "nope")]
            )
        )


def test_profile_values_do_not_depend_on_the_order_the_engine_returns_rows() -> None:
    """DuckDB's GROUP BY returns rows in any order: the incident's score-part details
    (``http_tool 20 (python-requests/2.32.3, Python/3.11 ...)``) changed from one run to
    the next on the same files. The profile lists values by first use, then by value."""
    from phantomkeys.trail.incidents import build_profile

    def row(kind: str, value: str, first: str) -> dict[str, Any]:
        return {
            "a": "111122223333",
            "p": "alice",
            "kind": kind,
            "v": value,
            "first_seen": first,
            "last_seen": "2026-11-20T10:05:00Z",
            "events": 1,
            "invocations": 0,
        }

    rows = [
        row("ua", "python-requests/2.32.3", "2026-11-20T10:00:00Z"),
        row("ua", "Python/3.11 aiohttp/3.9.5", "2026-11-20T10:00:00Z"),
        row("ua", "curl/8.5.0", "2026-11-20T09:00:00Z"),
        row("all", "", "2026-11-20T09:00:00Z"),
    ]
    orders = {
        tuple(
            u.value
            for p in build_profile(list(ordered), []).principals.values()
            for u in p.values["ua"]
        )
        for ordered in (rows, rows[::-1], rows[1:] + rows[:1])
    }
    assert orders == {("curl/8.5.0", "Python/3.11 aiohttp/3.9.5", "python-requests/2.32.3")}


def test_event_ids_of_the_same_second_are_listed_in_one_order(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    """Events of the same second came out in the engine's order of the day, so two hunts
    of the same files gave two documents; ties are broken by the event id."""
    first = example_records("api-key-created")[0]
    ids = [f"0000000{n}-0000-5000-8000-000000000000" for n in range(9, 3, -1)]
    write_trail([{**first, "eventID": i} for i in ids])
    outcome = hunt(HuntRequest(sources=[str(tmp_path)], pack=PACK, generated_at=NOW))
    created = [f for f in outcome.findings if f.rule_id == "api-key-created"]
    assert created and created[0].evidence["event_ids"] == sorted(ids)
