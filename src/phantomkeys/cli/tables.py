"""Result tables that fit the terminal: the columns that matter stay, the rest wait for ``--wide``.

Each command lists its columns with a priority (0 is never dropped) and the width
under which a column stops being readable. :func:`fit` keeps columns in priority
order while their minimum widths fit the terminal and names the ones it left out,
so the table says what ``--wide`` would add. Cells are text the command built
with :func:`phantomkeys.report.safetext.markup` for anything from AWS, logs or
files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: ``--wide``: as wide as the table needs (lines are never folded by the terminal width).
WIDE = 10_000


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    #: 0: always shown; higher numbers are dropped first when the terminal is narrow.
    priority: int
    #: Below this many characters the column is not worth showing.
    min_width: int
    no_wrap: bool = False


def layout(
    output: str | None, *, wide: bool = False, default: int = 160
) -> tuple[int | None, bool]:
    """``(width, fit)`` for a results table written to ``output``.

    On a terminal: its width (rich reads ``COLUMNS`` and the tty), and ``fit`` so
    low-value columns are left out to fit it. To a file or a pipe: ``default``
    columns with every column kept (folded cells). ``--wide``: ``(None, False)``,
    every column, as wide as the table needs.
    """
    import sys

    if wide:
        return None, False
    if output in (None, "-") and sys.stdout.isatty():
        from rich.console import Console

        return Console(file=sys.stdout).width, True
    return default, False


def fit(columns: Sequence[Column], width: int | None) -> tuple[list[Column], list[Column]]:
    """The columns to show at ``width`` (table order kept) and the ones dropped.

    ``None`` (``--wide``) keeps every column. The estimate counts rich's default
    box: one rule per column plus one, and one space of padding each side.
    """
    if width is None:
        return list(columns), []
    kept: set[str] = set()
    used = 1
    for col in sorted(columns, key=lambda c: c.priority):
        need = col.min_width + 3
        if col.priority > 0 and used + need > width:
            break
        kept.add(col.name)
        used += need
    shown = [c for c in columns if c.name in kept]
    return shown, [c for c in columns if c.name not in kept]


def build_table(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, str]],
    width: int | None,
    *,
    fit_width: bool = False,
    **table_options: Any,
) -> tuple[Any, str | None]:
    """A rich table of ``rows`` (cell markup by column name) and the note naming the
    columns left out (``None`` when all are shown).

    With ``fit_width``, columns are left out to fit ``width`` (:func:`fit`) and the
    rest get widths that fit it: the least important columns give up their width
    first, down to their minimum, before the ones that are always shown fold.
    (rich alone shrinks the widest column first, whatever it holds.)
    """
    from rich.table import Table

    target = width if fit_width else None
    shown, dropped = fit(columns, target)
    table = Table(**table_options)
    for col in shown:
        table.add_column(col.name, overflow="fold", no_wrap=col.no_wrap)
    if target is not None:
        edge = 0 if table_options.get("pad_edge", True) else 2
        _assign_widths(table, shown, rows, target - (3 * len(shown) + 1 - edge))
    for cells in rows:
        table.add_row(*(cells.get(c.name, "") for c in shown))
    return table, hidden_note(dropped)


def _assign_widths(
    table: Any, shown: Sequence[Column], rows: Sequence[Mapping[str, str]], available: int
) -> None:
    from rich.cells import cell_len
    from rich.text import Text

    natural = []
    for col in shown:
        lines = [col.name] + [
            line
            for cells in rows
            for line in Text.from_markup(cells.get(col.name, "")).plain.split("\n")
        ]
        natural.append(max(cell_len(line) for line in lines))
    excess = sum(natural) - available
    if excess <= 0:
        return  # rich's own widths fit
    widths = list(natural)
    for i in sorted(range(len(shown)), key=lambda i: -shown[i].priority):
        if excess <= 0:
            break
        if shown[i].no_wrap:
            continue
        cut = min(excess, widths[i] - min(shown[i].min_width, natural[i]))
        widths[i] -= cut
        excess -= cut
    foldable = [i for i, col in enumerate(shown) if not col.no_wrap]
    while excess > 0 and foldable:  # every column at its minimum: fold the widest
        widest = max(foldable, key=lambda i: widths[i])
        if widths[widest] <= 4:
            break
        widths[widest] -= 1
        excess -= 1
    for column, w in zip(table.columns, widths, strict=True):
        column.width = w


def hidden_note(dropped: Sequence[Column]) -> str | None:
    """One dim line naming the columns left out, or ``None`` when every column is shown."""
    if not dropped:
        return None
    names = ", ".join(c.name for c in dropped)
    return f"[dim]not shown at this width: {names} (--wide shows every column)[/]"


def wide_option() -> Callable[[F], F]:
    return click.option(
        "--wide",
        is_flag=True,
        help="Table format: keep every column, however wide the terminal "
        "(by default low-value columns are left out to fit it).",
    )
