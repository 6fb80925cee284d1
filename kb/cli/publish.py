"""`kb serve` and `kb export`: the knowledge base published to a browser or a file."""

from __future__ import annotations

import json

import click

from kb.cli.options import (
    config_option,
    db_option,
    friendly_errors,
)


@click.command()
@db_option
@click.option("--since", help="Only articles published on or after this date (YYYY-MM-DD).")
@click.option("--topic", help="Only articles with this topic slug.")
@friendly_errors
def export(db_path: str, since: str | None, topic: str | None) -> None:
    """Print one JSON object per article per line (JSON Lines).

    \b
    Example:
      kb export --since 2026-11-01 > articles.jsonl
    """
    from kb.publish.export import iter_export
    from kb.store.connection import open_db

    db = open_db(db_path, create=False)
    for record in iter_export(db, since=since, topic=topic):
        click.echo(json.dumps(record, ensure_ascii=False))



@click.command()
@db_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@friendly_errors
def serve(db_path: str, config_name: str | None, host: str, port: int) -> None:
    """Serve the knowledge base with Datasette and the project's configuration."""
    from kb.publish.serve import run_datasette

    run_datasette(db_path, host=host, port=port)
