"""One output path for every file phantomkeys writes, through the real program.

Every option naming a file or a folder we write is checked before any work
starts (a typo never costs a 20-minute scan), an existing target must be a
regular file (replaced whole, 0600) or a device such as /dev/null (written in
place, its mode untouched), and ``-o json`` is answered with "did you mean
--format json?". Each failure is one ``error:`` line, exit 2, no traceback.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest
from tests.cli.clirun import child_env, phantomkeys

from phantomkeys.cli.common import AtomicOutput, UsageProblem, write_output

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

KEY = "ABSKQmVkcm9ja0FQSUtleS0xYTJiLWF0LTExMTExMTExMTExMTpzZWNyZXQ="

#: Every command with an option that names a file or folder it writes: the
#: arguments that make the rest of its command line valid. The walk below fails
#: when a command gains such an option and is not listed here.
WRITERS: dict[tuple[str, str], list[str]] = {
    ("decode", "-o"): [KEY],
    ("scan", "-o"): [],
    ("scan", "--save-snapshot"): [],
    ("scan", "--checkpoint"): ["--org"],
    ("report", "-o"): ["alice"],
    ("timeline", "-o"): ["alice"],
    ("hunt", "-o"): ["."],
    ("rules export", "-o"): ["--target", "splunk"],
    ("rules list", "-o"): [],
    ("rules test", "-o"): [],
    ("scp coverage", "-o"): [],
    ("scp coverage", "--save-snapshot"): [],
    ("scp deploy", "-o"): ["--preset", "block-all", "--target", "r-abcd"],
    ("scp generate", "-o"): ["--preset", "block-all"],
    ("scp generate", "--output-dir"): ["--preset", "block-all"],
    ("scp validate", "-o"): ["-"],
    ("alerts deploy", "-o"): [],
    ("alerts generate", "-o"): [],
    ("leaks", "-o"): ["."],
    ("leaks", "--write-baseline"): ["."],
    ("history diff", "-o"): [],
    ("history list", "-o"): [],
    ("history show", "-o"): ["1"],
    ("schema", "-o"): ["scan"],
    ("mint", "-o"): [],
    ("least-privilege", "-o"): ["alice"],
    ("lab scenarios", "-o"): [],
    ("lab seed", "-o"): ["--endpoint-url", "http://127.0.0.1:9"],
    ("lab serve", "--env-file"): [],
    ("demo", "--output-dir"): [],
    ("revoke", "--backup-dir"): ["alice"],
    ("cleanup", "--backup-dir"): [],
    ("restore", "--backup-dir"): ["backup.json"],
}

#: The callbacks that make an option one of "ours".
_CHECKED = {"_output_callback", "output_path_callback", "output_dir_callback"}
_FOLDER_OPTIONS = {"--output-dir", "--out", "--backup-dir"}


def _commands() -> dict[tuple[str, str], click.Parameter]:
    from phantomkeys.cli import cli

    ctx = click.Context(cli)
    found: dict[tuple[str, str], click.Parameter] = {}

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                if not path and name == "audit":  # an alias of scan
                    continue
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
            return
        for param in cmd.params:
            if getattr(param, "hidden", False):  # a deprecated spelling of a listed one
                continue
            callback = getattr(param, "callback", None)
            if callback is not None and callback.__name__ in _CHECKED:
                found[(" ".join(path), param.opts[0])] = param

    walk(cli, [])
    return found


def test_every_writer_is_in_the_table_and_checks_its_path() -> None:
    found = _commands()
    assert set(found) == set(WRITERS)
    for (_, option), param in found.items():
        assert param.callback is not None
        wanted = "output_dir_callback" if option in _FOLDER_OPTIONS else None
        if wanted:
            assert param.callback.__name__ == wanted, option


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in (root ignores modes: /proc refuses anyway)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def _bad_targets(tmp_path: Path, option: str) -> list[tuple[str, str]]:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("x")
    if option in _FOLDER_OPTIONS:
        return [
            ("a regular file", str(a_file)),
            ("a folder under a file", str(a_file / "sub")),
            ("an unwritable folder", str(_unwritable_folder(tmp_path))),
        ]
    return [
        ("a folder", str(tmp_path)),
        ("a path through a file", str(a_file / "out.json")),
        ("an unwritable folder", str(_unwritable_folder(tmp_path) / "out.json")),
    ]


@pytest.mark.parametrize(("command", "option"), sorted(WRITERS), ids=lambda v: str(v))
def test_a_bad_output_path_is_one_line_exit_2_before_any_work(
    tmp_path: Path, command: str, option: str
) -> None:
    # No AWS configuration at all: had the command started work, it would fail
    # with a credentials or connection error instead of naming the path.
    env = child_env(aws={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1"})
    (tmp_path / "backup.json").write_text("{}")
    for what, target in _bad_targets(tmp_path, option):
        done = phantomkeys(
            *command.split(), option, target, *WRITERS[(command, option)],
            env=env, cwd=tmp_path, stdin="{}", timeout=60,
        )  # fmt: skip
        assert done.code == 2, (what, done.stderr)
        line = done.assert_one_line_reason()
        assert option in line and "cannot write" in line, (what, line)
        assert target in line, (what, line)
        assert "please report" not in done.stderr
        assert "scanning" not in done.stderr  # no work started


def _null_device(tmp_path: Path) -> Path:
    """A character device like /dev/null (same major/minor) with a mode we can check."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root; /dev/null is never touched")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o640, os.makedev(1, 3))
    os.chmod(node, 0o640)
    return node


