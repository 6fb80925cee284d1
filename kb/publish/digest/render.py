"""The weekly digest, render step: a ``Digest`` (plain data) -> subject, plain text and HTML.

Jinja2 templates in ``kb/templates/digest``; the HTML one is autoescaped, so every title, summary
and outlet name from crawled pages is escaped. Inline CSS and a single-column table layout keep it
readable in common mail clients and on a phone. No database, no network.
"""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from kb.core.money import compact, money
from kb.core.resources import bundled
from kb.publish.digest.build import POLICY_TOPICS, Digest, IsoWeek, Story, WeekData, select_digest
from kb.publish.digest.subscribers import Subscriber
from kb.publish.unsubscribe import make_token, unsubscribe_url

TEMPLATES = bundled("kb.publish.digest", "templates")
MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split(),
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sep. Okt. Nov. Dez.".split(),
}
LABELS: dict[str, dict[str, Any]] = yaml.safe_load((TEMPLATES / "labels.yaml").read_text(encoding="utf-8"))


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else (f"−{-n}" if n < 0 else "±0")


def short_date(value: str | date | datetime | None, lang: str = "en") -> str:
    """'2026-11-10T09:00:00+00:00' -> '10 Nov' ('10 nov.', '10. Nov.'); '' when there is no date."""
    if not value:
        return ""
    try:
        day = value if isinstance(value, date) else datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    month = MONTHS.get(lang, MONTHS["en"])[day.month - 1]
    return f"{day.day}. {month}" if lang == "de" else f"{day.day} {month}"


def week_span(week: IsoWeek, lang: str = "en") -> str:
    first, last = week.start.date(), week.end.date() - timedelta(days=1)
    return f"{short_date(first, lang)} – {short_date(last, lang)} {last.year}"


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    return textwrap.fill(" ".join((text or "").split()), width=width, initial_indent=indent,
                         subsequent_indent=indent)


