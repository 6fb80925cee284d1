"""Choosing an article's title, authors, dates and language among the page's and the feed's values.

Each field is chosen by agreement and reliability, and the source of the chosen value is recorded:

* **title**: the visible ``<h1>`` when a stated headline (the feed, structured data, Open Graph,
  ``<title>``) agrees with it; else the one ``<h1>`` inside the article when the feed gave no
  title; else the stated headline most sources agree on (the feed's first on a tie). Site names
  are cut from either end, never from inside the headline (``strip_site_name``).
* **authors**: people only, from the first source that names any (structured data's persons, then
  author meta tags, then the extractor's byline, then the feed); organisations become
  ``byline_org``.
* **published**: structured data first, checked against the URL's date and the feed's; see
  ``choose_date``.
* **lang**: the declared language, unless the text clearly says otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from kb.core.clock import to_iso
from kb.core.language import detect_language

MAX_TITLE_CHARS = 400
MAX_AUTHORS = 20
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
URL_DATE_TOLERANCE = timedelta(days=2)
FEED_BEFORE_PAGE = timedelta(days=365)
TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|·|•|»|::|/|~)\s+")
DATE_SEGMENT = re.compile(r"^[\d\s./:-]+$|^\w+\.? \d{1,2},? \d{4}$|^\d{1,2}\.? \w+\.? \d{4}$")
BYLINE_PREFIX = re.compile(
    r"^\s*(?:(?:written|posted|reported|text|story|words|photos?)\s+)?"
    r"(?:by|von|par|por|di|door|av|af|de|przez|от|автор|بقلم|מאת)\s*:?\s+"
    r"|^\s*(?:author|autor|auteur|autore|text|texte|texto|testo|текст|автор|redakteur)\s*:\s*",
    re.IGNORECASE)
DATE_WORDS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
              "january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december", "montag", "dienstag", "mittwoch",
              "donnerstag", "freitag", "samstag", "sonntag", "lundi", "mardi", "mercredi", "jeudi",
              "vendredi", "samedi", "dimanche", "updated", "published", "posted", "on", "am", "le"}
NAME_THEN_ORG = re.compile(r"(?<=[^\W\d_]{2})\.\s+")
AUTHOR_SPLIT = re.compile(r"\s*(?:;|\||/|,|&|\band\b|\bund\b|\bet\b|\by\b|\be\b|\bwith\b|\bavec\b|\bmit\b"
                          r"|(?<=[^\W\d_]{2})\.\s+)\s*")
ROLE_WORDS = {"reporter", "correspondent", "editor", "writer", "columnist", "contributor",
              "journalist", "photographer", "senior", "staff writer", "producer", "analyst",
              "redakteur", "redakteurin", "rédacteur", "rédactrice", "autor", "autorin",
              "journaliste", "korrespondent", "korrespondentin", "freelance", "freelancer"}
ORG_WORDS = {
    "staff", "redaktion", "rédaction", "redaccion", "redacción", "redazione", "newsroom",
    "editorial", "editors", "team", "desk", "agency", "agencies", "news", "press", "media",
    "reuters", "afp", "ap", "dpa", "apa", "ansa", "efe", "pti", "ians", "bloomberg", "associated",
    "agence", "online", "digital", "group", "gmbh", "ltd", "inc", "llc", "bureau", "service",
    "services", "wire", "tv", "radio", "zeitung", "times", "post", "journal", "daily", "magazine",
    "network", "admin", "administrator", "webmaster", "guest", "contributors", "company", "cnn",
    "bbc", "nbc", "cbs", "abc", "npr", "dw", "br", "wdr", "ndr", "zdf", "ard", "sda", "kna", "epd",
    "xinhua", "tass", "yonhap", "kyodo", "anp", "belga", "ctk", "pap", "tt", "ntb", "notimex",
    "sapa", "agencia", "agenzia", "nachrichten", "presse", "institute", "university", "club",
    "council", "ministry", "office", "foundation", "association", "society", "center", "centre",
    "international", "global", "worldwide", "insider", "weekly", "tribune", "herald", "gazette",
    "courier", "chronicle", "observer", "studios", "ventures", "partners", "capital", "labs",
}
ARTICLE_WORDS = {"the", "le", "la", "les", "der", "die", "das", "el", "il", "lo"}
RSS_AUTHOR = re.compile(r"^\s*\S+@\S+\s*\(([^)]+)\)\s*$")
GENERIC_ORG = {"staff", "team", "desk", "redaktion", "newsroom", "editors", "editorial", "reporters",
               "rédaction", "redazione", "redacción"}
NAME_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "del", "della", "le", "la",
                  "bin", "al", "el", "ibn", "ter", "ten", "dos", "das", "y", "zu", "st."}
NON_LATIN_NAME = re.compile(r"^[^\W\d_A-Za-z]{2,12}$")  # Chinese, Korean… names without spaces
QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
                        "\u00a0": " ", "–": "-", "—": "-", "‐": "-", "…": "..."})
TITLE_SOURCE_ORDER = ("feed", "json-ld", "microdata", "og:title", "twitter:title", "<title>",
                      "extractor")


def reconcile(found: dict[str, list[tuple[str, Any]]], feed: dict[str, Any], url: str,
              fetched_at: str, text: str = "", known_sites: set[str] | None = None) -> dict[str, Any]:
    """The chosen metadata with ``sources`` (field → where it came from) and ``notes`` (why not).

    ``known_sites`` adds squashed site names learnt elsewhere (``RepeatedTitleEnds``).
    """
    notes = [f"{source}: {why}" for source, why in found.get("notes", [])]
    if any("another URL" in why for _, why in found.get("notes", [])):
        # the extractor reads structured data too, including what was set aside as another page's
        found = {k: [(s, v) for s, v in values if s != "extractor"] for k, values in found.items()}
    sites = site_names(found.get("site", []), feed.get("channel_title"), url) | (known_sites or set())
    title, title_source = choose_title(found, feed.get("title"), sites, notes)
    authors, org, author_source = choose_authors(found.get("authors", []), feed.get("author"),
                                                 sites, notes)
    fetched = parse_date(fetched_at) or datetime.now(UTC)
    published, published_source, flag = choose_date(found.get("published", []),
                                                    feed.get("published"), fetched, notes)
    modified = _modified(found.get("modified", []), feed.get("updated"), published, fetched)
    lang, lang_source = choose_language(found.get("lang", []), text, feed.get("lang"),
                                        _known_guess(found, text))
    return {
        "title": title, "authors": authors, "byline_org": org, "published": published,
        "date_flag": flag, "modified": modified, "lang": lang,
        "sources": {"title": title_source, "authors": author_source,
                    "published": published_source, "lang": lang_source},
        "notes": notes[:20],
    }


# --- titles -------------------------------------------------------------------------------------

def site_names(stated: list[tuple[str, Any]], channel_title: str | None, url: str) -> set[str]:
    """Squashed names the site goes by: its stated names, the feed's title and the host's labels."""
    names = {squash(str(v)) for s, v in stated if v and s != "host"}
    for host in [str(v) for s, v in stated if s == "host"] + [urlsplit(url).hostname or ""]:
        labels = [p for p in host.removeprefix("www.").split(".") if len(p) > 1 and not p.isdigit()]
        names.update(labels[:-1] or labels)
        names.add(squash(host.removeprefix("www.")))
    if channel_title:
        names.add(squash(channel_title))
        names.update(squash(p) for p in TITLE_SEPARATORS.split(channel_title))
    return {n for n in names if n}


class RepeatedTitleEnds:
    """The first and last title segments a source repeats across pages: its name, or a section,
    where the page states neither (an outlet without og:site_name). A segment counts once it ends
    the titles of ``min_pages`` different pages of the source."""

    def __init__(self, min_pages: int = 3) -> None:
        self.min_pages = min_pages
        self.seen: dict[str, dict[str, set[str]]] = {}

    def learn(self, source_id: str, found: dict[str, list[tuple[str, Any]]]) -> None:
        ends = self.seen.setdefault(source_id, {})
        for source, value in found.get("title", []):
            if source not in ("<title>", "og:title", "twitter:title") or not value:
                continue
            parts = TITLE_SEPARATORS.split(" ".join(str(value).split()))
            if len(parts) > 1:
                for end in {squash(parts[0]), squash(parts[-1])} - {""}:
                    if len(ends) < 10_000 or end in ends:
                        ends.setdefault(end, set()).add(squash(str(value))[:200])

    def names(self, source_id: str) -> set[str]:
        ends = self.seen.get(source_id, {})
        return {end for end, titles in ends.items() if len(titles) >= self.min_pages}


def squash(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", value).casefold() if c.isalnum())


LEADING_ARTICLE = re.compile(r"^(?:the|le|la|les|l'|die|der|das|el|il|de)\s+", re.IGNORECASE)


def is_site_name(segment: str, sites: set[str]) -> bool:
    """Whether a title segment names the site: equal to one of its names (a leading "The" aside),
    or a short segment starting with one ("BBC News" on bbc.co.uk), or most of one."""
    keys = {squash(segment), squash(LEADING_ARTICLE.sub("", segment.strip()))} - {""}
    if not keys:
        return True
    if keys & sites:
        return True
    if len(segment.split()) > 4:
        return False
    return any(len(s) >= 3 and (key.startswith(s) or s.startswith(key) and len(key) >= 0.6 * len(s))
               for s in sites for key in keys)


def strip_site_name(title: str, sites: set[str]) -> str:
    """The headline without site names or dates at either end; the middle is never touched."""
    parts = TITLE_SEPARATORS.split(title)
    while len(parts) > 1 and (is_site_name(parts[-1], sites) or DATE_SEGMENT.match(parts[-1].strip())):
        parts.pop()
    while len(parts) > 1 and (is_site_name(parts[0], sites) or DATE_SEGMENT.match(parts[0].strip())):
        parts.pop(0)
    if len(parts) == len(TITLE_SEPARATORS.split(title)):
        return title.strip()
    # keep the original separators inside what is left
    start = title.find(parts[0])
    end = title.rfind(parts[-1]) + len(parts[-1])
    return title[start:end].strip() if start >= 0 and end > start else " - ".join(parts)


def norm_title(value: str) -> str:
    return " ".join(value.translate(QUOTES).casefold().split()).strip(" .:;!?")


def _agree(a: str, b: str) -> bool:
    """Same headline: equal once normalised, or one is the other with a site name still on it."""
    na, nb = norm_title(a), norm_title(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    short, long_ = sorted((na, nb), key=len)
    return len(short) >= 12 and (long_.startswith(short) or long_.endswith(short))


def _source_rank(source: str) -> int:
    for rank, prefix in enumerate(TITLE_SOURCE_ORDER):
        if source.startswith(prefix):
            return rank
    return len(TITLE_SOURCE_ORDER)


def choose_title(found: dict[str, list[tuple[str, Any]]], feed_title: str | None, sites: set[str],
                 notes: list[str]) -> tuple[str | None, str | None]:
    stated: list[tuple[str, str]] = []
    for source, value in [*found.get("title", []), ("feed", feed_title)]:
        value = " ".join(str(value or "").split())
        if not value:
            continue
        if len(value) > MAX_TITLE_CHARS:
            notes.append(f"{source}: a title of {len(value)} characters was passed over")
            continue
        stated.append((source, strip_site_name(value, sites)))
    h1s = [(place, v) for place, v in found.get("h1", [])
           if 0 < len(v) <= MAX_TITLE_CHARS and not is_site_name(v, sites)]
    confirming = [(s, v) for s, v in stated if s != "extractor"]  # the extractor reads the h1 too
    # 1. a visible headline that a stated one confirms
    for _, h1 in sorted(h1s, key=lambda p: p[0] != "article"):
        backers = [s for s, v in confirming if _agree(h1, v)]
        if backers:
            return h1, f"h1+{min(backers, key=_source_rank)}"
    # 2. the one visible headline inside the article, when it reads as a headline and no feed
    #    gave a title (a feed's title is what its subscribers see)
    inside = [v for place, v in h1s if place == "article" and len(v.split()) >= 3]
    if len(inside) == 1 and not feed_title:
        return inside[0], "h1"
    # 3. the stated headline with most support, by source reliability on ties, in full
    if stated:
        support = {v: sum(_agree(v, w) for _, w in stated) for _, v in stated}
        source, value = min(stated, key=lambda sv: (-support[sv[1]], _source_rank(sv[0])))
        return _untruncated(value, [v for _, v in stated]), source
    if h1s:
        return h1s[0][1], "h1"
    return None, None


def _untruncated(value: str, others: list[str]) -> str:
    """The full headline when another source states it in full and this one was cut short."""
    stem = norm_title(value).removesuffix("...").strip()
    for other in others:
        extra = norm_title(other)[len(stem):]
        if (len(other) > len(value) and norm_title(other).startswith(stem)
                and not TITLE_SEPARATORS.match(extra) and extra[:1] in (" ", "")):
            return other
    return value


# --- authors ------------------------------------------------------------------------------------

def choose_authors(stated: list[tuple[str, Any]], feed_author: str | None,
                   sites: set[str], notes: list[str]) -> tuple[list[str], str | None, str | None]:
    """People named as authors, an organisation byline, and where the people came from.

    The first kind of source that names a person is taken: structured data, meta tags, the
    extractor's byline, the feed. (Adding the people of a second source that shares a name with
    the first cost more precision than it gained recall on the benchmark's pages.)
    """
    groups: dict[str, list[str]] = {}
    org: str | None = None
    for source, value in [*stated, ("feed", feed_author)]:
        if not value:
            continue
        kind = _author_source_kind(source)
        people, orgs = split_byline(str(value), sites, typed_org=source.endswith(" org"),
                                    single_names=kind in ("structured", "meta"))
        if orgs and org is None:
            org = orgs[0]
        known = groups.setdefault(kind, [])
        known.extend(p for p in people if p not in known)
    kinds = [k for k in ("structured", "meta", "extractor", "feed") if groups.get(k)]
    if not kinds:
        return [], org, None
    people = list(groups[kinds[0]])
    if len(people) > MAX_AUTHORS:
        notes.append(f"{kinds[0]}: {len(people)} authors named, the first {MAX_AUTHORS} kept")
    return people[:MAX_AUTHORS], org, kinds[0]


def _author_source_kind(source: str) -> str:
    if source.startswith(("json-ld", "microdata")):
        return "structured"
    if source.startswith("meta"):
        return "meta"
    return "extractor" if source == "extractor" else "feed"


def split_byline(value: str, sites: set[str], *, typed_org: bool = False,
                 single_names: bool = False) -> tuple[list[str], list[str]]:
    """A byline's people and organisations: 'By Jane Doe and John Roe, Reuters' → people + org."""
    value = RSS_AUTHOR.sub(r"\1", value)  # RSS 2.0's "jane@example.org (Jane Doe)"
    value = re.sub(r"\S+@\S+|https?://\S+|@\w+|\([^)]*\)", " ", value)
    value = " ".join(value.split())
    if typed_org:
        return [], [value] if value else []
    people: list[str] = []
    orgs: list[str] = []
    for part in AUTHOR_SPLIT.split(BYLINE_PREFIX.sub("", value)):
        part = _drop_role(BYLINE_PREFIX.sub("", part).strip(" .,:;-–—"))
        if not part or ":" in part:  # 'Topic: Hardware' is a label, not a name
            continue
        person, org = _person_and_org(part, sites, single_names)
        if org:
            orgs.append(org)
        if person and person not in people:
            people.append(person)
    return people, orgs


