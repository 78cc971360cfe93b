"""Conventions every command shares: output, formats, exit codes, errors.

* Results go to stdout, or to ``-o FILE`` created with mode 0600.
* Progress, logs and warnings go to stderr (:data:`stderr`).
* Errors a user can fix raise :class:`UsageProblem`; they print one clear line
  and exit 2. Nothing ever prints a traceback unless ``PHANTOMKEYS_DEBUG=1``.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from phantomkeys.core.findings import Severity

if TYPE_CHECKING:
    from rich.console import Console

    #: Progress bars, logs, warnings. Never results. (Made on first use: a run
    #: that prints nothing to stderr does not import rich.)
    stderr: Console

F = TypeVar("F", bound=Callable[..., Any])

_stderr: Console | None = None
_stderr_plain: bool | None = None


def _console() -> Console:
    global _stderr, _stderr_plain
    plain = color_disabled()
    if _stderr is None or _stderr_plain != plain:  # --no-color is parsed after first use
        _stderr = make_console(color=None, stderr=True, soft_wrap=True)
        _stderr_plain = plain
    return _stderr


def make_console(
    file: Any = None,
    *,
    color: bool | None = None,
    width: int | None = None,
    stderr: bool = False,
    **kwargs: Any,
) -> Console:
    """The one way to make a rich console; every console honours ``--no-color``/``NO_COLOR``.

    ``color=None`` lets rich decide from the stream (styles only on a terminal);
    ``True`` forces them (a table drawn into a buffer for a terminal), ``False``
    never writes one. With colour disabled no style code of any kind is written
    (not even bold); a progress bar on a terminal still moves.
    """
    from rich.console import Console

    if color_disabled():
        color = False
    options: dict[str, Any] = {"highlight": False, **kwargs}
    if color is False:
        options.update(color_system=None, no_color=True)
    elif color:
        options.update(force_terminal=True)
    if width is not None:
        options["width"] = width
    if file is None and not stderr:
        file = sys.stdout
    return Console(file=file, stderr=stderr and file is None, **options)


def terminal_color(output: str | None) -> bool:
    """Colour for results: only to a terminal on stdout, never to a file or a pipe."""
    return output in (None, "-") and sys.stdout.isatty() and not color_disabled()


class _CurrentStderr:
    """What ``from phantomkeys.cli.common import stderr`` gives: the stderr console of
    the moment. A command module is imported before the root group has parsed
    ``--no-color``, so a console bound at import time could be the wrong one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_console(), name)

    def __enter__(self) -> Console:
        return _console().__enter__()

    def __exit__(self, *exc: Any) -> None:
        _console().__exit__(*exc)


def __getattr__(name: str) -> Any:
    if name == "stderr":
        return _CurrentStderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _escape(text: str, *, keep_newlines: bool = True) -> str:
    """Plain text for the stderr console: controls made visible, markup escaped."""
    from phantomkeys.report.safetext import markup

    return markup(text, keep_newlines=keep_newlines)


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    INCOMPLETE = 3
    WRITE_FAILED = 4
    INTERNAL = 70
    INTERRUPTED = 130


@dataclass(slots=True)
class GlobalOptions:
    """The global flags (``phantomkeys --debug -q --no-color COMMAND``), set once by the
    root group before any command runs; every command and renderer reads them here."""

    debug: bool = False
    quiet: bool = False
    no_color: bool = False


#: The one instance (the CLI runs one command per process; tests reset it per run).
GLOBALS = GlobalOptions()


def color_disabled() -> bool:
    """``--no-color`` or a non-empty ``NO_COLOR`` (https://no-color.org)."""
    return GLOBALS.no_color or bool(os.environ.get("NO_COLOR"))


