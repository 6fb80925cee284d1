"""Search quality on labelled queries: ours in three modes beside a plain baseline from the same run.

Baseline: BM25 over title and text (any query word), MiniLM cosine over the title and the start of
the text (one vector per article), and reciprocal-rank fusion of the two with k = 60.
"""

from __future__ import annotations

import datetime as dt
import re
from statistics import mean
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.core.language import guess_language
from kb.enrich.embed import DEFAULT_MODEL, get_embedder, model_for
from kb.evaluation.metrics import ndcg_at, recall_at
from kb.search.engine import Fusion, Query, fuse, rank
from kb.search.interpret import anchored_today

DEPTH = 20
WORD = re.compile(r"\w+", re.UNICODE)


def _baseline_keyword(db: Database, text: str) -> list[tuple[int, float]]:
    words = WORD.findall(text)
    if not words:
        return []
    expr = " OR ".join(f'"{w}"' for w in words)
    rows = db.execute("select rowid, bm25(articles_fts, 1.0, 0.0, 1.0) as r from articles_fts "
                      "where articles_fts match ? order by r limit ?", [expr, 100]).fetchall()
    return [(aid, -r) for aid, r in rows]


class BaselineSemantic:
    def __init__(self, db: Database, embedder: Any) -> None:
        rows = list(db.query("select id, title, text from articles order by id"))
        self.ids = np.array([r["id"] for r in rows])
        texts = [f"{r['title']}. {' '.join((r['text'] or '').split()[:200])}" for r in rows]
        self.matrix = embedder.encode(texts)
        self.embedder = embedder

    def rank(self, text: str) -> list[tuple[int, float]]:
        scores = self.matrix @ self.embedder.encode([text])[0]
        order = np.argsort(-scores)[:100]
        return [(int(self.ids[i]), float(scores[i])) for i in order]


# The fusion before the e5 channel and the chips (MiniLM and BM25 for English; the Universal
# Sentence Encoder, BM25 and translated words for French and German), scored in the same run.
PREVIOUS_FUSION = Fusion(
    english={"keyword": 1.0, "primary": 1.0, "multilingual": 0.0, "crosslingual": 0.0},
    other={"keyword": 0.3, "primary": 0.0, "multilingual": 1.0, "crosslingual": 0.0},
    translated=0.3, facts=0.0)
# Our runs: name -> (mode, fusion, read chips).
RUNS: dict[str, tuple[str, Fusion, bool]] = {
    "keyword": ("keyword", Fusion(), False),
    "semantic": ("semantic", Fusion(), False),
    "hybrid": ("hybrid", Fusion(), True),
    "hybrid_literal": ("hybrid", Fusion(), False),
    "hybrid_previous": ("hybrid", PREVIOUS_FUSION, False),
}


def query_language(query: dict[str, Any]) -> str:
    return str(query.get("lang") or guess_language(query["query"]) or "en")


def score_search(db: Database, ids: dict[int, str], queries: list[dict[str, Any]],
                 *, quiet: bool = True, today: dt.date | None = None) -> dict[str, Any] | None:
    """nDCG@10 and recall@20 per run (ours, and a plain baseline), averaged over the labelled
    queries, overall and per query kind and language. ``today`` anchors "this year" in queries."""
    if not queries or not db["embeddings"].count:
        return None
    embedder = get_embedder(model_for(db, 'primary') or DEFAULT_MODEL)
    baseline = BaselineSemantic(db, embedder)
    runs: dict[str, list[tuple[float, float]]] = {}
    groups: dict[str, dict[str, list[float]]] = {}

    def record(name: str, ranked: list[tuple[int, float]], q: dict[str, Any]) -> None:
        labels = [ids.get(aid, "") for aid, _ in ranked[:DEPTH]]
        judgments = {k: int(v) for k, v in q["judgments"].items()}
        scores = (ndcg_at(labels, judgments, 10), recall_at(labels, judgments, 20))
        runs.setdefault(name, []).append(scores)
        for group in (f"kind:{q.get('kind', 'other')}", f"lang:{query_language(q)}"):
            groups.setdefault(name, {}).setdefault(group, []).append(scores[0])

    with anchored_today(today):
        for q in queries:
            for name, (mode, fusion, chips) in RUNS.items():
                record(name, rank(db, Query(text=q["query"], mode=mode, limit=DEPTH, fusion=fusion,
                                            interpret=chips)), q)
            kw, sem = _baseline_keyword(db, q["query"]), baseline.rank(q["query"])
            record("baseline_keyword", kw, q)
            record("baseline_semantic", sem, q)
            record("baseline_hybrid", fuse([kw, sem], k=60), q)
    return {
        "queries": len(queries),
        **{name: {"ndcg@10": mean(s[0] for s in scores), "recall@20": mean(s[1] for s in scores),
                  "ndcg@10_by_kind": {k[5:]: mean(v) for k, v in sorted(groups[name].items())
                                      if k.startswith("kind:")},
                  "ndcg@10_by_lang": {k[5:]: mean(v) for k, v in sorted(groups[name].items())
                                      if k.startswith("lang:")},
                  "queries_by_group": {k: len(v) for k, v in groups[name].items()}}
           for name, scores in runs.items()},
    }
