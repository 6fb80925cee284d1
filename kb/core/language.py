"""Language guesses: a tiny one for short texts (queries: English, French or German by function
words), and py3langid's for article texts in any language."""

from __future__ import annotations

import re
from typing import Any

from kb.core.text import FUNCTION_WORDS

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
ACCENTED = {"fr": set("éèêàçùâîôœ"), "de": set("äöüß")}


def guess_language(text: str) -> str | None:
    """'en', 'fr' or 'de' when the words say so, else None."""
    # a word in capitals is an acronym ("MIT" is no German "mit"), unless the whole text is
    shouting = not any(c.islower() for c in text)
    words = [w.lower() for w in WORD.findall(text) if shouting or len(w) == 1 or not w.isupper()]
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    lowered = text.lower()
    for lang, chars in ACCENTED.items():
        scores[lang] += sum(lowered.count(c) for c in chars)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else None


MIN_LANGID_WORDS = 30
_identifier: Any = None


def detect_language(text: str) -> tuple[str, float] | None:
    """The language of an article's text and py3langid's probability, for 30 words or more (the
    model, about 76 MiB, is loaded on first use)."""
    global _identifier
    sample = " ".join(text.split()[:400])
    if len(sample.split()) < MIN_LANGID_WORDS:
        return None
    if _identifier is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang, prob = _identifier.classify(sample)
    return str(lang), float(prob)
