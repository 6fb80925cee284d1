"""Enrichment speed: rule and gazetteer stages at 10k articles, and embedding throughput against
bare `model.encode` on the same texts in the same run.

    python bench/enrich_bench.py [--rows 10000] [--embed-rows 200]

Articles are the sample corpus's bodies, repeated with their sentences shuffled (fixed seed), so the
stages see realistic text with vendors, amounts and references.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb.enrich.embed import (  # noqa: E402
    CROSSLINGUAL_MODEL,
    CROSSLINGUAL_PASSAGES,
    DEFAULT_MODEL,
    MAX_PASSAGES,
    MULTILINGUAL_MODEL,
    embed_articles,
    get_embedder,
    passages,
)
from kb.enrich.runner import STAGES  # noqa: E402
from kb.enrich.vocabulary import count_words, embed_words  # noqa: E402
from kb.evaluation.sample import load_articles  # noqa: E402
from kb.store.connection import open_db
from kb.store.writes import save_article  # noqa: E402

RULE_STAGES = ["entities", "funding", "policy_refs", "summaries"]


def fill(db, rows: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    corpus = load_articles()
    with db.conn:
        for i in range(rows):
            a = corpus[i % len(corpus)]
            paragraphs = a["body"].strip().split("\n\n")
            if i >= len(corpus):
                rng.shuffle(paragraphs)
            save_article(db, {"url": f"https://bench.example/{i}", "original_url": "",
                              "title": a["title"], "text": "\n\n".join(paragraphs),
                              "fetched_at": "2026-11-01T00:00:00+00:00",
                              "published_at": a["published"], "lang": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--embed-rows", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        fill(db, args.rows)
        print(f"\n{args.rows:,} articles\n\n| stage | seconds | articles/s |\n| --- | --- | --- |")
        for name in RULE_STAGES:
            started = time.perf_counter()
            count = STAGES[name](db, quiet=True)
            elapsed = time.perf_counter() - started
            print(f"| {name} | {elapsed:.1f} | {count / elapsed:.0f} |")
        started = time.perf_counter()
        STAGES["entities"](db, quiet=True)
        print(f"| no-op re-run of entities | {time.perf_counter() - started:.2f} | |")
        started = time.perf_counter()
        counted = count_words(db)
        elapsed = time.perf_counter() - started
        print(f"| vocabulary: count the words | {elapsed:.1f} | {counted / elapsed:.0f} |")
        started = time.perf_counter()
        words = embed_words(db, MULTILINGUAL_MODEL, quiet=True)
        print(f"| vocabulary: embed {words:,} words | {time.perf_counter() - started:.1f} | |")
        started = time.perf_counter()
        count_words(db)
        embed_words(db, MULTILINGUAL_MODEL, quiet=True)
        print(f"| no-op re-run of the vocabulary | {time.perf_counter() - started:.2f} | |")

        small = open_db(Path(tmp) / "embed.db")
        fill(small, args.embed_rows)
        for role, name, most in (("primary", DEFAULT_MODEL, MAX_PASSAGES),
                                 ("crosslingual", CROSSLINGUAL_MODEL, CROSSLINGUAL_PASSAGES)):
            embedding_rate(small, role, name, most, args.embed_rows)


def embedding_rate(db, role: str, name: str, most: int, rows: int) -> None:
    """Passages a second through `kb enrich`'s embedding stage against the bare model's encode."""
    model = get_embedder(name)
    model.encode(["warm up"])
    texts = [p for a in db.query("select title, text from articles order by id")
             for p in passages(a["title"], a["text"])[:most]]
    started = time.perf_counter()
    model.encode(texts)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    embed_articles(db, embedder=model, role=role, quiet=True, max_passages=most)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    embed_articles(db, embedder=model, role=role, quiet=True, max_passages=most)
    noop = time.perf_counter() - started
    print(f"\nembedding {rows} articles ({len(texts)} passages) with {name}\n")
    print("| what | seconds | passages/s |\n| --- | --- | --- |")
    print(f"| bare model.encode | {bare:.1f} | {len(texts) / bare:.1f} |")
    print(f"| kb enrich --only embed | {ours:.1f} | {len(texts) / ours:.1f} |")
    print(f"| ratio | {bare / ours:.2f} | |")
    print(f"| no-op re-run | {noop:.2f} | |")

if __name__ == "__main__":
    main()
