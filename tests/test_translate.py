"""French and German queries put into English words by the multilingual model (kb.enrich.vocabulary)."""

from __future__ import annotations

import pytest

import kb.enrich.vocabulary as translate_module
import kb.search.engine as search_module
from kb.core.language import guess_language
from kb.enrich.embed import MULTILINGUAL_MODEL, get_embedder
from kb.enrich.vocabulary import count_words, embed_words
from kb.search.engine import Fusion, Query, in_english, rank
from kb.search.translate import vocabulary_for
from kb.store.connection import open_db
from kb.store.writes import save_article


@pytest.fixture(scope="module")
def db(demo_db):
    return open_db(demo_db, create=False)


@pytest.fixture(scope="module")
def multilingual():
    return get_embedder(MULTILINGUAL_MODEL)


def test_enrich_embeds_the_english_articles_words_once(db, multilingual):
    vocabulary = vocabulary_for(db, MULTILINGUAL_MODEL)
    assert len(vocabulary.words) > 1000
    assert vocabulary.matrix.shape == (len(vocabulary.words), 512)
    assert "sovereign" in vocabulary.index and "souverain" not in vocabulary.index  # English only
    assert embed_words(db, MULTILINGUAL_MODEL, multilingual, quiet=True) == 0
    assert count_words(db) == 0


def test_the_embedded_words_follow_the_most_widespread(demo_db_copy, multilingual, monkeypatch):
    db = open_db(demo_db_copy)
    monkeypatch.setattr(translate_module, "MAX_WORDS", 40)
    monkeypatch.setattr(translate_module, "MAX_PHRASES", 10)
    embed_words(db, MULTILINGUAL_MODEL, multilingual, quiet=True)
    before = vocabulary_for(db, MULTILINGUAL_MODEL)
    assert len(before.words) == 50 and sum(" " in word for word in before.words) == 10
    newcomer = db.execute("select word from vocabulary where word not in "
                          "(select word from vocabulary_vectors) order by articles desc").fetchone()[0]
    db.execute("update vocabulary set articles = 100000 where word = ?", [newcomer])
    db.conn.commit()
    assert embed_words(db, MULTILINGUAL_MODEL, multilingual, quiet=True) == 1
    after = vocabulary_for(db, MULTILINGUAL_MODEL)  # the reader sees the change
    assert len(after.words) == 50 and newcomer in after.index and after is not before


def test_the_vocabulary_counts_two_word_phrases_within_a_clause(tmp_path):
    db = open_db(tmp_path / "kb.db")
    texts = ["New data centres need export controls. Data, centres and the rest.",
             "Two data centres opened; export controls tightened.", "Des centres de données."]
    for i, text in enumerate(texts):
        save_article(db, {"url": f"https://example.org/{i}", "title": "News", "text": text,
                          "fetched_at": "2026-11-01T00:00:00+00:00", "lang": "fr" if i == 2 else "en"})
    assert count_words(db) == 3
    counts = dict(db.execute("select word, articles from vocabulary").fetchall())
    assert counts["data centres"] == 2 and counts["export controls"] == 2  # per article, not per use
    assert counts["data"] == 2 and "centres de" not in counts and "de données" not in counts  # English only
    assert "controls two" not in counts and "news new" not in counts  # never across a full stop
    assert not any(word.startswith("the ") or word.endswith(" the") for word in counts)  # stop-words
    assert count_words(db) == 0  # nothing new: nothing counted twice


def test_a_german_compound_becomes_an_english_phrase(db, multilingual):
    vocabulary = vocabulary_for(db, MULTILINGUAL_MODEL)
    assert any(" " in word for word in vocabulary.words)
    words = in_english(db, "Meldepflicht für KI-Sicherheitsvorfälle", "de", multilingual).split()
    assert "incidents" in words


def test_german_words_become_their_english_counterparts(db, multilingual):
    words = in_english(db, "Exportkontrollen für die Gewichte von KI-Modellen", "de", multilingual).split()
    assert "export" in words and "models" in words
    assert not {"für", "die", "von"} & set(words)


def test_words_the_english_articles_use_stay_as_written(db, multilingual):
    assert in_english(db, "cloud souverain pour Microsoft", "fr", multilingual).split()[:2] == [
        "cloud", "microsoft"]


def test_an_acronym_is_no_function_word():
    assert guess_language("DeepSeek V4 MIT licence") is None
    assert guess_language("Modelle mit frei herunterladbaren Gewichten") == "de"
    assert guess_language("Die Kennzeichnungspflicht") == "de"
    assert guess_language("OpenAI: Die neue Regel") == "de"
    assert guess_language("DIE REGIERUNG UND KI") == "de"  # all in capitals: words, not acronyms


def test_translated_words_lift_the_english_article_a_german_query_is_about(db):
    def position(weight: float) -> int:  # the words alone: no chips
        ranked = rank(db, Query("Kennzeichnungspflicht für KI-generierte Inhalte", limit=20,
                                fusion=Fusion(translated=weight), interpret=False))
        urls = dict(db.execute("select id, url from articles").fetchall())
        return next(i for i, (aid, _) in enumerate(ranked) if "/b3-china-ai-labels" in urls[aid])

    assert position(search_module.TRANSLATED_WEIGHT) < position(0.0)


def test_a_database_without_word_vectors_still_answers(demo_db_copy, multilingual):
    db = open_db(demo_db_copy)
    db.execute("delete from vocabulary_vectors")
    assert in_english(db, "cloud souverain", "fr", multilingual) == ""
    assert rank(db, Query("cloud souverain pour les administrations", limit=5))
