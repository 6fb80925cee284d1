"""The schema: forward migrations (recorded in ``schema_migrations``) and the derived shape."""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils.db import Database
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from kb.errors import DatabaseError
from kb.timeutil import utcnow

Migration = Callable[[Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register a forward migration; they run once each, in definition order."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def applied_migrations(db: Database) -> list[str]:
    if not db["schema_migrations"].exists():
        return []
    return [r["name"] for r in db["schema_migrations"].rows_where(order_by="id")]


def migrate(db: Database) -> int:
    """Apply pending migrations and re-assert the derived shape. Returns how many ran."""
    done = set(applied_migrations(db))
    count = 0
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        try:
            with db.conn:
                fn(db)
                db["schema_migrations"].insert(
                    {"name": name, "applied_at": utcnow()}, pk="id", alter=True
                )
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"migration {name} failed: {exc}") from exc
        count += 1
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    ensure_shape(db)
    return count


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


@migration
def m001_initial(db: Database) -> None:
    db["schema_migrations"].create(
        {"id": int, "name": str, "applied_at": str}, pk="id", if_not_exists=True
    )
    db["sources"].create(
        {
            "id": str, "name": str, "feed_url": str, "homepage": str, "lang": str,
            "tags": str, "etag": str, "last_modified": str, "feed_hash": str,
            "last_status": str, "last_attempt_at": str, "last_success_at": str,
            "consecutive_failures": int, "last_error": str, "fetch_count": int,
            "not_modified_count": int, "pages_ok": int, "pages_failed": int,
            "next_due_at": str,
        },
        pk="id",
        not_null={"feed_url"},
        defaults={"consecutive_failures": 0, "fetch_count": 0, "not_modified_count": 0,
                  "pages_ok": 0, "pages_failed": 0},
    )
    db["articles"].create(
        {
            "id": int, "url": str, "original_url": str, "source_id": str, "title": str,
            "author": str, "published_at": str, "updated_at": str, "fetched_at": str,
            "date_flag": str, "lang": str, "summary": str, "text": str,
            "content_hash": str, "word_count": int, "extraction": str,
            "entry_fingerprint": str, "version": int,
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id")],
        defaults={"version": 1},
    )
    db["articles"].create_index(["url"], unique=True)
    db["article_versions"].create(
        {"id": int, "article_id": int, "version": int, "title": str, "text": str,
         "content_hash": str, "replaced_at": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db["pages"].create(
        {"article_id": int, "url": str, "final_url": str, "status": int,
         "headers": str, "fetched_at": str, "body_gz": bytes},
        pk="article_id", foreign_keys=[("article_id", "articles", "id")],
    )
    db["topics"].create({"slug": str, "name": str, "description": str}, pk="slug")
    db["article_topics"].create(
        {"article_id": int, "topic": str, "score": float, "method": str, "evidence": str},
        pk=("article_id", "topic"),
        foreign_keys=[("article_id", "articles", "id"), ("topic", "topics", "slug")],
    )
    db["entities"].create({"id": int, "kind": str, "name": str}, pk="id")
    db["entities"].create_index(["kind", "name"], unique=True)
    db["article_entities"].create(
        {"article_id": int, "entity_id": int, "mentions": int, "method": str},
        pk=("article_id", "entity_id"),
        foreign_keys=[("article_id", "articles", "id"), ("entity_id", "entities", "id")],
    )
    db["funding_events"].create(
        {"id": int, "article_id": int, "company": str, "amount": float, "currency": str,
         "kind": str, "round": str, "valuation": float, "sentence": str, "method": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db["stories"].create(
        {"id": str, "headline": str, "first_seen": str, "last_seen": str,
         "article_count": int, "outlet_count": int},
        pk="id",
    )
    db["story_articles"].create(
        {"story_id": str, "article_id": int},
        pk=("story_id", "article_id"),
        foreign_keys=[("story_id", "stories", "id"), ("article_id", "articles", "id")],
    )
    db["crawl_runs"].create(
        {"id": int, "started_at": str, "finished_at": str, "status": str,
         "feeds_ok": int, "feeds_not_modified": int, "feeds_failed": int,
         "articles_new": int, "articles_updated": int, "articles_unchanged": int,
         "pages_failed": int, "errors": str},
        pk="id",
        defaults={"feeds_ok": 0, "feeds_not_modified": 0, "feeds_failed": 0,
                  "articles_new": 0, "articles_updated": 0, "articles_unchanged": 0,
                  "pages_failed": 0},
    )
    db["enrichment_state"].create(
        {"stage": str, "article_id": int, "input_hash": str, "version": str, "done_at": str},
        pk=("stage", "article_id"),
    )


FTS_COLUMNS = ["title", "summary", "text"]


def ensure_shape(db: Database) -> None:
    """Idempotently add what is derived from the tables: full-text search, indexes, views."""
    if not db["articles_fts"].exists():
        db["articles"].enable_fts(
            FTS_COLUMNS, create_triggers=True, tokenize="porter unicode61 remove_diacritics 2"
        )
    for table, cols in [
        ("articles", ["published_at"]),
        ("articles", ["source_id"]),
        ("article_topics", ["topic"]),
        ("article_entities", ["entity_id"]),
        ("funding_events", ["article_id"]),
        ("story_articles", ["article_id"]),
    ]:
        db[table].create_index(cols, if_not_exists=True)
    from kb.web import ensure_views  # the views Datasette and the digest read

    ensure_views(db)


@migration
def m002_enrichment(db: Database) -> None:
    db["embedding_models"].create({"role": str, "name": str, "dim": int}, pk="role")
    db["embeddings"].create(
        {"article_id": int, "passage": int, "model": str, "vector": bytes},
        pk=("article_id", "passage", "model"),
        foreign_keys=[("article_id", "articles", "id")],
    )
    db["article_summaries"].create(
        {"article_id": int, "summary": str, "method": str}, pk="article_id",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db["policy_refs"].create(
        {"id": int, "article_id": int, "kind": str, "ref": str, "context": str}, pk="id",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db["reviews"].create(
        {"id": int, "article_id": int, "target": str, "value": str, "verdict": str,
         "reviewer": str, "note": str, "reviewed_at": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db["reviews"].create_index(["article_id", "target", "value"], unique=True)


@migration
def m003_crawl_guid_backoff(db: Database) -> None:
    """Articles remember their feed GUID (a story re-announced under a new link stays one
    article); runs count refused links and backed-off sources."""
    db["articles"].add_column("guid", str)
    db["articles"].create_index(["source_id", "guid"])
    db["crawl_runs"].add_column("pages_refused", int, not_null_default=0)
    db["crawl_runs"].add_column("sources_skipped", int, not_null_default=0)


@migration
def m004_vocabulary(db: Database) -> None:
    """English words with the number of articles they occur in, and the multilingual model's
    vectors of the most widespread ones: French and German queries are put into English words."""
    db["vocabulary"].create({"word": str, "articles": int}, pk="word")
    db["vocabulary_vectors"].create({"word": str, "model": str, "vector": bytes}, pk="word")
