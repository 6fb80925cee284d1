"""The weekly digest: build from the enriched demo corpus, render, and send over a real SMTP server."""

from __future__ import annotations

import email
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from markupsafe import escape

from kb.cli import cli
from kb.core.config import Smtp
from kb.publish.digest.build import DigestError, IsoWeek, build_week, select_digest
from kb.publish.digest.mail import MailError, require_sendable, smtp_settings
from kb.publish.digest.render import compose_message, money, render_digest
from kb.publish.digest.subscribers import Subscriber
from kb.store.connection import open_db

ROOT = Path(__file__).resolve().parent.parent
WEEK = "2026-W46"
# The first test here to ask for demo_db pays for building it (crawl + enrich, minutes on a busy machine).
pytestmark = pytest.mark.timeout(1200)


class Mailbox:
    """An aiosmtpd handler that keeps every message and refuses the addresses in ``refuse`` (550)."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def for_address(self, address: str) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy)  # type: ignore[misc]
                for rcpts, raw in self.messages if address in rcpts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port, for the duration."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as running:
        yield running


def smtp_env(port: int) -> dict[str, str]:
    return {"KB_SMTP_HOST": "127.0.0.1", "KB_SMTP_PORT": str(port), "KB_SMTP_SECURITY": "none",
            "KB_MAIL_FROM": "aiwatch <digest@aiwatch.test>", "KB_SMTP_USER": "", "KB_SMTP_PASSWORD": ""}


def kb(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env={"KB_DB": None, "KB_CONFIG": None, **(env or {})})


def week_data(db_path: Path, week: str = WEEK) -> Any:
    return build_week(open_db(db_path, create=False), week=IsoWeek.parse(week))


# -- weeks ----------------------------------------------------------------------------------------

def test_iso_weeks() -> None:
    week = IsoWeek.parse("2026-W46")
    assert week.start == datetime(2026, 11, 9, tzinfo=UTC) and week.end == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.previous().label == "2026-W45" and IsoWeek.parse("2027-W01").previous().label == "2026-W53"
    assert IsoWeek.last_full(datetime(2026, 11, 23, 7, 0, tzinfo=UTC)).label == "2026-W47"
    assert IsoWeek.last_full(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)).label == "2026-W47"
    for bad in ("2026-47", "W46", "2026-W54", "2025-W53", "next week"):
        with pytest.raises(DigestError):
            IsoWeek.parse(bad)


def test_money_formatting() -> None:
    assert money(3_500_000_000, "EUR") == "€3.5bn"
    assert money(28_000_000, "USD") == "$28m"
    assert money(1_400_000_000, "CAD") == "1.4bn CAD"
    assert money(None) == "–"


# -- build ----------------------------------------------------------------------------------------

def test_build_week_reads_the_demo_corpus(demo_db: Path) -> None:
    data = week_data(demo_db)
    assert data.article_count > 5 and data.outlet_count > 3
    ids = [s.id for s in data.stories]
    assert len(ids) == len(set(ids)), "each story once"
    assert all(s.outlet_count >= 1 and s.articles and s.lead().url.startswith("http") for s in data.stories)
    # week 46 has no story told by two outlets in the labels; week 45 has five
    assert not any(s.outlet_count > 1 for s in data.stories)
    assert any(s.outlet_count > 1 for s in week_data(demo_db, "2026-W45").stories)
    outlets = [s.outlet_count for s in data.stories]
    assert outlets == sorted(outlets, reverse=True)
    start, end = data.week.start.isoformat(), data.week.end.isoformat()
    assert all(any(start <= a.published < end for a in s.articles) for s in data.stories)
    keys = [(f.company, f.amount, f.currency) for f in data.funding]
    assert data.funding and len(keys) == len(set(keys))
    assert all(f.amount > 0 and f.currency for f in data.funding)
    counts = {c.key: c for c in data.topic_counts}
    assert {"sovereignty", "open-source", "regulation", "export-controls", "funding"} <= set(counts)
    assert sum(c.this_week for c in counts.values()) > 0 and sum(c.last_week for c in counts.values()) > 0


def test_each_reader_gets_their_topics_each_story_once(demo_db: Path) -> None:
    data = week_data(demo_db)
    policy = select_digest(data, Subscriber("p@example.org", topics=["regulation", "export-controls",
                                                                      "sovereignty"], profile="policy"))
    shown = [s for section in policy.sections for s in section.stories]
    assert shown and len({s.id for s in shown}) == len(shown)
    assert [s.key for s in policy.sections] == ["regulation", "export-controls", "sovereignty"]
    for section in policy.sections:
        assert all(section.key in s.topics for s in section.stories)
    assert not policy.vendors
    vendor = max(data.vendor_counts, key=lambda c: c.this_week).key
    watcher = select_digest(data, Subscriber("v@example.org", vendors=[vendor]))
    picked = [s for section in watcher.sections for s in section.stories]
    assert picked and all(vendor in s.vendors for s in picked)
    assert [c.key for c in watcher.vendors] == [vendor]
    everyone = select_digest(data, Subscriber("e@example.org"))
    assert everyone.sections[0].key == "top"
    assert everyone.sections[0].stories == [s for s in data.stories if s.topics][:8]
    assert everyone.policy and all(
        any(t in s.topics for t in ("regulation", "export-controls")) for sec in everyone.policy
        for s in sec.stories)


def test_reader_language_picks_the_article_in_that_language(demo_db: Path) -> None:
    data = week_data(demo_db)
    mixed = [s for s in data.stories if {a.lang for a in s.articles} >= {"en", "fr"}
             or {a.lang for a in s.articles} >= {"en", "de"}]
    for story in mixed:
        for lang in {a.lang for a in story.articles}:
            assert story.lead(lang).lang == lang
        assert story.lead("en").lang == "en"


def test_an_empty_week_says_so(demo_db: Path) -> None:
    data = week_data(demo_db, "2026-W02")
    assert data.article_count == 0 and not data.stories
    rendered = render_digest(select_digest(data, Subscriber("a@example.org", topics=["funding"])))
    assert "No articles were collected for this week" in rendered.text
    assert "No articles were collected for this week" in rendered.html
    assert "a quiet week" in rendered.subject


def test_failing_source_is_flagged_for_the_operator(demo_db_copy: Path) -> None:
    now = datetime.now(UTC)
    with sqlite3.connect(demo_db_copy) as conn:
        conn.execute("update sources set consecutive_failures = 4, last_error = 'HTTP 503 from feed', "
                     "last_success_at = ?, last_attempt_at = ? where id = 'policy-circuit'",
                     [(now - timedelta(days=2)).isoformat(), now.isoformat()])
        conn.execute("update sources set consecutive_failures = 1, last_error = 'timeout', "
                     "last_success_at = ?, last_attempt_at = ? where id = 'market-pulse'",
                     [(now - timedelta(hours=3)).isoformat(), now.isoformat()])
        conn.execute("update sources set consecutive_failures = 9, last_error = 'DNS lookup failed', "
                     "last_success_at = null, last_attempt_at = ? where id = 'digitalbote'",
                     [now.isoformat()])
        conn.execute("update crawl_runs set started_at = ?", [(now - timedelta(days=3)).isoformat()])
    rendered = render_digest(select_digest(week_data(demo_db_copy), Subscriber("a@example.org")))
    for part in (" ".join(rendered.text.split()), rendered.html):
        assert "Policy Circuit" in part.split("Note for the operator")[1]
        assert "HTTP 503 from feed" in part and "DNS lookup failed" in part  # never succeeded, for days
        assert "timeout" not in part.split("Note for the operator")[1]  # failing for three hours only


def test_top_stories_leave_out_stories_about_none_of_the_topics(demo_db: Path) -> None:
    data = week_data(demo_db, "2026-W48")
    off_topic = [s for s in data.stories if not s.topics]
    assert any("Handheld gaming PCs" in s.headline for s in off_topic)
    assert any(s in data.stories[:8] for s in off_topic)  # busy enough to have ranked among the top
    top = select_digest(data, Subscriber("e@example.org")).sections[0]
    assert top.key == "top" and top.stories and all(s.topics for s in top.stories)
    html = render_digest(select_digest(data, Subscriber("e@example.org"))).html
    assert "Handheld gaming PCs" not in html.split("Funding round-up")[0]


# -- render ---------------------------------------------------------------------------------------

SITE = "https://news.example.org"


def test_counts_are_singular_for_one(demo_db: Path) -> None:
    data = week_data(demo_db)
    data.article_count, data.outlet_count = 1, 1
    for lang, intro in (("en", "1 article from 1 outlet this week."),
                        ("fr", "1 article de 1 média cette semaine."),
                        ("de", "1 Artikel aus 1 Medium diese Woche.")):
        rendered = render_digest(select_digest(data, Subscriber("a@example.org", lang=lang)))
        assert intro in rendered.text and intro in rendered.html, lang
    data.article_count, data.outlet_count = 11, 7
    rendered = render_digest(select_digest(data, Subscriber("a@example.org")))
    assert "11 articles from 7 outlets this week." in rendered.text
    assert "1 outlet ·" in rendered.text and "1 outlets" not in rendered.text


def test_a_french_reader_gets_french_headings(demo_db: Path) -> None:
    data = week_data(demo_db, "2026-W41")
    reader = Subscriber("f@example.org", lang="fr", topics=["funding", "sovereignty"])
    rendered = render_digest(select_digest(data, reader), base_url=SITE)
    for part in (rendered.text, rendered.html.replace("&#39;", "'")):
        for heading in ("Financements, valorisations et rachats", "Souveraineté de l'IA", "Levées de fonds",
                        "Sujets de la semaine", "À retenir", "Utile pour"):
            assert heading in part, heading
        for english in ("Funding, valuations and deals", "AI sovereignty", "Key takeaway", "Best for"):
            assert english not in part, english
    assert "Fiche de l'histoire" in rendered.text


def test_top_stories_carry_their_brief_and_link_to_it(demo_db: Path) -> None:
    data = week_data(demo_db, "2026-W41")
    reader = Subscriber("e@example.org")
    digest = select_digest(data, reader)
    rendered = render_digest(digest, base_url=SITE + "/")
    shown = [s for s in digest.sections[0].stories if not s.id.startswith("article-")]
    assert shown
    for story in shown:
        assert f'href="{SITE}/-/story/{story.id}"' in rendered.html
        assert f"{SITE}/-/story/{story.id}" in rendered.text
    seed = next(s for s in shown if "Mistral" in s.headline and s.outlet_count == 3)
    brief = data.briefs.get(seed.id, "en")
    assert brief is not None and brief["takeaway"]["text"] in " ".join(rendered.text.split())
    text = " ".join(rendered.text.split())
    assert ("Key facts: Mistral AI €3bn (in talks, valuation €20bn) · Mistral AI €3.5bn (raised to date)"
            in text)
    assert "Best for: " in text and "Key takeaway: " in text
    assert str(escape(brief["summary"][0]["text"])) in rendered.html
    plain = render_digest(digest)  # without the instance's address: the original articles
    assert "/-/story/" not in plain.html and seed.lead().url in plain.html

EVIL_TITLE = '<script>alert("pwned")</script> Evil & Sons <b>bold</b> regulation'
EVIL_SUMMARY = '<img src=x onerror="alert(1)"> The AI Act applies from August, officials said.'


def insert_hostile_article(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        cur = conn.execute(
            "insert into articles (url, source_id, title, published_at, lang, text, content_hash) "
            "values (?, 'policy-circuit', ?, '2026-11-11T10:00:00+00:00', 'en', ?, 'x')",
            ["http://127.0.0.1:1/evil?a=1&b=<2>", EVIL_TITLE, "Some text about the AI Act."])
        aid = cur.lastrowid
        conn.execute("insert into article_topics (article_id, topic, score, method, evidence) "
                     "values (?, 'regulation', 0.99, 'test', '')", [aid])
        conn.execute("insert into article_summaries (article_id, summary, method) values (?, ?, 'test')",
                     [aid, EVIL_SUMMARY])


def test_crawled_text_is_escaped_in_html(demo_db_copy: Path) -> None:
    insert_hostile_article(demo_db_copy)
    data = week_data(demo_db_copy)
    reader = Subscriber("a@example.org", topics=["regulation"], token="t")
    rendered = render_digest(select_digest(data, reader))
    assert "<script>" not in rendered.html and "<img" not in rendered.html and "<b>bold" not in rendered.html
    assert str(escape(EVIL_TITLE)) in rendered.html
    assert "&lt;img src=x onerror=" in rendered.html
    assert 'href="http://127.0.0.1:1/evil?a=1&amp;b=&lt;2&gt;"' in rendered.html
    assert EVIL_TITLE[:30] in rendered.text  # the plain-text part is text, shown as is
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        page.set_content(rendered.html)
        assert page.locator("script").count() == 0 and page.locator("img").count() == 0
        assert page.locator("b").count() == 0
        assert '<script>alert("pwned")</script>' in page.inner_text("body")
        browser.close()


def test_html_digest_in_chromium_and_screenshot(demo_db: Path) -> None:
    """The all-topics digest, as `kb digest --out` writes it, fits a phone; saved for the docs."""
    data = week_data(demo_db)
    reader = Subscriber("reader@example.org", vendors=["Mistral AI"], profile="investor",
                        topics=["funding", "sovereignty"], token="t")
    msg, rendered = compose_message(data, reader, mail_from="digest@aiwatch.test")
    from playwright.sync_api import sync_playwright

    target = ROOT / "docs" / "digest-screenshot.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.set_content(rendered.html)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert phone.locator("h2").count() >= 4
        desktop = browser.new_page(viewport={"width": 760, "height": 1000})
        desktop.set_content(rendered.html)
        assert desktop.locator("table tr").count() > 5
        target.parent.mkdir(exist_ok=True)
        desktop.screenshot(path=str(target), full_page=True)
        browser.close()
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000


# -- settings -------------------------------------------------------------------------------------

def test_smtp_settings_flags_over_env_over_config() -> None:
    config = Smtp(host="smtp.config.example", port=587, security="starttls", mail_from="c@example.org",
                  user="config-user")
    env = {"KB_SMTP_HOST": "smtp.env.example", "KB_SMTP_PORT": "2525", "KB_SMTP_PASSWORD": "s3cret"}
    s = smtp_settings(config, env=env, overrides={"host": "smtp.flag.example", "port": None})
    assert (s.host, s.port, s.security, s.user, s.password, s.mail_from) == (
        "smtp.flag.example", 2525, "starttls", "config-user", "s3cret", "c@example.org")
    assert "s3cret" not in repr(s)
    assert smtp_settings(config, env={}).password is None
    with pytest.raises(MailError, match="KB_SMTP_PASSWORD"):
        require_sendable(smtp_settings(config, env={}))
    with pytest.raises(MailError, match="no SMTP server configured"):
        require_sendable(smtp_settings(Smtp(), env={}))
    with pytest.raises(MailError, match="port must be a number"):
        smtp_settings(Smtp(), env={"KB_SMTP_PORT": "twenty"})
    with pytest.raises(MailError, match="none, starttls or ssl"):
        smtp_settings(Smtp(), env={"KB_SMTP_SECURITY": "tls"})


# -- the command: preview, send, retry ------------------------------------------------------------

def test_out_writes_eml_and_html_preview(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = kb("digest", "--db", str(demo_db), "--week", WEEK, "--out", str(out),
                "--subscribers-db", str(tmp_path / "subs.db"))
    assert result.exit_code == 0, result.output
    assert "all-topics preview" in result.stdout
    eml, html = out / f"{WEEK}-preview.eml", out / f"{WEEK}-preview.html"
    msg = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert msg["Message-ID"].startswith("<digest.2026-W46.")
    assert msg["List-Unsubscribe"].strip().startswith("<mailto:")
    part = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html.read_text(encoding="utf-8").strip() == part.strip()
    assert "Funding round-up" in html.read_text(encoding="utf-8")


def test_send_without_smtp_is_a_clear_error(demo_db: Path, tmp_path: Path) -> None:
    result = kb("digest", "--db", str(demo_db), "--week", WEEK, "--send",
                "--subscribers-db", str(tmp_path / "subs.db"), env={"KB_SMTP_HOST": None})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no SMTP server configured") and result.stderr.count("\n") == 1
    bad = kb("digest", "--db", str(demo_db), "--week", "2026-W60")
    assert bad.exit_code == 1 and bad.stderr == "Error: 2026 has no week 60\n"


def test_unreachable_smtp_fails_and_leaves_mail_for_next_run(demo_db: Path, tmp_path: Path) -> None:
    subs = str(tmp_path / "subs.db")
    added = kb("subscribers", "add", "ana@example.org", "--db", str(demo_db), "--subscribers-db", subs)
    assert added.exit_code == 0
    result = kb("digest", "--db", str(demo_db), "--week", WEEK, "--send", "--subscribers-db", subs,
                env=smtp_env(free_port()))
    assert result.exit_code == 1
    assert "Error: cannot reach SMTP server 127.0.0.1" in result.stderr and "Traceback" not in result.output
    with sqlite3.connect(subs) as conn:
        assert conn.execute("select status from digest_sends").fetchall() == [("failed",)]


def test_send_delivers_once_and_retries_refused(demo_db: Path, tmp_path: Path,
                                                smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    subs = str(tmp_path / "subs.db")
    db = str(demo_db)
    for args in (["policy@example.org", "--profile", "policy"],
                 # Cohere's round is that week's news; Mistral AI is only named in passing in it
                 ["investor@example.org", "--profile", "investor", "--vendor", "Cohere"],
                 ["bounce@example.org", "--lang", "fr"]):
        assert kb("subscribers", "add", *args, "--db", db, "--subscribers-db", subs).exit_code == 0
    mailbox.refuse = {"bounce@example.org"}
    send = ("digest", "--db", db, "--week", WEEK, "--send", "--subscribers-db", subs)

    first = kb(*send, env=smtp_env(port))
    assert first.exit_code == 1, first.output
    assert "failed: bounce@example.org: 550" in first.stderr
    assert "2026-W46: 2 sent, 0 already sent, 1 failed" in first.stdout
    assert len(mailbox.messages) == 2
    for _, raw in mailbox.messages:  # one unfolded, unencoded header line a mail client can follow
        assert b"\r\nList-Unsubscribe: <mailto:digest@aiwatch.test?subject=unsubscribe%20" in raw

    data = week_data(demo_db)
    for address, reader in (
            ("policy@example.org", Subscriber("policy@example.org", profile="policy",
                                              topics=["regulation", "export-controls", "sovereignty"])),
            ("investor@example.org", Subscriber("investor@example.org", profile="investor",
                                                topics=["funding"], vendors=["Cohere"]))):
        [msg] = mailbox.for_address(address)
        check_message(msg, address)
        html = msg.get_body(("html",)).get_content()
        expected = select_digest(data, reader)
        leads = [s.lead().title for section in expected.sections for s in section.stories]
        assert leads and all(str(escape(title)) in html for title in leads)
        others = [s for s in data.stories
                  if s not in [x for sec in expected.sections for x in sec.stories]
                  and s not in [x for sec in expected.policy for x in sec.stories]]
        assert all(str(escape(s.lead().title)) not in html for s in others)
    investor = mailbox.for_address("investor@example.org")[0].get_body(("html",)).get_content()
    assert "Vendors in the news" in investor and "Cohere" in investor

    second = kb(*send, env=smtp_env(port))
    assert second.exit_code == 1 and "0 sent, 2 already sent, 1 failed" in second.stdout
    assert len(mailbox.messages) == 2, "a re-run never mails twice"

    mailbox.refuse.clear()
    third = kb(*send, env=smtp_env(port))
    assert third.exit_code == 0, third.output
    assert "1 sent, 2 already sent, 0 failed" in third.stdout
    [retried] = mailbox.for_address("bounce@example.org")
    check_message(retried, "bounce@example.org")
    assert "Veille IA" in retried["Subject"]
    assert len(mailbox.messages) == 3

    fourth = kb(*send, env=smtp_env(port))
    assert fourth.exit_code == 0 and "0 sent, 3 already sent" in fourth.stdout
    assert len(mailbox.messages) == 3
    with sqlite3.connect(subs) as conn:
        rows = dict(conn.execute("select email, attempts from digest_sends where status = 'sent'").fetchall())
    assert rows == {"policy@example.org": 1, "investor@example.org": 1, "bounce@example.org": 3}


def test_sent_digests_link_the_story_briefs_in_the_reader_s_language(demo_db: Path, tmp_path: Path,
                                                                       smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    subs = str(tmp_path / "subs.db")
    assert kb("subscribers", "add", "lea@example.org", "--lang", "fr", "--topic", "sovereignty",
              "--db", str(demo_db), "--subscribers-db", subs).exit_code == 0
    sent = kb("digest", "--db", str(demo_db), "--week", "2026-W41", "--send", "--subscribers-db", subs,
              env={**smtp_env(port), "KB_BASE_URL": SITE})
    assert sent.exit_code == 0, sent.output
    [msg] = mailbox.for_address("lea@example.org")
    html, text = msg.get_body(("html",)).get_content(), msg.get_body(("plain",)).get_content()
    assert f'href="{SITE}/-/story/' in html and f"{SITE}/-/story/" in text
    assert "<h2" in html and "Souveraineté de l&#39;IA" in html and "AI sovereignty" not in html
    assert "articles de" in text and "À retenir" in text


def check_message(msg: EmailMessage, address: str) -> None:
    assert msg["To"] == address and "digest@aiwatch.test" in msg["From"]
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert "2026-W46" in msg["Subject"] and "Week 46" in text.get_content() + html.get_content() or \
        "Semaine 46" in text.get_content()
    assert msg["List-Unsubscribe"].strip().startswith("<mailto:digest@aiwatch.test?subject=unsubscribe%20")
    assert msg["Message-ID"].startswith("<digest.2026-W46.") and msg["Message-ID"].endswith("@aiwatch.test>")
    assert abs(parsedate_to_datetime(msg["Date"]) - datetime.now(UTC)) < timedelta(minutes=5)
    assert html.get_content().lstrip().startswith("<!DOCTYPE html>")


def test_every_language_has_every_label() -> None:
    from kb.publish.digest.render import LABELS

    assert set(LABELS) >= {"en", "fr", "de"}
    for lang, labels in LABELS.items():
        assert set(labels) == set(LABELS["en"]), lang


def test_plain_digest_prints_a_preview(demo_db: Path) -> None:
    result = kb("digest", "--db", str(demo_db), "--week", WEEK)
    assert result.exit_code == 0
    assert result.stdout.startswith("AI watch · Week 46 · 9 Nov – 15 Nov 2026")
    assert "Funding round-up" in result.stdout and "preview of the all-topics digest" in result.stderr
