"""aiwatch's pages on Datasette: the search page (the home page), article and story pages, the web
views at startup, links in table cells. The work happens in kb.publish.web; this module parses and renders."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from datasette.utils import sqlite3
from datasette.utils.asgi import BadRequest, NotFound
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape
from sqlite_utils.db import Database

from datasette import Response, hookimpl
from kb.enrich.embed import Embedder
from kb.publish.entities import UnknownEntity, entity_page, entity_path, resolve, trends_page
from kb.publish.web import (
    BadParameter,
    article_page,
    datasette_reader,
    filter_options,
    highlight,
    known_filters,
    plain,
    prepare_indexes,
    query_from_args,
    read,
    run_search_explained,
    search_page_data,
    story_page,
    warm_up,
    web_search,
)
from kb.search.engine import MODES, SORTS, Query, Ranking, SearchError
from kb.search.filters import FILTERS
from kb.store.views import VIEWS, ensure_views

log = logging.getLogger("aiwatch")
# A plain Jinja environment for the results list: rendered in the reader's thread, beside the search
# itself, instead of by Datasette's async environment on the event loop (measured: several ms a page
# there, during which no other request is served).
RESULTS_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                          autoescape=True)
RESULTS_ENV.globals["entity_path"] = entity_path
RESULTS = RESULTS_ENV.get_template("_aiwatch_results.html")


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Not a wrapper: the one hook Datasette calls as the server starts (startup hooks wait for the
    first request), used to load the embedding models in the background."""
    if datasette.get_database().path is not None:
        warm_up(datasette_reader(datasette))
    return lambda app: app


@hookimpl
def startup(datasette: Any) -> Any:
    async def create_views() -> None:
        db = datasette.get_database()
        if not db.is_mutable or db.path is None:
            return
        try:
            await db.execute_write_fn(lambda conn: ensure_views(Database(conn)), block=True)
        except sqlite3.DatabaseError as exc:
            log.warning("aiwatch: could not create the web views in %s: %s", db.path, exc)
    return create_views


def query_string(request: Any, **changes: Any) -> str:
    """The current request's non-empty parameters, some changed (None removes one)."""
    params = {k: request.args.get(k) for k in request.args if request.args.get(k)}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlencode(params)


def option_tags(options: dict[str, list[tuple[str, str]]], args: Any) -> dict[str, Markup]:
    """The <option> tags of each filter, the requested value selected: built here rather than in the
    template, where Jinja's async rendering spent several ms a page on a few hundred tags."""
    out = {}
    for name, pairs in options.items():
        chosen = args.get(name) or ""
        out[name] = Markup("\n".join(
            f'<option value="{escape(value)}"{" selected" * (value == chosen)}>{escape(label)}</option>'
            for value, label in pairs))
    return out


def search_page_html(db: Database, query: Query | None, prepared: dict[str, Embedder] | None = None,
                     *, q: str, mode: str) -> tuple[list[dict[str, Any]], Any, Markup, Ranking | None]:
    """The search page's results, filter options, results list as HTML and the query's reading,
    in one call."""
    results, options, ranking = search_page_data(db, query, prepared)
    for r in results:
        r["snippet_html"] = highlight(r["snippet"])
    browse = bool(ranking and ranking.browse)
    return results, options, Markup(RESULTS.render(results=results, q=q, mode=mode, browse=browse)), ranking


def chips_view(request: Any, ranking: Ranking | None) -> dict[str, Any] | None:
    """The query's interpreted chips, each with the link that switches it off, the link that
    switches them all off, and the result counts with and without them."""
    if ranking is None or not ranking.interpretation.chips or not (ranking.browse or ranking.used_chips):
        return None
    off = request.args.getlist("off")
    return {
        "browse": ranking.browse,
        "chips": [{"key": c.key, "kind": c.kind, "label": c.label,
                   "off_url": "/-/search?" + urlencode([*query_pairs(request, drop="off"),
                                                       *(("off", k) for k in [*off, c.key])])}
                  for c in ranking.interpretation.chips],
        "all_off_url": "/-/search?" + urlencode([*query_pairs(request, drop="off"), ("literal", "1")]),
        "results_without_chips": ranking.without_chips,
        "matches": ranking.matches,
    }


