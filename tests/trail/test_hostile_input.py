"""Hunt input is read exactly once and bounded, and a hunt that read nothing is never clean.

Each test is an attack from the hostile review (glob-named files, symlink loops, gzip
bombs, /dev/zero on stdin, quotes in S3 prefixes, empty or mistyped sources) run
through the real CLI; every one of them fails on the code before the fix.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import resource
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from trailkit import example_records, trail_key

from phantomkeys.cli import cli

SRC = Path(__file__).resolve().parents[2] / "src"
SCHEMA = json.loads((SRC / "phantomkeys/schemas/hunt.schema.json").read_text())


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def hunt_json(*args: str) -> tuple[int, dict[str, Any], str]:
    result = run("hunt", *args, "--format", "json", "--fail-on", "never")
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    return result.exit_code, doc, result.stderr


def cli_subprocess(
    args: list[str], *, memory_mib: int, timeout: float, stdin: Any = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process whose address space is capped at ``memory_mib``."""
    limit = memory_mib << 20

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return subprocess.run(
        [sys.executable, "-m", "phantomkeys", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
        env=env,
        check=False,
    )


def numbered(records: list[dict[str, Any]], count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` copies of ``records`` (cycled), each with its own eventID."""
    out = []
    for i in range(count):
        rec = copy.deepcopy(records[i % len(records)])
        rec["eventID"] = f"{tag}-{i:06d}"
        out.append(rec)
    return out


# ------------------------------------------------------------------ globs


def test_glob_named_files_are_read_literally_and_once(tmp_path: Path) -> None:
    """``trail[1].json`` (1,800 tampering events) beside ``trail1.json``, and ``*.json``."""
    benign = example_records("key-logging-tampering", "negative")
    tampering = numbered(example_records("key-logging-tampering"), 1800, "tamper")
    star = numbered(benign, 1000, "star")
    (tmp_path / "trail1.json").write_text(json.dumps({"Records": benign[:1]}))
    (tmp_path / "trail[1].json").write_text(json.dumps({"Records": tampering}, indent=1))
    (tmp_path / "*.json").write_text(json.dumps({"Records": star}, indent=1))
    for name in ("trail[1].json", "*.json"):  # big enough for DuckDB's direct read
        assert (tmp_path / name).stat().st_size >= 1 << 20

    code, doc, _ = hunt_json(str(tmp_path))

    meta = doc["metadata"]
    assert meta["bad_files"] == []
    assert meta["files_read"] == 3
    assert meta["records_read"] == 1 + 1800 + 1000
    assert doc["coverage"]["complete"] is True
    assert doc["coverage"]["read"] == {"files": 3, "records": 2801}
    assert code == 0
    rules = {f["rule_id"] for f in doc["findings"]}
    assert "key-logging-tampering" in rules


def test_glob_named_gzip_files_and_quotes_in_names(tmp_path: Path) -> None:
    """Large gzip files with glob and quote characters in their names, via the direct path."""
    records = numbered(example_records("key-logging-tampering"), 4000, "gz")
    body = json.dumps({"Records": records}, indent=1).encode()
    for name in ("a?.json.gz", "it's[x].json.gz"):
        # Stored, not deflated: large on disk so DuckDB's direct path reads it.
        (tmp_path / name).write_bytes(gzip.compress(body, compresslevel=0))
        assert (tmp_path / name).stat().st_size >= 1 << 20
    # Small files the patterns would match: "a?" matches "ab", "[x]" matches "x".
    for name, n in (("ab.json.gz", 5), ("it'sx.json.gz", 7)):
        small = json.dumps({"Records": numbered(records, n, name)}).encode()
        (tmp_path / name).write_bytes(gzip.compress(small))

    code, doc, _ = hunt_json(str(tmp_path))

    assert doc["metadata"]["bad_files"] == []
    assert doc["metadata"]["files_read"] == 4
    assert doc["metadata"]["records_read"] == 4000 + 4000 + 5 + 7
    assert code == 0


# --------------------------------------------------------------- symlinks


def _one_file_tree(root: Path, write_trail: Callable[..., Path]) -> int:
    records = numbered(example_records("phantom-user-credential-added"), 92, "loop")
    write_trail(records, root=root)
    return len(records)


def test_a_symlink_loop_is_walked_once(tmp_path: Path, write_trail: Callable[..., Path]) -> None:
    root = tmp_path / "logs"
    records = _one_file_tree(root, write_trail)
    (root / "AWSLogs" / "loop").symlink_to("..")  # logs/AWSLogs/loop -> logs
    (tmp_path / "again.json.gz").symlink_to(next(root.rglob("*.json.gz")))

    code, doc, _ = hunt_json(str(root), str(tmp_path / "again.json.gz"), str(root / "AWSLogs"))

    assert doc["metadata"]["files_read"] == 1
    assert doc["metadata"]["records_read"] == records
    cov = doc["coverage"]
    assert cov["complete"] is True
    repeated = [s for s in cov["skipped_items"] if s["reason"] == "already read by another path"]
    assert repeated and repeated[0]["by_choice"] is True
    assert code == 0


def test_two_symlink_loops_do_not_hang(tmp_path: Path, write_trail: Callable[..., Path]) -> None:
    root = tmp_path / "logs"
    records = _one_file_tree(root, write_trail)
    (root / "AWSLogs" / "up").symlink_to("..")
    (root / "AWSLogs" / "again").symlink_to("..")
    (root / "sideways").symlink_to(root / "AWSLogs")

    done = cli_subprocess(
        ["hunt", str(root), "--format", "json", "--fail-on", "never"], memory_mib=3072, timeout=120
    )

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["metadata"]["files_read"] == 1
    assert doc["metadata"]["records_read"] == records


def test_an_unreadable_folder_and_a_broken_link_make_the_hunt_incomplete(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    root = tmp_path / "logs"
    _one_file_tree(root, write_trail)
    (root / "gone.json.gz").symlink_to(tmp_path / "nowhere.json.gz")

    code, doc, stderr = hunt_json(str(root))

    assert code == 3
    assert doc["coverage"]["complete"] is False
    assert any(s["reason"] == "broken symbolic link" for s in doc["coverage"]["skipped_items"])
    assert "INCOMPLETE" in stderr


# ------------------------------------------------------------ gzip bombs


def _gzip_bomb(path: Path, mib: int, member_mib: int = 64) -> None:
    """``{"Records":[`` + ``mib`` MiB of spaces + ``]}``, as repeated gzip members."""
    spaces = gzip.compress(b" " * (member_mib << 20), compresslevel=9)
    with open(path, "wb") as out:
        out.write(gzip.compress(b'{"Records":['))
        for _ in range(mib // member_mib):
            out.write(spaces)
        out.write(gzip.compress(b"]}"))


@pytest.mark.parametrize(
    ("mib", "path"),
    [
        (960, "small"),  # under 1 MiB on disk: the Python staging path
        (4096, "direct"),  # over 1 MiB on disk: the large-file path
    ],
)
def test_a_gzip_bomb_is_a_named_bad_file_within_a_memory_limit(
    tmp_path: Path, write_trail: Callable[..., Path], mib: int, path: str
) -> None:
    root = tmp_path / "logs"
    _one_file_tree(root, write_trail)
    bomb = root / "bomb.json.gz"
    _gzip_bomb(bomb, mib)
    assert (bomb.stat().st_size < 1 << 20) == (path == "small")

    done = cli_subprocess(
        ["hunt", str(root), "--format", "json", "--fail-on", "never"],
        memory_mib=1536,
        timeout=300,
    )

    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    (bad,) = doc["metadata"]["bad_files"]
    assert bad["path"] == str(bomb)
    assert bad["reason"].startswith("over the decompression cap")
    assert doc["metadata"]["files_read"] == 1
    assert doc["coverage"]["complete"] is False
    assert "INCOMPLETE" in done.stderr.splitlines()[-1]


def test_decompression_caps_are_configurable(tmp_path: Path) -> None:
    records = numbered(example_records("phantom-user-credential-added"), 2000, "cap")
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), 9))
    size = len(zlib.decompress(path.read_bytes(), 31))
    assert size > 1 << 20

    assert hunt_json(str(tmp_path))[0] == 0
    code, doc, _ = hunt_json(str(tmp_path), "--max-file-size", "1")
    assert code == 3
    assert "over the decompression cap" in doc["metadata"]["bad_files"][0]["reason"]
    ratio = size // path.stat().st_size
    assert hunt_json(str(tmp_path), "--max-ratio", str(ratio + 1))[0] == 0
    assert hunt_json(str(tmp_path), "--max-ratio", str(max(1, ratio // 2)))[0] == 3


# ----------------------------------------------------------------- stdin


@pytest.mark.parametrize("command", [["decode", "-"], ["revoke", "-"], ["timeline", "-"]])
def test_dev_zero_on_stdin_is_refused_in_one_line(command: list[str]) -> None:
    with open("/dev/zero", "rb") as zero:
        done = cli_subprocess(command, memory_mib=1024, timeout=60, stdin=zero)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "please report" not in done.stderr
    assert "longer than 16,384 bytes" in done.stderr


def test_a_long_stdin_list_is_capped() -> None:
    keys = ("x" * 100 + "\n") * (100_000)  # 10 MB of short lines
    result = run("decode", "-", stdin=keys)
    assert result.exit_code == 2
    assert "more than 8 MiB" in result.stderr


# ------------------------------------------------------- nothing was read


def test_an_empty_folder_is_incomplete(tmp_path: Path) -> None:
    code, doc, stderr = hunt_json(str(tmp_path))
    assert code == 3
    cov = doc["coverage"]
    assert cov["complete"] is False
    assert cov["read"] == {"files": 0, "records": 0}
    assert cov["reasons"][0] == f"nothing was read from {tmp_path}"
    assert stderr.splitlines()[-1].startswith("read 0 files, 0 records")


def test_a_missing_folder_is_a_one_line_error_before_any_work(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    """A mistyped path is bad input (exit 2, as in every command), never a clean run;
    beside a good source it still stops the hunt before anything is read."""
    good = tmp_path / "good"
    _one_file_tree(good, write_trail)
    for sources in ([str(tmp_path / "AWSLgos")], [str(good), str(tmp_path / "AWSLgos")]):
        result = run("hunt", *sources, "--format", "json", "--fail-on", "never")
        assert result.exit_code == 2, result.stderr
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "AWSLgos: no such file or directory" in lines[0]


def test_an_empty_source_beside_a_good_one_is_incomplete(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    good = tmp_path / "good"
    _one_file_tree(good, write_trail)
    (tmp_path / "empty").mkdir()
    code, doc, _ = hunt_json(str(good), str(tmp_path / "empty"))
    assert code == 3
    assert doc["coverage"]["reasons"] == ["1 source not read: holds no CloudTrail log file"]


def test_no_file_in_the_time_window_is_incomplete(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    _one_file_tree(tmp_path, write_trail)  # delivered 2026-11-20
    code, doc, _ = hunt_json(str(tmp_path), "--since", "2026-12-01T00:00:00Z")
    assert code == 3
    assert doc["coverage"]["skipped"] == {"file": 1}
    assert doc["coverage"]["skipped_items"][0]["by_choice"] is True
    code, doc, _ = hunt_json(str(tmp_path), "--since", "2026-11-01T00:00:00Z")
    assert code == 0


def test_timeline_from_an_empty_folder_is_incomplete(tmp_path: Path) -> None:
    result = run("timeline", "alice", "--from", str(tmp_path), "--format", "json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["coverage"]["complete"] is False
    assert "INCOMPLETE" in result.stderr.splitlines()[-1]
    result = run("timeline", "alice", "--from", str(tmp_path / "nope"), "--format", "json")
    assert result.exit_code == 2  # a path that does not exist: bad input, one line


def test_timeline_from_glob_named_files(tmp_path: Path) -> None:
    records = numbered(example_records("phantom-user-credential-added"), 3000, "tl")
    (tmp_path / "[t].json").write_text(json.dumps({"Records": records}, indent=1))
    (tmp_path / "t.json").write_text(json.dumps({"Records": records[:1]}))
    assert (tmp_path / "[t].json").stat().st_size >= 1 << 20
    user = records[0]["requestParameters"]["userName"]
    result = run("timeline", user, "--from", str(tmp_path), "--format", "json", "--days", "3650")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metadata"]["files"]["records_read"] == 3001
    assert doc["coverage"]["read"]["files"] == 2


# -------------------------------------------------------------------- S3


@pytest.mark.lab
def test_an_empty_s3_prefix_is_incomplete(phantomkeys_lab: Any) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="pk-empty-trail")
    code, doc, stderr = hunt_json("s3://pk-empty-trail/AWSLogs/")
    assert code == 3
    assert doc["coverage"]["complete"] is False
    assert "nothing was read from s3://pk-empty-trail/AWSLogs/" in doc["coverage"]["reasons"]
    assert "INCOMPLETE" in stderr.splitlines()[-1]


@pytest.mark.lab
def test_glob_named_s3_objects_are_read_once(phantomkeys_lab: Any) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="pk-glob-trail")
    folder = trail_key("111122223333", "us-east-1", "20261120T1000").rsplit("/", 1)[0]
    records = numbered(example_records("key-logging-tampering"), 1800, "s3")
    big = json.dumps({"Records": records}, indent=1).encode()
    assert len(big) >= 1 << 20
    s3.put_object(Bucket="pk-glob-trail", Key=f"{folder}/trail[1].json", Body=big)
    s3.put_object(
        Bucket="pk-glob-trail",
        Key=f"{folder}/trail1.json",
        Body=json.dumps({"Records": records[:1]}).encode(),
    )
    code, doc, _ = hunt_json("s3://pk-glob-trail/")
    assert doc["metadata"]["bad_files"] == []
    assert doc["metadata"]["files_read"] == 2
    assert doc["metadata"]["records_read"] == 1801
    assert code == 0


def test_malformed_s3_uris_are_usage_errors() -> None:
    for uri in ("s3://", "s3://Bad'Bucket/x", "s3://bucket/\x1b[2Jx"):
        result = run("hunt", uri)
        assert result.exit_code == 2, (uri, result.output)
        assert "not an s3://bucket/prefix URI" in result.stderr or "control" in result.stderr


# ---------------------------------------------------------------- Athena


def test_quotes_in_an_s3_prefix_never_reach_athena_ddl() -> None:
    from phantomkeys.trail.athena_engine import (
        TrailLayout,
        create_table_ddl,
        layouts_from_region_dirs,
    )
    from phantomkeys.trail.hunt import HuntError

    hostile = "x' ) LOCATION 's3://attacker/AWSLogs/111122223333/CloudTrail/us-east-1/"
    (layout,) = layouts_from_region_dirs("trail-bucket", [hostile])
    with pytest.raises(HuntError, match="cannot be used in an Athena table definition"):
        create_table_ddl("default", "t", layout)
    for evil in ("a\\'b/", "a\nb/", "a`b/", 'a"b/'):
        bad = TrailLayout("trail-bucket", f"{evil}AWSLogs/", ("111122223333",), ("us-east-1",))
        with pytest.raises(HuntError):
            create_table_ddl("default", "t", bad)
    (layout,) = layouts_from_region_dirs(
        "trail-bucket", ["logs/AWSLogs/111122223333/CloudTrail/us-east-1/"]
    )
    ddl = create_table_ddl("default", "t", layout)
    assert "LOCATION 's3://trail-bucket/logs/AWSLogs/'" in ddl


def test_athena_output_must_be_an_s3_uri(tmp_path: Path) -> None:
    result = run("hunt", "s3://trail-bucket/", "--engine", "athena", "--athena-output", "s3://x'/")
    assert result.exit_code == 2
    assert "--athena-output" in result.stderr


# ---------------------------------------------------------- batch budget


def test_a_batch_that_expands_past_its_budget_is_read_in_parts(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    """Staged bytes per batch are bounded: past the budget, the rest waits for a next part."""
    from phantomkeys.trail.duckdb_engine import DuckDBEngine, stage
    from phantomkeys.trail.hunt import plan_sources
    from phantomkeys.trail.pack import load_pack

    for n, rule in enumerate(
        ("phantom-user-credential-added", "bearer-token-call", "api-key-created")
    ):
        write_trail(numbered(example_records(rule), 40, rule), n=n)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"Records": numbered(example_records("api-key-created"), 900, "b")}))
    files = plan_sources([str(tmp_path)], None, None).local
    assert len(files) == 4

    staged = stage(files, budget=1)
    try:
        assert len(staged.taken) == 1 and len(staged.deferred) == 3
    finally:
        staged.discard()

    def findings(budget: int) -> tuple[int, int, list[tuple[str, str]]]:
        engine = DuckDBEngine(load_pack(), threads=1, batch_budget=budget)
        try:
            result = engine.run([files])
        finally:
            engine.close()
        found = sorted((f.rule_id, f.fingerprint) for f in result.findings)
        return result.stats.files_read, result.stats.records_read, found

    parts = findings(1)
    assert parts[:2] == (4, 120 + 900)
    assert parts == findings(1 << 30)


