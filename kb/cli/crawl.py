"""Crawling commands: `kb crawl` (here, or seeding a shared Redis queue), `kb update`, `kb sources`,
and past one machine `kb crawl-worker` (fetches from the queue, on any machine) and `kb ingest`
(the one SQLite writer), with `kb crawl-status`."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from kb.cli.options import (
    config_option,
    db_option,
    friendly_errors,
    parse_settings,
    quiet_option,
    setup_logging,
)
from kb.core.errors import KbError

REDIS_HELP = "Redis URL of the shared crawl queue (default: $KB_REDIS_URL, else crawl.redis_url)."


class NoRedisUrl(KbError):
    """A distributed command was run without a Redis URL."""


def redis_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--redis", "redis_url", envvar="KB_REDIS_URL", default=None, metavar="URL",
                        help=REDIS_HELP)(fn)


def redis_url_for(flag: str | None, config: Any) -> str | None:
    """The Redis URL: the flag (or $KB_REDIS_URL, which click already read), else the config's."""
    return flag or getattr(config.crawl, "redis_url", None)


def require_redis(flag: str | None, config: Any, command: str) -> str:
    url = redis_url_for(flag, config)
    if not url:
        raise NoRedisUrl(f"kb {command} needs a Redis URL: pass --redis URL or set KB_REDIS_URL")
    return url