def _person_and_org(part: str, sites: set[str], single_names: bool) -> tuple[str | None, str | None]:
    """'ERIC TUCKER Associated Press' → ('Eric Tucker', 'Associated Press')."""
    if is_person(part, single_names) and not is_organisation(part, sites):
        return _tidy_case(part), None
    words = part.split()
    if words[-1].casefold() in GENERIC_ORG:  # 'Science X staff' is the outlet's staff
        return None, part
    for cut in range(len(words) - 1, 1, -1):
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        if is_person(head) and not is_organisation(head, sites) and is_organisation(tail, sites):
            return _tidy_case(head), tail
    return None, part if is_organisation(part, sites) else None


def _drop_role(part: str) -> str:
    """Without job titles and a trailing date ('Jeff Foust Monday', 'Jane Doe Senior Reporter');
    a part that is only a job title ('Senior Reporter') is nothing."""
    words = part.split()
    if words and all(w.casefold().strip(",.") in ROLE_WORDS for w in words):
        return ""
    while len(words) > 2 and (words[-1].casefold().strip(",.") in ROLE_WORDS | DATE_WORDS
                              or words[-1][:1].isdigit()):
        words.pop()
    while len(words) > 2 and words[0].casefold().strip(",.") in ROLE_WORDS:
        words.pop(0)
    return " ".join(words)


