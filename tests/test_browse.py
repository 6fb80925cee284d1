"""Search that browses, sorts and pages, and a saved search's feed as a subscription, over a real
`kb serve` of the enriched sample corpus."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from conftest import run_kb
from test_web import prepared_copy, start_server, stop_server


@pytest.fixture(scope="module")
def kb_copy(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_copy(demo_db, tmp_path_factory.mktemp("browse"))


@pytest.fixture(scope="module")
def site(kb_copy: Path) -> Iterator[httpx.Client]:
    proc, base = start_server(kb_copy)
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            yield client
    finally:
        stop_server(proc)


def search(site: httpx.Client, **params: Any) -> dict[str, Any]:
    response = site.get("/-/search.json", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def scalar(path: Path, sql: str, *params: Any) -> Any:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_filters_alone_list_matching_articles_newest_first(site, kb_copy):
    page = search(site, topic="export-controls", limit=5)
    dates = [r["published"] for r in page["results"]]
    assert len(dates) == 5 and dates == sorted(dates, reverse=True)
    assert all(any(t["slug"] == "export-controls" for t in r["topics"]) for r in page["results"])
    tagged = "select count(*) from article_topics where topic = 'export-controls'"
    assert page["total"] == scalar(kb_copy, tagged)
    second = search(site, topic="export-controls", limit=5, page=2)
    assert not {r["id"] for r in second["results"]} & {r["id"] for r in page["results"]}
    assert second["results"][0]["published"] <= dates[-1]
    assert page["next_page"] and "page=2" in page["next_page"] and page["previous_page"] is None


def test_pages_go_past_one_hundred_and_past_the_end_is_empty(site, kb_copy):
    total = scalar(kb_copy, "select count(*) from articles")
    assert total > 120
    page = search(site, since="2000-01-01", limit=20, page=7)
    assert len(page["results"]) == min(20, total - 120) and page["total"] == total
    oldest = search(site, since="2000-01-01", limit=20, sort="oldest")["results"]
    assert oldest[0]["published"] == scalar(kb_copy, "select min(published_at) from articles")
    beyond = search(site, since="2000-01-01", limit=20, page=50)
    assert beyond["results"] == [] and beyond["next_page"] is None


def test_a_query_sorts_by_date_and_keeps_its_relevant_set(site):
    relevance = search(site, q="export controls on chips to China", limit=50)
    newest = search(site, q="export controls on chips to China", limit=50, sort="newest")
    dates = [r["published"] for r in newest["results"]]
    assert dates == sorted(dates, reverse=True)
    assert {r["id"] for r in relevance["results"]} == {r["id"] for r in newest["results"]}


def test_hybrid_stops_where_relevance_drops(site, kb_copy):
    page = search(site, q="Mistral debt and equity", limit=100)
    assert 0 < page["total"] < 100 and len(page["results"]) == page["total"]
    scores = [r["score"] for r in page["results"]]
    assert min(scores) >= 0.5 * max(scores) - 1e-6


@pytest.mark.parametrize("params, message", [
    ({"q": "chips", "sort": "popular"}, "unknown sort"),
    ({"q": "chips", "page": "0"}, "page must be"),
    ({"q": "chips", "page": "two"}, "page must be"),
    ({"topic": "nonsense-topic"}, "unknown topic"),
])
def test_bad_parameters_are_a_400_with_the_reason(site, params, message):
    response = site.get("/-/search.json", params=params)
    assert response.status_code == 400 and message in response.text


def test_the_html_page_browses_sorts_and_links_the_next_page(site):
    html = site.get("/-/search", params={"topic": "funding", "limit": 5}).text
    assert "match the filters" in html and 'rel="next"' in html and "page 1 of" in html
    assert 'href="/-/search?topic=funding&amp;limit=5&amp;sort=oldest"' in html


def test_a_saved_search_feed_is_a_subscription(site, kb_copy):
    """Newest matching stories first; a new matching article tops the feed after enrichment."""
    feed = feedparser.parse(site.get("/-/search.atom", params={"q": "export controls China"}).content)
    updated = [e.updated for e in feed.entries]
    assert updated and updated == sorted(updated, reverse=True)
    ids = [e.id for e in feed.entries]
    again = feedparser.parse(site.get("/-/search.atom", params={"q": "export controls China"}).content)
    assert [e.id for e in again.entries] == ids  # stable entry ids
    with sqlite3.connect(kb_copy) as conn:
        conn.execute(
            "insert into articles (url, source_id, title, published_at, fetched_at, lang, summary, text, "
            "content_hash, word_count, extraction) "
            "select 'http://127.0.0.1/new-export-rule.html', source_id, "
            "'Commerce tightens export controls on AI chips bound for China', '2027-01-05T09:00:00+00:00', "
            "fetched_at, 'en', summary, text || ' New licence rules for China.', 'new-hash', word_count, "
            "extraction from articles where id in (select article_id from article_topics "
            "where topic = 'export-controls') order by published_at desc limit 1")
    run_kb("enrich", "--db", str(kb_copy), "-q", check=True, timeout=600)
    fresh = feedparser.parse(site.get("/-/search.atom", params={"q": "export controls China"}).content)
    assert fresh.entries[0].title == "Commerce tightens export controls on AI chips bound for China"