@pytest.mark.parametrize(
    "args",
    [
        ["decode", KEY, "--format", "json"],
        ["schema", "scan"],
        ["rules", "list", "--format", "json"],
        ["scp", "generate", "--preset", "block-all"],
        ["lab", "scenarios", "--format", "json"],
    ],
    ids=lambda a: a[0] + (" " + a[1] if a[0] in ("rules", "scp", "lab") else ""),
)
def test_a_device_target_is_written_in_place_and_keeps_its_mode(
    tmp_path: Path, args: list[str]
) -> None:
    node = _null_device(tmp_path)
    done = phantomkeys(*args, "-o", str(node), cwd=tmp_path)
    assert done.code == 0, done.stderr
    st = os.stat(node)
    assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary left


def test_dev_null_itself_keeps_its_mode() -> None:
    before = os.stat(os.devnull)
    done = phantomkeys("decode", KEY, "--format", "json", "-o", os.devnull)
    assert done.code == 0, done.stderr
    after = os.stat(os.devnull)
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)
    assert stat.S_ISCHR(after.st_mode)


@pytest.mark.parametrize("word", ["json", "text", "table", "JSON", "yaml"])
def test_output_with_a_format_word_says_did_you_mean_format(tmp_path: Path, word: str) -> None:
    done = phantomkeys("decode", KEY, "--output", word, cwd=tmp_path)
    assert done.code == 2
    line = done.assert_one_line_reason()
    assert "names the FILE to write" in line
    assert "did you mean --format" in done.stderr
    if word.lower() in ("json", "table"):
        assert f"--format {word.lower()}?" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no file named json
    # ./json is a file name: written, as asked
    ok = phantomkeys("decode", KEY, "--output", f"./{word}", cwd=tmp_path)
    assert ok.code == 0 and (tmp_path / word).exists()


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("out.json", lambda text: json.loads(text)["results"][0]["valid"] is True),
        ("out.txt", lambda text: "valid" in text and not text.lstrip().startswith("{")),
        ("out.unknown", lambda text: json.loads(text)["results"][0]["valid"] is True),
    ],
)
def test_the_format_follows_the_extension(tmp_path: Path, name: str, check: object) -> None:
    done = phantomkeys("decode", KEY, "-o", name, cwd=tmp_path)
    assert done.code == 0, done.stderr
    text = (tmp_path / name).read_text()
    assert callable(check) and check(text), text
    assert "\x1b[" not in text
    assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600


def test_format_wins_over_the_extension(tmp_path: Path) -> None:
    done = phantomkeys("decode", KEY, "-o", "out.json", "--format", "table", cwd=tmp_path)
    assert done.code == 0
    assert not (tmp_path / "out.json").read_text().lstrip().startswith("{")


