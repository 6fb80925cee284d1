"""Running the crawl: configured (or given) feeds through the Scrapy project into the database."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kb import __version__
from kb import db as kbdb
from kb.config import Config, Source, is_http_url
from kb.errors import KbError

logger = logging.getLogger("aiwatch.crawl")


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


def scrapy_settings(config: Config, db_path: str | Path, *, overrides: dict[str, str],
                    allow_private: bool, quiet: bool) -> Any:
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
        "LOG_LEVEL": "ERROR" if quiet else "WARNING",
    }, priority="cmdline")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def run_crawl(db_path: str | Path, config: Config, *, feeds: list[str] | None = None,
              overrides: dict[str, str] | None = None, allow_private: bool = False,
              quiet: bool = False) -> dict[str, Any]:
    """Crawl once in this process and return the run's ``crawl_runs`` row.

    Scrapy's reactor runs once per process: call this from a command, not twice in a loop.
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
    last_run = db.execute("select max(id) from crawl_runs").fetchone()[0] or 0
    db.close()
    settings = scrapy_settings(config, db_path, overrides=overrides or {},
                               allow_private=allow_private, quiet=quiet)
    process = CrawlerProcess(settings)
    process.crawl(FeedsSpider, sources=[asdict(s) for s in sources], state=state)
    process.start()
    db = kbdb.open_db(db_path)
    run = db.execute("select max(id) from crawl_runs").fetchone()[0] or 0
    if run == last_run:
        raise CrawlError("the crawl did not start (see the messages above)")
    row = db["crawl_runs"].get(run)
    row["errors"] = json.loads(row["errors"] or "[]")
    row["sources"] = len(sources)
    return row


def summary_line(run: dict[str, Any]) -> str:
    return (
        f"{run['articles_new']} new, {run['articles_updated']} updated, "
        f"{run['articles_unchanged']} unchanged; feeds: {run['feeds_ok']} ok, "
        f"{run['feeds_not_modified']} not modified, {run['feeds_failed']} failed; "
        f"{run['pages_failed']} pages failed"
    )
