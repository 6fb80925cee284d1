"""The labelled articles written for training: well formed, and laid out as a corpus the crawl reads."""

from __future__ import annotations

from pathlib import Path

from kb.core.taxonomy import load_taxonomy
from kb.enrich.audiences import AUDIENCES, vendor_kinds
from kb.evaluation.sample import load_articles, load_outlets
from kb.evaluation.training_articles import as_validation_shape, load_training_articles
from kb.evaluation.validation import write_articles


def test_training_articles_carry_valid_labels() -> None:
    articles = load_training_articles()
    assert len({a["id"] for a in articles}) == len(articles) >= 120
    slugs = {t.slug for t in load_taxonomy()[1]}
    vendors = set(vendor_kinds())  # the gazetteer's canonical names
    for a in articles:
        assert a["lang"] in {"en", "fr", "de"} and len(a["text"].split()) >= 120
        assert set(a["topics"]) <= slugs and set(a["best_for"]) <= set(AUDIENCES)
        assert not set(a["vendors"]["main"]) & set(a["vendors"]["mentioned"])
        assert set(a["vendors"]["main"]) | set(a["vendors"]["mentioned"]) <= vendors
    for audience in AUDIENCES:  # every audience has examples to learn from
        assert sum(audience in a["best_for"] for a in articles) >= 20, audience


def test_training_articles_lay_out_as_a_corpus(tmp_path: Path) -> None:
    articles = load_training_articles()[:12]
    corpus = write_articles(as_validation_shape(articles), [], tmp_path / "corpus")
    laid = {a["id"]: a for a in load_articles(corpus)}
    assert set(laid) == {a["id"] for a in articles}
    first = articles[0]
    assert laid[first["id"]]["labels"]["best_for"] == first["best_for"]
    assert laid[first["id"]]["body"].split("\n\n")[0] == first["text"].split("\n\n")[0]
    assert {o["slug"] for o in load_outlets(corpus)} == {f"training-{a['group']}" for a in articles}
