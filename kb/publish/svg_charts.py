"""Charts drawn on the server as accessible SVG: each has a <title> and a <desc> that screen readers
announce, a tooltip per mark, and under it a data table in a <details> element, so its numbers can
be read (and copied) without JavaScript and without seeing the chart. The SVG scales to its
container (a viewBox, no fixed width), so a chart never widens a narrow page."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 58
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One line of a line chart: its name and a value per label."""

    name: str
    values: Sequence[float]


def whole(value: float) -> str:
    """A count as shown: 1,234."""
    return f"{value:,.0f}"


def percent(value: float) -> str:
    """A share (0 to 1) as a percentage: 12.5%."""
    return f"{100 * value:.1f}%"


def usd_short(value: float) -> str:
    """US dollars in a few characters: $1.2bn, $350m, $80k."""
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= size:
            return f"${value / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"${value:,.0f}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, chart_id: str, title: str, desc: str,
              column: str, fmt: Format = whole, extra: dict[str, list[str]] | None = None) -> Markup:
    """A bar per label (weeks, months), with the data table ``label | column | extra...`` under it."""
    top, ticks = axis_top(max(values, default=0), counts=fmt is whole)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    marks = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        marks.append(f'<rect x="{LEFT + i * step + step * 0.1:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{step * 0.8:.1f}" height="{h:.1f}" fill="{COLOURS[0]}">'
                     f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>")
    svg = _frame(chart_id, title, desc, labels, ticks, fmt, marks, x=lambda i: LEFT + step * (i + 0.5))
    return _figure(chart_id, title, svg, labels, {column: [fmt(v) for v in values], **(extra or {})})


def line_chart(labels: Sequence[str], series: Sequence[Series], *, chart_id: str, title: str,
               desc: str, fmt: Format = whole) -> Markup:
    """A line per series over the labels, a legend under the axis, and the data table
    ``label | series...`` under the chart."""
    top, ticks = axis_top(max((v for s in series for v in s.values), default=0), counts=fmt is whole)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    marks = []
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{TOP + plot_h - plot_h * v / top:.1f}" for i, v in enumerate(s.values))
        marks.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                     f"<title>{escape(s.name)}</title></polyline>")
        lx, ly = LEFT + (n % 4) * (plot_w / 4), HEIGHT + 12 + 16 * (n // 4)
        marks.append(f'<rect x="{lx:.1f}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14:.1f}" y="{ly + 1}">{escape(s.name)}</text>')
    svg = _frame(chart_id, title, desc, labels, ticks, fmt, marks, x=x, legend_rows=(len(series) + 3) // 4)
    return _figure(chart_id, title, svg, labels, {s.name: [fmt(v) for v in s.values] for s in series})


def axis_top(peak: float, *, counts: bool = False) -> tuple[float, list[float]]:
    """The top of the value axis and its ticks: round steps (1, 2, 2.5 or 5 times a power of ten;
    whole ones for counts), up to five ticks, the top at or just above the peak."""
    if peak <= 0:
        return 1, [0, 1]
    rough = max(peak / 4, 1) if counts else peak / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in ((1, 2, 5, 10) if counts else (1, 2, 2.5, 5, 10)) if m * power >= rough)
    count = math.ceil(peak / step - 1e-9)
    return step * count, [step * i for i in range(count + 1)]


def _frame(chart_id: str, title: str, desc: str, labels: Sequence[str], ticks: list[float], fmt: Format,
           marks: list[str], *, x: Callable[[int], float], legend_rows: int = 0) -> str:
    """The SVG around the marks: title, description, axes, value ticks, spaced labels."""
    top = ticks[-1]
    height = HEIGHT + 16 * legend_rows + (6 if legend_rows else 0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="sans-serif" font-size="11">'
           f'<title id="{chart_id}-title">{escape(title)}</title>'
           f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    for tick in ticks:
        y = base - plot_h * tick / top
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{LEFT - 5}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>')
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#333"/>')
    every = max(1, -(-len(labels) // 10))
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(f'<text x="{x(i):.1f}" y="{base + 12}" text-anchor="end" '
                       f'transform="rotate(-35 {x(i):.1f} {base + 12})">{escape(label)}</text>')
    if not labels:
        out.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">No data yet</text>')
    return "".join(out + marks + ["</svg>"])


def _figure(chart_id: str, title: str, svg: str, labels: Sequence[str],
            columns: dict[str, list[str]]) -> Markup:
    """The chart, then its data in a folded table (rows newest first when labels are dates)."""
    head = "".join(f'<th scope="col">{escape(name)}</th>' for name in columns)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f'<td class="num">{escape(values[i])}</td>' for values in columns.values()) + "</tr>"
        for i, label in reversed(list(enumerate(labels))))
    return Markup(f'<figure class="chart svg-chart" id="{chart_id}">{svg}'
                  f'<details class="chart-data"><summary>Data table</summary><div class="table-scroll">'
                  f"<table><caption>{escape(title)}</caption><thead><tr><th></th>{head}</tr></thead>"
                  f"<tbody>{rows}</tbody></table></div></details></figure>")
