"""The topics stage: transparent rules plus embeddings, combined by a small per-topic classifier.

Features of an (article, topic) pair: how often and how prominently the taxonomy's patterns match,
matches of its negative patterns, and the cosine similarity between the article's passages and the
topic's example sentences under the multilingual model. Besides these, the article's mean passage
vector under each embedding model (MiniLM and the multilingual encoder) goes through a per-topic
linear model, whose score is stacked on the features above. A logistic regression per topic, fitted
on the labelled sample corpus (kb/data/topic_model.json, refitted by `kb train-topics`), turns them
into a score; kb eval reports its figures cross-validated. A topic a user adds to the taxonomy
without a fitted model is scored by the rules alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.core.resources import bundled, data_dir
from kb.core.taxonomy import Topic, load_taxonomy
from kb.enrich.embed import DEFAULT_MODEL, MULTILINGUAL_MODEL, Embedder, from_blob, get_embedder
from kb.store.stages import delete_for, mark_done, pending

SHIPPED_MODEL = bundled("kb", "data", "topic_model.json")
STAGE = "topics"
THRESHOLD = 0.5
FEATURES = ["hits", "distinct", "title_hit", "lead_hits", "negative", "density", "sim_max", "sim_mean",
            "funding_events"]
# Embedding models whose mean passage vector is scored per topic and stacked, with their dimensions.
STACKED = {DEFAULT_MODEL: 384, MULTILINGUAL_MODEL: 512}


def rule_features(topic: Topic, title: str, text: str) -> tuple[dict[str, float], list[str]]:
    """Pattern features and the distinct phrases that matched (the evidence)."""
    matches = [m.group(0) for m in topic.keywords.finditer(text)]
    lead = text[:700]
    words = max(1, len(text.split()))
    negative = len(topic.negative.findall(text)) if topic.negative else 0
    distinct = sorted({m.lower() for m in matches})
    features = {
        "hits": math.log1p(len(matches)),
        "distinct": math.log1p(len(distinct)),
        "title_hit": float(bool(topic.keywords.search(title))),
        "lead_hits": math.log1p(len(topic.keywords.findall(lead))),
        "negative": math.log1p(negative),
        "density": 100.0 * len(matches) / words,
    }
    return features, distinct[:5]


def example_vectors(topics: list[Topic], embedder: Embedder) -> dict[str, np.ndarray]:
    return {t.slug: embedder.encode(t.examples) for t in topics if t.examples}


def passage_vectors(db: Database, article_id: int, model: str) -> np.ndarray | None:
    rows = db.execute("select vector from embeddings where article_id = ? and model = ?",
                      [article_id, model]).fetchall()
    return np.vstack([from_blob(r[0]) for r in rows]) if rows else None


def funding_event_count(db: Database, article_id: int) -> int:
    return db.execute("select count(*) from funding_events where article_id = ?",
                      [article_id]).fetchone()[0]


def features_for(topic: Topic, title: str, text: str, passages: np.ndarray | None,
                 examples: np.ndarray | None, events: int = 0) -> tuple[list[float], list[str]]:
    feats, evidence = rule_features(topic, title, text)
    feats["funding_events"] = math.log1p(events)
    if passages is not None and examples is not None and len(examples):
        sims = passages @ examples.T
        feats["sim_max"], feats["sim_mean"] = float(sims.max()), float(sims.max(axis=1).mean())
    else:
        feats["sim_max"] = feats["sim_mean"] = 0.0
    return [feats[f] for f in FEATURES], evidence


def mean_vector(passages: np.ndarray | None, dim: int) -> np.ndarray:
    """The article's unit-length mean passage vector; NaNs when it has none (then scored as neutral)."""
    if passages is None or not len(passages):
        return np.full(dim, np.nan)
    v = passages.mean(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 and v.shape[0] == dim else np.full(dim, np.nan)


def article_rows(db: Database, article: dict[str, Any], topics: list[Topic], examples: dict[str, np.ndarray],
                 *, sim_model: str = MULTILINGUAL_MODEL) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per topic, the article's model input (FEATURES, then each STACKED model's mean vector) and
    the evidence phrases; ``sim_model`` is the model of the example sentences' vectors."""
    vectors = {m: passage_vectors(db, article["id"], m) for m in {*STACKED, sim_model}}
    means = [mean_vector(vectors[m], dim) for m, dim in STACKED.items()]
    events = funding_event_count(db, article["id"])
    title = article["title"] or ""
    out = {}
    for t in topics:
        x, evidence = features_for(t, title, f"{article['title']}. {article['text'] or ''}",
                                   vectors[sim_model], examples.get(t.slug), events)
        out[t.slug] = (np.concatenate([np.array(x, dtype=float), *means]), evidence)
    return out


