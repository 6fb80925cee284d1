"""Running the crawl: configured (or given) feeds through the Scrapy project into the database."""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlite_utils.db import Database

from kb.core.clock import utcnow
from kb.core.config import Config, Source
from kb.crawl.settings import scrapy_settings
from kb.crawl.sources import CrawlError, due_sources, sources_for_run
from kb.store import writes as kbdb
from kb.store.connection import open_db
from kb.store.health import FEED_ONLY

logger = logging.getLogger("aiwatch.crawl")



def run_crawl(db_path: str | Path, config: Config, *, feeds: list[str] | None = None,
              overrides: dict[str, str] | None = None, allow_private: bool = False,
              quiet: bool = False, retry_failed: bool = False) -> dict[str, Any]:
    """Crawl once in this process and return the run's ``crawl_runs`` row.

    Without ``feeds`` (or ``retry_failed``), sources still backed off after failures are skipped
    (and counted); named feeds are always fetched. Scrapy's reactor runs once per process: call
    this from a command, not twice in a loop.
    """
    from scrapy.crawler import CrawlerProcess

    from crawlers.spiders.feeds import FeedsSpider

    db = open_db(db_path)
    added, disabled = kbdb.stored_sources(db)
    sources = sources_for_run(config, feeds, added=[Source(**r) for r in added], disabled=disabled)
    if not sources:
        raise CrawlError("no sources to crawl: add some to the configuration, with kb sources add, "
                         "or pass --feed URL")
    added_ids = {r["id"] for r in added}
    for source in sources:
        origin = "added" if source.id in added_ids else (
            "config" if config.source_for_feed(source.feed_url) else "feed")
        kbdb.save_source(db, asdict(source), origin=origin)
    state = kbdb.get_crawl_state(db)
    due = sources if feeds or retry_failed else due_sources(sources, state, utcnow())
    kbdb.mark_interrupted_runs(db)
    if not due:
        run_id = kbdb.start_crawl_run(db)
        kbdb.finish_crawl_run(db, run_id, {"sources_skipped": len(sources)}, [])
        logger.info("every source is backed off after failures; nothing is due")
        return _run_row(db, run_id, 0)
    last_run = db.execute("select max(id) from crawl_runs").fetchone()[0] or 0
    db.close()
    settings = scrapy_settings(config, db_path, overrides=overrides or {},
                               allow_private=allow_private, quiet=quiet,
                               skipped=len(sources) - len(due))
    process = CrawlerProcess(settings)
    process.crawl(FeedsSpider, sources=[asdict(s) for s in due], state=state)
    process.start()
    db = open_db(db_path)
    run = db.execute("select max(id) from crawl_runs").fetchone()[0] or 0
    if run == last_run:
        raise CrawlError("the crawl did not start (see the messages above)")
    row = _run_row(db, run, len(due))
    if row["status"] != "completed":
        reason = row["errors"][-1] if row["status"] == "failed" and row["errors"] else \
            "it stopped before its end (see the log file)"
        raise CrawlError(f"crawl #{run} failed: {reason}; what was stored is kept, and the next run "
                         "fetches the rest")
    return row


def failure_lines(db_path: str | Path, run: dict[str, Any]) -> list[str]:
    """One line per failed feed of the run: source, reason and when it is tried next."""
    db = open_db(db_path, create=False)
    try:
        lines = []
        for error in run["errors"]:
            source_id, _, reason = error.partition(": ")
            row = db.execute("select next_due_at from sources where id = ?", [source_id]).fetchone()
            due = row[0] if row else None
            when = f"next try {due[:16].replace('T', ' ')} UTC" if due else "tried again next run"
            lines.append(f"{source_id}: {reason} ({when})")
        return lines
    finally:
        db.close()


def _run_row(db: Any, run_id: int, sources: int) -> dict[str, Any]:
    row = db.table("crawl_runs").get(run_id)
    row["errors"] = json.loads(row["errors"] or "[]")
    row["sources"] = sources
    return row


def summary_line(run: dict[str, Any]) -> str:
    """The run in one line: articles, feeds, and what was failed, refused or skipped."""
    line = (
        f"{run['articles_new']} new, {run['articles_updated']} updated, "
        f"{run['articles_unchanged']} unchanged; feeds: {run['feeds_ok']} ok, "
        f"{run['feeds_not_modified']} not modified, {run['feeds_failed']} failed; "
        f"{run['pages_failed']} pages failed"
    )
    if run.get("pages_refused"):
        line += f"; {run['pages_refused']} links refused"
    if run.get("sources_skipped"):
        line += f"; {run['sources_skipped']} sources backed off"
    return line


def _reextract_one(body_gz: bytes, content_type: str | None, url: str) -> dict[str, Any] | None:
    from crawlers.pipelines import extract_page

    return extract_page(gzip.decompress(body_gz), content_type, url)


def _stored_feed(row: dict[str, Any]) -> dict[str, Any]:
    if row["feed_entry"]:
        return dict(json.loads(row["feed_entry"]))
    return {"title": row["title"], "author": row["author"], "published": row["published_at"],
            "updated": row["updated_at"], "lang": row["lang"]}


def reextract(db: Database, *, workers: int = 2, quiet: bool = False) -> dict[str, int]:
    """Re-run extraction over every stored page, fetching nothing; update articles that change.

    Pages are decoded from their stored headers exactly as the crawl does, and the metadata is
    chosen again with the feed's fields kept at crawl time (for rows stored before those were
    kept, the stored title, author and date stand in for them). An article whose text changes gets
    a new version. Returns counts: ``pages``, ``updated``, ``unchanged``.
    """
    from concurrent.futures import ProcessPoolExecutor

    from kb.core.progress import progress
    from kb.crawl.assembly import article_metadata, choose_text
    from kb.crawl.metadata import RepeatedTitleEnds

    counts = {"pages": 0, "updated": 0, "unchanged": 0}
    title_ends = RepeatedTitleEnds()
    total = db.execute("select count(*) from pages").fetchone()[0]
    bar = progress("reextract", total=total, unit="pages", quiet=quiet)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
    try:
        for rows in kbdb.iter_stored_pages(db):
            args = [(r["body_gz"], json.loads(r["headers"] or "{}").get("Content-Type"),
                     r["final_url"] or r["page_url"]) for r in rows]
            results = (pool.map(_reextract_one, *zip(*args, strict=True)) if pool
                       else (_reextract_one(*a) for a in args))
            for row, extracted in zip(rows, results, strict=True):
                feed_text = row["text"] if row["extraction"] in FEED_ONLY else row["summary"]
                page = extracted or {}
                text, method = choose_text(page.get("text") or "", feed_text or "",
                                           page.get("method", "trafilatura"), True)
                title_ends.learn(row["source_id"], page.get("meta") or {})
                metadata = article_metadata(page.get("meta") or {}, _stored_feed(row),
                                            row["final_url"] or row["page_url"],
                                            row["fetched_at"] or utcnow(), text,
                                            title_ends.names(row["source_id"]))
                status = kbdb.update_article_text(db, row["article_id"], text=text,
                                                  extraction=method, metadata=metadata)
                counts["pages"] += 1
                counts[status] += 1
                bar.update(1)
    finally:
        bar.close()
        if pool:
            pool.shutdown()
    return counts
