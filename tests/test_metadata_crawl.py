"""Metadata through the real crawl: what is stored, exported, shown, and upgraded by --reextract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils
from conftest import LOREM, rss2, run_kb
from test_hostile import LocalServer

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0"]


def publisher_page(base: str) -> str:
    """A page as a news site serves it: site name on the <title>, JSON-LD with people and an
    agency, a local publication time, a modified date, a byline naming the agency too."""
    ld = {
        "@context": "https://schema.org", "@type": "NewsArticle",
        "headline": "Regulators publish the first code of practice for AI models",
        "url": f"{base}/2026/10/05/code-of-practice.html",
        "datePublished": "2026-10-05T22:40:00-04:00", "dateModified": "2026-10-06T08:15:00-04:00",
        "author": [{"@type": "Person", "name": "MARTA KOWALSKA"},
                   {"@type": "Person", "name": "Jonas Field"},
                   {"@type": "Organization", "name": "Harbor Wire"}],
        "publisher": {"@type": "Organization", "name": "The Lakeside Ledger"},
    }
    body = "".join(f"<p>{p}</p>" for p in LOREM)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Regulators publish the first code of practice for AI models | The Lakeside Ledger"
        "</title><meta property=\"og:site_name\" content=\"The Lakeside Ledger\">"
        f'<script type="application/ld+json">{json.dumps(ld)}</script></head><body>'
        '<nav><h1 class="logo">The Lakeside Ledger</h1></nav><main><article>'
        "<h1>Regulators publish the first code of practice for AI models</h1>"
        '<p class="byline">By Marta Kowalska and Jonas Field, Harbor Wire</p>'
        f"{body}</article></main><footer>© The Lakeside Ledger</footer></body></html>")


def test_crawl_stores_people_agency_local_date_and_where_each_came_from(tmp_path: Path) -> None:
    server = LocalServer()
    try:
        b = server.base
        server.page("/2026/10/05/code-of-practice.html", publisher_page(b))
        # the feed gives no title and a wrong author: the page decides
        server.page("/feed.xml", rss2(b, [{"title": "", "link": f"{b}/2026/10/05/code-of-practice.html",
                                           "date": "Tue, 06 Oct 2026 02:40:00 GMT"}],
                                      title="The Lakeside Ledger"),
                    content_type="application/rss+xml")
        db_path = tmp_path / "kb.db"
        proc = run_kb("crawl", "--db", str(db_path), "--feed", f"{b}/feed.xml", "-q", *FAST)
        assert proc.returncode == 0, proc.stderr
    finally:
        server.close()
    [row] = sqlite_utils.Database(db_path)["articles"].rows
    assert row["title"] == "Regulators publish the first code of practice for AI models"
    assert json.loads(row["authors"]) == ["Marta Kowalska", "Jonas Field"]
    assert row["byline_org"] == "Harbor Wire"
    # the publisher's evening of the 5th, not the UTC 6th
    assert row["published_at"] == "2026-10-05T22:40:00-04:00"
    assert row["modified_at"] == "2026-10-06T08:15:00-04:00"
    sources = json.loads(row["meta_sources"])
    assert sources["title"].startswith("h1+") and sources["authors"] == "structured"
    assert sources["published"] == "json-ld datePublished"

    exported = json.loads(run_kb("export", "--db", str(db_path)).stdout.splitlines()[0])
    assert exported["author"] == ["Marta Kowalska", "Jonas Field"]
    assert (exported["byline_org"], exported["modified"]) == ("Harbor Wire", row["modified_at"])


def test_reextract_fills_metadata_of_rows_stored_before_it_existed(tmp_path: Path) -> None:
    server = LocalServer()
    try:
        b = server.base
        server.page("/2026/10/05/code-of-practice.html", publisher_page(b))
        server.page("/feed.xml", rss2(b, [{"title": "Regulators publish the first code of practice "
                                                    "for AI models | The Lakeside Ledger",
                                           "link": f"{b}/2026/10/05/code-of-practice.html"}]),
                    content_type="application/rss+xml")
        db_path = tmp_path / "kb.db"
        assert run_kb("crawl", "--db", str(db_path), "--feed", f"{b}/feed.xml", "-q",
                      *FAST).returncode == 0
        hits = len(server.requests)
    finally:
        server.close()  # nothing can be fetched from here on
    db = sqlite_utils.Database(db_path)
    [row] = db["articles"].rows
    # as an older aiwatch stored it: the feed's title with the site name, one author string
    db.execute("update articles set title = ?, author = 'By MARTA KOWALSKA', authors = null, "
               "byline_org = null, modified_at = null, meta_sources = null, feed_entry = null",
               ["Regulators publish the first code of practice for AI models | The Lakeside Ledger"])
    db.conn.commit()
    proc = run_kb("crawl", "--db", str(db_path), "--reextract", "-q")
    assert proc.returncode == 0, proc.stderr
    assert len(server.requests) == hits
    fixed = db["articles"].get(row["id"])
    assert fixed["title"] == "Regulators publish the first code of practice for AI models"
    assert json.loads(fixed["authors"]) == ["Marta Kowalska", "Jonas Field"]
    assert fixed["byline_org"] == "Harbor Wire"
    assert fixed["modified_at"] == "2026-10-06T08:15:00-04:00"
    assert json.loads(fixed["meta_sources"])["authors"] == "structured"


def test_a_title_end_repeated_across_a_sources_pages_is_taken_for_its_name() -> None:
    from kb.crawl.metadata import RepeatedTitleEnds, reconcile

    ends = RepeatedTitleEnds()
    url = "http://127.0.0.1:8000/story.html"  # the host says nothing of the outlet's name
    chosen = []
    for headline in ("Port cranes idle after the storm", "Ferry timetable changes from May",
                     "Council approves the harbour wall", "New lighthouse keeper named"):
        found = {"title": [("<title>", f"{headline} · Quayside Gazette")], "h1": []}
        ends.learn("quayside", found)
        meta = reconcile(found, {}, url, "2026-05-01T10:00:00+00:00", "",
                         ends.names("quayside"))
        chosen.append(meta["title"])
    assert chosen[:2] == ["Port cranes idle after the storm · Quayside Gazette",
                          "Ferry timetable changes from May · Quayside Gazette"]
    assert chosen[2:] == ["Council approves the harbour wall", "New lighthouse keeper named"]
    assert ends.names("another-source") == set()


@pytest.mark.parametrize("byline, people", [
    ("بقلم محمد علي", ["محمد علي"]),
    ("מאת דוד כהן", ["דוד כהן"]),
    ("राहुल शर्मा, अनीता देसाई", ["राहुल शर्मा", "अनीता देसाई"]),
    ("정덕현", ["정덕현"]),
    ("Текст: Венера Ерофеева", ["Венера Ерофеева"]),
    ("Вера", []),  # one cased word is no name unless structured data says so
    ("Przez Anna Nowak", ["Anna Nowak"]),
])
def test_names_in_scripts_with_and_without_capitals(byline: str, people: list[str]) -> None:
    from kb.crawl.metadata import split_byline

    assert split_byline(byline, set())[0] == people


def test_an_article_held_only_in_a_script_state_assignment_is_recovered() -> None:
    from kb.crawl.extraction import extract_article

    paragraphs = [f"<p>{p}</p>" for p in LOREM * 2]
    state = {"page": {"type": "article", "article": {"headline": "Harbour council votes on AI rules",
                                                       "body": "".join(paragraphs)}}}
    html = ('<!DOCTYPE html><html lang="en"><head><title>Harbour council votes on AI rules</title>'
            '</head><body><div id="root">Loading…</div>'
            f"<script>window.__PRELOADED_STATE__ = {json.dumps(state)};</script></body></html>")
    extracted = extract_article(html, "https://harbour.example/news/ai-rules")
    assert extracted["method"] == "script-json"
    assert LOREM[0] in extracted["text"] and "Loading" not in extracted["text"]
    assert "<p>" not in extracted["text"]


@pytest.mark.parametrize("value, day", [
    ("2019", None), ("November 2019", None),  # no day: never today's filled in
    ("05.11.2019 10:00", "2019-11-05"),  # day first where dots separate
    ("Tue, 19 Nov 2019 01:02:03 GMT", "2019-11-19"),
    ("2019-11-19 21:57:00 -0800", "2019-11-19"),
])
def test_dates_are_read_only_when_they_name_a_day(value: str, day: str | None) -> None:
    from kb.crawl.metadata import parse_date

    parsed = parse_date(value)
    assert (parsed.date().isoformat() if parsed else None) == day
