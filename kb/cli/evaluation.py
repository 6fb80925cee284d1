"""`kb eval` and `kb sample`: quality figures against labels, and the bundled sample corpus."""

from __future__ import annotations

import json
from typing import Any

import click

from kb.cli.options import (
    db_option,
    friendly_errors,
    quiet_option,
    setup_logging,
)


@click.command("eval")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Score this already-crawled database instead of crawling the corpus afresh.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--aeb", "aeb_dir", type=click.Path(), default=None,
              help="Instead: score extraction on the article-extraction benchmark in this folder.")
@click.option("--validation", "validation_dir", type=click.Path(), default=None,
              help="Instead: score an independently written labelled set in this folder "
                   "(articles.jsonl, queries.jsonl), measured like the sample, fitted on nothing.")
@quiet_option
@friendly_errors
def eval_command(db_path: str | None, as_json: bool, aeb_dir: str | None,
                 validation_dir: str | None, quiet: bool) -> None:
    """Measure extraction, tagging, funding, stories and search against labels.

    \b
    Examples:
      kb eval                     # crawl the bundled sample corpus afresh and score everything
      kb eval --json
      kb eval --aeb ../shared/aeb # extraction on the article-extraction benchmark
      kb eval --validation ../shared/validation  # text written apart from the sample
    """
    db_given = db_path is not None
    if aeb_dir:
        from kb.evaluation.aeb import run_aeb

        result = run_aeb(aeb_dir, quiet=quiet)
        click.echo(json.dumps(result, indent=2) if as_json else _aeb_table(result))
        return
    from kb.evaluation.run import evaluate, format_table

    setup_logging(quiet)
    if validation_dir:
        import tempfile
        from pathlib import Path

        from kb.evaluation.validation import find_validation, write_corpus

        source = find_validation(validation_dir)
        with tempfile.TemporaryDirectory() as tmp:
            corpus = write_corpus(source, Path(tmp) / "corpus")
            result = evaluate(db_path if db_given else None, sample_dir=corpus, quiet=quiet,
                              held_out=True)
        result["labelled_set"] = str(source)
        click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
        return
    result = evaluate(db_path if db_given else None, quiet=quiet)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))


def _aeb_table(result: dict[str, Any]) -> str:
    lines = [f"Body, {result['pages']} pages (benchmark's labels): word 4-gram shingles and tokens",
             f"{'extractor':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'token F1':>9} {'empty':>6}"]
    for name, row in result["scores"].items():
        lines.append(f"{name:<28} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                     f"{row['f1']:>6.3f} {row['token_f1']:>9.3f} {row['empty']:>6}")
    lines += ["", f"Metadata, {result['labelled_pages']} pages (our labels, kb/evaluation/aeb_labels.json)",
              f"{'extractor':<28} {'title':>6} {'date':>6} {'authors P':>10} {'R':>6} {'F1':>6}"]
    for name, row in result["scores"].items():
        m = row["metadata"]
        lines.append(f"{name:<28} {m['title_exact']:>6.3f} {m['date_same_day']:>6.3f} "
                     f"{m['authors_precision']:>10.3f} {m['authors_recall']:>6.3f} "
                     f"{m['authors_f1']:>6.3f}")
    lines.append(f"crawl {result['crawl_seconds']:.1f} s ({result['pages_per_second']:.1f} pages/s)")
    return "\n".join(lines)


@click.group()
def sample() -> None:
    """The bundled fictional sample corpus (offline demo and labelled evaluation set)."""


@sample.command("serve")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port to serve on (a taken one gives way to a free one; 0 for any).")
@friendly_errors
def sample_serve(port: int) -> None:
    """Serve the sample outlets' feeds and pages on 127.0.0.1 until interrupted."""
    from kb.evaluation.sample import serve_forever

    setup_logging(False)
    serve_forever(port=port)


@sample.command("labels")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="labels.json",
              show_default=True, help="Where to write the labels (the corpus ships its own copy).")
@friendly_errors
def sample_labels(out_path: str) -> None:
    """Write the gold labels of the sample corpus in one JSON file, built from its sources."""
    from pathlib import Path

    from kb.evaluation.sample import write_labels

    click.echo(f"wrote {write_labels(Path(out_path))}")


@sample.command("crawl")
@db_option
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port to serve the sample site on while crawling (a taken one gives way to a "
                   "free one; 0 for any).")
@click.option("--corpus", type=click.Path(file_okay=False, exists=True), default=None,
              help="Another corpus laid out like the bundled one (outlets.yaml, articles/*.yaml).")
@quiet_option
@friendly_errors
def sample_crawl(db_path: str, port: int, quiet: bool, corpus: str | None) -> None:
    """Serve the sample site on 127.0.0.1 and crawl it into the database (what make demo runs)."""
    from pathlib import Path

    from kb.core.runlock import run_lock
    from kb.crawl.run import run_crawl, summary_line
    from kb.evaluation.sample import SAMPLE_DIR, sample_config, serve_sample

    setup_logging(quiet)
    corpus_dir = Path(corpus) if corpus else SAMPLE_DIR
    with run_lock(db_path), serve_sample(port, corpus_dir) as base:
        run = run_crawl(db_path, sample_config(base, corpus_dir), quiet=quiet)
    click.echo(f"crawl #{run['id']}: {summary_line(run)}")
