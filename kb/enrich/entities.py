"""The entities stage: vendor and jurisdiction mentions per article, from the gazetteer."""

from __future__ import annotations

from typing import cast

from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.enrich.gazetteer import Gazetteer, load_gazetteer
from kb.enrich.vendor_roles import load_role_model
from kb.store.stages import delete_for, mark_done, pending

STAGE = "entities"
LEAD_CHARS = 600


def is_about_jurisdiction(mentions: int, in_lead: bool) -> bool:
    """A jurisdiction is what the article is about when named twice, or once in its title or lead."""
    return mentions >= 2 or in_lead


def entity_id(db: Database, kind: str, name: str, cache: dict[tuple[str, str], int]) -> int:
    key = (kind, name)
    if key not in cache:
        row = next(db["entities"].rows_where("kind = ? and name = ?", [kind, name]), None)
        found = row["id"] if row else db.table("entities").insert({"kind": kind, "name": name}).last_pk
        cache[key] = cast(int, found)
    return cache[key]


def tag_entities(db: Database, *, gazetteer: Gazetteer | None = None, quiet: bool = False) -> int:
    """Write article_entities for new or changed articles, each vendor with its role. Returns how
    many were processed."""
    gazetteer = gazetteer or load_gazetteer()
    roles = load_role_model()
    version = f"{gazetteer.version}:{roles.version}"
    todo = pending(db, STAGE, version)
    cache: dict[tuple[str, str], int] = {}
    for batch in in_batches(todo, 500, desc=STAGE, quiet=quiet):
        rows = []
        for a in batch:
            text = f"{a['title'] or ''}. {a['text'] or ''}"
            lead = gazetteer.mentions(text[:LEAD_CHARS])
            vendor_roles = roles.roles(a["title"] or "", a["text"] or "", gazetteer)
            for (kind, name), count in gazetteer.mentions(text).items():
                if kind == "jurisdiction" and not is_about_jurisdiction(count, (kind, name) in lead):
                    continue
                rows.append({"article_id": a["id"], "entity_id": entity_id(db, kind, name, cache),
                             "mentions": count, "method": "gazetteer",
                             "role": vendor_roles.get(name, "mentioned") if kind == "vendor" else "main"})
        with db.conn:
            delete_for(db, "article_entities", [a["id"] for a in batch], " and method = 'gazetteer'")
            db.table("article_entities").insert_all(rows, pk=("article_id", "entity_id"), replace=True)
            mark_done(db, STAGE, version, batch)
    return len(todo)
