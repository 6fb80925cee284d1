"""A French or German query's words in English, so keyword search reaches the English articles.

Each content word of the query goes to the English word nearest it under the multilingual model,
among the words of the English articles (embedded once, by `kb enrich`): "Exportkontrollen für die
Gewichte von KI-Modellen" becomes "export weight ai models". Hybrid search ranks by those words too;
the multilingual model alone puts articles in the query's language first, relevant or not.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import cache

import numpy as np
from sqlite_utils.db import Database
from sqlite_utils.utils import sqlite3
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


def count_words(db: Database, batch: int = 1000) -> int:
    """Count, per word, the English articles it occurs in, over articles new or changed since the
    last run, a batch at a time. Counts are only added to: a changed article counts again and a
    deleted one is not taken off, which shifts the order of words to embed, little else."""
    todo = pending(db, STAGE, VERSION, columns="a.id, a.lang, a.content_hash")
    english = stopwords("en")
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        ids = [a["id"] for a in chunk if (a["lang"] or "en") == "en"]
        counts: Counter[str] = Counter()
        for title, text in db.execute(f"select title, text from articles where id in "
                                      f"({','.join('?' * len(ids))})", ids) if ids else ():
            counts.update({w for w in ARTICLE_WORD.findall(f"{title} {text}".lower()) if w not in english})
        with db.conn:
            db.conn.executemany("insert into vocabulary (word, articles) values (?, ?) on conflict(word) "
                                "do update set articles = articles + excluded.articles", counts.items())
            mark_done(db, STAGE, VERSION, chunk)
    return len(todo)


def embed_words(db: Database, model: str, embedder: Embedder | None = None, *,
                quiet: bool = False) -> int:
    """Keep vectors for the MAX_WORDS most widespread English words: embed those missing, drop
    those that fell out of the top and any of another model (the model loads only when there is
    work). Returns how many were embedded."""
    top = [r[0] for r in db.execute(
        "select word from vocabulary where articles >= ? order by articles desc, word limit ?",
        [MIN_ARTICLES, MAX_WORDS])]
    have = {r[0] for r in db.execute("select word from vocabulary_vectors where model = ?", [model])}
    wanted = set(top)
    # rowids only grow (none is reused after a delete), so (count, max rowid) tells readers of change
    next_rowid = db.execute("select coalesce(max(rowid), 0) + 1 from vocabulary_vectors").fetchone()[0]
    with db.conn:
        db.execute("delete from vocabulary_vectors where model != ?", [model])
        db.conn.executemany("delete from vocabulary_vectors where word = ?",
                            [(w,) for w in have - wanted])
    words = [w for w in top if w not in have]
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
                "insert into vocabulary_vectors (rowid, word, model, vector) values (?, ?, ?, ?)",
                [(next_rowid + start + i, w, model, v.astype("<f2").tobytes())
                 for i, (w, v) in enumerate(zip(chunk, vectors, strict=True))])
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


def vocabulary_for(db: Database, model: str) -> Vocabulary | None:
    """The embedded words of ``model``, reread when the table has changed; None for a database
    from before them."""
    try:
        stamp = tuple(db.execute("select count(*), coalesce(max(rowid), 0) from vocabulary_vectors")
                      .fetchone())  # no WHERE: the count reads the small index on word
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise  # an interrupted query (the web's time limit) is not a missing table
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
        _CACHE[key] = vocabulary = Vocabulary([r[0] for r in rows], matrix, stamp)  # type: ignore[arg-type]
        return vocabulary
