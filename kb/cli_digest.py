"""Commands for the weekly digest, its subscribers and the schedule."""

from __future__ import annotations

import click

from kb.cli import cli, config_option, db_option, friendly_errors, not_yet


@cli.command()
@db_option
@config_option
@click.option("--week", metavar="YYYY-Www", help="ISO week (default: the last full week).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write .eml and .html.")
@click.option("--send", is_flag=True, help="Mail it over SMTP, once per subscriber and week.")
@friendly_errors
def digest(db_path: str, config_name: str | None, week: str | None, out_dir: str | None,
           send: bool) -> None:
    """Render (and with --send, mail) the weekly digest for every subscriber."""
    not_yet("the weekly digest", "see the digest issue")


@cli.group()
def subscribers() -> None:
    """Manage digest subscribers (kept in a private database Datasette never serves)."""


@subscribers.command("add")
@click.argument("email")
@db_option
@click.option("--topic", "topics", multiple=True)
@click.option("--vendor", "vendors", multiple=True)
@friendly_errors
def subscribers_add(email: str, db_path: str, topics: tuple[str, ...],
                    vendors: tuple[str, ...]) -> None:
    """Add a subscriber."""
    not_yet("subscribers", "see the digest issue")


@subscribers.command("list")
@db_option
@friendly_errors
def subscribers_list(db_path: str) -> None:
    """List subscribers."""
    not_yet("subscribers", "see the digest issue")


@subscribers.command("remove")
@click.argument("email")
@db_option
@friendly_errors
def subscribers_remove(email: str, db_path: str) -> None:
    """Remove a subscriber."""
    not_yet("subscribers", "see the digest issue")


@cli.command()
@db_option
@config_option
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option("--print-cron", is_flag=True, help="Print equivalent crontab lines instead.")
@friendly_errors
def schedule(db_path: str, config_name: str | None, once: bool, print_cron: bool) -> None:
    """Run the configured schedule (crawls, enrichment, the weekly digest) in the foreground."""
    not_yet("the scheduler", "see the scheduling issue")


