"""The summaries stage: two or three sentences chosen from the article, never generated text.

Sentences are scored by how many of the article's salient words (frequent, not stop-words, and
those of the title count double) they hold, with a bonus for coming early; the best two or three,
up to about 70 words, are kept in their original order.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.core.text import function_words, sentences
from kb.store.stages import delete_for, mark_done, pending

STAGE = "summaries"
VERSION = "extractive-2"
MAX_WORDS = 70
WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
STOP = function_words()
MIN_SENTENCE_WORDS = 5


def split_sentences(text: str) -> list[str]:
    """The article's sentences of at least five words (shorter ones are captions and datelines)."""
    return [s for s in sentences(text) if len(s.split()) >= MIN_SENTENCE_WORDS]


def summarize(title: str, text: str) -> str:
    sentences = split_sentences(text)
    if not sentences:
        return " ".join((text or "").split()[:MAX_WORDS])
    words = Counter(w.lower() for w in WORD.findall(text) if w.lower() not in STOP)
    for w in WORD.findall(title or ""):
        if w.lower() not in STOP:
            words[w.lower()] += 3

    def score(i: int, s: str) -> float:
        tokens = [w.lower() for w in WORD.findall(s)]
        salience = sum(words[t] for t in set(tokens)) / (len(tokens) ** 0.5 + 1)
        return salience * (1.6 if i == 0 else 1.0 / (1 + 0.08 * i))

    ranked = sorted(range(len(sentences)), key=lambda i: -score(i, sentences[i]))
    chosen: list[int] = []
    total = 0
    for i in ranked:
        n = len(sentences[i].split())
        if chosen and total + n > MAX_WORDS:
            continue
        chosen.append(i)
        total += n
        if len(chosen) == 3:
            break
    return " ".join(sentences[i] for i in sorted(chosen))


def summarize_articles(db: Database, *, quiet: bool = False) -> int:
    todo = pending(db, STAGE, VERSION)
    for batch in in_batches(todo, 500, desc=STAGE, quiet=quiet):
        with db.conn:
            delete_for(db, "article_summaries", [a["id"] for a in batch])
            db.table("article_summaries").insert_all(
                {"article_id": a["id"], "summary": summarize(a["title"], a["text"]),
                 "method": VERSION} for a in batch)
            mark_done(db, STAGE, VERSION, batch)
    return len(todo)
