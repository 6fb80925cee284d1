"""The audiences stage: which readers an article, and a story, is best for.

Four audiences, as in the ``best_for`` labels: ``policy`` (people who make or follow AI rules),
``investor`` (people who allocate capital), ``engineering`` (CTOs, heads of AI/ML and their teams)
and ``executive`` (people deciding what their organisation buys, builds or partners on). An article
may serve several, or none (an article that is not about AI serves none of them).

One logistic regression per audience over features an editor would point at (``FEATURES``):

* the article's topic scores as the topics stage kept them (0 for a topic it did not keep);
* its funding mentions (how many, and whether one is a deal under way rather than a total raised to
  date), its policy references and the jurisdictions whose rules it discusses;
* its main vendors by kind (model makers, chip makers, clouds, platforms, applications);
* four lexical cues, one per audience, in English, French and German (``CUES``): words per hundred of
  rules and rulings, of money and markets, of models and hardware, of customers and buying;
* ``similar_articles``: how much the article's mean multilingual passage vector resembles the
  sample's articles for that audience (an L2-regularised logistic regression of its own, stacked as
  the topics stage stacks its vector scores).

The weights are fitted on the hand-labelled ``best_for`` of the sample corpus and shipped in
``kb/data/audience_model.json``; ``python -m kb.evaluation.training --audiences`` fits them again.
``kb eval`` measures the classifier with folds grouped by outlet and, fitted on nothing there, on a
held-out set. A story is best for an audience when the mean of its articles' probabilities clears
the audience's threshold.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.core.resources import bundled
from kb.enrich.embed import MULTILINGUAL_MODEL
from kb.enrich.gazetteer import DATA as GAZETTEER_DATA
from kb.enrich.ledger import mention_status
from kb.enrich.topics import mean_vector, passage_vectors
from kb.store.stages import delete_for, mark_done

STAGE = "audiences"
VERSION = "audiences-7"
MODEL_PATH = bundled("kb", "data", "audience_model.json")
AUDIENCES = ("policy", "investor", "engineering", "executive")
TOPICS = ("sovereignty", "open-source", "regulation", "export-controls", "funding")
VENDOR_KINDS = ("model-maker", "chips", "cloud", "platform", "app")
EMBEDDING_DIM = 512  # the multilingual model's vectors
EMBEDDING_C = 10.0  # as the topic model's vector classifiers (kb.enrich.topic_model)
COMBINER_C = 0.1
FOLDS = 5
# Stages whose output the features read: an article they redo is redone here too.
UPSTREAM = ("entities", "funding", "policy_refs", "topics")
_I = re.IGNORECASE
CUES: dict[str, re.Pattern[str]] = {
    "policy": re.compile(
        r"\b(?:laws?|legislation|regulations?|regulators?|rules?|rulebook|ministry|ministers?|"
        r"government|commission|parliament|congress|senators?|lawmakers|court|judge|ruling|lawsuit|"
        r"enforcement|fines?|penalt(?:y|ies)|compliance|obligations?|bill|statute|guidance|"
        r"export controls?|sanctions|officials|public sector|"
        r"loi|règlement|régulateur|ministère|ministre|gouvernement|tribunal|amendes?|"
        r"autorités?|administrations?|"
        r"Gesetz\w*|Verordnung|Regulierung|Ministerium|Regierung|Behörden?|Gericht|Aufsicht|"
        r"Pflichten|Vorschrift\w*|Bundestag)\b", _I),
    "investor": re.compile(
        r"\b(?:valuations?|valued|investors?|shareholders?|shares|stock|round|raised?|raising|"
        r"IPO|listing|revenue|earnings|margins?|analysts?|brokerage|dilution|debt|equity|"
        r"lenders?|loans?|credit|backers?|Series [A-H]|post-money|tender offer|"
        r"valorisation|investisseurs?|actionnaires?|levée|chiffre d'affaires|Bourse|dette|"
        r"Bewertung|Investoren|Anleger|Aktien?|Umsatz|Finanzierungsrunde|Börse)\b", _I),
    "engineering": re.compile(
        r"\b(?:weights|parameters|benchmarks?|GPUs?|accelerators?|inference|latency|tokens?|"
        r"context window|datasets?|fine-tun\w+|open-weight|Apache 2\.0|MIT licen[cs]e|"
        r"training (?:code|data|runs?)|bandwidth|HBM\w*|mixture-of-experts|checkpoints?|kernels?|"
        r"racks?|liquid cooling|megawatts|quantis\w+|distill\w+|tokeni[sz]er|architecture|"
        r"poids|paramètres|entraînement|inférence|jeu de données|"
        r"Gewichte|Parameter|Inferenz|Datensatz|Grafikprozessor\w*)\b", _I),
    "executive": re.compile(
        r"\b(?:customers?|clients?|procurement|buyers?|contracts?|partnership|strategy|"
        r"market share|enterprises?|vendors?|lock-in|switching|pricing|premium|suppliers?|"
        r"tenders?|pilots?|on-premises|data residency|due diligence|"
        r"entreprises|contrat|partenariat|stratégie|fournisseurs?|achats?|"
        r"Kunden|Vertrag|Partnerschaft|Strategie|Anbieter\w*|Mittelständler)\b", _I),
}
FEATURES = (*[f"topic:{t}" for t in TOPICS], "funding_mentions", "live_deal", "policy_refs",
            "jurisdictions", *[f"vendor:{k}" for k in VENDOR_KINDS], *[f"cue:{a}" for a in AUDIENCES],
            "similar_articles")
LABELS = {
    **{f"topic:{t}": f"topic {t}" for t in TOPICS}, "funding_mentions": "funding events",
    "live_deal": "a deal under way", "policy_refs": "policy references",
    "jurisdictions": "jurisdictions' rules", **{f"vendor:{k}": f"{k} vendors" for k in VENDOR_KINDS},
    **{f"cue:{a}": f"{a} words" for a in AUDIENCES}, "similar_articles": "reads like the sample's articles",
}


@cache
def vendor_kinds() -> dict[str, str]:
    """Canonical vendor name -> its kind in the gazetteer (model-maker, chips, cloud, platform, app)."""
    data = yaml.safe_load(Path(GAZETTEER_DATA).read_text(encoding="utf-8"))
    return {v["name"]: v.get("kind", "") for v in data.get("vendors", [])}


def cue_features(title: str, text: str) -> tuple[list[float], dict[str, list[str]]]:
    """Per audience, log(1 + cue words per hundred words); and the cue words found, most used first."""
    body = f"{title or ''}. {text or ''}"
    words = max(1, len(body.split()))
    values, found = [], {}
    for audience, pattern in CUES.items():
        hits = [m.group(0).lower() for m in pattern.finditer(body)]
        values.append(math.log1p(100.0 * len(hits) / words))
        found[audience] = sorted(set(hits), key=lambda w: (-hits.count(w), w))[:3]
    return values, found


@dataclass
class Inputs:
    """What the classifier reads of some articles: the features before ``similar_articles`` (one row
    per article), the mean multilingual passage vectors (NaN rows where there are none) and the cue
    words found (for the evidence)."""

    rows: np.ndarray
    vectors: np.ndarray
    cues: list[dict[str, list[str]]]


def read_inputs(db: Database, articles: Sequence[dict[str, Any]], *,
                topic_scores: Callable[[int], dict[str, float]] | None = None) -> Inputs:
    """The classifier's inputs for ``articles`` (id, title, text), from what the upstream stages
    stored. ``topic_scores`` (article id -> {slug: score}) stands in for the stored topics, as the
    evaluation's out-of-fold scores do."""
    ids = [a["id"] for a in articles]
    upstream = _upstream(db, ids)
    kinds = vendor_kinds()
    rows, cues = [], []
    for a in articles:
        aid = a["id"]
        scores = topic_scores(aid) if topic_scores else upstream["topics"].get(aid, {})
        statuses = upstream["funding"].get(aid, [])
        main = upstream["vendors"].get(aid, [])
        cue_values, words = cue_features(a["title"], a["text"])
        rows.append([*[float(scores.get(t, 0.0)) for t in TOPICS], math.log1p(len(statuses)),
                     float(any(s != "cumulative" for s in statuses)),
                     math.log1p(upstream["refs"].get(aid, 0)), math.log1p(upstream["places"].get(aid, 0)),
                     *[math.log1p(sum(1 for v in main if kinds.get(v) == k)) for k in VENDOR_KINDS],
                     *cue_values])
        cues.append(words)
    vectors = [mean_vector(passage_vectors(db, aid, MULTILINGUAL_MODEL), EMBEDDING_DIM) for aid in ids]
    return Inputs(np.array(rows, dtype=float).reshape(len(ids), len(FEATURES) - 1),
                  np.array(vectors, dtype=float).reshape(len(ids), EMBEDDING_DIM), cues)


