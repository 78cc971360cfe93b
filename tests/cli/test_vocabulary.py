"""One vocabulary (``cli/options.py``): every command, new spellings, old spellings.

For every command: the shared spellings appear in ``--help`` and work; the old
spellings are hidden from ``--help``, still work for one release, and print a
one-line deprecation warning naming the new spelling. Against the lab over HTTP.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pytest
from click.testing import CliRunner, Result

from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.lab.scenarios import DEMO_VICTIM
from phantomkeys.surfaces import BEDROCK

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

ACCOUNT = "111111111111"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def run(args: list[str], stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def deprecation(old: str, new: str) -> str:
    return f"{old} is deprecated and will be removed in the next release; use {new}"


def timeless(value: Any) -> Any:
    """``value`` with every timestamp and measured duration blanked."""
    if isinstance(value, dict):
        return {
            k: "<measured>" if "seconds" in k or k == "generated_at" else timeless(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [timeless(v) for v in value]
    if isinstance(value, str):
        return _TIME.sub("<time>", value)
    return value


# ------------------------------------------------------------------ --help


def _commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(cli)

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        else:
            found.append((" ".join(path), command))

    walk(cli, [])
    return found


COMMANDS = dict(_commands())

#: command -> spellings its --help must show.
SHOWN: dict[str, list[str]] = {
    "scan": ["-j, --jobs", "--account ID[,ID…]", "--exclude ID[,ID…]"],
    "audit": ["-j, --jobs", "--account ID[,ID…]", "--exclude ID[,ID…]"],
    "hunt": ["-j, --jobs", "--since TIME", "--until TIME"],
    "leaks": ["-j, --jobs", "--at TIME"],
    "decode": ["--at TIME"],
    "least-privilege": ["--at TIME", "--regions all|R[,R…]", "--account ID[,ID…]"],
    "timeline": ["--regions all|R[,R…]"],
    "report": ["--regions R[,R…]"],
    "alerts deploy": ["--regions R[,R…]", "-y, --yes", "--dry-run"],
    "scp deploy": ["-y, --yes", "--dry-run"],
    "scp coverage": ["--account ID[,ID…]"],
    "scp generate": ["--output-dir DIR"],
    "demo": ["--output-dir DIR"],
    "revoke": ["-y, --yes", "--dry-run"],
    "cleanup": ["-y, --yes", "--dry-run"],
    "restore": ["-y, --yes", "--dry-run"],
}
#: Old spellings: hidden everywhere (``lab``'s --accounts is a count, not a filter).
OLD = ["--max-workers", "--threads", "--accounts", "--account-id", "--trail-region", "--out"]


def _help(path: str) -> str:
    result = run([*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_listed_command_exists() -> None:
    assert set(SHOWN) <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(SHOWN))
def test_new_spellings_are_in_help(path: str) -> None:
    text = _help(path)
    for spelling in SHOWN[path]:
        assert spelling in text, f"{path} --help lacks {spelling}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_old_spellings_are_hidden_from_every_help(path: str) -> None:
    text = _help(path)
    for old in OLD:
        if path.startswith("lab ") and old == "--accounts":
            continue
        assert not re.search(rf"{re.escape(old)}\b(?![-\w])", text), f"{path} --help shows {old}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_time_options_take_iso_or_an_age(path: str) -> None:
    """Every --since/--until/--at says it takes an age, and rejects garbage the same way."""
    command = COMMANDS[path]
    for param in command.params:
        if isinstance(param, click.Option) and set(param.opts) & {"--since", "--until", "--at"}:
            flag = param.opts[0]
            assert "7d" in (param.help or ""), f"{path} {flag}"
            result = run([*path.split(), flag, "next tuesday"])
            assert result.exit_code == 2
            assert f"{flag}: 'next tuesday' is not a time" in result.stderr


# ------------------------------------------------------------------ times


ISSUED_7D_AGO = keys.mint_short_term(
    BEDROCK,
    access_key_id="AKIAY34FZKBOKMUTVV7A",
    secret_access_key="x" * 40,
    region="us-west-2",
    issued_at=datetime.now(UTC) - timedelta(days=7, hours=1),
    lifetime_seconds=12 * 3600,
)


def test_decode_at_takes_a_relative_age() -> None:
    """``--at 7d`` was a usage error; now it judges expiry 7 days ago."""
    now = run(["decode", "--format", "json", "-"], stdin=ISSUED_7D_AGO)
    then = run(["decode", "--format", "json", "--at", "7d", "-"], stdin=ISSUED_7D_AGO)
    assert now.exit_code == 0 and then.exit_code == 0, then.output
    assert json.loads(now.stdout)["results"][0]["expired"] is True
    doc = json.loads(then.stdout)
    assert doc["results"][0]["expired"] is False  # an hour old, 7 days ago
    at = datetime.fromisoformat(doc["at"])
    assert abs(at - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=5)


def test_decode_at_takes_an_offset() -> None:
    result = run(
        ["decode", "--format", "json", "--at", "2026-11-29T11:00:00+01:00", "-"], stdin="x"
    )
    assert json.loads(result.stdout)["at"] == "2026-11-29T10:00:00Z"


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--org", "--account", "12345"],
        ["scan", "--org", "--account", "111111111111,abc"],
        ["scp", "coverage", "--account", "1111111111111"],
        ["least-privilege", "x", "--account", "nope"],
    ],
)
def test_account_ids_are_validated(args: list[str]) -> None:
    result = run(args)
    assert result.exit_code == 2
    assert "is not a 12-digit AWS account id" in result.stderr


def test_one_account_where_a_command_acts_in_one() -> None:
    result = run(["least-privilege", "x", "--account", "111111111111,222222222222"])
    assert result.exit_code == 2 and "give one account id here" in result.stderr


@pytest.mark.parametrize("path", ["report", "alerts deploy"])
def test_regions_all_is_refused_where_regions_are_added_explicitly(path: str) -> None:
    result = run([*path.split(), *(["someone"] if path == "report" else []), "--regions", "all"])
    assert result.exit_code == 2 and "'all' is not accepted" in result.stderr


# ------------------------------------------------------------------ against the lab


@pytest.mark.lab
def test_scan_jobs_and_max_workers(phantomkeys_lab: Lab) -> None:
    new = run(["scan", "-j", "2", "--format", "json", "--no-history"])
    phantomkeys_lab.reset()  # a scan leaves a generated credential report behind
    old = run(["scan", "--max-workers", "2", "--format", "json", "--no-history"])
    assert new.exit_code == old.exit_code and new.exit_code in (0, 1), old.output
    assert "deprecated" not in new.stderr
    assert deprecation("--max-workers", "-j/--jobs") in old.stderr
    assert timeless(json.loads(new.stdout)) == timeless(json.loads(old.stdout))


@pytest.mark.lab
@pytest.mark.phantomkeys_lab(scenario="org")
def test_org_scan_account_and_accounts(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    one, two = [
        a["account_id"]
        for a in phantomkeys_lab.manifest["accounts"]
        if a["reachable_with_org_role"] and not a["faults"] and a["account_id"] != ACCOUNT
    ][:2]
    checkpoint = str(tmp_path / "checkpoint.jsonl")
    base = ["scan", "--org", "--format", "json", "--no-history", "--checkpoint", checkpoint]
    new = run([*base, "--account", one, "--account", two])
    phantomkeys_lab.reset()
    comma = run([*base, "--account", f"{one},{two}"])
    phantomkeys_lab.reset()
    old = run([*base, "--accounts", f"{one},{two}"])
    for result in (new, comma, old):
        assert result.exit_code in (0, 1), result.output
        doc = json.loads(result.stdout)
        assert sorted(a["account_id"] for a in doc["accounts"]) == sorted([one, two])
    assert deprecation("--accounts", "--account") in old.stderr
    assert "deprecated" not in new.stderr + comma.stderr


@pytest.mark.lab
def test_hunt_jobs_and_threads(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    phantomkeys_lab.write_cloudtrail(tmp_path)
    base = ["hunt", str(tmp_path), "--format", "json", "--since", "400d", "--fail-on", "never"]
    new = run([*base, "-j", "1"])
    old = run([*base, "--threads", "1"])
    assert new.exit_code == old.exit_code == 0, old.output
    assert deprecation("--threads", "-j/--jobs") in old.stderr
    new_doc, old_doc = json.loads(new.stdout), json.loads(old.stdout)
    assert new_doc["findings"] and timeless(new_doc["findings"]) == timeless(old_doc["findings"])


@pytest.mark.lab
def test_report_regions_and_trail_region(phantomkeys_lab: Lab) -> None:
    base = ["report", DEMO_VICTIM, "--format", "json"]
    new = run([*base, "--regions", "us-west-2,eu-west-1"])
    phantomkeys_lab.reset()  # each report on the lab as seeded
    repeated = run([*base, "--regions", "us-west-2", "--regions", "eu-west-1"])
    phantomkeys_lab.reset()
    old = run([*base, "--trail-region", "us-west-2", "--trail-region", "eu-west-1"])
    assert new.exit_code == repeated.exit_code == old.exit_code, old.output
    assert deprecation("--trail-region", "--regions") in old.stderr
    docs = [timeless(json.loads(r.stdout)) for r in (new, repeated, old)]
    assert docs[0] == docs[1] == docs[2]


@pytest.mark.lab
def test_timeline_regions_repeatable(phantomkeys_lab: Lab) -> None:
    base = ["timeline", DEMO_VICTIM, "--format", "json"]
    comma = run([*base, "--regions", "us-east-1,us-west-2"])
    repeated = run([*base, "--regions", "us-east-1", "--regions", "us-west-2"])
    assert comma.exit_code == repeated.exit_code == 0, comma.output
    assert timeless(json.loads(comma.stdout)) == timeless(json.loads(repeated.stdout))
    assert json.loads(comma.stdout)["events"]


@pytest.mark.lab
def test_least_privilege_account_and_account_id(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    phantomkeys_lab.write_cloudtrail(tmp_path)
    user = "BedrockAPIKey-a1b2"
    base = ["least-privilege", user, "--from", str(tmp_path), "--days", "3650", "--format", "json"]
    new = run([*base, "--account", ACCOUNT])
    old = run([*base, "--account-id", ACCOUNT])
    assert new.exit_code == old.exit_code == 0, old.output
    assert deprecation("--account-id", "--account") in old.stderr
    assert timeless(json.loads(new.stdout)) == timeless(json.loads(old.stdout))
    wrong = run([*base, "--at", "now", "--account", "222222222222"])
    assert wrong.exit_code in (0, 2)  # from logs the account is the user's; never a traceback


@pytest.mark.lab
@pytest.mark.phantomkeys_lab(scenario="org")
def test_scp_deploy_takes_y(phantomkeys_lab: Lab) -> None:
    """``-y`` was missing on scp deploy (only --yes): every writing command takes it."""
    member = phantomkeys_lab.member_account_ids[0]
    args = ["scp", "deploy", "--preset", "block-all", "--target", member, "--format", "json"]
    dry = run([*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    applied = run([*args, "-y", "--enable-policy-type"])
    assert applied.exit_code == 0, applied.output
    org = phantomkeys_lab.client("organizations")
    attached = org.list_policies_for_target(TargetId=member, Filter="SERVICE_CONTROL_POLICY")
    assert any(p["Name"].startswith("phantomkeys") for p in attached["Policies"])


@pytest.mark.lab
def test_alerts_deploy_takes_y_and_repeated_regions(phantomkeys_lab: Lab) -> None:
    args = ["alerts", "deploy", "--regions", "us-east-1", "--regions", "us-west-2"]
    result = run([*args, "-y", "--format", "json"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert {"us-east-1", "us-west-2"} <= {s.get("region") for s in steps}


@pytest.mark.lab
@pytest.mark.parametrize("flag", ["--output-dir", "--out"])
def test_demo_output_dir_and_out(flag: str, tmp_path: Path) -> None:
    result = run(["-q", "demo", flag, str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "scan.json").is_file()
    if flag == "--out":
        assert deprecation("--out", "--output-dir") in result.stderr
    else:
        assert "deprecated" not in result.stderr
    assert result.stderr.count("\n") <= 1  # -q: no tour, no progress, no notes


def test_scp_generate_output_dir(tmp_path: Path) -> None:
    result = run(
        [
            "scp",
            "generate",
            "--preset",
            "block-all",
            "--format",
            "json",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    assert list(tmp_path.glob("*.json"))


# ------------------------------------------------------------------ -q


@pytest.mark.lab
def test_quiet_silences_progress_and_notes(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    loud = run(["scan", "--format", "json", "--no-history", "-o", str(out)])
    quiet = run(["-q", "scan", "--format", "json", "--no-history", "-o", str(out)])
    assert loud.exit_code == quiet.exit_code and loud.exit_code in (0, 1)
    assert "scanning:" in loud.stderr and f"wrote {out}" in loud.stderr
    assert "scanning:" not in quiet.stderr and "wrote" not in quiet.stderr
    assert json.loads(out.read_text())["accounts"]


# ------------------------------------------------------------------ metadata.generated_at


FULL_ACCESS = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _documents(lab: Lab, tmp: Path) -> dict[str, list[str]]:
    lab.write_cloudtrail(tmp / "trail")
    scp = tmp / "scp.json"
    scp.write_text(json.dumps({"Version": "2012-10-17", "Statement": [FULL_ACCESS]}))
    (tmp / "repo").mkdir()
    (tmp / "repo" / "k.env").write_text(f"KEY={ISSUED_7D_AGO}\n")
    return {
        "decode": ["decode", "--format", "json", "-"],
        "scan": ["scan", "--format", "json", "--history", str(tmp / "h.db")],
        "report": ["report", DEMO_VICTIM, "--format", "json"],
        "timeline": ["timeline", DEMO_VICTIM, "--format", "json", "--regions", "us-east-1"],
        "hunt": ["hunt", str(tmp / "trail"), "--format", "json", "--fail-on", "never"],
        "leaks": ["leaks", str(tmp / "repo"), "--format", "json", "--fail-on", "never"],
        "revoke": [
            "revoke",
            DEMO_VICTIM,
            "--dry-run",
            "--format",
            "json",
            "--backup-dir",
            str(tmp / "b"),
        ],
        "cleanup": ["cleanup", "--dry-run", "--format", "json", "--backup-dir", str(tmp / "b")],
        "least-privilege": [
            "least-privilege",
            "BedrockAPIKey-a1b2",
            "--from",
            str(tmp / "trail"),
            "--days",
            "3650",
            "--format",
            "json",
        ],
        "scp coverage": ["scp", "coverage", "--format", "json", "--policy", str(scp)],
        "alerts deploy": ["alerts", "deploy", "--dry-run", "--format", "json"],
        "history list": ["history", "list", "--format", "json", "--history", str(tmp / "h.db")],
        "lab scenarios": ["lab", "scenarios", "--format", "json"],
    }


@pytest.mark.lab
def test_every_json_document_has_metadata_generated_at(
    phantomkeys_lab: Lab, tmp_path: Path
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    for name, args in _documents(phantomkeys_lab, tmp_path).items():
        result = run(args, stdin=ISSUED_7D_AGO if name == "decode" else None)
        assert result.exit_code in (0, 1), f"{name}: {result.output}"
        doc = json.loads(result.stdout)
        assert doc["schema_version"] and doc["tool"]["name"] == "phantomkeys", name
        stamp = doc["metadata"]["generated_at"]
        assert ISO.match(stamp), f"{name}: {stamp!r}"
        if name != "scp coverage":
            assert datetime.fromisoformat(stamp) >= before - timedelta(minutes=1), name
        if "scan_time" in doc["metadata"]:  # the alias stays, and says the same
            assert doc["metadata"]["scan_time"] == stamp, name


def test_regions_go_through_the_region_check_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook for the offline region-name check (``phantomkeys.aws.regions``)."""
    import sys
    import types

    checked: list[str] = []

    def validate_region(name: str, *, option: str = "--region") -> str:
        checked.append(name)
        if name.strip().lower() != "us-east-1":
            raise ValueError(f"{option}: {name!r} is not an AWS region")
        return name.strip().lower()

    fake = types.ModuleType("phantomkeys.aws.regions")
    fake.validate_region = validate_region  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "phantomkeys.aws.regions", fake)
    result = run(["timeline", "someone", "--regions", "US-EAST-1,us-est-1"])
    assert result.exit_code == 2
    assert "--regions: 'us-est-1' is not an AWS region" in result.stderr
    assert checked == ["US-EAST-1", "us-est-1"]
    assert run(["report", "someone", "--regions", "all"]).exit_code == 2