def is_organisation(part: str, sites: set[str]) -> bool:
    words = {w.casefold().strip(".,") for w in part.split()}
    return bool(words & ORG_WORDS) or squash(part) in sites or is_site_name(part, sites) and (
        len(part.split()) == 1)


def is_person(part: str, single_names: bool = False) -> bool:
    """Two to five capitalised words (particles aside), or one name in a script without case.

    A single capitalised word ('Regan') counts only where the source says it names an author.
    """
    if any(c.isdigit() for c in part) or len(part) > 60:
        return False
    words = part.split()
    if words[0].casefold() in ARTICLE_WORDS:  # 'The Water Coolest' is a title, not a name
        return False
    if not part.isupper() and any(len(w) >= 2 and w.isalpha() and w.isupper() for w in words):
        return False  # an acronym inside a mixed-case name: 'NJ Advance', 'CNN Business'
    if len(words) == 1:
        return (bool(NON_LATIN_NAME.match(part)) and all(_uncased(c) for c in part)) or (
            single_names and len(part) >= 3 and part[0].isupper() and not part.isupper()
            and part.isalpha())
    if len(words) > 5:
        return False
    return all(w[0].isupper() or _uncased(w[0]) or w.casefold() in NAME_PARTICLES
               or not w[0].isalpha() for w in words)


