"""Vendor roles: is an article about a vendor (``main``), or does it name it in passing (``mentioned``)?

A logistic regression over fifteen features of how the article names each vendor, each one a thing an
editor would point at:

* ``in_title``, ``in_lead``: named in the headline, or in the first two sentences;
* ``share``, ``top``, ``log_mentions``: how much of the article's vendor talk is about it;
* ``subject_rate``: how often it opens a sentence (it acts rather than is acted on);
* ``list_rate``: how often it sits in a sentence naming three vendors or more (a list);
* ``cue_rate``: how often "such as", "rivals", "like", "wie", "comme"… come just before it;
* ``first_pos``: how late it first appears;
* ``log_vendors``: how many vendors the article names;
* ``to_top``: its mentions against the most-named vendor's (log scale), so that the co-subjects of a
  story (a supplier financing its customer, four companies' capex side by side) stand out from
  the vendors named once in passing, however many the article names;
* ``solo_rate``: how many of its sentences name no other vendor (it is discussed, not listed);
* ``title_names_none``: the headline names no vendor (a buyer's or a regulator's story, where the
  vendors the text dwells on are still its actors);
* ``paragraph_rate``, ``sentence_rate``: the share of paragraphs and of sentences that name it (it
  runs through the article rather than passing once).

The weights are fitted on the hand-labelled roles of the sample corpus
(``kb/evaluation/corpus/vendor_roles.json``) and of the 200 training articles written apart from it
(``kb/data/training/articles.yaml``), and shipped in ``kb/data/vendor_roles.json``;
``python -m kb.evaluation.training --vendor-roles`` fits them again. ``kb eval`` measures the scorer with
leave-one-group-out folds (a sample outlet or a training writing group at a time) and, fitted on
nothing else, on a held-out set.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from kb.core.resources import bundled
from kb.core.text import sentences
from kb.enrich.gazetteer import Gazetteer

MODEL_PATH = bundled("kb", "data", "vendor_roles.json")
VERSION = "roles-3"
# On leave-one-group-out folds over the sample and the training articles: precision 0.860 and recall
# 0.863 (the training articles alone 0.872 and 0.827); the lowest of 0.25, 0.30… keeping precision
# above 0.85 with a margin.
THRESHOLD = 0.35
FEATURES = ("in_title", "in_lead", "share", "top", "log_mentions", "subject_rate", "list_rate",
            "cue_rate", "first_pos", "log_vendors", "to_top", "solo_rate", "title_names_none",
            "paragraph_rate", "sentence_rate")
LEAD_SENTENCES = 2
SUBJECT_WORDS = 4
LIST_SIZE = 3
CUE_WINDOW = 60
CUE = re.compile(
    r"\b(?:such as|like|including|rivals?|competitors?|compared|than|unlike|as well as|alongside|"
    r"wie|etwa|darunter|sowie|Konkurrent\w*|comme|tels? que|ainsi que|y compris|concurrents?)\b",
    re.IGNORECASE)


def role_features(title: str, text: str, gazetteer: Gazetteer) -> dict[str, list[float]]:
    """Each vendor the article names, with its features in the order of ``FEATURES``."""
    found = sentences(text or "")
    in_title = {n for (k, n) in gazetteer.mentions(title or "") if k == "vendor"}
    paragraphs = [p for p in (text or "").split("\n\n") if p.strip()]
    in_paragraph: Counter[str] = Counter(
        name for p in paragraphs for name in {n for (k, n) in gazetteer.mentions(p) if k == "vendor"})
    in_lead = {n for (k, n) in gazetteer.mentions(" ".join(found[:LEAD_SENTENCES])) if k == "vendor"}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    first: dict[str, int] = {}
    total = 0
    for index, sentence in enumerate(found):
        named = [(n, c) for (k, n), c in gazetteer.mentions(sentence).items() if k == "vendor"]
        for name, times in named:
            total += times
            first.setdefault(name, index)
            position = sentence.find(name.split()[0])
            opening = len(" ".join(sentence.split()[:SUBJECT_WORDS]))
            cued = position >= 0 and CUE.search(sentence[max(0, position - CUE_WINDOW):position])
            counts[name].update({"mentions": times, "subject": times * (0 <= position < opening),
                                 "list": times * (len(named) >= LIST_SIZE),
                                 "cue": times * bool(cued), "sentences": 1, "solo": int(len(named) == 1)})
    for name in in_title - set(counts):  # named in the headline only
        counts[name]["mentions"], first[name] = 1, 0
        total += 1
    if not counts:
        return {}
    top = max(counts, key=lambda n: counts[n]["mentions"])
    out = {}
    for name, c in counts.items():
        m = max(1, c["mentions"])
        out[name] = [float(name in in_title), float(name in in_lead), m / max(1, total),
                     float(name == top), math.log1p(m), c["subject"] / m, c["list"] / m,
                     c["cue"] / m, min(first[name], 20) / 20, math.log1p(len(counts)),
                     math.log1p(m) / math.log1p(max(1, counts[top]["mentions"])),
                     c["solo"] / max(1, c["sentences"]), float(not in_title),
                     in_paragraph[name] / max(1, len(paragraphs)), c["sentences"] / max(1, len(found))]
    return out


class RoleModel:
    """The fitted weights: ``probability`` that a vendor is main, ``role`` past the threshold."""

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the vendor role weights were fitted on other features")
        self.weights = [float(w) for w in data["weights"]]
        self.intercept = float(data["intercept"])
        self.threshold = float(data["threshold"])
        self.version = str(data["version"])

    def probability(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def role(self, features: Sequence[float]) -> str:
        return "main" if self.probability(features) >= self.threshold else "mentioned"

    def roles(self, title: str, text: str, gazetteer: Gazetteer) -> dict[str, str]:
        return {name: self.role(f) for name, f in role_features(title, text, gazetteer).items()}


@cache
def load_role_model(path: str | None = None) -> RoleModel:
    return RoleModel(json.loads(Path(path or MODEL_PATH).read_text(encoding="utf-8")))


def fit(examples: list[list[float]], labels: list[int], *, threshold: float,
        version: str) -> dict[str, Any]:
    """Weights for ``RoleModel`` from labelled (features, main?) examples."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000).fit(examples, labels)
    return {"version": version, "features": list(FEATURES),
            "weights": [round(float(w), 6) for w in model.coef_[0]],
            "intercept": round(float(model.intercept_[0]), 6), "threshold": threshold}

