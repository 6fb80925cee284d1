"""Item pipelines: extract text in worker processes, then store through kb.db."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import gzip
import logging
import os
import signal
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, replace
from typing import Any

from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from crawlers.items import ArticleItem, FeedResult, PageRefused
from kb.core.progress import progress
from kb.crawl.assembly import build_article, decode_html
from kb.crawl.extraction import extract_article
from kb.crawl.metadata import RepeatedTitleEnds
from kb.store import writes as kbdb
from kb.store.connection import open_db
from kb.store.health import PageHealth

logger = logging.getLogger("aiwatch.crawl")
detail = logging.getLogger("aiwatch.detail.crawl")
EXTRACTABLE = ("html", "xml", "text/plain")
WORKER_NICENESS = 5
RUN_FIELDS = ("feeds_ok", "feeds_not_modified", "feeds_failed", "feeds_unreachable", "articles_new",
              "articles_updated", "articles_unchanged", "pages_failed", "pages_refused", "sources_skipped")


def extract_page(body: bytes, content_type: str | None, url: str) -> dict[str, Any] | None:
    """Decode a fetched page (trusting its bytes over a wrong charset) and extract its article.

    Pages that are not HTML or text (PDFs, images) give None: the feed's text stands in.
    """
    if content_type and not any(kind in content_type.lower() for kind in EXTRACTABLE):
        return None
    html, _ = decode_html(body, content_type)
    return extract_article(html, url)


def process_page(body: bytes, content_type: str | None,
                 url: str) -> tuple[dict[str, Any] | None, bytes | None]:
    """What a worker does for one page: extract it, and compress the body for the archive."""
    return extract_page(body, content_type, url), gzip.compress(body, 6)


def _worker_init() -> None:
    """Worker initializer: yield the CPU to the reactor first (it feeds every worker), and on
    Linux end this worker when the crawl process dies (even by SIGKILL)."""
    os.nice(WORKER_NICENESS)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: workers end when their queue closes


class ExtractionPipeline:
    """Runs extraction in a process pool so the reactor thread keeps downloading."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractionPipeline:
        return cls(crawler.settings.getint("KB_EXTRACT_WORKERS"))

    def open_spider(self, spider: Any = None) -> None:
        if self.workers > 0:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init)

    def close_spider(self, spider: Any = None) -> None:
        if self.pool:
            self.pool.shutdown(cancel_futures=True)

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, ArticleItem) or item.body is None:
            return item
        url = item.final_url or item.url
        content_type = item.headers.get("Content-Type")
        try:
            if self.pool is None:
                item.extracted, item.body_gz = process_page(item.body, content_type, url)
            else:
                future = self.pool.submit(process_page, item.body, content_type, url)
                item.extracted, item.body_gz = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.warning("extraction worker died on %s; restarting the pool", url)
            self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init)
        except Exception as exc:  # noqa: BLE001 - a page must not stop the crawl; the feed's text stays
            logger.warning("extraction failed on %s: %s: %s", url, type(exc).__name__, exc)
        return item


