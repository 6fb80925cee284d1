"""Commands for crawling past one machine: ``kb crawl --redis`` seeds a shared queue,
``kb crawl-worker`` fetches from it (on any machine), ``kb ingest`` is the one SQLite writer."""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from kb.cli import (
    cli,
    config_option,
    db_option,
    friendly_errors,
    parse_settings,
    quiet_option,
    setup_logging,
)
from kb.errors import KbError

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


@cli.command("crawl-worker")
@click.option("--db", "db_path", envvar="KB_DB", default="kb.db", type=click.Path(dir_okay=False),
              help="Not used: a worker needs no database (accepted like every kb command).")
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
def crawl_worker(db_path: str, config_name: str | None, redis_url: str | None,
                 settings: tuple[str, ...],
                 allow_private: bool, idle_exit: float, lease_seconds: float, quiet: bool) -> None:
    """Fetch and extract feeds and pages from the shared queue; push the articles to Redis.

    Run as many as you like, on as many machines: they share nothing but Redis.

    \b
    Examples:
      kb crawl-worker --redis redis://queue.internal:6379/0
      kb crawl-worker --idle-exit 0 -s KB_EXTRACT_WORKERS=4     # a long-running service
    """
    from kb.config import load_config
    from kb.distributed import run_worker

    overrides = parse_settings(settings)
    config = load_config(config_name)
    url = require_redis(redis_url, config, "crawl-worker")
    setup_logging(quiet)
    figures = run_worker(url, config, overrides=overrides, allow_private=allow_private,
                         idle_exit=idle_exit, lease_seconds=lease_seconds, quiet=quiet)
    click.echo(f"worker {figures['worker']}: {figures['feeds']} feeds, {figures['pages']} pages "
               f"({figures['pages_failed']} failed, {figures['refused']} refused) "
               f"in {figures['seconds']:.1f} s")


@cli.command()
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
    from kb.config import load_config
    from kb.crawl import summary_line
    from kb.distributed import connect, run_ingest

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


@cli.command("crawl-status")
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

    from kb.config import load_config
    from kb.crawl import summary_line
    from kb.db import open_db
    from kb.distributed import Keys, RedisWork, connect

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
    from kb.distributed import connect, seed_crawl

    setup_logging(quiet)
    if settings or allow_private:
        click.echo("note: -s and --allow-private apply to the workers: pass them to "
                   "kb crawl-worker", err=True)
    seeded = seed_crawl(db_path, config, connect(redis_url), feeds=list(feeds) or None)
    click.echo(f"round {seeded['round']}: {seeded['seeded']} feeds seeded "
               f"({seeded['skipped']} backed off), {seeded['known']} known entries published; "
               "kb crawl-worker fetches them, kb ingest stores them")


def _add_redis_to_crawl() -> None:
    """``kb crawl --redis URL`` seeds the shared queue instead of crawling in this process."""
    crawl = cli.commands["crawl"]
    if any(p.name == "redis_url" for p in crawl.params):
        return
    crawl.params.append(click.Option(
        ["--redis", "redis_url"], envvar="KB_REDIS_URL", default=None, metavar="URL",
        help="Seed the shared queue at this Redis URL instead of crawling here; kb crawl-worker "
             "fetches, kb ingest stores (default: $KB_REDIS_URL, else crawl.redis_url)."))
    local_crawl = crawl.callback
    assert local_crawl is not None

    @functools.wraps(local_crawl)
    def crawl_or_seed(redis_url: str | None = None, **kwargs: Any) -> Any:
        from kb.config import load_config

        try:
            config = load_config(kwargs["config_name"])
            url = redis_url_for(redis_url, config)
            if url and not kwargs.get("reextract"):  # --reextract fetches nothing: always here
                return _seed(url, config, kwargs["db_path"], kwargs["feeds"], kwargs["settings"],
                             kwargs["allow_private"], kwargs["quiet"])
        except KbError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        return local_crawl(**kwargs)

    crawl.callback = crawl_or_seed


_add_redis_to_crawl()
