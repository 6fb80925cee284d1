"""The bundled sample corpus: well-formed feeds, pages for every link, complete labels."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from datetime import date

import feedparser
import pytest

from kb.evaluation.sample import (
    SAMPLE_DIR,
    build_site,
    labels_document,
    load_articles,
    load_outlets,
    load_queries,
    serve_site,
)

TOPICS = {"sovereignty", "open-source", "regulation", "export-controls", "funding"}
KINDS = {"equity", "debt", "mixed", "valuation-only", "acquisition"}
ARTICLES = load_articles()
OUTLETS = {o["slug"]: o for o in load_outlets()}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    with serve_site(root) as base:
        build_site(root, base)
        yield base


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.parametrize("slug", sorted(OUTLETS))
def test_feed_parses_and_links_resolve(site, slug):
    status, body = fetch(f"{site}/{slug}/feed.xml")
    parsed = feedparser.parse(body, response_headers={"content-location": f"{site}/{slug}/feed.xml",
                                                      "content-type": "application/xml"})
    assert status == 200
    assert bool(parsed.bozo) == bool(OUTLETS[slug].get("ill_formed")), parsed.get("bozo_exception")
    assert len(parsed.entries) == sum(1 for a in ARTICLES if a["outlet"] == slug)
    for entry in parsed.entries:
        status, page = fetch(entry.link)
        assert status == 200 and b"<article" in page or b"articleBody" in page or b"<section" in page


def test_feed_formats_and_content_styles_vary():
    formats = Counter(o["feed_format"] for o in OUTLETS.values())
    assert set(formats) == {"rss2", "atom", "rss1"}
    assert {o["feed_content"] for o in OUTLETS.values()} == {"summary", "full"}
    assert {o["date_style"] for o in OUTLETS.values()} == {"time", "jsonld", "text"}


def test_corpus_size_and_spread():
    assert len(ARTICLES) >= 150
    assert len({a["id"] for a in ARTICLES}) == len(ARTICLES)
    assert len(OUTLETS) >= 10
    weeks = {date.fromisoformat(a["published"][:10]).isocalendar()[:2] for a in ARTICLES}
    assert len(weeks) >= 10
    for a in ARTICLES:
        assert 150 <= len(a["body"].split()) <= 600, a["id"]
    other_languages = sum(1 for a in ARTICLES if OUTLETS[a["outlet"]]["lang"] in ("fr", "de"))
    assert other_languages >= 8


def test_stories_distractors_and_funding_events():
    stories = Counter(a["story"] for a in ARTICLES)
    seed = [a for a in ARTICLES if a["story"] == "mistral-open-source-pitch"]
    assert len({a["outlet"] for a in seed}) == 3
    assert sum(1 for k, n in stories.items() if n >= 2 and k != "mistral-open-source-pitch") >= 12
    for key, n in stories.items():
        outlets = [a["outlet"] for a in ARTICLES if a["story"] == key]
        assert len(set(outlets)) == n, f"story {key} has two articles from one outlet"
    distractors = sum(1 for a in ARTICLES if not a["labels"]["topics"])
    assert 0.10 <= distractors / len(ARTICLES) <= 0.25
    events = [e for a in ARTICLES for e in a["labels"]["funding_events"]]
    assert len(events) >= 30
    assert len({e["currency"] for e in events}) >= 5


@pytest.mark.parametrize("article", ARTICLES, ids=[a["id"] for a in ARTICLES])
def test_every_article_has_valid_labels(article):
    labels = article["labels"]
    assert set(labels) >= {"topics", "vendors", "jurisdictions", "funding_events"}
    assert set(labels["topics"]) <= TOPICS
    for event in labels["funding_events"]:
        assert event["kind"] in KINDS
        assert isinstance(event["amount"], int | float) and event["amount"] > 0
        assert len(event["currency"]) == 3 and event["company"]


def test_queries_are_judged_against_existing_articles():
    ids = {a["id"] for a in ARTICLES}
    queries = load_queries()
    assert len(queries) >= 30
    assert {q["kind"] for q in queries} >= {"keyword", "question", "paraphrase", "multilingual"}
    for q in queries:
        assert q["judgments"] and set(q["judgments"]) <= ids, q["id"]
        assert set(q["judgments"].values()) <= {1, 2}


def test_labels_json_is_up_to_date():
    written = json.loads((SAMPLE_DIR / "labels.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(labels_document(), ensure_ascii=False)), \
        "the corpus labels are stale: run 'kb sample labels --out kb/evaluation/corpus/labels.json'"
