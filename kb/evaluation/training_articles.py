"""The labelled articles written for training (``kb/data/training/articles.yaml``), crawled like the
sample: laid out as a corpus of invented outlets, one per writing group, served to the real crawl and
enriched, so that a classifier reads them exactly as it reads any article."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import yaml
from sqlite_utils.db import Database

from kb.core.resources import bundled
from kb.store.connection import open_db

ARTICLES = bundled("kb", "data", "training", "articles.yaml")
# What the audiences read: the topics (over MiniLM's and the multilingual model's vectors), the
# entities, funding and policy references. Search's e5 vectors and the query vocabulary are not read:
# e5 alone took about 90 s of the 140 that crawling and enriching the 200 articles took.
UPSTREAM = ["entities", "funding", "policy_refs", "topics"]


def load_training_articles(path: Path = ARTICLES) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8")) or [])


def as_validation_shape(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The articles in the validation set's JSON shape (outlet per group, a date every four days)."""
    out = []
    for i, a in enumerate(articles):
        day = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(days=4 * i)
        outlet = f"training-{a['group']}"
        out.append({"id": a["id"], "outlet": outlet, "outlet_name": f"Training {a['group']}",
                    "url_path": f"{outlet}/{day:%Y/%m}/{a['id']}/", "title": a["title"], "author": None,
                    "published": day.isoformat(), "lang": a["lang"],
                    "paragraphs": [p for p in a["text"].split("\n\n") if p.strip()],
                    "topics": a.get("topics", []), "vendors": a.get("vendors", {"main": [], "mentioned": []}),
                    "jurisdictions": [], "funding_events": [], "story": a["id"],
                    "best_for": a.get("best_for", [])})
    return out


def crawl_training_articles(db_path: Path) -> tuple[Database, Path]:
    """Crawl and enrich the training articles into ``db_path``; returns the database and the corpus
    folder (beside the database) whose labels the evaluation reads."""
    from kb.enrich.embed import DEFAULT_MODEL, MULTILINGUAL_MODEL, embed_articles
    from kb.enrich.runner import run_enrichment
    from kb.evaluation.run import crawl_sample
    from kb.evaluation.validation import write_articles

    corpus = write_articles(as_validation_shape(load_training_articles()), [],
                            db_path.parent / f"{db_path.stem}-corpus")
    crawl_sample(db_path, corpus=corpus)
    db = open_db(db_path)
    for role, model in (("primary", DEFAULT_MODEL), ("multilingual", MULTILINGUAL_MODEL)):
        embed_articles(db, role=role, model=model, quiet=True)
    run_enrichment(db, only=UPSTREAM, quiet=True)
    return db, corpus


def audience_training_inputs(folder: Path | None = None) -> Any:
    """The "Best for" classifier's inputs, labels and groups for the training articles, crawled and
    enriched into a temporary database (or into ``folder``)."""
    import numpy as np

    from kb.enrich.audiences import read_inputs
    from kb.evaluation.audience_metric import labelled, labelled_articles
    from kb.evaluation.run import label_ids
    from kb.evaluation.sample import load_articles

    with tempfile.TemporaryDirectory() as tmp:
        db, corpus = crawl_training_articles(Path(folder or tmp) / "training.db")
        gold = {a["id"]: a for a in load_articles(corpus)}
        ids = {i: lid for i, lid in label_ids(db).items() if lid in gold}
        truth = labelled(ids, gold)
        articles = labelled_articles(db, truth)
        inputs = read_inputs(db, articles)
        groups = np.array([gold[ids[a["id"]]]["outlet"] for a in articles])
        return inputs, [truth[a["id"]] for a in articles], groups
