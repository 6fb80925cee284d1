"""The feed spider: fetch each source's feed, then every new or changed entry's page."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from scrapy.http import Response
from twisted.internet.error import ConnectError, DNSLookupError, TCPTimedOutError
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefused
from twisted.internet.error import TimeoutError as TxTimeoutError
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, FeedResult, PageRefused
from crawlers.middlewares import RefusedRequest
from kb.core.clock import utcnow
from kb.crawl.feeds import FeedEntry, parse_feed

KEPT_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Date", "Content-Language")
# Failures before any answer from the server, and how a person would say them.
REASONS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((CannotResolveHostError, DNSLookupError), "DNS lookup failed"),
    ((DownloadConnectionRefusedError, TxConnectionRefused), "connection refused"),
    ((DownloadTimeoutError, TxTimeoutError, TCPTimedOutError), "timed out"),
    ((ConnectError,), "could not connect"),
)
UNREACHABLE = tuple(kind for kinds, _ in REASONS for kind in kinds)
logger = logging.getLogger("aiwatch.crawl")


class FeedsSpider(scrapy.Spider):
    name = "feeds"

    def __init__(self, sources: list[dict[str, Any]] | None = None,
                 state: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources or []
        state = state or {}
        self.validators: dict[str, dict[str, Any]] = state.get("sources", {})
        self.known: dict[str, str | None] = state.get("known", {})
        self.requested: set[str] = set()
        self.pending: dict[str, int] = {}
        self.results: dict[str, FeedResult] = {}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for source in self.sources:
            yield self.feed_request(source, self.validators.get(source["id"], {}))

    def feed_request(self, source: dict[str, Any], validators: dict[str, Any], *,
                     dont_filter: bool = True, **meta: Any) -> scrapy.Request:
        """A conditional GET of the source's feed: the saved ETag and Last-Modified as validators,
        a 304 handed to parse_feed. ``meta`` adds to the request's meta."""
        headers = {}
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        return scrapy.Request(
            source["feed_url"], callback=self.parse_feed, errback=self.feed_failed,
            headers=headers, dont_filter=dont_filter,
            meta={"source": source, "handle_httpstatus_list": [304], "kind": "feed", **meta},
            cb_kwargs={"source": source},
        )

    def parse_feed(self, response: Response, source: dict[str, Any]) -> Iterator[Any]:
        """The feed's outcome and a request per new or changed entry. Whatever the feed holds,
        the source gets an outcome: an unexpected error is recorded as its failure."""
        try:
            outputs = list(self._parse_feed(response, source))
        except Exception as exc:  # noqa: BLE001 - one feed must never stop or vanish from the run
            logger.exception("cannot process the feed of %s", source["id"])
            self.pending.pop(source["id"], None)
            self.results.pop(source["id"], None)
            yield FeedResult(source_id=source["id"], feed_url=source["feed_url"], status="failed",
                             error=f"cannot process the feed: {type(exc).__name__}: {exc}"[:300])
            return
        yield from outputs

    def _parse_feed(self, response: Response, source: dict[str, Any]) -> Iterator[Any]:
        result = FeedResult(source_id=source["id"], feed_url=source["feed_url"], status="ok")
        if response.status == 304:
            result.status = "not_modified"
            yield result
            return
        body_hash = hashlib.sha256(response.body).hexdigest()[:32]
        result.etag = _header(response, "ETag")
        result.last_modified = _header(response, "Last-Modified")
        result.feed_hash = body_hash
        if body_hash == self.validators.get(source["id"], {}).get("feed_hash"):
            result.status = "not_modified"
            yield result
            return
        parsed = parse_feed(response.body, response.url,
                            content_type=_header(response, "Content-Type"))
        if parsed.error:
            result.status, result.error = "failed", parsed.error
            result.etag = result.last_modified = result.feed_hash = None
            yield result
            return
        result.entries, result.title = len(parsed.entries), parsed.title
        requests = [r for e in parsed.entries if self._wants(e)
                    if (r := self._page_request(e, source, parsed.lang, parsed.title)) is not None]
        result.pages_requested = len(requests)
        self.results[source["id"]] = result
        self.pending[source["id"]] = len(requests)
        if not requests:
            yield self.results.pop(source["id"])
        yield from requests

    def _wants(self, entry: FeedEntry) -> bool:
        if entry.url in self.requested:
            return False
        if entry.url in self.known and self.known[entry.url] == entry.fingerprint:
            return False
        self.requested.add(entry.url)
        return True

    def _page_request(self, entry: FeedEntry, source: dict[str, Any], feed_lang: str | None,
                      channel_title: str | None = None) -> scrapy.Request | None:
        item = ArticleItem(
            url=entry.url, original_url=entry.link, source_id=source["id"], fetched_at="",
            feed_title=entry.title, feed_summary=entry.summary, feed_content=entry.content,
            feed_author=entry.author, feed_published=entry.published_at,
            feed_updated=entry.updated_at, feed_lang=feed_lang or source.get("lang"),
            feed_channel_title=channel_title, entry_fingerprint=entry.fingerprint, guid=entry.guid,
        )
        try:
            return scrapy.Request(
                entry.link, callback=self.parse_page, errback=self.page_failed, dont_filter=True,
                meta={"source": source, "kind": "page", "item": item},
            )
        except ValueError as exc:  # a link Scrapy cannot even represent
            logger.warning("skipped link %r in %s: %s", entry.link[:200], source["id"], exc)
            return None

    def parse_page(self, response: Response) -> Iterator[Any]:
        item: ArticleItem = response.meta["item"]
        item.fetched_at = utcnow()
        item.body = response.body
        item.final_url = response.url
        item.status = response.status
        item.headers = {h: v for h in KEPT_HEADERS if (v := _header(response, h))}
        yield item
        yield from self._page_done(item.source_id)

    def page_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on errback failures
        item: ArticleItem = request.meta["item"]
        if failure.check(RefusedRequest):
            yield PageRefused(source_id=item.source_id, url=request.url,
                              reason=str(failure.value))
        else:
            item.fetched_at = utcnow()
            item.page_error = _describe(failure)
            yield item
        yield from self._page_done(item.source_id)

    def _page_done(self, source_id: str) -> Iterator[FeedResult]:
        # A feed's validators are saved only once all its pages are in (the storage pipeline
        # also waits for them to be stored), so a crash mid-way means the next run parses the
        # feed again and fetches what is still missing.
        self.pending[source_id] -= 1
        if self.pending[source_id] == 0:
            yield self.results.pop(source_id)

    def feed_failed(self, failure: Failure) -> Iterator[FeedResult]:
        source = failure.request.meta["source"]  # type: ignore[attr-defined]
        yield FeedResult(source_id=source["id"], feed_url=source["feed_url"], status="failed",
                         error=_describe(failure), unreachable=bool(failure.check(*UNREACHABLE)))


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _describe(failure: Failure) -> str:
    """One short line saying why a download failed."""
    value = failure.value
    response = getattr(value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    text = str(value).strip() or type(value).__name__
    if failure.check(DownloadCancelledError) or "max size" in text:
        return "response over the size limit (DOWNLOAD_MAXSIZE), cut off"
    if failure.check(RefusedRequest):
        return text
    host = urlsplit(failure.request.url).hostname if hasattr(failure, "request") else None
    for kinds, reason in REASONS:
        if failure.check(*kinds):
            return f"{reason} ({host})" if host else reason
    return f"{type(value).__name__}: {text}"[:300]