def _uncased(char: str) -> bool:
    """A letter of a script without capitals (Arabic, Hebrew, Devanagari, Chinese, Korean…)."""
    return char.isalpha() and char.lower() == char.upper()


def _tidy_case(name: str) -> str:
    """Names printed in capitals become 'Jane Doe'; mixed case is kept as written."""
    if name.isupper() and any(c.isalpha() for c in name):
        return " ".join("-".join(p.capitalize() for p in w.split("-"))
                        if w.casefold() not in NAME_PARTICLES else w.lower() for w in name.split())
    return name


# --- dates --------------------------------------------------------------------------------------

def parse_date(value: Any) -> datetime | None:
    dt = _parse_naive(value)
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_naive(value: Any) -> datetime | None:
    """A date as stated: aware when the text gives a zone, naive when it does not."""
    if not value:
        return None
    value = str(value).strip()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    import warnings

    from dateutil import parser

    try:
        with warnings.catch_warnings():  # "EST" and the like: the clock time is still right
            warnings.simplefilter("ignore")
            dayfirst = bool(re.match(r"\d{1,2}\.\d{1,2}\.\d{2,4}", value))  # 05.11.2019: 5 November
            first = parser.parse(value, default=datetime(2000, 1, 1), dayfirst=dayfirst)
            second = parser.parse(value, default=datetime(2001, 2, 2), dayfirst=dayfirst)
    except (ValueError, OverflowError, TypeError):
        return None
    # a value missing its year, month or day ('2019', 'November 2019') names no day
    return first if first.date() == second.date() else None


