"""What a query names besides its words: vendors, topics, places, currencies, amounts, time spans and
kinds of fact, in English, French and German ("Welche europäischen Start-ups sammelten 2026 mehr als
500 Mio. Euro ein?" -> place EU, time 2026, amount ≥ $550m, currency EUR, topic funding).

Each recognised part is a chip. Chips never filter: search ranks the articles whose stored rows
satisfy the most chips in one more channel of its fusion (``facts_ranking``), so an article that
matches the words but not a chip still appears. A query that is nothing but chips ("Nvidia 2025")
is a browse with those filters instead (``only_filters``). A user switches a chip off by its key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlite_utils.db import Database

from kb.core.money import to_usd
from kb.core.text import stopwords
from kb.search.filters import Filters

LEXICON = Path(__file__).resolve().parent.parent / "data" / "query_lexicon.yaml"
MONTHS = {
    1: "january|janvier|januar|jan", 2: "february|février|fevrier|februar|feb", 3: "march|mars|märz|mar",
    4: "april|avril|apr", 5: "may|mai", 6: "june|juin|juni|jun", 7: "july|juillet|juli|jul",
    8: "august|août|aout|aug", 9: "september|septembre|sept|sep", 10: "october|octobre|oktober|oct|okt",
    11: "november|novembre|nov", 12: "december|décembre|decembre|dezember|dec|dez",
}
RELATIVE_SPANS = {
    "this-year": r"this year|cette année|dieses jahr|diesem jahr|in diesem jahr|heuer",
    "last-year": r"last year|l['’]an dernier|l['’]année dernière|letztes jahr|letzten jahr"
                 r"|im vergangenen jahr|vergangenes jahr",
    "this-month": r"this month|ce mois(?:-ci)?|diesen monat|diesem monat",
    "last-month": r"last month|le mois dernier|letzten monat|im letzten monat|vergangenen monat"
                  r"|im vergangenen monat",
    "last-week": r"last week|la semaine dernière|letzte woche|vergangene woche",
}
MIN_WORDS = (r"above|over|more than|at least|exceeding|beyond|plus de|au moins|au-delà de|supérieure? à"
             r"|über|mehr als|mindestens|ab")
NUMBER = r"(\d+(?:[.,]\d+)?)\s*"
UNITS = {"bn": 1e9, "billion": 1e9, "billions": 1e9, "b": 1e9, "milliard": 1e9, "milliards": 1e9, "md": 1e9,
         "mds": 1e9, "mrd": 1e9, "milliarde": 1e9, "milliarden": 1e9, "m": 1e6, "mn": 1e6, "million": 1e6,
         "millions": 1e6, "mio": 1e6, "millionen": 1e6, "k": 1e3}
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Chip:
    kind: str  # vendor, topic, jurisdiction, currency, amount, time, fact
    value: str
    label: str
    start: int = 0
    end: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class Interpretation:
    text: str
    chips: list[Chip] = field(default_factory=list)

    def without(self, keys: Iterable[str]) -> Interpretation:
        off = set(keys)
        return replace(self, chips=[c for c in self.chips if c.key not in off and "all" not in off])

    def rest(self) -> list[str]:
        """The query's content words outside every chip."""
        text = self.text
        for chip in sorted(self.chips, key=lambda c: -c.start):
            text = text[:chip.start] + " " + text[chip.end:]
        drop = stopwords("en") | stopwords("fr") | stopwords("de") | QUESTION_WORDS
        return [w for w in WORD.findall(text) if w.lower() not in drop and not w.isdigit()]

    def selects_a_set(self) -> bool:
        """Whether the query asks for the articles with some attributes ("funding rounds in
        November 2026", "Chinese labs releasing open-weight models"), which the stored rows answer
        better than words: a fact, a time span, a currency or an amount, or a topic with a place.
        A query naming a vendor asks about that vendor, which its words already find."""
        kinds = {c.kind for c in self.chips}
        return "vendor" not in kinds and bool(
            kinds & {"fact", "time", "currency", "amount"} or {"topic", "jurisdiction"} <= kinds)

    def only_filters(self) -> bool:
        """Nothing but names and dates, two or more ("Nvidia 2025", "export-controls EU"): a
        browse. A name alone stays a search: its word finds every article naming it."""
        return len(self.chips) > 1 and not self.rest() and all(
            c.kind in ("vendor", "topic", "jurisdiction", "time") for c in self.chips)

    def as_filters(self, base: Filters) -> Filters:
        """The chips as hard filters over ``base`` (for a query that is nothing but chips)."""
        values = dict(vars(base))
        for chip in self.chips:
            if chip.kind in ("vendor", "topic", "jurisdiction") and not values.get(chip.kind):
                values[chip.kind] = chip.value
            elif chip.kind == "time":
                since, until = chip.value.split("/")
                values["since"] = values.get("since") or since
                values["until"] = values.get("until") or until
        return Filters(**values)


