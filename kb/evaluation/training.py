"""Refitting the topic classifier, the vendor role scorer, the funding company scorer and the
"Best for" classifier on the labelled sample corpus (and, for funding, the training passages)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from kb.core.errors import KbError
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
    """Features, main-or-not labels and groups of every labelled vendor: the sample corpus's (grouped
    by outlet) and the training articles' (grouped by writing group)."""
    from kb.enrich.vendor_roles import role_features
    from kb.evaluation.sample import SAMPLE_DIR
    from kb.evaluation.training_articles import load_training_articles

    roles = json.loads((SAMPLE_DIR / "vendor_roles.json").read_text(encoding="utf-8"))["articles"]
    labelled = [(a["title"], a["body"], roles.get(a["id"], {}), a["outlet"]) for a in load_articles()]
    labelled += [(a["title"], a["text"], a.get("vendors", {}), f"training-{a['group']}")
                 for a in load_training_articles()]
    xs, ys, groups = [], [], []
    for title, text, vendors, group in labelled:
        main, mentioned = vendors.get("main", []), vendors.get("mentioned", [])
        for name, features in role_features(title, text, gazetteer).items():
            if name in main or name in mentioned:
                xs.append(features)
                ys.append(int(name in main))
                groups.append(group)
    return xs, ys, groups


def fit_vendor_roles() -> Path:
    """Fit the role weights on the sample's and the training articles' labelled roles; write
    kb/data/vendor_roles.json."""
    from kb.enrich.gazetteer import load_gazetteer
    from kb.enrich.vendor_roles import MODEL_PATH, THRESHOLD, VERSION, fit

    xs, ys, _ = vendor_role_examples(load_gazetteer())
    data = fit(xs, ys, threshold=THRESHOLD, version=VERSION)
    Path(MODEL_PATH).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return Path(MODEL_PATH)


def audience_examples(db: Any, cv: Any = None) -> tuple[Any, list[set[str]], Any]:
    """Inputs, gold audiences and outlets of every sample article in an enriched database, with the
    topic classifier's out-of-fold scores standing in for the stored topics (so the weights learn
    how far to trust topic scores on articles the topic classifier did not see)."""
    import numpy as np

    from kb.enrich.audiences import read_inputs
    from kb.evaluation.audience_metric import labelled, labelled_articles
    from kb.evaluation.run import out_of_fold_topics, topic_cross_validation

    gold = {a["id"]: a for a in load_articles()}
    ids = {i: lid for i, lid in label_ids(db).items() if lid in gold}
    truth = labelled(ids, gold)
    cv = cv or topic_cross_validation(db, ids, gold)  # (the topics' out-of-fold scores, computed once)
    if cv is None:
        raise KbError("the database has no embeddings: run 'kb enrich' first")
    articles = labelled_articles(db, truth)
    scores = out_of_fold_topics(cv)
    inputs = read_inputs(db, articles, topic_scores=lambda i: scores.get(i, {}))
    outlets = np.array([gold[ids[a["id"]]]["outlet"] for a in articles])
    return inputs, [truth[a["id"]] for a in articles], outlets


def fit_audiences(db_path: str | Path | None = None, *, out: Path | None = None) -> Path:
    """Fit the "Best for" weights on the sample's labelled audiences and the training articles'; write
    kb/data/audience_model.json. Without ``db_path``, the sample is crawled and enriched into a
    temporary database first (the training articles always are)."""
    import numpy as np

    from kb.enrich.audiences import MODEL_PATH, VERSION, fit
    from kb.enrich.runner import run_enrichment
    from kb.evaluation.audience_metric import pooled
    from kb.evaluation.training_articles import audience_training_inputs

    target = Path(out or MODEL_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        if db_path is None:
            db_path = Path(tmp) / "train.db"
            crawl_sample(db_path)
            run_enrichment(open_db(db_path), only=["embed", "entities", "funding", "policy_refs", "topics"],
                           quiet=True)
        inputs, labels, outlets = audience_examples(open_db(db_path))
        extra = audience_training_inputs(Path(tmp))
        data = fit(pooled(inputs, extra[0]), labels + extra[1], version=VERSION,
                   groups=np.concatenate([outlets, extra[2]]))
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return target


def fit_funding_company() -> Path:
    """Fit the funding company scorer on the sample's events and the training passages; write
    kb/data/funding_company.json."""
    from kb.enrich.funding_company import MODEL_PATH, VERSION, fit
    from kb.enrich.gazetteer import load_gazetteer
    from kb.evaluation.funding_training import examples, labelled_texts

    found = examples(labelled_texts(), load_gazetteer().vendors_in)
    data = fit(found.xs, found.ys, version=VERSION)
    Path(MODEL_PATH).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return Path(MODEL_PATH)


def write_common_words() -> Path:
    """The words the labelled texts and the training articles write in lower case (twice or more), and
    the function words of English, French and German (jusText's lists): kb/data/common_words.txt,
    read by the funding rules to tell 'Early this month' from a company's name."""
    import re

    import justext

    from kb.enrich.funding_rules import COMMON_WORDS
    from kb.evaluation.funding_training import labelled_texts
    from kb.evaluation.training_articles import load_training_articles

    counts: dict[str, int] = {}
    texts = [t.text for t in labelled_texts()] + [a["text"] for a in load_training_articles()]
    for text in texts:
        for w in re.findall(r"(?<![\w-])[a-zà-ÿß][a-zà-ÿß]+(?![\w-])", text):
            counts[w] = counts.get(w, 0) + 1
    words = {w for w, n in counts.items() if n >= 2}
    for lang in ("English", "French", "German"):
        words |= {w.lower() for w in justext.get_stoplist(lang)}
    Path(COMMON_WORDS).write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")
    return Path(COMMON_WORDS)


if __name__ == "__main__":  # python -m kb.evaluation.training --vendor-roles | --funding | --audiences [DB]
    if sys.argv[1:] == ["--vendor-roles"]:
        print(f"wrote {fit_vendor_roles()}")
    elif sys.argv[1:] == ["--funding"]:
        print(f"wrote {fit_funding_company()}")
    elif sys.argv[1:] == ["--common-words"]:
        print(f"wrote {write_common_words()}")
    elif sys.argv[1:2] == ["--audiences"] and len(sys.argv) <= 3:
        print(f"wrote {fit_audiences(sys.argv[2] if len(sys.argv) == 3 else None)}")
    else:
        sys.exit("usage: python -m kb.evaluation.training --vendor-roles | --funding | --common-words | "
                 "--audiences [DB]")
