"""Vector search over an in-memory float32 matrix kept in step with the database.

The database holds the vectors (the source of truth, reachable in SQL) and this module holds a
copy for answering. Measured on 2 cores (docs/search.md), a float32 matmul costs about 36 ms over
the 275k passages of 100k articles, so past BINARY_FROM passages a first pass compares one-bit codes
(the sign of each dimension about the mean, 48 bytes a 384-d vector, XOR and popcount) and only the
closest 2% or so are scored exactly: exact scores, at the recall@10 that bench/vector_recall.py
(real sentence vectors) and bench/search_bench.py (random vectors, the worst case) report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlite_utils.db import Database

BINARY_FROM = 50_000
# Large indexes hold their vectors as float16: half the memory (two models' vectors of 1M articles
# fit in 1.5 GB), and a shortlist's rows are scored in float32 (scores within 1e-3 of float32's).
COMPACT_DTYPE = np.float16
# Rows re-ranked exactly: 2% of them, within bounds (recall@10 on real sentence vectors in
# docs/search.md: 0.960 at 1%, 0.986 at 2%, 0.995 at 4%).
BINARY_SHORTLIST_SHARE = 0.02
BINARY_SHORTLIST_MIN, BINARY_SHORTLIST_MAX = 2_000, 20_000


def sign_codes(matrix: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """One bit per dimension (its sign about ``centre``: sentence embeddings share a common
    direction, which would otherwise spend bits), packed into uint64 words, a row per vector."""
    bits = np.packbits(matrix > (0 if centre is None else centre), axis=1)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits).view(np.uint64)


def indexed_codes(matrix: np.ndarray, chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """The sign codes of ``matrix``'s rows about their mean, one row per 64 dimensions (the layout
    ``VectorIndex.shortlist`` reads), and that mean."""
    centre = matrix.mean(axis=0)
    codes = np.empty((matrix.shape[1] // 64 + bool(matrix.shape[1] % 64), len(matrix)), dtype=np.uint64)
    for start in range(0, len(matrix), chunk):
        codes[:, start:start + chunk] = sign_codes(matrix[start:start + chunk], centre).T
    return codes, centre


@dataclass
class VectorIndex:
    model: str
    article_ids: np.ndarray  # one entry per passage
    matrix: np.ndarray  # unit-length rows, float32 (float16 in large indexes)
    stamp: tuple[int, int]
    codes: np.ndarray | None = None  # sign codes, one row per 64 dimensions (large indexes only)
    centre: np.ndarray | None = None

    def search(self, query: np.ndarray, *, limit: int = 50,
               allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """Articles ranked by their best passage's cosine similarity to ``query``."""
        if not len(self.matrix):
            return []
        query = np.asarray(query, dtype=np.float32)
        rows = None
        if allowed is not None:
            rows = np.flatnonzero(np.isin(self.article_ids, np.fromiter(
                allowed, dtype=np.int64, count=len(allowed))))
        if self.codes is not None and (rows is None or len(rows) > shortlist_size(len(self.matrix))):
            rows = self.shortlist(query, limit, rows)
        ids = self.article_ids if rows is None else self.article_ids[rows]
        # np.take gathers the shortlisted rows a third quicker than fancy indexing
        scores = (self.matrix @ query if rows is None
                  else np.take(self.matrix, rows, axis=0).astype(np.float32, copy=False) @ query)
        take = min(len(scores), limit * 4)
        if not take:
            return []
        top = np.argpartition(-scores, take - 1)[:take]
        best: dict[int, float] = {}
        for i in top[np.argsort(-scores[top])]:
            aid = int(ids[i])
            if aid not in best:
                best[aid] = float(scores[i])
                if len(best) >= limit:
                    break
        return list(best.items())

    def shortlist(self, query: np.ndarray, limit: int, rows: np.ndarray | None = None,
                  size: int | None = None) -> np.ndarray:
        """The rows (of ``rows``, or of all) nearest ``query`` by Hamming distance of sign codes,
        in row order."""
        assert self.codes is not None  # called only for indexes that have sign codes
        words = sign_codes(query[None, :], self.centre)[0]
        codes = self.codes if rows is None else self.codes[:, rows]
        distance = np.bitwise_count(codes[0] ^ words[0]).astype(np.uint16)
        for j in range(1, len(words)):  # word by word over contiguous columns: 6x quicker than rows
            distance += np.bitwise_count(codes[j] ^ words[j])
        take = max(limit * 20, size or shortlist_size(len(distance)))
        if take < len(distance):  # the cut-off distance from a histogram: quicker than a partition
            cutoff = int(np.searchsorted(np.cumsum(np.bincount(distance)), take))
            near = np.flatnonzero(distance <= cutoff)
        else:
            near = np.arange(len(distance))
        return near if rows is None else rows[near]


