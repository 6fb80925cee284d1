"""The data behind the vendor, topic and jurisdiction pages (``/-/vendor/Nvidia``) and the trends
page (``/-/trends``).

Every section is one SQL query, kept here as text with named parameters, so that the page links to
Datasette's SQL page running exactly that query. "Now", for the windows, is the newest article's
date, not the clock's: a database of last year's news still shows its trends.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup
from sqlite_utils.db import Database

from kb.core.names import FilterError, canonical
from kb.enrich.entity_days import COUNTS, LATEST, LATEST_TABLE, STORY_COLUMNS, TABLE
from kb.enrich.gazetteer import load_gazetteer
from kb.publish.svg_charts import Series, bar_chart, line_chart, percent, usd_short
from kb.publish.web import WebError, known_filters

KINDS = ("vendor", "topic", "jurisdiction")
# The articles of an entity: those about a vendor or a jurisdiction (not naming it in passing), or
# tagged with a topic; "regulation" is a jurisdiction's articles on regulation or export controls.
_ABOUT = ("select ae.article_id from article_entities ae join entities e on e.id = ae.entity_id\n"
          "  where e.kind = '{kind}' and e.name = :name and ae.role = 'main'")
_TAGGED = "exists (select 1 from article_topics t where t.article_id = {id} and t.topic {test})"
MEMBERS = {
    "vendor": _ABOUT.format(kind="vendor"),
    "jurisdiction": _ABOUT.format(kind="jurisdiction"),
    "topic": "select article_id from article_topics where topic = :name",
    # (two tests that each match at most one row: SQLite 3.51.0 and 3.51.1 turn an EXISTS that
    # matches two rows into a join that repeats the article; fixed in 3.51.2)
    "regulation": _ABOUT.format(kind="jurisdiction") + "\n  and ("
                  + _TAGGED.format(id="ae.article_id", test="= 'regulation'") + "\n    or "
                  + _TAGGED.format(id="ae.article_id", test="= 'export-controls'") + ")",
}
# The same, as a test of article ``a``: for an entity with many articles, its latest are found
# faster by reading articles newest first than by sorting all of its own.
_IS_ABOUT = ("exists (select 1 from article_entities ae join entities e on e.id = ae.entity_id\n"
             "    where ae.article_id = a.id and e.kind = '{kind}' and e.name = :name and ae.role = 'main')")
IS_MEMBER = {
    "vendor": _IS_ABOUT.format(kind="vendor"),
    "jurisdiction": _IS_ABOUT.format(kind="jurisdiction"),
    "topic": _TAGGED.format(id="a.id", test="= :name"),
}
RECENT = LATEST  # notable stories and co-occurrences are read from an entity's latest articles
# Articles per day of each entity: the table enrichment writes (kb.enrich.entity_days), or, in a
# database enriched before it existed, the same counts made on the fly.
DAYS_LIVE = f"({COUNTS})"
NOW = "now as (select date(max(published_at)) as day from articles)"

STORIES = """with recent as ({recent})
select r.id, r.title, max(r.published_at) as published, coalesce(s.name, r.source_id) as source,
  r.story_id, r.outlets
from recent r left join sources s on s.id = r.source_id
group by coalesce(r.story_id, 'article-' || r.id)
order by published desc, r.id desc limit 20"""
WEEKS = f"""with {NOW}
select date(d.day, 'weekday 0', '-6 days') as week, sum(d.articles) as articles
from {{days}} d join now
where d.kind = :kind and d.name = :name and d.day >= date(now.day, 'weekday 0', '-6 days', '-357 days')
group by week order by week"""
MONTHS_DAYS = """select substr(day, 1, 7) as month, sum(articles) as articles from {days}
  where kind = :kind and name = :name group by month"""
TIMELINE = """with months as ({months}),
recent as ({recent}),
items as (select strftime('%Y-%m', r.published_at) as month, r.id, r.title, max(r.published_at) as published,
    coalesce(r.outlets, 1) as outlets
  from recent r group by month, coalesce(r.story_id, 'article-' || r.id)),
ranked as (select *, row_number() over (partition by month order by outlets desc, published desc) as rank
  from items)
select months.month, months.articles, ranked.id, ranked.title, ranked.outlets
from months left join ranked on ranked.month = months.month and ranked.rank <= 3
order by months.month desc, ranked.rank"""
FUNDING = """select id, status, kind, amount, currency, amount_usd, amount_eur, fx_note, round, valuation,
  investors, reports, date as first_reported, last_reported, article_id, article
