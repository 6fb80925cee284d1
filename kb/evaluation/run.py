"""`kb eval`: every quality figure, measured on the labelled sample corpus (or another labelled set).

The corpus is crawled into a temporary database through the real crawl, enriched, then scored.
Capabilities that have not produced anything show as "n/a".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.core.errors import KbError
from kb.crawl.metadata import squash
from kb.evaluation.audience_metric import score_audiences
from kb.evaluation.extraction_metric import extraction_scores, page_counts
from kb.evaluation.metrics import bcubed, prf, set_prf
from kb.evaluation.sample import SAMPLE_DIR, load_articles, load_outlets, load_queries
from kb.evaluation.training_articles import audience_training_inputs
from kb.store.connection import open_db

logger = logging.getLogger("aiwatch.eval")

TOPICS = ["sovereignty", "open-source", "regulation", "export-controls", "funding"]
AMOUNT_TOLERANCE = 0.02  # a funding event matches on company, currency and amount within 2%


def crawl_sample(db_path: Path, *, quiet: bool = True, corpus: Path = SAMPLE_DIR) -> None:
    """Crawl the sample corpus with the real `kb` command (Scrapy's reactor runs once a process)."""
    cmd = [sys.executable, "-m", "kb", "sample", "crawl", "--db", str(db_path), "--port", "0", "-q"]
    if corpus != SAMPLE_DIR:
        cmd += ["--corpus", str(corpus)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise KbError(f"crawling the sample corpus failed: {proc.stderr.strip()[-300:]}")


def label_ids(db: Database) -> dict[int, str]:
    """Database id -> label id, by the page name the sample site gives each article."""
    return {r["id"]: r["url"].rsplit("/", 1)[-1].removesuffix(".html")
            for r in db.query("select id, url from articles")}


def evaluate(db_path: str | Path | None = None, *, sample_dir: Path = SAMPLE_DIR,
             quiet: bool = True, enrich: bool = True, held_out: bool = False) -> dict[str, Any]:
    """Crawl (unless ``db_path`` is given), enrich and score; returns every figure.

    ``held_out``: the labels are not the sample's, so nothing was fitted on them; topics are
    scored as enrichment assigned them instead of cross-validated.
    """
    with tempfile.TemporaryDirectory() as tmp:
        if db_path is None:
            db_path = Path(tmp) / "eval.db"
            logger.info("eval 1/4: crawling the labelled corpus")
            started = time.perf_counter()
            crawl_sample(db_path, quiet=quiet, corpus=sample_dir)
            crawl_seconds = time.perf_counter() - started
        else:
            crawl_seconds = None
        db = open_db(db_path)
        timings: dict[str, float] = {}
        if enrich:
            from kb.enrich.runner import run_enrichment

            logger.info("eval 2/4: enriching (embeddings, vendors, funding, topics, stories)")
            started = time.perf_counter()
            run_enrichment(db, quiet=quiet)
            timings["enrich_seconds"] = time.perf_counter() - started
        gold = {a["id"]: a for a in load_articles(sample_dir)}
        ids = {db_id: lid for db_id, lid in label_ids(db).items() if lid in gold}
        if not ids:
            raise KbError(f"no article of the labelled set is in {db_path}")
        langs = {o["slug"]: o["lang"] for o in load_outlets(sample_dir)}
        logger.info("eval 3/4: scoring extraction, topics (cross-validated), entities, funding, stories")
        cv = None if held_out else topic_cross_validation(db, ids, gold)
        oof = out_of_fold_topics(cv) if cv else None
        result: dict[str, Any] = {
            "articles": len(ids), "labelled": len(gold),
            "crawl_seconds": crawl_seconds, **timings,
            "extraction": score_extraction(db, ids, gold, langs),
            "topics": (score_assigned_topics(db, ids, gold, langs) if held_out
                       else score_topics(db, ids, gold, langs, cv)),
            "audiences": score_audiences(
                db, ids, gold, {i: langs.get(gold[lid]["outlet"], "en") for i, lid in ids.items()},
                topic_scores=(lambda i: oof.get(i, {})) if oof is not None else None,
                extra=None if held_out or oof is None else audience_training_inputs()),
            "vendors": score_entities(db, ids, gold, "vendor", "vendors", langs),
            "jurisdictions": score_entities(db, ids, gold, "jurisdiction", "jurisdictions", langs),
            "funding": score_funding(db, ids, gold, langs),
            "stories": score_stories(db, ids, gold),
        }
        if held_out:
            result["main_vendors"] = score_entities(db, ids, gold, "vendor", "main_vendors", langs,
                                                    role="main")
        else:
            from kb.enrich.gazetteer import load_gazetteer
            from kb.evaluation.funding_training import cross_validate, labelled_texts

            result["funding_company_cv"] = cross_validate(labelled_texts(), load_gazetteer().vendors_in)
            result["main_vendors"] = score_vendor_roles()
        from kb.evaluation.search_quality import score_search

        logger.info("eval 4/4: scoring search (the labelled queries, every mode)")
        latest = db.execute("select max(published_at) from articles").fetchone()[0]
        anchor = dt.date.fromisoformat(latest[:10]) if latest else None
        result["search"] = score_search(db, ids, load_queries(sample_dir), quiet=quiet, today=anchor)
        db.close()
        return result


def _by_lang(ids: dict[int, str], gold: dict[str, Any], langs: dict[str, str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for db_id, lid in ids.items():
        groups[langs.get(gold[lid]["outlet"], "en")].append(db_id)
    return groups


def score_extraction(db: Database, ids: dict[int, str], gold: dict[str, Any],
                     langs: dict[str, str]) -> dict[str, Any]:
    texts = {r["id"]: r["text"] for r in db.query("select id, text from articles")}
    counts = {i: page_counts(gold[ids[i]]["body"], texts.get(i)) for i in ids}
    out: dict[str, Any] = dict(extraction_scores(list(counts.values())))
    out["by_lang"] = {lang: extraction_scores([counts[i] for i in members])
                      for lang, members in _by_lang(ids, gold, langs).items()}
    out["empty"] = sum(1 for i in ids if not (texts.get(i) or "").strip())
    return out


TopicCV = tuple[list[int], dict[str, np.ndarray], dict[str, np.ndarray]]


def topic_cross_validation(db: Database, ids: dict[int, str], gold: dict[str, Any]) -> TopicCV | None:
    """The topic classifier's out-of-fold probabilities (5 folds, outlets apart) for every labelled
    article: (article ids, probabilities per topic, 0/1 labels per topic); None without vectors."""
    if not db["embeddings"].count:
        return None
    from kb.enrich.topic_model import cross_validated, topic_dataset

    order, xs, ys = topic_dataset(db, lambda i: gold[ids[i]]["labels"]["topics"] if i in ids else None)
    outlets = np.array([gold[ids[i]]["outlet"] for i in order])
    return order, cross_validated(xs, ys, outlets), ys


def out_of_fold_topics(cv: TopicCV) -> dict[int, dict[str, float]]:
    """Article id -> the topics its out-of-fold scores keep, as the topics stage would store them."""
    from kb.enrich.topics import THRESHOLD

    order, probs, _ = cv
    return {aid: {slug: float(p[k]) for slug, p in probs.items() if p[k] >= THRESHOLD}
            for k, aid in enumerate(order)}


def score_topics(db: Database, ids: dict[int, str], gold: dict[str, Any],
                 langs: dict[str, str] | None = None, cv: TopicCV | None = None) -> dict[str, Any] | None:
    """Per-topic figures of the classifier, 5-fold cross-validated: no article is scored by a model
    that was fitted on its own label."""
    cv = cv or topic_cross_validation(db, ids, gold)
    if cv is None:
        return None
    from kb.enrich.topic_model import FOLDS
    from kb.enrich.topics import THRESHOLD

    order, probs, ys = cv
    per_topic = {}
    for topic in TOPICS:
        if topic not in probs:
            continue
        predicted, actual = probs[topic] >= THRESHOLD, ys[topic] == 1
        per_topic[topic] = prf(int((predicted & actual).sum()), int((predicted & ~actual).sum()),
                               int((~predicted & actual).sum()))
    macro = sum(v["f1"] for v in per_topic.values()) / len(per_topic)
    by_lang = {}
    position = {aid: i for i, aid in enumerate(order)}
    for lang, members in _by_lang(ids, gold, langs or {}).items():
        rows = [position[m] for m in members if m in position]
        tp = fp = fn = 0
        for topic in per_topic:
            predicted, actual = probs[topic][rows] >= THRESHOLD, ys[topic][rows] == 1
            tp += int((predicted & actual).sum())
            fp += int((predicted & ~actual).sum())
            fn += int((~predicted & actual).sum())
        by_lang[lang] = prf(tp, fp, fn)
    return {"per_topic": per_topic, "macro_f1": macro, "by_lang": by_lang,
            "note": f"{FOLDS}-fold cross-validated with the outlets apart: the classifier is fitted "
                    "on these labels, never on the scored article's outlet"}


def score_assigned_topics(db: Database, ids: dict[int, str], gold: dict[str, Any],
                          langs: dict[str, str]) -> dict[str, Any] | None:
    """Per-topic figures of the topics enrichment assigned (for a set nothing was fitted on)."""
    if not db["article_topics"].count:
        return None
    assigned: dict[int, set[str]] = defaultdict(set)
    for r in db.query("select article_id, topic from article_topics"):
        assigned[r["article_id"]].add(r["topic"])
    per_topic = {topic: set_prf({i: {topic} & set(gold[ids[i]]["labels"]["topics"]) for i in ids},
                                {i: {topic} & assigned[i] for i in ids})
                 for topic in TOPICS}
    by_lang = {lang: set_prf({i: set(gold[ids[i]]["labels"]["topics"]) & set(TOPICS) for i in m},
                             {i: assigned[i] & set(TOPICS) for i in m})
               for lang, m in _by_lang(ids, gold, langs).items()}
    return {"per_topic": per_topic, "by_lang": by_lang,
            "macro_f1": sum(v["f1"] for v in per_topic.values()) / len(per_topic),
            "note": "as enrichment assigned them: nothing was fitted on these labels"}


def score_vendor_roles() -> dict[str, Any]:
    """Main-vendor precision and recall of the role scorer on the labelled vendors of the sample and
    of the training articles, with leave-one-group-out folds (a sample outlet, or a training
    articles' writing group): no group's writing is scored by weights fitted on it."""
    import numpy as np
    from sklearn.model_selection import LeaveOneGroupOut

    from kb.enrich.gazetteer import load_gazetteer
    from kb.enrich.vendor_roles import THRESHOLD, RoleModel, fit
    from kb.evaluation.training import vendor_role_examples

    xs, ys, groups = vendor_role_examples(load_gazetteer())
    main = np.zeros(len(ys), dtype=bool)
    for train, test in LeaveOneGroupOut().split(xs, ys, groups):
        model = RoleModel(fit([xs[i] for i in train], [ys[i] for i in train],
                              threshold=THRESHOLD, version="fold"))
        for i in test:
            main[i] = model.role(xs[i]) == "main"
    truth = np.array(ys, dtype=bool)
    training = np.array([g.startswith("training-") for g in groups])

    def figures(rows: np.ndarray) -> dict[str, float]:
        return prf(int((main & truth & rows).sum()), int((main & ~truth & rows).sum()),
                   int((~main & truth & rows).sum()))

    out: dict[str, Any] = dict(figures(np.ones(len(ys), dtype=bool)))
    out["by_source"] = {"sample": figures(~training), "training articles": figures(training)}
    out["note"] = (f"leave-one-group-out (sample outlets, training writing groups) over {len(ys)} "
                   "labelled vendors")
    return out


def score_entities(db: Database, ids: dict[int, str], gold: dict[str, Any], kind: str,
                   label: str, langs: dict[str, str] | None = None,
                   role: str | None = None) -> dict[str, Any] | None:
    rows = list(db.query(
        "select ae.article_id, e.name from article_entities ae join entities e on e.id = ae.entity_id "
        "where e.kind = ?" + (" and ae.role = ?" if role else ""),
        [kind, role] if role else [kind])) if db["article_entities"].exists() else []
    if not rows:
        return None
    predicted: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        predicted[r["article_id"]].add(r["name"])
    def score(members: list[int]) -> dict[str, float]:
        return set_prf({i: set(gold[ids[i]]["labels"][label]) for i in members},
                       {i: predicted[i] for i in members})

    out: dict[str, Any] = dict(score(list(ids)))
    out["by_lang"] = {lang: score(m) for lang, m in _by_lang(ids, gold, langs or {}).items()}
    return out


def _event_key(e: dict[str, Any]) -> tuple[str, str]:
    return ((e.get("company") or "").lower(), (e.get("currency") or "").upper())


def _match_events(gold_events: list[dict], predicted: list[dict]) -> list[tuple[dict, dict]]:
    """(gold, predicted) pairs that match: same company and currency, amount within 2%."""
    pairs, used = [], set()
    for g in gold_events:
        for j, p in enumerate(predicted):
            if j in used or _event_key(g) != _event_key(p):
                continue
            if p["amount"] is not None and g.get("amount") is not None and (
                    abs(float(p["amount"]) - float(g["amount"])) <= AMOUNT_TOLERANCE * float(g["amount"])):
                pairs.append((g, p))
                used.add(j)
                break
    return pairs


def score_funding(db: Database, ids: dict[int, str], gold: dict[str, Any],
                  langs: dict[str, str]) -> dict[str, Any] | None:
    """Mentions matched per article; on matched ones, status and kind accuracy (where the labels
    give them) and the grouping of mentions into events (pairs sharing a labelled event key)."""
    if not db["enrichment_state"].count_where("stage = 'funding'"):
        return None
    from kb.enrich.ledger import KIND_NAMES

    predicted: dict[int, list[dict]] = defaultdict(list)
    for r in db.query("select * from funding_events"):
        predicted[r["article_id"]].append(r)

    def counts(members: list[int]) -> dict[str, float]:
        tp = fp = fn = 0
        for i in members:
            g, p = gold[ids[i]]["labels"]["funding_events"], predicted[i]
            m = len(_match_events(g, p))
            tp, fp, fn = tp + m, fp + len(p) - m, fn + len(g) - m
        return prf(tp, fp, fn)

    out: dict[str, Any] = dict(counts(list(ids)))
    out["by_lang"] = {lang: counts(m) for lang, m in _by_lang(ids, gold, langs).items()}
    matched = [pair for i in ids for pair in _match_events(gold[ids[i]]["labels"]["funding_events"],
                                                          predicted[i])]
    for field in ("status", "kind"):
        judged = [(g[field], KIND_NAMES.get(p[field], p[field])) for g, p in matched if g.get(field)]
        if judged:
            out[f"{field}_accuracy"] = sum(a == b for a, b in judged) / len(judged)
            out[f"{field}_judged"] = len(judged)
    leads = [(g["investors"][0], json.loads(p.get("investors") or "[]")[:1]) for g, p in matched
             if g.get("investors")]
    if leads:
        out["lead_investor_accuracy"] = sum(
            bool(ours) and squash(ours[0]) == squash(theirs) for theirs, ours in leads) / len(leads)
        out["lead_investor_judged"] = len(leads)
    keyed = [(g["event_key"], p.get("event_id")) for g, p in matched if g.get("event_key")]
    if keyed:
        same_gold = same_ours = both = 0
        for a in range(len(keyed)):
            for b in range(a + 1, len(keyed)):
                gold_same = keyed[a][0] == keyed[b][0]
                ours_same = keyed[a][1] is not None and keyed[a][1] == keyed[b][1]
                same_gold, same_ours, both = (same_gold + gold_same, same_ours + ours_same,
                                              both + (gold_same and ours_same))
        out["grouping"] = prf(both, same_ours - both, same_gold - both)
    return out


def score_stories(db: Database, ids: dict[int, str], gold: dict[str, Any]) -> dict[str, Any] | None:
    if not db["story_articles"].count:
        return None
    predicted = {r["article_id"]: r["story_id"] for r in db.query("select * from story_articles")}
    out = bcubed({i: gold[ids[i]]["story"] for i in ids},
                  {i: predicted.get(i, f"alone-{i}") for i in ids})
    cross = [s for s in {gold[ids[i]]["story"] for i in ids}
             if len({gold[ids[j]]["outlet"] for j in ids if gold[ids[j]]["story"] == s}) > 1
             and any(gold[ids[j]]["outlet"] in ("depeche-numerique", "digitalbote")
                     for j in ids if gold[ids[j]]["story"] == s)]
    out["stories_across_languages"] = len(cross)
    out["across_languages_joined"] = sum(
        1 for s in cross if len({predicted.get(j) for j in ids if gold[ids[j]]["story"] == s}) == 1)
    return out


def format_table(result: dict[str, Any]) -> str:
    """One table of every figure; 'n/a' where a capability produced nothing."""
    from kb.evaluation.report import render

    return render(result)

