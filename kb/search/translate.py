"""A French or German query's words in English, so keyword search reaches the English articles.

Each content word of the query goes to the English word or two-word phrase nearest it under the
multilingual model, among those of the English articles (embedded once by `kb enrich`,
kb.enrich.vocabulary): "Exportkontrollen für die Gewichte von KI-Modellen" becomes "export controls
weight ai models", a German compound often being an English phrase. Hybrid
search ranks by those words too; the multilingual model alone puts articles in the query's language
first, relevant or not.
"""

from __future__ import annotations

import re
import threading

import numpy as np
from sqlite_utils.db import Database

from kb.core.text import stopwords
from kb.enrich.embed import Embedder
from kb.search.vectors import VectorIndex, indexed_codes

QUERY_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
# A query word farther than this from every English word is left out (measured in docs/search.md).
MIN_SIMILARITY = 0.45
# From this many entries, a query word's nearest entry is found as vector search finds passages: a
# sign-code pass, then the closest SHORTLIST_SIZE scored exactly. Over 30,000 real entries and 600
# French and German words it found the same entry as a full matmul for every word, at a fraction of
# the cost (docs/search.md).
SHORTLIST_FROM = 10_000
SHORTLIST_SIZE = 500


class Vocabulary:
    """The embedded English words and phrases, as a matrix for nearest-word lookups."""

    def __init__(self, words: list[str], matrix: np.ndarray, stamp: tuple[int, int]) -> None:
        self.words, self.matrix, self.stamp = words, matrix, stamp
        self.index = set(words)
        self.large: VectorIndex | None = None
        if len(words) >= SHORTLIST_FROM:
            codes, centre = indexed_codes(matrix)
            self.large = VectorIndex(model="vocabulary", article_ids=np.arange(len(words)), matrix=matrix,
                                     stamp=stamp, codes=codes, centre=centre)

    def nearest(self, vectors: np.ndarray) -> list[tuple[int, float]]:
        """For each (unit) vector, the row of its nearest entry and their cosine."""
        if self.large is not None:
            found = []
            for vector in vectors:
                rows = self.large.shortlist(vector, 1, size=SHORTLIST_SIZE)
                scores = np.take(self.matrix, rows, axis=0) @ vector
                best = int(scores.argmax())
                found.append((int(rows[best]), float(scores[best])))
            return found
        scores = vectors @ self.matrix.T
        return [(int(i), float(row[i])) for row, i in zip(scores, scores.argmax(axis=1), strict=True)]

    def translate(self, text: str, lang: str, embedder: Embedder) -> str:
        """The query's content words, each replaced by its nearest English word or phrase (if near
        enough)."""
        own = stopwords(lang)
        words = list(dict.fromkeys(w for w in QUERY_WORD.findall(text) if w.lower() not in own))
        if not words or not self.words:
            return ""
        # a word the English articles use as it is (a name, "cloud") stays; the others are encoded
        # as written (the model tells a German noun from its lower-case form), acronyms ("KI") as
        # words
        english = dict.fromkeys(w.lower() for w in words if w.lower() in self.index)
        foreign = [w.lower() if w.isupper() else w for w in words if w.lower() not in self.index]
        if foreign:
            vectors = np.asarray(embedder.encode(foreign), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            english.update((word, None) for i, score in self.nearest(vectors)
                           if score >= MIN_SIMILARITY for word in self.words[i].split())
        return " ".join(english)


_CACHE: dict[tuple[str, str], Vocabulary] = {}
_LOCK = threading.Lock()


def vocabulary_for(db: Database, model: str) -> Vocabulary:
    """The embedded words of ``model``, reread when the table has changed."""
    stamp = tuple(db.execute("select count(*), coalesce(max(rowid), 0) from vocabulary_vectors")
                  .fetchone())  # no WHERE: the count reads the small index on word
    path = str(db.conn.execute("pragma database_list").fetchone()[2])
    key = (path or f"memory:{id(db.conn)}", model)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached
        rows = db.execute("select word, vector from vocabulary_vectors where model = ? order by rowid",
                          [model]).fetchall()
        matrix = (np.frombuffer(b"".join(r[1] for r in rows), dtype="<f2").reshape(len(rows), -1)
                  .astype(np.float32) if rows else np.zeros((0, 1), dtype=np.float32))
        _CACHE[key] = vocabulary = Vocabulary([r[0] for r in rows], matrix, (stamp[0], stamp[1]))
        return vocabulary