def test_a_plain_file_over_the_size_cap_is_a_bad_file(tmp_path: Path) -> None:
    records = numbered(example_records("api-key-created"), 1500, "plain")
    (tmp_path / "plain.json").write_text(json.dumps({"Records": records}, indent=1))
    assert 1 << 20 < (tmp_path / "plain.json").stat().st_size < 8 << 20
    assert hunt_json(str(tmp_path))[0] == 0
    code, doc, _ = hunt_json(str(tmp_path), "--max-file-size", "1")
    assert code == 3
    assert doc["metadata"]["bad_files"][0]["reason"].startswith("over the size cap (1.0 MiB")


def test_a_fifo_or_device_is_never_read(tmp_path: Path, write_trail: Callable[..., Path]) -> None:
    root = tmp_path / "logs"
    _one_file_tree(root, write_trail)
    os.mkfifo(root / "pipe.json")
    code, doc, _ = hunt_json(str(root))
    assert code == 3
    assert {"path": str(root / "pipe.json"), "reason": "not a regular file"} in doc["metadata"][
        "bad_files"
    ]
    code, doc, _ = hunt_json("/dev/zero")
    assert code == 3
    assert doc["coverage"]["skipped_items"][0]["reason"] == "not a regular file or folder"


def test_decode_a_file_of_zeros_is_refused() -> None:
    done = cli_subprocess(["decode", "-f", "/dev/zero"], memory_mib=1024, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "/dev/zero line 1 is longer than 16,384 bytes" in done.stderr
