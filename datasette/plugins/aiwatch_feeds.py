"""Atom 1.0 feeds: per topic, per vendor, per jurisdiction and for any search (the search page links
its own feed, so a saved search is a subscription). One entry per story: its best-ranked article."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from datasette.utils.asgi import BadRequest, NotFound

from datasette import Response, hookimpl
from kb.publish.entities import UnknownEntity, entity_path, feed_ids, resolve
from kb.publish.protect import ServeOptions
from kb.publish.web import (
    BadParameter,
    feed_entries,
    known_filters,
    query_from_args,
    rank_ids,
    read,
    topic_feed_ids,
    vendor_feed_ids,
    web_search,
    xml_text,
)
from kb.search.engine import SearchError

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"


def rfc3339(value: str | None) -> str:
    """A timestamp as Atom wants it (RFC 3339, with a zone); naive ones are taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        when = None
    when = when or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.isoformat(timespec="seconds")


def render_atom(*, title: str, self_url: str, alternate_url: str, base: str,
                entries: list[dict[str, Any]]) -> bytes:
    """A valid Atom 1.0 document; every text goes through the XML serializer, which escapes it."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            el.text = xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", self_url)
    sub(feed, "title", title)
    sub(feed, "updated", max((rfc3339(e["atom_updated"]) for e in entries), default=rfc3339(None)))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    sub(sub(feed, "author"), "name", "aiwatch")
    sub(feed, "generator", "aiwatch")
    for e in entries:
        entry = sub(feed, "entry")
        page = f"{base}/-/article/{e['article_id']}"
        sub(entry, "id", f"{base}/-/story/{e['story_id']}" if e["story_id"] else page)
        sub(entry, "title", e["atom_title"] or e["atom_link"])
        sub(entry, "updated", rfc3339(e["atom_updated"]))
        sub(entry, "published", rfc3339(e["atom_updated"]))
        sub(sub(entry, "author"), "name", e["atom_author_name"] or "unknown")
        sub(entry, "link", rel="alternate", type="text/html", href=e["atom_link"] or page)
        sub(entry, "link", rel="related", type="text/html", href=page)
        for term in e["categories"]:
            sub(entry, "category", term=term)
        if e["atom_content"]:
            sub(entry, "summary", e["atom_content"], type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8",
                                                                      xml_declaration=False)


BASE_URL = ServeOptions.from_env().base_url.rstrip("/")


def base_url(datasette: Any, request: Any) -> str:
    """The configured base URL (`kb serve --base-url`), never the request's Host header."""
    return BASE_URL


async def respond(datasette: Any, request: Any, title: str, alternate: str, ids: list[int]) -> Response:
    entries = await read(datasette, feed_entries, ids)
    base = base_url(datasette, request)
    self_url = base + request.path + (f"?{request.query_string}" if request.query_string else "")
    body = render_atom(title=title, self_url=self_url, alternate_url=base + alternate, base=base,
                       entries=entries)
    return Response(body, content_type=CONTENT_TYPE)


async def topic_feed(request: Any, datasette: Any) -> Response:
    slug = request.url_vars["slug"]
    ids = await read(datasette, topic_feed_ids, slug)
    if not ids and not await read(datasette, _topic_exists, slug):
        raise NotFound(f"No topic {slug!r}")
    return await respond(datasette, request, f"aiwatch: {slug}", f"/-/search?topic={slug}", ids)


def _topic_exists(db: Any, slug: str) -> bool:
    return db.execute("select 1 from topics where slug = ?", [slug]).fetchone() is not None


async def vendor_feed(request: Any, datasette: Any) -> Response:
    name = unquote(request.url_vars["name"])
    ids = await read(datasette, vendor_feed_ids, name)
    if not ids and not await read(datasette, _vendor_exists, name):
        raise NotFound(f"No articles name the vendor {name!r}")
    # a vendor only ever named in passing has an empty feed, ready for the day it is the news
    return await respond(datasette, request, f"aiwatch: {name}", "/-/search", ids)


def _vendor_exists(db: Any, name: str) -> bool:
    return db.execute("select 1 from entities where kind = 'vendor' and name = ? collate nocase",
                      [name]).fetchone() is not None


async def jurisdiction_feed(request: Any, datasette: Any) -> Response:
    """A jurisdiction's latest stories, newest first (one entry each)."""
    try:
        name = await read(datasette, resolve, "jurisdiction", unquote(request.url_vars["name"]))
    except UnknownEntity as exc:
        raise NotFound(str(exc)) from None
    ids = await read(datasette, feed_ids, "jurisdiction", name)
    return await respond(datasette, request, f"aiwatch: {name}", entity_path("jurisdiction", name), ids)


async def search_feed(request: Any, datasette: Any) -> Response:
    try:
        query = query_from_args(request.args, await read(datasette, known_filters))
    except BadParameter as exc:
        raise BadRequest(str(exc)) from None
    if query is None:
        raise BadRequest("a search feed needs a query or a filter: /-/search.atom?q=...")
    # a subscription: the newest of the articles relevant enough (above hybrid search's cut-off
    # among the best SORT_POOL), so a new matching article comes first on the next crawl
    query = dataclasses.replace(query, sort="newest", offset=0)
    try:
        ids = await web_search(datasette, query, fn=rank_ids)
    except SearchError as exc:
        raise BadRequest(str(exc)) from None
    return await respond(datasette, request, f"aiwatch search: {query.text}",
                         f"/-/search?{request.query_string}", ids)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/feeds/topic/(?P<slug>[a-z0-9-]+)\.atom$", topic_feed),
        (r"^/-/feeds/vendor/(?P<name>[^/]+)\.atom$", vendor_feed),
        (r"^/-/feeds/jurisdiction/(?P<name>[^/]+)\.atom$", jurisdiction_feed),
        (r"^/-/search\.atom$", search_feed),
    ]
