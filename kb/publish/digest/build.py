"""The weekly digest, build step: the knowledge base -> plain data (no templates, no mail).

``build_week`` reads one ISO week once (stories with their outlets, summaries, topics, vendors and
jurisdictions; funding events; topic and vendor counts against the previous week; failing sources);
``select_digest`` then cuts it for one subscriber without touching the database, so a thousand
subscribers cost one read; the story briefs the digests show are read on first use, once per story
and language (``Briefs``). Weeks run Monday 00:00 to Monday 00:00 UTC, like ``published_at``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlite_utils.db import Database

from kb.core.errors import KbError
from kb.core.money import to_usd
from kb.core.taxonomy import load_taxonomy
from kb.publish.digest.subscribers import Subscriber
from kb.store.views import story_key

WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
POLICY_TOPICS = ("regulation", "export-controls")
PER_TOPIC = 5
MAX_STORIES = 15
GENERAL_STORIES = 8
PER_JURISDICTION = 3
MAX_JURISDICTIONS = 8
MAX_VENDORS = 10
FAILING_AFTER = timedelta(days=1)

class DigestError(KbError):
    """A digest that cannot be built (an unknown week, a database without articles table)."""


@dataclass(frozen=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """'2026-W47' (or '2026W47'); anything else raises DigestError."""
        m = WEEK.match(text.strip())
        if not m:
            raise DigestError(f"week {text!r} is not an ISO week such as 2026-W47")
        year, week = int(m.group(1)), int(m.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise DigestError(f"{year} has no week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def last_full(cls, now: datetime) -> IsoWeek:
        """The week before the one ``now`` falls in."""
        return cls.containing((now.astimezone(UTC) - timedelta(days=7)).date())

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(date.fromisocalendar(self.year, self.week, 1), datetime.min.time(),
                                tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def previous(self) -> IsoWeek:
        return IsoWeek.containing((self.start - timedelta(days=1)).date())


@dataclass
class ArticleRef:
    id: int
    url: str
    title: str
    source: str
    lang: str
    published: str
    summary: str
    in_week: bool


@dataclass
class Story:
    id: str
    headline: str
    articles: list[ArticleRef]
    outlet_count: int
    topics: dict[str, float]
    vendors: list[str]
    jurisdiction: str | None
    refs: list[str]
    first_seen: str

    def lead(self, lang: str = "en") -> ArticleRef:
        """The article to link: one in the reader's language if the story has one, else English."""
        for wanted in (lang, "en"):
            for a in self.articles:
                if a.lang == wanted:
                    return a
        return self.articles[0]


@dataclass
class FundingRow:
    company: str
    amount: float
    currency: str
    valuation: float | None
    round: str | None
    kind: str | None
    url: str
    title: str
    outlets: int
    status: str = "closed"


@dataclass
class Count:
    key: str
    name: str
    this_week: int
    last_week: int

    @property
    def delta(self) -> int:
        return self.this_week - self.last_week


class Briefs:
    """The story briefs a digest shows (kb.publish.brief: summary, takeaway, key facts, best for),
    read on first use, once per story and reader language, and shared by every subscriber's digest."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def get(self, story_id: str, lang: str = "en") -> dict[str, Any] | None:
        """The brief of a story in the reader's language; None for an article without a story."""
        key = (story_id, lang)
        if key not in self.cache:
            found = None
            if self.db is not None and not story_id.startswith("article-"):
                from kb.publish.brief import story_brief

                found = story_brief(self.db, story_id, lang=lang, related_limit=0)
            self.cache[key] = found
        return self.cache[key]


@dataclass
class WeekData:
    week: IsoWeek
    generated_at: datetime
    article_count: int
    outlet_count: int
    stories: list[Story]
    funding: list[FundingRow]
    topic_counts: list[Count]
    vendor_counts: list[Count]
    failing_sources: list[dict[str, Any]]
    topic_names: dict[str, str]
    briefs: Briefs = field(default_factory=lambda: Briefs(None))


@dataclass
class Section:
    key: str
    title: str
    stories: list[Story]


