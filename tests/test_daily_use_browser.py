"""A journalist's day on the instance, in headless Chromium against a real `kb serve` of the demo
corpus: browse export controls newest first, go to the second page and subscribe; open Nvidia's
page; open the trends; open the Mistral story's brief; read a question's chips and switch one off.
Saves the README's screenshots in docs/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from test_web import prepared_copy, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")]


@pytest.fixture(scope="module")
def base(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(prepared_copy(demo_db, tmp_path_factory.mktemp("daily")))
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def page(base: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        context = chromium.new_context(viewport={"width": 1200, "height": 900}, base_url=base)
        page = context.new_page()
        page.set_default_timeout(120_000)  # the first semantic query loads the models
        try:
            yield page
        finally:
            chromium.close()


def test_browse_export_controls_newest_first_page_two_and_subscribe(page, base):
    page.goto("/-/search")
    page.select_option("select[name=topic]", "export-controls")
    page.click("input[type=submit]")
    page.wait_for_selector("p.result-meta")
    assert "match the filters" in page.inner_text("p.result-meta")
    first = page.locator("li.result time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert first and first == sorted(first, reverse=True)
    assert not page.locator("li.result .score").count()  # browsing ranks nothing: no scores
    page.click("a[rel=next]")
    page.wait_for_selector("p.result-meta")
    assert "page=2" in page.url and "page 2 of" in page.inner_text("p.result-meta")
    page.screenshot(path=str(DOCS / "browse-page.png"), full_page=False)
    second = page.locator("li.result time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert second and second[0] <= first[-1]
    feed_url = page.get_attribute("a.feed-link", "href")
    feed = feedparser.parse(httpx.get(base + feed_url, timeout=60).content)
    assert not feed.bozo and feed.entries
    updated = [e.updated for e in feed.entries]
    assert updated == sorted(updated, reverse=True)


def test_nvidia_page_shows_its_funding_and_coverage_chart(page):
    page.goto("/-/vendor/Nvidia")
    assert "Nvidia" in page.inner_text("h1")
    body = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    assert "Funding" in body or "funding" in body
    assert page.locator("svg[role=img] title").count() >= 1
    page.screenshot(path=str(DOCS / "vendor-page.png"), full_page=False)


def test_trends_page(page):
    page.goto("/-/trends")
    assert page.locator("svg[role=img]").count() >= 2
    assert "Rising" in page.inner_text("body") or "rising" in page.inner_text("body")


def test_mistral_story_brief_has_facts_status_and_best_for(page):
    page.goto("/-/search?q=Mistral+debt+and+equity")
    page.wait_for_selector("a.outlets")
    page.locator("a.outlets").first.click()
    page.wait_for_load_state()
    text = page.inner_text("body")
    assert "Best for" in text and "in talks" in text.lower() and "€3" in text
    page.screenshot(path=str(DOCS / "story-brief.png"), full_page=False)


def test_a_question_shows_its_chips_and_one_switches_off(page):
    page.goto("/-/search?q=" + "Which European AI start-ups raised funding in euros?".replace(" ", "+"))
    page.wait_for_selector("div.interpreted")
    chips = page.locator(".interpreted-chip").all_inner_texts()
    assert any("currency EUR" in c for c in chips) and any("jurisdiction EU" in c for c in chips)
    page.screenshot(path=str(DOCS / "search-chips.png"), full_page=False)
    page.locator(".interpreted-chip.currency a.chip-off").click()
    page.wait_for_selector("p.result-meta")
    assert "off=currency%3AEUR" in page.url
    assert not any("currency EUR" in c for c in page.locator(".interpreted-chip").all_inner_texts())
