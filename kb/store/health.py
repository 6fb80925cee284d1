"""Source health: each run's page outcomes per source, and the figures `kb sources` shows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlite_utils.db import Database

from kb.core.clock import utcnow


def add_page_health(db: Database, source_id: str, *, ok: int, failed: int) -> None:
    """Add a run's page outcomes to the source's extraction success figures."""
    with db.conn:
        db.execute(
            "update sources set pages_ok = coalesce(pages_ok, 0) + ?, "
            "pages_failed = coalesce(pages_failed, 0) + ? where id = ?",
            [ok, failed, source_id],
        )


# An article stored with only its feed text: the page could not be fetched or yielded no text.
FEED_ONLY = ("feed_only", "fetch_failed")


class PageHealth:
    """A run's page outcomes per source, kept in memory and added to the sources at the end (one
    write per source), by the single-process crawl and by `kb ingest` alike."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}

    def record(self, source_id: str, *, extraction: str | None, page_error: str | None) -> None:
        ok = not page_error and extraction not in FEED_ONLY
        self.counts.setdefault(source_id, Counter())["ok" if ok else "failed"] += 1

    def save(self, db: Database) -> None:
        for source_id, counts in self.counts.items():
            add_page_health(db, source_id, ok=counts["ok"], failed=counts["failed"])
        self.counts.clear()


def _pct(part: int | None, whole: int | None) -> str:
    return f"{100 * (part or 0) / whole:.0f}" if whole else "-"


def source_rows(db: Database, *, now: str | None = None) -> list[dict[str, Any]]:
    """Every source (not removed) with its health, failing ones first.

    Adds ``state`` (ok, failing, backed off, disabled or new), ``articles``, ``not_modified_pct``
    (304 or unchanged-body rate), ``extract_pct`` (pages that gave text) and ``backed_off`` (true
    while a failing source waits for ``next_due_at``).
    """
    now = now or utcnow()
    rows = []
    counts = dict(db.execute("select source_id, count(*) from articles group by source_id").fetchall())
    for r in db.query("select * from sources where origin != 'removed' "
                      "order by consecutive_failures desc, id"):
        pages = (r["pages_ok"] or 0) + (r["pages_failed"] or 0)
        backed_off = bool(r["next_due_at"] and r["next_due_at"] > now)
        rows.append({
            **r,
            "state": _state(r, backed_off),
            "articles": counts.get(r["id"], 0),
            "not_modified_pct": _pct(r["not_modified_count"], r["fetch_count"]),
            "extract_pct": _pct(r["pages_ok"], pages),
            "backed_off": backed_off,
        })
    return rows


def _state(row: dict[str, Any], backed_off: bool) -> str:
    if not row["enabled"]:
        return "disabled"
    if backed_off:
        return "backed off"
    if row["last_status"] == "failed":
        return "failing"
    return "ok" if row["last_status"] else "new"