def query_pairs(request: Any, *, drop: str, also: str = "") -> list[tuple[str, str]]:
    """The request's non-empty parameters as pairs, less one name (or two)."""
    return [(k, v) for k in request.args if k not in (drop, also) for v in request.args.getlist(k) if v]


def pages_view(request: Any, query: Query | None, ranking: Ranking | None, shown: int) -> dict[str, Any]:
    """Where this page sits among the results: its number, the total, and the links to the pages
    before and after it (None at either end)."""
    if query is None or ranking is None:
        return {"page": None, "total": None, "previous_page": None, "next_page": None}
    page = query.offset // query.limit + 1
    total = ranking.total if ranking.total is not None else query.offset + shown

    def link(number: int) -> str:
        return f"{request.path}?" + urlencode([*query_pairs(request, drop="page"), ("page", str(number))])

    return {"page": page, "total": total, "pages": max(1, -(-total // query.limit)),
            "previous_page": link(page - 1) if page > 1 else None,
            "next_page": link(page + 1) if query.offset + query.limit < total else None}


async def search_view(request: Any, datasette: Any) -> Response:
    as_json = request.url_vars.get("format") == "json"
    try:
        query = query_from_args(request.args, await read(datasette, known_filters))
    except BadParameter as exc:
        raise BadRequest(str(exc)) from None
    results: list[dict[str, Any]] = []
    options = None
    message = None
    results_html = Markup("")
    ranking: Ranking | None = None
    q, mode = request.args.get("q") or "", request.args.get("mode") or "hybrid"
    try:
        if as_json:
            if query is not None:
                results, ranking = await web_search(datasette, query, fn=run_search_explained)
        else:
            results, options, results_html, ranking = await web_search(
                datasette, query, fn=functools.partial(search_page_html, q=q, mode=mode))
    except SearchError as exc:
        message = str(exc).replace("--mode keyword", "the keyword mode")
        if as_json:
            raise BadRequest(message) from None
    paging = pages_view(request, query, ranking, len(results))
    if as_json:
        return Response.json({
            "ok": True, "query": query.text if query else None, "mode": query.mode if query else None,
            "sort": query.sort if query else None, **paging,
            "interpreted": chips_view(request, ranking),
            "results": [{**r, "snippet": plain(r["snippet"]), "snippet_html": str(highlight(r["snippet"])),
                         "page": f"/-/article/{r['id']}"} for r in results],
        })
    if options is None:
        options = await read(datasette, filter_options)
    html = await datasette.render_template("aiwatch_search.html", {
        "query": query, "q": q, "mode": mode, "results_html": results_html,
        "modes": MODES, "selected": {k: request.args.get(k) or "" for k in FILTERS},
        "options": options, "option_tags": option_tags(options, request.args),
        "results": results, "message": message, "interpreted": chips_view(request, ranking),
        "paging": paging, "sorts": [
            (s, "/-/search?" + urlencode([*query_pairs(request, drop="sort", also="page"), ("sort", s)]))
            for s in SORTS],
        "feed_url": f"/-/search.atom?{query_string(request)}" if query else None,
        "json_url": f"/-/search.json?{query_string(request)}" if query else None,
        "database": datasette.get_database().name,
    }, request=request)
    return Response.html(html)


async def article_view(request: Any, datasette: Any) -> Response:
    article_id = int(request.url_vars["id"])
    if article_id >= 2**63:  # beyond SQLite's integers: no such article
        raise NotFound("Article not found")
    await read(datasette, prepare_indexes, timed=False)  # related articles need the vector indexes
    data = await read(datasette, article_page, article_id)
    if data is None:
        raise NotFound("Article not found")
    html = await datasette.render_template(
        "aiwatch_article.html", {**data, "database": datasette.get_database().name}, request=request)
    return Response.html(html)


async def story_view(request: Any, datasette: Any) -> Response:
    data = await read(datasette, story_page, request.url_vars["id"])
    if data is None:
        raise NotFound("Story not found")
    html = await datasette.render_template(
        "aiwatch_story.html", {**data, "database": datasette.get_database().name}, request=request)
    return Response.html(html)


async def entity_view(request: Any, datasette: Any) -> Response:
    """/-/vendor/<name>, /-/topic/<slug>, /-/jurisdiction/<name>: any case redirects to the known
    name; an unknown one is a 404 that suggests the closest known names."""
    kind, name = request.url_vars["kind"], unquote(request.url_vars["name"])
    database = datasette.get_database().name
    try:
        known = await read(datasette, resolve, kind, name)
    except UnknownEntity as exc:
        html = await datasette.render_template("aiwatch_entity.html", {
            "unknown": exc, "database": database}, request=request)
        return Response.html(html, status=404)
    if known != name:
        return Response.redirect(entity_path(kind, known))
    data = await read(datasette, functools.partial(entity_page, database=database), kind, known)
    html = await datasette.render_template("aiwatch_entity.html", {**data, "database": database},
                                           request=request)
    return Response.html(html)


async def trends_view(request: Any, datasette: Any) -> Response:
    database = datasette.get_database().name
    data = await read(datasette, functools.partial(trends_page, database=database))
    html = await datasette.render_template("aiwatch_trends.html", {**data, "database": database},
                                           request=request)
    return Response.html(html)


def home() -> Response:
    return Response.redirect("/-/search")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/$", home),
        (r"^/-/search(\.(?P<format>json))?$", search_view),
        (r"^/-/article/(?P<id>\d+)$", article_view),
        (r"^/-/story/(?P<id>[A-Za-z0-9_-]+)$", story_view),
        (r"^/-/(?P<kind>vendor|topic|jurisdiction)/(?P<name>[^/]+)$", entity_view),
        (r"^/-/trends$", trends_view),
    ]


@hookimpl
def prepare_jinja2_environment(env: Any) -> None:
    env.globals["entity_path"] = entity_path  # links to the vendor, topic and jurisdiction pages


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None) -> Any:
    """In our views and canned queries (tables keep Datasette's foreign-key links), titles, article
    ids and story ids link to our pages; money gets thousands separators everywhere."""
    if value is None or value == "":
        return None
    if column in ("amount", "valuation") and isinstance(value, int | float):
        return f"{value:,.0f}"
    ours = table is None or table in VIEWS
    if column == "story_id" and ours or (table == "stories" and column == "id"):
        return Markup(f'<a href="/-/story/{escape(value)}">{escape(value)}</a>')
    if column == "article_id" and ours and isinstance(value, int):
        return Markup(f'<a href="/-/article/{value}">{value}</a>')
    # sqlite3.Row: `in` tests values, keys() the column names.
    if table == "article_list" and column == "title" and "id" in row.keys():  # noqa: SIM118
        return Markup(f'<a href="/-/article/{int(row["id"])}">{escape(value)}</a>')
    if table == "funding_rounds" and column == "article" and "article_id" in row.keys():  # noqa: SIM118
        return Markup(f'<a href="/-/article/{int(row["article_id"])}">{escape(value)}</a>')
    if table == "funding_rounds" and column == "company" and "company_known" in row.keys() \
            and row["company_known"]:  # noqa: SIM118
        return Markup(f'<a href="{escape(entity_path("vendor", value))}">{escape(value)}</a>')
    return None


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    name = datasette.get_database().name
    return [
        {"href": "/-/search", "label": "Search"},
        {"href": f"/{name}/article_list", "label": "All articles (faceted)"},
        {"href": f"/{name}/stories", "label": "Stories"},
        {"href": f"/{name}/funding_rounds", "label": "Funding rounds"},
        {"href": "/-/charts/topics-per-week", "label": "Topics per week"},
        {"href": "/-/trends", "label": "Trends"},
        {"href": f"/{name}", "label": "Tables and queries"},
    ]
