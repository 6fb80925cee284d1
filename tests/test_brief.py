"""Story briefs (/-/story/<id>): summary, takeaway, key facts, topics and vendors, best for, coverage
and related stories, read from the enriched sample corpus."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils.db import Database

from kb.enrich.audiences import AUDIENCES
from kb.publish.brief import (
    CONSEQUENCE,
    dated_sentences,
    plural,
    story_brief,
    summary_sentences,
    takeaway,
)

SEED = "b1-mistral-pitch-eurotech"
BIS_RULE = "b2-bis-3a090-rule-policycircuit"


@pytest.fixture(scope="module")
def db(demo_db: Path) -> Database:
    return Database(sqlite3.connect(f"file:{demo_db}?mode=ro", uri=True))


def story_of(db: Database, page: str) -> str:
    return db.execute("select sa.story_id from story_articles sa join articles a on a.id = sa.article_id "
                      "where a.url like ?", [f"%/{page}.html"]).fetchone()[0]


def texts_of(db: Database, story_id: str) -> list[str]:
    return [r[0] for r in db.execute("select a.text from story_articles sa join articles a on "
                                     "a.id = sa.article_id where sa.story_id = ?", [story_id])]


@pytest.fixture(scope="module")
def seed(db: Database) -> dict[str, Any]:
    brief = story_brief(db, story_of(db, SEED))
    assert brief is not None
    return brief


def test_the_mistral_brief_states_its_funding_with_status(seed: dict[str, Any]) -> None:
    funding = {(f["status"], f["amount"], f["currency"]): f for f in seed["facts"]["funding"]}
    total = funding[("cumulative", 3_500_000_000, "EUR")]
    assert total["stated"] == "€3.5bn" and total["status_label"] == "raised to date"
    assert total["reports"] == 3 and total["eur"] == "€3.5bn" and total["usd"].startswith("$3.")
    talks = funding[("in_talks", 3_000_000_000, "EUR")]
    assert talks["stated"] == "€3bn" and talks["status_label"] == "in talks"
    assert talks["valuation_stated"] == "€20bn" and talks["reports"] == 3
    assert [f["status"] for f in seed["facts"]["funding"]] == ["in_talks", "cumulative"]  # totals last
    assert seed["counts"] == "3 articles from 3 outlets"


def test_the_takeaway_is_a_sentence_of_the_story_stating_a_consequence(db: Database,
                                                                       seed: dict[str, Any]) -> None:
    sentence = seed["takeaway"]["text"]
    assert any(sentence in text for text in texts_of(db, seed["story"]["id"]))
    assert seed["takeaway"]["rule"] == "consequence" and CONSEQUENCE["en"].search(sentence)
    assert sentence not in [s["text"] for s in seed["summary"]]


def test_the_summary_draws_on_several_outlets_without_repeating_itself(db: Database,
                                                                      seed: dict[str, Any]) -> None:
    summary = seed["summary"]
    assert 2 <= len(summary) <= 3 and len({s["source"] for s in summary}) >= 2
    assert len({s["text"] for s in summary}) == len(summary)
    english = dict(db.execute("select id, text from articles where lang = 'en'").fetchall())
    assert all(s["text"] in english[s["article_id"]] for s in summary)  # the reader's language only
    assert sum(len(s["text"].split()) for s in summary) <= 90


def test_topics_vendors_best_for_coverage_and_related(seed: dict[str, Any]) -> None:
    assert {t["slug"] for t in seed["topics"]} == {"sovereignty", "open-source", "funding", "export-controls"}
    assert seed["vendors"][0] == {"name": "Mistral AI", "mentions": seed["vendors"][0]["mentions"],
                                  "path": "/-/vendor/Mistral%20AI"}
    assert {j["name"] for j in seed["facts"]["jurisdictions"]} >= {"US", "EU"}
    audiences = [b["audience"] for b in seed["best_for"]]
    assert audiences and set(audiences) <= set(AUDIENCES) and "investor" in audiences
    assert all(b["probability"] >= 0.5 and b["evidence"] for b in seed["best_for"])
    assert {(x["lang"], x["articles"]) for x in seed["coverage"]["languages"]} == {("en", 2), ("fr", 1)}
    assert len(seed["coverage"]["outlets"]) == 3
    published = [a["published"] for a in seed["articles"]]
    assert published == sorted(published)
    related = [r["id"] for r in seed["related"]]
    assert related and seed["story"]["id"] not in related and len(related) == len(set(related))


def test_a_french_reader_gets_the_french_article_s_sentences(db: Database) -> None:
    brief = story_brief(db, story_of(db, SEED), lang="fr")
    assert brief is not None and brief["lang"] == "fr"
    assert {s["source"] for s in brief["summary"]} == {"La Dépêche Numérique"}
    german = story_brief(db, story_of(db, SEED), lang="de")  # no German article: English
    assert german is not None and german["lang"] == "en"


def test_stated_deadlines_and_policy_references_are_key_facts(db: Database) -> None:
    brief = story_brief(db, story_of(db, BIS_RULE))
    assert brief is not None
    assert {"91 FR 62418", "3A090"} <= {p["ref"] for p in brief["facts"]["policy_refs"]}
    assert {"8 October", "7 November"} <= {d["when"] for d in brief["facts"]["dates"]}
    assert not brief["facts"]["funding"]


def test_an_unknown_story_has_no_brief(db: Database) -> None:
    assert story_brief(db, "st-nope") is None


def article(aid: int, source: str, text: str, lang: str = "en") -> dict[str, Any]:
    return {"id": aid, "title": "Brussels delays AI rules for machines", "text": text, "lang": lang,
            "source": source, "source_id": source.lower(), "url": f"https://{source.lower()}.example/{aid}"}


WRITTEN = [
    article(1, "Wire", "The Commission proposed on Tuesday to delay the AI rules for machines by a year. "
            "Machine makers had asked for more time to meet the AI rules. "
            "\"This will change everything for our members,\" said one lobbyist of machine makers. "
            "The delay means machine makers will not need certificates for the AI rules until 2029."),
    article(2, "Post", "Brussels wants to delay the AI rules for machines by a year. "
            "The proposal still needs the approval of the Parliament and the Council. "
            "Standards for the AI rules are late, and the Commission said machine makers needed time."),
]


def test_the_takeaway_rule_on_written_sentences() -> None:
    summary = summary_sentences(WRITTEN)
    assert {s["source"] for s in summary} == {"Wire", "Post"}
    chosen = takeaway(WRITTEN, exclude={s["text"] for s in summary})
    assert chosen is not None and chosen["rule"] == "consequence"
    assert chosen["text"].startswith("The delay means machine makers")  # a cue, not the quotation
    plain = [article(3, "Wire", "The Commission proposed a delay of the rules for machines. "
                                "Machine makers asked for the delay of the rules for a year.")]
    fallback = takeaway(plain)
    assert fallback is not None and fallback["rule"] == "central"


def test_dates_count_only_as_deadlines_or_starts() -> None:
    found = dated_sentences([article(1, "Wire", "The rule takes effect on 8 October after a long debate. "
                                                "The minister visited Paris on 3 March with her team. "
                                                "Comments are due by 7 November 2026 at the latest.")])
    assert [d["when"] for d in found] == ["8 October", "7 November 2026"]
    french = dated_sentences([article(1, "Dépêche", "La règle entrera en vigueur le 1er janvier 2027 en "
                                                    "Europe.", lang="fr")])
    assert [d["when"] for d in french] == ["1er janvier 2027"]


def test_counts_read_as_written() -> None:
    assert plural(1, "article", "articles") == "1 article"
    assert plural(3, "outlet", "outlets") == "3 outlets"


def test_the_story_page_shows_the_brief(demo_db: Path, tmp_path: Path) -> None:
    import httpx
    from conftest import copy_database
    from playwright.sync_api import sync_playwright
    from test_web import start_server, stop_server

    copy = copy_database(demo_db, tmp_path / "kb.db")
    sid = story_of(Database(copy), SEED)
    target = Path(__file__).resolve().parent.parent / "docs" / "story-brief.png"
    proc, base = start_server(copy)
    try:
        page = httpx.get(f"{base}/-/story/{sid}", timeout=60).text
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(f"{base}/-/story/{sid}")
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            desktop = browser.new_page(viewport={"width": 1000, "height": 1200})
            desktop.goto(f"{base}/-/story/{sid}")
            desktop.screenshot(path=str(target), full_page=True)  # for docs/web.md
            browser.close()
    finally:
        stop_server(proc)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("Summary", "Key takeaway", "Key facts", "Topics and main vendors", "Best for",
                    "Coverage", "Related stories"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "3 articles from 3 outlets" in page
    assert re.search(r"raised to date</td><td class=\"num\">€3.5bn", page)
    assert re.search(r"in talks</td><td class=\"num\">€3bn", page) and "€20bn" in page
    assert 'href="/-/vendor/Mistral%20AI"' in page and "Investors" in page
    assert len(re.findall(r'<time datetime="', page)) == 3
