"""Embedding bookkeeping with a deterministic fake embedder (the real model runs in test_search)."""

from __future__ import annotations

import hashlib

import numpy as np

from kb.enrich.embed import embed_articles, passages
from kb.search.engine import Filters, Query, rank
from kb.search.vectors import load_index
from kb.store.connection import open_db
from kb.store.writes import save_article


class FakeEmbedder:
    def __init__(self, name: str = "fake", dim: int = 16) -> None:
        self.name, self.dim, self.calls = name, dim, 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.vstack(out)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def add(db, n: int, words: int = 50) -> None:
    for i in range(n):
        text = " ".join(f"word{i}x{j}" for j in range(words))
        save_article(db, {"url": f"https://example.com/{i}", "original_url": "", "title": f"T{i}",
                          "text": text, "fetched_at": "2026-10-01T00:00:00+00:00",
                          "published_at": "2026-10-01T00:00:00+00:00"})


def test_long_articles_become_several_passages():
    long_text = " ".join(f"w{i}" for i in range(600))
    chunks = passages("Title", long_text)
    assert len(chunks) >= 4 and chunks[0].startswith("Title. w0")
    assert "w599" in chunks[-1]
    assert len(passages("Title", "short text")) == 1


def test_unchanged_articles_are_never_re_embedded(tmp_path):
    db = open_db(tmp_path / "kb.db")
    add(db, 5)
    fake = FakeEmbedder()
    assert embed_articles(db, embedder=fake, quiet=True) == 5
    calls = fake.calls
    assert embed_articles(db, embedder=fake, quiet=True) == 0
    assert fake.calls == calls
    save_article(db, {"url": "https://example.com/2", "original_url": "", "title": "T2",
                      "text": "changed text now", "fetched_at": "2026-10-02T00:00:00+00:00"})
    assert embed_articles(db, embedder=fake, quiet=True) == 1


def test_a_model_change_re_embeds_instead_of_mixing(tmp_path):
    db = open_db(tmp_path / "kb.db")
    add(db, 3)
    embed_articles(db, embedder=FakeEmbedder("fake-a", 16), quiet=True)
    assert embed_articles(db, embedder=FakeEmbedder("fake-b", 8), quiet=True) == 3
    models = {r["model"] for r in db.query("select distinct model from embeddings")}
    assert models == {"fake-b"}
    assert {r["dim"] for r in db["embedding_models"].rows} == {8}


def test_index_follows_new_embeddings_and_semantic_search_uses_it(tmp_path):
    db = open_db(tmp_path / "kb.db")
    add(db, 3)
    fake = FakeEmbedder()
    embed_articles(db, embedder=fake, quiet=True)
    assert len(set(load_index(db, "fake").article_ids)) == 3
    add(db, 5)
    embed_articles(db, embedder=fake, quiet=True)
    assert len(set(load_index(db, "fake").article_ids)) == 5
    # the text of article 4's lead passage is its own nearest neighbour
    results = rank(db, Query("T4. " + " ".join(f"word4x{j}" for j in range(50)), mode="semantic",
                             limit=3), embedders={"primary": fake})
    assert results[0][0] == 5 and results[0][1] > 0.99


def test_a_repeated_query_is_encoded_once(tmp_path):
    db = open_db(tmp_path / "kb.db")
    add(db, 4)
    fake = FakeEmbedder(name="fake-cache")
    embed_articles(db, embedder=fake, quiet=True)
    before = fake.calls
    first = rank(db, Query("word2x3 word2x4", mode="semantic", limit=3), embedders={"primary": fake})
    again = rank(db, Query("word2x3 word2x4", mode="semantic", limit=3,
                           filters=Filters(since="2026-01-01")), embedders={"primary": fake})
    assert fake.calls == before + 1 and first == again
    rank(db, Query("word1x1", mode="semantic", limit=3), embedders={"primary": fake})
    assert fake.calls == before + 2