from funding_rounds where company = :name order by first_reported desc, id"""
INVESTMENTS = """select id, company, status, kind, amount, currency, amount_usd, round,
  date as first_reported, article_id, article
from funding_rounds where :name in (select value from json_each(investors))
order by first_reported desc, id"""
VENDORS = """with recent as ({recent})
select e.name, count(*) as articles, sum(ae.role = 'main') as about
from recent r join article_entities ae on ae.article_id = r.id
  join entities e on e.id = ae.entity_id
where e.kind = 'vendor' and e.name != :name
group by e.id order by articles desc, e.name limit 15"""
TOPICS = """with recent as ({recent})
select t.topic, count(*) as articles
from recent r join article_topics t on t.article_id = r.id
where t.topic != :name group by t.topic order by articles desc, t.topic"""
POLICY = """select p.kind, p.ref, count(distinct p.article_id) as articles, a.id as latest_id,
  a.title as latest_title, max(a.published_at) as last_seen
from ({members}) m join policy_refs p on p.article_id = m.article_id join articles a on a.id = p.article_id
group by p.kind, p.ref order by last_seen desc, p.ref limit 50"""

TOPIC_SHARE = f"""with {NOW},
weeks as (select date(d.day, 'weekday 0', '-6 days') as week, sum(d.articles) as total
  from {{days}} d join now
  where d.kind = 'all' and d.day >= date(now.day, 'weekday 0', '-6 days', '-175 days') group by week),
tagged as (select date(d.day, 'weekday 0', '-6 days') as week, d.name as topic, sum(d.articles) as articles
  from {{days}} d join now
  where d.kind = 'topic' and d.day >= date(now.day, 'weekday 0', '-6 days', '-175 days')
  group by week, d.name)
select week, topic, articles, total, round(1.0 * articles / total, 4) as share
from tagged join weeks using (week) order by week, topic"""
RISING = f"""with {NOW},
counts as (select d.name, sum(case when d.day > date(now.day, '-28 days') then d.articles else 0 end)
    as last_4_weeks,
    sum(case when d.day <= date(now.day, '-28 days') then d.articles else 0 end) as previous_12_weeks
  from {{days}} d join now
  where d.kind = 'vendor' and d.day > date(now.day, '-112 days') and d.day <= now.day group by d.name)
select name, last_4_weeks, previous_12_weeks,
  round(3.0 * last_4_weeks / max(previous_12_weeks, 1), 2) as ratio
from counts where last_4_weeks >= 2 and 3 * last_4_weeks > previous_12_weeks
order by ratio desc, last_4_weeks desc, name limit 15"""
FUNDING_MONTHS = f"""with {NOW}
select substr(first_reported, 1, 7) as month, count(*) as events, sum(amount_usd) as amount_usd,
  sum(amount_usd is null) as events_without_usd
from funding_ledger join now
where status in ('closed', 'announced') and first_reported >= date(now.day, 'start of month', '-23 months')
group by month order by month"""
NEW_POLICY = """select p.kind, p.ref, min(a.published_at) as first_seen, a.id as first_id,
  a.title as first_title, count(distinct p.article_id) as articles
from policy_refs p join articles a on a.id = p.article_id
group by p.kind, p.ref order by first_seen desc, p.ref limit 20"""


class UnknownEntity(WebError):
    """A vendor, topic or jurisdiction that names nothing known (the page answers 404)."""

    def __init__(self, kind: str, name: str, suggestions: list[str]) -> None:
        super().__init__(f"no {kind} {name!r}")
        self.kind, self.name, self.suggestions = kind, name, suggestions


def entity_path(kind: str, name: str) -> str:
    """The page of a vendor, topic or jurisdiction: /-/vendor/Mistral%20AI."""
    return f"/-/{kind}/{quote(name, safe='')}"


def feed_path(kind: str, name: str) -> str:
    """The Atom feed of a vendor, topic or jurisdiction (aiwatch_feeds)."""
    return f"/-/feeds/{kind}/{quote(name, safe='')}.atom"


def sql_url(database: str, sql: str, params: dict[str, Any] | None = None) -> str:
    """Datasette's SQL page running ``sql`` with the named parameters it uses."""
    used = {k: v for k, v in (params or {}).items() if f":{k}" in sql}
    return f"/{quote(database)}?{urlencode({'sql': sql, **used})}"


