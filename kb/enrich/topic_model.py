"""Fitting the per-topic classifiers on labelled articles, and cross-validating them for kb eval.

Each topic's classifier is a small stack. First, one L2-regularised logistic regression per embedding
model in STACKED reads the article's mean passage vector; its out-of-fold scores (inner 5-fold
cross-validation over the training articles only) become extra inputs. Then a logistic regression
combines them with the rule and similarity features. Everything is fitted on the articles it is given,
so `cross_validated` stays an honest out-of-fold figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.core.resources import data_dir
from kb.core.taxonomy import load_taxonomy
from kb.enrich.embed import MULTILINGUAL_MODEL, Embedder, get_embedder
from kb.enrich.topics import FEATURES, STACKED, article_rows, example_vectors, probabilities

FOLDS = 5
SEED = 0
# Inverse L2 strength of the per-model classifiers on mean passage vectors (unit-length, 384/512-d:
# each coordinate is small, so they need a weak penalty). Of 1 and 10, 10 did as well or better in
# 5-fold CV repeated with seeds 1-4 (mean macro F1 0.933 against 0.939).
EMBEDDING_C = 10.0
COMBINER_C = 1.0


def topic_dataset(db: Database, labels: Callable[[int], list[str] | None], *,
                  embedder: Embedder | None = None) -> tuple[list[int], dict[str, np.ndarray],
                                                             dict[str, np.ndarray]]:
    """Inputs (see kb.enrich.topics.article_rows) and 0/1 targets per topic for every labelled article."""
    _, topics = load_taxonomy()
    embedder = embedder or get_embedder(MULTILINGUAL_MODEL)
    examples = example_vectors(topics, embedder)
    ids: list[int] = []
    xs: dict[str, list[Any]] = {t.slug: [] for t in topics}
    ys: dict[str, list[Any]] = {t.slug: [] for t in topics}
    for a in db.query("select id, title, text from articles order by url"):
        gold = labels(a["id"])
        if gold is None:
            continue
        ids.append(a["id"])
        for slug, (x, _) in article_rows(db, a, topics, examples, sim_model=embedder.name).items():
            xs[slug].append(x)
            ys[slug].append(int(slug in gold))
    return ids, {k: np.array(v) for k, v in xs.items()}, {k: np.array(v) for k, v in ys.items()}


def _logistic(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, y)


def _folds(n: int, groups: np.ndarray | None) -> Any:
    """Fold splits: by group (an outlet never on both sides) when groups are given and there are
    enough of them, else shuffled."""
    from sklearn.model_selection import GroupKFold, KFold

    rows = np.zeros((n, 1))
    if groups is not None and len(set(groups)) >= FOLDS:
        return GroupKFold(FOLDS).split(rows, groups=groups)
    return KFold(FOLDS, shuffle=True, random_state=SEED).split(rows)


def _out_of_fold_scores(v: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Scores of the embedding classifier for the training rows, each from a model fitted without it."""
    scores = np.full(len(y), np.nan)
    for train, test in _folds(len(y), groups):
        if len(set(y[train])) == 2:
            scores[test] = _logistic(v[train], y[train], EMBEDDING_C).decision_function(v[test])
    return scores


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Fit one topic's stack on rows ``x`` (FEATURES, then each STACKED model's mean vector);
    ``groups`` (the outlet of each row) keeps the inner folds apart by outlet."""
    width = len(FEATURES)
    inputs, blocks = [x[:, :width]], []
    for model, dim in STACKED.items():
        v = x[:, width:width + dim]
        width += dim
        ok = ~np.isnan(v).any(axis=1)
        scores = np.full(len(y), np.nan)
        if len(set(y[ok])) == 2:
            clf = _logistic(v[ok], y[ok], EMBEDDING_C)
            coef, intercept = clf.coef_[0], float(clf.intercept_[0])
            scores[ok] = _out_of_fold_scores(v[ok], y[ok], None if groups is None else groups[ok])
        else:
            coef, intercept = np.zeros(dim), 0.0
        if np.isnan(scores).all():
            scores[:] = 0.0
        scores = np.where(np.isnan(scores), np.nanmean(scores), scores)
        inputs.append(scores[:, None])
        blocks.append({"model": model, "coef": coef.round(6).tolist(), "intercept": round(intercept, 6)})
    features = np.hstack(inputs)
    mean, std = features.mean(axis=0), features.std(axis=0)
    scale = np.where(std < 1e-6, 1.0, std)
    clf = _logistic((features - mean) / scale, y, COMBINER_C)
    return {"coef": clf.coef_[0].round(6).tolist(), "intercept": round(float(clf.intercept_[0]), 6),
            "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(), "embedding": blocks}


def predict(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    return probabilities(params, x)


def cross_validated(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray],
                    groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities: each article scored by a model that never saw its label, nor,
    when ``groups`` gives each article's outlet, any article of its outlet."""
    out = {}
    for slug, x in xs.items():
        y, probs = ys[slug], np.zeros(len(ys[slug]))
        for train, test in _folds(len(y), groups):
            if len(set(y[train])) < 2:
                continue
            inner = None if groups is None else groups[train]
            probs[test] = predict(fit(x[train], y[train], inner), x[test])
        out[slug] = probs
    return out


def train(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray], *, path: Path | None = None,
          groups: np.ndarray | None = None) -> Path:
    """Fit on every labelled article and write the model the topics stage loads (by default to the
    user's data folder, where it takes precedence over the shipped one)."""
    path = path or data_dir() / "topic_model.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    version, _ = load_taxonomy()
    model = {"version": f"stack-{version}-{sum(len(y) for y in ys.values())}",
             "features": FEATURES + [f"embedding:{m}" for m in STACKED],
             "topics": {slug: fit(x, ys[slug], groups) for slug, x in xs.items()
                        if len(set(ys[slug])) == 2}}
    path.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    return path