class UsageProblem(click.ClickException):
    """A problem with the user's input or environment: one line, exit 2 (or ``code``)."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, code: int = ExitCode.USAGE, hint: str | None = None):
        super().__init__(message)
        setattr(self, "exit_code", int(code))  # noqa: B010 - click declares a class variable
        self.hint = hint

    def show(self, file: Any = None) -> None:
        # One line each, whatever a file name or a log field in them holds.
        _console().print("[bold red]error:[/] " + _escape(self.message, keep_newlines=False))
        if self.hint:
            _console().print("[dim]hint:[/] " + _escape(self.hint, keep_newlines=False))


def warn(message: str, *, markup: bool = False) -> None:
    """A warning on stderr. ``message`` is plain text: controls and markup are shown as
    they are (see :mod:`phantomkeys.report.safetext`); ``markup=True`` only for
    rich markup phantomkeys wrote itself, with any data in it already escaped."""
    text = message if markup else _escape(message)
    _console().print("[yellow]warning:[/] " + text, highlight=False)


def info(message: str, *, markup: bool = False) -> None:
    """Progress and notes on stderr (``message`` as for :func:`warn`); ``-q/--quiet``
    silences them (not warnings or errors)."""
    if GLOBALS.quiet:
        return
    _console().print(message if markup else _escape(message), highlight=False)


def run_cli(group: click.Group, argv: Sequence[str] | None = None) -> Any:
    """Run the CLI with the house error policy (no tracebacks, documented exit codes)."""
    debug = os.environ.get("PHANTOMKEYS_DEBUG") == "1"
    # Scans build hundreds of thousands of short-lived objects (parsed IAM pages,
    # policies, findings); with the default threshold (700) the cycle collector
    # runs thousands of times and holds the GIL while the network threads wait.
    # Collect every 100,000 allocations instead: cycles are still freed.
    gc.set_threshold(100_000, *gc.get_threshold()[1:])
    try:
        return group.main(
            args=list(argv) if argv is not None else None,
            prog_name="phantomkeys",
            standalone_mode=True,
        )
    except KeyboardInterrupt:  # pragma: no cover - click handles most
        _console().print("interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: one line, never a traceback
        if debug:
            raise
        name = type(exc).__name__
        _console().print("[bold red]error:[/] " + _escape(f"{name}: {exc}"))
        _console().print("[dim]Set PHANTOMKEYS_DEBUG=1 for a traceback, and please report it.[/]")
        sys.exit(ExitCode.USAGE)


def end_process(code: Any) -> NoReturn:
    """Exit with ``code`` without the interpreter's teardown, when that is safe.

    Tearing down frees every object still alive one by one: the IAM catalog,
    botocore's service models, the memoised evaluations. After a large scan
    that is ~0.1 s spent on nothing. So once no other thread runs, the atexit
    handlers run and stdout and stderr are flushed, and the process ends there.
    With another thread alive, a code that is not a number, a failed flush, or
    ``PHANTOMKEYS_DEBUG=1``, it is the ordinary ``sys.exit``.
    """
    if (
        os.environ.get("PHANTOMKEYS_DEBUG") == "1"
        or threading.active_count() > 1
        or not (code is None or isinstance(code, int))
    ):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code or 0)


# ----------------------------------------------------------------- output


def open_output(path: str | None) -> Any:
    """A text stream for results: stdout, or a new file created 0600."""
    if path in (None, "-"):
        return sys.stdout
    assert path is not None
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(target, 0o600)  # an existing file keeps its mode otherwise
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def write_output(text: str | bytes, path: str | None) -> None:
    """Results to stdout or ``path``; UTF-8 ``bytes`` go out without a text round trip."""
    stream = open_output(path)
    try:
        raw: Any = getattr(stream, "buffer", None)
        if isinstance(text, bytes) and raw is None:  # a text-only stream (tests, the demo)
            text = text.decode("utf-8")
        if isinstance(text, bytes):
            stream.flush()
            raw.write(text if text.endswith(b"\n") else text + b"\n")
            raw.flush()
        else:
            stream.write(text)
            if not text.endswith("\n"):
                stream.write("\n")
        stream.flush()
    finally:
        if stream is not sys.stdout:
            stream.close()
    if path not in (None, "-"):
        info(f"wrote {path}")


def write_private_file(path: Path, text: str) -> None:
    """Write a file only its owner can read (backups, snapshots, journals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def dumps_json(document: Any) -> str:
    """Indented JSON; orjson when installed (a 1,000-identity scan is ~10 MB)."""
    return json_bytes(document).decode("utf-8")


def json_bytes(document: Any) -> bytes:
    """:func:`dumps_json` as UTF-8 bytes, for :func:`write_output`."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        text = json.dumps(document, indent=2, sort_keys=False, default=_json_default) + "\n"
        return text.encode("utf-8")
    return orjson.dumps(
        document,
        default=_json_default,
        option=orjson.OPT_INDENT_2
        | orjson.OPT_APPEND_NEWLINE
        | orjson.OPT_NON_STR_KEYS
        | orjson.OPT_PASSTHROUGH_DATETIME,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def default_format() -> str:
    """``table`` on a terminal, ``json`` when piped."""
    return "table" if sys.stdout.isatty() else "json"


def aws_options(f: F) -> F:
    """``--profile`` and ``--region``, as in the AWS CLI (one definition for every command)."""
    f = click.option(
        "--region",
        metavar="REGION",
        help="AWS region for API calls (IAM is global; default from your config).",
    )(f)
    f = click.option(
        "--profile",
        metavar="PROFILE",
        help="AWS CLI profile (SSO profiles work). Default: the standard chain.",
    )(f)
    return f


def format_option(choices: Sequence[str], *, help_extra: str = "") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices), case_sensitive=False),
        default=None,
        show_default=False,
        help=f"Output format ({', '.join(choices)}); default: table on a terminal, "
        f"json when piped. {help_extra}".strip(),
    )


def output_option() -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        help="Write results to FILE (created with mode 0600) instead of stdout.",
    )


def fail_on_option(default: str | None = None, *, allow_new: bool = False) -> Callable[[F], F]:
    choices = [s.value for s in Severity] + (["new"] if allow_new else []) + ["never"]
    return click.option(
        "--fail-on",
        "fail_on",
        type=click.Choice(choices, case_sensitive=False),
        default=default,
        show_default=default is not None,
        help="Exit 1 when a finding is at or above this severity.",
    )


def parse_fail_on(value: str | None) -> Severity | None:
    if value in (None, "never", "new"):
        return None
    assert value is not None
    return Severity.parse(value)


def parse_time(value: str, *, option: str = "--at") -> datetime:
    """A time a user typed (ISO 8601, ``now`` or an age such as ``7d``) as aware UTC.

    The one parser is :func:`phantomkeys.core.timeparse.parse_time`; options use
    :func:`phantomkeys.cli.options.time_option`."""
    from phantomkeys.core.timeparse import TimeParseError
    from phantomkeys.core.timeparse import parse_time as parse

    try:
        return parse(value, now=now_utc())
    except TimeParseError as exc:
        raise UsageProblem(f"{option}: {exc}", hint=exc.hint) from None


def now_utc() -> datetime:
    """The wall clock, read only at the CLI edge and passed into the pure core."""
    return datetime.now(UTC)
