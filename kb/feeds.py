"""Parsing feeds (RSS 0.9x/1.0/2.0, Atom) into entries: a pure function over bytes."""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from kb.urls import canonical_url


@dataclass
class FeedEntry:
    url: str
    link: str
    guid: str | None
    title: str | None
    summary: str | None
    content: str | None
    author: str | None
    published_at: str | None
    updated_at: str | None
    fingerprint: str


@dataclass
class ParsedFeed:
    title: str | None
    lang: str | None
    entries: list[FeedEntry]
    bozo: bool
    bozo_reason: str | None
    is_feed: bool


def _date(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, TypeError):
        return None


def _fingerprint(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()[:24]


def parse_feed(body: bytes, url: str, *, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed's bytes; relative links resolve against ``url`` and any xml:base."""
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for e in parsed.entries:
        link = e.get("link") or next(
            (x.get("href") for x in e.get("links", []) if x.get("href")), None
        )
        if not link:
            continue
        canon = canonical_url(link)
        if canon in seen:
            continue
        seen.add(canon)
        content = e["content"][0].get("value") if e.get("content") else None
        updated = _date(e.get("updated_parsed"))
        # RSS 1.0's dc:date (and some RSS 2.0 feeds) only give an "updated" date.
        published = _date(e.get("published_parsed")) or updated
        entries.append(FeedEntry(
            url=canon, link=link, guid=e.get("id"), title=e.get("title"),
            summary=e.get("summary"), content=content, author=e.get("author"),
            published_at=published, updated_at=updated,
            fingerprint=_fingerprint(canon, e.get("title"), updated or published,
                                     e.get("summary"), content),
        ))
    is_feed = bool(parsed.get("version")) or bool(entries)
    reason = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    return ParsedFeed(
        title=parsed.feed.get("title"), lang=parsed.feed.get("language"), entries=entries,
        bozo=bool(parsed.get("bozo")), bozo_reason=reason, is_feed=is_feed,
    )