@dataclass
class Digest:
    """One subscriber's digest: what the templates render."""

    week: IsoWeek
    subscriber: Subscriber
    data: WeekData
    sections: list[Section]
    policy: list[Section]
    vendors: list[Count] = field(default_factory=list)

    @property
    def empty_week(self) -> bool:
        return self.data.article_count == 0

    @property
    def nothing_for_reader(self) -> bool:
        return not any(s.stories for s in self.sections)


def _chunks(ids: list[Any], size: int = 500) -> list[list[Any]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _by_ids(db: Database, sql: str, ids: list[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (with one ``{ids}`` placeholder) over ``ids`` in chunks."""
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(ids):
        rows += db.execute(sql.format(ids=",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def _load_articles(db: Database, start: str, end: str) -> list[dict[str, Any]]:
    """The week's articles plus the other members of their stories, with story ids."""
    sql = ("select a.id, a.url, a.title, coalesce(s.name, a.source_id), a.source_id, a.lang, "
           "a.published_at, coalesce(sm.summary, a.summary), sa.story_id from articles a "
           "left join sources s on s.id = a.source_id "
           "left join story_articles sa on sa.article_id = a.id "
           "left join article_summaries sm on sm.article_id = a.id "
           "where (a.published_at >= ? and a.published_at < ?) "
           "or sa.story_id in (select sa2.story_id from story_articles sa2 join articles a2 "
           "on a2.id = sa2.article_id where a2.published_at >= ? and a2.published_at < ?) "
           "order by a.published_at, a.id")
    params = [start, end, start, end]
    keys = ["id", "url", "title", "source", "source_id", "lang", "published", "summary", "story_id"]
    out = []
    for row in db.execute(sql, params).fetchall():
        record = dict(zip(keys, row, strict=True))
        record["in_week"] = start <= (record["published"] or "") < end
        record["story_id"] = story_key(record["story_id"], record["id"])
        out.append(record)
    return out


def _stories(db: Database, articles: list[dict[str, Any]]) -> list[Story]:
    ids = [a["id"] for a in articles]
    topics: dict[int, dict[str, float]] = {}
    for aid, slug, score in _by_ids(db, "select article_id, topic, score from article_topics "
                                        "where article_id in ({ids})", ids):
        topics.setdefault(aid, {})[slug] = score
    entities: dict[int, list[tuple[str, str, int]]] = {}
    for aid, kind, name, mentions in _by_ids(
            db, "select ae.article_id, e.kind, e.name, ae.mentions from article_entities ae join entities e "
                "on e.id = ae.entity_id where ae.article_id in ({ids}) and ae.role = 'main'", ids):
        entities.setdefault(aid, []).append((kind, name, mentions or 1))
    refs: dict[int, list[str]] = {}
    for aid, ref in _by_ids(db, "select article_id, ref from policy_refs where article_id in ({ids}) "
                                "order by id", ids):
        refs.setdefault(aid, []).append(ref)
    headlines = dict(db.execute("select id, headline from stories").fetchall())
    grouped: dict[str, list[dict[str, Any]]] = {}
    for a in articles:
        grouped.setdefault(a["story_id"], []).append(a)
    stories = []
    for sid, members in grouped.items():
        if not any(m["in_week"] for m in members):
            continue
        stories.append(_story(sid, members, headlines.get(sid), topics, entities, refs))
    stories.sort(key=lambda s: (-s.outlet_count, -len(s.articles), -max(s.topics.values(), default=0),
                                s.first_seen, s.id))
    return stories


def _story(sid: str, members: list[dict[str, Any]], headline: str | None,
           topics: dict[int, dict[str, float]], entities: dict[int, list[tuple[str, str, int]]],
           refs: dict[int, list[str]]) -> Story:
    story_topics: dict[str, float] = {}
    vendors: Counter[str] = Counter()
    places: Counter[str] = Counter()
    story_refs: list[str] = []
    for m in members:
        for slug, score in topics.get(m["id"], {}).items():
            story_topics[slug] = max(score, story_topics.get(slug, 0.0))
        for kind, name, mentions in entities.get(m["id"], []):
            (vendors if kind == "vendor" else places)[name] += mentions
        story_refs += [r for r in refs.get(m["id"], []) if r not in story_refs]
    english = [m for m in members if m["lang"] == "en"] or members
    refs_out = [ArticleRef(id=m["id"], url=m["url"], title=m["title"] or m["url"], source=m["source"] or "",
                           lang=m["lang"] or "", published=m["published"] or "", summary=m["summary"] or "",
                           in_week=m["in_week"]) for m in members]
    jurisdiction = min(places.items(), key=lambda kv: (-kv[1], kv[0]))[0] if places else None
    return Story(id=sid, headline=headline or english[0]["title"] or english[0]["url"], articles=refs_out,
                 outlet_count=len({m["source_id"] for m in members}),
                 topics=dict(sorted(story_topics.items(), key=lambda kv: -kv[1])),
                 vendors=[v for v, _ in vendors.most_common()], jurisdiction=jurisdiction,
                 refs=story_refs[:4], first_seen=min(m["published"] or "" for m in members))


STATUS_RANK = {"cumulative": -1, "in_talks": 0, "announced": 1, "closed": 2}


def _funding(db: Database, start: str, end: str) -> list[FundingRow]:
    """The week's funding rounds: the first amount each article gives for a company (later ones are
    usually earlier rounds recalled for context), one row per round however many outlets report it."""
    rows = db.execute(
        "select f.company, f.amount, f.currency, f.valuation, f.round, f.kind, a.url, a.title, a.source_id, "
        "coalesce(f.status, 'closed') "
        "from funding_events f join articles a on a.id = f.article_id "
        "where a.published_at >= ? and a.published_at < ? order by a.published_at, f.id",
        [start, end]).fetchall()
    merged: dict[tuple[str, int, str], FundingRow] = {}
    outlets: dict[tuple[str, int, str], set[str]] = {}
    reported: set[tuple[str, str]] = set()
    for company, amount, currency, valuation, round_, kind, url, title, source, status in rows:
        if not company or not amount or (url, company.lower()) in reported:
            continue  # an article's later amounts for the same company are its history (earlier rounds)
        reported.add((url, company.lower()))
        key = (company.lower(), round(float(amount) / 1e5), currency or "")
        row = merged.get(key)
        if row is None:
            merged[key] = FundingRow(company=company, amount=float(amount), currency=currency or "",
                                     valuation=valuation, round=round_, kind=kind, url=url,
                                     title=title or url, outlets=0, status=status)
        else:
            row.valuation = row.valuation or valuation
            row.round = row.round or round_
            if STATUS_RANK.get(status, -1) > STATUS_RANK.get(row.status, -1):
                row.status = status  # talks, then an announcement, then the close
        outlets.setdefault(key, set()).add(source)
    for key, row in merged.items():
        row.outlets = len(outlets[key])
    return sorted(merged.values(), key=lambda r: -to_usd(r.amount, r.currency))


def _counts(db: Database, sql: str, week: IsoWeek) -> dict[str, list[int]]:
    prev = week.previous()
    counts: dict[str, list[int]] = {}
    for index, w in enumerate((week, prev)):
        for key, n in db.execute(sql, [w.start.isoformat(), w.end.isoformat()]).fetchall():
            counts.setdefault(key, [0, 0])[index] = n
    return counts


def _topic_counts(db: Database, week: IsoWeek, names: dict[str, str]) -> list[Count]:
    counts = _counts(db, "select t.topic, count(distinct t.article_id) from article_topics t join articles a "
                         "on a.id = t.article_id where a.published_at >= ? and a.published_at < ? "
                         "group by t.topic", week)
    slugs = list(names) + [s for s in counts if s not in names]
    return [Count(s, names.get(s, s), *counts.get(s, [0, 0])) for s in slugs]


def _vendor_counts(db: Database, week: IsoWeek) -> list[Count]:
    counts = _counts(db, "select e.name, count(distinct ae.article_id) from article_entities ae "
                         "join entities e on e.id = ae.entity_id join articles a on a.id = ae.article_id "
                         "where e.kind = 'vendor' and ae.role = 'main' and a.published_at >= ? "
                         "and a.published_at < ? group by e.name", week)
    rows = [Count(name, name, this, last) for name, (this, last) in counts.items() if this]
    return sorted(rows, key=lambda c: (-c.this_week, -c.delta, c.key))


def failing_sources(db: Database, now: datetime) -> list[dict[str, Any]]:
    """Sources whose feed has been failing for more than a day (for the operator's footer).

    Failing now, and no success in the last day; a source that never succeeded counts once the
    crawls have been trying for a day (the first crawl run is older than that).
    """
    cutoff = (now - FAILING_AFTER).astimezone(UTC).isoformat(timespec="seconds")
    first_run = db.execute("select min(started_at) from crawl_runs").fetchone()[0] or ""
    rows = db.execute(
        "select id, coalesce(name, id), consecutive_failures, last_success_at, last_error from sources "
        "where consecutive_failures > 0 and last_attempt_at is not null "
        "and (last_success_at < ? or (last_success_at is null and ? < ?)) order by id",
        [cutoff, first_run, cutoff]).fetchall()
    keys = ("id", "name", "failures", "last_success_at", "last_error")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def topic_names(db: Database) -> dict[str, str]:
    """Topic slug -> display name, in taxonomy order (the five core topics if none were tagged yet)."""
    names = dict(db.execute("select slug, name from topics order by rowid").fetchall())
    if names:
        return names
    return {t.slug: t.name for t in load_taxonomy()[1]}


def build_week(db: Database, *, week: IsoWeek, now: datetime | None = None) -> WeekData:
    """Read everything the week's digests need from the knowledge base, once."""
    now = now or datetime.now(UTC)
    start, end = week.start.isoformat(), week.end.isoformat()
    articles = _load_articles(db, start, end)
    in_week = [a for a in articles if a["in_week"]]
    names = topic_names(db)
    return WeekData(
        week=week, generated_at=now, article_count=len(in_week),
        outlet_count=len({a["source_id"] for a in in_week}),
        stories=_stories(db, articles) if articles else [],
        funding=_funding(db, start, end), topic_counts=_topic_counts(db, week, names),
        vendor_counts=_vendor_counts(db, week), failing_sources=failing_sources(db, now),
        topic_names=names, briefs=Briefs(db))


def select_digest(data: WeekData, subscriber: Subscriber) -> Digest:
    """Cut the week for one reader: their topics' top stories (each story once), their vendors."""
    shown: set[str] = set()
    sections: list[Section] = []
    for slug in subscriber.topics:
        picked = [s for s in data.stories if _best_topic(s, subscriber.topics) == slug][:PER_TOPIC]
        shown.update(s.id for s in picked)
        sections.append(Section(slug, data.topic_names.get(slug, slug), picked))
    wanted = {v.lower() for v in subscriber.vendors}
    if wanted:
        picked = [s for s in data.stories if s.id not in shown and wanted & {v.lower() for v in s.vendors}]
        picked = picked[:PER_TOPIC]
        shown.update(s.id for s in picked)
        sections.append(Section("vendors", "", picked))
    if not subscriber.topics and not wanted:  # top stories: those about one of the topics at least
        sections.append(Section("top", "", [s for s in data.stories if s.topics][:GENERAL_STORIES]))
    _cap(sections)
    vendors = [c for c in data.vendor_counts if not wanted or c.key.lower() in wanted][:MAX_VENDORS]
    return Digest(week=data.week, subscriber=subscriber, data=data, sections=sections,
                  policy=policy_sections(data), vendors=vendors if subscriber.vendor_watch else [])


def _best_topic(story: Story, topics: list[str]) -> str | None:
    """The reader's topic this story belongs to most (the highest-scoring one they follow)."""
    mine = [(score, slug) for slug, score in story.topics.items() if slug in topics]
    return max(mine)[1] if mine else None


def _cap(sections: list[Section]) -> None:
    left = MAX_STORIES
    for section in sections:
        section.stories = section.stories[:max(left, 0)]
        left -= len(section.stories)


def policy_sections(data: WeekData) -> list[Section]:
    """Regulation and export-control stories by jurisdiction, busiest jurisdiction first."""
    groups: dict[str, list[Story]] = {}
    for s in data.stories:
        if any(t in s.topics for t in POLICY_TOPICS):
            groups.setdefault(s.jurisdiction or "", []).append(s)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] == "", -len(kv[1]), kv[0]))
    return [Section(name, name, stories[:PER_JURISDICTION]) for name, stories in ordered][:MAX_JURISDICTIONS]
