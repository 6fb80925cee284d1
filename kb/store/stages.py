"""Bookkeeping shared by the enrichment stages: what is new or changed, and marking work done."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlite_utils.db import Database

from kb.core.clock import utcnow


def pending(db: Database, stage: str, version: str, *,
            columns: str = "a.id, a.title, a.text, a.lang, a.content_hash") -> list[dict[str, Any]]:
    """Articles whose content or the stage's rules/model version changed since the stage ran."""
    return list(db.query(
        f"select {columns} from articles a left join enrichment_state s "
        "on s.stage = ? and s.article_id = a.id "
        "where s.input_hash is null or s.input_hash != a.content_hash or s.version != ?",
        [stage, version],
    ))


def mark_done(db: Database, stage: str, version: str, articles: Iterable[dict[str, Any]]) -> None:
    db.table("enrichment_state").upsert_all(
        ({"stage": stage, "article_id": a["id"], "input_hash": a["content_hash"],
          "version": version, "done_at": utcnow()} for a in articles),
        pk=("stage", "article_id"),
    )


def delete_for(db: Database, table: str, ids: list[int], extra: str = "") -> None:
    """Remove a stage's machine-made rows for these articles before writing fresh ones."""
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"delete from {table} where article_id in ({marks}){extra}", chunk)