QUESTION_WORDS = frozenset("""which what who whose where when how many much quels quelles quel quelle qui
    combien welche welcher welches wer wie viele ai ia ki companies company firms start ups startups
    entreprises sociétés unternehmen firmen news articles""".split())


def _alternation(patterns: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(r"(?<![\w$€£¥])(?:" + alternatives + r")(?!\w)", re.IGNORECASE)


@dataclass
class Lexicon:
    topics: dict[str, re.Pattern[str]]
    facts: dict[str, re.Pattern[str]]
    currencies: dict[str, re.Pattern[str]]
    places: dict[str, re.Pattern[str]]
    eu_members: frozenset[str]
    vendors: list[tuple[re.Pattern[str], str]]
    jurisdictions: list[tuple[re.Pattern[str], str]]
    topic_names: dict[str, re.Pattern[str]]
    country: dict[str, str]


@cache
def load_lexicon() -> Lexicon:
    from kb.core.taxonomy import load_taxonomy
    from kb.enrich.gazetteer import load_gazetteer

    data: dict[str, Any] = yaml.safe_load(LEXICON.read_text(encoding="utf-8"))
    gazetteer = load_gazetteer()
    names: dict[str, list[tuple[re.Pattern[str], str]]] = {"vendor": [], "jurisdiction": []}
    for alias, entry_id in gazetteer.alias_to.items():
        entry = gazetteer.entries[entry_id]
        if alias in entry.ambiguous and alias != entry.name:
            continue
        flags = re.IGNORECASE if len(alias) >= 4 else 0  # "nvidia", but not "us" for the US
        pattern = re.compile(r"(?<![\w-])" + re.escape(alias) + r"(?!\w)", flags)
        names[entry.kind].append((pattern, entry.name))
    for kind in names:
        names[kind].sort(key=lambda p: -len(p[0].pattern))
    topics = load_taxonomy()[1]
    return Lexicon(
        topics={k: _alternation(v) for k, v in data["topics"].items()},
        facts={k: _alternation(v) for k, v in data["facts"].items()},
        currencies={k: _alternation(v) for k, v in data["currencies"].items()},
        places={k: _alternation(v) for k, v in data["places"].items()},
        eu_members=frozenset(data["eu_members"]),
        vendors=names["vendor"], jurisdictions=names["jurisdiction"],
        topic_names={t.slug: re.compile(r"(?<!\w)" + re.escape(t.slug) + r"(?!\w)", re.IGNORECASE)
                     for t in topics},
        country={e.name: e.country for e in gazetteer.entries.values() if e.kind == "vendor" and e.country},
    )


def _month_span(year: int, month: int) -> str:
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return f"{dt.date(year, month, 1).isoformat()}/{end.isoformat()}"


def _relative_span(name: str, today: dt.date) -> str:
    first = today.replace(day=1)
    last_month = (first - dt.timedelta(days=1)).replace(day=1)
    monday = today - dt.timedelta(days=today.weekday())
    spans = {"this-year": (today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)),
             "last-year": (dt.date(today.year - 1, 1, 1), today.replace(month=1, day=1)),
             "this-month": (first, today + dt.timedelta(days=1)),
             "last-month": (last_month, first),
             "last-week": (monday - dt.timedelta(days=7), monday)}
    since, until = spans[name]
    return f"{since.isoformat()}/{until.isoformat()}"


def _times(text: str, today: dt.date) -> list[Chip]:
    chips: list[Chip] = []
    for name, pattern in RELATIVE_SPANS.items():
        for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text, re.IGNORECASE):
            chips.append(Chip("time", _relative_span(name, today), m.group(0), m.start(), m.end()))
    months = "|".join(MONTHS.values())
    for m in re.finditer(rf"(?<!\w)(?:(?:in|en|im)\s+)?({months})\.?\s+(20\d\d)(?!\w)", text, re.IGNORECASE):
        month = next(n for n, names in MONTHS.items() if m.group(1).lower() in names.split("|"))
        chips.append(Chip("time", _month_span(int(m.group(2)), month), f"{m.group(1)} {m.group(2)}",
                          m.start(), m.end()))
    taken = [(c.start, c.end) for c in chips]
    for m in re.finditer(r"(?<![\w$€£.,])(20[12]\d)(?![\w.,%])", text):
        if not any(s <= m.start() < e for s, e in taken):
            year = int(m.group(1))
            chips.append(Chip("time", f"{year}-01-01/{year + 1}-01-01", m.group(0), m.start(), m.end()))
    return chips


