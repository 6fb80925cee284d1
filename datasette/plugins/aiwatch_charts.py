"""Charts drawn on the server as SVG (no JavaScript): topic counts per week."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from datasette import Response, hookimpl
from kb.publish.web import read, topics_per_week

WIDTH, HEIGHT = 900, 360
LEFT, RIGHT, TOP, BOTTOM = 50, 170, 20, 60
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def render_lines(rows: list[dict[str, Any]], *, title: str) -> str:
    """A line chart of ``articles`` per ``week``, one line per ``topic``, with axes and a legend."""
    weeks = sorted({r["week"] for r in rows if r["week"]})
    topics = sorted({r["topic"] for r in rows})
    counts = {(r["week"], r["topic"]): r["articles"] for r in rows}
    top = max([r["articles"] for r in rows] or [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(weeks) - 1) if len(weeks) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-label={quoteattr(title)} font-family="sans-serif" '
           f'font-size="11"><title>{escape(title)}</title>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>']
    for tick in sorted({0, top // 2, top}):
        out.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>'
                   f'<line x1="{LEFT}" y1="{y(tick):.1f}" x2="{LEFT + plot_w}" y2="{y(tick):.1f}" '
                   f'stroke="#eee"/>')
    step = max(1, len(weeks) // 12)
    for i, week in enumerate(weeks):
        if i % step == 0:
            out.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 14}" text-anchor="end" '
                       f'transform="rotate(-40 {x(i):.1f} {TOP + plot_h + 14})">{escape(week)}</text>')
    for n, topic in enumerate(topics):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(counts.get((w, topic), 0)):.1f}" for i, w in enumerate(weeks))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                   f'<title>{escape(topic)}</title></polyline>')
        ly = TOP + 14 + 18 * n
        out.append(f'<rect x="{WIDTH - RIGHT + 15}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{WIDTH - RIGHT + 32}" y="{ly + 1}">{escape(topic)}</text>')
    if not weeks:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">No topics yet</text>')
    out.append("</svg>")
    return "".join(out)


TITLE = "Articles per topic per week"


async def topics_chart(request: Any, datasette: Any) -> Response:
    svg = render_lines(await read(datasette, topics_per_week), title=TITLE)
    if request.url_vars.get("format") == "svg":
        return Response(svg, content_type="image/svg+xml; charset=utf-8")
    name = datasette.get_database().name
    html = await datasette.render_template("aiwatch_chart.html", {
        "title": TITLE, "description": "How many articles each topic had, week by week (weeks start "
        "on Monday).", "svg": Markup(svg), "svg_url": "/-/charts/topics-per-week.svg",
        "data_url": f"/{name}/topics_per_week", "database": name}, request=request)
    return Response.html(html)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/charts/topics-per-week(\.(?P<format>svg))?$", topics_chart)]
