"""Conventions every command shares: output, formats, exit codes, errors.

* Results go to stdout, or to ``-o FILE`` created with mode 0600.
* Progress, logs and warnings go to stderr (:data:`stderr`).
* Errors a user can fix raise :class:`UsageProblem`; they print one clear line
  and exit 2. Nothing prints a traceback unless ``--debug`` or ``PHANTOMKEYS_DEBUG=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from phantomkeys.core.exitcodes import ExitCode as ExitCode  # the one enum, re-exported
from phantomkeys.core.findings import Severity

if TYPE_CHECKING:
    from rich.console import Console

    from phantomkeys.aws.session import AwsContext

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


#: The hint for missing or expired AWS credentials.
CREDENTIALS_HINT = "configure credentials (aws configure / aws sso login) or pass --profile"


@contextlib.contextmanager
def aws_errors(
    failed: str = "AWS call failed",
    *,
    limit: int | None = None,
    hint: str | None = None,
    credentials_hint: str = CREDENTIALS_HINT,
    lookups: bool = True,
) -> Iterator[None]:
    """AWS setup and call failures as one line, never a traceback (the one translator).

    A setup problem (profile, region, credentials) exits 2; a failed call
    (``{failed}: CODE: message``, the message cut at ``limit`` characters) exits 3,
    since something asked for was not read. ``lookups=False`` leaves failed calls to
    the caller. Codes and messages come from :func:`phantomkeys.aws.session.error_code`.
    """
    from phantomkeys.aws.session import (
        LOOKUP_ERRORS,
        SETUP_ERRORS,
        AwsSetupError,
        error_code,
        error_message,
    )

    catch_lookups: tuple[type[BaseException], ...] = LOOKUP_ERRORS if lookups else ()
    try:
        yield
    except AwsSetupError as exc:
        raise UsageProblem(str(exc)) from None
    except SETUP_ERRORS as exc:
        raise UsageProblem(
            f"AWS credentials: {error_message(exc)}", hint=credentials_hint
        ) from None
    except catch_lookups as exc:
        raise UsageProblem(
            f"{failed}: {error_code(exc)}: {error_message(exc)[:limit]}",
            hint=hint,
            code=ExitCode.INCOMPLETE,
        ) from None


def aws_context(profile: str | None, region: str | None, *, hint: str | None = None) -> AwsContext:
    """An ``AwsContext`` for ``--profile``/``--region``; a bad profile or region is exit 2."""
    from phantomkeys.aws.session import AwsContext, AwsSetupError

    try:
        return AwsContext.from_cli(profile, region)
    except AwsSetupError as exc:
        raise UsageProblem(str(exc), hint=hint) from None


def debug_enabled() -> bool:
    """``--debug`` or ``PHANTOMKEYS_DEBUG=1``: tracebacks instead of one-line errors."""
    return GLOBALS.debug or os.environ.get("PHANTOMKEYS_DEBUG") == "1"


#: Said after Ctrl-C when the command did not say more: outputs are written whole
#: (temporary file, then rename) or not at all, so a rerun is all it takes.
INTERRUPTED_HINT = "no partial output was written; run the command again"


def _interrupted(message: str = "interrupted", hint: str = INTERRUPTED_HINT) -> NoReturn:
    with contextlib.suppress(Exception):  # a broken stderr must not hide the code
        _console().print("[bold red]error:[/] " + _escape(message))
        if hint:
            _console().print(f"[dim]hint:[/] {_escape(hint)}")
    raise SystemExit(ExitCode.INTERRUPTED)


def run_cli(group: click.Group, argv: Sequence[str] | None = None) -> Any:
    """Run the CLI with the house error policy (no tracebacks, documented exit codes).

    ``2`` usage or input (``UsageProblem``, a click usage error, a file that cannot
    be read or written), ``130`` Ctrl-C in every command (click alone says
    "Aborted!" and exits 1, the findings code), ``70`` anything else: a bug, the
    only case that asks to be reported.
    """
    # Scans build hundreds of thousands of short-lived objects (parsed IAM pages,
    # policies, findings); with the default threshold (700) the cycle collector
    # runs thousands of times and holds the GIL while the network threads wait.
    # Collect every 100,000 allocations instead: cycles are still freed.
    gc.set_threshold(100_000, *gc.get_threshold()[1:])
    previous = _watch_sigint()
    try:
        return _run(group, argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


#: Set by the SIGINT handler: some libraries turn the KeyboardInterrupt raised in
#: their code into their own error (DuckDB: "Query interrupted"); that is still Ctrl-C.
_SIGINT_SEEN = threading.Event()


def _on_sigint(signum: int, frame: Any) -> None:
    _SIGINT_SEEN.set()
    signal.default_int_handler(signum, frame)


def _watch_sigint() -> Any:
    """Install :func:`_on_sigint` in place of Python's default handler (never over
    an ignored SIGINT or another handler); returns the one to restore, or None."""
    _SIGINT_SEEN.clear()
    if threading.current_thread() is not threading.main_thread():
        return None
    current = signal.getsignal(signal.SIGINT)
    if current is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, _on_sigint)
    return current


def _run(group: click.Group, argv: Sequence[str] | None) -> Any:
    try:
        result = group.main(
            args=list(argv) if argv is not None else None,
            prog_name="phantomkeys",
            standalone_mode=False,
        )
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__ or exc.__cause__, EOFError):
            _console().print("[bold red]error:[/] no answer: standard input is closed")
            sys.exit(ExitCode.USAGE)
        if isinstance(exc.__context__ or exc.__cause__, KeyboardInterrupt):
            _interrupted()
        _console().print("[bold red]error:[/] aborted: nothing was written")
        sys.exit(ExitCode.USAGE)
    except KeyboardInterrupt:
        _interrupted()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file or a pipe we could not use: the user's to fix
        _traceback_when_debugging()
        import errno

        if exc.errno == errno.EPIPE:  # `phantomkeys ... | head`: the reader left
            sys.exit(ExitCode.OK)
        _console().print("[bold red]error:[/] " + _escape(describe_os_error(exc)))
        sys.exit(ExitCode.USAGE)
    except Exception as exc:  # a bug: one line (traceback with --debug), exit 70
        if _SIGINT_SEEN.is_set():  # Ctrl-C, surfacing as a library's own error
            _interrupted()
        _traceback_when_debugging()
        name = type(exc).__name__
        _console().print("[bold red]error:[/] internal error: " + _escape(f"{name}: {exc}"))
        _console().print(
            "[dim]This is a bug in phantomkeys: please report it, with the output of "
            "the same command run with --debug (it shows the traceback).[/]"
        )
        sys.exit(ExitCode.INTERNAL)
    sys.exit(result if isinstance(result, int) else ExitCode.OK)


def _traceback_when_debugging() -> None:
    """With ``--debug`` / ``PHANTOMKEYS_DEBUG=1``, the traceback of the exception being
    handled goes to stderr (the exit code stays the documented one)."""
    if debug_enabled():
        import traceback

        traceback.print_exc(file=sys.stderr)


def describe_os_error(exc: OSError, *, action: str | None = None) -> str:
    """``cannot write out.json: Permission denied``: one line for any ``OSError``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        verb = action or "use"
        return f"cannot {verb} {os.fsdecode(exc.filename)}: {reason}"
    return f"{action + ': ' if action else ''}{reason}"


