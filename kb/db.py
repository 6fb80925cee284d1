"""Opening the knowledge base and writing crawled data into it."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.db import Database, NotFoundError
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from kb.errors import DatabaseError
from kb.schema import migrate
from kb.timeutil import utcnow


def open_db(path: str | Path, *, create: bool = True) -> Database:
    """Open the knowledge base at ``path``; create and migrate it unless ``create`` is False."""
    path = Path(path)
    if not create and not path.exists():
        raise DatabaseError(f"no database at {path}: run 'kb init' first")
    if not path.parent.exists():
        raise DatabaseError(f"folder {path.parent} does not exist")
    try:
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        if create:
            migrate(db)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot open {path}: {exc}") from exc
    return db


def content_hash(*parts: str | None) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update((part or "").encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def save_source(db: Database, source: dict[str, Any]) -> None:
    """Insert or refresh a configured source, keeping its crawl state and health."""
    row = {k: source.get(k) for k in ("id", "name", "feed_url", "homepage", "lang")}
    row["tags"] = json.dumps(source.get("tags") or [])
    db["sources"].upsert(row, pk="id")


def get_crawl_state(db: Database) -> dict[str, Any]:
    """What the crawler needs to fetch incrementally: per-source validators, known entries."""
    sources = {
        r["id"]: {k: r[k] for k in ("etag", "last_modified", "feed_hash", "next_due_at")}
        for r in db["sources"].rows
    }
    known = {
        r["url"]: r["entry_fingerprint"]
        for r in db.query("select url, entry_fingerprint from articles")
    }
    return {"sources": sources, "known": known}


def save_feed_result(db: Database, result: dict[str, Any]) -> None:
    """Record one feed fetch against its source: validators on success, health on failure."""
    now = utcnow()
    try:
        src = db["sources"].get(result["source_id"])
    except NotFoundError:
        return
    update: dict[str, Any] = {
        "last_attempt_at": now,
        "last_status": result["status"],
        "fetch_count": (src["fetch_count"] or 0) + 1,
    }
    if result["status"] in ("ok", "not_modified"):
        update |= {"last_success_at": now, "consecutive_failures": 0, "last_error": None}
        if result["status"] == "not_modified":
            update["not_modified_count"] = (src["not_modified_count"] or 0) + 1
        for key in ("etag", "last_modified", "feed_hash"):
            if result.get(key):
                update[key] = result[key]
    else:
        update |= {
            "consecutive_failures": (src["consecutive_failures"] or 0) + 1,
            "last_error": result.get("error"),
        }
    with db.conn:
        db["sources"].update(result["source_id"], update)


def add_page_health(db: Database, source_id: str, *, ok: int, failed: int) -> None:
    """Add a run's page outcomes to the source's extraction success figures."""
    with db.conn:
        db.execute(
            "update sources set pages_ok = coalesce(pages_ok, 0) + ?, "
            "pages_failed = coalesce(pages_failed, 0) + ? where id = ?",
            [ok, failed, source_id],
        )


def save_article(db: Database, article: dict[str, Any]) -> str:
    """Insert or update one article by canonical URL. Returns 'new', 'updated' or 'unchanged'."""
    digest = content_hash(article.get("title"), article.get("text"))
    existing = next(db["articles"].rows_where("url = ?", [article["url"]], limit=1), None)
    row = {
        k: article.get(k)
        for k in ("url", "original_url", "source_id", "title", "author", "published_at",
                  "updated_at", "fetched_at", "date_flag", "lang", "summary", "text",
                  "extraction", "entry_fingerprint")
    }
    row["content_hash"] = digest
    row["word_count"] = len((article.get("text") or "").split())
    with db.conn:
        if existing is None:
            article_id = db["articles"].insert(row).last_pk
            status = "new"
        elif existing["content_hash"] == digest:
            if existing["entry_fingerprint"] != row["entry_fingerprint"]:
                db["articles"].update(existing["id"], {"entry_fingerprint": row["entry_fingerprint"]})
            return "unchanged"
        else:
            article_id = existing["id"]
            db["article_versions"].insert({
                "article_id": article_id, "version": existing["version"],
                "title": existing["title"], "text": existing["text"],
                "content_hash": existing["content_hash"], "replaced_at": utcnow(),
            })
            row["version"] = (existing["version"] or 1) + 1
            if existing["published_at"]:
                row["published_at"] = existing["published_at"]
            db["articles"].update(article_id, row)
            status = "updated"
        if article.get("body") is not None:
            save_page(db, article_id, article)
    return status


def save_page(db: Database, article_id: int, article: dict[str, Any]) -> None:
    """Keep the raw response so extraction can be re-run without fetching again."""
    db["pages"].upsert(
        {
            "article_id": article_id,
            "url": article.get("original_url"),
            "final_url": article.get("final_url"),
            "status": article.get("status"),
            "headers": json.dumps(article.get("headers") or {}),
            "fetched_at": article.get("fetched_at"),
            "body_gz": gzip.compress(article["body"], 6),
        },
        pk="article_id",
        alter=False,
    )


def start_crawl_run(db: Database) -> int:
    with db.conn:
        return db["crawl_runs"].insert({"started_at": utcnow(), "status": "running"}).last_pk


def finish_crawl_run(db: Database, run_id: int, counts: dict[str, int], errors: list[str],
                     *, status: str = "completed") -> dict[str, Any]:
    with db.conn:
        db["crawl_runs"].update(
            run_id,
            {**counts, "finished_at": utcnow(), "status": status, "errors": json.dumps(errors)},
        )
    return db["crawl_runs"].get(run_id)
