"""Metadata candidates from everything a page offers: structured data, meta tags, the visible page.

``page_candidates`` reads one page (JSON-LD and microdata through extruct, Open Graph and other
``<meta>`` tags, ``<title>``, the visible ``<h1>``s, ``<html lang>``, a date in the URL) and returns
plain lists of ``(source, value)`` per field, cheap to send between processes. Choosing among them,
with the feed's fields, is ``kb.crawl.metadata.reconcile``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import lxml.html

ARTICLE_TYPES = {
    "Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle", "AnalysisNewsArticle",
    "OpinionNewsArticle", "BackgroundNewsArticle", "ReviewNewsArticle", "LiveBlogPosting",
    "TechArticle", "Report", "ScholarlyArticle", "SocialMediaPosting", "AskPublicAction",
}
PAGE_TYPES = {"WebPage", "ItemPage"}
META_TITLE = {"og:title": "og:title", "twitter:title": "twitter:title"}
META_AUTHOR = ("author", "article:author", "byl", "parsely-author", "sailthru.author", "dc.creator",
               "dcterms.creator", "citation_author")
META_PUBLISHED = ("article:published_time", "og:published_time", "og:article:published_time",
                  "datepublished", "pubdate", "publishdate", "publish-date", "publish_date",
                  "date", "dc.date", "dc.date.issued", "dcterms.date", "dcterms.created",
                  "sailthru.date", "parsely-pub-date", "article.published", "citation_date",
                  "citation_publication_date", "originalpublicationdate")
META_MODIFIED = ("article:modified_time", "og:updated_time", "datemodified", "dcterms.modified",
                 "last-modified", "article.updated")
META_SITE = ("og:site_name", "application-name", "apple-mobile-web-app-title", "twitter:site")
META_LANG = ("content-language", "dc.language", "og:locale", "language")
# Parts of the page that never hold the article's headline.
NOT_HEADLINE = re.compile(r"nav|menu|footer|sidebar|related|promo|teaser|widget|logo|masthead|"
                          r"brand|comment|newsletter|modal|cookie", re.IGNORECASE)
HEADLINE_HINT = re.compile(r"headline|title|heading|entry|article|story|post", re.IGNORECASE)
URL_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?!\d)")
MAX_SCRIPT_BYTES = 5_000_000
MAX_BODY_DEPTH = 25
BODY_KEYS = {"articlebody", "body", "content", "text", "html", "bodyhtml", "contenthtml"}
MIN_SCRIPT_BODY_WORDS = 80

Candidates = dict[str, list[tuple[str, Any]]]


def page_candidates(html: str, url: str | None, tree: Any | None = None) -> Candidates:
    """Every value the page states for title, authors, dates, language, site name and body."""
    found: Candidates = {k: [] for k in ("title", "h1", "authors", "published", "modified", "lang",
                                          "site", "body", "notes")}
    try:
        tree = tree if tree is not None else lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        found["notes"].append(("page", "the HTML could not be parsed"))
        return found
    identities = _identities(tree, url)
    found["site"].extend(("host", urlsplit(i).hostname or "") for i in identities)
    _structured(tree, identities, found)
    _meta_tags(tree, found)
    _visible(tree, found)
    _visible_dates(tree, found)
    for identity in identities:
        match = URL_DATE.search(urlsplit(identity).path)
        if match:
            found["published"].append(("url", "-".join(match.groups())))
            break
    return found


def _identities(tree: Any, url: str | None) -> list[str]:
    """The URLs this page goes by: where it was fetched, its canonical link and its og:url."""
    names = [url] if url else []
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            names.append(link.get("href").strip())
    for meta in tree.iter("meta"):
        if (meta.get("property") or "").lower() == "og:url" and meta.get("content"):
            names.append(meta.get("content").strip())
    return names


def _structured(tree: Any, identities: list[str], found: Candidates) -> None:
    import extruct

    try:
        data = extruct.extract(tree, base_url=identities[0] if identities else None,
                               syntaxes=["json-ld", "microdata"], uniform=True, errors="ignore")
    except Exception as exc:  # noqa: BLE001 - broken markup of any kind: fall back to other sources
        found["notes"].append(("json-ld", f"structured data could not be read: {type(exc).__name__}"))
        return
    for syntax in ("json-ld", "microdata"):
        for obj in _flatten(data.get(syntax) or []):
            types = _types(obj)
            if not types & (ARTICLE_TYPES | PAGE_TYPES):
                if types & {"Organization", "NewsMediaOrganization", "WebSite"} and obj.get("name"):
                    found["site"].append((syntax, _text(obj.get("name"))))
                continue
            claimed = _claimed_url(obj)
            if claimed and _another_page(claimed, identities):
                what = "a section of the site" if _ancestor(claimed, identities) else "another URL"
                found["notes"].append((syntax, f"describes {what} ({claimed[:120]})"))
                continue
            _article_object(obj, syntax if types & ARTICLE_TYPES else f"{syntax} page", found)


def _article_object(obj: dict[str, Any], source: str, found: Candidates) -> None:
    keys = ("headline",) if source.endswith("page") else ("headline", "name", "alternativeHeadline")
    for key in keys:
        if isinstance(obj.get(key), str):
            found["title"].append((f"{source} {key}", obj[key]))
            break
    for person in _as_list(obj.get("author")) + _as_list(obj.get("creator")):
        if isinstance(person, dict):
            kind = "org" if _types(person) & {"Organization", "NewsMediaOrganization"} else "person"
            found["authors"].append((f"{source} {kind}", _text(person.get("name"))))
        elif isinstance(person, str):
            found["authors"].append((f"{source} text", person))
    for key, field in (("datePublished", "published"), ("dateCreated", "published"),
                       ("dateModified", "modified")):
        for value in _as_list(obj.get(key))[:1]:
            found[field].append((f"{source} {key}", _text(value)))
    if obj.get("inLanguage"):
        found["lang"].append((source, _text(obj.get("inLanguage"))))
    publisher = next(iter(_as_list(obj.get("publisher"))), None)
    if isinstance(publisher, dict) and publisher.get("name"):
        found["site"].append((f"{source} publisher", _text(publisher["name"])))
    if isinstance(obj.get("articleBody"), str):
        found["body"].append((f"{source} articleBody", obj["articleBody"]))


def _meta_tags(tree: Any, found: Candidates) -> None:
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop")
               or meta.get("http-equiv") or "").strip().lower()
        value = (meta.get("content") or "").strip()
        if not key or not value:
            continue
        if key in META_TITLE:
            found["title"].append((META_TITLE[key], value))
        elif key in META_AUTHOR and not value.startswith(("http://", "https://", "/")):
            found["authors"].append((f"meta {key}", value))
        elif key in META_PUBLISHED:
            found["published"].append((f"meta {key}", value))
        elif key in META_MODIFIED:
            found["modified"].append((f"meta {key}", value))
        elif key in META_SITE:
            found["site"].append((f"meta {key}", value.lstrip("@")))
        elif key in META_LANG:
            found["lang"].append((f"meta {key}", value))
    lang = tree.get("lang") or tree.get("xml:lang")
    if lang:
        found["lang"].insert(0, ("html lang", lang))
    title = tree.find(".//title")
    if title is not None and title.text_content().strip():
        found["title"].append(("<title>", title.text_content()))


def _visible(tree: Any, found: Candidates) -> None:
    """The page's visible headlines: ``<h1>``s outside navigation, with a hint of where they sit."""
    for h1 in tree.iter("h1"):
        text = " ".join(_visible_text(h1).split())
        if not text or _in_chrome(h1):
            continue
        place = "article" if _in_article(h1) else "page"
        found["h1"].append((place, text))
    for time_el in tree.iter("time"):
        value = time_el.get("datetime")
        if value and (time_el.get("pubdate") is not None or time_el.get("itemprop") == "datePublished"
                      or _in_article(time_el)):
            found["published"].append(("<time>", value))
            break