@cache
def environment() -> Environment:
    """The templates' environment (built once): HTML autoescaped, plain text not."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=lambda name: bool(
        name and name.endswith(".html")), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=money, compact=compact, signed=signed, short_date=short_date, wrap=wrap)
    return env


def subject_line(digest: Digest) -> str:
    t = LABELS.get(digest.subscriber.lang, LABELS["en"])
    stories = [s for section in digest.sections for s in section.stories] or digest.data.stories
    if not stories:
        return t["subject_empty"].format(week=digest.week.label)
    headline = stories[0].lead(digest.subscriber.lang).title
    if len(headline) > 90:
        headline = headline[:89].rstrip() + "…"
    return t["subject"].format(week=digest.week.label, headline=headline)


def counted(n: int, one: str, many: str) -> str:
    """'1 article', '11 articles' (the words in the reader's language)."""
    return f"{n} {one if n == 1 else many}"


def key_facts(brief: dict[str, Any] | None, t: dict[str, Any]) -> list[str]:
    """A story's funding events as the digest states them: 'Mistral AI €3bn (in talks, valuation
    €20bn)', closed deals first, totals raised to date last."""
    facts = []
    for f in (brief or {}).get("facts", {}).get("funding", []):
        detail = t.get(f"status_{f['status']}", f["status"])
        if f["valuation_stated"]:
            detail += f", {t['valuation_of']} {f['valuation_stated']}"
        facts.append(f"{f['company']} {f['stated']} ({detail})")
    return facts


def template_context(digest: Digest, *, unsubscribe: str | None,
                     base_url: str | None = None) -> dict[str, Any]:
    lang = digest.subscriber.lang if digest.subscriber.lang in LABELS else "en"
    t = LABELS[lang]
    names = {**digest.data.topic_names, **(t.get("topic_names") or {})}

    def brief(story: Story) -> dict[str, Any] | None:
        return digest.data.briefs.get(story.id, lang)

    return {
        "d": digest, "t": t, "lang": lang, "subject": subject_line(digest), "policy_topics": POLICY_TOPICS,
        "span": week_span(digest.week, lang), "unsubscribe": unsubscribe, "names": names,
        "site": base_url.rstrip("/") if base_url else None, "brief": brief,
        "key_facts": lambda b: key_facts(b, t),
        "intro": t["intro"].format(articles=counted(digest.data.article_count, t["article"], t["articles"]),
                                   outlets=counted(digest.data.outlet_count, t["outlet"], t["outlets"])),
        "following": ", ".join(names.get(s, s) for s in digest.subscriber.topics)
        + (", " if digest.subscriber.topics and digest.subscriber.vendors else "")
        + ", ".join(digest.subscriber.vendors) or t["all_topics"],
        "failing": [t["failing"].format(name=f["name"], failures=f["failures"], error=f["last_error"] or "?",
                                        since=(f["last_success_at"] or "")[:10] or t["never"])
                    for f in digest.data.failing_sources],
    }


def render_digest(digest: Digest, *, unsubscribe: str | None = None, base_url: str | None = None) -> Rendered:
    """Subject, plain-text part and HTML part for one subscriber's digest; with the web instance's
    ``base_url``, each story links to its brief there (/-/story/<id>)."""
    env = environment()
    context = template_context(digest, unsubscribe=unsubscribe, base_url=base_url)
    return Rendered(subject=context["subject"], text=env.get_template("digest.txt").render(context),
                    html=env.get_template("digest.html").render(context))


# -- the message: headers and both parts (no network; kb.publish.digest.mail sends it) ---

PREVIEW_FROM = "aiwatch <digest@aiwatch.localhost>"
# CRLF, and long header lines left whole rather than folded: a List-Unsubscribe URL longer than 78
# characters would otherwise be RFC 2047-encoded, which mail clients cannot follow.
MAIL_POLICY = SMTP.clone(max_line_length=998)


def unsubscribe_link(mail_from: str, token: str) -> str:
    """A mailto: link that reaches the operator with the subscriber's token in the subject."""
    address = parseaddr(mail_from)[1] or mail_from
    return f"mailto:{address}?subject=unsubscribe%20{quote(token)}"


def message_id(week: IsoWeek, token: str, mail_from: str) -> str:
    """Stable per subscriber and week, so a retried send carries the same Message-ID."""
    domain = (parseaddr(mail_from)[1] or mail_from).rpartition("@")[2] or "aiwatch.localhost"
    tag = hashlib.sha256(f"{week.label}:{token}".encode()).hexdigest()[:20]
    return f"<digest.{week.label}.{tag}@{domain}>"


def build_message(rendered: Rendered, *, to: str, mail_from: str, msgid: str, unsubscribe: str,
                  now: datetime | None = None, one_click: str | None = None) -> EmailMessage:
    """A multipart/alternative message (plain text first, then HTML) with list headers: with a web
    ``one_click`` URL, List-Unsubscribe offers it first and the ``mailto:`` second, and an HTTPS one
    gets List-Unsubscribe-Post (RFC 8058 one-click)."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = rendered.subject
    msg["From"] = mail_from
    msg["To"] = to
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = msgid
    msg["List-Id"] = "aiwatch weekly digest <digest.aiwatch>"
    msg["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in (one_click, unsubscribe) if u)
    if one_click and one_click.startswith("https://"):
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg.set_content(rendered.text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def compose_message(data: WeekData, subscriber: Subscriber, *, mail_from: str | None,
                    now: datetime | None = None, base_url: str | None = None,
                    secret: bytes | None = None) -> tuple[EmailMessage, Rendered]:
    """Select, render and wrap one subscriber's digest. With the instance's ``base_url``, stories link
    to their briefs there; with the private database's signing ``secret`` too, the mail links the web
    instance's one-click unsubscribe."""
    sender = mail_from or PREVIEW_FROM
    unsubscribe = unsubscribe_link(sender, subscriber.token)
    one_click = None
    if base_url and secret:
        one_click = unsubscribe_url(base_url, make_token(
            secret, subscriber.token, now=now.timestamp() if now else None))
    rendered = render_digest(select_digest(data, subscriber), unsubscribe=one_click or unsubscribe,
                             base_url=base_url)
    msg = build_message(rendered, to=subscriber.email, mail_from=sender,
                        msgid=message_id(data.week, subscriber.token, sender), unsubscribe=unsubscribe,
                        now=now, one_click=one_click)
    return msg, rendered


def write_preview(out_dir: str | Path, name: str, msg: EmailMessage, rendered: Rendered) -> Path:
    """Write ``<name>.eml`` (the whole message) and ``<name>.html`` (its HTML part) under ``out_dir``,
    readable by their owner only (they carry addresses and unsubscribe links)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("@", "_at_"))
    _write_private(folder / f"{safe}.eml", msg.as_bytes())
    _write_private(folder / f"{safe}.html", rendered.html.encode("utf-8"))
    return folder / f"{safe}.eml"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode on O_CREAT
    with os.fdopen(fd, "wb") as out:
        out.write(data)
