"""Enrichment: gazetteer, funding stage, policy references, summaries, topics, stories, corrections."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.core.taxonomy import Topic, alternation
from kb.enrich.gazetteer import load_gazetteer, trie_pattern
from kb.enrich.policy_refs import find_refs
from kb.enrich.runner import run_enrichment
from kb.enrich.stories import Signals, assign, story_id
from kb.enrich.summaries import summarize
from kb.enrich.topics import rule_features
from kb.store.connection import open_db
from kb.store.writes import save_article


def mentions(text):
    return {name for (_, name) in load_gazetteer().mentions(text)}


@pytest.mark.parametrize("text, expected", [
    ("Mistral AI raised money. Le Chat is its assistant.", {"Mistral AI"}),
    ("The mistral blew over Provence all week.", set()),
    ("A cold Mistral wind blew over Marseille.", set()),
    ("Mistral released a new open-weight model for enterprise customers.", {"Mistral AI"}),
    ("Meta released Llama weights.", {"Meta"}),
    ("The metadata and meta-analysis were published.", set()),
    ("AWS and Amazon Web Services both count for Amazon.", {"Amazon"}),
    ("Qwen models come from Alibaba Cloud.", {"Alibaba"}),
    ("Google and DeepMind are one vendor here; Gemini too.", {"Google DeepMind"}),
    ("He bought an apple and a pear at the market.", set()),
    ("North Korea tested missiles; South Korea protested.", {"North Korea", "South Korea"}),
])
def test_gazetteer_resolves_aliases_and_ambiguity(text, expected):
    assert mentions(text) == expected


def test_the_trie_of_aliases_matches_what_a_longest_first_alternation_matches():
    aliases = ["Korea", "North Korea", "AI", "AIM", "Mistral", "Mistral AI", "Run:ai", "Run", "a.b",
               "ab", "abc", "x", *load_gazetteer().alias_to]
    plain = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(aliases, key=len, reverse=True)))
                       + r")(?![\w])")
    trie = re.compile(r"(?<![\w-])" + trie_pattern(aliases) + r"(?![\w])")
    text = ("North Korea and Korea; AIM, AI and AIMS; Mistral AI, Mistral AIs and Mistral; Run:ai runs; "
            "ab abc abd a.b axb x xy; Nvidia and OpenAI met Google DeepMind.")
    found = [(m.start(), m.group()) for m in trie.finditer(text)]
    assert found == [(m.start(), m.group()) for m in plain.finditer(text)]
    assert (0, "North Korea") in found and (text.index("Mistral AI"), "Mistral AI") in found
    assert not any(word == "abd" or word == "xy" for _, word in found)


def test_gazetteer_is_large_enough():
    g = load_gazetteer()
    vendors = {e.name for e in g.entries.values() if e.kind == "vendor"}
    assert len(vendors) >= 60


@pytest.mark.parametrize("text, kind, ref", [
    ("under Regulation (EU) 2024/1689, the AI Act", "eu-act", "Regulation (EU) 2024/1689"),
    ("published at 90 FR 12345 last week", "federal-register", "90 FR 12345"),
    ("items controlled under ECCN 3A090 for export", "eccn", "3A090"),
    ("model weights classified as 4E091 under new export controls", "eccn", "4E091"),
    ("amending 15 CFR part 744", "cfr", "15 CFR part 744"),
    ("the Senate bill S. 3127 would require", "us-bill", "S. 3127"),
    ("California's SB 53 requires reports", "state-bill", "SB 53"),
])
def test_policy_references(text, kind, ref):
    assert (kind, ref) in {(k, r) for k, r, _ in find_refs(text)}


def test_a_part_number_without_control_vocabulary_is_not_an_eccn():
    assert find_refs("The 4A100 vacuum cleaner ships in May.") == []


def test_summary_is_two_or_three_sentences_from_the_text():
    text = ("Mistral AI raised €3bn from investors on Monday. The round values the company at €20bn. "
            "It will spend the money on compute in France. The weather was fine. "
            "Analysts expect more rounds in Europe this year.")
    summary = summarize("Mistral AI raises €3bn", text)
    sentences = [s for s in summary.split(". ") if s]
    assert 2 <= len(sentences) <= 3
    assert all(s.rstrip(".") in text for s in sentences)
    assert summary.startswith("Mistral AI raised €3bn")


def test_topic_rules_see_substance_not_a_passing_word():
    topic = Topic("sovereignty", "S", "", alternation([r"sovereign (?:AI|cloud|compute)"]),
                  alternation([r"sovereign (?:debt|bonds?)"]), [])
    passing, _ = rule_features(topic, "Bonds", "Sovereign debt and sovereign bonds fell.")
    real, evidence = rule_features(topic, "Sovereign AI", "A sovereign cloud and sovereign compute deal.")
    assert passing["hits"] == 0 and passing["negative"] > 0
    assert real["hits"] > 0 and real["title_hit"] == 1.0
    assert evidence == ["sovereign cloud", "sovereign compute"]


def sig(i, when, source, vec, lang="en"):
    from datetime import datetime

    import numpy as np
    v = np.array(vec, dtype="float32")
    return Signals(id=i, url=f"https://x/{i}", title=str(i), source=source, lang=lang,
                   when=datetime.fromisoformat(when), multi=v / np.linalg.norm(v), primary=None)


def test_stories_group_outlets_within_the_window_and_keep_ids():
    a = sig(1, "2026-10-01T08:00:00+00:00", "one", [1, 0, 0])
    b = sig(2, "2026-10-02T08:00:00+00:00", "two", [0.95, 0.05, 0])
    c = sig(3, "2026-10-02T09:00:00+00:00", "three", [0, 1, 0])
    late = sig(4, "2026-11-20T08:00:00+00:00", "four", [1, 0, 0])
    first = assign([a, b, c, late], {})
    assert first[1] == first[2] == story_id("https://x/1")
    assert first[3] != first[1] and first[4] != first[1]
    d = sig(5, "2026-10-02T10:00:00+00:00", "five", [0.97, 0.0, 0.03], lang="fr")
    again = assign([a, b, c, d, late], first)
    assert {k: again[k] for k in first} == first and again[5] == first[1]


def test_same_outlet_twice_is_not_one_story():
    a = sig(1, "2026-10-01T08:00:00+00:00", "one", [1, 0, 0])
    b = sig(2, "2026-10-01T09:00:00+00:00", "one", [1, 0, 0])
    result = assign([a, b], {})
    assert result[1] != result[2]


def test_demo_corpus_fills_every_table(demo_db):
    db = open_db(demo_db, create=False)
    for table in ("article_topics", "article_entities", "funding_events", "policy_refs",
                  "article_summaries", "stories", "story_articles"):
        assert db[table].count > 0, table
    seed = db.execute("select story_id from story_articles sa join articles a on a.id = sa.article_id "
                      "where a.url like '%b1-mistral-pitch-%'").fetchall()
    assert len(seed) == 3 and len({r[0] for r in seed}) == 1
    mistral = db.execute("select amount, currency, kind, valuation from funding_events "
                         "where company = 'Mistral AI' and kind = 'equity'").fetchall()
    assert (3_000_000_000, "EUR", "equity", 20_000_000_000) in [tuple(r) for r in mistral]
    evidence = db.execute("select evidence from article_topics where topic = 'export-controls' "
                          "and evidence like '%export%' limit 1").fetchone()
    assert evidence


def test_rerun_with_nothing_new_does_no_work(demo_db_copy):
    db = open_db(demo_db_copy)
    started = time.perf_counter()
    counts = run_enrichment(db, quiet=True)
    assert set(counts.values()) == {0}
    assert time.perf_counter() - started < 5


def test_corrections_win_over_later_runs(demo_db_copy):
    db = open_db(demo_db_copy)
    aid, topic = db.execute("select article_id, topic from article_topics limit 1").fetchone()
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "topic", str(aid), topic, "--reject", "--by", "ana",
                                 "--db", str(demo_db_copy)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["review", "vendor", str(aid), "Cohere", "--confirm", "--by", "ana",
                                 "--db", str(demo_db_copy)])
    assert result.exit_code == 0, result.output
    db.execute("delete from enrichment_state where stage in ('topics', 'entities')")
    db.conn.commit()
    run_enrichment(db, only=["entities", "topics"], quiet=True)
    assert not db.execute("select 1 from article_topics where article_id = ? and topic = ?",
                          [aid, topic]).fetchone()
    export = runner.invoke(cli, ["export", "--db", str(demo_db_copy)])
    record = next(json.loads(line) for line in export.output.splitlines()
                  if json.loads(line)["url"] == db["articles"].get(aid)["url"])
    assert "Cohere" in record["vendors"] and record["set_by"]["vendors"]["Cohere"] == "person"


def test_review_of_unknown_things_is_one_line(demo_db_copy):
    result = CliRunner().invoke(cli, ["review", "topic", "1", "astrology", "--reject",
                                      "--db", str(demo_db_copy)])
    assert result.exit_code == 2 and result.output.strip() == "Error: unknown topic 'astrology'"


@pytest.mark.parametrize("text", [
    "",
    "Ceci n'est pas un article en anglais. Il parle de la pluie et du beau temps à Lyon.",
    "€$£¥ 1 2 3 4bn 5m 6 billion € $ 7,5 Mrd. " * 2000,
    ("Mistral AI raised €3bn. " * 40_000)[:1_000_000],
])
def test_bad_input_does_not_crash(tmp_path, text):
    db = open_db(tmp_path / "kb.db")
    save_article(db, {"url": "https://x/odd", "original_url": "", "title": "Odd", "text": text,
                      "fetched_at": "2026-10-01T00:00:00+00:00",
                      "published_at": "2026-10-01T00:00:00+00:00"})
    started = time.perf_counter()
    counts = run_enrichment(db, only=["entities", "funding", "policy_refs", "summaries"], quiet=True)
    assert counts["entities"] == 1 and time.perf_counter() - started < 30
    for amount, currency in db.execute("select amount, currency from funding_events"):
        assert 1e4 <= amount <= 2e12, (amount, currency)