def _publisher_day(dt: datetime, stated: list[tuple[str, Any]], url_date: datetime | None) -> datetime:
    """A UTC instant shown in the publisher's zone, so that its day is the day they printed.

    The zone comes from a local clock time the page states for the same moment (a naive time a
    whole number of quarter-hours away, at most 14 hours, or the same instant with an offset), or
    else from the day the page prints beside the byline, or the URL's, when that is one day off:
    the instant is then shown at the smallest whole-hour offset that reaches that day. The instant
    never changes.
    """
    if dt.utcoffset() != timedelta(0):
        return dt
    for _, value in stated:
        local = _parse_naive(value) if ":" in str(value or "") else None  # a clock time, not a day
        if local is None:
            continue
        if local.tzinfo is not None:
            offset = local.utcoffset()
            if offset and abs(local - dt) < timedelta(minutes=2):
                return dt.astimezone(timezone(offset))
            continue
        shift = local - dt.replace(tzinfo=None)
        if timedelta(0) < abs(shift) <= timedelta(hours=14) and shift % timedelta(minutes=15) == timedelta(0):
            return dt.astimezone(timezone(shift))
    if url_date is not None and abs((url_date.date() - dt.date()).days) == 1:
        hours = range(-1, -13, -1) if url_date.date() < dt.date() else range(1, 15)
        for h in hours:
            shifted = dt.astimezone(timezone(timedelta(hours=h)))
            if shifted.date() == url_date.date():
                return shifted
    return dt


