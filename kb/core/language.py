"""A tiny language guess for short texts (queries): English, French or German by function words."""

from __future__ import annotations

import re

from kb.core.text import FUNCTION_WORDS

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
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