def _upstream(db: Database, ids: list[int]) -> dict[str, dict[int, Any]]:
    """Per article: stored topic scores, policy-reference and jurisdiction counts, funding mention
    statuses and main vendors."""
    out: dict[str, dict[int, Any]] = {"topics": {}, "refs": {}, "places": {}, "funding": {}, "vendors": {}}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for aid, slug, score in db.execute(
                f"select article_id, topic, score from article_topics where article_id in ({marks})", chunk):
            out["topics"].setdefault(aid, {})[slug] = score
        for aid, n in db.execute(f"select article_id, count(*) from policy_refs where article_id in "
                                 f"({marks}) group by article_id", chunk):
            out["refs"][aid] = n
        for aid, sentence, amount, currency in db.execute(
                f"select article_id, sentence, amount, currency from funding_events where article_id in "
                f"({marks})", chunk):
            out["funding"].setdefault(aid, []).append(mention_status(sentence or "", amount, currency))
        for aid, kind, name in db.execute(
                f"select ae.article_id, e.kind, e.name from article_entities ae join entities e on "
                f"e.id = ae.entity_id where ae.role = 'main' and ae.article_id in ({marks})", chunk):
            if kind == "jurisdiction":
                out["places"][aid] = out["places"].get(aid, 0) + 1
            else:
                out["vendors"].setdefault(aid, []).append(name)
    return out


