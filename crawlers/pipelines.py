"""Item pipelines: extract text in worker processes, then store through kb.db."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

from scrapy.crawler import Crawler
from tqdm import tqdm

from crawlers.items import ArticleItem, FeedResult
from kb import db as kbdb
from kb.article_text import extract_article
from kb.assemble import build_article

logger = logging.getLogger("aiwatch.crawl")


def _extract(body: bytes, encoding: str | None, url: str) -> dict[str, Any]:
    html: bytes | str = body
    if encoding:
        html = body.decode(encoding, errors="replace")
    return extract_article(html, url)


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
            self.pool = ProcessPoolExecutor(max_workers=self.workers)

    def close_spider(self, spider: Any = None) -> None:
        if self.pool:
            self.pool.shutdown(cancel_futures=True)

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, ArticleItem) or item.body is None:
            return item
        url = item.final_url or item.url
        if self.pool is None:
            item.extracted = _extract(item.body, item.encoding, url)
        else:
            future = self.pool.submit(_extract, item.body, item.encoding, url)
            item.extracted = await asyncio.wrap_future(future)
        return item


class StoragePipeline:
    """Writes feeds' outcomes and articles into the knowledge base and keeps the run's figures."""

    def __init__(self, db_path: str, quiet: bool) -> None:
        self.db_path = db_path
        self.quiet = quiet
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.page_health: dict[str, Counter[str]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoragePipeline:
        pipeline = cls(crawler.settings.get("KB_DB"), crawler.settings.getbool("KB_QUIET"))
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        self.db = kbdb.open_db(self.db_path)
        self.run_id = kbdb.start_crawl_run(self.db)
        spider = spider or getattr(getattr(self, "crawler", None), "spider", None)
        self.total_feeds = len(getattr(spider, "sources", []) or [])
        self.bar = tqdm(desc="crawl", unit=" pages", disable=True if self.quiet else None, leave=False)

    def close_spider(self, spider: Any = None) -> None:
        self.bar.close()
        for source_id, health in self.page_health.items():
            kbdb.add_page_health(self.db, source_id, ok=health["ok"], failed=health["failed"])
        fields = ("feeds_ok", "feeds_not_modified", "feeds_failed", "articles_new",
                  "articles_updated", "articles_unchanged", "pages_failed")
        kbdb.finish_crawl_run(self.db, self.run_id, {k: self.counts[k] for k in fields},
                              self.errors)
        self.db.close()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, FeedResult):
            self._save_feed(item)
        elif isinstance(item, ArticleItem):
            self._save_article(item)
        return item

    def _save_feed(self, result: FeedResult) -> None:
        kbdb.save_feed_result(self.db, asdict(result))
        self.counts[f"feeds_{result.status}"] += 1
        self.counts["articles_unchanged"] += result.entries - result.pages_requested
        if result.status == "failed":
            self.errors.append(f"{result.source_id}: {result.error}")
        done = sum(self.counts[f"feeds_{s}"] for s in ("ok", "not_modified", "failed"))
        self.bar.set_postfix_str(f"feeds {done}/{self.total_feeds}")

    def _save_article(self, item: ArticleItem) -> None:
        health = self.page_health.setdefault(item.source_id, Counter())
        if item.page_error:
            self.counts["pages_failed"] += 1
            health["failed"] += 1
            logger.warning("page failed %s: %s", item.original_url, item.page_error)
        article = build_article(asdict(item), item.extracted)
        if article["extraction"] in ("feed_only", "fetch_failed") and not item.page_error:
            health["failed"] += 1
        elif not item.page_error:
            health["ok"] += 1
        status = kbdb.save_article(self.db, article)
        self.counts[f"articles_{status}"] += 1
        self.bar.update(1)
