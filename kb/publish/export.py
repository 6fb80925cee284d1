"""`kb export`: one JSON object per article, in the shape of the public interface."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlite_utils.db import Database

from kb.enrich.ledger import KIND_NAMES, convert


def iter_export(db: Database, *, since: str | None = None,
                topic: str | None = None) -> Iterator[dict[str, Any]]:
    """Articles newest first, each with its topics, vendors, jurisdictions, funding and story."""
    where, params = ["1 = 1"], []
    if since:
        where.append("a.published_at >= ?")
        params.append(since)
    if topic:
        where.append("a.id in (select article_id from article_topics where topic = ?)")
        params.append(topic)
    sql = (
        "select a.*, s.name as source_name from articles a left join sources s "
        f"on s.id = a.source_id where {' and '.join(where)} order by a.published_at desc, a.id"
    )
    for row in db.query(sql, params):
        yield _record(db, row)


def _record(db: Database, row: dict[str, Any]) -> dict[str, Any]:
    aid = row["id"]
    entities: dict[str, list[str]] = {"vendor": [], "vendor_mention": [], "jurisdiction": []}
    set_by: dict[str, dict[str, str]] = {"vendors": {}, "jurisdictions": {}}
    for e in db.query(
        "select e.kind, e.name, ae.method, ae.role from article_entities ae join entities e "
        "on e.id = ae.entity_id where ae.article_id = ? order by ae.mentions desc, e.name", [aid]
    ):
        key = "vendor_mention" if e["kind"] == "vendor" and e["role"] == "mentioned" else e["kind"]
        entities.setdefault(key, []).append(e["name"])
        set_by.setdefault(e["kind"] + "s", {})[e["name"]] = e["method"]
    story = next(db.query("select story_id from story_articles where article_id = ?", [aid]), None)
    return {
        "url": row["url"],
        "title": row["title"],
        "published": row["published_at"],
        "source": row["source_name"] or row["source_id"],
        "author": _authors(row),
        "byline_org": row.get("byline_org"),
        "modified": row.get("modified_at"),
        "lang": row["lang"],
        "text": row["text"],
        "topics": [
            {"slug": t["topic"], "score": round(t["score"], 3), "method": t["method"]}
            for t in db.query("select topic, score, method from article_topics "
                              "where article_id = ? order by score desc", [aid])
        ],
        "vendors": entities["vendor"],
        "vendor_mentions": entities["vendor_mention"],
        "jurisdictions": entities["jurisdiction"],
        "funding_events": [_funding_event(f) for f in db.query(
            "select f.*, substr(l.first_reported, 1, 10) as day, l.amount_usd as event_usd, "
            "l.amount_eur as event_eur, l.currency as event_currency, l.amount as event_amount "
            "from funding_events f left join funding_ledger l on l.id = f.event_id "
            "where f.article_id = ? order by f.id", [aid])],
        "story_id": story["story_id"] if story else None,
        "summary": _summary(db, aid, row),
        "set_by": set_by,
        "updated": row["updated_at"],
        "version": row["version"],
    }


def _funding_event(f: dict[str, Any]) -> dict[str, Any]:
    """One funding mention in the interface's shape: the figures the article states, its status,
    and its event's id with the USD and EUR values (at the event's first report)."""
    same = f["event_currency"] == f["currency"] and f["event_amount"] == f["amount"]
    usd, eur = (f["event_usd"], f["event_eur"]) if same else _converted(f)
    return {"event_id": f["event_id"], "company": f["company"], "amount": f["amount"],
            "currency": f["currency"], "amount_usd": usd, "amount_eur": eur,
            "kind": KIND_NAMES.get(f["kind"], f["kind"]), "status": f["status"],
            "round": f["round"], "valuation": f["valuation"], "valuation_currency":
            f["currency"] if f["valuation"] else None,
            "investors": json.loads(f["investors"] or "[]"), "method": f["method"]}


def _converted(f: dict[str, Any]) -> tuple[float | None, float | None]:
    if f["event_id"] is None:
        return None, None
    usd, eur, _ = convert(f["amount"], f["currency"] or "", date.fromisoformat(f["day"]))
    return usd, eur


def _authors(row: dict[str, Any]) -> list[str]:
    """People only; rows stored before authors were kept as a list give their byline split."""
    if row.get("authors"):
        return list(json.loads(row["authors"]))
    return [a.strip() for a in (row.get("author") or "").split(";") if a.strip()]


def _summary(db: Database, aid: int, row: dict[str, Any]) -> str | None:
    found = next(db.query("select summary from article_summaries where article_id = ?", [aid]), None)
    if found:
        return found["summary"]
    return row["summary"] or None

