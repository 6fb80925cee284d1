"""The article-extraction benchmark's metric: token 4-gram shingles, per-page normalised counts."""

from __future__ import annotations

import re
from collections import Counter
from statistics import mean

WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str | None, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = WORD.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def page_counts(truth: str | None, predicted: str | None, n: int = 4) -> tuple[float, float, float]:
    """True positives, false positives and false negatives for one page, summing to 1 (``n`` = 1
    counts single tokens, the benchmark's 4 counts word 4-grams)."""
    t, p = shingles(truth, n), shingles(predicted, n)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _ratio(a: float, b: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return a / (a + b) if a + b else 0.0


def extraction_scores(pages: list[tuple[float, float, float]]) -> dict[str, float]:
    """Precision averaged over pages with output, recall over pages with truth, F1 of the means."""
    precisions = [_ratio(tp, fp, fp, fn) for tp, fp, fn in pages if tp + fp > 0]
    recalls = [_ratio(tp, fn, fp, fn) for tp, fp, fn in pages if tp + fn > 0]
    p = mean(precisions) if precisions else 0.0
    r = mean(recalls) if recalls else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