def _amounts(text: str, lexicon: Lexicon) -> list[Chip]:
    chips = []
    units = "|".join(sorted(UNITS, key=len, reverse=True))
    symbols = r"(?:US\$|C\$|\$|€|£|¥)?"
    pattern = re.compile(rf"(?<!\w)(?:{MIN_WORDS})\s+({symbols})\s*{NUMBER}({units})\.?(?!\w)\s*"
                         r"(?:(?:de |d['’])?(\w+\$?|€|\$|£))?", re.IGNORECASE)
    for m in pattern.finditer(text):
        value = float(m.group(2).replace(",", ".")) * UNITS[m.group(3).lower()]
        currency = next((code for code, p in lexicon.currencies.items()
                         if p.fullmatch(m.group(1) or "") or p.fullmatch(m.group(4) or "")), "USD")
        usd = to_usd(value, currency)
        chips.append(Chip("amount", f"{usd:.0f}", f"≥ {_short(value)} {currency}", m.start(), m.end()))
    return chips


def _short(value: float) -> str:
    return f"{value / 1e9:g}bn" if value >= 1e9 else f"{value / 1e6:g}m"


def _named(text: str, kind: str, patterns: list[tuple[re.Pattern[str], str]],
           taken: list[tuple[int, int]]) -> list[Chip]:
    chips: list[Chip] = []
    for pattern, name in patterns:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            if all(c.value != name for c in chips):
                chips.append(Chip(kind, name, name, m.start(), m.end()))
    return chips


_TODAY: ContextVar[dt.date | None] = ContextVar("kb_search_today", default=None)


@contextmanager
def anchored_today(day: dt.date | None) -> Iterator[None]:
    """Read "this year" and "last month" against ``day`` instead of the clock (an evaluation
    anchors them on its corpus, whose queries were written then)."""
    token = _TODAY.set(day)
    try:
        yield
    finally:
        _TODAY.reset(token)


def interpret(text: str, *, today: dt.date | None = None) -> Interpretation:
    """The chips of ``text`` (each value once, in the order of the query)."""
    lexicon = load_lexicon()
    today = today or _TODAY.get() or dt.date.today()
    chips = _amounts(text, lexicon) + _times(text, today)
    taken = [(c.start, c.end) for c in chips]
    chips += _named(text, "currency", [(p, code) for code, p in lexicon.currencies.items()], taken)
    chips += _named(text, "vendor", lexicon.vendors, taken)
    chips += _named(text, "jurisdiction", lexicon.jurisdictions, taken)
    chips += _named(text, "jurisdiction", [(p, name) for name, p in lexicon.places.items()], taken)
    topic_chips = _named(text, "topic", [(p, slug) for slug, p in lexicon.topic_names.items()], taken)
    for slug, pattern in lexicon.topics.items():
        if all(c.value != slug for c in topic_chips) and (m := pattern.search(text)):
            topic_chips.append(Chip("topic", slug, slug, m.start(), m.end()))
    chips += topic_chips
    for fact, pattern in lexicon.facts.items():
        if m := pattern.search(text):
            chips.append(Chip("fact", fact, fact.replace("-", " "), m.start(), m.end()))
    unique: dict[str, Chip] = {}
    excluded: list[Chip] = []
    for chip in sorted(chips, key=lambda c: c.start):
        if not NEGATION.search(text[max(0, chip.start - 40):chip.start]):
            unique.setdefault(chip.key, chip)
        elif chip.kind == "currency":
            excluded.append(chip)
    if excluded:  # "raised in currencies other than US dollars or euros": every other currency
        codes = sorted({c.value for c in excluded})
        other = Chip("currency", "!" + ",".join(codes), "currency not " + " or ".join(codes),
                     excluded[0].start, excluded[-1].end)
        unique.setdefault(other.key, other)
    return Interpretation(text, list(unique.values()))


# "other than US dollars", "sauf la Chine", "außer Nvidia": what follows is excluded, not asked for.
NEGATION = re.compile(r"(?:other than|except(?: for)?|excluding|apart from|not in|outside|autres? que|sauf"
                      r"|hors|à l['’]exception d[eu']|außer|ausgenommen|ohne|nicht in)\W+(?:\w+\W+){0,3}$",
                      re.IGNORECASE)


FUNDING_KINDS = {
    "valuation": "f.valuation is not null",
    "acquisition": "f.kind = 'acquisition'",
    "debt": "f.kind in ('debt', 'mixed')",
    "funding-round": ("f.kind not in ('acquisition', 'valuation-only') "
                      "and coalesce(f.status, '') != 'cumulative'"),
}


