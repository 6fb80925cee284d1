"""A tiny language guess for short texts (queries): English, French or German by function words."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
FUNCTION_WORDS = {
    "en": set("the and of to in for with on is are was which what who how that from by an".split()),
    "fr": set("le la les des du et pour une un est sont avec dans sur qui que quel quels au aux "
              "par pas ces leur".split()),
    "de": set("der die das und für mit von den dem ein eine zu im auf ist sind wer wie welche "
              "nicht des bei aus".split()),
}
ACCENTED = {"fr": set("éèêàçùâîôœ"), "de": set("äöüß")}


def guess_language(text: str) -> str | None:
    """'en', 'fr' or 'de' when the words say so, else None."""
    # a word in capitals is an acronym ("MIT" is no German "mit"), unless the whole text is
    shouting = not any(c.islower() for c in text)
    words = [w.lower() for w in WORD.findall(text) if shouting or len(w) == 1 or not w.isupper()]
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    for lang, chars in ACCENTED.items():
        scores[lang] += sum(1 for c in text.lower() if c in chars)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else None
