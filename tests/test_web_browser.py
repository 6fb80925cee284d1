"""The web instance in a real browser: headless Chromium (Playwright, sync API) against a real
`kb serve` child process over a copy of the demo corpus. Saves the screenshots in docs/."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import feedparser
import pytest
from test_web import QUERY, SEED_TITLE, XSS, XSS_WORD, prepared_copy, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")


@pytest.fixture(scope="module")
def base(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc: subprocess.Popen[bytes]
    proc, url = start_server(prepared_copy(demo_db, tmp_path_factory.mktemp("browser")))
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser(base: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, base: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=base)
    page = context.new_page()
    page.set_default_timeout(120_000)  # the first semantic query loads the models
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()
    assert not dialogs, f"a script ran: {dialogs}"


def search(page: Any, text: str, *, mode: str = "hybrid", topic: str | None = None) -> None:
    page.goto("/")
    page.fill("input[name=q]", text)
    page.check(f"input[name=mode][value={mode}]")
    if topic:
        page.select_option("select[name=topic]", topic)
    page.click("input[type=submit]")
    page.wait_for_selector("p.result-meta")


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_search_in_each_mode_finds_the_article(page, mode):
    search(page, QUERY, mode=mode)
    assert f"mode={mode}&" in page.url
    titles = page.locator("a.result-title").all_inner_texts()
    assert SEED_TITLE in titles[:10]
    assert page.locator(f"input[name=mode][value={mode}]").is_checked()
    if mode != "semantic":
        assert page.locator("p.snippet mark").count() > 0


def test_topic_filter(page):
    search(page, QUERY, topic="funding")
    results = page.locator("li.result")
    assert results.count() > 0
    for i in range(results.count()):
        chips = results.nth(i).locator("a.chip.topic").all_inner_texts()
        assert any(c.startswith("funding") for c in chips)
    assert page.locator("select[name=topic]").input_value() == "funding"


def test_article_page_then_its_story_and_the_screenshots(page):
    search(page, QUERY)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "search-page.png"))
    page.click(f"a.result-title:text-is('{SEED_TITLE}')")
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == SEED_TITLE
    assert re.search(r"/-/article/\d+$", page.url)
    assert page.locator("table.topics tbody tr").count() >= 2
    assert page.locator("section.related li").count() == 5
    page.screenshot(path=str(DOCS / "article-page.png"))
    coverage = page.locator("section.coverage li").count()
    page.click("a.story-link")
    page.wait_for_selector("ol.story-articles")
    assert "/-/story/st-" in page.url
    times = page.locator("ol.story-articles time").evaluate_all("els => els.map(e => e.dateTime)")
    assert len(times) == coverage + 1 and times == sorted(times)
    assert SEED_TITLE in page.locator("ol.story-articles h3").all_inner_texts()
    for path in ("search-page.png", "article-page.png"):
        assert (DOCS / path).stat().st_size > 20_000


def test_topic_feed_parses(page, base):
    response = page.request.get(base + "/-/feeds/topic/open-source.atom")
    assert response.ok and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.body())
    assert feed.bozo is False or feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10" and len(feed.entries) > 3


def test_search_page_links_its_feed(page, base):
    search(page, QUERY, mode="keyword")
    href = page.locator("a.feed-link").get_attribute("href")
    response = page.request.get(base + href)
    feed = feedparser.parse(response.body())
    assert not feed.bozo
    page.click("p.sort-links a:text('newest')")  # the feed is a subscription: newest first
    page.wait_for_selector("p.result-meta")
    assert feed.entries[0].title == page.locator("a.result-title").first.inner_text()
    story = page.locator("li.result a.outlets").first.get_attribute("href")
    assert feed.entries[0].id == base + story


def test_crawled_script_shows_as_text(page):
    search(page, XSS_WORD, mode="keyword")
    title = page.locator("a.result-title").first
    assert XSS in title.inner_text()
    title.click()
    page.wait_for_selector("h1")
    assert XSS in page.locator("h1").inner_text()
    assert page.locator("section.facts").inner_text().count(XSS) >= 2  # evidence, funding company
    assert page.evaluate("document.querySelectorAll('article script, section script').length") == 0


PHONE = {"width": 390, "height": 844}


def phone_pages(page: Any, base: str) -> dict[str, str]:
    """One page of every type, by what it is: aiwatch's pages and Datasette's own."""
    seed = page.request.get(base + "/kb/article_list.json?" + urlencode(
        {"_shape": "array", "title__exact": SEED_TITLE})).json()[0]
    return {
        "home": "/",
        "search with results": "/-/search?" + urlencode({"q": QUERY}),
        "search, filters only": "/-/search?topic=export-controls&vendor=Nvidia",
        "article page": f"/-/article/{seed['id']}",
        "story page": f"/-/story/{seed['story_id']}",
        "vendor page": "/-/vendor/Nvidia",
        "topic page": "/-/topic/export-controls",
        "jurisdiction page": "/-/jurisdiction/EU",
        "trends": "/-/trends",
        "topics per week chart": "/-/charts/topics-per-week",
        "table page": "/kb/articles",
        "row page": f"/kb/articles/{seed['id']}",
        "SQL page": "/kb?" + urlencode({"sql": "select * from article_list order by published desc limit 9"}),
        "canned query": "/kb/topics_per_week",
        "funding_rounds view": "/kb/funding_rounds",
        "article_list view": "/kb/article_list",
        "database page": "/kb",
    }


def test_every_page_type_fits_a_phone_and_names_the_licences(browser, base):
    """At 390 px nothing is wider than the screen (wide tables scroll in their box), and every
    footer states the code's licence and that the articles are their publishers'."""
    context = browser.new_context(viewport=PHONE, base_url=base)
    page = context.new_page()
    page.set_default_timeout(120_000)
    too_wide, footers = {}, {}
    try:
        for kind, path in phone_pages(page, base).items():
            response = page.goto(path)
            assert response is not None and response.ok, (kind, path)
            if kind == "search with results":
                assert page.locator("li.result").count() > 0
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                too_wide[kind] = width
            footer = page.locator("footer").inner_text()
            if "MIT licence" not in footer or "belong to their publishers" not in footer \
                    or "Data license" in footer:
                footers[kind] = footer
    finally:
        context.close()
    assert not too_wide, f"wider than {PHONE['width']} px: {too_wide}"
    assert not footers, footers


@pytest.mark.parametrize("table", ["articles", "funding_rounds", "article_list"])
def test_table_pages_show_their_rows_first(browser, base, table):
    """The description, the column notes and the facets are folded, one line each, so the first
    rows show on a phone's first screen; opening the notes shows every column's."""
    context = browser.new_context(viewport=PHONE, base_url=base)
    page = context.new_page()
    try:
        page.goto(f"/kb/{table}")
        notes = page.locator("details.table-notes")
        assert notes.count() == 1 and notes.get_attribute("open") is None
        assert not page.locator("dl.column-descriptions").is_visible()
        first_row = page.locator("table.rows-and-columns tbody tr").first.bounding_box()
        assert first_row is not None and first_row["y"] < PHONE["height"], first_row
        notes.locator("summary").click()
        assert page.locator("dl.column-descriptions dt").count() >= 5
        facets = page.locator("details.table-facets")
        assert facets.count() == 1 and facets.get_attribute("open") is None
    finally:
        context.close()
