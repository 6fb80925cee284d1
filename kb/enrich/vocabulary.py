"""The vocabulary stage: the English articles' words and two-word phrases, counted and embedded with
the multilingual model, so that kb.search.translate can put a French or German query's words into
English. A German compound is often an English phrase ("Sicherheitsvorfälle", "safety incidents";
"Trainingsdaten", "training data"), nearer to it than to either word alone."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np
from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.core.text import stopwords
from kb.enrich.embed import Embedder, get_embedder
from kb.store.stages import mark_done, pending

STAGE, VERSION = "vocabulary", "1"
PHRASE_STAGE, PHRASE_VERSION = "vocabulary:phrases", "1"  # counted apart: words are not counted twice
# English words and phrases embedded, the most widespread first (20k and 10k float16 vectors of 512-d:
# 30 MB).
MAX_WORDS = 20_000
MAX_PHRASES = 10_000
MIN_ARTICLES = 2
ARTICLE_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
# Two words with nothing but a space between them (overlapping: "data centre capacity" gives two).
ARTICLE_PHRASE = re.compile(r"(?<![^\W\d_])(?=([^\W\d_]{2,}) ([^\W\d_]{2,})(?![^\W\d_]))", re.UNICODE)


def count_words(db: Database, batch: int = 1000) -> int:
    """Count, per word and per two-word phrase (neither word a stop-word), the English articles it
    occurs in, over articles new or changed since the last run, a batch at a time. Counts are only
    added to: a changed article counts again and a deleted one is not taken off, which shifts the
    order of words to embed, little else."""
    english = stopwords("en")

    def words(text: str) -> set[str]:
        return {w for w in ARTICLE_WORD.findall(text) if w not in english}

    def phrases(text: str) -> set[str]:
        return {f"{a} {b}" for a, b in ARTICLE_PHRASE.findall(text) if a not in english and b not in english}

    done = _count(db, STAGE, VERSION, words, batch)
    _count(db, PHRASE_STAGE, PHRASE_VERSION, phrases, batch)
    return done


def _count(db: Database, stage: str, version: str, terms: Callable[[str], set[str]], batch: int) -> int:
    todo = pending(db, stage, version, columns="a.id, a.lang, a.content_hash")
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        ids = [a["id"] for a in chunk if (a["lang"] or "en") == "en"]
        counts: Counter[str] = Counter()
        for title, text in db.execute(f"select title, text from articles where id in "
                                      f"({','.join('?' * len(ids))})", ids) if ids else ():
            counts.update(terms(f"{title}. {text}".lower()))
        with db.conn:
            db.conn.executemany("insert into vocabulary (word, articles) values (?, ?) on conflict(word) "
                                "do update set articles = articles + excluded.articles", counts.items())
            mark_done(db, stage, version, chunk)
    return len(todo)


def embed_words(db: Database, model: str, embedder: Embedder | None = None, *,
                quiet: bool = False) -> int:
    """Keep vectors for the MAX_WORDS most widespread English words and MAX_PHRASES phrases: embed
    those missing, drop those that fell out of the top and any of another model (the model loads
    only when there is work). Returns how many were embedded."""
    top = [r[0] for kind, most in (("=", MAX_WORDS), (">", MAX_PHRASES)) for r in db.execute(
        f"select word from vocabulary where articles >= ? and instr(word, ' ') {kind} 0 "
        "order by articles desc, word limit ?", [MIN_ARTICLES, most])]
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
    start = 0
    for chunk in in_batches(words, batch, desc="embed English words", unit="words", quiet=quiet):
        vectors = np.asarray(embedder.encode(list(chunk)), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        with db.conn:
            db.conn.executemany(
                "insert into vocabulary_vectors (rowid, word, model, vector) values (?, ?, ?, ?)",
                [(next_rowid + start + i, w, model, v.astype("<f2").tobytes())
                 for i, (w, v) in enumerate(zip(chunk, vectors, strict=True))])
        start += len(chunk)
    return len(words)
