"""Running the crawl: configured (or given) feeds through the Scrapy project into the database."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils.db import Database

from kb import __version__
from kb import db as kbdb
from kb.config import Config, Source, is_http_url
from kb.errors import KbError
from kb.timeutil import utcnow

logger = logging.getLogger("aiwatch.crawl")
FEED_METHODS = ("feed_only", "fetch_failed")


class CrawlError(KbError):
    """The crawl could not run."""


def sources_for_run(config: Config, feeds: list[str] | None) -> list[Source]:
    """The configured sources, or only the given feed URLs (unknown ones become ad-hoc sources)."""
    if not feeds:
        return list(config.sources)
    chosen = []
    for url in feeds:
        if not is_http_url(url):
            raise CrawlError(f"not an http(s) feed URL: {url!r}")
        source = config.source_for_feed(url)
        if source is None:
            host = urlsplit(url).hostname or "feed"
            digest = hashlib.sha1(url.encode()).hexdigest()[:8]
            slug = "".join(c if c.isalnum() else "-" for c in host.lower())
            source = Source(id=f"{slug}-{digest}", name=host, feed_url=url)
        chosen.append(source)
    return chosen


def due_sources(sources: list[Source], state: dict[str, Any], now: str) -> list[Source]:
    """The sources whose back-off has run out (a failing source waits until ``next_due_at``)."""
    saved = state.get("sources", {})
    return [s for s in sources if (saved.get(s.id, {}).get("next_due_at") or "") <= now]


def scrapy_settings(config: Config, db_path: str | Path, *, overrides: dict[str, str],
                    allow_private: bool, quiet: bool, skipped: int = 0) -> Any:
    """Scrapy settings: the project's defaults, then the kb config, then ``-s`` overrides."""
    from scrapy.settings import Settings

    crawl = config.crawl
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    user_agent = crawl.user_agent.format(version=__version__, contact_url=crawl.contact_url)
    settings.setdict({
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_TIMES": crawl.retries,
        "DOWNLOAD_MAXSIZE": crawl.max_body_bytes,
        "KB_EXTRACT_WORKERS": crawl.extract_workers,
        "KB_DB": str(db_path),
        "KB_ALLOW_PRIVATE": allow_private,
        "KB_QUIET": quiet,
        "KB_SOURCES_SKIPPED": skipped,
        "LOG_LEVEL": "ERROR" if quiet else "WARNING",
    }, priority="cmdline")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def run_crawl(db_path: str | Path, config: Config, *, feeds: list[str] | None = None,
              overrides: dict[str, str] | None = None, allow_private: bool = False,
              quiet: bool = False) -> dict[str, Any]:
    """Crawl once in this process and return the run's ``crawl_runs`` row.

    Without ``feeds``, sources still backed off after failures are skipped (and counted); named
    feeds are always fetched. Scrapy's reactor runs once per process: call this from a command,
    not twice in a loop.
    """
    from scrapy.crawler import CrawlerProcess

    from crawlers.spiders.feeds import FeedsSpider

    db = kbdb.open_db(db_path)
    sources = sources_for_run(config, feeds)
    if not sources:
        raise CrawlError("no sources to crawl: add some to the configuration or pass --feed URL")
    for source in sources:
        kbdb.save_source(db, asdict(source))
    state = kbdb.get_crawl_state(db)
    due = sources if feeds else due_sources(sources, state, utcnow())
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
    db = kbdb.open_db(db_path)
    run = db.execute("select max(id) from crawl_runs").fetchone()[0] or 0
    if run == last_run:
        raise CrawlError("the crawl did not start (see the messages above)")
    return _run_row(db, run, len(due))


def _run_row(db: Any, run_id: int, sources: int) -> dict[str, Any]:
    row = db["crawl_runs"].get(run_id)
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


def reextract(db: Database, *, workers: int = 2, quiet: bool = False) -> dict[str, int]:
    """Re-run extraction over every stored page, fetching nothing; update articles that change.

    Pages are decoded from their stored headers exactly as the crawl does; an article whose text
    changes gets a new version. Returns counts: ``pages``, ``updated``, ``unchanged``.
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from kb.assemble import choose_text

    counts = {"pages": 0, "updated": 0, "unchanged": 0}
    total = db.execute("select count(*) from pages").fetchone()[0]
    bar = tqdm(total=total, desc="reextract", unit=" pages", disable=True if quiet else None,
               leave=False)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
    try:
        for rows in kbdb.iter_stored_pages(db):
            args = [(r["body_gz"], json.loads(r["headers"] or "{}").get("Content-Type"),
                     r["final_url"] or r["page_url"]) for r in rows]
            results = (pool.map(_reextract_one, *zip(*args, strict=True)) if pool
                       else (_reextract_one(*a) for a in args))
            for row, extracted in zip(rows, results, strict=True):
                feed_text = row["text"] if row["extraction"] in FEED_METHODS else row["summary"]
                page = extracted or {}
                text, method = choose_text(page.get("text") or "", feed_text or "",
                                           page.get("method", "trafilatura"), True)
                status = kbdb.update_article_text(db, row["article_id"], text=text,
                                                  extraction=method, lang=page.get("lang"))
                counts["pages"] += 1
                counts[status] += 1
                bar.update(1)
    finally:
        bar.close()
        if pool:
            pool.shutdown()
    return counts