def end_process(code: Any) -> NoReturn:
    """Exit with ``code`` without the interpreter's teardown, when that is safe.

    Tearing down frees every object still alive one by one: the IAM catalog,
    botocore's service models, the memoised evaluations. After a large scan
    that is ~0.1 s spent on nothing. So once no other thread runs, the atexit
    handlers run and stdout and stderr are flushed, and the process ends there.
    With another thread alive, a code that is not a number, a failed flush, or
    ``PHANTOMKEYS_DEBUG=1``, it is the ordinary ``sys.exit``. An interrupted run
    (130) always ends here: worker threads still waiting on AWS must not keep a
    process the user stopped alive.
    """
    interrupted = code == ExitCode.INTERRUPTED
    if not interrupted and (
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
        if not interrupted:
            sys.exit(code)
    os._exit(code or 0)


# ----------------------------------------------------------------- output


#: File extension -> output format, when ``--format`` is not given (``-o report.sarif``).
EXTENSION_FORMATS: dict[str, tuple[str, ...]] = {
    ".json": ("json",),
    ".sarif": ("sarif",),
    ".html": ("html",),
    ".htm": ("html",),
    ".csv": ("csv",),
    ".md": ("markdown", "md"),
    ".markdown": ("markdown", "md"),
    ".txt": ("text", "table"),
}

#: Words that are formats, not file names: ``-o json`` is the AWS CLI's ``--output json``.
_FORMAT_WORDS = frozenset(
    {"json", "text", "table", "yaml", "yaml-stream", "csv", "sarif", "html", "markdown", "md"}
    | {"ocsf", "asff", "jsonl", "ndjson", "tsv", "txt"}
)


def _output_problem(option: str, path: str, reason: str, hint: str | None = None) -> UsageProblem:
    return UsageProblem(f"{option}: cannot write {path}: {reason}", hint=hint)


def _probe_directory(folder: Path, option: str, path: str) -> None:
    """The folder exists and a file can really be created in it (root ignores modes,
    read-only mounts and /proc do not: only trying tells)."""
    import tempfile

    where = str(folder) or "."
    if not folder.is_dir():
        raise _output_problem(option, path, f"{where} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".phantomkeys-probe-")
    except OSError as exc:
        raise _output_problem(option, path, f"folder {where}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_output_path(path: str | None, *, option: str = "-o/--output") -> str | None:
    """Check an output FILE before any work starts; returns ``path`` unchanged.

    ``None`` and ``-`` are stdout. An existing target must be a regular file (it is
    replaced) or a device or pipe such as ``/dev/null`` (written in place, its mode
    untouched). Missing folders are created when the file is written, so the
    nearest existing one must accept a new entry. A folder as the target, a path
    through a regular file, or a folder that refuses new files is a one-line
    error, exit 2.
    """
    if path in (None, "-"):
        return path
    assert path is not None
    if not path.strip():
        raise UsageProblem(f"{option}: empty file name")
    target = Path(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _output_problem(option, path, exc.strerror or str(exc)) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _output_problem(option, path, "it is a folder", hint="give a file name inside it")
        if not stat.S_ISREG(st.st_mode):
            if not stat.S_ISFIFO(st.st_mode) and not os.access(target, os.W_OK):
                raise _output_problem(option, path, "not writable")
            return path  # a device or a pipe: written in place
        real = Path(os.path.realpath(target))
        _probe_directory(real.parent, option, path)
        return path
    # Missing folders are created (0700) when the file is written: the nearest
    # existing one must be a folder that accepts a new entry.
    _probe_directory(_nearest_existing(target.parent), option, path)
    return path


def _nearest_existing(folder: Path) -> Path:
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output_dir(path: str | None, *, option: str) -> str | None:
    """Check a folder the command writes into, before any work starts.

    An existing folder must accept a new file; a missing one is created later
    (mode 0700) when the nearest existing parent accepts one.
    """
    if path is None:
        return None
    if not str(path).strip():
        raise UsageProblem(f"{option}: empty folder name")
    folder = Path(path)
    if folder.exists():
        if not folder.is_dir():
            raise _output_problem(option, str(path), "it exists and is not a folder")
        _probe_directory(folder, option, str(path))
        return path
    _probe_directory(_nearest_existing(folder.parent), option, str(path))
    return path


def _output_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return None
    option = "/".join(param.opts) if param.opts else "--output"
    text = os.fsdecode(value)
    word = text.strip().lower()
    fmt_param = _format_param(ctx)
    if word in _FORMAT_WORDS and not Path(text).exists():
        suggestion = word if fmt_param is None or word in _choices(fmt_param) else None
        hint = (
            f"did you mean --format {suggestion}?"
            if suggestion
            else "did you mean --format? (this command has: "
            + ", ".join(_choices(fmt_param) if fmt_param else ())
            + ")"
        )
        raise UsageProblem(
            f"{option} {text}: {option} names the FILE to write, not a format",
            hint=hint + f" To write a file named {text}, pass ./{text}.",
        )
    return check_output_path(text, option=option)


def output_path_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for any option naming a file we write (``--save-snapshot``)."""
    if value is None:
        return None
    return check_output_path(os.fsdecode(value), option="/".join(param.opts) or param.name or "")


def output_dir_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for any option naming a folder we write into (``--backup-dir``)."""
    if value is None:
        return None
    return check_output_dir(os.fsdecode(value), option="/".join(param.opts) or param.name or "")


def _format_param(ctx: click.Context | None) -> click.Parameter | None:
    if ctx is None:
        return None
    for param in ctx.command.params:
        if param.name == "fmt" and isinstance(param.type, click.Choice):
            return param
    return None


def _choices(param: click.Parameter) -> list[str]:
    return [str(c) for c in getattr(param.type, "choices", ())]


def format_from_extension(path: str | None, choices: Sequence[str]) -> str | None:
    """The format a file name asks for (``report.sarif`` -> ``sarif``), if offered."""
    if path in (None, "-"):
        return None
    assert path is not None
    for candidate in EXTENSION_FORMATS.get(Path(path).suffix.lower(), ()):
        if candidate in choices:
            return candidate
    return None


def open_output(path: str | None) -> Any:
    """A text stream for results: stdout, or :class:`AtomicOutput` for ``path``."""
    if path in (None, "-"):
        return sys.stdout
    assert path is not None
    return AtomicOutput(path)


class AtomicOutput:
    """A text file that appears whole or not at all.

    A regular file is written to a temporary file in the same folder (mode 0600)
    and renamed over the target on :meth:`close`, so Ctrl-C or a crash never
    leaves half a report and a reader never sees one. A device or a pipe
    (``/dev/null``, ``>(gzip)``) is written in place and keeps its mode.
    ``OSError`` becomes a one-line :class:`UsageProblem` (exit 2).
    """

    def __init__(self, path: str, *, option: str = "-o/--output") -> None:
        check_output_path(path, option=option)
        self.path = path
        self._tmp: str | None = None
        self.target = path
        try:
            try:
                st: os.stat_result | None = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISREG(st.st_mode):
                fd = os.open(path, os.O_WRONLY)
            else:
                import tempfile

                self.target = os.path.realpath(path)
                folder, name = os.path.split(self.target)
                os.makedirs(folder or ".", mode=0o700, exist_ok=True)
                fd, self._tmp = tempfile.mkstemp(
                    dir=folder or ".", prefix=f".{name}.", suffix=".tmp"
                )
            self._stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        except OSError as exc:
            self._discard()
            raise UsageProblem(describe_os_error(exc, action="write")) from None
        self.buffer = self._stream.buffer

    def write(self, text: str) -> int:
        return int(self._guard(lambda: self._stream.write(text)))

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except OSError as exc:
            self.abort()
            raise UsageProblem(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Finish: flush, sync and rename into place."""
        if self._stream.closed:
            return
        try:
            self._stream.flush()
            if self._tmp is not None:
                os.fsync(self._stream.fileno())
            self._stream.close()
            if self._tmp is not None:
                os.replace(self._tmp, self.target)
                self._tmp = None
        except OSError as exc:
            self.abort()
            raise UsageProblem(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def abort(self) -> None:
        """Drop what was written: the target is left as it was."""
        with contextlib.suppress(OSError):
            self._stream.close()
        self._discard()

    def _discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_output(text: str | bytes, path: str | None) -> None:
    """Results to stdout or ``path`` (atomically); UTF-8 ``bytes`` skip a text round trip."""
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
    except OSError as exc:
        if not isinstance(stream, AtomicOutput):
            raise
        stream.abort()
        raise UsageProblem(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        if isinstance(stream, AtomicOutput):
            stream.abort()
        raise
    if isinstance(stream, AtomicOutput):
        stream.close()
    if path not in (None, "-"):
        info(f"wrote {path}")


def write_private_file(path: Path, text: str) -> None:
    """Write a file only its owner can read (backups, snapshots, journals), atomically.

    Its folder is created (0700) when missing; the file appears whole or not at all.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageProblem(describe_os_error(exc, action="create the folder")) from None
    with AtomicOutput(str(path), option=str(path)) as out:
        out.write(text)


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
    """The format when ``--format`` is not given: the ``-o`` file's extension when the
    command offers it (``-o report.sarif``); else ``table`` on a terminal, and ``json``
    (when offered) into a pipe or a file."""
    ctx = click.get_current_context(silent=True)
    param = _format_param(ctx)
    choices = _choices(param) if param is not None else []
    output = ctx.params.get("output") if ctx is not None else None
    if isinstance(output, str) and output != "-":
        by_ext = format_from_extension(output, choices)
        if by_ext:
            return by_ext
        return "json" if "json" in choices or not choices else choices[0]
    return "table" if sys.stdout.isatty() else "json"


def resolve_format(fmt: str | None) -> str:
    """``--format`` when the user gave it; otherwise :func:`default_format`, so a
    command whose ``--format`` has a default still follows ``-o``'s extension."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    given = ctx.get_parameter_source("fmt") if ctx is not None else None
    if fmt is not None and given not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        return fmt.lower()
    output = ctx.params.get("output") if ctx is not None else None
    param = _format_param(ctx)
    if isinstance(output, str) and param is not None:
        by_ext = format_from_extension(output, _choices(param))
        if by_ext:
            return by_ext
    return (fmt or default_format()).lower()


def region_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Check ``--region``-style options against botocore's partition data (offline),
    before any AWS call: a typo is a usage error (exit 2), not an incomplete run."""
    if value is None or value == ():
        return value
    from phantomkeys.aws.regions import RegionError, validate_region, validate_regions

    option = "/".join(param.opts) if param.opts else f"--{param.name}"
    try:
        if isinstance(value, (tuple, list)):
            return tuple(validate_regions(value, option=option))
        return validate_region(str(value), option=option)
    except RegionError as exc:
        raise UsageProblem(str(exc)) from None


def aws_options(f: F) -> F:
    """``--profile`` and ``--region``, as in the AWS CLI (one definition for every command)."""
    f = click.option(
        "--region",
        metavar="REGION",
        callback=region_callback,
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
        help=f"Output format ({', '.join(choices)}); default: from -o FILE's extension "
        f"(.json, .sarif, .html, .csv, .md), else table on a terminal and json when piped "
        f"or written to a file. {help_extra}".strip(),
    )


def output_option(help: str | None = None) -> Callable[[F], F]:
    """``-o/--output FILE``: checked before the command runs, written atomically."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(allow_dash=True),
        default=None,
        callback=_output_callback,
        help=help
        or "Write results to FILE instead of stdout (a new file is created 0600, "
        "whole or not at all); the format follows its extension unless --format is given.",
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


def now_utc() -> datetime:
    """The wall clock, read only at the CLI edge and passed into the pure core."""
    return datetime.now(UTC)
