"""The schema: forward migrations and the derived shape (full-text index, indexes, views).

Migrations are a sqlite-utils ``Migrations`` set, recorded in ``_sqlite_migrations`` and counted in
``PRAGMA user_version`` (the number the schema gate compares). A database recorded by an earlier
release in ``schema_migrations`` has that record carried over the first time it is migrated.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils.db import Database
from sqlite_utils.migrations import Migrations
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from kb.core.errors import DatabaseError
from kb.store.views import ensure_views

Migration = Callable[[Database], None]
MIGRATION_SET = Migrations("aiwatch")
MIGRATIONS: list[tuple[str, Migration]] = []
LEGACY_RECORD = "schema_migrations"


def migration(fn: Migration) -> Migration:
    """Register a forward migration; they run once each, in definition order."""
    MIGRATIONS.append((fn.__name__, fn))
    return MIGRATION_SET()(fn)


def applied_migrations(db: Database) -> list[str]:
    return [m.name for m in MIGRATION_SET.applied(db)]


def migrate(db: Database) -> int:
    """Apply pending migrations and re-assert the derived shape. Returns how many ran."""
    _carry_over_legacy_record(db)
    pending = [m.name for m in MIGRATION_SET.pending(db)]
    try:
        MIGRATION_SET.apply(db)
    except sqlite3.OperationalError as exc:
        done = set(applied_migrations(db))
        failed = next((name for name in pending if name not in done), "?")
        raise DatabaseError(f"migration {failed} failed: {exc}") from exc
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    ensure_shape(db)
    return len(pending)


def _carry_over_legacy_record(db: Database) -> None:
    """Move an earlier release's ``schema_migrations`` rows into the Migrations record."""
    legacy = db.table(LEGACY_RECORD)
    if not legacy.exists():
        return
    with db.atomic():
        MIGRATION_SET.ensure_migrations_table(db)
        known = set(applied_migrations(db))
        db.table(MIGRATION_SET.migrations_table).insert_all(
            {"migration_set": MIGRATION_SET.name, "name": r["name"], "applied_at": r["applied_at"]}
            for r in legacy.rows_where(order_by="rowid") if r["name"] not in known)
        legacy.drop()


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


