"""Search on the enriched sample corpus: three modes, filters inside the query, hostile queries."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import run_kb

from kb.cli import cli
from kb.search.engine import Filters, Query, SearchError, fts_expression, rank, search
from kb.store.connection import open_db

SEED_TITLE = "Mistral CEO pitches open source AI days after Anthropic ban"


@pytest.fixture(scope="module")
def db(demo_db):
    return open_db(demo_db, create=False)


def titles(results):
    return [r["title"] for r in results]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_each_mode_finds_the_seed_story(db, mode):
    results = search(db, Query("Mistral debt and equity raise", mode=mode, limit=5))
    assert any("/b1-mistral-pitch-" in r["url"] for r in results), titles(results)


def test_hybrid_puts_the_seed_article_first(db):
    assert titles(search(db, Query("Mistral debt and equity", limit=3)))[0] in (
        SEED_TITLE, "Europe's open-weight champion turns US curbs into a sales pitch")


def test_hybrid_ranks_a_storys_other_outlets_with_its_best_match(db):
    # The French outlet's report of the same event shares no word with the query.
    keyword = search(db, Query("Mistral debt and equity", mode="keyword", limit=10))
    assert not any("/b1-mistral-pitch-depeche" in r["url"] for r in keyword)
    top = search(db, Query("Mistral debt and equity", limit=3))
    assert {r["story_id"] for r in top} == {top[0]["story_id"]} and top[0]["outlets"] == 3
    assert any("/b1-mistral-pitch-depeche" in r["url"] for r in top)


def test_story_spreading_respects_filters(db):
    source = search(db, Query("Mistral debt and equity", limit=1))[0]["url"].split("/")[3]
    results = search(db, Query("Mistral debt and equity", limit=10, filters=Filters(source=source)))
    assert results and all(f"/{source}/" in r["url"] for r in results)


def test_semantic_finds_a_paraphrase_with_few_shared_words(db):
    results = search(db, Query("hospitals running chatbots on their own servers instead of US clouds",
                               mode="semantic", limit=5))
    assert any("hospital" in t.lower() for t in titles(results))


def test_a_french_query_reaches_english_articles(db):
    results = search(db, Query("contrôles à l'exportation des puces vers la Chine", mode="hybrid", limit=10))
    english = [r for r in results if r["lang"] == "en"]
    assert english, titles(results)
    assert any(t["slug"] == "export-controls" for r in english for t in r["topics"])


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_topic_filter_applies_inside_the_query(db, mode):
    results = search(db, Query("Nvidia", mode=mode, limit=8, filters=Filters(topic="funding")))
    assert len(results) == 8
    assert all(any(t["slug"] == "funding" for t in r["topics"]) for r in results)


def test_vendor_and_date_filters(db):
    results = search(db, Query("chips", mode="hybrid", limit=20,
                               filters=Filters(vendor="nvidia", since="2026-10-01")))
    assert results
    assert all("Nvidia" in r["vendors"] and r["published"] >= "2026-10-01" for r in results)


def test_results_carry_snippet_summary_and_story(db):
    [top] = search(db, Query("Mistral debt", mode="keyword", limit=1))
    assert "\x02" in top["snippet"] and top["summary"]
    assert top["story_id"] and top["outlets"] == 3


@pytest.mark.parametrize("text", [
    '"unbalanced quote', "AND OR NOT", "NEAR(export controls", "title:Mistral", "Nvidia*", "^start",
    "'; drop table articles; --", "😀🚀", "الذكاء الاصطناعي", "בינה מלאכותית", "open-source", "a" * 10_000,
    "((( )))", "OR", "-",
])
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_hostile_queries_never_raise(db, text, mode):
    results = rank(db, Query(text, mode=mode, limit=5))
    assert isinstance(results, list)
    assert db["articles"].count == 156


def test_empty_query_is_a_clear_error(db):
    with pytest.raises(SearchError, match="empty"):
        rank(db, Query("   ", mode="keyword"))


@pytest.mark.parametrize("text, expected", [
    ("Mistral debt", '"Mistral" "debt"'),
    ('"debt and equity" Mistral', '"debt and equity" "Mistral"'),
    ("open-source models", '"open source" "models"'),
    ("Nvidia OR AMD", '"Nvidia" OR "AMD"'),
    ("the new", "\"new\""),
    ("the of and", None),
    ('NEAR("x" title:y)', '"NEAR x" "title y"'),
])
def test_fts_expression_quotes_every_term(text, expected):
    assert fts_expression(text) == expected


def test_cli_json_lines_and_stdin_queries(demo_db):
    result = CliRunner().invoke(cli, ["search", "-", "--db", str(demo_db), "--json", "--limit", "2",
                                      "--mode", "keyword"], input="Mistral\nNvidia licence\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 4
    assert {line["query"] for line in lines} == {"Mistral", "Nvidia licence"}
    assert all({"url", "title", "published", "score"} <= set(line) for line in lines)


def test_cli_empty_query_is_one_line(demo_db):
    proc = run_kb("search", "  ", "--db", str(demo_db))
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "Error: the query is empty: give words, or a filter to browse by")