@click.command("crawl-worker")
@config_option
@redis_option
@click.option("-s", "settings", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy setting, as 'scrapy crawl -s' takes it (repeatable).")
@click.option("--allow-private", is_flag=True,
              help="Let feeds link to private and local addresses (off by default).")
@click.option("--idle-exit", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Exit once the whole crawl has been idle this many seconds (0: run until stopped).")
@click.option("--lease", "lease_seconds", type=click.FloatRange(min=1), default=60.0,
              show_default=True,
              help="Seconds a taken request stays reserved without renewal: a dead worker's work "
                   "goes back to the queue after this.")
@quiet_option
@friendly_errors
def crawl_worker(config_name: str | None, redis_url: str | None,
                 settings: tuple[str, ...],
                 allow_private: bool, idle_exit: float, lease_seconds: float, quiet: bool) -> None:
    """Fetch and extract feeds and pages from the shared queue; push the articles to Redis.

    Run as many as you like, on as many machines: they share nothing but Redis.

    \b
    Examples:
      kb crawl-worker --redis redis://queue.internal:6379/0
      kb crawl-worker --idle-exit 0 -s KB_EXTRACT_WORKERS=4     # a long-running service
    """
    from kb.core.config import load_config
    from kb.crawl.distributed import run_worker

    overrides = parse_settings(settings)
    config = load_config(config_name)
    url = require_redis(redis_url, config, "crawl-worker")
    setup_logging(quiet)
    figures = run_worker(url, config, overrides=overrides, allow_private=allow_private,
                         idle_exit=idle_exit, lease_seconds=lease_seconds, quiet=quiet)
    click.echo(f"worker {figures['worker']}: {figures['feeds']} feeds, {figures['pages']} pages "
               f"({figures['pages_failed']} failed, {figures['refused']} refused) "
               f"in {figures['seconds']:.1f} s")


@click.command()
@db_option
@config_option
@redis_option
@click.option("--batch", type=click.IntRange(1, 10000), default=200, show_default=True,
              help="Messages saved per SQLite transaction.")
@click.option("--idle-exit", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Exit once the whole crawl has been idle this many seconds (0: run until stopped).")
@quiet_option
@friendly_errors
def ingest(db_path: str, config_name: str | None, redis_url: str | None, batch: int,
           idle_exit: float, quiet: bool) -> None:
    """Store what the crawl workers pushed: the one process that writes the database.

    \b
    Examples:
      kb ingest --redis redis://queue.internal:6379/0
      kb ingest --idle-exit 0      # a long-running service (stops cleanly on SIGTERM)
    """
    from kb.core.config import load_config
    from kb.crawl.distributed import run_ingest
    from kb.crawl.queue import connect
    from kb.crawl.run import summary_line

    url = require_redis(redis_url, load_config(config_name), "ingest")
    setup_logging(quiet)
    stopping: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    try:
        run = run_ingest(db_path, connect(url), batch=batch, idle_exit=idle_exit, quiet=quiet,
                         should_stop=lambda: bool(stopping))
    finally:
        signal.signal(signal.SIGTERM, previous)
    for error in run["errors"]:
        click.echo(f"failed: {error}", err=True)
    click.echo(f"ingest #{run['id']}: {summary_line(run)} "
               f"({run['saved']} pages stored, {run['rows_per_second']} rows/s)")


@click.command("crawl-status")
@db_option
@config_option
@redis_option
@friendly_errors
def crawl_status(db_path: str, config_name: str | None, redis_url: str | None) -> None:
    """Show the shared crawl queue (seeds, requests, leases, results waiting for kb ingest) and
    the database's last crawl or ingest run.

    \b
    Example:
      kb crawl-status --redis redis://queue.internal:6379/0
    """
    from pathlib import Path

    from kb.core.config import load_config
    from kb.crawl.queue import Keys, RedisWork, connect
    from kb.crawl.run import summary_line
    from kb.store.connection import open_db

    url = require_redis(redis_url, load_config(config_name), "crawl-status")
    pending = RedisWork(connect(url), Keys()).pending()
    for name, value in pending.items():
        click.echo(f"{name:<13} {value}")
    if Path(db_path).exists():
        db = open_db(db_path, create=False)
        run = next(db.query("select * from crawl_runs order by id desc limit 1"), None)
        if run:
            click.echo(f"last run #{run['id']} ({run['status']}, {run['finished_at'] or 'running'}): "
                       f"{summary_line(run)}")


def _seed(redis_url: str, config: Any, db_path: str, feeds: tuple[str, ...],
          settings: tuple[str, ...], allow_private: bool, quiet: bool) -> None:
    from kb.crawl.distributed import seed_crawl
    from kb.crawl.queue import connect

    setup_logging(quiet)
    if settings or allow_private:
        click.echo("note: -s and --allow-private apply to the workers: pass them to "
                   "kb crawl-worker", err=True)
    seeded = seed_crawl(db_path, config, connect(redis_url), feeds=list(feeds) or None)
    click.echo(f"round {seeded['round']}: {seeded['seeded']} feeds seeded "
               f"({seeded['skipped']} backed off), {seeded['known']} known entries published; "
               "kb crawl-worker fetches them, kb ingest stores them")


@click.command()
@db_option
@config_option
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="Crawl only this feed (repeatable); unknown feeds become ad-hoc sources.")
@click.option("-s", "settings", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy setting, as 'scrapy crawl -s' takes it (repeatable).")
@click.option("--allow-private", is_flag=True,
              help="Let feeds link to private and local addresses (off by default).")
@click.option("--reextract", is_flag=True,
              help="Fetch nothing: re-run text extraction over every stored page and update "
                   "the articles whose text changes.")
@click.option("--redis", "redis_url", envvar="KB_REDIS_URL", default=None, metavar="URL",
              help="Seed the shared queue at this Redis URL instead of crawling here; kb crawl-worker "
                   "fetches, kb ingest stores (default: $KB_REDIS_URL, else crawl.redis_url).")
@quiet_option
@friendly_errors
def crawl(db_path: str, config_name: str | None, feeds: tuple[str, ...],
          settings: tuple[str, ...], allow_private: bool, reextract: bool, redis_url: str | None,
          quiet: bool) -> None:
    """Fetch the feeds, follow each new or changed entry, extract and store the articles.

    \b
    Examples:
      kb crawl
      kb crawl --feed http://127.0.0.1:8765/feed.xml -s DOWNLOAD_DELAY=0
      kb crawl --reextract        # after an extractor upgrade: re-extract the stored pages
      kb crawl --redis redis://queue.internal:6379/0   # seed the shared queue for crawl workers
    """
    if reextract:  # fetches nothing, so it always runs here
        from kb.core.config import load_config
        from kb.core.runlock import run_lock
        from kb.crawl.run import reextract as reextract_pages
        from kb.store.connection import open_db

        setup_logging(quiet)
        workers = load_config(config_name).crawl.extract_workers
        with run_lock(db_path):
            counts = reextract_pages(open_db(db_path, create=False), workers=workers, quiet=quiet)
        click.echo(f"reextract: {counts['pages']} pages, {counts['updated']} articles updated, "
                   f"{counts['unchanged']} unchanged")
        return
    from kb.core.config import load_config

    config = load_config(config_name)
    url = redis_url_for(redis_url, config)
    if url:
        _seed(url, config, db_path, feeds, settings, allow_private, quiet)
        return
    run = do_crawl(db_path, config_name, feeds, settings, allow_private, quiet)
    if run["feeds_failed"] and run["feeds_failed"] == run["sources"]:
        sys.exit(1)


def do_crawl(db_path: str, config_name: str | None, feeds: tuple[str, ...],
             settings: tuple[str, ...], allow_private: bool, quiet: bool) -> dict[str, Any]:
    from kb.core.config import load_config
    from kb.core.runlock import run_lock
    from kb.crawl.run import run_crawl, summary_line

    overrides = parse_settings(settings)
    config = load_config(config_name)
    setup_logging(quiet)
    with run_lock(db_path):
        run = run_crawl(db_path, config, feeds=list(feeds) or None, overrides=overrides,
                        allow_private=allow_private, quiet=quiet)
    for error in run["errors"]:
        click.echo(f"failed: {error}", err=True)
    click.echo(f"crawl #{run['id']}: {summary_line(run)}")
    return run



@click.command()
@db_option
@config_option
@quiet_option
@friendly_errors
def update(db_path: str, config_name: str | None, quiet: bool) -> None:
    """Crawl, then enrich (what a schedule runs)."""
    from kb.core.runlock import run_lock
    from kb.enrich.runner import run_enrichment
    from kb.store.connection import open_db

    run = do_crawl(db_path, config_name, (), (), False, quiet)
    with run_lock(db_path):
        counts = run_enrichment(open_db(db_path), quiet=quiet)
    click.echo("enrich: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    if run["feeds_failed"] and run["feeds_failed"] == run["sources"]:
        sys.exit(1)



@click.command()
@db_option
@friendly_errors
def sources(db_path: str) -> None:
    """List sources with their health: last status, failures, 304 rate, extraction success."""
    from kb.store.connection import open_db
    from kb.store.health import source_rows

    rows = source_rows(open_db(db_path, create=False))
    click.echo(f"{'source':<24} {'status':<13} {'fails':>5} {'304%':>5} {'extract%':>8}  "
               f"{'next try':<16}  last error")
    for r in rows:
        next_try = r["next_due_at"][:16].replace("T", " ") if r.get("backed_off") else ""
        click.echo(f"{r['id'][:24]:<24} {r['last_status'] or '-':<13} {r['consecutive_failures']:>5} "
                   f"{r['not_modified_pct']:>5} {r['extract_pct']:>8}  {next_try:<16}  "
                   f"{r['last_error'] or ''}")
