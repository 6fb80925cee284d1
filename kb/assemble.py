"""Turning a crawled item (feed fields + extracted page) into an article row, with fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
from lxml.etree import ParserError

from kb.timeutil import to_iso

MIN_TEXT_WORDS = 30
FUTURE_TOLERANCE = timedelta(days=1)


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment (feed summaries and titles may carry markup)."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    try:
        tree = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ParserError, ValueError):
        return " ".join(markup.split())
    for bad in tree.xpath("//script|//style"):
        bad.drop_tree()
    for block in tree.iter("p", "br", "div", "li", "h1", "h2", "h3", "blockquote"):
        block.tail = "\n\n" + (block.tail or "")
    paragraphs = [" ".join(p.split()) for p in tree.text_content().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def choose_published(feed_date: str | None, page_date: str | None,
                     fetched_at: str) -> tuple[str, str | None]:
    """The publication date and a flag when it had to fall back to the fetch time."""
    fetched = parse_date(fetched_at) or datetime.now(UTC)
    flag = None
    for candidate in (feed_date, page_date):
        dt = parse_date(candidate)
        if dt is None:
            if candidate:
                flag = "unparseable"
            continue
        if dt > fetched + FUTURE_TOLERANCE:
            flag = "future"
            continue
        return to_iso(dt), None
    return to_iso(fetched), flag or "missing"


def build_article(item: dict[str, Any], extracted: dict[str, Any] | None) -> dict[str, Any]:
    """Merge page extraction with the feed's fields; the feed fills in what the page lacks."""
    extracted = extracted or {}
    page_text = extracted.get("text") or ""
    feed_text = html_to_text(item.get("feed_content")) or html_to_text(item.get("feed_summary"))
    if len(page_text.split()) >= MIN_TEXT_WORDS or len(page_text) > len(feed_text):
        text, extraction = page_text, extracted.get("method", "trafilatura")
    else:
        text = feed_text
        extraction = "feed_only" if item.get("body") is not None else "fetch_failed"
    published, flag = choose_published(
        item.get("feed_published"), extracted.get("date"), item["fetched_at"]
    )
    return {
        "url": item["url"],
        "original_url": item["original_url"],
        "source_id": item["source_id"],
        "title": html_to_text(item.get("feed_title")) or extracted.get("title") or item["url"],
        "author": html_to_text(item.get("feed_author")) or extracted.get("author"),
        "published_at": published,
        "updated_at": item.get("feed_updated"),
        "fetched_at": item["fetched_at"],
        "date_flag": flag,
        "lang": extracted.get("lang") or item.get("feed_lang"),
        "summary": html_to_text(item.get("feed_summary")),
        "text": text,
        "extraction": extraction,
        "entry_fingerprint": item.get("entry_fingerprint"),
        "body": item.get("body"),
        "final_url": item.get("final_url"),
        "status": item.get("status"),
        "headers": item.get("headers"),
    }
