import sqlite_utils
from sqlite_utils.utils import sqlite3

from kb.store.connection import open_db
from kb.store.migrations import MIGRATIONS, applied_migrations, migrate, schema_version
from kb.store.writes import save_article


def article(url="https://example.com/a", text="Some text about AI."):
    return {"url": url, "original_url": url, "title": "A", "text": text,
            "fetched_at": "2026-10-01T00:00:00+00:00", "published_at": "2026-10-01T00:00:00+00:00"}


def test_init_records_every_migration_and_is_safe_twice(tmp_path):
    db = open_db(tmp_path / "kb.db")
    assert applied_migrations(db) == [name for name, _ in MIGRATIONS]
    assert schema_version(db) == len(MIGRATIONS)
    assert migrate(db) == 0
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_upgrade_from_the_first_schema_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    first_name, first = MIGRATIONS[0]
    first(db)
    db["schema_migrations"].insert({"name": first_name, "applied_at": "2026-01-01"})
    db["articles"].insert({"url": "https://example.com/old", "title": "Old", "text": "kept"})
    db.close()
    upgraded = open_db(path)
    assert applied_migrations(upgraded) == [name for name, _ in MIGRATIONS]
    assert [r["title"] for r in upgraded["articles"].rows] == ["Old"]
    hits = upgraded.execute("select rowid from articles_fts where articles_fts match 'kept'").fetchall()
    assert len(hits) == 1


def test_fts_follows_inserts_and_updates(tmp_path):
    db = open_db(tmp_path / "kb.db")
    assert save_article(db, article(text="Mistral raised money")) == "new"
    assert save_article(db, article(text="Mistral raised debt")) == "updated"
    found = db.execute("select rowid from articles_fts where articles_fts match 'debt'").fetchall()
    gone = db.execute("select rowid from articles_fts where articles_fts match 'money'").fetchall()
    assert len(found) == 1 and gone == []


def test_unreadable_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    import pytest

    from kb.core.errors import DatabaseError
    with pytest.raises(DatabaseError, match="cannot open"):
        open_db(path)


def test_foreign_keys_are_enforced(tmp_path):
    db = open_db(tmp_path / "kb.db")
    import pytest
    with pytest.raises(sqlite3.IntegrityError):  # the driver sqlite-utils uses
        db["article_topics"].insert({"article_id": 999, "topic": "nope", "score": 1.0})


def test_docs_describe_every_table_and_column(tmp_path):
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "schema.md").read_text()
    db = open_db(tmp_path / "kb.db")
    for table in db.table_names():
        if table.startswith("articles_fts"):
            continue
        assert f"`{table}`" in doc, f"docs/schema.md does not describe {table}"
        for column in db[table].columns:
            assert f"`{column.name}`" in doc, f"docs/schema.md misses {table}.{column.name}"


def test_a_newer_schema_is_refused_and_left_as_it_is(tmp_path):
    import pytest
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.core.errors import SchemaTooNew

    path = tmp_path / "kb.db"
    open_db(path).execute("PRAGMA user_version = 99")
    for create in (True, False):
        with pytest.raises(SchemaTooNew, match=r"written by a newer aiwatch \(schema 99 > "):
            open_db(path, create=create)
    result = CliRunner().invoke(cli, ["init", "--db", str(path)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert sqlite_utils.Database(path).execute("PRAGMA user_version").fetchone()[0] == 99


def test_readers_ask_for_kb_init_on_an_older_schema_and_writers_migrate_it(tmp_path):
    import pytest
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.core.errors import SchemaTooOld

    path = tmp_path / "kb.db"
    open_db(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    with pytest.raises(SchemaTooOld, match="run 'kb init'"):
        open_db(path, create=False)
    result = CliRunner().invoke(cli, ["export", "--db", str(path)])
    assert result.exit_code == 1 and "run 'kb init'" in result.stderr
    assert "Traceback" not in result.output
    assert schema_version(open_db(path)) == len(MIGRATIONS)
    assert open_db(path, create=False)


def test_the_legacy_migration_record_is_carried_over_once(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    for name, fn in MIGRATIONS[:2]:
        fn(db)
        db["schema_migrations"].insert({"name": name, "applied_at": "2026-01-01"})
    db.close()
    upgraded = open_db(path)
    assert applied_migrations(upgraded) == [name for name, _ in MIGRATIONS]
    assert not upgraded["schema_migrations"].exists()
    assert migrate(upgraded) == 0


def test_opening_the_database_loads_no_search_model_or_stage(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from kb.store.connection import open_db; "
            f"open_db({str(tmp_path / 'kb.db')!r}); "
            "print(sorted(m for m in sys.modules if m.startswith(('kb.', 'torch', 'crawlers'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "kb.store.connection" in out
    for heavy in ("kb.search", "kb.enrich", "kb.publish", "kb.crawl", "torch", "crawlers"):
        assert f"'{heavy}" not in out, out
