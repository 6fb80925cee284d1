"""Refitting the topic classifier on the labelled sample corpus."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kb.enrich.topic_model import topic_dataset, train
from kb.evaluation.run import crawl_sample, label_ids
from kb.evaluation.sample import load_articles
from kb.store.connection import open_db


def train_on_sample(db_path: str | Path | None = None, *, quiet: bool = True) -> tuple[Path, dict[str, int]]:
    """Fit on every labelled article; returns the model file and the positives per topic."""
    from kb.enrich.embed import DEFAULT_MODEL, MULTILINGUAL_MODEL, embed_articles

    gold = {a["id"]: a["labels"]["topics"] for a in load_articles()}
    with tempfile.TemporaryDirectory() as tmp:
        if db_path is None:
            db_path = Path(tmp) / "train.db"
            crawl_sample(db_path)
        db = open_db(db_path)
        embed_articles(db, role="primary", model=DEFAULT_MODEL, quiet=quiet)
        embed_articles(db, role="multilingual", model=MULTILINGUAL_MODEL, quiet=quiet)
        ids = label_ids(db)
        _, xs, ys = topic_dataset(db, lambda i: gold.get(ids.get(i, "")))
        path = train(xs, ys)
    return path, {slug: int(y.sum()) for slug, y in ys.items()}
