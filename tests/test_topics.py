"""Topic classifier: the stacked embedding scores are out-of-fold, the shipped model matches the stage,
and the cross-validated figures meet the project's target."""

from __future__ import annotations

import numpy as np
import pytest

from kb.enrich.topic_model import cross_validated, fit, topic_dataset
from kb.enrich.topics import (
    FEATURES,
    STACKED,
    load_model,
    load_taxonomy,
    probabilities,
    rule_features,
    tag_topics,
)
from kb.evaluation.run import label_ids
from kb.evaluation.sample import load_articles
from kb.store.connection import open_db

WIDTH = len(FEATURES) + sum(STACKED.values())
TARGET_F1 = 0.88


def _synthetic(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One informative rule feature; mean vectors that are pure noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    x = np.zeros((n, WIDTH))
    x[:, 0] = y + rng.normal(0, 0.7, n)
    x[:, len(FEATURES):] = rng.normal(0, 1, (n, WIDTH - len(FEATURES)))
    return x, y


def test_noise_embeddings_get_little_weight_because_their_scores_are_out_of_fold():
    # Fitted in-sample, a 384/512-d classifier separates noise perfectly and the combiner would trust
    # it; scored out-of-fold it predicts nothing, and the informative rule feature must dominate.
    x, y = _synthetic()
    params = fit(x, y)
    coef = np.abs(np.array(params["coef"]))
    assert len(coef) == len(FEATURES) + len(STACKED)
    assert coef[0] > 1.0
    assert coef[len(FEATURES):].max() < 0.5 * coef[0]


def test_missing_vectors_are_neutral():
    # An article without vectors for a model: that model's score takes its training mean, so only the
    # rule and similarity features decide.
    x, y = _synthetic()
    params = fit(x, y)
    row = x[:1].copy()
    row[0, len(FEATURES):] = np.nan
    n = len(FEATURES)
    mean, scale, coef = (np.array(params[k][:n]) for k in ("mean", "scale", "coef"))
    z = float(((row[0, :n] - mean) / scale) @ coef + params["intercept"])
    assert probabilities(params, row)[0] == pytest.approx(1 / (1 + np.exp(-z)))
    assert probabilities(params, x[:1])[0] != pytest.approx(1 / (1 + np.exp(-z)))


def test_german_and_french_sovereignty_patterns_cover_declensions_and_own_infrastructure():
    topic = next(t for t in load_taxonomy()[1] if t.slug == "sovereignty")
    for text in ("Helsing spricht von technologischer Souveränität.",
                 "Modelle laufen auf eigener Infrastruktur.",
                 "Les entreprises exécutent les modèles sur leurs propres serveurs."):
        assert rule_features(topic, "", text)[0]["hits"] > 0, text
    assert rule_features(topic, "", "La dette souveraine de la France.")[0]["hits"] == 0


@pytest.fixture(scope="module")
def dataset(demo_db):
    gold = {a["id"]: a["labels"]["topics"] for a in load_articles()}
    db = open_db(demo_db)
    ids = label_ids(db)
    return topic_dataset(db, lambda i: gold.get(ids.get(i, "")))


def test_cross_validated_f1_meets_the_target_for_every_topic(dataset, demo_db):
    order, xs, ys = dataset
    assert all(x.shape == (156, WIDTH) for x in xs.values())
    outlets = {a["id"]: a["outlet"] for a in load_articles()}
    ids = label_ids(open_db(demo_db))
    probs = cross_validated(xs, ys, np.array([outlets[ids[i]] for i in order]))  # outlets apart
    f1s = {}
    for slug, p in probs.items():
        predicted, actual = p >= 0.5, ys[slug] == 1
        tp = int((predicted & actual).sum())
        f1s[slug] = 2 * tp / (int(predicted.sum()) + int(actual.sum()))
    assert min(f1s.values()) >= TARGET_F1, f1s
    assert sum(f1s.values()) / len(f1s) >= TARGET_F1, f1s


def test_shipped_model_is_current_and_the_stage_agrees_with_it(dataset, demo_db_copy):
    model = load_model()
    assert model["features"] == FEATURES + [f"embedding:{m}" for m in STACKED]
    assert model["version"].startswith(f"stack-{load_taxonomy()[0]}-")
    order, xs, _ = dataset
    db = open_db(demo_db_copy)
    db.execute("delete from enrichment_state where stage = 'topics'")
    db.conn.commit()
    assert tag_topics(db, quiet=True) == db["articles"].count
    stored = {(r["article_id"], r["topic"]): r["score"] for r in db.query(
        "select article_id, topic, score from article_topics where method = 'rules+embeddings'")}
    expected = {(aid, slug): round(float(p), 4) for slug, x in xs.items()
                for aid, p in zip(order, probabilities(model["topics"][slug], x), strict=True) if p >= 0.5}
    assert stored and stored == pytest.approx(expected, abs=1e-4)
