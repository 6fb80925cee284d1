"""Main text and metadata candidates from an article page, with a fallback that notices loss.

trafilatura with ``favor_precision`` is the first choice: it keeps boilerplate out (F1 0.969 on the
article-extraction benchmark against 0.953 for its defaults, docs/crawling.md). Its text is set
aside when another reading of the page has at least ``LOSS_RATIO`` times as many words:

* the publisher's own body, from structured data (``articleBody``) or, when the precise text is
  under ``SHORT_TEXT_WORDS``, a script's data (Next.js' JSON, a ``window.__STATE__ = {…}``);
* trafilatura's defaults, asked only when the precise text holds under half the words of the
  page's paragraphs, or under ``SHORT_TEXT_WORDS``;
* readability, asked only when the text is still under ``SHORT_TEXT_WORDS``.

The first of these that is long enough wins, in that order. Metadata candidates from every source
the page offers come back under ``meta`` (``kb.crawl.page_metadata``); ``kb.crawl.metadata``
chooses among them with the feed's fields.
"""

from __future__ import annotations

from typing import Any

import lxml.html
import trafilatura
from lxml.etree import ParserError

from kb.core.language import detect_language
from kb.crawl.page_metadata import page_candidates, script_bodies

SHORT_TEXT_WORDS = 200
LOSS_RATIO = 2.0
RECALL_TRIGGER = 0.5


def extract_article(html: bytes | str, url: str | None = None) -> dict[str, Any]:
    """Extract text and metadata candidates; empty strings mean nothing was found."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    if _not_text(html):
        return {"text": "", "method": "none", "meta": {}}
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, favor_precision=True,
        include_tables=True,
    )
    assert not isinstance(doc, dict)  # a Document unless as_dict is asked for
    try:
        tree = lxml.html.document_fromstring(html) if html.strip() else None
    except (ParserError, ValueError):
        tree = None
    meta = page_candidates(html, url, tree) if tree is not None else {}
    text, method = _best_text((doc.text or "") if doc else "", html, url, tree, meta)
    if doc:
        meta.setdefault("title", []).append(("extractor", doc.title or ""))
        meta.setdefault("authors", []).append(("extractor", doc.author or ""))
        meta.setdefault("published", []).append(("extractor", doc.date or ""))
    text = _tidy(text)
    guess = detect_language(text)  # here, in the worker, not in the process that stores
    if guess:
        meta["text_lang"] = [("text", {"lang": guess[0], "prob": guess[1],
                                       "words": len(text.split())})]
    return {
        "text": text,
        "method": method if text.strip() else "none",
        "meta": {k: v for k, v in meta.items() if k != "body"},
    }


def _best_text(precise: str, html: str, url: str | None, tree: Any,
               meta: dict[str, list[tuple[str, Any]]]) -> tuple[str, str]:
    words = len(precise.split())
    floor = LOSS_RATIO * max(1, words)
    publisher = [("json-ld", body) for _, body in meta.get("body", [])]
    if words < SHORT_TEXT_WORDS and tree is not None:
        publisher += [("script-json", body) for body in script_bodies(tree)]
    for method, body in publisher:
        body_text = _html_fragment_text(body)
        if len(body_text.split()) >= floor:
            return body_text, method
    if words < SHORT_TEXT_WORDS or words < RECALL_TRIGGER * _paragraph_words(tree):
        recall = trafilatura.extract(html, url=url, include_comments=False, include_tables=True) or ""
        if len(recall.split()) >= floor:
            return recall, "trafilatura-recall"
    if words < SHORT_TEXT_WORDS:
        fallback = _readability_text(html)
        if len(fallback.split()) >= floor:
            return fallback, "readability"
    return precise, "trafilatura"


def _not_text(html: str) -> bool:
    """Bytes that are no page at all (a PDF or an image served as HTML)."""
    head = html[:4096]
    return "\x00" in head or head.count("\ufffd") > len(head) / 20


def _paragraph_words(tree: Any) -> int:
    if tree is None:
        return 0
    return sum(len((p.text_content() or "").split()) for p in tree.iter("p"))


def _html_fragment_text(body: str) -> str:
    """Plain text of a body that may be HTML (script JSON often is), one paragraph per line."""
    if "<" not in body:
        return body
    try:
        tree = lxml.html.fragment_fromstring(body, create_parent="div")
    except (ParserError, ValueError):
        return body
    for bad in tree.xpath("//script|//style"):
        bad.drop_tree()
    for block in tree.iter("p", "h2", "h3", "li", "br", "div", "blockquote"):
        block.tail = "\n" + (block.tail or "")
    return tree.text_content()


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