def _visible_text(element: Any) -> str:
    """An element's text without what scripts, styles and templates hold."""
    parts = []
    for node in element.iter():
        if node.tag not in ("script", "style", "noscript", "template") and node.text and (
                node is element or node.getparent().tag not in ("script", "style")):
            parts.append(node.text)
        if node is not element and node.tail:
            parts.append(node.tail)
    return " ".join(parts)


DATE_HOLDER = re.compile(r"date|time|byline|meta|posted|publish|dateline|timestamp|datum", re.I)
NOT_PUBLISHED = re.compile(r"updated|aktualisiert|mis à jour|modifi|geändert|edited", re.I)
MONTHS = {name: i % 12 + 1 for i, name in enumerate(
    "january february march april may june july august september october november december "
    "jan feb mar apr may jun jul aug sep oct nov dec "
    "januar februar märz april mai juni juli august september oktober november dezember "
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split())}
MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
TEXT_DATES = (
    (re.compile(rf"\b({MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? ((?:19|20)\d\d)\b", re.I), (3, 1, 2)),
    (re.compile(rf"\b(\d{{1,2}})(?:\.|er)? ({MONTH})\.? ((?:19|20)\d\d)\b", re.I), (3, 2, 1)),
    (re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b"), (1, 2, 3)),
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)\b"), (3, 2, 1)),
)
MAX_DATE_TEXT = 160


