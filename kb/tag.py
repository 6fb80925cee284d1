"""The topics stage: transparent rules plus embeddings, combined by a small per-topic classifier.

Features of an (article, topic) pair: how often and how prominently the taxonomy's patterns match,
matches of its negative patterns, and the cosine similarity between the article's passages and the
topic's example sentences under the multilingual model. A logistic regression per topic, fitted on
the labelled sample corpus (kb/data/topic_model.json, refitted by `kb train-topics`), turns them
into a score; kb eval reports its figures cross-validated. A topic a user adds to the taxonomy
without a fitted model is scored by the rules alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlite_utils.db import Database

from kb.embed import MULTILINGUAL_MODEL, Embedder, from_blob, get_embedder
from kb.stages import delete_for, mark_done, pending

DATA = Path(__file__).parent / "data"
TAXONOMY = DATA / "taxonomy.yaml"
MODEL_FILE = DATA / "topic_model.json"
STAGE = "topics"
THRESHOLD = 0.5
FEATURES = ["hits", "distinct", "title_hit", "lead_hits", "negative", "density", "sim_max", "sim_mean",
            "funding_events"]


@dataclass
class Topic:
    slug: str
    name: str
    description: str
    keywords: re.Pattern[str]
    negative: re.Pattern[str] | None
    examples: list[str]


def _alternation(patterns: list[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)", re.IGNORECASE)


@cache
def load_taxonomy(path: str | None = None) -> tuple[str, list[Topic]]:
    """The taxonomy file's version and topics."""
    data = yaml.safe_load(Path(path or TAXONOMY).read_text(encoding="utf-8"))
    topics = [
        Topic(slug=t["slug"], name=t.get("name", t["slug"]), description=t.get("description", ""),
              keywords=_alternation(t["keywords"]),
              negative=_alternation(t["negative"]) if t.get("negative") else None,
              examples=t.get("examples", []))
        for t in data["topics"]
    ]
    return str(data.get("version", 1)), topics


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


def load_model(path: Path = MODEL_FILE) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"topics": {}}


def score(model: dict[str, Any], slug: str, x: list[float]) -> tuple[float, str]:
    """Probability the topic applies, and the method that produced it."""
    params = model["topics"].get(slug)
    if params:
        z = params["intercept"] + sum(
            w * (v - m) / s for w, v, m, s in zip(params["coef"], x, params["mean"], params["scale"],
                                                strict=True))
        return 1 / (1 + math.exp(-max(-50, min(50, z)))), "rules+embeddings"
    feats = dict(zip(FEATURES, x, strict=True))
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
    db["topics"].upsert_all([{"slug": t.slug, "name": t.name, "description": t.description}
                             for t in topics], pk="slug")
    for start in range(0, len(todo), 200):
        batch = todo[start:start + 200]
        rows = []
        for a in batch:
            vectors = passage_vectors(db, a["id"], embedder.name)
            events = funding_event_count(db, a["id"])
            for t in topics:
                x, evidence = features_for(t, a["title"] or "", f"{a['title']}. {a['text'] or ''}",
                                           vectors, examples.get(t.slug), events)
                p, method = score(model, t.slug, x)
                if p >= THRESHOLD:
                    rows.append({"article_id": a["id"], "topic": t.slug, "score": round(p, 4),
                                 "method": method, "evidence": "; ".join(evidence) or
                                 "similar to the topic's example sentences"})
        with db.conn:
            delete_for(db, "article_topics", [a["id"] for a in batch], " and method != 'person'")
            db["article_topics"].insert_all(rows, pk=("article_id", "topic"), replace=True)
            mark_done(db, STAGE, stage_version, batch)
    return len(todo)
