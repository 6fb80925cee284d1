"""Vendor roles: main or mentioned, scored, stored, filtered on, exported, corrected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.enrich.entities import tag_entities
from kb.enrich.gazetteer import load_gazetteer
from kb.enrich.review import apply_reviews
from kb.enrich.vendor_roles import MODEL_PATH, THRESHOLD, VERSION, fit, load_role_model
from kb.publish.export import iter_export
from kb.search.filters import Filters
from kb.store.connection import open_db
from kb.store.writes import save_article

ABOUT_NVIDIA = (
    "Nvidia wins licence to ship H20 chips to China",
    "Nvidia said on Monday it had received a US licence to resume sales of its H20 accelerator to "
    "Chinese customers. Nvidia expects the first shipments within weeks.\n\n"
    "The company had written off inventory after the ban. Nvidia shares rose 4% on the news, while "
    "rivals such as AMD are still waiting for their own licences.\n\n"
    "Analysts said Nvidia could recover most of the lost revenue this year.")
NVIDIA_IN_PASSING = (
    "Mistral AI opens a data centre near Paris",
    "Mistral AI opened its first data centre on Tuesday, south of Paris, with room for 18,000 "
    "accelerators. Mistral AI said the site would train its next models.\n\n"
    "The French company will run its own cloud for European customers, Mistral AI said. "
    "The site uses chips from suppliers such as Nvidia, like most of the industry.\n\n"
    "Mistral AI plans two more sites by 2027.")


def article(n: int, title: str, text: str) -> dict[str, Any]:
    return {"url": f"https://news.example/{n}", "original_url": f"https://news.example/{n}",
            "source_id": "example", "title": title, "text": text, "lang": "en",
            "published_at": f"2026-10-0{n}T09:00:00+00:00", "fetched_at": "2026-10-09T09:00:00+00:00",
            "extraction": "trafilatura"}


@pytest.fixture
def db(tmp_path: Path) -> Any:
    db = open_db(tmp_path / "kb.db")
    db["sources"].insert({"id": "example", "feed_url": "https://news.example/feed.xml"})
    save_article(db, article(1, *ABOUT_NVIDIA))
    save_article(db, article(2, *NVIDIA_IN_PASSING))
    tag_entities(db, quiet=True)
    return db


def roles(db: Any, article_id: int) -> dict[str, str]:
    return dict(db.execute("select e.name, ae.role from article_entities ae join entities e on "
                           "e.id = ae.entity_id where ae.article_id = ? and e.kind = 'vendor'",
                           [article_id]).fetchall())


def test_the_vendor_an_article_is_about_is_main_and_one_named_in_passing_is_not(db) -> None:
    assert roles(db, 1) == {"Nvidia": "main", "AMD": "mentioned"}
    assert roles(db, 2) == {"Mistral AI": "main", "Nvidia": "mentioned"}


def test_filtering_by_a_vendor_gives_the_articles_about_it(db) -> None:
    where, params = Filters(vendor="nvidia").sql()
    found = [r[0] for r in db.execute(f"select a.id from articles a where {where}", params)]
    assert found == [1]
    # the mentions stay queryable
    named = db.execute("select count(*) from article_entities ae join entities e on e.id = "
                       "ae.entity_id where e.name = 'Nvidia'").fetchone()[0]
    assert named == 2


def test_export_lists_main_vendors_and_mentions_apart(db) -> None:
    by_url = {r["url"]: r for r in iter_export(db)}
    second = by_url["https://news.example/2"]
    assert (second["vendors"], second["vendor_mentions"]) == (["Mistral AI"], ["Nvidia"])


def test_a_reviewed_role_holds_over_later_runs(db, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["review", "vendor", "1", "amd", "--main", "--db",
                                      str(tmp_path / "kb.db"), "--by", "ana"])
    assert result.exit_code == 0, result.output
    assert "set as main: vendor" in result.output
    db.execute("delete from enrichment_state")  # the stage runs again over everything
    db.conn.commit()
    tag_entities(db, quiet=True)
    apply_reviews(db)
    assert roles(db, 1) == {"Nvidia": "main", "AMD": "main"}
    bad = CliRunner().invoke(cli, ["review", "topic", "1", "funding", "--main", "--db",
                                   str(tmp_path / "kb.db")])
    assert bad.exit_code == 1 and "only a vendor has a role" in bad.output
    unknown = CliRunner().invoke(cli, ["review", "vendor", "1", "Nvidai", "--mentioned", "--db",
                                       str(tmp_path / "kb.db")])
    assert unknown.exit_code == 2 and "Nvidia" in unknown.output  # the closest name


def test_the_shipped_weights_are_the_fit_on_the_labelled_roles() -> None:
    from kb.evaluation.training import vendor_role_examples

    xs, ys, _ = vendor_role_examples(load_gazetteer())
    shipped = json.loads(Path(MODEL_PATH).read_text(encoding="utf-8"))
    assert fit(xs, ys, threshold=THRESHOLD, version=VERSION) == shipped
    assert load_role_model().version == VERSION


def test_grouped_folds_keep_main_vendor_precision_and_recall() -> None:
    from kb.evaluation.run import score_vendor_roles

    figures = score_vendor_roles()
    assert figures["precision"] >= 0.85 and figures["recall"] >= 0.85
    training = figures["by_source"]["training articles"]
    assert training["precision"] >= 0.85 and training["recall"] >= 0.80  # text written apart
    assert figures["by_source"]["sample"]["recall"] >= 0.90
    assert "leave-one-group-out" in figures["note"]
