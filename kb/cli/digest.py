"""Commands for the weekly digest, its subscribers and the schedule."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from kb.cli.options import config_option, db_option, friendly_errors, quiet_option, setup_logging

PRIVATE_HELP = "Subscribers database (default: the config's subscribers_db, else <db stem>.private.db)."


def private_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--subscribers-db", "private_path", type=click.Path(dir_okay=False),
                        default=None, help=PRIVATE_HELP)(fn)


def _private_path(db_path: str, config_name: str | None, private_path: str | None) -> Path:
    from kb.core.config import load_config
    from kb.publish.digest.subscribers import private_db_path

    return private_db_path(db_path, private_path or load_config(config_name).subscribers_db)


def _private_db(db_path: str, config_name: str | None, private_path: str | None) -> Any:
    from kb.publish.digest.subscribers import open_private_db

    return open_private_db(_private_path(db_path, config_name, private_path))


@click.command()
@db_option
@config_option
@click.option("--week", metavar="YYYY-Www", help="ISO week (default: the last full week).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write .eml and .html.")
@click.option("--send", is_flag=True, help="Mail it over SMTP, once per subscriber and week.")
@private_option
@click.option("--smtp-host", help="SMTP server (overrides $KB_SMTP_HOST and the config).")
@click.option("--smtp-port", type=int, help="SMTP port (overrides $KB_SMTP_PORT and the config).")
@click.option("--smtp-user", help="SMTP login; the password is read from $KB_SMTP_PASSWORD only.")
@click.option("--smtp-security", type=click.Choice(["none", "starttls", "ssl"]),
              help="Connection security (overrides $KB_SMTP_SECURITY and the config).")
@click.option("--mail-from", help="Sender address (overrides $KB_MAIL_FROM and the config).")
@click.option("--base-url", metavar="URL",
              help="The web instance's public address, for links to the story briefs and one-click "
                   "unsubscribe (else $KB_BASE_URL, or the config's base_url; without one, stories "
                   "link to the original articles and unsubscribing is by mailto: only).")
@quiet_option
@friendly_errors
def digest(db_path: str, config_name: str | None, week: str | None, out_dir: str | None,
           send: bool, private_path: str | None, smtp_host: str | None, smtp_port: int | None,
           smtp_user: str | None, smtp_security: str | None, mail_from: str | None,
           base_url: str | None, quiet: bool) -> None:
    """Render (and with --send, mail) the weekly digest for every subscriber.

    Without --out or --send, prints the plain-text digest (all topics) as a preview.
    With no subscribers, --out writes that all-topics preview.

    \b
    Examples:
      kb digest --week 2026-W46 --out digests/
      KB_SMTP_HOST=smtp.example.org KB_SMTP_PASSWORD=... kb digest --send
    """
    from kb.core.config import load_config, resolve_base_url
    from kb.publish.digest.build import IsoWeek, build_week
    from kb.publish.digest.mail import check_sender, require_sendable, smtp_settings
    from kb.publish.digest.subscribers import list_subscribers
    from kb.publish.unsubscribe import signing_secret
    from kb.store.connection import open_db

    setup_logging(quiet)
    config = load_config(config_name)
    url = resolve_base_url(base_url, os.environ, config)
    now = datetime.now(UTC)
    iso_week = IsoWeek.parse(week) if week else IsoWeek.last_full(now)
    settings = None
    if send:
        settings = require_sendable(smtp_settings(config.smtp, env=os.environ, overrides={
            "host": smtp_host, "port": smtp_port, "user": smtp_user, "security": smtp_security,
            "mail_from": mail_from}))
    sender_address = mail_from or os.environ.get("KB_MAIL_FROM") or config.smtp.mail_from
    if sender_address:
        check_sender(sender_address)
    data = build_week(open_db(db_path, create=False), week=iso_week, now=now)
    private = _private_db(db_path, config_name, private_path)
    subscribers = list_subscribers(private)
    links = {"base_url": url, "secret": signing_secret(private) if url else None}
    if data.article_count == 0:
        click.echo(f"{iso_week.label}: no articles this week; the digest says so", err=True)
    if out_dir:
        _write_out(out_dir, data, subscribers, sender_address, now, links)
    if send:
        _send(private, data, subscribers, settings, now, links, private_lock=_lock_path(private))
    if not out_dir and not send:
        from kb.publish.digest.build import select_digest
        from kb.publish.digest.render import render_digest

        click.echo(render_digest(select_digest(data, _preview_reader()), base_url=url).text)
        click.echo("(preview of the all-topics digest; use --out DIR to write every subscriber's, "
                   "--send to mail them)", err=True)


def _preview_reader() -> Any:
    from kb.publish.digest.subscribers import Subscriber

    return Subscriber(email="preview@aiwatch.localhost", token="preview")


def _lock_path(private: Any) -> str:
    return str(Path(private.conn.execute("pragma database_list").fetchone()[2]))


def _write_out(out_dir: str, data: Any, subscribers: list[Any], mail_from: str | None,
               now: datetime, links: dict[str, Any]) -> None:
    from kb.publish.digest.render import compose_message, write_preview

    readers = subscribers or [_preview_reader()]
    for reader in readers:
        msg, rendered = compose_message(data, reader, mail_from=mail_from, now=now,  # no secret: no one-click
                                        **(links if subscribers else {"base_url": links["base_url"]}))
        name = f"{data.week.label}-{'preview' if not subscribers else reader.email}"
        write_preview(out_dir, name, msg, rendered)
    what = f"{len(readers)} digests" if subscribers else "the all-topics preview (no subscribers yet)"
    click.echo(f"{data.week.label}: wrote {what} to {out_dir}")


def _send(private: Any, data: Any, subscribers: list[Any], settings: Any, now: datetime,
          links: dict[str, Any], *, private_lock: str) -> None:
    from kb.core.runlock import run_lock
    from kb.publish.digest.mail import SmtpSender, send_digests
    from kb.publish.digest.render import compose_message

    if not subscribers:
        click.echo(f"{data.week.label}: no subscribers, nothing to send "
                   "(add one with 'kb subscribers add EMAIL')")
        return
    with run_lock(private_lock), SmtpSender(settings) as sender:
        report = send_digests(private, subscribers,
                              lambda s: compose_message(data, s, mail_from=settings.mail_from, now=now,
                                                        **links)[0],
                              week=data.week.label, sender=sender)
    for email, error in report.failed:
        click.echo(f"failed: {email}: {error}", err=True)
    left = len(subscribers) - len(report.sent) - len(report.already) - len(report.failed)
    click.echo(f"{data.week.label}: {len(report.sent)} sent, {len(report.already)} already sent, "
               f"{len(report.failed)} failed" + (f", {left} not tried" if left else ""))
    if report.aborted:
        click.echo(f"Error: {report.aborted}; the rest will be sent by the next run", err=True)
    if not report.ok:
        sys.exit(1)


@click.group()
def subscribers() -> None:
    """Manage digest subscribers (kept in a private database Datasette never serves)."""


@subscribers.command("add")
@click.argument("email")
@db_option
@config_option
@private_option
@click.option("--topic", "topics", multiple=True, metavar="SLUG", help="A topic to follow (repeatable).")
@click.option("--vendor", "vendors", multiple=True, metavar="NAME", help="A vendor to follow (repeatable).")
@click.option("--profile", type=click.Choice(["policy", "investor", "engineering"]),
              help="A preset: policy (regulation, export-controls, sovereignty), investor (funding "
                   "and vendors), engineering (open-source and vendors).")
@click.option("--lang", default="en", show_default=True, type=click.Choice(["en", "fr", "de"]),
              help="The digest's language (and which outlet's article a story links to).")
@friendly_errors
def subscribers_add(email: str, db_path: str, config_name: str | None, private_path: str | None,
                    topics: tuple[str, ...], vendors: tuple[str, ...], profile: str | None,
                    lang: str) -> None:
    """Add a subscriber, or update an existing one's topics, vendors and language.

    \b
    Examples:
      kb subscribers add ana@example.org --profile policy
      kb subscribers add li@example.org --topic funding --vendor "Mistral AI" --lang fr
    """
    from kb.core.config import load_config
    from kb.enrich.gazetteer import load_gazetteer
    from kb.enrich.topics import load_taxonomy
    from kb.publish.digest.subscribers import (
        Subscriber,
        normalize_email,
        resolve_preferences,
        save_subscriber,
    )

    address = normalize_email(email)
    config = load_config(config_name)
    known_vendors = [e.name for e in load_gazetteer().entries.values() if e.kind == "vendor"]
    chosen_topics, chosen_vendors = resolve_preferences(
        topics=topics, vendors=vendors, profile=profile, lang=lang,
        known_topics=[t.slug for t in load_taxonomy(config.taxonomy)[1]], known_vendors=known_vendors)
    saved, new = save_subscriber(_private_db(db_path, config_name, private_path), Subscriber(
        email=address, topics=chosen_topics, vendors=chosen_vendors, lang=lang, profile=profile))
    click.echo(f"{'added' if new else 'updated'} {saved.email}: {_describe(saved)}")


def _describe(s: Any) -> str:
    parts = [f"topics {', '.join(s.topics)}" if s.topics else "all topics"]
    if s.vendors:
        parts.append(f"vendors {', '.join(s.vendors)}")
    if s.profile:
        parts.append(f"profile {s.profile}")
    parts.append(f"language {s.lang}")
    return "; ".join(parts)


@subscribers.command("list")
@db_option
@config_option
@private_option
@click.option("--tokens", is_flag=True, help="Also show each subscriber's unsubscribe token.")
@friendly_errors
def subscribers_list(db_path: str, config_name: str | None, private_path: str | None,
                     tokens: bool) -> None:
    """List subscribers with their topics, vendors, language and the last week sent."""
    from kb.publish.digest.subscribers import last_sent_weeks, list_subscribers

    private = _private_db(db_path, config_name, private_path)
    rows = list_subscribers(private)
    last = last_sent_weeks(private)
    for s in rows:
        extra = f"  token {s.token}" if tokens else ""
        click.echo(f"{s.email}  {_describe(s)}; last sent {last.get(s.id or 0, 'never')}{extra}")
    click.echo(f"{len(rows)} subscriber{'s' if len(rows) != 1 else ''}", err=True)


@subscribers.command("remove")
@click.argument("email")
@db_option
@config_option
@private_option
@friendly_errors
def subscribers_remove(email: str, db_path: str, config_name: str | None,
                       private_path: str | None) -> None:
    """Remove a subscriber, by address or by the unsubscribe token from their mail."""
    from kb.publish.digest.subscribers import remove_subscriber

    removed = remove_subscriber(_private_db(db_path, config_name, private_path), email)
    click.echo(f"removed {removed.email}")


@click.command()
@db_option
@config_option
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option("--print-cron", is_flag=True, help="Print equivalent crontab lines instead.")
@private_option
@quiet_option
@friendly_errors
def schedule(db_path: str, config_name: str | None, once: bool, print_cron: bool,
             private_path: str | None, quiet: bool) -> None:
    """Run the configured schedule (crawls, enrichment, the weekly digest) in the foreground.

    Crawl + enrich run every schedule.crawl_every_minutes (plus jitter), the digest at
    schedule.digest_cron in schedule.timezone; each as a child process, never two at once.

    \b
    Examples:
      kb schedule                  # until Ctrl-C
      kb schedule --once           # what is due now (for cron or a systemd timer)
      kb schedule --print-cron     # crontab lines instead
    """
    from kb.cli.scheduling import Plan, build_scheduler, cron_lines, default_env
    from kb.core.config import load_config
    from kb.publish.digest.mail import smtp_settings

    setup_logging(quiet)
    config = load_config(config_name)
    plan = Plan.from_config(config.schedule)
    env = default_env()
    smtp_configured = bool(smtp_settings(config.smtp, env=env).host)
    outbox = Path(db_path).with_name(f"{Path(db_path).stem}.digests")
    if print_cron:
        for line in cron_lines(db_path, config_name, plan, smtp_configured=smtp_configured,
                               outbox=outbox, log_path=Path(db_path).with_suffix(".log")):
            click.echo(line)
        return
    if not smtp_configured:
        click.echo(f"no SMTP server configured: digests are written to {outbox}/ instead of mailed",
                   err=True)
    state = _private_path(db_path, config_name, private_path)
    _private_db(db_path, config_name, private_path).close()  # create it (and fail early) here
    scheduler = build_scheduler(db_path, config_name, plan, state,
                                smtp_configured=smtp_configured, outbox=outbox, env=env)
    if once:
        outcomes = scheduler.run_due()
        if not outcomes:
            click.echo("nothing due")
        for job, outcome in outcomes.items():
            click.echo(f"{job}: {outcome.status}")
        if any(o.status == "failed" for o in outcomes.values()):
            sys.exit(1)
        return
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # systemd stops services with SIGTERM
    signal.signal(signal.SIGINT, stop)  # Ctrl-C, even where the shell started us ignoring it
    try:
        scheduler.start(blocking=True)
    except KeyboardInterrupt:
        click.echo("schedule stopped", err=True)
