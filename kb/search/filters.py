"""Search filters and the one parser for them: topic, vendor, jurisdiction, source and dates, as
the command line, the web page, the export and the digest's subscriber profiles take them.

Names are matched without regard to case and come back canonical ("mistral ai" -> "Mistral AI");
an unknown one is an error that suggests the nearest known name. Dates are ISO days (2026-11-01)
or relative: ``today``, ``yesterday``, ``7d`` (days ago), ``2w`` (weeks ago), ``this-week``,
``last-week``, ``this-month``, ``last-month``, ``this-year``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils.db import Database

from kb.core.names import FilterError, canonical

FILTERS = ("topic", "vendor", "jurisdiction", "source", "since", "until")
RELATIVE = re.compile(r"^(\d{1,4})([dw])$")


@dataclass
class Filters:
    topic: str | None = None
    vendor: str | None = None
    jurisdiction: str | None = None
    source: str | None = None
    since: str | None = None
    until: str | None = None

    def sql(self, *, correlated: bool = False) -> tuple[str, list[Any]]:
        """A WHERE fragment over ``articles a`` (applied inside each query, not after a cut).
        ``correlated``: tags tested per article (EXISTS), for reading many articles in date order;
        otherwise listed once (IN), for a few."""
        where, params = [], []
        if self.topic:
            where.append("exists (select 1 from article_topics t where t.article_id = a.id and t.topic = ?)"
                         if correlated else "a.id in (select article_id from article_topics where topic = ?)")
            params.append(self.topic)
        for kind, value in (("vendor", self.vendor), ("jurisdiction", self.jurisdiction)):
            if value:  # an article about the vendor, not one naming it in passing
                about = ("from article_entities ae join entities e on e.id = ae.entity_id where e.kind = ? "
                         "and e.name = ? collate nocase and ae.role = 'main'")
                where.append(f"exists (select 1 {about} and ae.article_id = a.id)" if correlated
                             else f"a.id in (select ae.article_id {about})")
                params += [kind, value]
        if self.source:
            where.append("a.source_id = ?")
            params.append(self.source)
        if self.since:
            where.append("a.published_at >= ?")
            params.append(self.since)
        if self.until:
            where.append("a.published_at < ?")
            params.append(self.until)
        return " and ".join(where), params

    def active(self) -> bool:
        return any(vars(self).values())




@dataclass
class Known:
    """The values each filter accepts."""

    topics: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    jurisdictions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @classmethod
    def from_db(cls, db: Database | None = None) -> Known:
        """The taxonomy's topics and the gazetteer's names, with what the database holds besides
        (topics added since, entities confirmed by review, every source)."""
        from kb.core.taxonomy import load_taxonomy
        from kb.enrich.gazetteer import load_gazetteer

        gazetteer = load_gazetteer()
        known = cls(topics=[t.slug for t in load_taxonomy()[1]],
                    vendors=sorted({e.name for e in gazetteer.entries.values() if e.kind == "vendor"}),
                    jurisdictions=sorted({e.name for e in gazetteer.entries.values()
                                          if e.kind == "jurisdiction"}))
        if db is not None:
            known.topics += [r[0] for r in db.execute("select slug from topics") if r[0] not in known.topics]
            for kind, names in (("vendor", known.vendors), ("jurisdiction", known.jurisdictions)):
                names += [r[0] for r in db.execute("select name from entities where kind = ?", [kind])
                          if r[0] not in names]
            known.sources = [r[0] for r in db.execute("select id from sources order by id")]
        return known


def parse_day(value: str, *, name: str = "date", today: dt.date | None = None) -> dt.date:
    """An ISO day or a relative one (see the module's doc)."""
    today = today or dt.date.today()
    text = value.strip().lower()
    monday = today - dt.timedelta(days=today.weekday())
    first = today.replace(day=1)
    named = {"today": today, "yesterday": today - dt.timedelta(days=1), "this-week": monday,
             "last-week": monday - dt.timedelta(days=7), "this-month": first,
             "last-month": (first - dt.timedelta(days=1)).replace(day=1),
             "this-year": today.replace(month=1, day=1)}
    if text in named:
        return named[text]
    match = RELATIVE.match(text)
    if match:
        days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        return today - dt.timedelta(days=days)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{name} {value!r} is no date: use YYYY-MM-DD, or 7d, 2w, today, "
                          "yesterday, this-week, last-week, this-month, last-month, this-year") from None


def parse_filters(values: Mapping[str, Any], known: Known, *, today: dt.date | None = None) -> Filters:
    """Filters from raw values (flags or request parameters): names made canonical, dates checked
    (``until`` is inclusive: the stored bound is the next day). Empty values are no filter."""
    raw = {name: (str(values.get(name) or "")).strip() or None for name in FILTERS}
    choices = {"topic": known.topics, "vendor": known.vendors, "jurisdiction": known.jurisdictions,
               "source": known.sources}
    out: dict[str, str | None] = {}
    for name in ("topic", "vendor", "jurisdiction", "source"):
        value = raw[name]
        out[name] = canonical(name, value, choices[name]) if value else None
    for name in ("since", "until"):
        value = raw[name]
        if value:
            day = parse_day(value, name=name, today=today)
            out[name] = (day + dt.timedelta(days=1 if name == "until" else 0)).isoformat()
        else:
            out[name] = None
    return Filters(**out)
