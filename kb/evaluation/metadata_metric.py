"""Scoring titles, dates and authors against hand labels.

* **title exact**: equal once both are Unicode-normalised (NFKC), whitespace is collapsed, curly
  quotes and dashes are made plain and case is folded; a site name left on counts as wrong.
* **date same day**: the stored publication date's day (in the time zone it is stored with)
  equals the labelled day; pages labelled with no date are left out.
* **authors**: precision, recall and F1 over (page, person) pairs, names compared by their
  letters and digits only (case and punctuation aside); a page labelled with no person and given
  none counts as nothing.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from kb.crawl.metadata import norm_title, squash


def same_title(predicted: str | None, label: str) -> bool:
    return norm_title(unicodedata.normalize("NFKC", predicted or "")) == norm_title(
        unicodedata.normalize("NFKC", label))


def metadata_scores(labels: dict[str, dict[str, Any]],
                    predicted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Figures for ``predicted`` ({page: {title, date, authors}}) against ``labels``."""
    titles = dated = same_day = 0
    tp = fp = fn = 0
    for key, label in labels.items():
        got = predicted.get(key, {})
        titles += same_title(got.get("title"), label["title"])
        if label.get("date"):
            dated += 1
            same_day += (got.get("date") or "")[:10] == label["date"]
        mine = {squash(a) for a in got.get("authors") or [] if squash(a)}
        theirs = {squash(a) for a in label.get("authors") or [] if squash(a)}
        tp, fp, fn = tp + len(mine & theirs), fp + len(mine - theirs), fn + len(theirs - mine)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "pages": len(labels),
        "title_exact": titles / len(labels) if labels else 0.0,
        "date_same_day": same_day / dated if dated else 0.0,
        "authors_precision": precision,
        "authors_recall": recall,
        "authors_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
