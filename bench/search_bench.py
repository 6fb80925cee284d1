"""Search latency at scale: keyword, semantic and hybrid, next to bare baselines in the same run.

    python bench/search_bench.py                 # 100k synthetic articles
    python bench/search_bench.py --large         # 1M (vectors synthetic; MiniLM and e5 only)
    python bench/search_bench.py --rows 20000    # quicker

Articles are generated with a fixed seed from a news-like vocabulary (Zipf-distributed words, so
common words are very common). Vectors are random unit vectors (one per article), which is what
the index holds at that scale; queries are embedded with the real models, and that time counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As `kb serve` runs (kb.publish.serve.server_environment): one OpenMP thread per search thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from kb.enrich.embed import CROSSLINGUAL_MODEL, DEFAULT_MODEL, MULTILINGUAL_MODEL, to_blob  # noqa: E402
from kb.publish.web import load_embedders  # noqa: E402
from kb.search.engine import Query, forget_query_vectors, rank  # noqa: E402
from kb.search.vectors import load_index  # noqa: E402
from kb.store.connection import open_db  # noqa: E402

TOPICAL = ("export controls chips licence Nvidia China Commerce rule entity list sovereign cloud "
           "Mistral funding round valuation Series investors open weights model release licence "
           "regulation AI Act Commission compliance copyright lawsuit data centre compute GPU "
           "Anthropic OpenAI Google Meta Microsoft Amazon Europe France Germany India Japan "
           "startup billion million euros dollars debt equity acquisition semiconductor memory "
           "bandwidth training inference safety institute guidance enforcement fine court").split()
COMMON = ("the of and to a in that is for on with as was by it at from said has have its be "
          "new will are which this after also more but about their than been year over").split()
QUERIES = ["Mistral funding round", "Nvidia China export licence", "AI Act compliance guidance",
           "sovereign cloud Europe", "open weights model release", "entity list semiconductor",
           "copyright lawsuit court", "data centre debt financing", "the new", "said the year",
           "which European startups raised money this year?", "rules on chips sold to China",
           "Anthropic valuation billion", "safety institute enforcement", "GPU compute India",
           "Series B investors euros", "memory bandwidth rule", "Meta open model licence",
           "Commission fine OpenAI", "acquisition of an AI startup",
           "Which European AI start-ups raised funding in euros?", "Nvidia 2026",
           "contrôles à l'exportation des puces vers la Chine",
           "Finanzierungsrunden europäischer KI-Startups"]


def synthetic_articles(n: int, seed: int = 7):
    rng = random.Random(seed)
    vocab = TOPICAL + [f"term{i}" for i in range(20000)]
    weights = [1 / (i + 1) ** 0.9 for i in range(len(vocab))]
    for i in range(n):
        words = rng.choices(vocab, weights=weights, k=260)
        for j in range(0, 260, 4):
            words[j] = rng.choice(COMMON)
        day = 1 + (i * 365 // n)
        yield {"url": f"https://bench.example/{i}", "original_url": "", "source_id": None,
               "title": " ".join(rng.choices(TOPICAL, k=7)).capitalize(),
               "text": " ".join(words), "summary": "", "lang": "en",
               "published_at": f"2026-{1 + (day - 1) // 31:02d}-{1 + (day - 1) % 28:02d}T08:00:00+00:00",
               "fetched_at": "2026-12-01T00:00:00+00:00", "content_hash": f"h{i}", "word_count": 260}


def build(path: Path, n: int, models: list[tuple[str, str, int]]) -> float:
    started = time.perf_counter()
    db = open_db(path)
    db.execute("PRAGMA synchronous = OFF")
    batch = []
    for article in synthetic_articles(n):
        batch.append(article)
        if len(batch) == 5000:
            with db.conn:
                db["articles"].insert_all(batch, batch_size=1000)
            batch = []
    if batch:
        with db.conn:
            db["articles"].insert_all(batch, batch_size=1000)
    rng = np.random.default_rng(11)
    for role, name, dim in models:
        db["embedding_models"].upsert({"role": role, "name": name, "dim": dim}, pk="role")
        for start in range(1, n + 1, 20000):
            ids = range(start, min(n + 1, start + 20000))
            vectors = rng.standard_normal((len(ids), dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with db.conn:
                db["embeddings"].insert_all(
                    ({"article_id": i, "passage": 0, "model": name, "vector": to_blob(v)}
                     for i, v in zip(ids, vectors, strict=True)), batch_size=2000)
    enrichment_rows(db, n)
    if any(role == "multilingual" for role, _, _ in models):
        vocabulary_rows(db, rng)
    db.execute("PRAGMA optimize")
    db.close()
    return time.perf_counter() - started


def vocabulary_rows(db, rng: np.random.Generator) -> None:
    """A full translation vocabulary (20,000 of the articles' words and 10,000 two-word phrases,
    random vectors), so that the French and German queries pay for putting their words into
    English as they would on a large knowledge base."""
    words = list(dict.fromkeys(w.lower() for w in TOPICAL + [f"term{i}" for i in range(20000)]))[:20000]
    phrases = [f"{words[i]} {words[(i * 7 + 1) % len(words)]}" for i in range(10000)]
    vectors = rng.standard_normal((len(words) + len(phrases), 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with db.conn:
        db.conn.executemany("insert into vocabulary_vectors (word, model, vector) values (?, ?, ?)",
                            [(w, MULTILINGUAL_MODEL, v.astype("<f2").tobytes())
                             for w, v in zip(words + phrases, vectors, strict=True)])


VENDORS = ["Nvidia", "Mistral AI", "Anthropic", "OpenAI", "Google DeepMind", "Meta", "Aleph Alpha",
           "Cohere", "DeepSeek", "Alibaba", "Microsoft", "xAI"]
PLACES = ["US", "EU", "China", "France", "Germany", "UK", "India", "Japan"]
TOPICS = ["sovereignty", "open-source", "regulation", "export-controls", "funding"]


def enrichment_rows(db, n: int, seed: int = 5) -> None:
    """Topics, vendors (main or mentioned), jurisdictions and funding events (one article in 20)
    named as the gazetteer names them, so that the chips of a query ("European start-ups that
    raised funding in euros") read real rows at their real cost."""
    rng = random.Random(seed)
    db["topics"].insert_all([{"slug": t, "name": t} for t in TOPICS], pk="slug", ignore=True)
    names = [("vendor", v) for v in VENDORS] + [("jurisdiction", p) for p in PLACES]
    db["entities"].insert_all([{"id": i + 1, "kind": k, "name": v} for i, (k, v) in enumerate(names)],
                              pk="id")
    for first in range(1, n + 1, 20000):
        topics, entities, events, ledger = [], [], [], []
        for aid in range(first, min(n + 1, first + 20000)):
            topics += [{"article_id": aid, "topic": t, "score": 0.8, "method": "bench", "evidence": ""}
                       for t in rng.sample(TOPICS, rng.randint(0, 2))]
            entities += [{"article_id": aid, "entity_id": e, "mentions": 1, "method": "bench",
                          "role": rng.choice(("main", "mentioned"))}
                         for e in rng.sample(range(1, len(names) + 1), rng.randint(1, 3))]
            if aid % 20 == 0:
                event = f"ev-{aid}"
                amount, currency = rng.choice((5e7, 3e8, 2e9)), rng.choice(("USD", "EUR", "GBP"))
                events.append({"article_id": aid, "company": rng.choice(VENDORS), "amount": amount,
                               "currency": currency, "kind": "equity", "status": "closed", "event_id": event,
                               "method": "bench", "company_known": 1, "investors": "[]"})
                ledger.append({"id": event, "company": events[-1]["company"], "kind": "equity",
                               "status": "closed", "amount": amount, "currency": currency,
                               "amount_usd": amount, "company_known": 1, "reports": 1, "mentions": "[]"})
        with db.conn:
            db["article_topics"].insert_all(topics)
            db["article_entities"].insert_all(entities)
            db["funding_events"].insert_all(events)
            db["funding_ledger"].insert_all(ledger)


def timed(fn, queries: list[str]) -> list[float]:
    """Milliseconds per query, each query's embedding included (the kept query vectors are
    forgotten before each call: the list asks every query three times)."""
    out = []
    for q in queries:
        forget_query_vectors()
        started = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, ms: list[float], baseline: list[float] | None = None) -> str:
    p50, p95 = statistics.median(ms), sorted(ms)[int(0.95 * (len(ms) - 1))]
    ratio = f"{p95 / sorted(baseline)[int(0.95 * (len(baseline) - 1))]:.2f}x" if baseline else ""
    return f"| {name} | {p50:.1f} | {p95:.1f} | {max(ms):.1f} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large", action="store_true", help="1,000,000 rows")
    parser.add_argument("--db", type=Path,
                        help="keep the generated database here (an existing one is reused)")
    args = parser.parse_args()
    n = 1_000_000 if args.large else args.rows
    models = [("primary", DEFAULT_MODEL, 384), ("crosslingual", CROSSLINGUAL_MODEL, 384)]
    if not args.large:
        models.append(("multilingual", MULTILINGUAL_MODEL, 512))
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench.db"
    reused = path.exists()
    build_s = 0.0 if reused else build(path, n, models)
    db = open_db(path, create=False)
    embedders = load_embedders(db)  # loaded, warmed and threaded as the web server does
    for _, name, _ in models:
        load_index(db, name)
    queries = QUERIES * 3

    def raw_fts(q: str) -> None:
        words = " OR ".join(f'"{w}"' for w in q.replace("?", "").split())
        db.execute("select rowid from articles_fts where articles_fts match ? order by bm25(articles_fts) "
                   "limit 20", [words]).fetchall()

    results = {"raw FTS5 MATCH ... ORDER BY bm25 LIMIT 20": timed(raw_fts, queries)}
    with threadpool_limits(1):  # BLAS on one thread, as `kb serve` runs it (see kb.publish.serve)
        for mode in ("keyword", "semantic", "hybrid"):
            results[f"kb search --mode {mode}"] = timed(
                lambda q, m=mode: rank(db, Query(q, mode=m, limit=20), embedders=embedders), queries)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline's copy
    answering = load_index(db, DEFAULT_MODEL)
    # the same vectors in float32 (a large index keeps float16), scanned in full
    exact = dataclasses.replace(answering, codes=None, matrix=answering.matrix.astype(np.float32))

    def raw_numpy(q: str) -> None:
        v = embedders["primary"].encode_query(q)  # the same query encoder as kb search
        scores = exact.matrix @ v
        np.argpartition(-scores, 20)[:20]

    results["raw numpy matmul (query embedding included)"] = timed(raw_numpy, queries)
    probes = np.random.default_rng(3).standard_normal((200, exact.matrix.shape[1])).astype(np.float32)
    recall = float(np.mean([
        len({a for a, _ in answering.search(p, limit=10)} & {a for a, _ in exact.search(p, limit=10)}) / 10
        for p in probes]))
    size_mb = os.path.getsize(path) / 1e6
    kind = "sign-code shortlist + exact re-rank" if answering.codes is not None else "exact scan"
    built = "reused database" if reused else f"build {build_s:.0f} s"
    print(f"\n{n:,} articles; {built}; database {size_mb:.0f} MB; peak memory {peak_mb:.0f} MB; "
          f"{len(queries)} queries")
    print(f"semantic search: {kind}; recall@10 against an exact scan {recall:.3f} "
          f"(200 random probes)\n")
    print("| search | p50 ms | p95 ms | max ms | p95 vs baseline |\n| --- | --- | --- | --- | --- |")
    fts, mat = results["raw FTS5 MATCH ... ORDER BY bm25 LIMIT 20"], \
        results["raw numpy matmul (query embedding included)"]
    order = [k for k in results if k.startswith("raw")] + [k for k in results if k.startswith("kb")]
    for name in order:
        ms = results[name]
        base = fts if "keyword" in name else mat if "semantic" in name else None
        if "hybrid" in name:
            base = [a + b for a, b in zip(fts, mat, strict=True)]
        print(row(name, ms, base if name.startswith("kb") else None))
    common = [m for q, m in zip(queries, results["kb search --mode keyword"], strict=True)
              if q in ("the new", "said the year")]
    print(f"\ncommon-word queries, keyword mode: max {max(common):.0f} ms")


if __name__ == "__main__":
    main()
