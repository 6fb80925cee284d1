"""The funding ledger: mentions grouped into events, with status and converted amounts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from kb.enrich.ledger import Mention, build_ledger, convert, group, mention_status
from kb.publish.export import iter_export
from kb.store.connection import open_db
from kb.store.views import ensure_views
from kb.store.writes import save_article


@pytest.mark.parametrize("sentence, status", [
    ("Cohere closed a C$1.4bn Series E led by Radical Ventures.", "closed"),
    ("Mistral has raised €3.5bn in debt and equity to date.", "cumulative"),
    ("Mistral is in talks to raise a further €3bn, people familiar with the matter said.", "in_talks"),
    ("The lab is reportedly seeking $2bn at a $20bn valuation.", "in_talks"),
    ("OpenAI agreed to acquire io for $6.5bn in stock.", "announced"),
    ("Helsing hat bislang insgesamt 1,3 Mrd. Euro eingesammelt.", "cumulative"),
    ("Aleph Alpha soll in Verhandlungen über 500 Mio. Euro stehen.", "in_talks"),
    ("Mistral AI serait en discussions pour lever 2 milliards d'euros.", "in_talks"),
    ("Mistral AI a levé 1,7 milliard d'euros lors de sa série C.", "closed"),
])
def test_status_is_read_from_the_sentence(sentence: str, status: str) -> None:
    assert mention_status(sentence) == status


SEED = ("Mistral has raised €3.5bn in debt and equity to date, and people familiar with the matter say "
        "it is in talks to raise a further €3bn at a valuation of around €20bn.")


@pytest.mark.parametrize("sentence, amount, currency, status", [
    (SEED, 3.5e9, "EUR", "cumulative"),
    (SEED, 3e9, "EUR", "in_talks"),
    ("Mistral says it has raised €3.5bn since its founding in 2023, and it is reportedly negotiating "
     "a new €3bn equity round.", 3e9, "EUR", "in_talks"),
    ("The lab raised $100m in 2024, and is now in talks to raise $500m.", 1e8, "USD", "closed"),
    ("The lab raised $100m in 2024, and is now in talks to raise $500m.", 5e8, "USD", "in_talks"),
    ("People familiar with the matter say it is in talks to raise €3bn, and to borrow €1bn.", 1e9, "EUR",
     "in_talks"),
    ("Poolside raised €1.7bn in a Series C round that values the company at €10bn.", 1.7e9, "EUR", "closed"),
])
def test_two_amounts_in_one_sentence_are_read_clause_by_clause(sentence: str, amount: float,
                                                               currency: str, status: str) -> None:
    assert mention_status(sentence, amount, currency) == status


def test_amounts_convert_at_the_date_with_the_rate_named() -> None:
    usd, eur, note = convert(1.4e9, "CAD", dt.date(2025, 10, 27))
    assert eur is not None and usd is not None and 0.6 < eur / 1.4e9 < 0.7 < usd / 1.4e9 < 0.75
    assert note == "ECB reference rate of 2025-10-27"
    assert convert(1e9, "EUR", dt.date(2025, 10, 27))[1] == 1e9
    _, _, later = convert(1e9, "USD", dt.date(2099, 1, 1))
    assert "the nearest to 2099-01-01 with a rate" in later
    assert convert(1e9, "AED", dt.date(2025, 10, 27))[:2] == (None, None)
    assert convert(None, "USD", dt.date(2025, 1, 1))[2] == "no amount stated"


def mention(n: int, company: str, amount: float, currency: str, day: str, status: str = "closed",
            round_: str | None = None, kind: str = "equity") -> Mention:
    d = dt.date.fromisoformat(day)
    m = Mention(n, n, company, amount, currency, kind, round_, None, status, d, f"https://x/{n}")
    m.usd = convert(amount, currency, d)[0]
    return m


def test_three_reports_of_one_round_are_one_event_and_totals_stay_apart() -> None:
    events = group([
        mention(1, "Cohere", 1.4e9, "CAD", "2025-10-27", round_="Series E"),
        mention(2, "Cohere", 1.0e9, "USD", "2025-11-11"),  # the same round, converted
        mention(3, "Cohere", 1.4e9, "CAD", "2025-11-20", round_="Series E"),
        mention(4, "Mistral AI", 3.5e9, "EUR", "2025-11-20", status="cumulative"),
        mention(5, "Mistral AI", 3.0e9, "EUR", "2025-11-20", status="in_talks"),
        mention(6, "Cohere", 5.0e8, "USD", "2023-06-01", round_="Series C"),  # an old round
    ])
    by_ids = sorted(sorted(m.id for m in e.mentions) for e in events)
    assert by_ids == [[1, 2, 3], [4], [5], [6]]
    cohere = next(e for e in events if len(e.mentions) == 3)
    assert cohere.lead().id == 3  # closed on every report; the latest states it


def test_an_event_takes_the_most_advanced_status_of_its_reports() -> None:
    [event] = group([mention(1, "Mistral AI", 2.0e9, "EUR", "2025-08-01", status="in_talks"),
                     mention(2, "Mistral AI", 1.7e9, "EUR", "2025-09-09")])
    assert event.lead().status == "closed" and event.lead().amount == 1.7e9


def test_rounds_apart_in_kind_status_or_amount_stay_apart() -> None:
    events = group([
        mention(1, "Anthropic", 13e9, "USD", "2025-09-02", round_="Series F"),
        mention(2, "Anthropic", 13e9, "USD", "2025-09-03"),  # the same round, another outlet
        mention(3, "Anthropic", 10e9, "USD", "2025-11-18", status="announced"),  # a later pledge
        mention(4, "CoreWeave", 1.5e9, "USD", "2025-03-28", kind="ipo"),
        mention(5, "CoreWeave", 2.0e9, "USD", "2025-05-21", kind="debt"),  # notes, not the listing
        mention(6, "Wayve", 1.05e9, "USD", "2024-05-07"),
        mention(7, "Wayve", 1.3e9, "USD", "2024-05-08"),  # closed twice, 20% apart: two rounds
    ])
    assert sorted(sorted(m.id for m in e.mentions) for e in events) == [[1, 2], [3], [4], [5], [6], [7]]


def add(db: Any, n: int, day: str, company: str, amount: float, currency: str,
        sentence: str) -> None:
    save_article(db, {"url": f"https://news.example/{n}", "original_url": f"https://news.example/{n}",
                      "source_id": f"outlet{n}", "title": f"Story {n}", "text": sentence,
                      "lang": "en", "published_at": f"{day}T09:00:00+00:00",
                      "fetched_at": f"{day}T10:00:00+00:00", "extraction": "trafilatura"})
    aid = db.execute("select id from articles where url = ?", [f"https://news.example/{n}"]).fetchone()[0]
    db["funding_events"].insert({"article_id": aid, "company": company, "amount": amount,
                                 "currency": currency, "kind": "equity", "round": None,
                                 "valuation": None, "sentence": sentence, "method": "rules"})


def test_the_ledger_view_and_export_carry_events_statuses_and_converted_amounts(tmp_path: Path) -> None:
    db = open_db(tmp_path / "kb.db")
    for n in (1, 2, 3):
        db["sources"].insert({"id": f"outlet{n}", "feed_url": f"https://o{n}.example/feed"})
    add(db, 1, "2025-10-27", "Cohere", 1.4e9, "CAD", "Cohere raised C$1.4bn in a Series E round.")
    add(db, 2, "2025-11-11", "Cohere", 1.4e9, "CAD", "Cohere, which raised C$1.4bn last month, …")
    add(db, 3, "2025-11-20", "Samsung AI", 650e9, "KRW", "The lab is in talks to raise ₩650bn.")
    assert build_ledger(db) == 2
    ensure_views(db)
    rows = {r["company"]: r for r in db.query("select * from funding_rounds order by amount_usd desc")}
    assert list(rows) == ["Cohere", "Samsung AI"]  # by USD, not by the stated number
    assert rows["Cohere"]["reports"] == 2 and rows["Cohere"]["outlets"] == 2
    assert rows["Samsung AI"]["status"] == "in_talks" and rows["Cohere"]["status"] == "closed"
    assert rows["Cohere"]["fx_note"] == "ECB reference rate of 2025-10-27"
    exported = [f for a in iter_export(db) for f in a["funding_events"]]
    assert {f["event_id"] for f in exported if f["company"] == "Cohere"} == {rows["Cohere"]["id"]}
    assert all(f["amount_usd"] and f["amount_eur"] and f["status"] for f in exported)
    # the ids hold over a rebuild
    build_ledger(db)
    assert {r["id"] for r in db.query("select id from funding_ledger")} == {r["id"] for r in rows.values()}


def test_rejecting_an_event_holds_for_every_report_and_every_later_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.enrich.review import apply_reviews

    db = open_db(tmp_path / "kb.db")
    for n in (1, 2):
        db["sources"].insert({"id": f"outlet{n}", "feed_url": f"https://o{n}.example/feed"})
    add(db, 1, "2025-09-05", "Anthropic", 1.5e9, "USD", "Anthropic agreed to pay $1.5bn.")
    add(db, 2, "2025-09-06", "Anthropic", 1.5e9, "USD", "Anthropic will pay $1.5bn to authors.")
    build_ledger(db)
    [event] = [r[0] for r in db.execute("select id from funding_ledger")]
    invoke = CliRunner().invoke
    wrong = invoke(cli, ["review", "event", event[:-1] + "x", "--reject", "--db",
                         str(tmp_path / "kb.db")])
    assert wrong.exit_code == 1 and f"no funding event {event[:-1]}x (did you mean {event}?)" in wrong.output
    assert len(wrong.output.strip().splitlines()) == 1
    result = invoke(cli, ["review", "event", event, "--reject", "--db", str(tmp_path / "kb.db"),
                          "--note", "a settlement, not a round"])
    assert result.exit_code == 0, result.output
    assert f"rejected event {event}: 2 mentions" in result.output
    assert db["funding_ledger"].count == 0 and db["funding_events"].count == 0
    # the funding stage runs again and finds the same amounts: the verdict still holds
    for n in (1, 2):
        db["funding_events"].insert({"article_id": n, "company": "Anthropic", "amount": 1.5e9,
                                     "currency": "USD", "kind": "equity", "sentence": "…",
                                     "method": "rules"})
    apply_reviews(db)
    build_ledger(db)
    assert db["funding_ledger"].count == 0


def test_a_company_the_gazetteer_does_not_know_makes_an_event_flagged_unknown(tmp_path: Path) -> None:
    from kb.enrich.funding import extract_funding_events

    db = open_db(tmp_path / "kb.db")
    db["sources"].insert({"id": "outlet1", "feed_url": "https://o1.example/feed"})
    save_article(db, {"url": "https://news.example/q", "original_url": "https://news.example/q",
                      "source_id": "outlet1", "title": "Quillfeather raises €40m",
                      "text": "Quillfeather, a Berlin start-up building AI models for lawyers, raised "
                              "€40m in a Series A round led by Mistral AI.", "lang": "en",
                      "published_at": "2026-03-02T09:00:00+00:00",
                      "fetched_at": "2026-03-02T10:00:00+00:00", "extraction": "trafilatura"})
    extract_funding_events(db, quiet=True)
    build_ledger(db)
    [event] = db["funding_ledger"].rows
    assert (event["company"], event["company_known"], event["amount"]) == ("Quillfeather", 0, 4e7)
    assert event["round"] == "Series A" and event["status"] == "closed"


@pytest.mark.parametrize("sentence, company, investors", [
    ("Quillfeather raised $90m in a Series B led by Harbor Lane Capital and Northgate Partners, with "
     "participation from Nvidia and Bpifrance.", "Quillfeather",
     ["Harbor Lane Capital", "Northgate Partners", "Nvidia", "Bpifrance"]),
    ("Quillfeather a levé 80 millions d'euros lors d'un tour mené par Elaia.", "Quillfeather", ["Elaia"]),
    ("Quillfeather sammelt 50 Mio. Euro ein, angeführt von Rheingold Ventures.", "Quillfeather",
     ["Rheingold Ventures"]),
    ("The lab raised $500m to buy chips, with Nvidia's help.", "Quillfeather", []),
    ("Quillfeather raised $90m.", "Quillfeather", []),
])
def test_investors_are_read_lead_first(sentence: str, company: str, investors: list[str]) -> None:
    from kb.enrich.ledger import mention_investors

    assert mention_investors(sentence, company) == investors
