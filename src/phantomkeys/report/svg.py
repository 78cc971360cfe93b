"""Small server-side SVG charts for the HTML report.

Written in Python instead of shipping a JavaScript chart library: the report is
one self-contained file that needs no network and no script to show its
charts, renders the same in every browser (and in a mail client's preview),
and prints. Every mark carries a ``<title>`` so hovering shows the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

SEVERITY_COLORS = {
    "critical": "#b3261e",
    "high": "#e8590c",
    "medium": "#d4a20b",
    "low": "#3b6fd8",
    "info": "#8a8f98",
}
STATUS_COLORS = {
    "at-risk": "#b3261e",
    "active": "#e8590c",
    "expired": "#8a8f98",
    "orphaned": "#7b4bd1",
    "unknown": "#0c8599",
}
CELL_COLORS = {
    "protected": "#2f9e44",
    "gap": "#c92a2a",
    "exempt": "#adb5bd",
    "unknown": "#f08c00",
    "partial": "#f59f00",
}
_FONT = "font-family:inherit;font-size:12px"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    color: str
    tooltip: str = ""


def _svg(width: int, height: int, body: str, *, name: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" data-chart="{name}" '
        f'role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" style="{_FONT}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    fill: str = "#222",
    weight: str = "normal",
    size: int = 12,
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" '
        f'font-size="{size}" font-weight="{weight}">{escape(text)}</text>'
    )


def _empty(name: str, label: str, message: str, width: int = 420) -> str:
    return _svg(
        width,
        60,
        _text(width / 2, 34, message, anchor="middle", fill="#666"),
        name=name,
        label=label,
    )


def hbar_chart(
    bars: Sequence[Bar],
    *,
    name: str,
    label: str,
    width: int = 420,
    label_width: int = 110,
    empty: str = "Nothing to show",
) -> str:
    """Horizontal bars with the value at the end of each bar."""
    if not bars or all(b.value == 0 for b in bars):
        return _empty(name, label, empty, width)
    row, top = 26, 8
    height = top * 2 + row * len(bars)
    peak = max(b.value for b in bars) or 1
    span = width - label_width - 50
    parts = []
    for i, b in enumerate(bars):
        y = top + i * row
        w = max(2.0, span * b.value / peak) if b.value else 0.0
        tip = escape(b.tooltip or f"{b.label}: {b.value}")
        parts.append(_text(label_width - 8, y + 16, b.label, anchor="end"))
        parts.append(
            f'<rect class="mark" x="{label_width}" y="{y + 4}" width="{w:.1f}" '
            f'height="{row - 8}" rx="3" fill="{b.color}"><title>{tip}</title></rect>'
        )
        parts.append(_text(label_width + w + 6, y + 16, str(b.value), weight="bold"))
    return _svg(width, height, "".join(parts), name=name, label=label)


def column_chart(
    bars: Sequence[Bar],
    *,
    name: str,
    label: str,
    width: int = 420,
    height: int = 200,
    empty: str = "Nothing to show",
) -> str:
    """Vertical columns (a histogram over ordered buckets)."""
    if not bars or all(b.value == 0 for b in bars):
        return _empty(name, label, empty, width)
    left, bottom, top = 30, 34, 18
    plot_h = height - bottom - top
    slot = (width - left - 8) / len(bars)
    peak = max(b.value for b in bars) or 1
    parts = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" '
        f'y2="{height - bottom}" stroke="#999"/>'
    ]
    for i, b in enumerate(bars):
        h = plot_h * b.value / peak
        x = left + i * slot + slot * 0.15
        y = height - bottom - h
        tip = escape(b.tooltip or f"{b.label}: {b.value}")
        if b.value:
            parts.append(
                f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{max(h, 1.5):.1f}" rx="2" fill="{b.color}">'
                f"<title>{tip}</title></rect>"
            )
        parts.append(_text(x + slot * 0.35, y - 4, str(b.value), anchor="middle", weight="bold"))
        parts.append(
            _text(x + slot * 0.35, height - bottom + 16, b.label, anchor="middle", size=11)
        )
    return _svg(width, height, "".join(parts), name=name, label=label)


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    *,
    colors: dict[str, str],
    name: str,
    label: str,
    width: int = 620,
    label_width: int = 200,
    empty: str = "Nothing to show",
) -> str:
    """One horizontal bar per row, split into coloured segments (e.g. by severity)."""
    totals = [sum(v for _, v in segs) for _, segs in rows]
    if not rows or not any(totals):
        return _empty(name, label, empty, width)
    row, top = 22, 8
    legend_h = 22
    height = top + row * len(rows) + legend_h + 6
    peak = max(totals) or 1
    span = width - label_width - 40
    parts = []
    for i, ((row_label, segs), total) in enumerate(zip(rows, totals, strict=True)):
        y = top + i * row
        shown = row_label if len(row_label) <= 28 else row_label[:27] + "…"
        parts.append(
            f"<g><title>{escape(row_label)}</title>"
            f"{_text(label_width - 8, y + 15, shown, anchor='end')}</g>"
        )
        x = float(label_width)
        for key, value in segs:
            if not value:
                continue
            w = span * value / peak
            parts.append(
                f'<rect class="mark" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" '
                f'height="{row - 6}" fill="{colors.get(key, "#999")}">'
                f"<title>{escape(f'{row_label}: {value} {key}')}</title></rect>"
            )
            x += w
        parts.append(_text(x + 5, y + 15, str(total), weight="bold"))
    parts.append(_legend(list(colors.items()), label_width, height - legend_h + 4))
    return _svg(width, height, "".join(parts), name=name, label=label)


def _legend(items: Sequence[tuple[str, str]], x0: float, y: float) -> str:
    parts, x = [], x0
    for key, color in items:
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="11" height="11" rx="2" fill="{color}"/>')
        parts.append(_text(x + 15, y + 10, key, size=11))
        x += 22 + 7 * len(key)
    return '<g class="legend">' + "".join(parts) + "</g>"


def heat_map(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    color: dict[str, str] | str,
    name: str,
    label: str,
    row_notes: Sequence[str] | None = None,
    label_width: int = 190,
    cell_w: int = 76,
    empty: str = "Nothing to show",
) -> str:
    """A grid whose cell opacity grows with the count (zero cells stay pale)."""
    if not row_labels:
        return _empty(name, label, empty)
    cell_h, top = 26, 24
    width = label_width + cell_w * len(col_labels) + 10
    height = top + cell_h * len(row_labels) + 6
    peak = max((v for row in values for v in row), default=0) or 1
    parts = []
    for j, col in enumerate(col_labels):
        parts.append(
            _text(label_width + j * cell_w + cell_w / 2, 16, col, anchor="middle", weight="bold")
        )
    for i, row_label in enumerate(row_labels):
        y = top + i * cell_h
        note = (row_notes[i] if row_notes else "") or ""
        parts.append(
            _text(label_width - 8, y + 17, row_label + (f" {note}" if note else ""), anchor="end")
        )
        for j, col in enumerate(col_labels):
            v = values[i][j]
            fill = color if isinstance(color, str) else color.get(col, "#999")
            opacity = 0.08 if v == 0 else 0.35 + 0.65 * math.sqrt(v / peak)
            x = label_width + j * cell_w
            parts.append(
                f'<rect class="mark" x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" rx="3" fill="{fill}" '
                f'fill-opacity="{opacity:.2f}">'
                f"<title>{escape(f'{row_label} · {col}: {v}')}</title></rect>"
            )
            parts.append(
                _text(
                    x + cell_w / 2,
                    y + 17,
                    str(v),
                    anchor="middle",
                    fill="#fff" if opacity > 0.6 else "#333",
                    weight="bold",
                )
            )
    return _svg(width, height, "".join(parts), name=name, label=label)


def status_grid(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: Sequence[Sequence[tuple[str, str]]],
    *,
    name: str,
    label: str,
    label_width: int = 190,
    cell_w: int = 150,
) -> str:
    """A matrix of categorical cells: ``cells[i][j] = (status, tooltip)``."""
    if not row_labels or not col_labels:
        return _empty(name, label, "No coverage data")
    glyph = {"blocked": "✓", "gap": "✗", "not-enforceable": "–", "unknown": "?", "conditional": "~"}
    cell_h, top = 28, 40
    width = label_width + cell_w * len(col_labels) + 10
    height = top + cell_h * len(row_labels) + 30
    parts = []
    for j, col in enumerate(col_labels):
        shown = col if len(col) <= 24 else col[:23] + "…"
        heading = _text(
            label_width + j * cell_w + cell_w / 2,
            28,
            shown,
            anchor="middle",
            weight="bold",
            size=11,
        )
        parts.append(f"<g><title>{escape(col)}</title>{heading}</g>")
    for i, row_label in enumerate(row_labels):
        y = top + i * cell_h
        parts.append(_text(label_width - 8, y + 18, row_label, anchor="end"))
        for j in range(len(col_labels)):
            status, tip = cells[i][j]
            fill = CELL_COLORS.get(status, "#ced4da")
            x = label_width + j * cell_w
            parts.append(
                f'<rect class="mark" x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" rx="3" fill="{fill}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            parts.append(
                _text(
                    x + cell_w / 2,
                    y + 18,
                    f"{glyph.get(status, '')} {status}",
                    anchor="middle",
                    fill="#fff",
                    weight="bold",
                )
            )
    parts.append(_legend([(k, v) for k, v in CELL_COLORS.items()], label_width, height - 22))
    return _svg(width, height, "".join(parts), name=name, label=label)


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    start: datetime
    end: datetime
    color: str
    count: int
    tooltip: str


def timeline(
    spans: Sequence[Span], *, name: str, label: str, width: int = 860, label_width: int = 230
) -> str:
    """Activity spans on a shared time axis; the dot's area grows with the event count."""
    if not spans:
        return _empty(name, label, "No activity", width)
    row, top, bottom = 26, 10, 40
    height = top + row * len(spans) + bottom
    t0 = min(s.start for s in spans)
    t1 = max(s.end for s in spans)
    total = max((t1 - t0).total_seconds(), 60.0)
    span_px = width - label_width - 30

    def x_of(t: datetime) -> float:
        return label_width + span_px * (t - t0).total_seconds() / total

    parts = []
    axis_y = top + row * len(spans) + 6
    parts.append(
        f'<line x1="{label_width}" y1="{axis_y}" x2="{label_width + span_px}" '
        f'y2="{axis_y}" stroke="#999"/>'
    )
    for k in range(5):
        t = t0 + (t1 - t0) * (k / 4)
        x = x_of(t)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#e3e3e3"/>'
        )
        parts.append(_text(x, axis_y + 18, t.strftime("%m-%d %H:%M"), anchor="middle", size=11))
    parts.append(
        _text(label_width + span_px, axis_y + 32, "UTC", anchor="end", size=10, fill="#666")
    )
    peak = max(s.count for s in spans) or 1
    for i, s in enumerate(spans):
        y = top + i * row + row / 2
        shown = s.label if len(s.label) <= 34 else s.label[:33] + "…"
        parts.append(
            f"<g><title>{escape(s.label)}</title>"
            f"{_text(label_width - 8, y + 4, shown, anchor='end')}</g>"
        )
        x0, x1 = x_of(s.start), x_of(s.end)
        parts.append(
            f'<rect class="mark" x="{x0:.1f}" y="{y - 5:.1f}" '
            f'width="{max(x1 - x0, 3):.1f}" height="10" rx="5" fill="{s.color}" '
            f'fill-opacity="0.75"><title>{escape(s.tooltip)}</title></rect>'
        )
        radius = 3 + 7 * math.sqrt(s.count / peak)
        parts.append(
            f'<circle class="mark" cx="{x1:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
            f'fill="{s.color}"><title>{escape(s.tooltip)}</title></circle>'
        )
    return _svg(width, height, "".join(parts), name=name, label=label)
