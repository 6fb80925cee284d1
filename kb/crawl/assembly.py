"""Turning a crawled item (feed fields + extracted page) into an article row, with fallbacks."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import lxml.html
from lxml.etree import ParserError
from w3lib.encoding import html_to_unicode

from kb.core.clock import to_iso
from kb.crawl.feeds import looks_utf8
from kb.crawl.metadata import EARLIEST_PLAUSIBLE, FUTURE_TOLERANCE, parse_date, reconcile

MIN_TEXT_WORDS = 30
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


def feed_hints(item: dict[str, Any]) -> dict[str, Any]:
    """What the feed said of the article, kept so a re-extraction can weigh it again."""
    return {
        "title": html_to_text(item.get("feed_title")) or None,
        "author": html_to_text(item.get("feed_author")) or None,
        "published": item.get("feed_published"),
        "updated": item.get("feed_updated"),
        "lang": item.get("feed_lang"),
        "channel_title": html_to_text(item.get("feed_channel_title")) or None,
    }


def article_metadata(found: dict[str, Any], feed: dict[str, Any], url: str, fetched_at: str,
                     text: str, known_sites: set[str] | None = None) -> dict[str, Any]:
    """The article row's metadata columns, chosen among the page's and the feed's values."""
    meta = reconcile(found, feed, url, fetched_at, text, known_sites)
    return {
        "title": html_to_text(meta["title"]) or url,
        "authors": json.dumps(meta["authors"], ensure_ascii=False),
        "author": "; ".join(meta["authors"]) or None,
        "byline_org": meta["byline_org"],
        "published_at": meta["published"],
        "date_flag": meta["date_flag"],
        "modified_at": meta["modified"],
        "lang": meta["lang"],
        "meta_sources": json.dumps({**meta["sources"], "notes": meta["notes"]}, ensure_ascii=False),
        "feed_entry": json.dumps(feed, ensure_ascii=False),
    }


def build_article(item: dict[str, Any], extracted: dict[str, Any] | None,
                  known_sites: set[str] | None = None) -> dict[str, Any]:
    """Merge page extraction with the feed's fields; see kb.crawl.metadata for the choices."""
    extracted = extracted or {}
    feed_text = html_to_text(item.get("feed_content")) or html_to_text(item.get("feed_summary"))
    text, extraction = choose_text(extracted.get("text") or "", feed_text,
                                   extracted.get("method", "trafilatura"),
                                   item.get("body") is not None)
    page_url = item.get("final_url") or item["url"]
    return {
        "url": item["url"],
        "original_url": item["original_url"],
        "source_id": item["source_id"],
        "guid": item.get("guid"),
        **article_metadata(extracted.get("meta") or {}, feed_hints(item), page_url,
                           item["fetched_at"], text, known_sites),
        "updated_at": _updated(item.get("feed_updated"), item["fetched_at"]),
        "fetched_at": item["fetched_at"],
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