class AudienceModel:
    """The fitted weights: a probability per audience, the audiences past their thresholds, and the
    features that spoke for each."""

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the audience weights were fitted on other features")
        self.version = str(data["version"])
        self.audiences: dict[str, dict[str, Any]] = data["audiences"]

    def _full(self, audience: str, inputs: Inputs) -> np.ndarray:
        """The audience's feature matrix: the shared rows plus its ``similar_articles`` score (the
        training mean, i.e. no say, for an article without vectors)."""
        params = self.audiences[audience]
        block = params["embedding"]
        scores = inputs.vectors @ np.array(block["coef"]) + block["intercept"]
        scores = np.where(np.isnan(scores), params["mean"][-1], scores)
        return np.hstack([inputs.rows, scores[:, None]])

    def contributions(self, audience: str, inputs: Inputs) -> np.ndarray:
        """Each feature's share of each article's log-odds (weight times standardised value)."""
        params = self.audiences[audience]
        z = (self._full(audience, inputs) - np.array(params["mean"])) / np.array(params["scale"])
        return z * np.array(params["coef"])

    def probabilities(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Per audience, each article's probability."""
        out = {}
        for audience, params in self.audiences.items():
            z = self.contributions(audience, inputs).sum(axis=1) + params["intercept"]
            out[audience] = 1 / (1 + np.exp(-np.clip(z, -50, 50)))
        return out

    def threshold(self, audience: str) -> float:
        return float(self.audiences[audience]["threshold"])

    def evidence(self, audience: str, contributions: Sequence[float], cues: dict[str, list[str]]) -> str:
        """The (up to) three features that speak most for the audience, in words: 'topic regulation;
        policy words (law, ministry, court)'."""
        ranked = sorted(zip(contributions, FEATURES, strict=True), reverse=True)
        parts = []
        for value, name in ranked[:3]:
            if value <= 0:
                break
            label = LABELS[name]
            if name == "similar_articles":
                label = f"reads like the sample's {audience} articles"
            if name.startswith("cue:") and cues.get(name[4:]):
                label += f" ({', '.join(cues[name[4:]])})"
            parts.append(label)
        return "; ".join(parts)


@cache
def load_audience_model(path: str | None = None) -> AudienceModel:
    return AudienceModel(json.loads(Path(path or MODEL_PATH).read_text(encoding="utf-8")))


def _logistic(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, y)


def _folds(n: int, groups: np.ndarray | None) -> Any:
    """Splits with an outlet never on both sides when ``groups`` names enough of them, else shuffled."""
    from sklearn.model_selection import GroupKFold, KFold

    rows = np.zeros((n, 1))
    if groups is not None and len(set(groups)) >= FOLDS:
        return GroupKFold(FOLDS).split(rows, groups=groups)
    return KFold(FOLDS, shuffle=True, random_state=0).split(rows)


def _fit_audience(inputs: Inputs, y: np.ndarray, groups: np.ndarray | None) -> dict[str, Any]:
    """One audience's stack: the vector classifier (its training scores out of fold, so the combiner
    learns how far to trust it on articles it did not see), then the combiner."""
    ok = ~np.isnan(inputs.vectors).any(axis=1)
    scores = np.full(len(y), np.nan)
    coef, intercept = np.zeros(EMBEDDING_DIM), 0.0
    if len(set(y[ok])) == 2:
        clf = _logistic(inputs.vectors[ok], y[ok], EMBEDDING_C)
        coef, intercept = clf.coef_[0], float(clf.intercept_[0])
        inner = None if groups is None else groups[ok]
        part = np.full(int(ok.sum()), np.nan)
        for train, test in _folds(int(ok.sum()), inner):
            if len(set(y[ok][train])) == 2:
                part[test] = _logistic(inputs.vectors[ok][train], y[ok][train],
                                       EMBEDDING_C).decision_function(inputs.vectors[ok][test])
        scores[ok] = part
    fill = float(np.nanmean(scores)) if not np.isnan(scores).all() else 0.0
    x = np.hstack([inputs.rows, np.where(np.isnan(scores), fill, scores)[:, None]])
    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std < 1e-6, 1.0, std)
    combiner = _logistic((x - mean) / scale, y, COMBINER_C)
    return {"coef": combiner.coef_[0].round(6).tolist(), "intercept": round(float(combiner.intercept_[0]), 6),
            "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(), "threshold": 0.5,
            "embedding": {"coef": np.asarray(coef).round(6).tolist(), "intercept": round(intercept, 6)}}


