"""The ``kb`` command, assembled from one module per command group."""

from __future__ import annotations

import os
import signal

import click

from kb import __version__
from kb.cli import crawl, digest, enrich, evaluation, publish, search, sources, store


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



for command in (  # in the order of the pipeline, as `kb --help` and the README list them
    store.init, crawl.crawl, enrich.enrich, crawl.update, search.search, publish.export, publish.serve,
    evaluation.eval_command, enrich.review, enrich.train_topics, sources.sources, evaluation.sample,
    digest.digest, digest.subscribers, digest.schedule,
    crawl.crawl_worker, crawl.ingest, crawl.crawl_status,
):
    cli.add_command(command)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # `kb export | head`: end quietly when the reader goes away, as other shell tools do
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    cli()
