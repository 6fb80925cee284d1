"""Which sources a crawl fetches: the configured ones or the given feeds, less those backed off."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from kb.core.config import Config, Source, is_http_url
from kb.core.errors import KbError


class CrawlError(KbError):
    """The crawl could not run."""


def all_sources(config: Config, added: list[Source], disabled: set[str]) -> list[Source]:
    """The configured sources and those added from the shell (kb sources add/import), less the
    disabled ones. A configured source wins over an added one with the same id or feed."""
    configured = {s.id for s in config.sources} | {s.feed_url for s in config.sources}
    merged = list(config.sources) + [s for s in added if s.id not in configured
                                     and s.feed_url not in configured]
    return [s for s in merged if s.id not in disabled]


def sources_for_run(config: Config, feeds: list[str] | None, *, added: list[Source] | None = None,
                    disabled: set[str] | None = None) -> list[Source]:
    """Every enabled source, or only the given feed URLs (unknown ones become ad-hoc sources)."""
    known = all_sources(config, added or [], disabled or set())
    if not feeds:
        return known
    by_feed = {s.feed_url: s for s in [*config.sources, *(added or [])]}
    return [by_feed.get(url) or adhoc_source(url) for url in feeds]


def adhoc_source(url: str, name: str | None = None) -> Source:
    """A source for a feed URL that no source has: its id from the host and a hash of the URL,
    named after the host until the feed's own title is known."""
    if not is_http_url(url):
        raise CrawlError(f"not an http(s) feed URL: {url!r}")
    host = urlsplit(url).hostname or "feed"
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    slug = "".join(c if c.isalnum() else "-" for c in host.lower())
    return Source(id=f"{slug}-{digest}", name=name or host, feed_url=url)


def due_sources(sources: list[Source], state: dict[str, Any], now: str) -> list[Source]:
    """The sources whose back-off has run out (a failing source waits until ``next_due_at``)."""
    saved = state.get("sources", {})
    return [s for s in sources if (saved.get(s.id, {}).get("next_due_at") or "") <= now]


def whole_run_failure(run: dict[str, Any]) -> str | None:
    """What to say when every feed of a run failed (None when any answered)."""
    total, failed = run.get("sources") or 0, run.get("feeds_failed") or 0
    if not total or failed < total:
        return None
    if (run.get("feeds_unreachable") or 0) < total:
        return f"every feed failed ({failed}/{total}): see the lines above"
    dns = sum("DNS lookup failed" in e for e in run.get("errors") or [])
    kind = "DNS failures" if dns == total else "unreachable"
    return f"no feed could be reached ({failed}/{total} {kind}): is this machine offline?"
