"""The "Best for" classifier's figures: per-audience precision, recall and F1, and their macro average.

On the sample (whose labels it is fitted on) every article is scored out of fold, with the folds
grouped by outlet, so no outlet's writing helps score its own articles; its topic inputs are the
topic classifier's own out-of-fold scores (kb.evaluation.run.topic_cross_validation), as the
shipped model is trained on them. On a held-out set the audiences are scored as enrichment
assigned them. A story's figure compares its audiences (the mean of its articles' probabilities)
with the union of its articles' labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.enrich.audiences import AUDIENCES, FOLDS, Inputs, fit, read_inputs
from kb.evaluation.metrics import set_prf


def labelled(ids: Mapping[int, str], gold: Mapping[str, Any]) -> dict[int, set[str]]:
    """Database id -> gold audiences, for the articles whose labels give ``best_for``."""
    return {i: set(gold[lid]["labels"]["best_for"]) for i, lid in ids.items()
            if gold[lid]["labels"].get("best_for") is not None}


def labelled_articles(db: Database, truth: Mapping[int, set[str]]) -> list[dict[str, Any]]:
    """The labelled articles (id, title, text), in id order."""
    order = sorted(truth)
    return list(db.query(f"select id, title, text from articles where id in ({','.join('?' * len(order))}) "
                         "order by id", order))


def cross_validated(inputs: Inputs, labels: list[set[str]], groups: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities per audience: folds grouped by outlet (GroupKFold), each article
    scored by a model fitted on other outlets only (its inner folds apart by outlet too)."""
    from sklearn.model_selection import GroupKFold

    from kb.enrich.audiences import AudienceModel

    probs = {a: np.zeros(len(labels)) for a in AUDIENCES}
    for train, test in GroupKFold(FOLDS).split(inputs.rows, groups=groups):
        part = Inputs(inputs.rows[train], inputs.vectors[train], [inputs.cues[i] for i in train])
        model = AudienceModel(fit(part, [labels[i] for i in train], version="fold", groups=groups[train]))
        held = Inputs(inputs.rows[test], inputs.vectors[test], [inputs.cues[i] for i in test])
        for audience, p in model.probabilities(held).items():
            probs[audience][test] = p
    return probs


def _scores(gold: dict[int, set[str]], predicted: dict[int, set[str]],
            langs: Mapping[int, str]) -> dict[str, Any]:
    per = {a: set_prf({i: gold[i] & {a} for i in gold}, {i: predicted.get(i, set()) & {a} for i in gold})
           for a in AUDIENCES}
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i in gold:
        by_lang[langs.get(i, "en")].append(i)
    return {"per_audience": per, "macro_f1": sum(v["f1"] for v in per.values()) / len(per),
            "by_lang": {lang: set_prf({i: gold[i] for i in m}, {i: predicted.get(i, set()) for i in m})
                        for lang, m in sorted(by_lang.items())}}


def _story_scores(db: Database, gold: dict[int, set[str]],
                  probabilities: Callable[[int], dict[str, float]], thresholds: dict[str, float]
                  ) -> dict[str, Any] | None:
    """Stories of two or more labelled articles: mean probability past the threshold against the
    union of the articles' labels."""
    members: dict[str, list[int]] = defaultdict(list)
    for sid, aid in db.execute("select story_id, article_id from story_articles"):
        if aid in gold:
            members[sid].append(aid)
    stories = {sid: m for sid, m in members.items() if len(m) > 1}
    if not stories:
        return None
    truth = {sid: set().union(*(gold[i] for i in m)) for sid, m in stories.items()}
    chosen = {}
    for sid, m in stories.items():
        rows = [probabilities(i) for i in m]
        chosen[sid] = {a for a in AUDIENCES if sum(r.get(a, 0.0) for r in rows) / len(rows) >= thresholds[a]}
    per = {a: set_prf({s: truth[s] & {a} for s in truth}, {s: chosen[s] & {a} for s in truth})
           for a in AUDIENCES}
    return {"stories": len(stories), "macro_f1": sum(v["f1"] for v in per.values()) / len(per)}


def pooled(first: Inputs, second: Inputs) -> Inputs:
    return Inputs(np.vstack([first.rows, second.rows]), np.vstack([first.vectors, second.vectors]),
                  first.cues + second.cues)


def score_audiences(db: Database, ids: Mapping[int, str], gold: Mapping[str, Any],
                    langs: Mapping[int, str], *,
                    topic_scores: Callable[[int], dict[str, float]] | None = None,
                    extra: tuple[Inputs, list[set[str]], np.ndarray] | None = None) -> dict[str, Any] | None:
    """Grouped cross-validation on a labelled set the classifier is fitted on (``topic_scores``
    given: the topics' out-of-fold scores), pooled with ``extra`` (the training articles' inputs,
    labels and groups) when given, as the shipped weights are fitted; without ``topic_scores``, the
    audiences enrichment assigned."""
    truth = labelled(ids, gold)
    if not truth:
        return None
    if topic_scores is None:
        if not db["article_audiences"].exists() or not db["article_audiences"].count:
            return None
        stored: dict[int, dict[str, float]] = defaultdict(dict)
        chosen: dict[int, set[str]] = defaultdict(set)
        for aid, audience, p, best in db.execute(
                "select article_id, audience, probability, best_for from article_audiences"):
            stored[aid][audience] = p
            if best:
                chosen[aid].add(audience)
        out = _scores(truth, chosen, langs)
        out["stories"] = _story_scores(db, truth, lambda i: stored[i], {a: 0.5 for a in AUDIENCES})
        out["note"] = "as enrichment assigned them: nothing was fitted on these labels"
        return out
    articles = labelled_articles(db, truth)
    inputs = read_inputs(db, articles, topic_scores=topic_scores)
    labels = [truth[a["id"]] for a in articles]
    groups = np.array([gold[ids[a["id"]]]["outlet"] for a in articles])
    n = len(labels)
    if extra is not None:
        inputs, all_labels = pooled(inputs, extra[0]), labels + extra[1]
        probs = cross_validated(inputs, all_labels, np.concatenate([groups, extra[2]]))
        held = {a: p[n:] for a, p in probs.items()}
        probs = {a: p[:n] for a, p in probs.items()}
    else:
        probs = cross_validated(inputs, labels, groups)
    position = {a["id"]: k for k, a in enumerate(articles)}
    chosen = {a["id"]: {x for x in AUDIENCES if probs[x][k] >= 0.5} for k, a in enumerate(articles)}
    out = _scores(truth, chosen, langs)
    out["stories"] = _story_scores(db, truth, lambda i: {x: float(probs[x][position[i]]) for x in AUDIENCES},
                                   {a: 0.5 for a in AUDIENCES})
    out["note"] = (f"{FOLDS}-fold cross-validated with the outlets apart: the classifier is fitted on "
                   "these labels, never on the scored article's outlet")
    if extra is not None:
        truth_extra = {k: extra[1][k] for k in range(len(extra[1]))}
        chosen_extra = {k: {x for x in AUDIENCES if held[x][k] >= 0.5} for k in truth_extra}
        out["training_articles"] = _scores(truth_extra, chosen_extra, {})
        out["note"] += f", pooled with {len(extra[1])} training articles (kb/data/training/articles.yaml)"
    return out
