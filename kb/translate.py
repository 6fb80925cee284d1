"""A French or German query's words in English, so keyword search reaches the English articles.

Each content word of the query goes to the English word nearest it under the multilingual model,
among the words of the English articles (embedded once, by `kb enrich`): "Exportkontrollen für die
Gewichte von KI-Modellen" becomes "export weights models". Hybrid search ranks by those words too;
the multilingual model alone puts articles in the query's language first, relevant or not.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import cache

import numpy as np
from sqlite_utils.db import Database
from tqdm import tqdm

from kb.embed import Embedder, get_embedder
from kb.stages import mark_done, pending

STAGE, VERSION = "vocabulary", "1"
# English words embedded, the most widespread first (20k float16 vectors of 512-d: 20 MB).
MAX_WORDS = 20_000
MIN_ARTICLES = 2
# A query word farther than this from every English word is left out (measured in docs/search.md).
MIN_SIMILARITY = 0.45
ARTICLE_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
QUERY_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
STOPLIST_NAMES = {"en": "English", "fr": "French", "de": "German"}


@cache
def stopwords(lang: str) -> frozenset[str]:
    """Function words of a language (jusText's lists, as used for boilerplate removal)."""
    import justext

    name = STOPLIST_NAMES.get(lang)
    return frozenset(justext.get_stoplist(name)) if name else frozenset()


def count_words(db: Database) -> int:
    """Count, per word, the English articles it occurs in, over articles new or changed since the
    last run (a changed article counts again: the counts only order words for embedding)."""
    todo = pending(db, STAGE, VERSION, columns="a.id, a.title, a.text, a.lang, a.content_hash")
    if not todo:
        return 0
    english = stopwords("en")
    counts: Counter[str] = Counter()
    for article in todo:
        if (article["lang"] or "en") == "en":
            counts.update({w for w in ARTICLE_WORD.findall(f"{article['title']} {article['text']}".lower())
                           if w not in english})
    with db.conn:
        db.conn.executemany("insert into vocabulary (word, articles) values (?, ?) on conflict(word) "
                            "do update set articles = articles + excluded.articles", counts.items())
        mark_done(db, STAGE, VERSION, todo)
    return len(todo)


def embed_words(db: Database, model: str, embedder: Embedder | None = None, *,
                quiet: bool = False) -> int:
    """Embed the most widespread English words not embedded yet, up to MAX_WORDS in all (vectors
    of another model are dropped first; the model loads only when there is work)."""
    with db.conn:
        db.execute("delete from vocabulary_vectors where model != ?", [model])
    have = db.execute("select count(*) from vocabulary_vectors").fetchone()[0]
    words = [r[0] for r in db.execute(
        "select word from vocabulary where articles >= ? and word not in "
        "(select word from vocabulary_vectors) order by articles desc, word limit ?",
        [MIN_ARTICLES, max(0, MAX_WORDS - have)])]
    if not words:
        return 0
    embedder = embedder or get_embedder(model)
    batch = 512
    for start in tqdm(range(0, len(words), batch), desc="embed English words", unit=" batches",
                      disable=True if quiet else None, leave=False):
        chunk = words[start:start + batch]
        vectors = np.asarray(embedder.encode(chunk), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        with db.conn:
            db.conn.executemany(
                "insert into vocabulary_vectors (word, model, vector) values (?, ?, ?)",
                [(w, model, v.astype("<f2").tobytes()) for w, v in zip(chunk, vectors, strict=True)])
    return len(words)


class Vocabulary:
    """The embedded English words, as a matrix for nearest-word lookups."""

    def __init__(self, words: list[str], matrix: np.ndarray, stamp: tuple[int, int]) -> None:
        self.words, self.matrix, self.stamp = words, matrix, stamp
        self.index = set(words)

    def translate(self, text: str, lang: str, embedder: Embedder) -> str:
        """The query's content words, each replaced by its nearest English word (if near enough)."""
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
            scores = vectors @ self.matrix.T
            best = scores.argmax(axis=1)
            english.update((self.words[i], None) for row, i in zip(scores, best, strict=True)
                           if row[i] >= MIN_SIMILARITY)
        return " ".join(english)


_CACHE: dict[tuple[str, str], Vocabulary] = {}
_LOCK = threading.Lock()


def load_vocabulary(db: Database, model: str) -> Vocabulary:
    """The embedded words of ``model``, reread when the table has changed."""
    stamp = tuple(db.execute("select count(*), coalesce(max(rowid), 0) from vocabulary_vectors "
                             "where model = ?", [model]).fetchone())
    key = (str(db.conn.execute("pragma database_list").fetchone()[2]), model)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached
        rows = db.execute("select word, vector from vocabulary_vectors where model = ? order by rowid",
                          [model]).fetchall()
        matrix = (np.frombuffer(b"".join(r[1] for r in rows), dtype="<f2").reshape(len(rows), -1)
                  .astype(np.float32) if rows else np.zeros((0, 1), dtype=np.float32))
        _CACHE[key] = vocabulary = Vocabulary([r[0] for r in rows], matrix, stamp)  # type: ignore[arg-type]
        return vocabulary
