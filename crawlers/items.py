"""Items the spiders produce; the pipelines turn them into rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FeedResult:
    """The outcome of fetching one source's feed."""

    source_id: str
    feed_url: str
    status: str  # ok | not_modified | failed
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    feed_hash: str | None = None
    entries: int = 0
    pages_requested: int = 0
    title: str | None = None  # the feed's own title, which names a source added by its URL
    unreachable: bool = False  # failed before any answer: DNS, refused connection, time-out


@dataclass
class ArticleItem:
    """One article: what the feed said, and the fetched page when there is one."""

    url: str
    original_url: str
    source_id: str
    fetched_at: str
    feed_title: str | None = None
    feed_summary: str | None = None
    feed_content: str | None = None
    feed_author: str | None = None
    feed_published: str | None = None
    feed_updated: str | None = None
    feed_lang: str | None = None
    feed_channel_title: str | None = None  # the feed's own title: a site name to cut from headlines
    entry_fingerprint: str | None = None
    guid: str | None = None
    body: bytes | None = field(default=None, repr=False)  # no page bytes in a logged item
    body_gz: bytes | None = field(default=None, repr=False)  # gzip-compressed (by an extraction worker)
    encoding: str | None = None
    final_url: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    page_error: str | None = None
    extracted: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class PageRefused:
    """A link the private-network guard would not fetch: logged and counted, never stored."""

    source_id: str
    url: str
    reason: str
