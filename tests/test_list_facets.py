"""The article list's precounted facets (kb.enrich.list_facets, datasette/plugins/aiwatch_facets.py),
through a real `kb serve` child process over a database of fixture rows: without filters the list
reads the counts enrichment wrote, and they equal what Datasette counts live."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import copy_database
from sqlite_utils import Database
from test_entity_pages import ARTICLES, build
from test_web import start_server, stop_server

from kb.enrich.list_facets import build_list_facets

FACETS = {"topics", "vendors", "jurisdictions", "source", "lang", "month"}


@pytest.fixture(scope="module")
def kb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build(tmp_path_factory.mktemp("facets") / "kb.db")
    build_list_facets(Database(path))
    return path


@pytest.fixture(scope="module")
def site(kb_file: Path) -> Iterator[httpx.Client]:
    proc: subprocess.Popen[bytes]
    proc, base = start_server(kb_file)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client
    finally:
        stop_server(proc)


def facets(site: httpx.Client, **params: str) -> dict[str, Any]:
    data = site.get("/kb/article_list.json", params={"_size": "1", **params}).json()
    return data["facet_results"]


def counts(facet: dict[str, Any]) -> list[tuple[str, int]]:
    return [(r["value"], r["count"]) for r in facet["results"]]


def test_the_counts_are_stored_per_facet_with_the_total(kb_file):
    db = Database(kb_file)
    rows = {(r["facet"], r["value"]): r["articles"] for r in db.query("select * from article_list_facets")}
    assert rows[("", "")] == len(ARTICLES)
    assert rows[("vendors", "Nvidia")] == 5  # about Nvidia; article 4 names it in passing
    assert rows[("topics", "funding")] == 4 and rows[("jurisdictions", "US")] == 3
    assert {facet for facet, _ in rows} == FACETS | {""}


def test_the_unfiltered_list_reads_them_and_they_equal_the_live_counts(site):
    counted = facets(site)
    live = facets(site, id__gte="0")  # a filter that keeps every article: counted by Datasette
    assert set(counted) == set(live) == FACETS
    for name in FACETS:
        assert counted[name]["precounted"] is True and "precounted" not in live[name]
        assert counts(counted[name]) == counts(live[name]), name
        assert counted[name]["type"] == live[name]["type"] == ("array" if name in (
            "topics", "vendors", "jurisdictions") else "column")
        assert counted[name]["truncated"] == live[name]["truncated"]
    link = next(r for r in counted["vendors"]["results"] if r["value"] == "Nvidia")["toggle_url"]
    assert link.endswith("/kb/article_list.json?_size=1&vendors__arraycontains=Nvidia")


def test_sorting_and_paging_keep_them_and_a_search_counts_live(site):
    assert facets(site, _sort="title")["topics"]["precounted"] is True
    searched = facets(site, _search="Cerebras")
    assert "precounted" not in searched["vendors"]
    assert counts(searched["vendors"]) == [("Cerebras", 3)]


def test_articles_added_since_are_said_and_no_table_means_live_counts(kb_file, tmp_path):
    later = copy_database(kb_file, tmp_path / "kb.db")
    Database(later)["articles"].insert({"url": "https://one.example/new", "source_id": "one",
                                        "title": "Added after the enrichment", "content_hash": "new",
                                        "published_at": "2026-11-26T09:00:00+00:00", "lang": "en"})
    proc, base = start_server(later)
    try:
        page = httpx.get(base + "/kb/article_list", timeout=60).text
        assert "These counts are from the last enrichment, which counted" in page
        assert f"{len(ARTICLES)} articles" in page
        Database(later).execute("drop table article_list_facets")
        data = httpx.get(base + "/kb/article_list.json?_size=1", timeout=60).json()
        assert "precounted" not in data["facet_results"]["lang"]
        assert counts(data["facet_results"]["lang"]) == [("en", len(ARTICLES) + 1)]
    finally:
        stop_server(proc)
