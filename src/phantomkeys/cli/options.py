"""The vocabulary: one click option definition per idea, shared by every command.

=================  =============================================================
idea               spelling
=================  =============================================================
parallelism        ``-j/--jobs N``
account filter     ``--account ID[,ID…]``, repeatable (12-digit ids)
regions to read    ``--regions all|R[,R…]``, repeatable (``--region`` stays the
                   AWS client's home region, see :func:`~phantomkeys.cli.common.aws_options`)
confirmation       ``-y/--yes``; ``--dry-run`` where a command writes
times              ``--since``, ``--until``, ``--at``: ISO 8601 or an age (``7d``),
                   parsed by :func:`phantomkeys.core.timeparse.parse_time`
output folder      ``--output-dir DIR``
=================  =============================================================

Old spellings keep working for one release: each is a hidden option whose value
is merged into the new one, with a one-line deprecation warning on stderr naming
the new spelling. Every helper takes ``dest``, the Python parameter name the
command already uses, so a command's body does not change with the spelling.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click

from phantomkeys.cli.common import UsageProblem, now_utc, output_dir_callback, warn
from phantomkeys.core.timeparse import TimeParseError, parse_time

F = TypeVar("F", bound=Callable[..., Any])

_ACCOUNT_RE = re.compile(r"^\d{12}$")


# ------------------------------------------------------------- deprecation


def deprecation_warning(old: str, new: str) -> None:
    """The one line an old spelling prints on stderr."""
    warn(f"{old} is deprecated and will be removed in the next release; use {new}")


def _given(value: Any) -> bool:
    return value is not None and value != () and value is not False


def _with_aliases(
    f: F,
    dest: str,
    new: str,
    aliases: Sequence[tuple[str, str]],
    merge: Callable[[Any, Any], Any],
) -> F:
    """Wrap ``f`` so each hidden alias parameter (``(param, flag)``) is folded into ``dest``."""
    if not aliases:
        return f

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for param, flag in aliases:
            value = kwargs.pop(param, None)
            if _given(value):
                deprecation_warning(flag, new)
                kwargs[dest] = merge(kwargs.get(dest), value)
        return f(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _prefer_new(new: Any, old: Any) -> Any:
    """Single-valued options: the new spelling wins when both are given."""
    return new if _given(new) else old


def _concat(new: Any, old: Any) -> Any:
    """Repeatable options: values of both spellings, new first, without duplicates."""
    return tuple(dict.fromkeys((*(new or ()), *(old or ()))))


def _alias_param(dest: str, flag: str) -> str:
    return f"_deprecated_{dest}_{flag.lstrip('-').replace('-', '_')}"


# ------------------------------------------------------------- parallelism


def jobs_option(
    *,
    dest: str = "jobs",
    default: int | None,
    maximum: int,
    help: str,
    old: Sequence[str] = (),
) -> Callable[[F], F]:
    """``-j/--jobs N``: how many things run at once (accounts, threads, workers)."""

    def decorate(f: F) -> F:
        aliases = [(_alias_param(dest, o), o) for o in old]
        # The default is applied after the merge (inner wrapper), so an old
        # spelling is not shadowed by it.
        f = _default_after_merge(f, dest, default)
        f = _with_aliases(f, dest, "-j/--jobs", aliases, _prefer_new)
        for param, flag in aliases:
            f = click.option(
                flag, param, type=click.IntRange(1, maximum), default=None, hidden=True
            )(f)
        return click.option(
            "-j",
            "--jobs",
            dest,
            type=click.IntRange(1, maximum),
            default=None,
            metavar="N",
            help=help + (f"  [default: {default}]" if default is not None else ""),
        )(f)

    return decorate


def _default_after_merge(f: F, dest: str, default: Any) -> F:
    if default is None:
        return f

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get(dest) is None:
            kwargs[dest] = default
        return f(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------- accounts


def split_accounts(
    values: Sequence[str] | str | None, *, option: str = "--account"
) -> tuple[str, ...]:
    """``a,b`` and repeated values as one tuple of 12-digit account ids, in order."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    ids: list[str] = []
    for value in values:
        for part in value.split(","):
            item = part.strip()
            if not item:
                continue
            if not _ACCOUNT_RE.match(item):
                raise UsageProblem(
                    f"{option}: {item!r} is not a 12-digit AWS account id",
                    hint="for example --account 111122223333,444455556666",
                )
            ids.append(item)
    return tuple(dict.fromkeys(ids))


def account_option(
    *,
    dest: str = "accounts",
    help: str,
    old: Sequence[str] = (),
    single: bool = False,
) -> Callable[[F], F]:
    """``--account ID[,ID…]``, repeatable; the value is a tuple of account ids
    (``single``: one id or ``None``, for commands that act in one account)."""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        flag = "--account" if param.name == dest else _flag_of(param)
        return split_accounts(value, option=flag)

    def finish(value: tuple[str, ...]) -> Any:
        if not single:
            return value
        if len(value) > 1:
            raise UsageProblem("--account: give one account id here")
        return value[0] if value else None

    def decorate(f: F) -> F:
        aliases = [(_alias_param(dest, o), o) for o in old]

        @functools.wraps(f)
        def finishing(*args: Any, **kwargs: Any) -> Any:
            kwargs[dest] = finish(kwargs.get(dest) or ())
            return f(*args, **kwargs)

        g: Any = _with_aliases(finishing, dest, "--account", aliases, _concat)
        for param, flag in aliases:
            g = click.option(flag, param, multiple=True, hidden=True, callback=convert)(g)
        return click.option(  # type: ignore[no-any-return]
            "--account",
            dest,
            multiple=True,
            metavar="ID[,ID…]",
            callback=convert,
            help=help,
        )(g)

    return decorate


