"""`kb sources add URL`: a feed URL as it is, or a site's homepage, whose feeds are found in its
``<link rel="alternate">`` tags."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.html

from kb import __version__
from kb.core.config import is_http_url
from kb.core.errors import KbError
from kb.crawl.feeds import parse_feed
from kb.crawl.netguard import refusal_reason

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/xml", "text/xml")
MAX_BYTES = 10_000_000
TIMEOUT = 20.0


class DiscoveryError(KbError):
    """The URL could not be fetched, or neither is a feed nor names one."""


@dataclass
class FoundFeed:
    url: str
    title: str | None
    homepage: str | None = None


def fetch(url: str, *, allow_private: bool = False) -> tuple[bytes, str | None, str]:
    """The body, content type and final URL of ``url`` (private addresses refused by default)."""
    if not is_http_url(url):
        raise DiscoveryError(f"not an http(s) URL: {url!r}")
    reason = None if allow_private else refusal_reason(url, None)
    if reason:
        raise DiscoveryError(f"refused {url}: {reason} (--allow-private lifts this)")
    request = urllib.request.Request(url, headers={"User-Agent": f"aiwatch/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only
            return (response.read(MAX_BYTES), response.headers.get("Content-Type"),
                    response.geturl())
    except urllib.error.HTTPError as exc:
        raise DiscoveryError(f"cannot fetch {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason_text = getattr(exc, "reason", None) or exc
        raise DiscoveryError(f"cannot fetch {url}: {reason_text}") from None


def discover(url: str, *, allow_private: bool = False) -> list[FoundFeed]:
    """The feed at ``url``, or the feeds a page at ``url`` links to (each fetched for its title)."""
    body, content_type, final = fetch(url, allow_private=allow_private)
    parsed = parse_feed(body, final, content_type=content_type)
    if parsed.is_feed and not parsed.error:
        return [FoundFeed(url, parsed.title)]
    links = feed_links(body, final)
    if not links:
        raise DiscoveryError(f"{url} is no feed and links to none (no <link rel=\"alternate\"> "
                             "with a feed type): give the feed's own URL")
    found = []
    for link, title in links:
        try:
            feed_body, feed_type, feed_final = fetch(link, allow_private=allow_private)
        except DiscoveryError:
            continue
        feed = parse_feed(feed_body, feed_final, content_type=feed_type)
        if feed.is_feed and not feed.error:
            found.append(FoundFeed(link, feed.title or title, homepage=final))
    if not found:
        raise DiscoveryError(f"{url} links to feeds, but none could be read: "
                             + ", ".join(link for link, _ in links))
    return found


def feed_links(html: bytes, base: str) -> list[tuple[str, str | None]]:
    """The feeds an HTML page announces, in page order: (absolute URL, its title attribute)."""
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    links: list[tuple[str, str | None]] = []
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rels and kind in FEED_TYPES and href:
            absolute = urljoin(base, href)
            if is_http_url(absolute) and absolute not in [u for u, _ in links]:
                links.append((absolute, link.get("title")))
    return links
