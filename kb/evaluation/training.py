"""Refitting the topic classifier and the vendor role scorer on the labelled sample corpus."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

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


def vendor_role_examples(gazetteer: Any) -> tuple[list[list[float]], list[int], list[str]]:
    """Features, main-or-not labels and outlets of every labelled vendor of the sample corpus."""
    from kb.enrich.vendor_roles import role_features
    from kb.evaluation.sample import SAMPLE_DIR

    roles = json.loads((SAMPLE_DIR / "vendor_roles.json").read_text(encoding="utf-8"))["articles"]
    xs, ys, outlets = [], [], []
    for a in load_articles():
        labelled = roles.get(a["id"], {"main": [], "mentioned": []})
        for name, features in role_features(a["title"], a["body"], gazetteer).items():
            if name in labelled["main"] or name in labelled["mentioned"]:
                xs.append(features)
                ys.append(int(name in labelled["main"]))
                outlets.append(a["outlet"])
    return xs, ys, outlets


def fit_vendor_roles() -> Path:
    """Fit the role weights on the sample's labelled roles; write kb/data/vendor_roles.json."""
    from kb.enrich.gazetteer import load_gazetteer
    from kb.enrich.vendor_roles import MODEL_PATH, THRESHOLD, VERSION, fit

    xs, ys, _ = vendor_role_examples(load_gazetteer())
    data = fit(xs, ys, threshold=THRESHOLD, version=VERSION)
    Path(MODEL_PATH).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return Path(MODEL_PATH)


if __name__ == "__main__":  # python -m kb.evaluation.training --vendor-roles
    if sys.argv[1:] != ["--vendor-roles"]:
        sys.exit("usage: python -m kb.evaluation.training --vendor-roles")
    print(f"wrote {fit_vendor_roles()}")
