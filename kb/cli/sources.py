"""`kb sources`: the sources and their health; add, remove, disable, enable, retry, and OPML."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlite_utils.db import Database

from kb.cli.options import db_option, friendly_errors
from kb.core.errors import KbError


def _db(db_path: str) -> Database:
    from kb.store.connection import open_db

    return open_db(db_path, create=False)


@click.group(invoke_without_command=True)
@db_option
@click.pass_context
@friendly_errors
def sources(ctx: click.Context, db_path: str) -> None:
    """List the sources with their health, or manage them (the subcommands below).

    Sources come from the configuration file and from `kb sources add` and `import`, which keep
    theirs in the database. A configured source's fields come from the file; whether any source is
    enabled is the database's (`disable` and `enable` survive edits of the file).

    \b
    Examples:
      kb sources                                   # state, articles, failures, next try
      kb sources add https://example.org/          # a homepage: its feeds are discovered
      kb sources disable example-org-1a2b3c4d
      kb sources retry                             # every backed-off source, at the next crawl
      kb sources export > feeds.opml
      kb sources import feeds.opml
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_sources, db_path=db_path)


@sources.command("list")
@db_option
@friendly_errors
def list_sources(db_path: str) -> None:
    """List sources: state, articles, failures in a row, 304 rate, extraction success, next try."""
    from kb.store.health import source_rows

    rows = source_rows(_db(db_path))
    click.echo(f"{'source':<28} {'state':<10} {'articles':>8} {'fails':>5} {'304%':>5} {'extract%':>8}"
               f"  {'next try':<16}  last error")
    for r in rows:
        next_try = r["next_due_at"][:16].replace("T", " ") if r["backed_off"] else ""
        click.echo(f"{r['id'][:28]:<28} {r['state']:<10} {r['articles']:>8} "
                   f"{r['consecutive_failures']:>5} {r['not_modified_pct']:>5} {r['extract_pct']:>8}  "
                   f"{next_try:<16}  {r['last_error'] or ''}")


@sources.command("add")
@click.argument("url")
@db_option
@click.option("--id", "source_id", help="The source's id (default: from the host and the URL).")
@click.option("--name", help="Its name (default: the feed's own title).")
@click.option("--all", "take_all", is_flag=True, help="Add every feed a homepage links to.")
@click.option("--allow-private", is_flag=True, help="Allow a private or local address.")
@friendly_errors
def add(url: str, db_path: str, source_id: str | None, name: str | None, take_all: bool,
        allow_private: bool) -> None:
    """Add a feed by its URL, or a site by its homepage (its <link rel="alternate"> feeds)."""
    from kb.crawl.discover import discover
    from kb.crawl.sources import adhoc_source
    from kb.store.sources import SourceError, add_source

    found = discover(url, allow_private=allow_private)
    if len(found) > 1 and not take_all:
        for feed in found:
            click.echo(f"  {feed.url}  {feed.title or ''}", err=True)
        raise SourceError(f"{url} links to {len(found)} feeds (above): add one by its URL, "
                          "or all of them with --all")
    db = _db(db_path)
    for feed in found:
        source = adhoc_source(feed.url, name=name or feed.title)
        source.id = source_id if source_id and len(found) == 1 else source.id
        source.homepage = feed.homepage
        added = add_source(db, source)
        click.echo(f"{'added' if added else 'already a source:'} {source.id}: {source.name} "
                   f"({source.feed_url})")


@sources.command("remove")
@click.argument("source")
@db_option
@friendly_errors
def remove(source: str, db_path: str) -> None:
    """Stop crawling a source added from the shell (its articles stay)."""
    from kb.store.sources import remove_source

    click.echo(f"removed {remove_source(_db(db_path), source)}")


@sources.command("disable")
@click.argument("source")
@db_option
@friendly_errors
def disable(source: str, db_path: str) -> None:
    """Skip a source (configured or added) until it is enabled again."""
    from kb.store.sources import set_enabled

    click.echo(f"disabled {set_enabled(_db(db_path), source, False)}")


@sources.command("enable")
@click.argument("source")
@db_option
@friendly_errors
def enable(source: str, db_path: str) -> None:
    """Crawl a disabled source again."""
    from kb.store.sources import set_enabled

    click.echo(f"enabled {set_enabled(_db(db_path), source, True)}")


@sources.command("retry")
@click.argument("source_ids", nargs=-1, metavar="[SOURCE]...")
@db_option
@friendly_errors
def retry(source_ids: tuple[str, ...], db_path: str) -> None:
    """Try backed-off sources (these, or all) at the next crawl instead of waiting."""
    from kb.store.sources import retry_now

    ids = retry_now(_db(db_path), list(source_ids))
    click.echo(f"{len(ids)} sources due at the next crawl" + (f": {', '.join(ids)}" if ids else ""))


@sources.command("import")
@click.argument("opml_file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@friendly_errors
def import_opml(opml_file: Path, db_path: str) -> None:
    """Add the feeds of an OPML file (those already sources are left as they are)."""
    from kb.crawl.opml import read_opml
    from kb.store.sources import add_source

    try:
        data = opml_file.read_bytes() if str(opml_file) != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        raise KbError(f"cannot read {opml_file}: {exc.strerror or exc}") from None
    db = _db(db_path)
    found = read_opml(data)
    added = sum(add_source(db, s) for s in found)
    click.echo(f"import: {added} sources added, {len(found) - added} already there")


@sources.command("export")
@db_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@friendly_errors
def export_opml(db_path: str, out_path: Path | None) -> None:
    """Write every source (configured ones once crawled, and added ones) as OPML 2.0."""
    from kb.crawl.opml import write_opml
    from kb.store.sources import listed_sources

    text = write_opml(listed_sources(_db(db_path)))
    if out_path is None:
        click.echo(text, nl=False)
        return
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise KbError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out_path}")
