"""Source health figures, for `kb sources` and the run summary."""

from __future__ import annotations

from typing import Any

from sqlite_utils.db import Database

from kb.timeutil import utcnow


def _pct(part: int | None, whole: int | None) -> str:
    return f"{100 * (part or 0) / whole:.0f}" if whole else "-"


def source_rows(db: Database, *, now: str | None = None) -> list[dict[str, Any]]:
    """Every source with its health, failing ones first.

    Adds ``not_modified_pct`` (304 or unchanged-body rate), ``extract_pct`` (pages that gave text)
    and ``backed_off`` (true while a failing source waits for ``next_due_at``).
    """
    now = now or utcnow()
    rows = []
    for r in db.query("select * from sources order by consecutive_failures desc, id"):
        pages = (r["pages_ok"] or 0) + (r["pages_failed"] or 0)
        rows.append({
            **r,
            "not_modified_pct": _pct(r["not_modified_count"], r["fetch_count"]),
            "extract_pct": _pct(r["pages_ok"], pages),
            "backed_off": bool(r["next_due_at"] and r["next_due_at"] > now),
        })
    return rows
