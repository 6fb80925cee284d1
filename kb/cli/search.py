"""`kb search`: ranked results on the command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from kb.cli.options import db_option, filter_options, friendly_errors


@click.command()
@click.argument("query", required=False, default="")
@db_option
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]), default="hybrid",
              show_default=True)
@filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Results per page.")
@click.option("--page", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Which page of results (past the last one: none).")
@click.option("--sort", type=click.Choice(["relevance", "newest", "oldest"]), default=None,
              help="Order of the results [default: relevance; newest without a query].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result line.")
@click.option("--literal", is_flag=True,
              help="Search the words only: read no vendor, topic, place, amount or date in them.")
@click.option("--off", "off", multiple=True, metavar="CHIP",
              help="Leave one interpreted part out, e.g. --off topic:funding (repeatable).")
@friendly_errors
def search(query: str, db_path: str, mode: str, limit: int, page: int, sort: str | None, as_json: bool,
           literal: bool, off: tuple[str, ...], **filter_values: Any) -> None:
    """Search the knowledge base (QUERY '-' reads one query per line from stdin). Without a QUERY,
    list the articles the filters match, newest first.

    Filters take known names in any case (an unknown one is an error that suggests the nearest),
    and dates as YYYY-MM-DD or relative: 7d, 2w, today, yesterday, this-week, last-week,
    this-month, last-month, this-year.

    Hybrid search also reads what the query names, in English, French or German: vendors,
    topics, places, currencies, amounts, dates and kinds of fact. A question about a set of facts
    ("European AI start-ups that raised funding in euros") then ranks first the articles whose
    stored rows satisfy all of them; a query of nothing but such names ("Nvidia 2025") lists the
    matching articles, newest first. The line "interpreted as: ..." says what was read.

    \b
    Examples:
      kb search "Mistral debt"
      kb search "which European companies want independence from US vendors?" --mode semantic
      kb search "export controls" --topic export-controls --since 2026-10-01 --json
      kb search "chips" --vendor nvidia --since last-month
      kb search --topic export-controls --page 2        # browse, newest first
      kb search "export controls China" --sort newest
      printf 'Mistral\\nNvidia China\\n' | kb search - --json
      kb search "Which French AI companies raised funding in 2026?" --off time:2026-01-01/2027-01-01
    """
    # one OpenMP thread per search thread, as `kb serve` runs: the models answer side by side,
    # and threads of two runtimes waking each other cost up to a second a query
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from kb.search.engine import Query, chips_line, search_explained
    from kb.search.filters import Known, parse_filters
    from kb.store.connection import open_db

    db = open_db(db_path, create=False)
    filters = parse_filters(filter_values, Known.from_db(db))
    queries = [line.strip() for line in sys.stdin if line.strip()] if query == "-" else [query]
    for text in queries:
        results, ranking = search_explained(db, Query(
            text=text, mode=mode, limit=limit, filters=filters, interpret=not literal, off=off,
            sort=sort or ("relevance" if text.strip() else "newest"), offset=(page - 1) * limit))
        if (line := chips_line(ranking)) and not as_json:
            click.echo(f"{line} (--literal to search the words only)")
        for r in results:
            if as_json:
                record = {k: r[k] for k in ("url", "title", "published", "score", "source",
                                            "summary", "topics", "vendors", "story_id")}
                if query == "-":
                    record["query"] = text
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                click.echo(format_result(r, browsing=ranking.browse))
        if not results and not as_json:
            click.echo(f"no results for {text!r}" + (f" on page {page}" if page > 1 else ""))
        elif not as_json and ranking.total and ranking.total > limit:
            pages = -(-ranking.total // limit)
            click.echo(f"page {page} of {pages} ({ranking.total} results; --page for more)")


def format_result(r: dict[str, Any], *, browsing: bool = False) -> str:
    """One result: score (none when browsing), date, title; outlet, address, topics; snippet."""
    from kb.search.engine import MARK_END, MARK_START

    snippet = r["snippet"].replace(MARK_START, "[").replace(MARK_END, "]")
    topics = ", ".join(t["slug"] for t in r["topics"])
    score = "     -" if browsing else f"{r['score']:.4f}"
    return (f"{score}  {r['published'][:10]}  {r['title']}\n"
            f"        {r['source']} · {r['url']}" + (f" · {topics}" if topics else "") +
            f"\n        {snippet}\n")
