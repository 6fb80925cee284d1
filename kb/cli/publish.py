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
@click.option("--since", help="Only articles published on or after this day (YYYY-MM-DD, 7d, last-week...).")
@click.option("--topic", help="Only articles with this topic slug.")
@friendly_errors
def export(db_path: str, since: str | None, topic: str | None) -> None:
    """Print one JSON object per article per line (JSON Lines).

    \b
    Example:
      kb export --since 2026-11-01 > articles.jsonl
    """
    from kb.publish.export import iter_export
    from kb.search.filters import Known, parse_filters
    from kb.store.connection import open_db

    db = open_db(db_path, create=False)
    filters = parse_filters({"since": since, "topic": topic}, Known.from_db(db))
    for record in iter_export(db, since=filters.since, topic=filters.topic):
        click.echo(json.dumps(record, ensure_ascii=False))



@click.command()
@db_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--public", is_flag=True,
              help="Settings for an instance on the internet (behind a reverse proxy): needs a base "
                   "URL; no CSV streaming of whole tables. See docs/web.md.")
@click.option("--base-url", metavar="URL",
              help="The public address links, feed ids and unsubscribe links use (else $KB_BASE_URL, "
                   "the config's base_url, or the address served).")
@click.option("--no-sql", is_flag=True, help="Refuse arbitrary SQL (canned queries still run).")
@click.option("--subscribers-db", "private_path", type=click.Path(dir_okay=False), default=None,
              help="Subscribers database, for one-click unsubscribe (default: the config's "
                   "subscribers_db, else <db stem>.private.db).")
@friendly_errors
def serve(db_path: str, config_name: str | None, host: str, port: int, public: bool,
          base_url: str | None, no_sql: bool, private_path: str | None) -> None:
    """Serve the knowledge base with Datasette and the project's configuration.

    \b
    Examples:
      kb serve                                    # http://127.0.0.1:8001/
      kb serve --public --base-url https://news.example.org --no-sql
    """
    import os

    from kb.core.config import load_config, resolve_base_url
    from kb.core.errors import ConfigError
    from kb.publish.digest.subscribers import private_db_path
    from kb.publish.protect import ServeOptions
    from kb.publish.serve import default_base_url, run_datasette

    config = load_config(config_name)
    url = resolve_base_url(base_url, os.environ, config)
    if public and not url:
        raise ConfigError("--public needs the instance's public address: pass --base-url URL, set "
                          "KB_BASE_URL, or base_url in the configuration")
    private = private_db_path(db_path, private_path or config.subscribers_db)
    options = ServeOptions(base_url=url or default_base_url(host, port), public=public,
                           allow_sql=not no_sql, private_db=str(private.resolve()))
    run_datasette(db_path, host=host, port=port, options=options)
