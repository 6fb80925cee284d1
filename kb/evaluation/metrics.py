"""Evaluation metrics: set precision/recall/F1, B-cubed clustering scores, nDCG and recall@k."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": tp + fn}


def set_prf(gold: Mapping[Hashable, Iterable[Hashable]],
            predicted: Mapping[Hashable, Iterable[Hashable]]) -> dict[str, float]:
    """Micro-averaged scores over (item, label) pairs."""
    tp = fp = fn = 0
    for key in set(gold) | set(predicted):
        g, p = set(gold.get(key, ())), set(predicted.get(key, ()))
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    return prf(tp, fp, fn)


def bcubed(gold: Mapping[Hashable, Hashable], predicted: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """B-cubed precision, recall and F1 of a clustering (item -> cluster id) against gold."""
    items = [i for i in gold if i in predicted]
    if not items:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    by_gold: dict[Hashable, set[Hashable]] = {}
    by_pred: dict[Hashable, set[Hashable]] = {}
    for i in items:
        by_gold.setdefault(gold[i], set()).add(i)
        by_pred.setdefault(predicted[i], set()).add(i)
    precision = recall = 0.0
    for i in items:
        same_pred, same_gold = by_pred[predicted[i]], by_gold[gold[i]]
        both = len(same_pred & same_gold)
        precision += both / len(same_pred)
        recall += both / len(same_gold)
    p, r = precision / len(items), recall / len(items)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def ndcg_at(ranked: Sequence[Hashable], judgments: Mapping[Hashable, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain with graded relevance (2 high, 1 partial)."""
    gains = [judgments.get(doc, 0) for doc in ranked[:k]]
    dcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(judgments.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[Hashable], judgments: Mapping[Hashable, int], k: int = 20) -> float:
    relevant = {doc for doc, grade in judgments.items() if grade > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0
