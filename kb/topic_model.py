"""Fitting the per-topic classifiers on labelled articles, and cross-validating them for kb eval."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.embed import MULTILINGUAL_MODEL, Embedder, get_embedder
from kb.tag import (
    FEATURES,
    MODEL_FILE,
    example_vectors,
    features_for,
    funding_event_count,
    load_taxonomy,
    passage_vectors,
)

FOLDS = 5
SEED = 0


def topic_dataset(db: Database, labels: Callable[[int], list[str] | None], *,
                  embedder: Embedder | None = None) -> tuple[list[int], dict[str, np.ndarray],
                                                             dict[str, np.ndarray]]:
    """Features and 0/1 targets per topic for every labelled article in the database."""
    _, topics = load_taxonomy()
    embedder = embedder or get_embedder(MULTILINGUAL_MODEL)
    examples = example_vectors(topics, embedder)
    ids, xs, ys = [], {t.slug: [] for t in topics}, {t.slug: [] for t in topics}
    for a in db.query("select id, title, text from articles order by id"):
        gold = labels(a["id"])
        if gold is None:
            continue
        ids.append(a["id"])
        vectors = passage_vectors(db, a["id"], embedder.name)
        events = funding_event_count(db, a["id"])
        for t in topics:
            x, _ = features_for(t, a["title"] or "", f"{a['title']}. {a['text'] or ''}", vectors,
                                examples.get(t.slug), events)
            xs[t.slug].append(x)
            ys[t.slug].append(int(t.slug in gold))
    return ids, {k: np.array(v) for k, v in xs.items()}, {k: np.array(v) for k, v in ys.items()}


def fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std < 1e-6, 1.0, std)
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    clf.fit((x - mean) / scale, y)
    return {"coef": clf.coef_[0].round(6).tolist(), "intercept": round(float(clf.intercept_[0]), 6),
            "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist()}


def predict(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = ((x - np.array(params["mean"])) / np.array(params["scale"])) @ np.array(params["coef"])
    return 1 / (1 + np.exp(-(z + params["intercept"])))


def cross_validated(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities: each article scored by a model that never saw its label."""
    from sklearn.model_selection import KFold

    out = {}
    for slug, x in xs.items():
        y, probs = ys[slug], np.zeros(len(ys[slug]))
        for train, test in KFold(FOLDS, shuffle=True, random_state=SEED).split(x):
            if len(set(y[train])) < 2:
                continue
            probs[test] = predict(fit(x[train], y[train]), x[test])
        out[slug] = probs
    return out


def train(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray], *, path: Path = MODEL_FILE) -> Path:
    """Fit on every labelled article and write the model the topics stage loads."""
    version, _ = load_taxonomy()
    model = {"version": f"lr-{version}-{sum(len(y) for y in ys.values())}", "features": FEATURES,
             "topics": {slug: fit(x, ys[slug]) for slug, x in xs.items() if len(set(ys[slug])) == 2}}
    path.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    return path