class StoragePipeline:
    """Writes feeds' outcomes and articles into the knowledge base and keeps the run's figures.

    A feed's result (with the validators that make the next fetch conditional) is written only
    after every page requested from it has been stored, so a crash never leaves a feed marked
    as seen whose articles are missing.
    """

    crawler: Crawler | None = None

    def __init__(self, db_path: str, quiet: bool, skipped: int = 0) -> None:
        self.db_path = db_path
        self.quiet = quiet
        self.counts: Counter[str] = Counter({"sources_skipped": skipped})
        self.errors: list[str] = []
        self.page_health = PageHealth()
        self.title_ends = RepeatedTitleEnds()
        self.stored: Counter[str] = Counter()
        self.held: dict[str, FeedResult] = {}
        self.failed: list[FeedResult] = []  # saved at the end, once it is known whose fault it was
        self.stopped: str | None = None  # why the crawl stopped early (a full disk)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoragePipeline:
        pipeline = cls(crawler.settings.get("KB_DB"), crawler.settings.getbool("KB_QUIET"),
                       crawler.settings.getint("KB_SOURCES_SKIPPED"))
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        self.db = open_db(self.db_path)
        self.run_id = kbdb.start_crawl_run(self.db)
        spider = spider or getattr(getattr(self, "crawler", None), "spider", None)
        self.total_feeds = len(getattr(spider, "sources", []) or [])
        self.bar = progress("crawl", unit="pages", quiet=self.quiet)

    def close_spider(self, spider: Any = None) -> None:
        self.bar.close()
        try:
            self._finish()
        except (sqlite3.OperationalError, OSError) as exc:
            if not storage_failure(exc):
                raise
            # not even the run's row can be written: it stays 'running', the next run marks it
            # interrupted, and the command reports the failure
            detail.warning("cannot record the end of the run: %s", exc)
        finally:
            self.db.close()

    def _finish(self) -> None:
        if self.stopped:
            kbdb.finish_crawl_run(self.db, self.run_id, {k: self.counts[k] for k in RUN_FIELDS},
                                  [*self.errors, self.stopped], status="failed")
            return
        # Every feed unreachable at once (DNS, connection) is the machine's failure, not each
        # source's: recorded, but no source is backed off for it.
        reached = self.counts["feeds_ok"] + self.counts["feeds_not_modified"]
        machine_wide = not reached and len(self.failed) >= 2 and all(f.unreachable for f in self.failed)
        for result in self.failed:
            self._save_feed(result, count_failure=not machine_wide)
        for result in self.held.values():
            # Some of its pages never reached the database: keep its health, not its validators.
            self._save_feed(replace(result, etag=None, last_modified=None, feed_hash=None))
        self.page_health.save(self.db)
        kbdb.finish_crawl_run(self.db, self.run_id, {k: self.counts[k] for k in RUN_FIELDS},
                              self.errors)

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if self.stopped:
            return item  # the database cannot take more: the rest waits for the next run
        try:
            self._process(item)
        except (sqlite3.OperationalError, OSError) as exc:
            if not storage_failure(exc):
                raise
            self._stop(str(exc))
        return item

    def _stop(self, reason: str) -> None:
        """The disk is full (or failing): stop the crawl; what is stored stays, and the feeds whose
        pages are not all in keep no validators, so the next run fetches what is missing."""
        self.stopped = f"the database cannot be written ({reason})"
        detail.warning("stopping the crawl: %s", self.stopped)
        if self.crawler is not None and self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_failed"))

    def _process(self, item: Any) -> None:
        if isinstance(item, FeedResult):
            if item.status == "failed":
                self.failed.append(item)
            elif item.status == "ok" and self.stored[item.source_id] < item.pages_requested:
                self.held[item.source_id] = item
            else:
                self._save_feed(item)
        elif isinstance(item, ArticleItem):
            self._save_article(item)
            self._page_stored(item.source_id)
        elif isinstance(item, PageRefused):
            self.counts["pages_refused"] += 1
            self._page_stored(item.source_id)

    def _page_stored(self, source_id: str) -> None:
        self.stored[source_id] += 1
        held = self.held.get(source_id)
        if held and self.stored[source_id] >= held.pages_requested:
            self._save_feed(self.held.pop(source_id))

    def _save_feed(self, result: FeedResult, *, count_failure: bool = True) -> None:
        kbdb.save_feed_result(self.db, asdict(result), count_failure=count_failure)
        self.counts[f"feeds_{result.status}"] += 1
        self.counts["feeds_unreachable"] += result.unreachable
        self.counts["articles_unchanged"] += result.entries - result.pages_requested
        if result.status == "failed":
            self.errors.append(f"{result.source_id}: {result.error}")
        self._show()

    def _show(self) -> None:
        done = sum(self.counts[f"feeds_{s}"] for s in ("ok", "not_modified", "failed")) + len(self.failed)
        stored = self.counts["articles_new"] + self.counts["articles_updated"]
        self.bar.set_postfix_str(f"feeds {done}/{self.total_feeds}, {stored} new or updated, "
                                 f"{self.counts['pages_failed']} pages failed")

    def _save_article(self, item: ArticleItem) -> None:
        if item.page_error:
            self.counts["pages_failed"] += 1
            logger.warning("page failed %s: %s", item.original_url, item.page_error)
        meta = (item.extracted or {}).get("meta") or {}
        self.title_ends.learn(item.source_id, meta)
        article = build_article(asdict(item), item.extracted, self.title_ends.names(item.source_id))
        self.page_health.record(item.source_id, extraction=article["extraction"], page_error=item.page_error)
        status = kbdb.save_article(self.db, article)
        self.counts[f"articles_{status}"] += 1
        self.bar.update(1)
        self._show()


def storage_failure(exc: BaseException) -> bool:
    """A full disk or a failing one: the crawl cannot go on, whatever it fetches."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("database or disk is full", "disk i/o error", "readonly database"))
