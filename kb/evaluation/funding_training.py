"""The funding company scorer's examples and its cross-validation, grouped by outlet.

Labelled text: the sample corpus's articles (their ``funding_events``) and the passages of
``kb/data/training/funding_passages.yaml`` (written to exercise who receives the money: investors
named first, descriptions instead of names, acquisitions, clauses). Never the validation set.

An example is one candidate company of one event amount that a labelled event states (same
currency, amount within 2%): 1 when it names the labelled company, else 0. Amounts no label
states, and amounts none of whose candidates is the labelled company, teach nothing about the
choice and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.core.resources import bundled
from kb.crawl.metadata import squash
from kb.enrich.funding_company import CompanyScorer, Option, fit
from kb.enrich.funding_rules import FundingEvent, extract_funding

PASSAGES = bundled("kb", "data", "training", "funding_passages.yaml")
TOLERANCE = 0.02  # as kb eval matches events (kb.evaluation.run.AMOUNT_TOLERANCE)
FOLDS = 5


@dataclass
class Text:
    """One labelled text: its group (outlet or writing style) and the events it states."""

    key: str
    group: str
    lang: str
    text: str
    events: list[dict[str, Any]]
    source: str
    title: str = ""


@dataclass
class Examples:
    xs: list[list[float]] = field(default_factory=list)
    ys: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def labelled_texts(*, passages: Path = PASSAGES) -> list[Text]:
    """The sample's articles and the training passages, with their labelled events."""
    from kb.evaluation.sample import load_articles, load_outlets

    langs = {o["slug"]: o["lang"] for o in load_outlets()}
    texts = [Text(a["id"], a["outlet"], langs.get(a["outlet"], "en"), a["body"],
                  a["labels"].get("funding_events") or [], "sample", a.get("title") or "")
             for a in load_articles()]
    if passages.is_file():
        for p in yaml.safe_load(passages.read_text(encoding="utf-8")) or []:
            texts.append(Text(p["id"], f"passages-{p['group']}", p["lang"], p["text"],
                              p.get("events") or [], "passages"))
    return texts


def same_company(name: str | None, gold: str) -> bool:
    """'Mistral' names 'Mistral AI'; 'Weights & Biases' names itself."""
    a, b = (name or "").split(), gold.split()
    if not a or not b:
        return False
    n = min(len(a), len(b))
    return squash(" ".join(a[:n])) == squash(" ".join(b[:n]))


def _same_money(amount: float, currency: str, gold: dict[str, Any]) -> bool:
    """The labelled event's currency, and its amount within ``TOLERANCE``."""
    return (gold.get("currency") or "").upper() == currency and bool(gold.get("amount")) and (
        abs(amount - float(gold["amount"])) <= TOLERANCE * float(gold["amount"]))


def _stated(amount: float, currency: str, events: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in events if _same_money(amount, currency, e)), None)


def examples(texts: Sequence[Text], vendors: Callable[[str], list[str]]) -> Examples:
    """Every labelled amount's candidates, with their labels and groups."""
    out = Examples()
    for t in texts:
        trace: list[tuple[str, Any, list[Option]]] = []
        extract_funding(t.text, lang=t.lang, vendors=vendors, title=t.title, scorer=None, trace=trace)
        for _, amount, found in trace:
            gold = _stated(amount.value, amount.currency, t.events)
            if gold is None:
                continue
            labels = [int(same_company(o.name, gold["company"])) for o in found]
            if not any(labels):
                continue
            for o, y in zip(found, labels, strict=True):
                out.xs.append(o.features)
                out.ys.append(y)
                out.groups.append(t.group)
    return out


def event_counts(texts: Sequence[Text], vendors: Callable[[str], list[str]],
                 scorer: CompanyScorer | None) -> tuple[int, int, int]:
    """(matched, extracted, labelled) events over the texts, as the evaluation matches them."""
    tp = fp = fn = 0
    for t in texts:
        found: list[FundingEvent] = extract_funding(t.text, lang=t.lang, vendors=vendors, title=t.title,
                                                    scorer=scorer)
        used: set[int] = set()
        for g in t.events:
            for j, p in enumerate(found):
                if j not in used and same_company(p.company, g["company"]) and _same_money(
                        p.amount, p.currency, g):
                    used.add(j)
                    break
        tp, fp, fn = tp + len(used), fp + len(found) - len(used), fn + len(t.events) - len(used)
    return tp, fp, fn


def cross_validate(texts: Sequence[Text], vendors: Callable[[str], list[str]]) -> dict[str, Any]:
    """Funding-event F1 of the rules alone and of the learned choice, each text scored by weights
    fitted on other outlets only: each outlet, and each group of passages, lies in one of
    ``FOLDS`` folds."""
    from kb.evaluation.metrics import prf

    groups = sorted({t.group for t in texts})
    fold_of = {g: k % FOLDS for k, g in enumerate(groups)}
    per_text = examples(texts, vendors)
    totals: dict[str, dict[str, list[int]]] = {"rules": defaultdict(lambda: [0, 0, 0]),
                                                "learned": defaultdict(lambda: [0, 0, 0])}
    for k in range(FOLDS):
        train = Examples()
        for x, y, g in zip(per_text.xs, per_text.ys, per_text.groups, strict=True):
            if fold_of[g] != k:
                train.xs.append(x)
                train.ys.append(y)
        scorer = CompanyScorer(fit(train.xs, train.ys, version="fold"))
        held = [t for t in texts if fold_of[t.group] == k]
        for source in {t.source for t in held}:
            part = [t for t in held if t.source == source]
            for name, chooser in (("rules", None), ("learned", scorer)):
                counts = event_counts(part, vendors, chooser)
                row = totals[name][source]
                for i in range(3):
                    row[i] += counts[i]
    return {name: {source: prf(*row) for source, row in by_source.items()}
            for name, by_source in totals.items()}
