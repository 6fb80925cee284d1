"""`kb enrich`, `kb review` and `kb train-topics`: the enrichment stages and their corrections."""

from __future__ import annotations

import os

import click

from kb.cli.options import (
    config_option,
    db_option,
    friendly_errors,
    quiet_option,
    setup_logging,
)


@click.command()
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
    from kb.enrich.runner import STAGES, run_enrichment
    from kb.store.connection import open_db

    setup_logging(quiet)
    counts = run_enrichment(open_db(db_path, must_exist=True), only=list(stages) or None, quiet=quiet)
    click.echo("enrich: " + ", ".join(f"{n} {counts[n]}" for n in STAGES if n in counts))



@click.command()
@click.argument("target", type=click.Choice(["topic", "vendor", "jurisdiction", "funding", "event"]))
@click.argument("item")
@click.argument("value", required=False)
@db_option
@click.option("--confirm", "verdict", flag_value="confirm", help="The value is right.")
@click.option("--reject", "verdict", flag_value="reject", help="The value is wrong.")
@click.option("--main", "verdict", flag_value="main",
              help="A vendor the article is about, or that acts in it.")
@click.option("--mentioned", "verdict", flag_value="mentioned",
              help="A vendor the article names only in passing.")
@click.option("--by", "reviewer", default=lambda: os.environ.get("USER", "analyst"),
              show_default="$USER", help="Who makes the correction.")
@click.option("--note", help="Why.")
@click.option("--new", is_flag=True, help="Confirm a vendor or jurisdiction nobody has named yet.")
@friendly_errors
def review(target: str, item: str, value: str | None, db_path: str, verdict: str | None,
           reviewer: str, note: str | None, new: bool) -> None:
    """Confirm or reject a topic, vendor, jurisdiction or funding row of an article, set a vendor's
    role, or confirm or reject a whole funding event.

    ITEM is the article's id and VALUE a topic slug, a vendor or jurisdiction name (a known one, in
    any case, unless --new), or a funding mention's id. For `event`, ITEM is the event's id in the
    funding ledger (funding_rounds.id) and there is no VALUE: the verdict holds for every article
    that reports it. A correction overrides the machine on every later run.

    \b
    Examples:
      kb review topic 42 funding --reject --note "capex, not a funding round"
      kb review vendor 42 "Mistral AI" --confirm
      kb review vendor 42 Nvidia --mentioned   # named in passing: not on Nvidia's feed
      kb review vendor 42 "Aleph Alpha Research" --confirm --new
      kb review funding 42 17 --reject
      kb review event ev-3f2a9c1d0b7e --reject --note "a settlement, not a round"
    """
    from kb.enrich.review import review_event, save_review
    from kb.store.connection import open_db

    if verdict is None:
        raise click.UsageError("say --confirm or --reject (or, for a vendor, --main or --mentioned)")
    db = open_db(db_path, create=False)
    if target == "event":
        if value is not None:
            raise click.UsageError("an event is named by its id alone: kb review event EVENT_ID")
        covered = review_event(db, event_id=item, verdict=verdict, reviewer=reviewer, note=note)
        click.echo(f"{verdict}ed event {item}: {covered} mentions (by {reviewer})")
        return
    if not item.isdigit() or value is None:
        raise click.UsageError(f"kb review {target} ARTICLE_ID VALUE (the article's id, then the value)")
    save_review(db, article_id=int(item), target=target, value=value, verdict=verdict,
                reviewer=reviewer, note=note, new=new)
    done = f"{verdict}ed" if verdict in ("confirm", "reject") else f"set as {verdict}:"
    click.echo(f"{done} {target} {value!r} of article {item} (by {reviewer})")



@click.command("train-topics")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="An enriched database of the sample corpus (default: crawl and embed it afresh).")
@quiet_option
@friendly_errors
def train_topics(db_path: str | None, quiet: bool) -> None:
    """Refit the topic classifier on the labelled sample corpus.

    The model goes to the user data folder ($AIWATCH_DATA_DIR, else ~/.local/share/aiwatch), where
    the topics stage prefers it to the shipped kb/data/topic_model.json.
    """
    from kb.evaluation.training import train_on_sample

    setup_logging(quiet)
    path, counts = train_on_sample(db_path, quiet=quiet)
    click.echo(f"wrote {path}: " + ", ".join(f"{t} {n} positives" for t, n in counts.items()))
