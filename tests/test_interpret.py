"""Queries read for what they name (kb.search.interpret), and search using it on the sample corpus."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.search.engine import Query, rank_explained, search
from kb.search.filters import Filters
from kb.search.interpret import anchored_today, interpret
from kb.store.connection import open_db

TODAY = dt.date(2026, 12, 7)


def keys(text: str) -> set[str]:
    return {c.key for c in interpret(text, today=TODAY).chips}


def test_an_english_question_over_facts():
    assert keys("Which European AI start-ups raised new funding in euros?") >= {
        "jurisdiction:EU", "topic:funding", "currency:EUR", "fact:funding-round"}
    assert interpret("Which European AI start-ups raised new funding in euros?").selects_a_set()


def test_french_and_german_questions():
    assert keys("levées de fonds d'entreprises d'IA annoncées en novembre 2026") >= {
        "topic:funding", "time:2026-11-01/2026-12-01"}
    assert keys("Welche deutschen KI-Start-ups haben Kapital eingesammelt?") >= {
        "jurisdiction:Germany", "topic:funding"}
    assert keys("Exportkontrollen für KI-Chips nach China") >= {"topic:export-controls", "jurisdiction:China"}


def test_amounts_are_thresholds_in_dollars():
    chips = {c.kind: c for c in interpret("AI start-ups that raised more than €500m").chips}
    assert 500e6 < float(chips["amount"].value) < 700e6  # euros, compared in dollars
    assert chips["amount"].label == "≥ 500m EUR"
    german = {c.kind: c for c in interpret("Runden über 2 Mrd. Dollar").chips}
    assert float(german["amount"].value) == 2e9


def test_relative_spans_follow_the_anchor():
    assert "time:2026-01-01/2027-01-01" in keys("funding rounds this year")
    assert "time:2026-11-01/2026-12-01" in keys("Finanzierungsrunden im letzten Monat")
    with anchored_today(dt.date(2025, 3, 10)):
        assert "time:2025-01-01/2026-01-01" in {c.key for c in interpret("rounds this year").chips}


def test_what_follows_a_negation_is_not_asked_for():
    assert "currency:USD" not in keys("AI companies that raised money in currencies other than US dollars")
    assert "currency:EUR" in keys("AI companies that raised money in euros")


def test_currencies_after_a_negation_ask_for_every_other_currency():
    found = keys("Which AI companies raised money in currencies other than US dollars or euros?")
    assert "currency:!EUR,USD" in found and not {"currency:USD", "currency:EUR"} & found
    assert "currency:!USD" in keys("Levées de fonds dans une autre devise, sauf le dollar")


def test_common_words_are_not_names():
    assert not {k for k in keys("Which company won the tender?") if k.startswith("currency")}
    assert not {k for k in keys("us and them") if k.startswith("jurisdiction")}


def test_only_names_and_dates_browse():
    assert interpret("Nvidia 2025").only_filters()
    assert interpret("export-controls EU").only_filters()
    assert not interpret("Nvidia").only_filters()  # one name is still a search for the word
    assert not interpret("Nvidia chips smuggled 2025").only_filters()
    filters = interpret("Nvidia 2025").as_filters(Filters(source="x"))
    assert (filters.vendor, filters.since, filters.until, filters.source) == (
        "Nvidia", "2025-01-01", "2026-01-01", "x")


def test_chips_can_be_switched_off():
    reading = interpret("Which French AI companies raised funding in 2026?", today=TODAY)
    assert "jurisdiction:France" in {c.key for c in reading.chips}
    assert "jurisdiction:France" not in {c.key for c in reading.without(["jurisdiction:France"]).chips}
    assert not reading.without(["all"]).chips


@pytest.fixture(scope="module")
def db(demo_db):
    return open_db(demo_db, create=False)


def test_a_question_over_facts_ranks_the_rows_that_answer_it(db):
    text = "levées de fonds d'entreprises d'IA annoncées en novembre 2026"
    ranking = rank_explained(db, Query(text, limit=5))
    assert ranking.used_chips and not ranking.browse
    ids = [aid for aid, _ in ranking.ranked]
    answering = {r[0] for r in db.execute(
        "select a.id from articles a join funding_events f on f.article_id = a.id "
        "where a.published_at >= '2026-11-01' and a.published_at < '2026-12-01'")}
    assert answering and sum(aid in answering for aid in ids) >= 4
    literal = [aid for aid, _ in rank_explained(db, Query(text, limit=5, interpret=False)).ranked]
    assert sum(aid in answering for aid in literal) < sum(aid in answering for aid in ids)


def test_a_negated_currency_ranks_the_rounds_in_other_currencies(db):
    ranking = rank_explained(db, Query("AI funding rounds in currencies other than US dollars", limit=10))
    assert ranking.used_chips
    other = {r[0] for r in db.execute("select article_id from funding_events where currency != 'USD'")}
    ids = [aid for aid, _ in ranking.ranked]
    assert other and sum(aid in other for aid in ids[:5]) >= 3


def test_a_query_of_names_and_a_year_browses_newest_first(db):
    ranking = rank_explained(db, Query("Nvidia 2026", limit=50))
    assert ranking.browse
    rows = [db.execute("select published_at from articles where id = ?", [aid]).fetchone()[0]
            for aid, _ in ranking.ranked]
    assert rows == sorted(rows, reverse=True) and all(r.startswith("2026") for r in rows)
    main = {r[0] for r in db.execute(
        "select ae.article_id from article_entities ae join entities e on e.id = ae.entity_id "
        "where e.name = 'Nvidia' and ae.role = 'main'")}
    assert {aid for aid, _ in ranking.ranked} <= main
    assert ranking.matches == len(ranking.ranked)
    assert ranking.without_chips and ranking.without_chips >= ranking.matches


def test_keyword_and_semantic_modes_read_no_chips(db):
    for mode in ("keyword", "semantic"):
        ranking = rank_explained(db, Query("Nvidia 2026", mode=mode, limit=5))
        assert not ranking.browse and not ranking.interpretation.chips


def test_cli_says_how_it_read_the_query(demo_db):
    runner = CliRunner()
    out = runner.invoke(cli, ["search", "levées de fonds annoncées en novembre 2026", "--db", str(demo_db)])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("interpreted as: ") and "time novembre 2026" in out.output
    literal = runner.invoke(cli, ["search", "levées de fonds annoncées en novembre 2026", "--db",
                                  str(demo_db), "--literal"])
    assert "interpreted as" not in literal.output
    browse = runner.invoke(cli, ["search", "Nvidia 2026", "--db", str(demo_db), "--json"])
    records = [json.loads(line) for line in browse.output.splitlines()]
    assert records and all(r["published"].startswith("2026") for r in records)


def test_search_results_are_the_same_articles_either_way_for_a_plain_query(db):
    plain = [r["id"] for r in search(db, Query("Mistral debt and equity", limit=5))]
    literal = [r["id"] for r in search(db, Query("Mistral debt and equity", limit=5, interpret=False))]
    assert plain == literal
