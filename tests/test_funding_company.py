"""The learned choice of who receives the money, and its outlet-grouped cross-validation."""

from __future__ import annotations

import json

import pytest
import yaml

from kb.enrich.funding_company import FEATURES, MODEL_PATH, CompanyScorer, load_company_scorer
from kb.enrich.funding_rules import extract_funding
from kb.enrich.gazetteer import load_gazetteer
from kb.evaluation.funding_training import PASSAGES, cross_validate, examples, labelled_texts, same_company

KINDS = {"equity", "debt", "mixed", "grant", "acquisition", "secondary", "ipo"}
STATUSES = {"closed", "announced", "in_talks", "cumulative"}


def test_the_training_passages_are_well_formed() -> None:
    passages = yaml.safe_load(PASSAGES.read_text(encoding="utf-8"))
    assert len({p["id"] for p in passages}) == len(passages) >= 150
    for p in passages:
        assert p["lang"] in {"en", "fr", "de"} and p["group"].startswith("g")
        for e in p.get("events") or []:
            assert e["kind"] in KINDS and e["status"] in STATUSES and e["amount"] > 0
            assert e["company"].split()[0] in p["text"]


@pytest.mark.parametrize("name, gold, same", [
    ("Mistral", "Mistral AI", True), ("Weights & Biases", "Weights & Biases", True),
    ("Nvidia", "Anthropic", False), (None, "Anthropic", False),
])
def test_same_company(name: str | None, gold: str, same: bool) -> None:
    assert same_company(name, gold) is same


def test_the_shipped_weights_match_the_features_and_the_examples() -> None:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES and len(data["coef"]) == len(FEATURES)
    scorer = load_company_scorer()
    assert scorer is not None
    found = examples(labelled_texts(), load_gazetteer().vendors_in)
    assert len(found.xs) > 500 and 0 < sum(found.ys) < len(found.ys)
    # the receiver outscores the other candidates of most labelled amounts
    assert sum(y for x, y in zip(found.xs, found.ys, strict=True)
               if scorer.probability(_option(x)) >= 0.5) >= 0.8 * sum(found.ys)


def _option(features: list[float]):  # noqa: ANN202 - a bare Option for scoring
    from kb.enrich.funding_company import Option

    return Option("x", False, features)


def test_weights_fitted_on_other_features_are_refused() -> None:
    with pytest.raises(ValueError, match="other features"):
        CompanyScorer({"version": "x", "features": ["a"], "coef": [1.0], "intercept": 0.0})


def test_learned_choice_beats_the_rules_on_texts_it_was_not_fitted_on() -> None:
    result = cross_validate(labelled_texts(), load_gazetteer().vendors_in)
    assert result["learned"]["passages"]["f1"] > result["rules"]["passages"]["f1"]
    assert result["learned"]["sample"]["f1"] >= 0.95


def test_the_scorer_can_be_switched_off() -> None:
    text = ("Tessellate AI builds language models for insurers. Nvidia will put in up to $80 million, "
            "and the AI start-up will add GPUs.")
    assert [e.company for e in extract_funding(text, scorer=None)] == ["Tessellate AI"]
    assert [e.company for e in extract_funding(text)] == ["Tessellate AI"]