def fit(inputs: Inputs, labels: Sequence[set[str]], *, version: str,
        groups: np.ndarray | None = None) -> dict[str, Any]:
    """Weights for ``AudienceModel`` from labelled articles' inputs and audiences; ``groups`` (each
    article's outlet) keeps the inner folds apart by outlet."""
    return {"version": version, "features": list(FEATURES), "embedding_model": MULTILINGUAL_MODEL,
            "audiences": {a: _fit_audience(inputs, np.array([a in lab for lab in labels], dtype=int),
                                           groups) for a in AUDIENCES}}


def pending_articles(db: Database, version: str) -> list[dict[str, Any]]:
    """Articles new or changed since this stage ran, scored by another model, or redone upstream since."""
    upstream = ",".join(f"'{s}'" for s in UPSTREAM)
    return list(db.query(
        "select a.id, a.title, a.text, a.content_hash from articles a left join enrichment_state s "
        "on s.stage = ? and s.article_id = a.id where s.input_hash is null "
        "or s.input_hash != a.content_hash or s.version != ? or exists (select 1 from "
        f"enrichment_state u where u.article_id = a.id and u.stage in ({upstream}) "
        "and u.done_at > s.done_at)", [STAGE, version]))


def tag_audiences(db: Database, *, model: AudienceModel | None = None, quiet: bool = False) -> int:
    """Score every audience for new or changed articles, then refresh the stories' audiences.
    Returns how many articles were scored."""
    model = model or load_audience_model()
    todo = pending_articles(db, model.version)
    for batch in in_batches(todo, 500, desc=STAGE, quiet=quiet):
        inputs = read_inputs(db, batch)
        probs = model.probabilities(inputs)
        parts = {a: model.contributions(a, inputs) for a in AUDIENCES}
        rows = [{"article_id": art["id"], "audience": a, "probability": round(float(probs[a][i]), 4),
                 "best_for": int(probs[a][i] >= model.threshold(a)),
                 "evidence": model.evidence(a, parts[a][i].tolist(), inputs.cues[i])}
                for i, art in enumerate(batch) for a in AUDIENCES]
        with db.conn:
            delete_for(db, "article_audiences", [a["id"] for a in batch])
            db.table("article_audiences").insert_all(rows, pk=("article_id", "audience"), replace=True)
            mark_done(db, STAGE, model.version, batch)
    save_story_audiences(db, stories_to_refresh(db, [a["id"] for a in todo]), model=model)
    return len(todo)


