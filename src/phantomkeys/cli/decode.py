"""``phantomkeys decode``: offline decoding of leaked keys."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from phantomkeys._meta import envelope
from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    default_format,
    dumps_json,
    format_option,
    now_utc,
    open_output,
    output_option,
    warn,
)
from phantomkeys.cli.options import time_option
from phantomkeys.core import keys as keycodec
from phantomkeys.core.keys import DecodedKey, KeyDecodeError, normalize


@dataclass(frozen=True, slots=True)
class KeyInput:
    text: str
    origin: str  # "argument 1", "stdin line 3", "keys.txt line 2"


def read_inputs(keys: tuple[str, ...], file: str | None) -> Iterator[KeyInput]:
    """Arguments, then ``-f FILE`` (``-`` is stdin); stdin when nothing was given."""
    from_args = [k for k in keys if k != "-"]
    wants_stdin = "-" in keys or (not from_args and file is None)
    for n, key in enumerate(from_args, 1):
        yield KeyInput(key, f"argument {n}")
    from phantomkeys.cli.stdin import stdin_lines

    if file is not None and file != "-":
        try:
            with open(file, "rb") as fh:
                yield from _lines(stdin_lines(stream=fh, name=file), file)
        except OSError as exc:
            raise UsageProblem(f"cannot read {file}: {exc.strerror or exc}") from None
    if wants_stdin or file == "-":
        if sys.stdin.isatty():
            click.echo("Paste keys, one per line; end with Ctrl-D.", err=True)
        yield from _lines(stdin_lines(), "stdin")


def _lines(lines: Iterable[str], name: str) -> Iterator[KeyInput]:
    for n, line in enumerate(lines, 1):
        if line.strip():
            yield KeyInput(line, f"{name} line {n}")


def decode_one(item: KeyInput, *, at: datetime, reveal: bool, partition: str) -> dict[str, Any]:
    try:
        decoded: DecodedKey = keycodec.decode(item.text, partition=partition)
    except KeyDecodeError as exc:
        out: dict[str, Any] = {"valid": False, "error": exc.reason, "input": item.origin}
        if exc.surface is not None:
            out["surface"] = exc.surface.value
        if exc.kind is not None:
            out["kind"] = exc.kind.value
        # Identify the input without echoing it: it may be a secret.
        out["input_sha256"] = hashlib.sha256(normalize(item.text).encode()).hexdigest()
        return out
    result = decoded.to_dict(at=at, reveal=reveal)
    result["input"] = item.origin
    return result


@click.command("decode")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option(
    "-f",
    "--file",
    "file",
    metavar="FILE",
    help="Read keys from FILE, one per line (blank lines ignored); '-' for stdin.",
)
@format_option(["table", "json"])
@output_option()
@click.option(
    "--reveal", is_flag=True, help="Also print the secret part of each key (never shown otherwise)."
)
@time_option("--at", help="Judge expiry at TIME (e.g. when the key leaked) instead of now.")
@click.option(
    "--partition",
    type=click.Choice(["aws", "aws-us-gov", "aws-cn"]),
    default="aws",
    show_default=True,
    help="Partition for the IAM user ARN of long-term keys (the key does not say).",
)
def decode(
    keys: tuple[str, ...],
    file: str | None,
    fmt: str | None,
    output: str | None,
    reveal: bool,
    at: datetime | None,
    partition: str,
) -> None:
    """Decode Bedrock and Claude Platform API keys offline.

    Works on long-term keys (ABSK…, AEAA…) and short-term keys
    (bedrock-api-key-…, aws-external-anthropic-api-key-…): account, IAM user
    and ARN, primary or secondary key, a SHA-256 fingerprint of the secret;
    for short-term keys the signing access key (AKIA = an IAM user's access
    key to revoke, ASIA = a session), region, issue and expiry times.

    Nothing is sent anywhere and the secret is never printed unless --reveal.
    Pasted noise is tolerated: quotes, whitespace, a trailing comma,
    'Authorization: Bearer', 'AWS_BEARER_TOKEN_BEDROCK='.

    \b
    Keep keys out of your shell history — read them from stdin:
      pbpaste | phantomkeys decode
      phantomkeys decode -f leaked-keys.txt --format json
      phantomkeys decode - --at 2026-11-01T08:00:00Z   (was it valid when it leaked?)

    Exit 0 when every key decoded, 2 when any input was invalid (valid keys are
    still reported).
    """
    if any(k != "-" for k in keys):
        warn(
            "keys given as arguments stay in your shell history; prefer stdin "
            "('phantomkeys decode -') or -f FILE."
        )
    when = at or now_utc()
    items = list(read_inputs(keys, file))
    if not items:
        raise UsageProblem("no keys given", hint="pass keys as arguments, -f FILE, or on stdin")
    results = [decode_one(i, at=when, reveal=reveal, partition=partition) for i in items]
    if reveal:
        warn("--reveal: the output contains secrets; do not paste it into tickets or chat.")
    fmt = (fmt or default_format()).lower()
    stream = open_output(output)
    try:
        if fmt == "json":
            stream.write(dumps_json(envelope(at=when, results=results)))
        else:
            render_table(results, stream, reveal=reveal)
    except BaseException:
        if stream is not sys.stdout:
            stream.abort()  # the file is left as it was: never half a document
        raise
    if stream is not sys.stdout:
        stream.close()
    invalid = sum(1 for r in results if not r["valid"])
    if invalid:
        warn(f"{invalid} of {len(results)} input(s) did not decode")
        sys.exit(ExitCode.USAGE)


def render_table(results: list[dict[str, Any]], stream: Any, *, reveal: bool) -> None:
    from phantomkeys.cli.common import make_console
    from phantomkeys.report.safetext import markup as escape

    console = make_console(stream, width=max(100, Console().width), soft_wrap=True)
    for r in results:
        table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(overflow="fold")
        status = "[green]valid[/]" if r["valid"] else f"[red]invalid[/]: {escape(r['error'])}"
        table.add_row("input", f"{escape(r['input'])}  {status}")
        for field in _TABLE_FIELDS:
            if field in r and r[field] is not None and field not in ("valid", "input", "error"):
                value = r[field]
                if field == "expired":
                    value = "[red]yes[/]" if value else "[green]no[/]"
                elif field == "access_key_type":
                    value = escape(f"{value} ({_AKID_MEANING.get(value, '')})")
                else:
                    value = escape(value)
                table.add_row(field, str(value))
        if reveal and "secret" in r:
            table.add_row("secret", escape(r["secret"]))
        console.print(table)
        console.print()


_TABLE_FIELDS = (
    "surface",
    "kind",
    "account_id",
    "account_id_source",
    "username",
    "iam_user_arn",
    "key_position",
    "key_marker",
    "secret_sha256",
    "access_key_id",
    "access_key_type",
    "region",
    "issued_at",
    "expires_at",
    "lifetime_seconds",
    "expired",
    "signed_service",
    "signed_host",
    "has_session_token",
    "token_sha256",
    "input_sha256",
)

_AKID_MEANING = {
    "AKIA": "signed with an IAM user's long-term access key: revoke that access key",
    "ASIA": "signed with temporary session credentials",
}