def _plausible(dt: datetime, fetched: datetime) -> str | None:
    if dt > fetched + FUTURE_TOLERANCE:
        return "future"
    if dt < EARLIEST_PLAUSIBLE:
        return "implausible"
    return None


def choose_date(stated: list[tuple[str, Any]], feed_date: str | None, fetched: datetime,
                notes: list[str]) -> tuple[str, str, str | None]:
    """The publication date, where it came from, and a flag when the dates given were unusable.

    Order: structured data and meta tags, then the feed, then the extractor's guess, then the URL.
    A page date is set aside when it is later than the feed's by over a day (the page states its
    last change), earlier than the feed's by over a year (a copyright or archive date), or more
    than two days from a full date in the URL (the URL's day is then taken).
    """
    url_date = next((parse_date(v) for s, v in stated if s == "url"), None)
    printed = next((parse_date(v) for s, v in stated if s == "visible"), None)
    feed = parse_date(feed_date)
    flag = None
    if feed_date and feed is None:
        flag = "unparseable"
    elif feed and _plausible(feed, fetched):
        flag, feed = _plausible(feed, fetched), None
    ordered = ([(s, v) for s, v in stated if s not in ("url", "extractor", "visible")]
               + [("feed", feed_date)] * (feed is not None)
               + [(s, v) for s, v in stated if s in ("visible", "extractor")]
               + [("url", None)] * (url_date is not None))
    for source, value in ordered:
        dt = url_date if source == "url" else (feed if source == "feed" else parse_date(value))
        if dt is None:
            flag = flag or ("unparseable" if value else None)
            continue
        problem = _plausible(dt, fetched)
        if problem:
            notes.append(f"{source}: date {value} is {problem}")
            flag = flag or problem
            continue
        if source not in ("feed", "url") and feed is not None and (
                dt > feed + FUTURE_TOLERANCE or dt < feed - FEED_BEFORE_PAGE):
            notes.append(f"{source}: date {value} disagrees with the feed's")
            continue
        if source not in ("feed", "url") and url_date is not None and (
                abs(dt - url_date) > URL_DATE_TOLERANCE):
            notes.append(f"{source}: date {value} disagrees with the URL's")
            return to_iso(url_date), "url", flag
        if source not in ("feed", "url", "visible"):
            dt = _publisher_day(dt, stated, printed or url_date)
        return _iso_keep_offset(dt), source, flag
    return to_iso(fetched), "fetched", flag or "missing"


def _iso_keep_offset(dt: datetime) -> str:
    """ISO 8601 in the time zone the source gave, so the day is the publisher's day."""
    return dt.replace(microsecond=0).isoformat()


def _modified(stated: list[tuple[str, Any]], feed_updated: str | None, published: str,
              fetched: datetime) -> str | None:
    start = parse_date(published)
    for _, value in [*stated, ("feed", feed_updated)]:
        dt = parse_date(value)
        if dt and not _plausible(dt, fetched) and (start is None or dt >= start):
            return _iso_keep_offset(dt)
    return None


# --- language -----------------------------------------------------------------------------------

LANGID_CONFIDENCE = 0.9


def choose_language(stated: list[tuple[str, Any]], text: str, feed_lang: str | None,
                    guess: tuple[str, float] | None = None) -> tuple[str | None, str | None]:
    """The declared language (page, then structured data, then the feed) unless the text disagrees.

    ``guess`` is the text's language when already known (the extraction worker reads it).
    """
    declared = [(s, _lang_code(v)) for s, v in [*stated, ("feed", feed_lang)] if _lang_code(v)]
    guess = guess or detect_language(text)
    if guess and (not declared or declared[0][1] != guess[0]) and guess[1] >= LANGID_CONFIDENCE:
        return guess[0], "text"
    if declared:
        return declared[0][1], declared[0][0]
    return (guess[0], "text") if guess else (None, None)


def _known_guess(found: dict[str, list[tuple[str, Any]]], text: str) -> tuple[str, float] | None:
    """The extraction worker's reading of this same text's language, if it made one."""
    for _, guess in found.get("text_lang", []):
        if guess and guess.get("words") == len(text.split()):
            return str(guess["lang"]), float(guess["prob"])
    return None


def _lang_code(value: Any) -> str | None:
    code = str(value or "").strip().replace("_", "-").split("-")[0].casefold()
    return code if 2 <= len(code) <= 3 and code.isalpha() else None