@dataclass
class Condition:
    """What a chip asks of an article's stored rows: ``test``, a condition on ``a.id`` (correlated:
    index lookups per article), and ``rows``, a FROM ... WHERE clause that lists the matching
    articles from the fact table itself (None for a topic or place: too common to list)."""

    test: str
    rows: str | None
    args: list[Any]
    latest: str = "a.published_at"  # what orders ``rows`` newest first (a fact table's own index)


def _condition(chip: Chip, lexicon: Lexicon) -> Condition:
    kind, value = chip.kind, chip.value
    entity = "article_entities ae join entities e on e.id = ae.entity_id"
    if kind == "vendor":
        where = "e.kind = 'vendor' and e.name = ? and ae.role = 'main'"
        return Condition(f"exists (select 1 from {entity} where ae.article_id = a.id and {where})",
                         f"{entity} join articles a on a.id = ae.article_id where {where}", [value],
                         "ae.article_id")
    if kind == "topic":
        return Condition("exists (select 1 from article_topics t where t.article_id = a.id and t.topic = ?)",
                         None, [value])
    if kind == "jurisdiction":
        places = [value, *(sorted(lexicon.eu_members) if value == "EU" else [])]
        vendors = [v for v, c in lexicon.country.items() if c in places] or [""]
        where = (f"((e.kind = 'jurisdiction' and e.name in ({','.join('?' * len(places))})) or (e.kind = "
                 f"'vendor' and ae.role = 'main' and e.name in ({','.join('?' * len(vendors))})))")
        return Condition(f"exists (select 1 from {entity} where ae.article_id = a.id and {where})", None,
                         [*places, *vendors])
    if kind == "time":
        since, until = value.split("/")
        where = "a.published_at >= ? and a.published_at < ?"
        return Condition(where, f"articles a where {where}", [since, until])
    funding = "funding_events f"
    args: list[Any] = []
    if kind == "currency" and value.startswith("!"):
        codes = value[1:].split(",")
        where, args = f"f.currency not in ({','.join('?' * len(codes))})", codes
    elif kind == "currency":
        where, args = "f.currency = ?", [value]
    elif kind == "amount":
        funding += " join funding_ledger l on l.id = f.event_id"
        where, args = "l.amount_usd >= ? and l.status != 'cumulative'", [float(value)]
    elif value in FUNDING_KINDS:
        where = FUNDING_KINDS[value]
    else:  # an export licence: an article on export controls
        return _condition(Chip("topic", "export-controls", "export-controls"), lexicon)
    return Condition(f"exists (select 1 from {funding} where f.article_id = a.id and {where})",
                     f"{funding} join articles a on a.id = f.article_id where {where}", args, "f.article_id")


# Per chip that lists its articles, this many of the latest stored join the candidates.
FACT_CANDIDATES = 200


def facts_ranking(db: Database, interpretation: Interpretation, filters: Filters,
                  candidates: list[int]) -> list[tuple[int, float]]:
    """The articles whose stored rows satisfy every kind of chip (two chips of one kind, "in euros
    or pounds", are alternatives), in ``candidates``' order, then the newest: drawn from the
    candidates and the latest articles of each chip that lists its own."""
    chips = interpretation.chips
    if not chips:
        return []
    lexicon = load_lexicon()
    where, params = filters.sql()
    base = f" and {where}" if where else ""
    conditions = [_condition(c, lexicon) for c in chips]
    pool = set(candidates)
    for condition in conditions:
        if condition.rows:  # a fact table's latest rows by its own index (ids grow as articles come)
            pool.update(r[0] for r in db.execute(
                f"select a.id from {condition.rows}{base} order by {condition.latest} desc limit ?",
                [*condition.args, *params, FACT_CANDIDATES]))
    if not pool:
        return []
    ids = sorted(pool)
    marks = ",".join("?" * len(ids))
    kinds = {c.kind for c in chips}
    satisfied: dict[int, set[str]] = {aid: set() for aid in ids}
    for condition, chip in zip(conditions, chips, strict=True):
        rows = db.execute(f"select a.id from articles a where a.id in ({marks}) and {condition.test}",
                          [*ids, *condition.args])
        for (aid,) in rows:
            satisfied[aid].add(chip.kind)
    answering = [aid for aid in ids if satisfied[aid] == kinds]
    order = {aid: i for i, aid in enumerate(candidates)}
    newest = {aid: i for i, (aid,) in enumerate(db.execute(
        f"select id from articles where id in ({','.join('?' * len(answering))}) "
        "order by published_at desc", answering))} if answering else {}
    answering.sort(key=lambda aid: order.get(aid, len(order) + newest[aid]))
    return [(aid, 1.0) for aid in answering]
