"""OPML 2.0, the format feed readers exchange subscriptions in: read with the standard library's
XML parser (expat refuses entity expansion bombs), written with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime

from kb.core.config import Source, is_http_url
from kb.core.errors import KbError
from kb.crawl.sources import adhoc_source

MAX_BYTES = 5_000_000


class OpmlError(KbError):
    """The file is no OPML that lists feeds."""

    exit_code = 2


def read_opml(data: bytes) -> list[Source]:
    """The feeds an OPML file subscribes to (``outline`` elements with an ``xmlUrl``, at any depth),
    each a source named by its outline's title or text."""
    if len(data) > MAX_BYTES:
        raise OpmlError(f"the OPML file is over {MAX_BYTES // 1_000_000} MB")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not an OPML file: {exc}") from None
    if root.tag != "opml" or root.find("body") is None:
        raise OpmlError("not an OPML file: no <opml><body>")
    sources, seen = [], set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url or url in seen:
            continue
        if not is_http_url(url):
            raise OpmlError(f"not an http(s) feed URL in the OPML file: {url!r}")
        seen.add(url)
        name = (outline.get("title") or outline.get("text") or "").strip() or None
        source = adhoc_source(url, name=" ".join(name.split())[:120] if name else None)
        source.homepage = (outline.get("htmlUrl") or "").strip() or None
        sources.append(source)
    if not sources:
        raise OpmlError("the OPML file lists no feed (no outline with an xmlUrl)")
    return sources


def write_opml(sources: Iterable[Source], *, title: str = "aiwatch sources") -> str:
    """An OPML 2.0 document with one ``rss`` outline per source."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = ET.SubElement(root, "body")
    for s in sources:
        attrs = {"type": "rss", "text": s.name, "title": s.name, "xmlUrl": s.feed_url}
        if s.homepage:
            attrs["htmlUrl"] = s.homepage
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