def visible_day(text: str) -> str | None:
    """The first date written out in a short text ('Nov. 18, 2019 7:04 pm ET'), as YYYY-MM-DD."""
    for pattern, (y, m, d) in TEXT_DATES:
        match = pattern.search(text)
        if match:
            month = match.group(m)
            month_no = int(month) if month.isdigit() else MONTHS.get(month.casefold().rstrip("."))
            try:
                return date(int(match.group(y)), month_no or 0, int(match.group(d))).isoformat()
            except ValueError:
                continue
    return None


def _visible_dates(tree: Any, found: Candidates) -> None:
    """The publication day as the page prints it, from a short date or byline element: the first
    inside the article, else the first outside navigation. Text from "Updated" on is ignored."""
    fallback = None
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("script", "style", "head", "meta"):
            continue
        marks = f"{element.get('class') or ''} {element.get('id') or ''}"
        if element.tag != "time" and not DATE_HOLDER.search(marks):
            continue
        text = " ".join(_visible_text(element).split())
        if len(text) > MAX_DATE_TEXT:
            continue
        text = NOT_PUBLISHED.split(text, maxsplit=1)[0]
        day = visible_day(text) if text else None
        if not day or _in_chrome(element):
            continue
        if _in_article(element):
            found["published"].append(("visible", day))
            return
        fallback = fallback or day
    if fallback:
        found["published"].append(("visible", fallback))


def _in_chrome(element: Any) -> bool:
    for node in element.iterancestors():
        if node.tag in ("nav", "footer", "aside"):
            return True
        marks = f"{node.get('class') or ''} {node.get('id') or ''}"
        if node.tag != "body" and NOT_HEADLINE.search(marks) and not HEADLINE_HINT.search(marks):
            return True
    return False


def _in_article(element: Any) -> bool:
    for node in [element, *element.iterancestors()]:
        if node.tag in ("article", "main") or node.get("itemprop") == "headline":
            return True
        if HEADLINE_HINT.search(f"{node.get('class') or ''} {node.get('id') or ''}"):
            return True
    return False


SCRIPT_STATE = re.compile(r"^[\s\w.$\[\]'\"]*=\s*(\{.*\})\s*;?\s*$", re.DOTALL)


def script_bodies(tree: Any) -> list[str]:
    """Article text that lives only in a script's data: JSON scripts (Next.js' ``__NEXT_DATA__``)
    and ``window.__STATE__ = {…}`` assignments; the longest text field of each, 80 words or more.
    Asked only when the page's visible text is short."""
    bodies = []
    for script in tree.iter("script"):
        kind = (script.get("type") or "").lower()
        raw = script.text or ""
        if "ld+json" in kind or len(raw) > MAX_SCRIPT_BYTES or len(raw) < 400:
            continue
        if kind != "application/json" and script.get("id") != "__NEXT_DATA__":
            match = SCRIPT_STATE.match(raw)
            if not match:
                continue
            raw = match.group(1)
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        best = max(_long_strings(data, 0), key=lambda s: len(s.split()), default="")
        if len(best.split()) >= MIN_SCRIPT_BODY_WORDS:
            bodies.append(best)
    return sorted(bodies, key=lambda b: len(b.split()), reverse=True)


def _long_strings(data: Any, depth: int) -> Iterator[str]:
    if depth > MAX_BODY_DEPTH:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and key.lower() in BODY_KEYS and len(value) > 400:
                yield value
            elif isinstance(value, dict | list):
                yield from _long_strings(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from _long_strings(value, depth + 1)


def _flatten(objects: list[Any]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if isinstance(obj, list):
            yield from _flatten(obj)
        elif isinstance(obj, dict):
            yield obj
            if isinstance(obj.get("@graph"), list):
                yield from _flatten(obj["@graph"])


def _types(obj: dict[str, Any]) -> set[str]:
    return {str(t).rsplit("/", 1)[-1] for t in _as_list(obj.get("@type"))}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or value.get("@id") or ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def _claimed_url(obj: dict[str, Any]) -> str | None:
    for key in ("url", "mainEntityOfPage"):
        value = _text(obj.get(key))
        if value.startswith(("http://", "https://")):
            return value
    return None


def _ancestor(claimed: str, identities: list[str]) -> bool:
    """Whether the claimed URL is a folder above this page (a section or breadcrumb)."""
    path = urlsplit(claimed).path.rstrip("/") + "/"
    return any(urlsplit(i).path.startswith(path) for i in identities)


def _another_page(claimed: str, identities: list[str]) -> bool:
    """Whether structured data describes another page of the same site (a related article).

    A claim on another host is taken as syndication and accepted; a claim of the site's home page
    is a template's default and accepted too.
    """
    a = urlsplit(claimed)
    host, path = (a.hostname or "").removeprefix("www."), a.path.rstrip("/")
    if not path:
        return False
    same_site = False
    for identity in identities:
        b = urlsplit(identity)
        if (b.hostname or "").removeprefix("www.") == host:
            same_site = True
            if b.path.rstrip("/") == path:
                return False
    return same_site