def days_table(db: Database) -> str:
    """Where the articles per day of each entity are read: entity_days, else counted on the fly."""
    return TABLE if db[TABLE].exists() else DAYS_LIVE


def has_latest(db: Database) -> bool:
    """Whether enrichment wrote each entity's latest articles (entity_latest)."""
    return bool(db[LATEST_TABLE].exists())


def suggest(kind: str, name: str, choices: list[str], n: int = 5) -> list[str]:
    """The known names closest to ``name``: the one it is an alias of (the gazetteer's "Europe" is
    the EU), near spellings, then names that contain it or that it contains."""
    text = name.strip().lower()
    by_lower = {c.lower(): c for c in choices}
    gazetteer = load_gazetteer()
    aliased = [gazetteer.entries[e].name.lower() for alias, e in gazetteer.alias_to.items()
               if alias.lower() == text and gazetteer.entries[e].kind == kind]
    close = difflib.get_close_matches(text, list(by_lower), n=n, cutoff=0.6)
    contains = [k for k in sorted(by_lower) if text and (text in k or k in text)]
    found = dict.fromkeys(k for k in aliased + close + contains if k in by_lower)
    return [by_lower[k] for k in list(found)[:n]]


def resolve(db: Database, kind: str, name: str) -> str:
    """The known name ``name`` stands for (any case), else UnknownEntity with suggestions."""
    known = known_filters(db)
    choices = {"vendor": known.vendors, "topic": known.topics, "jurisdiction": known.jurisdictions}[kind]
    try:
        return canonical(kind, name, choices)
    except FilterError:
        raise UnknownEntity(kind, name, suggest(kind, name, choices)) from None


def _section(db: Database, database: str, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"rows": list(db.query(sql, params)), "sql_url": sql_url(database, sql, params)}


