"""Analysts' corrections: confirm or reject a topic, vendor, jurisdiction or funding row, or set a
vendor's role (main or mentioned).

Corrections live in `reviews` and are applied after every enrichment run, so a person's word
overrides the machine on every later run; the rows they set carry method 'person'.
"""

from __future__ import annotations

import difflib
from typing import cast

from sqlite_utils.db import Database

from kb.core.clock import utcnow
from kb.core.errors import KbError
from kb.core.names import FilterError, canonical

TARGETS = ("topic", "vendor", "jurisdiction", "funding")
ROLES = ("main", "mentioned")


class ReviewError(KbError):
    """A correction that names something that does not exist."""


def funding_signature(company: str | None, amount: float, currency: str) -> str:
    return f"{company}|{int(round(float(amount)))}|{currency}"


def save_review(db: Database, *, article_id: int, target: str, value: str, verdict: str,
                reviewer: str, note: str | None = None, new: bool = False) -> int:
    """Record (or replace) a correction and apply it at once. Returns the review id.

    A topic, vendor or jurisdiction must be known (the taxonomy, the gazetteer, or the entities
    stored so far; any case): ``new`` confirms a vendor or jurisdiction nobody has named yet.
    """
    if target not in TARGETS:
        raise ReviewError(f"unknown target {target!r} (use {', '.join(TARGETS)})")
    if verdict not in ("confirm", "reject", *ROLES):
        raise ReviewError("the verdict must be confirm or reject (or main or mentioned)")
    if verdict in ROLES and target != "vendor":
        raise ReviewError(f"only a vendor has a role; a {target} is confirmed or rejected")
    if not db.execute("select 1 from articles where id = ?", [article_id]).fetchone():
        raise ReviewError(f"no article with id {article_id}")
    if target == "topic":
        value = canonical("topic", value, [r[0] for r in db.execute("select slug from topics")])
    if target in ("vendor", "jurisdiction") and not new:
        try:
            value = canonical(target, value, known_names(db, target))
        except FilterError as exc:
            raise FilterError(f"{exc}; --new adds a {target} nobody has named yet") from None
    if target == "funding":
        value = _funding_value(db, article_id, value)
    with db.conn:
        db.execute("delete from reviews where article_id = ? and target = ? and value = ?",
                   [article_id, target, value])
        review_id = db.table("reviews").insert({
            "article_id": article_id, "target": target, "value": value, "verdict": verdict,
            "reviewer": reviewer, "note": note, "reviewed_at": utcnow()}).last_pk
    apply_reviews(db)
    if target == "funding":
        from kb.enrich.ledger import build_ledger

        build_ledger(db)  # the ledger's events follow their mentions at once
    return cast(int, review_id)


def review_event(db: Database, *, event_id: str, verdict: str, reviewer: str,
                 note: str | None = None) -> int:
    """Confirm or reject a funding event of the ledger: the verdict is recorded for each of its
    mentions, so it holds for every article that reports the event and over every later run.
    Returns how many mentions it covered."""
    if verdict not in ("confirm", "reject"):
        raise ReviewError("an event is confirmed or rejected")
    mentions = db.execute("select id, article_id from funding_events where event_id = ?",
                          [event_id]).fetchall()
    if not mentions:
        known = [r[0] for r in db.execute("select id from funding_ledger")]
        close = difflib.get_close_matches(event_id, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ReviewError(f"no funding event {event_id}{hint}")
    for mention_id, article_id in mentions:
        save_review(db, article_id=article_id, target="funding", value=str(mention_id),
                    verdict=verdict, reviewer=reviewer, note=note)
    return len(mentions)


def known_names(db: Database, kind: str) -> list[str]:
    """The gazetteer's names of ``kind`` and those already stored (reviews add to them)."""
    from kb.enrich.gazetteer import load_gazetteer

    names = {e.name for e in load_gazetteer().entries.values() if e.kind == kind}
    names |= {r[0] for r in db.execute("select name from entities where kind = ?", [kind])}
    return sorted(names)


def _funding_value(db: Database, article_id: int, value: str) -> str:
    """A funding row is named by its id when reviewed, and stored by what it says."""
    if "|" in value:
        return value
    row = db.execute("select company, amount, currency from funding_events where id = ? and "
                     "article_id = ?", [value, article_id]).fetchone()
    if row is None:
        raise ReviewError(f"no funding event {value} in article {article_id}")
    return funding_signature(*row)


def apply_reviews(db: Database) -> int:
    """Make every correction hold over what the stages wrote. Returns how many were applied."""
    from kb.enrich.entities import entity_id

    reviews = list(db["reviews"].rows)
    cache: dict[tuple[str, str], int] = {}
    with db.conn:
        for r in reviews:
            aid, value, confirm = r["article_id"], r["value"], r["verdict"] == "confirm"
            evidence = f"{r['verdict']}ed by {r['reviewer']}" + (f": {r['note']}" if r["note"] else "")
            if r["target"] == "topic":
                db.execute("delete from article_topics where article_id = ? and topic = ?", [aid, value])
                if confirm:
                    db.table("article_topics").insert({"article_id": aid, "topic": value, "score": 1.0,
                                                 "method": "person", "evidence": evidence})
            elif r["target"] in ("vendor", "jurisdiction"):
                eid = entity_id(db, r["target"], value, cache)
                found = db.execute("select mentions from article_entities where article_id = ? and "
                                   "entity_id = ?", [aid, eid]).fetchone()
                db.execute("delete from article_entities where article_id = ? and entity_id = ?",
                           [aid, eid])
                if r["verdict"] != "reject":  # confirmed, or given a role: main unless said
                    db.table("article_entities").insert({
                        "article_id": aid, "entity_id": eid, "mentions": found[0] if found else 0,
                        "method": "person",
                        "role": r["verdict"] if r["verdict"] in ROLES else "main"})
            else:
                company, amount, currency = value.split("|")
                match = ("article_id = ? and company is ? and cast(round(amount) as integer) = ? "
                         "and currency = ?")
                params = [aid, None if company == "None" else company, int(amount), currency]
                if confirm:
                    db.execute(f"update funding_events set method = 'person' where {match}", params)
                else:
                    db.execute(f"delete from funding_events where {match}", params)
    return len(reviews)
