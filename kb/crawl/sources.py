"""Which sources a crawl fetches: the configured ones or the given feeds, less those backed off."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from kb.core.config import Config, Source, is_http_url
from kb.core.errors import KbError


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
