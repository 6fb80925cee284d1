"""Sources a user manages from the shell: added, removed, disabled, enabled, retried now.

Configured sources live in the configuration file and are refreshed in the database on every
crawl; sources added with `kb sources add` or `import` live only here (origin ``added``). Whether a
source is enabled is always the database's: it survives edits of the file.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict
from typing import Any

from sqlite_utils.db import Database

from kb.core.config import Source
from kb.core.errors import KbError
from kb.store.writes import save_source


class SourceError(KbError):
    """A source that cannot be added, found or changed as asked."""

    exit_code = 2


def find_source(db: Database, key: str) -> dict[str, Any]:
    """The source whose id or feed URL is ``key``."""
    row = db.execute("select * from sources where (id = ? or feed_url = ?) and origin != 'removed'",
                     [key, key]).fetchone()
    if row is None:
        ids = [r[0] for r in db.execute("select id from sources where origin != 'removed'")]
        close = difflib.get_close_matches(key, ids, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (kb sources lists them)"
        raise SourceError(f"unknown source {key!r}{hint}")
    columns = [d[0] for d in db.execute("select * from sources limit 0").description]
    return dict(zip(columns, row, strict=True))


def add_source(db: Database, source: Source) -> bool:
    """Add a source from the shell; False when its feed is already a source (nothing changes)."""
    known = db.execute("select id from sources where feed_url = ? and origin != 'removed'",
                       [source.feed_url]).fetchone()
    if known:
        return False
    taken = db.execute("select 1 from sources where id = ? and origin != 'removed'", [source.id])
    if taken.fetchone():
        raise SourceError(f"a source with id {source.id!r} exists already: give another with --id")
    with db.conn:
        db.execute("delete from sources where id = ? and origin = 'removed'"
                   " and not exists (select 1 from articles where source_id = sources.id)", [source.id])
        save_source(db, asdict(source), origin="added")
        db.execute("update sources set origin = 'added', enabled = 1 where id = ?", [source.id])
    return True


def remove_source(db: Database, key: str) -> str:
    """Stop crawling an added source. Its articles stay (the source row is kept, hidden, while any
    article needs it). A configured source is removed from the configuration file instead."""
    row = find_source(db, key)
    if row["origin"] == "config":
        raise SourceError(f"{row['id']!r} is defined in the configuration file: remove it there, "
                          f"or disable it with kb sources disable {row['id']}")
    with db.conn:
        if db.execute("select 1 from articles where source_id = ? limit 1", [row["id"]]).fetchone():
            db.execute("update sources set origin = 'removed', enabled = 0 where id = ?", [row["id"]])
        else:
            db.execute("delete from sources where id = ?", [row["id"]])
    return str(row["id"])


def set_enabled(db: Database, key: str, enabled: bool) -> str:
    row = find_source(db, key)
    with db.conn:
        db.execute("update sources set enabled = ? where id = ?", [int(enabled), row["id"]])
    return str(row["id"])


def retry_now(db: Database, keys: list[str]) -> list[str]:
    """Make backed-off sources (these, or all) due at the next crawl; their failure count stays,
    so another failure backs them off for longer."""
    ids = [find_source(db, k)["id"] for k in keys] if keys else [
        r[0] for r in db.execute("select id from sources where next_due_at is not null")]
    with db.conn:
        db.conn.executemany("update sources set next_due_at = null where id = ?", [(i,) for i in ids])
    return ids


def listed_sources(db: Database) -> list[Source]:
    """Every source that is not removed, as Source records (for export)."""
    rows = db.query("select id, name, feed_url, homepage, lang from sources "
                    "where origin != 'removed' order by id")
    return [Source(**r) for r in rows]
