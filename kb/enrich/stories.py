"""The stories stage: coverage of one event by several outlets grouped into one story.

Articles are taken in time order; each joins the story whose articles (within a few days) it is
most similar to on average, if that similarity clears a threshold, or starts a new one. Similarity
mixes the multilingual model's lead vectors (so a French and an English report meet), the English
model's where both are English, and language-independent signals: shared vendors, shared funding
amounts and shared policy references. A story's id comes from its first article's URL, so it
stays put as articles join.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlite_utils.db import Database

from kb.enrich.embed import from_blob, model_for

STAGE = "stories"
VERSION = "stories-1"
WINDOW = timedelta(days=4)
THRESHOLD = 0.62


@dataclass
class Signals:
    id: int
    url: str
    title: str
    source: str
    lang: str
    when: datetime
    multi: np.ndarray | None
    primary: np.ndarray | None
    vendors: set[str] = field(default_factory=set)
    amounts: set[tuple[int, str]] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)


def _lead_vectors(db: Database, model: str | None) -> dict[int, np.ndarray]:
    if not model:
        return {}
    return {r[0]: from_blob(r[1]) for r in db.execute(
        "select article_id, vector from embeddings where model = ? and passage = 0", [model])}


def load_signals(db: Database) -> list[Signals]:
    multi = _lead_vectors(db, model_for(db, "multilingual"))
    primary = _lead_vectors(db, model_for(db, "primary"))
    vendors: dict[int, set[str]] = {}
    for aid, name in db.execute("select ae.article_id, e.name from article_entities ae join entities e "
                                "on e.id = ae.entity_id where e.kind = 'vendor'"):
        vendors.setdefault(aid, set()).add(name)
    amounts: dict[int, set[tuple[int, str]]] = {}
    for aid, amount, currency in db.execute("select article_id, amount, currency from funding_events"):
        amounts.setdefault(aid, set()).add((round(float(amount) / 1e6), currency))
    refs: dict[int, set[str]] = {}
    for aid, ref in db.execute("select article_id, ref from policy_refs"):
        refs.setdefault(aid, set()).add(ref)
    out = []
    for r in db.query("select id, url, title, source_id, lang, published_at from articles "
                      "order by published_at, id"):
        out.append(Signals(
            id=r["id"], url=r["url"], title=r["title"] or "", source=r["source_id"] or "",
            lang=r["lang"] or "", when=datetime.fromisoformat(r["published_at"]),
            multi=multi.get(r["id"]), primary=primary.get(r["id"]),
            vendors=vendors.get(r["id"], set()), amounts=amounts.get(r["id"], set()),
            refs=refs.get(r["id"], set())))
    return out


def similarity(a: Signals, b: Signals) -> float:
    """How likely two articles report the same event, on a 0..1-ish scale."""
    sims = []
    if a.multi is not None and b.multi is not None:
        sims.append(float(a.multi @ b.multi))
    if a.primary is not None and b.primary is not None and a.lang == b.lang == "en":
        sims.append(float(a.primary @ b.primary))
    score = sum(sims) / len(sims) if sims else 0.0
    if a.vendors and b.vendors:
        score += 0.08 * len(a.vendors & b.vendors) / len(a.vendors | b.vendors)
    if a.amounts & b.amounts:
        score += 0.12
    if a.refs & b.refs:
        score += 0.06
    return score


def story_id(first_url: str) -> str:
    return "st-" + hashlib.sha1(first_url.encode()).hexdigest()[:12]


def assign(signals: list[Signals], known: dict[int, str], *,
           threshold: float = THRESHOLD) -> dict[int, str]:
    """Article id -> story id; articles in ``known`` keep their story."""
    stories: dict[str, list[Signals]] = {}
    result: dict[int, str] = {}
    for s in signals:
        if s.id in known:
            result[s.id] = known[s.id]
            stories.setdefault(known[s.id], []).append(s)
            continue
        best, best_score = None, threshold
        for sid, members in stories.items():
            recent = [m for m in members if abs(s.when - m.when) <= WINDOW]
            if not recent or any(m.source == s.source for m in recent):
                continue
            score = sum(similarity(s, m) for m in recent) / len(recent)
            if score > best_score:
                best, best_score = sid, score
        sid = best or story_id(s.url)
        result[s.id] = sid
        stories.setdefault(sid, []).append(s)
    return result


def cluster_stories(db: Database, *, threshold: float = THRESHOLD, quiet: bool = False) -> int:
    """Assign new articles to stories (all of them when the rules changed); refresh story rows."""
    stale = db.execute("select count(*) from enrichment_state where stage = ? and version != ?",
                       [STAGE, VERSION]).fetchone()[0]
    known = {} if stale else {r[0]: r[1] for r in db.execute(
        "select article_id, story_id from story_articles")}
    signals = load_signals(db)
    todo = [s for s in signals if s.id not in known]
    if not todo:
        return 0
    assignment = assign(signals, known, threshold=threshold)
    by_id = {s.id: s for s in signals}
    members: dict[str, list[Signals]] = {}
    for aid, sid in assignment.items():
        members.setdefault(sid, []).append(by_id[aid])
    with db.conn:
        if stale:
            db.execute("delete from story_articles")
            db.execute("delete from stories")
        touched = {assignment[s.id] for s in todo}
        db.table("stories").upsert_all((_story_row(sid, members[sid]) for sid in touched), pk="id")
        db.table("story_articles").insert_all(
            ({"story_id": assignment[s.id], "article_id": s.id} for s in todo),
            pk=("story_id", "article_id"), replace=True)
        db.table("enrichment_state").upsert_all(
            ({"stage": STAGE, "article_id": s.id, "input_hash": "", "version": VERSION,
              "done_at": ""} for s in todo), pk=("stage", "article_id"))
    return len(todo)


def _story_row(sid: str, members: list[Signals]) -> dict:
    members = sorted(members, key=lambda m: m.when)
    english = [m for m in members if m.lang == "en"] or members
    return {"id": sid, "headline": english[0].title,
            "first_seen": members[0].when.isoformat(), "last_seen": members[-1].when.isoformat(),
            "article_count": len(members), "outlet_count": len({m.source for m in members})}