def shortlist_size(rows: int) -> int:
    return min(BINARY_SHORTLIST_MAX, max(BINARY_SHORTLIST_MIN, int(rows * BINARY_SHORTLIST_SHARE)))


_CACHE: dict[tuple[str, str], VectorIndex] = {}
_LOCK = threading.Lock()


def _stamp(db: Database, model: str) -> tuple[int, int]:
    row = db.execute("select count(*), coalesce(sum(article_id), 0) from embeddings where model = ?",
                     [model]).fetchone()
    return int(row[0]), int(row[1])


def _read_index(db: Database, model: str, stamp: tuple[int, int], chunk: int = 20_000) -> VectorIndex:
    """Every vector of ``model``, streamed into one preallocated matrix: peak memory is the matrix
    itself (1.5 GB for 1M 384-d vectors), not the rows and a joined copy on top of it."""
    count = stamp[0]
    dim = db.execute("select length(vector) / 4 from embeddings where model = ? limit 1", [model]).fetchone()
    matrix = np.empty((count, int(dim[0]) if dim else 1),
                      dtype=COMPACT_DTYPE if count >= BINARY_FROM else np.float32)
    article_ids = np.empty(count, dtype=np.int64)
    cursor = db.execute("select article_id, vector from embeddings where model = ? "
                        "order by article_id, passage", [model])
    filled = 0
    while rows := cursor.fetchmany(chunk):
        rows = rows[:count - filled]  # rows stored since the count are left for the next reload
        end = filled + len(rows)
        matrix[filled:end] = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        article_ids[filled:end] = [r[0] for r in rows]
        filled = end
    matrix, article_ids = matrix[:filled], article_ids[:filled]
    codes, centre = indexed_codes(matrix, chunk) if filled >= BINARY_FROM else (None, None)
    return VectorIndex(model=model, article_ids=article_ids, matrix=matrix, stamp=stamp, codes=codes,
                       centre=centre)


def _unchanged_since_last_look(db: Database, model: str) -> bool:
    """True when no connection has committed since this connection last checked (cheap pragmas,
    instead of counting every stored vector on each query)."""
    seen: dict[str, tuple[int, int]] = db.__dict__.setdefault("_kb_vectors_seen", {})
    marker = (db.execute("pragma data_version").fetchone()[0], db.conn.total_changes)
    unchanged = seen.get(model) == marker
    seen[model] = marker
    return unchanged


def load_index(db: Database, model: str) -> VectorIndex:
    """The index for ``model``, reloaded when the embeddings table has changed."""
    key = (str(db.conn.execute("pragma database_list").fetchone()[2]), model)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and _unchanged_since_last_look(db, model):
            return cached
        stamp = _stamp(db, model)
        if cached is not None and cached.stamp == stamp:
            return cached
        _CACHE.pop(key, None)  # never two copies of a large matrix at once
        index = _read_index(db, model, stamp)
        _CACHE[key] = index
        _unchanged_since_last_look(db, model)
        return index
