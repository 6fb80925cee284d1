"""The web instance in a real browser: headless Chromium (Playwright, sync API) against a real
`kb serve` child process over a copy of the demo corpus. Saves the screenshots in docs/."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    assert SEED_TITLE in page.locator("ol.story-articles h2").all_inner_texts()
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
