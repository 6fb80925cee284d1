"""Who receives the money: a learned choice among a funding sentence's candidate companies.

For each event amount the rules (kb.enrich.funding_rules) list the company-like names around it,
plus the company the previous sentences were about (for "the Paris-based developer raised ...",
"Elle a levé ..."). Each candidate is described by features a reader would point at
(``FEATURES``): where it stands against the amount and the funding verb, the preposition before it
("in", "by"), whether an investing verb follows it ("ASML led a €1.7bn round in Mistral"), whether
the gazetteer knows it, how often the text names it, whether it is a sentence's capitalised first
word that the text also writes in lower case ("Early this month ..."), whether the headline names
it, and the hand-written rules' own pick. A logistic regression scores every candidate; the best one
receives the money, and no candidate above ``MIN_PROBABILITY`` means no event.

The weights (``kb/data/funding_company.json``) are fitted on the sample corpus's labelled events
and the labelled passages of ``kb/data/training/funding_passages.yaml`` by
``python -m kb.evaluation.training --funding``; ``kb eval`` measures them with folds grouped by outlet.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.core.resources import bundled

if TYPE_CHECKING:
    from kb.enrich.funding_rules import _Amount, _Article, _Cand

MODEL_PATH = bundled("kb", "data", "funding_company.json")
VERSION = "company-6"
MIN_PROBABILITY = 0.15
FEATURES = (
    "known_vendor", "from_context", "context_pick", "before_amount", "after_amount", "distance",
    "before_cue", "after_in", "after_by", "after_other_preposition", "investor_flag", "modifier",
    "aside", "possessive", "rules_pick", "first_subject", "sentence_initial_common_word",
    "mentions", "investing_verb_between", "raising_verb_between", "investor_cue_after_in",
    "acquisition_after_cue", "in_title",
)
_IN = frozenset(["in", "into", "dans", "en", "ins"])
_BY = frozenset(["by", "par", "von", "durch", "from", "auprès", "including", "among", "with", "alongside"])
_INVESTING_RE = re.compile(
    r"\b(?:led|leads|leading|backed|backs|invest(?:s|ed|ing)?|pour(?:s|ed)|put(?:s|ting)?|"
    r"inject(?:s|ed)|commit(?:s|ted)|pledg(?:es|ed)|co-led|participated|joined|"
    r"men[ée]e?|mené|investit|investi|injecte|führt\w*|angeführt|investiert\w*|beteiligt\w*)\b",
    re.IGNORECASE,
)
_RAISING_RE = re.compile(
    r"\b(?:rais(?:es|ed|ing)|secur(?:es|ed)|clos(?:es|ed)|land(?:s|ed)|bagged|collected|"
    r"l[eè]v(?:e|é|ée)|boucl[ée]|obtenu|sammel\w*|eingesammelt|eingeworben|erhält|erhielt|holt\w*)\b",
    re.IGNORECASE,
)
_INVESTOR_CUE_RE = re.compile(r"invest|pour|pump|inject|put|back|led|lead|mené|investi", re.IGNORECASE)


@dataclass
class Option:
    """One candidate company for an amount: its name, whether the gazetteer knows it, its features."""

    name: str
    vendor: bool
    features: list[float]


def _span_has(regex: re.Pattern[str], sent: str, lo: int, hi: int) -> bool:
    return lo < hi and regex.search(sent, lo, hi) is not None


def options(art: _Article, idx: int, sent: str, a: _Amount, cue: re.Match[str], kind: str,
            cands: Sequence[_Cand], rules_pick: tuple[str, bool] | None) -> list[Option]:
    """The candidates for one amount: each name of the window, and the previous sentences' company."""
    context = art.context(idx)
    first = len(sent) - len(sent.lstrip())
    anchor = min(cue.start(), a.start)
    subject = next((c for c in cands if c.end <= anchor and c.head and not c.aside), None)
    investor_cue = bool(_INVESTOR_CUE_RE.match(cue.group()))
    found: list[Option] = []
    for c in cands:
        before = c.end <= a.start
        gap = a.start - c.end if before else max(0, c.start - a.end)
        lo, hi = (c.end, a.start) if before else (a.end, c.start)
        common = c.start == first and not c.vendor and art.common_word(c.name)
        found.append(Option(c.name, c.vendor, [
            float(c.vendor), 0.0, float(context is not None and context[0] == c.name), float(before),
            float(not before), math.log1p(gap / 20), float(c.end <= cue.start()), float(c.prep in _IN),
            float(c.prep in _BY), float(bool(c.prep) and c.prep not in _IN | _BY), float(c.investor),
            float(c.modifier), float(c.aside), float(c.possessive),
            float(rules_pick is not None and rules_pick[0] == c.name), float(c is subject), float(common),
            math.log1p(art.named_count(c.name)), float(before and _span_has(_INVESTING_RE, sent, lo, hi)),
            float(before and _span_has(_RAISING_RE, sent, lo, hi)),
            float(investor_cue and c.prep in _IN and c.start > cue.start()),
            float(kind == "acquisition" and c.start >= cue.end()), float(art.in_title(c.name)),
        ]))
    # the company of the previous sentences, and the rules' pick when it is none of the above (a
    # description's company, the investor set aside), as candidates named elsewhere
    for other in (context, rules_pick):
        if other is not None and all(o.name != other[0] for o in found):
            name, vendor = other
            found.append(Option(name, vendor, [
                float(vendor), 1.0, float(context is not None and context[0] == name), 0.0, 0.0,
                math.log1p(200 / 20), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                float(rules_pick is not None and rules_pick[0] == name), 0.0, 0.0,
                math.log1p(art.named_count(name)), 0.0, 0.0, 0.0, 0.0, float(art.in_title(name))]))
    return found


class CompanyScorer:
    """The fitted weights: a probability per candidate, and the choice among them."""

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the funding company weights were fitted on other features")
        self.version = str(data["version"])
        self.coef = [float(x) for x in data["coef"]]
        self.intercept = float(data["intercept"])

    def probability(self, option: Option) -> float:
        z = self.intercept + sum(w * x for w, x in zip(self.coef, option.features, strict=True))
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    def choose(self, found: Sequence[Option]) -> tuple[str, bool] | None:
        """The most likely receiver, or None when no candidate reaches ``MIN_PROBABILITY``."""
        if not found:
            return None
        best = max(found, key=self.probability)
        return (best.name, best.vendor) if self.probability(best) >= MIN_PROBABILITY else None


@cache
def load_company_scorer(path: str | None = None) -> CompanyScorer | None:
    """The shipped weights, or None when the file is absent (the rules then choose alone)."""
    file = Path(path or MODEL_PATH)
    if not file.is_file():
        return None
    return CompanyScorer(json.loads(file.read_text(encoding="utf-8")))


def fit(xs: Sequence[Sequence[float]], ys: Sequence[int], *, version: str) -> dict[str, Any]:
    """Weights for ``CompanyScorer`` from candidates' features and 0/1 labels (1: receives the money)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(list(xs), list(ys))
    return {"version": version, "features": list(FEATURES),
            "coef": [round(float(x), 6) for x in clf.coef_[0]],
            "intercept": round(float(clf.intercept_[0]), 6)}
