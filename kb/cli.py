"""The ``kb`` command: thin wrappers that parse flags, open the database and call one function."""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from kb import __version__
from kb.errors import KbError

DB_HELP = "Knowledge base file (default: $KB_DB, else kb.db)."
CONFIG_HELP = "Configuration file, or 'default' / 'demo' (default: $KB_CONFIG, else bundled)."


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db_path", envvar="KB_DB", default="kb.db", show_default=True,
                        type=click.Path(dir_okay=False), help=DB_HELP)(fn)


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_name", envvar="KB_CONFIG", default=None,
                        help=CONFIG_HELP)(fn)


def quiet_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True, help="No progress output.")(fn)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one 'Error:' line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KbError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper


class _OursOrWarnings(logging.Filter):
    """Our own messages at INFO; the libraries' only from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("aiwatch") or record.levelno >= logging.WARNING


def setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_OursOrWarnings())
    handler.setLevel(logging.ERROR if quiet else logging.INFO)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kb")
def cli() -> None:
    """aiwatch: a self-hosted knowledge base of AI news and policy.

    \b
    Typical use:
      kb init                      # create the database (kb.db)
      kb crawl                     # fetch the configured feeds and their articles
      kb enrich                    # embeddings, topics, vendors, funding, stories
      kb search "Mistral debt"     # ranked results
      kb serve                     # browse it all in Datasette
    """


@cli.command()
@db_option
@friendly_errors
def init(db_path: str) -> None:
    """Create or upgrade the database schema; safe to run twice.

    \b
    Example:
      kb init --db news.db
    """
    from kb.db import open_db
    from kb.schema import applied_migrations, schema_version

    db = open_db(db_path)
    click.echo(f"{db_path}: schema version {schema_version(db)} "
               f"({len(applied_migrations(db))} migrations applied)")


def parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint="-s")
        settings[name.strip()] = setting
    return settings


@cli.command()
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
@quiet_option
@friendly_errors
def crawl(db_path: str, config_name: str | None, feeds: tuple[str, ...],
          settings: tuple[str, ...], allow_private: bool, reextract: bool, quiet: bool) -> None:
    """Fetch the feeds, follow each new or changed entry, extract and store the articles.

    \b
    Examples:
      kb crawl
      kb crawl --feed http://127.0.0.1:8765/feed.xml -s DOWNLOAD_DELAY=0
      kb crawl --reextract        # after an extractor upgrade: re-extract the stored pages
    """
    if reextract:
        from kb.config import load_config
        from kb.crawl import reextract as reextract_pages
        from kb.db import open_db
        from kb.lock import run_lock

        setup_logging(quiet)
        workers = load_config(config_name).crawl.extract_workers
        with run_lock(db_path):
            counts = reextract_pages(open_db(db_path, create=False), workers=workers, quiet=quiet)
        click.echo(f"reextract: {counts['pages']} pages, {counts['updated']} articles updated, "
                   f"{counts['unchanged']} unchanged")
        return
    run = do_crawl(db_path, config_name, feeds, settings, allow_private, quiet)
    if run["feeds_failed"] and run["feeds_failed"] == run["sources"]:
        sys.exit(1)


def do_crawl(db_path: str, config_name: str | None, feeds: tuple[str, ...],
             settings: tuple[str, ...], allow_private: bool, quiet: bool) -> dict[str, Any]:
    from kb.config import load_config
    from kb.crawl import run_crawl, summary_line
    from kb.lock import run_lock

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


@cli.command()
@db_option
@config_option
@click.option("--only", "stages", multiple=True, metavar="STAGE",
              help="Run only this stage (repeatable).")
@quiet_option
@friendly_errors
def enrich(db_path: str, config_name: str | None, stages: tuple[str, ...], quiet: bool) -> None:
    """Run the enrichment stages over new or changed articles.

    \b
    Examples:
      kb enrich
      kb enrich --only embed
    """
    from kb.db import open_db
    from kb.enrich import STAGES, run_enrichment

    setup_logging(quiet)
    counts = run_enrichment(open_db(db_path), only=list(stages) or None, quiet=quiet)
    click.echo("enrich: " + ", ".join(f"{n} {counts[n]}" for n in STAGES if n in counts))


@cli.command()
@db_option
@config_option
@quiet_option
@friendly_errors
def update(db_path: str, config_name: str | None, quiet: bool) -> None:
    """Crawl, then enrich (what a schedule runs)."""
    from kb.db import open_db
    from kb.enrich import run_enrichment
    from kb.lock import run_lock

    run = do_crawl(db_path, config_name, (), (), False, quiet)
    with run_lock(db_path):
        counts = run_enrichment(open_db(db_path), quiet=quiet)
    click.echo("enrich: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    if run["feeds_failed"] and run["feeds_failed"] == run["sources"]:
        sys.exit(1)


@cli.command()
@click.argument("query")
@db_option
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]), default="hybrid",
              show_default=True)
@click.option("--topic", help="Only articles with this topic slug.")
@click.option("--vendor", help="Only articles naming this vendor.")
@click.option("--since", help="Only articles published on or after this date (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result line.")
@friendly_errors
def search(query: str, db_path: str, mode: str, topic: str | None, vendor: str | None,
           since: str | None, limit: int, as_json: bool) -> None:
    """Search the knowledge base (QUERY '-' reads one query per line from stdin).

    \b
    Examples:
      kb search "Mistral debt"
      kb search "which European companies want independence from US vendors?" --mode semantic
      kb search "export controls" --topic export-controls --since 2026-10-01 --json
      printf 'Mistral\nNvidia China\n' | kb search - --json
    """
    from kb.db import open_db
    from kb.search import Filters, Query
    from kb.search import search as run_search

    db = open_db(db_path, create=False)
    filters = Filters(topic=topic, vendor=vendor, since=since)
    queries = [line.strip() for line in sys.stdin if line.strip()] if query == "-" else [query]
    for text in queries:
        results = run_search(db, Query(text=text, mode=mode, limit=limit, filters=filters))
        for r in results:
            if as_json:
                record = {k: r[k] for k in ("url", "title", "published", "score", "source",
                                            "summary", "topics", "vendors", "story_id")}
                if query == "-":
                    record["query"] = text
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                click.echo(format_result(r))
        if not results and not as_json:
            click.echo(f"no results for {text!r}")


def format_result(r: dict[str, Any]) -> str:
    from kb.search import MARK_END, MARK_START

    snippet = r["snippet"].replace(MARK_START, "[").replace(MARK_END, "]")
    topics = ", ".join(t["slug"] for t in r["topics"])
    return (f"{r['score']:.4f}  {r['published'][:10]}  {r['title']}\n"
            f"        {r['source']} · {r['url']}" + (f" · {topics}" if topics else "") +
            f"\n        {snippet}\n")


@cli.command()
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
    from kb.db import open_db
    from kb.export import iter_export

    db = open_db(db_path, create=False)
    for record in iter_export(db, since=since, topic=topic):
        click.echo(json.dumps(record, ensure_ascii=False))


@cli.command()
@db_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@friendly_errors
def serve(db_path: str, config_name: str | None, host: str, port: int) -> None:
    """Serve the knowledge base with Datasette and the project's configuration."""
    from kb.serve import run_datasette

    run_datasette(db_path, host=host, port=port)