@migration
def m001_initial(db: Database) -> None:
    db.table("sources").create(
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
    db.table("articles").create(
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
    db.table("articles").create_index(["url"], unique=True)
    db.table("article_versions").create(
        {"id": int, "article_id": int, "version": int, "title": str, "text": str,
         "content_hash": str, "replaced_at": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("pages").create(
        {"article_id": int, "url": str, "final_url": str, "status": int,
         "headers": str, "fetched_at": str, "body_gz": bytes},
        pk="article_id", foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("topics").create({"slug": str, "name": str, "description": str}, pk="slug")
    db.table("article_topics").create(
        {"article_id": int, "topic": str, "score": float, "method": str, "evidence": str},
        pk=("article_id", "topic"),
        foreign_keys=[("article_id", "articles", "id"), ("topic", "topics", "slug")],
    )
    db.table("entities").create({"id": int, "kind": str, "name": str}, pk="id")
    db.table("entities").create_index(["kind", "name"], unique=True)
    db.table("article_entities").create(
        {"article_id": int, "entity_id": int, "mentions": int, "method": str},
        pk=("article_id", "entity_id"),
        foreign_keys=[("article_id", "articles", "id"), ("entity_id", "entities", "id")],
    )
    db.table("funding_events").create(
        {"id": int, "article_id": int, "company": str, "amount": float, "currency": str,
         "kind": str, "round": str, "valuation": float, "sentence": str, "method": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("stories").create(
        {"id": str, "headline": str, "first_seen": str, "last_seen": str,
         "article_count": int, "outlet_count": int},
        pk="id",
    )
    db.table("story_articles").create(
        {"story_id": str, "article_id": int},
        pk=("story_id", "article_id"),
        foreign_keys=[("story_id", "stories", "id"), ("article_id", "articles", "id")],
    )
    db.table("crawl_runs").create(
        {"id": int, "started_at": str, "finished_at": str, "status": str,
         "feeds_ok": int, "feeds_not_modified": int, "feeds_failed": int,
         "articles_new": int, "articles_updated": int, "articles_unchanged": int,
         "pages_failed": int, "errors": str},
        pk="id",
        defaults={"feeds_ok": 0, "feeds_not_modified": 0, "feeds_failed": 0,
                  "articles_new": 0, "articles_updated": 0, "articles_unchanged": 0,
                  "pages_failed": 0},
    )
    db.table("enrichment_state").create(
        {"stage": str, "article_id": int, "input_hash": str, "version": str, "done_at": str},
        pk=("stage", "article_id"),
    )


FTS_COLUMNS = ["title", "summary", "text"]


def ensure_shape(db: Database) -> None:
    """Idempotently add what is derived from the tables: full-text search, indexes, views."""
    if not db["articles_fts"].exists():
        db.table("articles").enable_fts(
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
        db.table(table).create_index(cols, if_not_exists=True)
    ensure_views(db)


@migration
def m002_enrichment(db: Database) -> None:
    db.table("embedding_models").create({"role": str, "name": str, "dim": int}, pk="role")
    db.table("embeddings").create(
        {"article_id": int, "passage": int, "model": str, "vector": bytes},
        pk=("article_id", "passage", "model"),
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("article_summaries").create(
        {"article_id": int, "summary": str, "method": str}, pk="article_id",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("policy_refs").create(
        {"id": int, "article_id": int, "kind": str, "ref": str, "context": str}, pk="id",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("reviews").create(
        {"id": int, "article_id": int, "target": str, "value": str, "verdict": str,
         "reviewer": str, "note": str, "reviewed_at": str},
        pk="id", foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("reviews").create_index(["article_id", "target", "value"], unique=True)


@migration
def m003_crawl_guid_backoff(db: Database) -> None:
    """Articles remember their feed GUID (a story re-announced under a new link stays one
    article); runs count refused links and backed-off sources."""
    db.table("articles").add_column("guid", str)
    db.table("articles").create_index(["source_id", "guid"])
    db.table("crawl_runs").add_column("pages_refused", int, not_null_default=0)
    db.table("crawl_runs").add_column("sources_skipped", int, not_null_default=0)


@migration
def m004_vocabulary(db: Database) -> None:
    """English words with the number of articles they occur in, and the multilingual model's
    vectors of the most widespread ones: French and German queries are put into English words."""
    db.table("vocabulary").create({"word": str, "articles": int}, pk="word")
    db.table("vocabulary_vectors").create({"word": str, "model": str, "vector": bytes}, pk="word")


@migration
def m005_managed_sources(db: Database) -> None:
    """Sources a user adds from the shell live in the database beside the configured ones, and any
    source can be disabled; runs count the feeds that could not be reached at all."""
    db.table("sources").add_column("origin", str, not_null_default="config")
    db.table("sources").add_column("enabled", int, not_null_default=1)
    db.table("crawl_runs").add_column("feeds_unreachable", int, not_null_default=0)


@migration
def m006_article_metadata(db: Database) -> None:
    """Articles carry their authors as people (a JSON list) beside an organisation byline, the
    page's last-modified date, where each metadata field came from, and the feed's own fields
    (so a re-extraction from the archive weighs them again without fetching)."""
    articles = db.table("articles")
    for column in ("authors", "byline_org", "modified_at", "meta_sources", "feed_entry"):
        articles.add_column(column, str)


@migration
def m007_vendor_roles(db: Database) -> None:
    """Each vendor of an article is 'main' (the article is about it, or it acts in it) or
    'mentioned' (named in passing); jurisdictions are always 'main'."""
    db.table("article_entities").add_column("role", str, not_null_default="main")


@migration
def m008_funding_ledger(db: Database) -> None:
    """Funding mentions carry their status and event; the ledger holds one row per real-world
    event with its amounts converted to USD and EUR (kb.enrich.ledger)."""
    db.table("funding_events").add_column("status", str)
    db.table("funding_events").add_column("event_id", str)
    db.table("funding_events").add_column("company_known", int)
    db.table("funding_events").add_column("investors", str)
    db.table("funding_events").create_index(["event_id"])
    db.table("funding_ledger").create(
        {"id": str, "company": str, "kind": str, "status": str, "amount": float, "currency": str,
         "company_known": int, "amount_usd": float, "amount_eur": float, "fx_note": str,
         "round": str,
         "valuation": float, "investors": str, "first_reported": str, "last_reported": str,
         "reports": int, "mentions": str},
        pk="id")
    db.table("funding_ledger").create_index(["company"])


@migration
def m009_audiences(db: Database) -> None:
    """Who an article, and a story, is best for: a probability per audience (policy, investor,
    engineering, executive), whether it clears the threshold, and for articles the features that
    spoke for it (kb.enrich.audiences)."""
    db.table("article_audiences").create(
        {"article_id": int, "audience": str, "probability": float, "best_for": int, "evidence": str},
        pk=("article_id", "audience"), foreign_keys=[("article_id", "articles", "id")])
    db.table("story_audiences").create(
        {"story_id": str, "audience": str, "probability": float, "best_for": int, "articles": int},
        pk=("story_id", "audience"))
