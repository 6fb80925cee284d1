"""`kb init`: create or upgrade the database."""

from __future__ import annotations

import click

from kb.cli.options import (
    db_option,
    friendly_errors,
)


@click.command()
@db_option
@friendly_errors
def init(db_path: str) -> None:
    """Create or upgrade the database schema; safe to run twice.

    \b
    Example:
      kb init --db news.db
    """
    from kb.store.connection import open_db
    from kb.store.migrations import applied_migrations, schema_version

    db = open_db(db_path)
    click.echo(f"{db_path}: schema version {schema_version(db)} "
               f"({len(applied_migrations(db))} migrations applied)")
