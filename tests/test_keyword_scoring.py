"""Keyword scoring leaves out terms in most articles (FTS5 floors their IDF) but still filters by them."""

from __future__ import annotations

import random

import pytest

from kb.search.engine import Filters, _capped_ranking, scoring_terms, term_shares
from kb.store.connection import open_db


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    rng = random.Random(5)
    db = open_db(tmp_path_factory.mktemp("kw") / "kw.db")
    db["sources"].insert_all([{"id": s, "name": s, "feed_url": f"https://{s}.example/feed"}
                              for s in ("north", "south")], pk="id", alter=True)
    articles = []
    for i in range(3000):
        words = [rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(60)]
        words += ["common"] * rng.randint(1, 4) if rng.random() < 0.8 else []
        words += ["rare"] * rng.randint(1, 3) if rng.random() < 0.1 else []
        rng.shuffle(words)
        articles.append({"url": f"https://kw.example/{i}", "title": " ".join(words[:6]),
                         "text": " ".join(words), "source_id": rng.choice(["north", "south"]),
                         "lang": "en", "content_hash": f"h{i}", "published_at": "2026-11-01T00:00:00+00:00"})
    db["articles"].insert_all(articles, alter=True)
    return db


def test_shares_are_estimated_from_the_latest_articles(db):
    shares = term_shares(db, ['"common"', '"rare"', '"absent"'], 3000)
    assert 0.7 < shares['"common"'] < 0.9 and 0.05 < shares['"rare"'] < 0.15
    assert shares['"absent"'] == 0


def test_only_terms_in_over_half_the_articles_are_left_out_and_only_when_it_pays():
    shares = {'"a"': 0.95, '"b"': 0.9, '"c"': 0.1, '"d"': 0.4}
    assert scoring_terms(list(shares), shares, 1_000_000) == ['"c"', '"d"']
    assert scoring_terms(['"a"', '"b"'], shares, 1_000_000) == ['"b"']  # the rarest always scores
    # 3,000 articles: reading the short lists costs less than stepping through the extra matches
    assert scoring_terms(['"a"', '"b"'], shares, 3_000) == ['"a"', '"b"']


@pytest.mark.parametrize("filters", [Filters(), Filters(source="north")])
def test_scoring_without_a_floored_term_ranks_alike_and_still_requires_it(db, filters):
    expr = '"common" "rare"'
    full = _capped_ranking(db, expr, filters, 50)
    lean = _capped_ranking(db, expr, filters, 50, '"rare"')
    assert len(lean) == len(full) > 20
    assert [s for _, s in lean] == pytest.approx([s for _, s in full], abs=1e-4)
    texts = dict(db.execute("select id, text || ' ' || title from articles").fetchall())
    assert all("common" in texts[aid] and "rare" in texts[aid] for aid, _ in lean)
    sources = dict(db.execute("select id, source_id from articles").fetchall())
    if filters.source:
        assert {sources[aid] for aid, _ in lean} == {"north"}
