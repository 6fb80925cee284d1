"""Writing crawled data into the knowledge base: sources, articles, pages and crawl runs."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlite_utils.db import Database, NotFoundError

from kb.core.clock import utcnow
from kb.core.errors import DatabaseError
from kb.store.health import FEED_ONLY


def content_hash(*parts: str | None) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update((part or "").encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def save_source(db: Database, source: dict[str, Any], *, origin: str = "config") -> None:
    """Insert or refresh a source, keeping its crawl state, health and whether it is enabled.

    ``origin`` says where it is defined: ``config`` (the configuration file, refreshed every run),
    ``added`` (kb sources add/import: the database is its only home) or ``feed`` (named once with
    kb crawl --feed). A source of another origin keeps the name it has (the feed's own title).
    """
    row = {k: source.get(k) for k in ("id", "name", "feed_url", "homepage", "lang")}
    row["tags"] = json.dumps(source.get("tags") or [])
    existing = db.execute("select origin from sources where id = ?", [row["id"]]).fetchone()
    if existing and origin != "config":
        row.pop("name")
    if not existing or origin == "config" or existing[0] == "feed":
        row["origin"] = origin
    db.table("sources").upsert(row, pk="id")


def stored_sources(db: Database) -> tuple[list[dict[str, Any]], set[str]]:
    """The sources added from the shell, and the ids of every disabled source."""
    added = [dict(r) for r in db.query("select id, name, feed_url, homepage, lang, tags from sources "
                                       "where origin = 'added' order by id")]
    for r in added:
        r["tags"] = json.loads(r["tags"] or "[]")
    disabled = {r[0] for r in db.execute("select id from sources where enabled = 0")}
    return added, disabled


def get_crawl_state(db: Database) -> dict[str, Any]:
    """What the crawler needs to fetch incrementally: per-source validators, known entries."""
    sources = {
        r["id"]: {k: r[k] for k in ("etag", "last_modified", "feed_hash", "next_due_at")}
        for r in db["sources"].rows
    }
    # Pages that could not be fetched are not "known": the next run that sees them tries again.
    known = {
        r["url"]: r["entry_fingerprint"]
        for r in db.query("select url, entry_fingerprint from articles "
                          "where extraction is null or extraction != 'fetch_failed'")
    }
    return {"sources": sources, "known": known}


def save_feed_result(db: Database, result: dict[str, Any], *, count_failure: bool = True) -> None:
    """Record one feed fetch against its source: validators on success, health on failure.

    A failure that was the machine's, not the source's (every feed unreachable at once), is
    recorded without ``count_failure``: the error is kept, but the source is not backed off.
    """
    now = utcnow()
    try:
        src = db.table("sources").get(result["source_id"])
    except NotFoundError:
        return
    update: dict[str, Any] = {
        "last_attempt_at": now,
        "last_status": result["status"],
        "fetch_count": (src["fetch_count"] or 0) + 1,
    }
    if result.get("title") and src["name"] == urlsplit(src["feed_url"] or "").hostname:
        update["name"] = " ".join(str(result["title"]).split())[:120]  # named after its host so far
    if result["status"] in ("ok", "not_modified"):
        update |= {"last_success_at": now, "consecutive_failures": 0, "last_error": None,
                   "next_due_at": None}
        if result["status"] == "not_modified":
            update["not_modified_count"] = (src["not_modified_count"] or 0) + 1
        for key in ("etag", "last_modified", "feed_hash"):
            if result.get(key):
                update[key] = result[key]
    elif not count_failure:
        update["last_error"] = result.get("error")
    else:
        failures = (src["consecutive_failures"] or 0) + 1
        update |= {
            "consecutive_failures": failures,
            "last_error": result.get("error"),
            "next_due_at": next_due(now, failures),
        }
    with db.conn:
        db.table("sources").update(result["source_id"], update)


def next_due(now: str, failures: int) -> str:
    """When a source that failed ``failures`` times in a row is tried again: 15 minutes after the
    first failure, doubling with each one, at most a day later (dead feeds are retried less often,
    never dropped)."""
    wait = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(max(failures, 1) - 1, 16))
    return (datetime.fromisoformat(now) + wait).astimezone(UTC).isoformat(timespec="seconds")


ARTICLE_COLUMNS = ("url", "original_url", "source_id", "guid", "title", "author", "published_at",
                   "updated_at", "fetched_at", "date_flag", "lang", "summary", "text", "extraction",
                   "entry_fingerprint", "authors", "byline_org", "modified_at", "meta_sources",
                   "feed_entry")
# Metadata a re-crawl or re-extraction may correct without the text changing.
METADATA_COLUMNS = ("author", "authors", "byline_org", "modified_at", "meta_sources", "feed_entry")
FIRST_BACKOFF = timedelta(minutes=15)
MAX_BACKOFF = timedelta(days=1)


def _one(db: Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def _insert(db: Database, table: str, row: dict[str, Any]) -> int:
    """Plain INSERT (the crawl's hot path: no per-call schema introspection)."""
    columns = ", ".join(f"[{c}]" for c in row)
    cursor = db.execute(f"insert into [{table}] ({columns}) values ({', '.join('?' * len(row))})",
                        list(row.values()))
    if cursor.lastrowid is None:
        raise DatabaseError(f"insert into {table} returned no row id")
    return cursor.lastrowid


def _update(db: Database, table: str, pk: int, row: dict[str, Any]) -> None:
    assignments = ", ".join(f"[{c}] = ?" for c in row)
    db.execute(f"update [{table}] set {assignments} where id = ?", [*row.values(), pk])


def _find_article(db: Database, article: dict[str, Any]) -> dict[str, Any] | None:
    """The stored article this one is: same canonical URL, else same source and GUID (a story
    re-announced under a new link)."""
    existing = _one(db, "select * from articles where url = ?", [article["url"]])
    if existing is None and article.get("guid") and article.get("source_id"):
        existing = _one(db, "select * from articles where source_id = ? and guid = ? "
                            "order by id limit 1", [article["source_id"], article["guid"]])
    return existing


def _keep_version(db: Database, existing: dict[str, Any]) -> int:
    """Copy the stored text into article_versions; returns the next version number."""
    _insert(db, "article_versions", {
        "article_id": existing["id"], "version": existing["version"],
        "title": existing["title"], "text": existing["text"],
        "content_hash": existing["content_hash"], "replaced_at": utcnow(),
    })
    return (existing["version"] or 1) + 1


def save_article(db: Database, article: dict[str, Any]) -> str:
    """Insert or update one article by canonical URL (or source + GUID), in one transaction
    with its archived page.

    Returns 'new', 'updated' or 'unchanged'. An edited article keeps its id and first publication
    date; its previous text goes to ``article_versions``.
    """
    digest = content_hash(article.get("title"), article.get("text"))
    row = {k: article.get(k) for k in ARTICLE_COLUMNS}
    row["content_hash"] = digest
    row["word_count"] = len((article.get("text") or "").split())
    with db.atomic():
        existing = _find_article(db, article)
        if existing is None:
            article_id = _insert(db, "articles", row)
            status = "new"
        elif (article.get("extraction") == "fetch_failed"
              and existing["extraction"] not in FEED_ONLY):
            # A failed re-fetch never replaces text we have; the old fingerprint stays, so the
            # next run that sees the entry tries again.
            return "unchanged"
        elif existing["content_hash"] == digest:
            moved = ("url", "original_url") if row["url"] != existing["url"] else ()
            keep = {k: row[k] for k in ("entry_fingerprint", "guid", *moved, *METADATA_COLUMNS)
                    if row[k] and row[k] != existing[k]}
            if keep:
                _update(db, "articles", existing["id"], keep)
            return "unchanged"
        else:
            article_id = existing["id"]
            if not row["guid"]:
                del row["guid"]
            row["version"] = _keep_version(db, existing)
            if existing["published_at"]:
                row["published_at"] = existing["published_at"]
                row["date_flag"] = existing["date_flag"]
            _update(db, "articles", article_id, row)
            status = "updated"
        if article.get("body") is not None:
            save_page(db, article_id, article)
    return status


def update_article_text(db: Database, article_id: int, *, text: str, extraction: str,
                        lang: str | None = None, metadata: dict[str, Any] | None = None) -> str:
    """Replace an article's text and metadata (re-extraction), keeping the old text as a version.

    ``metadata`` holds article columns (title, authors, dates…) chosen again from the archived
    page; a stored publication date is kept when the new choice found none (the fetch time).
    Returns 'updated' or 'unchanged' (the text and title; metadata is written either way).
    """
    with db.atomic():
        existing = _one(db, "select * from articles where id = ?", [article_id])
        if existing is None:
            raise DatabaseError(f"no article {article_id}")
        fields = {k: v for k, v in (metadata or {}).items() if v is not None and v != existing[k]}
        if existing["published_at"] and (metadata or {}).get("date_flag") == "missing":
            fields.pop("published_at", None)
            fields.pop("date_flag", None)
        title = fields.get("title", existing["title"])
        digest = content_hash(title, text)
        if digest == existing["content_hash"]:
            if extraction != existing["extraction"]:
                fields["extraction"] = extraction
            if fields:
                _update(db, "articles", article_id, fields)
            return "unchanged"
        _update(db, "articles", article_id, {
            **fields, "text": text, "extraction": extraction,
            "lang": fields.get("lang") or lang or existing["lang"],
            "content_hash": digest, "word_count": len(text.split()),
            "version": _keep_version(db, existing),
        })
    return "updated"


def iter_stored_pages(db: Database, *, batch: int = 200) -> Any:
    """Yield lists of stored pages with their article's fields, ``batch`` at a time (bodies stay
    compressed)."""
    last = 0
    while True:
        rows = list(db.query(
            "select p.article_id, p.url as page_url, p.final_url, p.headers, p.body_gz, "
            "a.text, a.summary, a.extraction, a.title, a.author, a.published_at, a.updated_at, "
            "a.lang, a.feed_entry, a.source_id, p.fetched_at "
            "from pages p join articles a on a.id = p.article_id "
            "where p.article_id > ? order by p.article_id limit ?", [last, batch]))
        if not rows:
            return
        yield rows
        last = rows[-1]["article_id"]


def save_page(db: Database, article_id: int, article: dict[str, Any]) -> None:
    """Keep the raw response so extraction can be re-run without fetching again."""
    row = {
        "article_id": article_id,
        "url": article.get("original_url"),
        "final_url": article.get("final_url"),
        "status": article.get("status"),
        "headers": json.dumps(article.get("headers") or {}),
        "fetched_at": article.get("fetched_at"),
        "body_gz": article.get("body_gz") or gzip.compress(article["body"], 6),
    }
    with db.atomic():
        db.execute("delete from pages where article_id = ?", [article_id])
        _insert(db, "pages", row)


def mark_interrupted_runs(db: Database) -> int:
    """Runs still 'running' when a new one starts (under the lock) were killed: say so."""
    with db.conn:
        cursor = db.execute("update crawl_runs set status = 'interrupted' where status = 'running'")
    return cursor.rowcount


def start_crawl_run(db: Database) -> int:
    with db.conn:
        return cast(int, db.table("crawl_runs").insert({"started_at": utcnow(), "status": "running"}).last_pk)


def finish_crawl_run(db: Database, run_id: int, counts: dict[str, int], errors: list[str],
                     *, status: str = "completed") -> dict[str, Any]:
    with db.conn:
        db.table("crawl_runs").update(
            run_id,
            {**counts, "finished_at": utcnow(), "status": status, "errors": json.dumps(errors)},
        )
    return db.table("crawl_runs").get(run_id)
