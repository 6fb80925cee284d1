"""Turning a crawled item (feed fields + extracted page) into an article row, with fallbacks."""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
from lxml.etree import ParserError
from w3lib.encoding import html_to_unicode

from kb.core.clock import to_iso
from kb.crawl.feeds import looks_utf8

MIN_TEXT_WORDS = 30
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
# Elements whose content is never text a reader sees.
NOT_TEXT = "//script|//style|//noscript|//template|//iframe|//object|//embed|//svg|//math"
NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """A page's text and the encoding used, trusting the bytes over a wrong label.

    Valid UTF-8 with non-ASCII bytes is UTF-8 whatever the headers say; otherwise the BOM, the
    Content-Type charset and then ``<meta charset>`` decide (ISO-8859-1 read as windows-1252, as
    browsers do); a page said to be UTF-8 that mostly is not is read as windows-1252.
    """
    if looks_utf8(body):
        return body.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    encoding, text = html_to_unicode(content_type, body)
    if codecs.lookup(encoding).name == "utf-8" and "\ufffd" in text:
        broken = text.count("\ufffd")
        if len(NON_ASCII.findall(text)) < broken:
            return body.decode("cp1252", errors="replace"), "cp1252"
    return text, encoding


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment (feed summaries and titles may carry markup).

    Scripts, styles and embedded objects go entirely; tags and their attributes (event handlers,
    ``javascript:`` links) go, their text stays.
    """
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    try:
        tree = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ParserError, ValueError):
        return " ".join(markup.replace("<", " ").replace(">", " ").split())
    for bad in tree.xpath(NOT_TEXT):
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
    """The publication date and a flag saying what was wrong with the dates given, if anything.

    The feed's date wins, then the page's; one that cannot be parsed, lies more than a day in the
    future or before 1990 is skipped and flagged ('unparseable', 'future', 'implausible'); with
    none left the fetch time stands in ('missing' when no date was given at all).
    """
    fetched = parse_date(fetched_at) or datetime.now(UTC)
    flag = None
    for candidate in (feed_date, page_date):
        dt = parse_date(candidate)
        if dt is None:
            if candidate:
                flag = flag or "unparseable"
            continue
        if dt > fetched + FUTURE_TOLERANCE:
            flag = flag or "future"
            continue
        if dt < EARLIEST_PLAUSIBLE:
            flag = flag or "implausible"
            continue
        return to_iso(dt), flag
    return to_iso(fetched), flag or "missing"


def _updated(value: str | None, fetched_at: str) -> str | None:
    """The feed's update date, dropped when it is unusable (the published date is flagged)."""
    dt, fetched = parse_date(value), parse_date(fetched_at)
    if dt is None or (fetched and dt > fetched + FUTURE_TOLERANCE) or dt < EARLIEST_PLAUSIBLE:
        return None
    return to_iso(dt)


def choose_text(page_text: str, feed_text: str, method: str,
                fetched: bool) -> tuple[str, str]:
    """The article text and how it was obtained: the page's, unless the feed says more."""
    if len(page_text.split()) >= MIN_TEXT_WORDS or len(page_text) > len(feed_text):
        return page_text, method
    return feed_text, "feed_only" if fetched else "fetch_failed"


def build_article(item: dict[str, Any], extracted: dict[str, Any] | None) -> dict[str, Any]:
    """Merge page extraction with the feed's fields; the feed fills in what the page lacks."""
    extracted = extracted or {}
    feed_text = html_to_text(item.get("feed_content")) or html_to_text(item.get("feed_summary"))
    text, extraction = choose_text(extracted.get("text") or "", feed_text,
                                   extracted.get("method", "trafilatura"),
                                   item.get("body") is not None)
    published, flag = choose_published(
        item.get("feed_published"), extracted.get("date"), item["fetched_at"]
    )
    return {
        "url": item["url"],
        "original_url": item["original_url"],
        "source_id": item["source_id"],
        "guid": item.get("guid"),
        "title": (html_to_text(item.get("feed_title")) or html_to_text(extracted.get("title"))
                  or item["url"]),
        "author": html_to_text(item.get("feed_author")) or html_to_text(extracted.get("author"))
        or None,
        "published_at": published,
        "updated_at": _updated(item.get("feed_updated"), item["fetched_at"]),
        "fetched_at": item["fetched_at"],
        "date_flag": flag,
        "lang": extracted.get("lang") or item.get("feed_lang"),
        "summary": html_to_text(item.get("feed_summary")),
        "text": text,
        "extraction": extraction,
        "entry_fingerprint": item.get("entry_fingerprint"),
        "body": item.get("body"),
        "body_gz": item.get("body_gz"),
        "final_url": item.get("final_url"),
        "status": item.get("status"),
        "headers": item.get("headers"),
    }
