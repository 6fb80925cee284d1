"""The vendor, topic and jurisdiction pages and the trends page, over a real `kb serve` child process:
a database of fixture rows (dated up to 2026-11-26, the "now" of every window) for exact content,
and the demo corpus in Chromium at a phone's width."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import feedparser
import httpx
import pytest
from conftest import copy_database
from sqlite_utils import Database
from test_web import XSS_VENDOR, prepared_copy, start_server, stop_server

from kb.enrich.entity_days import build_entity_days
from kb.enrich.ledger import build_ledger
from kb.publish.entities import entity_page, trends_page
from kb.publish.svg_charts import axis_top, bar_chart
from kb.store.connection import open_db

SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
TOPICS = {"export-controls": "Export controls", "regulation": "AI regulation", "funding": "Funding"}
VENDORS = ["Nvidia", "AMD", "Cerebras", "Mistral AI", XSS_VENDOR]
JURISDICTIONS = ["US", "EU", "China"]
# id: (day, source, title, topics, main vendors, vendors named in passing, jurisdictions, story)
ARTICLES: dict[int, tuple[str, str, str, list[str], list[str], list[str], list[str], str | None]] = {
    1: ("2026-11-25", "one", "Nvidia in talks to raise EUR 2bn for European AI factories", ["funding"],
        ["Nvidia"], [], ["EU"], "st-nvfund"),
    2: ("2026-11-24", "two", "Nvidia seeks EUR 2bn in Europe", ["funding"], ["Nvidia"], [], ["EU"],
        "st-nvfund"),
    3: ("2026-11-10", "one", "Commerce tightens export rules for Nvidia H20 chips", ["export-controls"],
        ["Nvidia"], ["AMD"], ["US", "China"], None),
    4: ("2026-11-05", "three", "Cerebras opens a Paris inference hub", [], ["Cerebras"], ["Nvidia"], ["EU"],
        None),
    5: ("2026-11-12", "two", "Cerebras wins a sovereign cloud contract", [], ["Cerebras"], [], [], None),
    6: ("2026-11-20", "three", "Cerebras files for a listing", ["funding"], ["Cerebras"], [], ["US"], None),
    7: ("2026-09-15", "one", "Nvidia beats on data-centre sales", [], ["Nvidia"], [], [], None),
    8: ("2026-09-20", "two", "AMD launches its next accelerator", [], ["AMD"], [], [], None),
    9: ("2026-09-25", "one", "AMD and Nvidia face new chip rules", ["export-controls", "regulation"],
        ["AMD", "Nvidia"], [], ["US"], None),
    10: ("2026-10-01", "three", "AMD wins a supercomputer deal", [], ["AMD"], [], [], None),
    11: ("2026-11-15", "one", "AMD updates its software stack", [], ["AMD"], [], [], None),
    12: ("2026-10-20", "two", "Brussels guidance for general-purpose models", ["regulation"], ["Mistral AI"],
         [], ["EU"], None),
    13: ("2026-11-18", "one", "Mistral AI closes a USD 1bn round", ["funding"], ["Mistral AI"], [], ["EU"],
         None),
    14: ("2026-11-01", "two", f"Markup {XSS_VENDOR} vendor", [], [XSS_VENDOR], [], [], None),
}
FUNDING = [(1, "Nvidia", 2e9, "EUR", "Nvidia is in talks to raise €2 billion from European investors."),
           (2, "Nvidia", 2e9, "EUR", "Nvidia is in talks to raise €2bn, people familiar with it said."),
           (13, "Mistral AI", 1e9, "USD", "Mistral AI closed a $1 billion funding round.")]
POLICY = [(3, "eccn", "3A090"), (12, "eu-act", "Regulation (EU) 2024/1689")]


def build(path: Path) -> Path:
    """The fixture database, through the real schema and the real funding ledger."""
    db = open_db(path)
    db["sources"].insert_all([{"id": s, "name": f"Wire {s.title()}", "feed_url": f"https://{s}.example/feed"}
                              for s in ("one", "two", "three")])
    db["topics"].insert_all([{"slug": slug, "name": name} for slug, name in TOPICS.items()])
    names = [("vendor", v) for v in VENDORS] + [("jurisdiction", j) for j in JURISDICTIONS]
    entity = {name: i for i, (_, name) in enumerate(names, 1)}
    db["entities"].insert_all([{"id": i, "kind": kind, "name": name}
                               for i, (kind, name) in enumerate(names, 1)])
    db["stories"].insert({"id": "st-nvfund", "headline": ARTICLES[1][2], "first_seen": "2026-11-24",
                          "last_seen": "2026-11-25", "article_count": 2, "outlet_count": 2})
    for aid, (day, source, title, topics, main, mentioned, places, story) in ARTICLES.items():
        db["articles"].insert({"id": aid, "url": f"https://{source}.example/{aid}", "source_id": source,
                               "title": title, "published_at": f"{day}T09:00:00+00:00", "lang": "en",
                               "text": f"{title}. More text.", "content_hash": f"h{aid}"})
        db["article_topics"].insert_all([{"article_id": aid, "topic": t, "score": 0.9, "method": "rules"}
                                         for t in topics])
        db["article_entities"].insert_all(
            [{"article_id": aid, "entity_id": entity[n], "mentions": 3, "method": "rules", "role": "main"}
             for n in main + places]
            + [{"article_id": aid, "entity_id": entity[n], "mentions": 1, "method": "rules",
                "role": "mentioned"} for n in mentioned])
        if story:
            db["story_articles"].insert({"story_id": story, "article_id": aid})
    db["funding_events"].insert_all([{"article_id": aid, "company": company, "amount": amount,
                                      "currency": cur, "kind": "equity", "sentence": sentence,
                                      "method": "rules"} for aid, company, amount, cur, sentence in FUNDING])
    db["policy_refs"].insert_all([{"article_id": aid, "kind": kind, "ref": ref, "context": ref}
                                  for aid, kind, ref in POLICY])
    build_ledger(db)
    build_entity_days(db)  # as enrichment does after its stages
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def kb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("entities") / "kb.db")


@pytest.fixture(scope="module")
def site(kb_file: Path) -> Iterator[httpx.Client]:
    proc, base = start_server(kb_file)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def db(kb_file: Path, site: httpx.Client) -> Database:
    return Database(kb_file)


def page(site: httpx.Client, path: str) -> str:
    response = site.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.text


def section(html: str, name: str) -> str:
    """The HTML of <section class="name">."""
    return html.split(f'<section class="{name}">', 1)[1].split("</section>", 1)[0]


def article_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/-/article/(\d+)"', html)]


def sql_rows(site: httpx.Client, html: str) -> list[dict[str, Any]]:
    """The rows of the section's "SQL behind this" link, run through Datasette's JSON API."""
    href = re.search(r'<p class="sql-link"><a href="([^"]+)"', html)
    assert href and href.group(1).startswith("/kb?sql=")
    url = href.group(1).replace("&amp;", "&").replace("/kb?", "/kb.json?", 1)
    response = site.get(url + "&_shape=objects")
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


def test_vendor_page_lists_its_stories_newest_first_one_per_story(site):
    stories = section(page(site, "/-/vendor/Nvidia"), "entity-stories")
    # 1 and 2 are one story (1 the newer); 4 names Nvidia only in passing
    assert article_ids(stories) == [1, 3, 9, 7]
    assert '<a href="/-/story/st-nvfund">2 outlets</a>' in stories
    assert [r["id"] for r in sql_rows(site, stories)] == [1, 3, 9, 7]


def test_vendor_page_shows_funding_with_status_and_converted_amounts(site, db):
    [event] = db.query("select * from funding_ledger where company = 'Nvidia'")
    assert event["status"] == "in_talks" and event["reports"] == 2 and event["currency"] == "EUR"
    funding = section(page(site, "/-/vendor/Nvidia"), "entity-funding")
    row = funding.split('<tr class="status-in_talks">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="status">in talks</td>' in row
    assert "2,000,000,000 EUR" in row
    assert f"{event['amount_usd']:,.0f}" in row and event["amount_usd"] > 2e9  # converted, not copied
    assert event["fx_note"].startswith("ECB reference rate") and event["fx_note"] in row
    assert ">2</a>" in row and event["first_reported"] == "2026-11-24"  # two reports, the first on the 24th
    assert [r["id"] for r in sql_rows(site, funding)] == [event["id"]]
    assert "No funding events for AMD" in page(site, "/-/vendor/AMD")


def test_vendor_page_shows_what_it_occurs_with(site):
    related = section(page(site, "/-/vendor/Nvidia"), "entity-related")
    assert re.search(r'href="/-/vendor/AMD">AMD</a> 2 \(1 as a main actor\)', related)
    assert "Cerebras" not in related  # only in an article that names Nvidia in passing
    topics = dict(re.findall(r'href="/-/topic/([a-z-]+)">[a-z-]+</a> (\d+)', related))
    assert topics == {"export-controls": "2", "funding": "2", "regulation": "1"}


def test_coverage_chart_is_an_svg_with_a_title_a_description_and_its_data(site):
    html = page(site, "/-/vendor/Nvidia")
    figure = ET.fromstring(re.search(r'<figure class="chart svg-chart" id="coverage">.*?</figure>', html,
                                     re.S).group(0))
    svg = figure.find(f"{SVG}svg")
    assert svg.get("role") == "img" and svg.get("viewBox") and svg.get("width") is None
    assert svg.find(f"{SVG}title").text == "Articles about Nvidia per week"
    assert "5 articles" in svg.find(f"{SVG}desc").text
    assert svg.get("aria-labelledby") == "coverage-title coverage-desc"
    table = figure.find("details/div/table")
    rows = {tr.find("th").text: int(tr.find("td").text) for tr in table.find("tbody")}
    # every week from the first to the last, Mondays, zeros included
    assert rows["2026-09-14"] == 1 and rows["2026-09-21"] == 1 and rows["2026-11-23"] == 2
    assert rows["2026-11-09"] == 1 and rows["2026-10-05"] == 0 and sum(rows.values()) == 5
    assert len(svg.findall(f"{SVG}rect")) == len(rows) + 1  # a bar per week on a background


def test_names_match_in_any_case(site):
    for path, canonical in (("/-/vendor/nVIDIA", "/-/vendor/Nvidia"),
                            ("/-/jurisdiction/us", "/-/jurisdiction/US"),
                            ("/-/topic/Export-Controls", "/-/topic/export-controls"),
                            ("/-/vendor/mistral%20ai", "/-/vendor/Mistral%20AI")):
        response = site.get(path)
        assert response.status_code == 302 and response.headers["location"] == canonical, path
    assert "<h1>Mistral AI</h1>" in page(site, "/-/vendor/Mistral%20AI")


@pytest.mark.parametrize(("path", "suggestion"), [
    ("/-/vendor/Nvidai", "/-/vendor/Nvidia"), ("/-/vendor/mistral", "/-/vendor/Mistral%20AI"),
    ("/-/topic/export-control", "/-/topic/export-controls"), ("/-/jurisdiction/Europe", "/-/jurisdiction/EU"),
])
def test_unknown_names_are_404_with_suggestions(site, path, suggestion):
    response = site.get(path)
    assert response.status_code == 404
    assert "No " in response.text and f'class="suggestion" href="{suggestion}"' in response.text
    assert site.get("/-/vendor/Zzqxw").status_code == 404


def test_jurisdiction_page_has_policy_references_regulation_timeline_and_feed(site):
    html = page(site, "/-/jurisdiction/US")
    assert article_ids(section(html, "entity-stories")).count(3) == 1
    policy = section(html, "entity-policy")
    assert "<strong>3A090</strong> (eccn)" in policy and "2024/1689" not in policy
    assert [r["ref"] for r in sql_rows(site, policy)] == ["3A090"]
    regulation = section(html, "entity-regulation")
    months = re.findall(r"<strong>(\d{4}-\d{2})</strong> · (\d+) article", regulation)
    assert months == [("2026-11", "1"), ("2026-09", "1")]  # the listing (6) is funding, not regulation
    assert article_ids(regulation) == [3, 9]
    feed = feedparser.parse(site.get("/-/feeds/jurisdiction/US.atom").content)
    assert not feed.bozo and [e.title for e in feed.entries] == [ARTICLES[i][2] for i in (6, 3, 9)]
    assert 'href="/-/feeds/jurisdiction/US.atom"' in html
    assert site.get("/-/feeds/jurisdiction/Atlantis.atom").status_code == 404
    assert "<strong>Regulation (EU) 2024/1689</strong>" in page(site, "/-/jurisdiction/EU")


def test_topic_page(site):
    html = page(site, "/-/topic/export-controls")
    assert "<h1>Export controls</h1>" in html and 'href="/-/feeds/topic/export-controls.atom"' in html
    assert article_ids(section(html, "entity-stories")) == [3, 9]
    timeline = section(html, "entity-timeline")
    assert re.findall(r"<strong>(\d{4}-\d{2})</strong>", timeline) == ["2026-11", "2026-09"]
    assert [r["month"] for r in sql_rows(site, timeline)] == ["2026-11", "2026-09"]


def test_trends_page_shows_rising_vendors_funding_per_month_and_new_policy_references(site):
    html = page(site, "/-/trends")
    rising = section(html, "trend-rising")
    rows = re.findall(r'<tr><th scope="row"><a href="/-/vendor/([^"]+)">[^<]+</a></th>'
                      r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>'
                      r'<td class="num">([\d.]+)×', rising)
    # Cerebras: 3 in the last 4 weeks, none before; Nvidia 3 against 2 (3 * 3 / 2 = 4.5); AMD and
    # Mistral AI had a single article in the last 4 weeks
    assert rows == [("Cerebras", "3", "0", "9.0"), ("Nvidia", "3", "2", "4.5")]
    assert [(r["name"], r["ratio"]) for r in sql_rows(site, rising)] == [("Cerebras", 9.0), ("Nvidia", 4.5)]
    funding = section(html, "trend-funding")
    # the talks are left out; the closed USD round is counted once, in US dollars
    assert re.search(r'<th scope="row">2026-11</th><td class="num">\$1bn</td><td class="num">1</td>', funding)
    assert [(r["month"], r["amount_usd"]) for r in sql_rows(site, funding)] == [("2026-11", 1e9)]
    policy = section(html, "trend-policy")
    assert policy.index("3A090") < policy.index("Regulation (EU) 2024/1689")
    share = section(html, "trend-topics")
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", share, re.S).group(0))
    assert svg.find(f"{SVG}title").text == "Topic share per week"
    assert {p.find(f"{SVG}title").text for p in svg.findall(f"{SVG}polyline")} == set(TOPICS)
    assert "<details" in share and sql_rows(site, share)


def test_chips_and_names_link_to_the_entity_pages(site):
    article = page(site, "/-/article/3")
    for href in ("/-/vendor/Nvidia", "/-/vendor/AMD", "/-/jurisdiction/US", "/-/jurisdiction/China",
                 "/-/topic/export-controls"):
        assert f'href="{href}"' in article, href
    assert "/-/feeds/vendor/" not in article
    results = page(site, "/-/search?q=Cerebras&mode=keyword")
    assert '<a class="chip vendor" href="/-/vendor/Cerebras">Cerebras</a>' in results
    assert 'class="chip topic" href="/-/topic/funding"' in results
    assert 'href="/-/trends"' in page(site, "/-/trends")  # the navigation
    assert '<a href="/-/vendor/Mistral%20AI">Mistral AI</a>' in page(site, "/kb/funding_rounds")


def test_crawled_names_are_escaped(site):
    html = page(site, "/-/vendor/" + quote(XSS_VENDOR, safe=""))
    assert XSS_VENDOR not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<img src=x" not in page(site, "/-/trends")


def test_entity_days_count_the_articles_about_each_entity(kb_file):
    db = Database(kb_file)
    days = {(r["kind"], r["name"], r["day"]): r["articles"] for r in db.query("select * from entity_days")}
    assert days[("vendor", "Nvidia", "2026-11-25")] == 1 and ("vendor", "Nvidia", "2026-11-05") not in days
    assert days[("topic", "funding", "2026-11-18")] == 1 and days[("all", "", "2026-11-10")] == 1
    assert sum(v for (kind, _, _), v in days.items() if kind == "all") == len(ARTICLES)
    assert sum(v for (kind, name, _), v in days.items() if name == "Cerebras") == 3
    # a jurisdiction's regulation timeline: its articles tagged regulation or export controls
    assert sum(v for (kind, name, _), v in days.items() if (kind, name) == ("regulation", "US")) == 2


def test_entity_latest_holds_each_entitys_articles_newest_first(kb_file):
    db = Database(kb_file)
    latest = [r["article_id"] for r in db.query(
        "select article_id from entity_latest where kind = 'vendor' and name = 'Nvidia' "
        "order by published_at desc, article_id desc")]
    assert latest == [1, 2, 3, 9, 7]  # never 4, which names Nvidia in passing
    assert [r[0] for r in db.execute("select article_id from entity_latest where kind = 'regulation' "
                                     "and name = 'US' order by published_at desc")] == [3, 9]


@pytest.mark.parametrize("dropped", [["entity_days", "entity_latest"], ["entity_latest"]])
def test_pages_read_the_same_without_the_precomputed_days(kb_file, tmp_path, dropped):
    """A database enriched before entity_days (or entity_latest) existed: the pages count and
    find the latest articles on the fly, alike."""
    older = Database(copy_database(kb_file, tmp_path / "older.db"))
    for table in dropped:
        older.execute(f"drop table {table}")
    db = Database(kb_file)
    for kind, name in (("vendor", "Nvidia"), ("topic", "funding"), ("jurisdiction", "US"),
                       ("jurisdiction", "EU")):
        fresh, old = entity_page(db, kind, name, database="kb"), entity_page(older, kind, name, database="kb")
        assert "entity_latest" in fresh["stories"]["sql_url"]
        assert "entity_latest" not in old["stories"]["sql_url"]
        if "entity_days" in dropped:
            assert "entity_days" in fresh["weeks"]["sql_url"] and "entity_days" not in old["weeks"]["sql_url"]
        keys = ["articles", "stories", "weeks", "vendors", "topics", "timeline", "chart"]
        for key in keys + (["policy", "regulation"] if kind == "jurisdiction" else []):
            assert (fresh[key]["rows"] if isinstance(fresh[key], dict) else fresh[key]) == \
                (old[key]["rows"] if isinstance(old[key], dict) else old[key]), (kind, key)
    fresh, old = trends_page(db, database="kb"), trends_page(older, database="kb")
    assert all(fresh[k]["rows"] == old[k]["rows"] for k in ("share", "rising", "funding", "policy"))


def test_charts_scale_their_axis_and_say_when_they_are_empty():
    assert axis_top(3, counts=True) == (3, [0, 1, 2, 3])
    assert axis_top(7, counts=True) == (8, [0, 2, 4, 6, 8])
    assert axis_top(0.45)[0] == pytest.approx(0.6)  # steps of 0.2
    empty = str(bar_chart([], [], chart_id="c", title="T", desc="D", column="n"))
    assert "No data yet" in empty and "<title" in empty and "<tbody></tbody>" in empty


@pytest.fixture(scope="module")
def demo_site(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc: subprocess.Popen[bytes]
    proc, url = start_server(prepared_copy(demo_db, tmp_path_factory.mktemp("entity-browser")))
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")
def test_entity_and_trends_pages_fit_a_phone_in_chromium(demo_site):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for width in (390, 1200):
                context = browser.new_context(viewport={"width": width, "height": 900}, base_url=demo_site)
                tab = context.new_page()
                for path in ("/-/vendor/Nvidia", "/-/trends"):
                    tab.goto(path)
                    assert tab.locator("figure.svg-chart svg title").count() >= 1
                    assert tab.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
                    if width == 1200:
                        DOCS.mkdir(exist_ok=True)
                        tab.screenshot(path=str(DOCS / f"{path.split('/')[2]}-page.png"), full_page=True)
                tab.goto("/-/vendor/Nvidia")
                assert tab.locator("ol.entity-stories li").count() >= 5
                tab.locator("figure#coverage summary").click()
                assert tab.locator("figure#coverage details table tbody tr").first.is_visible()
                context.close()
        finally:
            browser.close()