# ------------------------------------------------------------------ the definitions


def _probe() -> click.Command:
    from phantomkeys.cli.options import (
        account_option,
        jobs_option,
        output_dir_option,
        regions_option,
    )

    @click.command()
    @jobs_option(default=4, maximum=8, help="Jobs.", old=["--max-workers"])
    @account_option(help="Accounts.", old=["--accounts"])
    @regions_option(help="Regions.", old=["--trail-region"])
    @output_dir_option(help="Folder.", default="out", old=["--out"])
    def probe(
        jobs: int, accounts: tuple[str, ...], regions: tuple[str, ...], output_dir: str
    ) -> None:
        click.echo(json.dumps([jobs, accounts, regions, output_dir]))

    return probe


@pytest.mark.parametrize(
    ("args", "expected", "warned"),
    [
        ([], [4, [], [], "out"], []),
        (["--max-workers", "2"], [2, [], [], "out"], ["--max-workers"]),
        (["-j", "3", "--max-workers", "2"], [3, [], [], "out"], ["--max-workers"]),
        (
            ["--account", "111111111111", "--accounts", "222222222222,111111111111"],
            [4, ["111111111111", "222222222222"], [], "out"],
            ["--accounts"],
        ),
        (
            ["--regions", "us-east-1", "--trail-region", "eu-west-1"],
            [4, [], ["us-east-1", "eu-west-1"], "out"],
            ["--trail-region"],
        ),
        (["--regions", "us-east-1", "--regions", "all"], [4, [], ["all"], "out"], []),
        (["--out", "d"], [4, [], [], "d"], ["--out"]),
        (["--output-dir", "e", "--out", "d"], [4, [], [], "e"], ["--out"]),
    ],
)
def test_old_and_new_spellings_merge(
    args: list[str], expected: list[Any], warned: list[str]
) -> None:
    """Single values: the new spelling wins; repeatable ones: both, new first, once each."""
    result = CliRunner().invoke(_probe(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected
    assert result.stderr.count("is deprecated") == len(warned)
    for flag in warned:
        assert f"warning: {flag} is deprecated" in result.stderr
