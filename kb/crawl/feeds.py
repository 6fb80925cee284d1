"""Parsing feeds (RSS 0.9x/1.0/2.0, Atom) into entries: a pure function over bytes."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from kb.crawl.urls import canonical_url

# A DOCTYPE's internal subset that declares entities: no real feed needs one, and nested or
# repeated entities are how "billion laughs" and quadratic-blowup feeds exhaust memory.
DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[", re.IGNORECASE)
ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
PROLOG_BYTES = 4096
MAX_RAW_DATE = 80


@dataclass
class FeedEntry:
    url: str
    link: str
    guid: str | None
    title: str | None
    summary: str | None
    content: str | None
    author: str | None
    published_at: str | None  # ISO 8601, or the feed's own text when it could not be parsed
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
    error: str | None = None  # why the body was refused or is no feed, when it is not


def _date(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, TypeError):
        return None


def _fingerprint(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()[:24]


def looks_utf8(body: bytes) -> bool:
    """True when ``body`` has non-ASCII bytes that decode as UTF-8 (so it is UTF-8 whatever it says).

    Text in a single-byte encoding with accented letters is practically never valid UTF-8, so a
    body that is valid UTF-8 but labelled ISO-8859-1 or windows-1252 is a mislabelled UTF-8 one.
    UTF-16 and UTF-32 (NUL bytes) are left to their BOM and declarations.
    """
    if body.isascii() or b"\x00" in body[:1024]:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def refusal(body: bytes) -> str | None:
    """Why a feed body must not be parsed at all, or None."""
    if not body.strip():
        return "empty response"
    subset = DOCTYPE_SUBSET.search(body[:PROLOG_BYTES])
    if subset:
        end = body.find(b"]", subset.end())
        declarations = body[subset.end(): end if end >= 0 else len(body)]
        if ENTITY_DECL.search(declarations):
            return "refused: the feed declares XML entities (entity-expansion risk)"
    return None


def _content_type(body: bytes, declared: str | None) -> str:
    """The content type to hand feedparser: UTF-8 wins over a wrong label when the bytes say so."""
    if looks_utf8(body):
        return "application/xml; charset=utf-8"
    return declared or "application/xml"


def _raw_date(entry: Any, key: str) -> str | None:
    """The feed's own date text when feedparser could not parse it (kept so it can be flagged)."""
    if entry.get(f"{key}_parsed"):
        return None
    raw = entry.get(key)
    return " ".join(str(raw).split())[:MAX_RAW_DATE] or None if raw else None


def _canonical(link: str) -> str | None:
    """The canonical URL of a link, or None for one that is not a URL at all (bad port, bad IPv6)."""
    try:
        return canonical_url(link)
    except ValueError:
        return None


def _unreliable_guids(raw_entries: list[Any]) -> set[str]:
    """GUIDs that a broken feed gives to different stories (same GUID, other link and title)."""
    first: dict[str, tuple[str, str]] = {}
    bad: set[str] = set()
    for e in raw_entries:
        guid, link = e.get("id"), e.get("link") or ""
        if not guid:
            continue
        key = (_canonical(link) or "" if link else "", (e.get("title") or "").strip())
        if guid in first and first[guid][0] != key[0] and first[guid][1] != key[1]:
            bad.add(guid)
        first.setdefault(guid, key)
    return bad


def parse_feed(body: bytes, url: str, *, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed's bytes; relative links resolve against ``url`` and any xml:base.

    Entries are unique by canonical URL and by GUID: a GUID repeated with another link is the
    same story re-announced (the first wins), unless the feed gives one GUID to different stories.
    """
    reason = refusal(body)
    if reason:
        return ParsedFeed(title=None, lang=None, entries=[], bozo=True, bozo_reason=reason,
                          is_feed=False, error=reason)
    headers = {"content-location": url, "content-type": _content_type(body, content_type)}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    bad_guids = _unreliable_guids(parsed.entries)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for e in parsed.entries:
        link = e.get("link") or next(
            (x.get("href") for x in e.get("links", []) if x.get("href")), None
        )
        if not link or not (canon := _canonical(link)):
            continue
        guid = e.get("id") if e.get("id") not in bad_guids else None
        if canon in seen or (guid and f"guid:{guid}" in seen):
            continue
        seen.update({canon, f"guid:{guid}"} if guid else {canon})
        content = e["content"][0].get("value") if e.get("content") else None
        # feedparser maps a missing updated_parsed onto published_parsed: ask for the key itself.
        updated = _date(e["updated_parsed"]) if "updated_parsed" in e else None
        # RSS 1.0's dc:date (and some RSS 2.0 feeds) only give an "updated" date.
        published = _date(e.get("published_parsed")) or updated or _raw_date(e, "published")
        entries.append(FeedEntry(
            url=canon, link=link, guid=guid, title=e.get("title"),
            summary=e.get("summary"), content=content, author=e.get("author"),
            published_at=published, updated_at=updated,
            fingerprint=_fingerprint(canon, e.get("title"), updated or published,
                                     e.get("summary"), content),
        ))
    is_feed = bool(parsed.get("version")) or bool(entries)
    bozo = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    return ParsedFeed(
        title=parsed.feed.get("title"), lang=parsed.feed.get("language"), entries=entries,
        bozo=bool(parsed.get("bozo")), bozo_reason=bozo, is_feed=is_feed,
        error=None if is_feed else "not a feed (no RSS or Atom found)",
    )
