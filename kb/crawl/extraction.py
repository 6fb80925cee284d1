"""Main-text and metadata extraction from an article page, with a fallback chain.

trafilatura with ``favor_precision`` is the first choice; when it returns a short text, readability
is asked too and wins if it found at least twice as many words. Measured on the article-extraction
benchmark (docs/crawling.md): F1 0.969 against 0.953 for trafilatura's defaults.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.html
import trafilatura
from lxml.etree import ParserError

SHORT_TEXT_WORDS = 200
HTML_LANG = re.compile(rb"<html[^>]*?\slang=[\"']?([A-Za-z]{2,3})", re.IGNORECASE)


def extract_article(html: bytes | str, url: str | None = None) -> dict[str, Any]:
    """Extract text, title, author, date and language; empty strings mean nothing was found."""
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, favor_precision=True,
        include_tables=True,
    )
    assert not isinstance(doc, dict)  # a Document unless as_dict is asked for
    text = (doc.text or "") if doc else ""
    method = "trafilatura"
    if len(text.split()) < SHORT_TEXT_WORDS:
        fallback = _readability_text(html)
        if len(fallback.split()) >= 2 * max(1, len(text.split())):
            text, method = fallback, "readability"
    raw = html.encode("utf-8", "replace") if isinstance(html, str) else html
    match = HTML_LANG.search(raw[:4096])
    return {
        "text": _tidy(text),
        "title": (doc.title if doc else None) or None,
        "author": (doc.author if doc else None) or None,
        "date": (doc.date if doc else None) or None,
        "lang": match.group(1).decode().lower() if match else None,
        "method": method if text.strip() else "none",
    }


def _readability_text(html: bytes | str) -> str:
    from readability import Document  # imported on demand: only short pages need it

    try:
        summary = Document(html).summary(html_partial=True)
        if not summary.strip():
            return ""
        tree = lxml.html.fromstring(summary)
    except (ParserError, ValueError, TypeError):
        return ""
    for block in tree.iter("p", "h1", "h2", "h3", "h4", "li", "br", "div", "blockquote"):
        block.tail = "\n" + (block.tail or "")
    return tree.text_content()


def _tidy(text: str) -> str:
    """One paragraph per line in, paragraphs separated by a blank line out."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)
