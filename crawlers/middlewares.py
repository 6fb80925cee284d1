"""Downloader middlewares of the aiwatch crawl: the private-network guard, per-source politeness,
and retries that back off (honouring Retry-After)."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from crawlers.resolver import GUARD, Refused
from kb.crawl.netguard import scheme_refusal

logger = logging.getLogger("aiwatch.crawl")
detail = logging.getLogger("aiwatch.detail.crawl")  # the log file's, and the console's with -v


class RefusedRequest(IgnoreRequest):
    """The guard would not let this request out (private address or unsupported scheme)."""


class PrivateNetworkGuard:
    """Refuse non-http(s) URLs always, and hosts on private networks unless allowed.

    The feed's own host is trusted (the user configured it); every other host a feed or a redirect
    points to must resolve to public addresses only. The lookup is crawlers.resolver's, whose
    answer is pinned: the connection goes to the address checked here, and a lookup that fails is
    a refusal. robots.txt is fetched only for hosts the guard already let through.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.refused = 0
        self.allowed_netlocs: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkGuard:
        GUARD.configure(crawler.settings)
        return cls(crawler.settings.getbool("KB_ALLOW_PRIVATE"))

    async def process_request(self, request: Request) -> Any:
        parts = urlparse_cached(request)
        reason = scheme_refusal(request.url)
        if reason is None and not self.allow_private:
            if request.meta.get("dont_obey_robotstxt") and parts.path == "/robots.txt" and (
                    parts.netloc in self.allowed_netlocs):
                return None
            feed_url = (request.meta.get("source") or {}).get("feed_url")
            feed_host = (urlsplit(feed_url).hostname or "") if feed_url else ""
            GUARD.trust(feed_host)
            if parts.hostname != feed_host:  # the feed's own host is trusted: no lookup here
                reason = await self._host_refusal(parts.hostname or "")
        if reason:
            self.refused += 1
            via = request.meta.get("redirect_urls")
            logger.warning("refused %s%s: %s", request.url,
                           f" (redirected from {via[0]})" if via else "", reason)
            raise RefusedRequest(f"refused: {reason}")
        self.allowed_netlocs.add(parts.netloc)
        return None

    @staticmethod
    async def _host_refusal(host: str) -> str | None:
        if not host:
            return "the URL has no host"
        try:
            await maybe_deferred_to_future(GUARD.lookup(host))
        except Refused as exc:
            return str(exc)
        return None


def _netloc(feed_url: str | None) -> str | None:
    """The netloc of a feed URL (its host is trusted without a lookup)."""
    return urlsplit(feed_url).netloc if feed_url else None


def _politer(old: tuple[float | None, int | None] | None,
             new: tuple[float | None, int | None]) -> tuple[float | None, int | None]:
    if old is None:
        return new
    delays = [d for d in (old[0], new[0]) if d is not None]
    concurrencies = [c for c in (old[1], new[1]) if c]
    return (max(delays) if delays else None, min(concurrencies) if concurrencies else None)


class SourcePoliteness:
    """Apply a source's own ``download_delay`` and ``concurrency`` to the hosts it fetches from.

    They go into the downloader's per-slot settings (the same place as Scrapy's DOWNLOAD_SLOTS),
    so they hold from the first request; when two sources with their own settings share a host the
    politer values win (the longer delay, the lower concurrency).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.applied: dict[str, tuple[float | None, int | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourcePoliteness:
        return cls(crawler)

    def process_request(self, request: Request) -> Any:
        source = request.meta.get("source") or {}
        wanted = (source.get("download_delay"), source.get("concurrency") or None)
        if wanted == (None, None):
            return None
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        merged = _politer(self.applied.get(key), wanted)
        if merged == self.applied.get(key):
            return None
        self.applied[key] = merged
        delay, concurrency = merged
        per_slot = downloader.per_slot_settings.setdefault(key, {})
        slot = downloader.slots.get(key)
        if delay is not None:
            per_slot["delay"] = delay
            if slot is not None:
                slot.delay = delay
        if concurrency:
            per_slot["concurrency"] = concurrency
            if slot is not None:
                slot.concurrency = concurrency
        return None


def retry_after_seconds(response: Response) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (5xx, 408, 429, timeouts, refused connections) with exponential backoff.

    The n-th retry waits ``KB_RETRY_BACKOFF_BASE * 2**(n-1)`` seconds (at most
    ``KB_RETRY_BACKOFF_MAX``, plus up to 25% jitter), or longer when the response's Retry-After
    asks for it; a 429/503 also slows the host's download slot down to that wait. A Retry-After
    beyond ``KB_RETRY_AFTER_MAX`` is not waited for: the request fails now and is tried next run.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("KB_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("KB_RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("KB_RETRY_AFTER_MAX", 120.0)

    async def process_response(  # type: ignore[override]  # Scrapy 2.19: no spider, may await
            self, request: Request, response: Response) -> Request | Response:
        if (request.meta.get("dont_retry") or request.meta.get("dont_obey_robotstxt")
                or response.status not in self.retry_http_codes):
            return response
        wait = retry_after_seconds(response)
        if wait is not None and wait > self.retry_after_max:
            logger.warning("not retrying %s: Retry-After %.0f s is beyond %.0f s", request.url,
                           wait, self.retry_after_max)
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        if wait is not None and response.status in (429, 503):
            self._slow_down(request, wait)
        await self._pause(retry, wait)
        return retry

    async def process_exception(  # type: ignore[override]
            self, request: Request, exception: Exception) -> Any:
        if (not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry")
                or request.meta.get("dont_obey_robotstxt")):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        await self._pause(retry, None)
        return retry

    def backoff(self, retry_times: int) -> float:
        """Seconds to wait before the ``retry_times``-th retry (jitter included)."""
        base = min(self.backoff_max, self.backoff_base * 2 ** max(0, retry_times - 1))
        return base * random.uniform(1.0, 1.25)  # noqa: S311 - jitter, not security

    async def _pause(self, retry: Request, wait: float | None) -> None:
        delay = max(self.backoff(retry.meta.get("retry_times", 1)), wait or 0.0)
        detail.info("retrying %s in %.1f s", retry.url, delay)
        await asyncio.sleep(delay)

    def _slow_down(self, request: Request, wait: float) -> None:
        slot = self.crawler.engine.downloader.slots.get(request.meta.get("download_slot", ""))
        if slot is not None:
            slot.delay = max(slot.delay, wait)