@cli.command("eval")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Score this already-crawled database instead of crawling the corpus afresh.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--aeb", "aeb_dir", type=click.Path(), default=None,
              help="Instead: score extraction on the article-extraction benchmark in this folder.")
@quiet_option
@friendly_errors
def eval_command(db_path: str | None, as_json: bool, aeb_dir: str | None, quiet: bool) -> None:
    """Measure extraction, tagging, funding, stories and search against labels.

    \b
    Examples:
      kb eval                     # crawl the bundled sample corpus afresh and score everything
      kb eval --json
      kb eval --aeb ../shared/aeb # extraction on the article-extraction benchmark
    """
    db_given = db_path is not None
    if aeb_dir:
        from kb.aeb import run_aeb

        result = run_aeb(aeb_dir, quiet=quiet)
        click.echo(json.dumps(result, indent=2) if as_json else _aeb_table(result))
        return
    from kb.evaluate import evaluate, format_table

    setup_logging(quiet)
    result = evaluate(db_path if db_given else None, quiet=quiet)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))


def _aeb_table(result: dict[str, Any]) -> str:
    lines = [f"{'extractor':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'empty':>6}"]
    for name, row in result["scores"].items():
        lines.append(f"{name:<28} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                     f"{row['f1']:>6.3f} {row['empty']:>6}")
    lines.append(f"{result['pages']} pages; crawl {result['crawl_seconds']:.1f} s "
                 f"({result['pages_per_second']:.1f} pages/s)")
    return "\n".join(lines)


@cli.command()
@click.argument("target", type=click.Choice(["topic", "vendor", "jurisdiction", "funding"]))
@click.argument("article_id", type=int)
@click.argument("value")
@db_option
@click.option("--confirm", "verdict", flag_value="confirm", help="The value is right.")
@click.option("--reject", "verdict", flag_value="reject", help="The value is wrong.")
@click.option("--by", "reviewer", default=lambda: os.environ.get("USER", "analyst"),
              show_default="$USER", help="Who makes the correction.")
@click.option("--note", help="Why.")
@friendly_errors
def review(target: str, article_id: int, value: str, db_path: str, verdict: str | None,
           reviewer: str, note: str | None) -> None:
    """Confirm or reject a topic, vendor, jurisdiction or funding row of an article.

    VALUE is a topic slug, a vendor or jurisdiction name, or a funding event's id. A correction
    overrides the machine on every later run.

    \b
    Examples:
      kb review topic 42 funding --reject --note "capex, not a funding round"
      kb review vendor 42 "Mistral AI" --confirm
      kb review funding 42 17 --reject
    """
    from kb.db import open_db
    from kb.review import save_review

    if verdict is None:
        raise click.UsageError("say --confirm or --reject")
    save_review(open_db(db_path, create=False), article_id=article_id, target=target, value=value,
                verdict=verdict, reviewer=reviewer, note=note)
    click.echo(f"{verdict}ed {target} {value!r} of article {article_id} (by {reviewer})")


@cli.command("train-topics")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="An enriched database of the sample corpus (default: crawl and embed it afresh).")
@quiet_option
@friendly_errors
def train_topics(db_path: str | None, quiet: bool) -> None:
    """Refit the topic classifier on the labelled sample corpus (writes kb/data/topic_model.json)."""
    from kb.training import train_on_sample

    setup_logging(quiet)
    path, counts = train_on_sample(db_path, quiet=quiet)
    click.echo(f"wrote {path}: " + ", ".join(f"{t} {n} positives" for t, n in counts.items()))