def _flag_of(param: click.Parameter) -> str:
    opts = getattr(param, "opts", None) or [param.name or "?"]
    return str(opts[0])


# ------------------------------------------------------------- regions


def _checked_region(validate: Callable[..., Any], name: str, option: str) -> str:
    try:
        checked = validate(name, option=option)
    except ValueError as exc:
        message = str(exc)
        raise UsageProblem(
            message if message.startswith(option) else f"{option}: {message}"
        ) from None
    return checked if isinstance(checked, str) else name


def split_regions(
    values: Sequence[str] | str | None, *, option: str = "--regions", allow_all: bool = True
) -> tuple[str, ...]:
    """``all`` or ``a,b`` and repeated values as a tuple: ``("all",)`` or region names."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    names: list[str] = []
    for value in values:
        names += [p.strip() for p in value.split(",") if p.strip()]
    if not names and values:
        raise UsageProblem(f"{option}: give 'all' or a comma-separated list of regions")
    if any(n.lower() == "all" for n in names):
        if not allow_all:
            raise UsageProblem(f"{option}: name the regions here ('all' is not accepted)")
        return ("all",)
    from phantomkeys.aws.regions import validate_region

    names = [_checked_region(validate_region, name, option) for name in names]
    return tuple(dict.fromkeys(names))


def regions_option(
    *,
    dest: str = "regions",
    help: str,
    default: str | None = None,
    old: Sequence[str] = (),
    as_text: bool = False,
    allow_all: bool = True,
) -> Callable[[F], F]:
    """``--regions all|R[,R…]``, repeatable. The value is a tuple (``("all",)`` for
    every enabled region), or with ``as_text`` the same joined by commas (``None``
    when not given and no ``default``)."""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        flag = "--regions" if param.name == dest else _flag_of(param)
        return split_regions(value, option=flag, allow_all=allow_all)

    def finish(value: tuple[str, ...]) -> Any:
        if not value and default is not None:
            value = split_regions(default)
        if not as_text:
            return value
        return ",".join(value) if value else None

    def decorate(f: F) -> F:
        aliases = [(_alias_param(dest, o), o) for o in old]

        @functools.wraps(f)
        def finishing(*args: Any, **kwargs: Any) -> Any:
            kwargs[dest] = finish(kwargs.get(dest) or ())
            return f(*args, **kwargs)

        g: Any = _with_aliases(finishing, dest, "--regions", aliases, _concat)
        for param, flag in aliases:
            g = click.option(
                flag, param, multiple=True, hidden=True, metavar="REGION", callback=convert
            )(g)
        suffix = f"  [default: {default}]" if default is not None else ""
        return click.option(  # type: ignore[no-any-return]
            "--regions",
            dest,
            multiple=True,
            metavar="all|R[,R…]" if allow_all else "R[,R…]",
            callback=convert,
            help=help + suffix,
        )(g)

    return decorate


# ------------------------------------------------------------- confirmation


def yes_option(*, dest: str = "yes") -> Callable[[F], F]:
    """``-y/--yes``: apply without asking (automation). The plan is still printed."""
    return click.option(
        "-y",
        "--yes",
        dest,
        is_flag=True,
        help="Apply without asking (automation). The plan is still printed.",
    )


def dry_run_option(
    help: str = "Print the plan and stop: nothing is written.",
) -> Callable[[F], F]:
    """``--dry-run``: print the plan and write nothing."""
    return click.option("--dry-run", "dry_run", is_flag=True, help=help)


# ------------------------------------------------------------- times


class TimeParam(click.ParamType[datetime]):
    """A time a user typed (see :mod:`phantomkeys.core.timeparse`), as aware UTC."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        flag = _flag_of(param) if param is not None else "TIME"
        try:
            return parse_time(str(value), now=now_utc())
        except TimeParseError as exc:
            raise UsageProblem(f"{flag}: {exc}", hint=exc.hint) from None


TIME = TimeParam()


def time_value(value: str | None, *, option: str, now: datetime) -> datetime | None:
    """A time typed by a user, parsed against ``now``: ``None`` stays ``None``.

    For values that do not come through a click option (a config entry, a
    prompt); options use :data:`TIME`."""
    if value is None:
        return None
    try:
        return parse_time(value, now=now)
    except TimeParseError as exc:
        raise UsageProblem(f"{option}: {exc}", hint=exc.hint) from None


def time_option(flag: str, *, dest: str | None = None, help: str) -> Callable[[F], F]:
    """``--since``, ``--until`` or ``--at``: ISO 8601 or an age before now; the
    value is an aware UTC datetime (``None`` when not given)."""
    return click.option(
        flag,
        dest or flag.lstrip("-").replace("-", "_"),
        type=TIME,
        default=None,
        metavar="TIME",
        help=f"{help} ISO 8601 (Z or an offset) or an age before now: 30m, 12h, 7d, 2w.",
    )


# ------------------------------------------------------------- output folder


def output_dir_option(
    *,
    dest: str = "output_dir",
    help: str,
    default: str | None = None,
    old: Sequence[str] = (),
) -> Callable[[F], F]:
    """``--output-dir DIR``, for commands that write several files."""

    def decorate(f: F) -> F:
        aliases = [(_alias_param(dest, o), o) for o in old]
        f = _default_after_merge(f, dest, default)
        f = _with_aliases(f, dest, "--output-dir", aliases, _prefer_new)
        for param, flag in aliases:
            f = click.option(
                flag,
                param,
                type=click.Path(),
                default=None,
                hidden=True,
                callback=output_dir_callback,
            )(f)
        return click.option(
            "--output-dir",
            dest,
            type=click.Path(),
            default=None,
            callback=output_dir_callback,
            metavar="DIR",
            help=help + (f"  [default: {default}]" if default is not None else ""),
        )(f)

    return decorate