def test_scp_coverage_sarif_and_scan_extension(tmp_path: Path) -> None:
    """A command whose formats include sarif/html picks them from the name."""
    from phantomkeys.cli.common import format_from_extension

    formats = ("table", "json", "csv", "sarif", "markdown", "html", "ocsf", "asff")
    assert format_from_extension("r.sarif", formats) == "sarif"
    assert format_from_extension("r.HTML", formats) == "html"
    assert format_from_extension("r.md", formats) == "markdown"
    assert format_from_extension("r.csv", formats) == "csv"
    assert format_from_extension("r.csv", ("table", "json")) is None


# ------------------------------------------------------------ atomic writes


def test_an_existing_report_is_replaced_whole_and_made_private(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old report\n")
    target.chmod(0o644)
    write_output('{"new": true}', str(target))
    assert target.read_text() == '{"new": true}\n'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old report\n")
    out = AtomicOutput(str(target))
    out.write("half a rep")
    out.abort()  # what write_output does on Ctrl-C or an error
    assert target.read_text() == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]

    def interrupted_mid_write() -> None:
        with AtomicOutput(str(target)) as out2:
            out2.write("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_mid_write()
    assert target.read_text() == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_missing_folders_are_created_private(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "r.json"
    done = phantomkeys("decode", KEY, "-o", str(target))
    assert done.code == 0, done.stderr
    assert json.loads(target.read_text())["results"]
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700


def test_a_symlink_target_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_output("new", str(link))
    assert link.is_symlink() and real.read_text() == "new\n"


def test_a_write_error_is_a_usage_problem_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    out = AtomicOutput(str(folder / "r.json"))
    out.write("x")
    # the folder disappears under us: the rename fails
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    with pytest.raises(UsageProblem) as failed:
        out.close()
    assert "cannot write" in failed.value.message and failed.value.exit_code == 2


# ------------------------------------------------------- checked before work


pytestmark_lab = pytest.mark.phantomkeys_lab(scenario="demo")


@pytestmark_lab
@pytest.mark.parametrize(
    "args",
    [
        ["scan", "-o", "{bad}"],
        ["scan", "--save-snapshot", "{bad}"],
        ["report", "alice", "-o", "{bad}"],
        ["timeline", "alice", "--regions", "us-east-1", "-o", "{bad}"],
        ["cleanup", "--backup-dir", "{file}"],
        ["scp", "coverage", "--save-snapshot", "{bad}"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_no_aws_call_is_made_when_the_output_cannot_be_written(
    phantomkeys_lab: Lab, tmp_path: Path, args: list[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    bad = str(a_file / "out.json")
    argv = [a.replace("{bad}", bad).replace("{file}", str(a_file)) for a in args]
    phantomkeys_lab.reset_stats()
    done = phantomkeys(*argv, env=child_env(aws=dict(phantomkeys_lab.env)), cwd=tmp_path)
    assert done.code == 2, done.stderr
    done.assert_one_line_reason()
    assert phantomkeys_lab.stats()["total"] == 0


@pytestmark_lab
def test_scan_and_report_pick_the_format_from_the_file_name(
    phantomkeys_lab: Lab, tmp_path: Path
) -> None:
    env = child_env(aws=dict(phantomkeys_lab.env))
    done = phantomkeys(
        "scan", "--no-history", "--save-snapshot", "snap.json", "-o", "r.sarif",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.code in (0, 1), done.stderr
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert sarif["version"] == "2.1.0" and "runs" in sarif
    assert stat.S_IMODE(os.stat(tmp_path / "snap.json").st_mode) == 0o600

    offline = phantomkeys("scan", "--from-snapshot", "snap.json", "-o", "r.html", cwd=tmp_path)
    assert offline.code in (0, 1), offline.stderr
    assert (tmp_path / "r.html").read_text().lstrip().lower().startswith("<!doctype html")

    md = phantomkeys("report", "alice", "-o", "r.md", env=env, cwd=tmp_path)
    assert md.code in (0, 3), md.stderr
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("#") and "\x1b[" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.md", "r.sarif", "snap.json"]