@cli.command()
@db_option
@friendly_errors
def sources(db_path: str) -> None:
    """List sources with their health: last status, failures, 304 rate, extraction success."""
    from kb.db import open_db
    from kb.health import source_rows

    rows = source_rows(open_db(db_path, create=False))
    click.echo(f"{'source':<24} {'status':<13} {'fails':>5} {'304%':>5} {'extract%':>8}  "
               f"{'next try':<16}  last error")
    for r in rows:
        next_try = r["next_due_at"][:16].replace("T", " ") if r.get("backed_off") else ""
        click.echo(f"{r['id'][:24]:<24} {r['last_status'] or '-':<13} {r['consecutive_failures']:>5} "
                   f"{r['not_modified_pct']:>5} {r['extract_pct']:>8}  {next_try:<16}  "
                   f"{r['last_error'] or ''}")


@cli.group()
def sample() -> None:
    """The bundled fictional sample corpus (offline demo and labelled evaluation set)."""


@sample.command("serve")
@click.option("--port", default=8765, show_default=True, type=int)
@friendly_errors
def sample_serve(port: int) -> None:
    """Serve the sample outlets' feeds and pages on 127.0.0.1 until interrupted."""
    from kb.sample import serve_forever

    serve_forever(port=port)


@sample.command("labels")
@friendly_errors
def sample_labels() -> None:
    """Rebuild sample/labels.json (the gold labels in one file) from the corpus sources."""
    from kb.sample import write_labels

    click.echo(f"wrote {write_labels()}")


@sample.command("crawl")
@db_option
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port to serve the sample site on while crawling (the demo config uses 8765).")
@quiet_option
@friendly_errors
def sample_crawl(db_path: str, port: int, quiet: bool) -> None:
    """Serve the sample site on 127.0.0.1 and crawl it into the database (what make demo runs)."""
    from pathlib import Path

    from kb.crawl import run_crawl, summary_line
    from kb.lock import run_lock
    from kb.sample import sample_config, serve_sample

    setup_logging(quiet)
    with run_lock(db_path), serve_sample(Path(".cache") / "sample-site", port) as base:
        run = run_crawl(db_path, sample_config(base), quiet=quiet)
    click.echo(f"crawl #{run['id']}: {summary_line(run)}")


# Commands that live in their own modules (they add themselves to `cli` on import).
COMMAND_MODULES: tuple[str, ...] = ("kb.cli_digest", "kb.cli_distributed")
for _module in COMMAND_MODULES:
    importlib.import_module(_module)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cli()
