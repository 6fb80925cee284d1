"""Vector search: the sign-code shortlist of large indexes agrees with an exact scan, keeps exact
scores, and respects filters; the cached index follows the database."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kb.enrich.embed import to_blob
from kb.search.vectors import BINARY_FROM, VectorIndex, load_index, sign_codes
from kb.store.connection import open_db


def clustered(n: int, dim: int = 384, seed: int = 4) -> np.ndarray:
    """Unit vectors around 200 centres: structured like embeddings of news, unlike pure noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, dim))
    v = centres[rng.integers(0, 200, n)] + 1.2 * rng.standard_normal((n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def index() -> VectorIndex:
    matrix = clustered(60_000)
    ids = np.arange(60_000, dtype=np.int64) // 2 + 1  # two passages an article
    return VectorIndex("m", ids, matrix, stamp=(0, 0),
                       codes=np.ascontiguousarray(sign_codes(matrix).T))


def test_sign_codes_pack_one_bit_per_dimension():
    codes = sign_codes(np.array([[1.0, -1.0] * 192, [-1.0] * 384], dtype=np.float32))
    assert codes.shape == (2, 6) and codes.dtype == np.uint64
    assert np.bitwise_count(codes[0] ^ codes[1]).sum() == 192


def test_shortlist_recall_and_exact_scores(index):
    exact = dataclasses.replace(index, codes=None)
    queries = clustered(50, seed=9)
    recall = np.mean([len({a for a, _ in index.search(q, limit=10)}
                          & {a for a, _ in exact.search(q, limit=10)}) / 10 for q in queries])
    # Near-equidistant cluster members make this harder than real sentence vectors (0.97-0.99 in
    # docs/search.md); a shortlist drawn at random would score about 0.03.
    assert recall >= 0.7
    got, want = index.search(queries[0], limit=5), exact.search(queries[0], limit=5)
    assert got[0] == pytest.approx(want[0])  # the same article, scored exactly


@pytest.mark.parametrize("size", [300, 20_000])
def test_filters_hold_under_the_shortlist(index, size):
    allowed = set(range(1, 30_001, 30_000 // size))
    query = clustered(1, seed=11)[0]
    found = index.search(query, limit=20, allowed=allowed)
    assert len(found) == 20 and {a for a, _ in found} <= allowed
    exact = dataclasses.replace(index, codes=None).search(query, limit=20, allowed=allowed)
    assert found[0][0] == exact[0][0]


def test_large_databases_load_with_codes_small_ones_without(tmp_path):
    db = open_db(tmp_path / "kb.db")
    matrix = clustered(BINARY_FROM)
    with db.conn:
        db["articles"].insert_all({"id": i, "url": f"https://x.test/{i}", "content_hash": str(i)}
                                  for i in range(1, BINARY_FROM + 1))
        db["embeddings"].insert_all({"article_id": i + 1, "passage": 0, "model": "m",
                                     "vector": to_blob(v)} for i, v in enumerate(matrix[:100]))
    small = load_index(db, "m")
    assert small.codes is None and len(small.matrix) == 100
    with db.conn:
        db["embeddings"].insert_all({"article_id": i + 1, "passage": 0, "model": "m",
                                     "vector": to_blob(v)} for i, v in enumerate(matrix) if i >= 100)
    large = load_index(db, "m")  # the cache notices the new vectors
    assert large.codes is not None and len(large.matrix) == BINARY_FROM
    assert large.search(matrix[777], limit=1)[0][0] == 778


def test_a_large_vocabulary_finds_a_word_s_nearest_entry_through_a_shortlist():
    from kb.search.translate import SHORTLIST_FROM, Vocabulary

    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((SHORTLIST_FROM + 500, 512)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    vocabulary = Vocabulary([f"w{i}" for i in range(len(matrix))], matrix, (len(matrix), len(matrix)))
    assert vocabulary.large is not None  # the shortlist path, not the full matmul
    targets = rng.choice(len(matrix), 40, replace=False)
    queries = matrix[targets] + 0.3 * rng.standard_normal((40, 512)).astype(np.float32) / np.sqrt(512)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    found = vocabulary.nearest(queries)
    assert [row for row, _ in found] == list(targets)
    assert all(abs(score - float(matrix[t] @ q)) < 1e-5
               for (_, score), t, q in zip(found, targets, queries, strict=True))
    small = Vocabulary(["a", "b"], matrix[:2], (2, 2))
    assert small.large is None and [row for row, _ in small.nearest(matrix[1:2])] == [1]
