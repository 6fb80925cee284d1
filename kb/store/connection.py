"""Opening the knowledge base: connection settings and the one schema check."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from sqlite_utils.db import Database
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from kb.core.errors import DatabaseError, SchemaTooNew, SchemaTooOld
from kb.store.migrations import MIGRATIONS, migrate, schema_version


def connect(path: str | Path) -> Database:
    """A connection with the settings every database of ours uses: WAL, a busy timeout so readers
    and a writer coexist, and foreign keys enforced."""
    path = Path(path)
    if not path.parent.exists():
        raise DatabaseError(f"folder {path.parent} does not exist")
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA foreign_keys = ON")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def open_db(path: str | Path, *, create: bool = True, must_exist: bool = False) -> Database:
    """Open the knowledge base at ``path``, checking its schema version once.

    A writer (``create=True``) creates the file if needed and migrates an older schema forward. A
    reader (``create=False``) never changes the file: a missing database or an older schema asks
    for `kb init`. A schema from a later release is refused either way, never downgraded. A writer
    that works on what is stored (``must_exist``: enrich) refuses a missing file too.
    """
    path = Path(path)
    if (not create or must_exist) and not path.exists():
        raise DatabaseError(f"no database at {path}: run 'kb init' first")
    try:
        db = connect(path)
        check_version(db, path, writer=create)
        if create:
            migrate(db)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot open {path}: {exc}") from exc
    return db


def check_version(db: Database, path: Path, *, writer: bool) -> None:
    """The schema gate: raise SchemaTooNew for a later release's database, and SchemaTooOld for an
    older one opened by a reader."""
    found, known = schema_version(db), len(MIGRATIONS)
    if found > known:
        raise SchemaTooNew(f"this database was written by a newer aiwatch (schema {found} > {known}): "
                           f"{path} is left as it is; upgrade aiwatch to use it")
    if found < known and not writer:
        raise SchemaTooOld(f"{path} has schema version {found}; this release needs {known}: "
                           "run 'kb init' to upgrade it")