def stacked_inputs(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """FEATURES plus one score per embedding model: the classifier's inputs for rows ``x``.
    A row without vectors for a model gets that score's training mean, i.e. no say."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    width = len(FEATURES)
    columns = [x[:, :width]]
    for i, block in enumerate(params.get("embedding", [])):
        vectors = x[:, width:width + len(block["coef"])]
        width += len(block["coef"])
        scores = vectors @ np.array(block["coef"]) + block["intercept"]
        columns.append(np.where(np.isnan(scores), params["mean"][len(FEATURES) + i], scores)[:, None])
    return np.hstack(columns)


def probabilities(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The fitted classifier's probability for each row of ``x`` (see article_rows)."""
    z = ((stacked_inputs(params, x) - np.array(params["mean"])) / np.array(params["scale"])) @ np.array(
        params["coef"]) + params["intercept"]
    return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


def model_file() -> Path:
    """Where the topic model is read from: one refitted by `kb train-topics` in the user's data
    folder, else the one shipped with the package."""
    refitted = data_dir() / "topic_model.json"
    return refitted if refitted.exists() else SHIPPED_MODEL


def load_model(path: Path | None = None) -> dict[str, Any]:
    path = path or model_file()
    return json.loads(path.read_text()) if path.exists() else {"topics": {}}


def score(model: dict[str, Any], slug: str, x: np.ndarray | list[float]) -> tuple[float, str]:
    """Probability the topic applies, and the method that produced it."""
    params = model["topics"].get(slug)
    if params:
        return float(probabilities(params, np.asarray(x, dtype=float))[0]), "rules+embeddings"
    feats = dict(zip(FEATURES, list(x)[:len(FEATURES)], strict=True))
    z = 1.2 * feats["hits"] + 1.5 * feats["title_hit"] - 1.5 * feats["negative"] - 2.2
    return 1 / (1 + math.exp(-z)), "rules"


def tag_topics(db: Database, *, embedder: Embedder | None = None, model: dict[str, Any] | None = None,
               quiet: bool = False) -> int:
    """Score every topic for new or changed articles; keep those above the threshold."""
    version, topics = load_taxonomy()
    model = model if model is not None else load_model()
    stage_version = f"{version}:{model.get('version', 'rules')}"
    todo = pending(db, STAGE, stage_version)
    if not todo:
        return 0
    embedder = embedder or get_embedder(MULTILINGUAL_MODEL)
    examples = example_vectors(topics, embedder)
    db.table("topics").upsert_all([{"slug": t.slug, "name": t.name, "description": t.description}
                             for t in topics], pk="slug")
    for batch in in_batches(todo, 200, desc=STAGE, quiet=quiet):
        rows = []
        for a in batch:
            for slug, (x, evidence) in article_rows(db, a, topics, examples, sim_model=embedder.name).items():
                p, method = score(model, slug, x)
                if p >= THRESHOLD:
                    rows.append({"article_id": a["id"], "topic": slug, "score": round(p, 4),
                                 "method": method, "evidence": "; ".join(evidence) or
                                 "similar to the topic's example sentences"})
        with db.conn:
            delete_for(db, "article_topics", [a["id"] for a in batch], " and method != 'person'")
            db.table("article_topics").insert_all(rows, pk=("article_id", "topic"), replace=True)
            mark_done(db, STAGE, stage_version, batch)
    return len(todo)
