"""Charts as server-rendered SVG: no JavaScript, no CDN, readable by a screen reader.

Each chart carries a <title> and a <desc> that says in words what it shows (last value,
highest value, the threshold), so the figure is there without the drawing. Values may be
None: the line breaks there instead of inventing a zero. Every label is escaped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Mark:
    """A vertical marker at a moment (a rollout), with the text shown on hover."""

    time: datetime
    label: str


def _fmt(value: float | None, y_format: Callable[[float], str]) -> str:
    return "no data" if value is None else y_format(value)


def _scale(values, threshold) -> tuple[float, float]:
    """(bottom, top) of the y axis: from 0, or below it for negative values (a day of
    refunds), to a tenth above the highest value or threshold."""
    known = [v for v in values if v is not None] + ([threshold] if threshold is not None else [])
    top = max(known, default=0.0)
    bottom = min(known + [0.0])
    return bottom * 1.1, (max(top * 1.1, 0.0) or (0.0 if bottom else 1.0))


def _y(value: float, scale: tuple[float, float], height: int) -> float:
    bottom, top = scale
    return round(height - (value - bottom) / ((top - bottom) or 1.0) * height, 1)


def _x(time: datetime, start: datetime, end: datetime, width: float) -> float:
    span = (end - start).total_seconds() or 1.0
    return round(max(0.0, min(1.0, (time - start).total_seconds() / span)) * width, 1)


def _path(points, start, end, width, height, scale) -> str:
    """An SVG path through the points; a None value lifts the pen (a gap)."""
    parts, pen_down = [], False
    for time, value in points:
        if value is None:
            pen_down = False
            continue
        x = _x(time, start, end, width)
        y = _y(value, scale, height)
        parts.append(f"{'L' if pen_down else 'M'}{x},{y}")
        pen_down = True
    return " ".join(parts)


def _describe(points, y_format, threshold, threshold_label) -> str:
    values = [v for _, v in points if v is not None]
    if not values:
        return "No data in this window."
    text = f"Last {_fmt(values[-1], y_format)}, highest {_fmt(max(values), y_format)}"
    if threshold is not None:
        above = sum(1 for v in values if v > threshold)
        text += f"; {threshold_label or 'threshold'} {y_format(threshold)}"
        text += f", {above} of {len(values)} points above it" if above else ", never above it"
    return text + "."


def line_chart(
    points: Sequence[tuple[datetime, float | None]],
    *,
    start: datetime,
    end: datetime,
    title: str,
    width: int = 600,
    height: int = 140,
    threshold: float | None = None,
    threshold_label: str = "",
    marks: Sequence[Mark] = (),
    y_format: Callable[[float], str] = lambda v: f"{v:g}",
    css_class: str = "chart",
) -> SafeString:
    """A time series from `start` to `end`, with an optional horizontal threshold (an
    SLO line) and vertical marks (rollouts)."""
    scale = _scale([v for _, v in points], threshold)
    desc = _describe(points, y_format, threshold, threshold_label)
    out = [
        f'<svg class="{escape(css_class)}" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="none" aria-label="{escape(title)}: {escape(desc)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]
    for mark in marks:
        if start <= mark.time <= end:
            x = _x(mark.time, start, end, width)
            out.append(
                f'<line class="chart-mark" x1="{x}" y1="0" x2="{x}" y2="{height}">'
                f"<title>{escape(mark.label)}</title></line>"
            )
    if threshold is not None:
        y = _y(threshold, scale, height)
        label = escape(f"{threshold_label} {y_format(threshold)}".strip())
        out.append(
            f'<line class="chart-threshold" x1="0" y1="{y}" x2="{width}" y2="{y}">'
            f"<title>{label}</title></line>"
        )
        out.append(f'<text class="chart-label" x="{width - 4}" y="{max(y - 3, 10)}">{label}</text>')
    path = _path(points, start, end, width, height, scale)
    if path:
        out.append(f'<path class="chart-line" d="{path}"/>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped


def sparkline(
    points: Sequence[tuple[datetime, float | None]],
    *,
    start: datetime,
    end: datetime,
    title: str,
    threshold: float | None = None,
    threshold_label: str = "",
    marks: Sequence[Mark] = (),
    y_format: Callable[[float], str] = lambda v: f"{v:g}",
) -> SafeString:
    """A small line chart for a table cell (same drawing, fewer pixels)."""
    return line_chart(
        points,
        start=start,
        end=end,
        title=title,
        width=160,
        height=32,
        threshold=threshold,
        threshold_label=threshold_label,
        marks=marks,
        y_format=y_format,
        css_class="sparkline",
    )
