"""Crawling commands: `kb crawl` (here, or seeding a shared Redis queue), `kb update`, `kb sources`,
and past one machine `kb crawl-worker` (fetches from the queue, on any machine) and `kb ingest`
(the one SQLite writer), with `kb crawl-status`."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kb.cli.options import (
    config_option,
    crawl_log,
    db_option,
    friendly_errors,
    log_file_option,
    parse_settings,
    quiet_option,
    setup_logging,
    verbose_option,
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


def redis_crawl_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--redis", "redis_url", envvar="KB_REDIS_URL", default=None, metavar="URL",
        help="Seed the shared queue at this Redis URL instead of crawling here; kb crawl-worker "
             "fetches, kb ingest stores (default: $KB_REDIS_URL, else crawl.redis_url).")(fn)


@click.command()
@db_option
@config_option
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="Crawl only this feed (repeatable); unknown feeds become ad-hoc sources.")
@click.option("-s", "settings", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy setting, as 'scrapy crawl -s' takes it (repeatable).")
@click.option("--allow-private", is_flag=True,
              help="Let feeds link to private and local addresses (off by default).")
@click.option("--retry-failed", is_flag=True,
              help="Fetch the sources that are backed off after failures now, with the others.")
@click.option("--reextract", is_flag=True,
              help="Fetch nothing: re-run text extraction over every stored page and update "
                   "the articles whose text changes.")
@redis_crawl_option
@quiet_option
@verbose_option
@log_file_option
@friendly_errors
def crawl(db_path: str, config_name: str | None, feeds: tuple[str, ...],
          settings: tuple[str, ...], allow_private: bool, retry_failed: bool, reextract: bool,
          redis_url: str | None, quiet: bool, verbose: bool, log_file: Path | None) -> None:
    """Fetch the feeds, follow each new or changed entry, extract and store the articles.

    Prints the run's summary, then one line per failed feed with its next try. The full log, with
    the libraries' messages and tracebacks, goes to the log file (or the console with -v).

    \b
    Examples:
      kb crawl
      kb crawl --feed http://127.0.0.1:8765/feed.xml -s DOWNLOAD_DELAY=0
      kb crawl --retry-failed     # do not wait for the backed-off sources
      kb crawl --reextract        # after an extractor upgrade: re-extract the stored pages
      kb crawl --redis redis://queue.internal:6379/0   # seed the shared queue for crawl workers
    """
    from kb.core.config import load_config

    setup_logging(quiet, verbose=verbose, log_file=crawl_log(db_path, log_file))
    config = load_config(config_name)
    if reextract:  # fetches nothing, so it always runs here
        from kb.core.runlock import run_lock
        from kb.crawl.run import reextract as reextract_pages
        from kb.store.connection import open_db

        with run_lock(db_path):
            counts = reextract_pages(open_db(db_path, create=False),
                                     workers=config.crawl.extract_workers, quiet=quiet)
        click.echo(f"reextract: {counts['pages']} pages, {counts['updated']} articles updated, "
                   f"{counts['unchanged']} unchanged")
        return
    url = redis_url_for(redis_url, config)
    if url:
        _seed(url, config, db_path, feeds, settings, allow_private, quiet)
        return
    do_crawl(db_path, config, feeds, settings, allow_private, quiet, retry_failed=retry_failed)


def do_crawl(db_path: str, config: Any, feeds: tuple[str, ...], settings: tuple[str, ...],
             allow_private: bool, quiet: bool, *, retry_failed: bool = False) -> dict[str, Any]:
    """Crawl here and report: the summary first, then one line per failed feed; every feed failing
    is an error (exit 1), and every feed unreachable says the machine may be offline."""
    from kb.core.runlock import run_lock
    from kb.crawl.run import failure_lines, run_crawl, summary_line
    from kb.crawl.sources import whole_run_failure

    overrides = parse_settings(settings)
    with run_lock(db_path):
        run = run_crawl(db_path, config, feeds=list(feeds) or None, overrides=overrides,
                        allow_private=allow_private, quiet=quiet, retry_failed=retry_failed)
    click.echo(f"crawl #{run['id']}: {summary_line(run)}")
    for line in failure_lines(db_path, run):
        click.echo(f"failed: {line}", err=True)
    problem = whole_run_failure(run)
    if problem:
        raise CrawlFailed(problem)
    return run


class CrawlFailed(KbError):
    """Every feed of the run failed."""


@click.command()
@db_option
@config_option
@redis_crawl_option
@quiet_option
@verbose_option
@log_file_option
@friendly_errors
def update(db_path: str, config_name: str | None, redis_url: str | None, quiet: bool, verbose: bool,
           log_file: Path | None) -> None:
    """Crawl, then enrich (what a schedule runs).

    With a Redis URL (the flag, $KB_REDIS_URL or crawl.redis_url) the crawl is seeded into the
    shared queue for the crawl workers, and enrich runs over what kb ingest has stored so far.
    """
    from kb.core.config import load_config
    from kb.core.runlock import run_lock
    from kb.enrich.runner import run_enrichment
    from kb.store.connection import open_db

    setup_logging(quiet, verbose=verbose, log_file=crawl_log(db_path, log_file))
    config = load_config(config_name)
    url = redis_url_for(redis_url, config)
    failure: CrawlFailed | None = None
    if url:
        _seed(url, config, db_path, (), (), False, quiet)
    else:
        try:
            do_crawl(db_path, config, (), (), False, quiet)
        except CrawlFailed as exc:
            failure = exc  # enrich what is there all the same, then report it
    with run_lock(db_path):
        counts = run_enrichment(open_db(db_path), quiet=quiet)
    click.echo("enrich: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    if failure:
        raise failure