def save_story_audiences(db: Database, story_ids: Iterable[str] | None = None, *,
                         model: AudienceModel | None = None) -> int:
    """Rewrite ``story_audiences`` for these stories (every story when None): per story and audience,
    the mean of its articles' probabilities and whether it clears the audience's threshold. Returns
    the number of stories rewritten. One SQL statement: at 100k articles every story takes about 1.5 s,
    a run's few hundred stories about 30 ms (more than 500 are rewritten all at once)."""
    model = model or load_audience_model()
    chosen = None if story_ids is None else sorted(set(story_ids))
    if chosen == []:
        return 0
    if chosen is not None and len(chosen) > 500:
        chosen = None  # as cheap as naming them all
    past = " ".join(f"when '{a}' then {float(model.threshold(a))!r}" for a in model.audiences)
    where, params = "", []
    if chosen is not None:
        where, params = f"where story_id in ({','.join('?' * len(chosen))})", list(chosen)
    with db.conn:
        db.execute(f"delete from story_audiences {where}", params)
        db.execute(
            "insert into story_audiences (story_id, audience, probability, best_for, articles) "
            "select sa.story_id, aa.audience, round(avg(aa.probability), 4), "
            f"avg(aa.probability) >= (case aa.audience {past} else 2 end), count(*) from story_articles sa "
            f"join article_audiences aa on aa.article_id = sa.article_id "
            f"{where.replace('story_id', 'sa.story_id')} group by sa.story_id, aa.audience", params)
    return len(chosen) if chosen is not None else db.execute(
        "select count(distinct story_id) from story_audiences").fetchone()[0]


def stories_to_refresh(db: Database, article_ids: list[int]) -> set[str]:
    """The stories of these articles, and any whose membership changed since their audiences were
    written (the stories stage regrouped them): a different article count, or none written yet."""
    found: set[str] = set()
    for start in range(0, len(article_ids), 500):
        chunk = article_ids[start:start + 500]
        found.update(r[0] for r in db.execute(
            f"select story_id from story_articles where article_id in ({','.join('?' * len(chunk))})", chunk))
    found.update(r[0] for r in db.execute(
        "select m.story_id from (select story_id, count(*) as n from story_articles group by story_id) m "
        "left join story_audiences x on x.story_id = m.story_id and x.audience = ? "
        "where x.articles is null or x.articles != m.n", [AUDIENCES[0]]))
    with db.conn:  # stories the stages regrouped away
        db.execute("delete from story_audiences where story_id not in (select story_id from story_articles)")
    return found
