"""Downloader middlewares of the aiwatch crawl."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from kb.netguard import refusal_reason

logger = logging.getLogger("aiwatch.crawl")


class PrivateNetworkGuard:
    """Refuse non-http(s) URLs and hosts on private networks, except the feed's own host."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.refused = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkGuard:
        return cls(crawler.settings.getbool("KB_ALLOW_PRIVATE"))

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        if self.allow_private or request.url.endswith("/robots.txt"):
            return None
        source = request.meta.get("source") or {}
        reason = refusal_reason(request.url, source.get("feed_url"))
        if reason:
            self.refused += 1
            logger.warning("refused %s: %s", request.url, reason)
            raise IgnoreRequest(f"refused: {reason}")
        return None
