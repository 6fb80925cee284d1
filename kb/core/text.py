"""Words and sentences: the one sentence splitter and the one source of stop words.

- ``FUNCTION_WORDS``, per language: the words that tell English, French and German apart
  (kb.core.language);
- ``QUERY_STOPWORDS``: the words a keyword query drops when they stand alone (kb.search);
- ``function_words()``: both, for the languages asked, as the summaries stage uses them;
- ``stopwords(lang)``: jusText's longer lists, for a query's words before translation and for the
  vocabulary of English words.
"""

from __future__ import annotations

import re
from functools import cache

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in for with on is are was which what who how that from by an".split()),
    "fr": frozenset("le la les des du et pour une un est sont avec dans sur qui que quel quels au aux "
                    "par pas ces leur".split()),
    "de": frozenset("der die das und für mit von den dem ein eine zu im auf ist sind wer wie welche "
                    "nicht des bei aus".split()),
}
QUERY_STOPWORDS = frozenset("""a an and are as at be by for from has have how in is it its of on or that
    the their this to was were what which who why will with le la les de des du et en un une der die das
    und ein eine im mit von zu""".split())
STOPLIST_NAMES = {"en": "English", "fr": "French", "de": "German"}


def function_words(*langs: str) -> frozenset[str]:
    """The function and query stop words of the given languages (all three when none are given)."""
    chosen = langs or tuple(FUNCTION_WORDS)
    return QUERY_STOPWORDS.union(*(FUNCTION_WORDS[lang] for lang in chosen))


@cache
def stopwords(lang: str) -> frozenset[str]:
    """jusText's stop-word list of a language (empty for one it lacks)."""
    import justext

    name = STOPLIST_NAMES.get(lang)
    return frozenset(justext.get_stoplist(name)) if name else frozenset()


# A sentence ends at . ! or ? (with any closing quotes or brackets) before white space, or at a blank
# line; abbreviations such as 'Mrd.', 'Inc.' or 'U.S.' and initials ('J. Smith') do not end one.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]++[\"»”’)\]]*+\s+|\n[ \t]*+\n")
_LAST_TOKEN = re.compile(r"([\w.]+)$")
ABBREVIATIONS = frozenset("""mrd mio md mds tsd dr mr mrs ms st inc corp co ltd no nr vs etc bzw ca
    z.b u.a jr sr prof approx fig jan feb mar apr jun jul aug sep sept oct nov dec u.s e.g i.e s.a n.v
    mme m""".split())
# Single capitals that name a round or class ('Series B. The ...') rather than a person's initial.
_LETTER_LABELS = frozenset(["series", "serie", "série", "class", "round", "tier", "phase", "type", "plan"])


def _is_boundary(text: str, m: re.Match[str]) -> bool:
    if m.group().startswith("\n"):
        return True
    nxt = text[m.end(): m.end() + 1]
    if nxt and nxt.islower():
        return False
    token = _LAST_TOKEN.search(text, max(0, m.start() - 12), m.start())
    if not token:
        return True
    word = token.group(1)
    if len(word) == 1 and word.isupper():  # an initial, unless it names a round or class
        before = _LAST_TOKEN.search(text, max(0, m.start() - 12), m.start() - 2)
        return bool(before and before.group(1).lower() in _LETTER_LABELS)
    return word.lower() not in ABBREVIATIONS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``."""
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if _is_boundary(text, m):
            if text[start: m.start() + 1].strip():
                spans.append((start, m.start() + 1))
            start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped."""
    return [text[s:e].strip() for s, e in sentence_spans(text or "")]