def _weeks(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(weeks=i)).isoformat() for i in range((end - start).days // 7 + 1)]


def entity_page(db: Database, kind: str, name: str, *, database: str) -> dict[str, Any]:
    """Everything an entity page shows, under the canonical ``name`` (see resolve): the latest
    stories, weekly coverage and its chart, a monthly timeline, the vendors and topics it occurs
    with; a vendor's funding events and the rounds it invested in; a jurisdiction's policy
    references and regulation timeline. Each section is ``{"rows", "sql_url"}``."""
    params, days, listed = {"kind": kind, "name": name}, days_table(db), has_latest(db)
    topic = (db.execute("select name from topics where slug = ?", [name]).fetchone()
             if kind == "topic" else None)
    page: dict[str, Any] = {"kind": kind, "name": name, "label": topic[0] if topic and topic[0] else name,
                            "feed_url": feed_path(kind, name), "recent": RECENT}
    count = f"select coalesce(sum(articles), 0) from {days} where kind = ? and name = ?"
    page["articles"] = db.execute(count, [kind, name]).fetchone()[0]
    total = db.execute(count, ["all", ""]).fetchone()[0]
    stories, recent = (latest(kind, n, big=4 * page["articles"] ** 2 > n * total, listed=listed)
                       for n in (400, RECENT))
    for key, sql in (("stories", STORIES.format(recent=stories)), ("weeks", WEEKS.format(days=days)),
                     ("vendors", VENDORS.format(recent=recent)), ("topics", TOPICS.format(recent=recent))):
        page[key] = _section(db, database, sql, params)
    page["timeline"] = _timeline(db, database, MONTHS_DAYS.format(days=days), recent, params)
    counts = {r["week"]: r["articles"] for r in page["weeks"]["rows"]}
    labels = _weeks(min(counts), max(counts)) if counts else []
    page["chart"] = bar_chart(labels, [counts.get(w, 0) for w in labels], chart_id="coverage",
                              title=f"Articles about {page['label']} per week",
                              desc=f"{sum(counts.values())} articles over {len(labels)} weeks (weeks start "
                                   "on Monday; the last 52 weeks up to the newest article).",
                              column="articles")
    if kind == "vendor":
        page["funding"] = _section(db, database, FUNDING, params)
        page["investments"] = _section(db, database, INVESTMENTS, params)
    if kind == "jurisdiction":
        page["policy"] = _section(db, database, POLICY.format(members=MEMBERS[kind]), params)
        page["regulation"] = _timeline(db, database, MONTHS_DAYS.format(days=days),
                                       latest("regulation", RECENT, big=False, listed=listed),
                                       {"kind": "regulation", "name": name})
    return page


def feed_ids(db: Database, kind: str, name: str) -> list[int]:
    """An entity's latest stories for its Atom feed: one article each, newest first."""
    recent = latest(kind, 400, big=False, listed=has_latest(db))
    return [r["id"] for r in db.query(STORIES.format(recent=recent), {"name": name})]


def latest(kind: str, limit: int, *, big: bool, listed: bool = False) -> str:
    """A query of an entity's latest ``limit`` articles, newest first (then the highest id): id,
    title, published_at, source_id, story_id and the story's outlets.

    ``listed``: read from entity_latest, which enrichment writes (under a millisecond). Otherwise,
    for a ``big`` entity, read newest first from all articles until enough are its own; for the
    others, its own, sorted. Measured at 100,000 articles, reading from all costs about a sixth of
    sorting per article read, so it wins from about half the square root of ``limit`` times all
    articles (4 * count ** 2 > limit * total)."""
    if listed and limit <= LATEST:
        return (f"select l.article_id as id, l.title, l.published_at, l.source_id, l.story_id, l.outlets\n"
                f"  from {LATEST_TABLE} l where l.kind = '{kind}' and l.name = :name\n"
                f"  order by l.published_at desc, l.article_id desc limit {limit}")
    columns = f"select a.id, a.title, a.published_at, a.source_id, {STORY_COLUMNS}"
    if big:
        return (f"{columns} from articles a\n  where {IS_MEMBER[kind]}\n"
                f"  order by a.published_at desc, a.id desc limit {limit}")
    return (f"{columns} from ({MEMBERS[kind]}) m\n  join articles a on a.id = m.article_id "
            f"order by a.published_at desc, a.id desc limit {limit}")


def _timeline(db: Database, database: str, months_sql: str, recent: str,
              params: dict[str, Any]) -> dict[str, Any]:
    """Months newest first, each with its article count and up to three notable stories (the
    most outlets) among the latest articles."""
    section = _section(db, database, TIMELINE.format(months=months_sql, recent=recent), params)
    months: dict[str, dict[str, Any]] = {}
    for r in section["rows"]:
        month = months.setdefault(r["month"], {"month": r["month"], "articles": r["articles"], "notable": []})
        if r["id"] is not None:
            month["notable"].append(r)
    return {**section, "months": list(months.values())}


def trends_page(db: Database, *, database: str) -> dict[str, Any]:
    """The trends page: topic share per week, rising vendors (the last 4 weeks against the 12
    before), funding per month in US dollars, and the newest policy references."""
    now, days = db.execute("select date(max(published_at)) from articles").fetchone()[0], days_table(db)
    page: dict[str, Any] = {"now": now}
    for key, sql in (("share", TOPIC_SHARE), ("rising", RISING), ("funding", FUNDING_MONTHS),
                     ("policy", NEW_POLICY)):
        page[key] = _section(db, database, sql.format(days=days), {})
    page["share_chart"] = _share_chart(page["share"]["rows"])
    by_month = {r["month"]: r for r in page["funding"]["rows"]}
    labels = _months(min(by_month), max(by_month)) if by_month else []
    rows = [by_month.get(m, {}) for m in labels]
    page["funding_chart"] = bar_chart(
        labels, [r.get("amount_usd") or 0 for r in rows], chart_id="funding-per-month", column="US dollars",
        title="Funding per month, in US dollars", fmt=usd_short,
        extra={"events": [str(r.get("events", 0)) for r in rows],
               "events without a USD value": [str(r.get("events_without_usd", 0)) for r in rows]},
        desc="The sum of closed and announced funding events by the month first reported, each "
             "converted to US dollars at the ECB rate of its date; talks and totals to date are "
             "left out.")
    return page


def _share_chart(rows: list[dict[str, Any]]) -> Markup:
    weeks = sorted({r["week"] for r in rows})
    share = {(r["week"], r["topic"]): r["share"] for r in rows}
    series = [Series(t, [share.get((w, t), 0.0) for w in weeks]) for t in sorted({r["topic"] for r in rows})]
    return line_chart(weeks, series, chart_id="topic-share", fmt=percent,
                      title="Topic share per week",
                      desc="The share of each week's articles tagged with each topic, over the 26 "
                           "weeks up to the newest article (an article may have several topics).")


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
