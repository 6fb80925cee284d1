"""Keyword (FTS5 BM25), semantic (embeddings) and hybrid (rank fusion) search: the one implementation
that `kb search`, the Datasette search page and the digest share."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
from sqlite_utils.db import Database

from kb.core.errors import KbError
from kb.core.language import guess_language
from kb.core.text import QUERY_STOPWORDS
from kb.enrich.embed import Embedder, get_embedder, model_for
from kb.search.filters import Filters
from kb.search.interpret import Interpretation, facts_ranking, interpret
from kb.search.translate import vocabulary_for
from kb.search.vectors import load_index

MODES = ("keyword", "semantic", "hybrid")
SORTS = ("relevance", "newest", "oldest")
# Results are ranked this deep at most (page 50 of 20); sorted by date, the best SORT_POOL are.
MAX_DEPTH = 1000
SORT_POOL = 200
# Hybrid results end where the fused score falls below half the best one: the largest share (in
# steps of 0.05) that leaves nDCG@10 and recall@20 unchanged on the labelled queries (it drops
# 46% of the top 100 on the sample; 0.6 starts to cost). Measured in docs/search.md.
CUT_OFF = 0.5
MAX_QUERY_CHARS = 2000
MAX_TERMS = 24
TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT = 4.0, 1.5, 1.0
RRF_K = 60
CANDIDATES = 100
# BM25 is computed for every match; past this many, only the most recent matches are ranked.
CANDIDATE_CAP = 2000
# How common a term is, is estimated over this many of the latest articles.
SHARE_WINDOW = 1000
# FTS5's bm25 floors the IDF of a term in more than half the articles at 1e-6; shares are estimated
# over the latest 1,000 articles (standard error under 0.016), so a term counts as floored above this.
COMMON_SHARE = 0.55
# bm25 reads a term's posting list for its IDF at about 56 ns an article, and FTS5 steps through a
# match in about 700 ns (measured at 100k articles, docs/search.md): what `scoring_terms` weighs.
IDF_NS, ROW_NS = 56, 700
# Fusion weights per channel: BM25, MiniLM (English), the Universal Sentence Encoder (multilingual)
# and multilingual-e5 (crosslingual). An English query fuses BM25, MiniLM and e5; a French or German
# one leans on the two multilingual models, since its words rarely occur in the English articles
# that answer it. Chosen on the sample's labelled queries and measured in docs/search.md.
ROLES = ("primary", "multilingual", "crosslingual")
ENGLISH_WEIGHTS = {"keyword": 1.0, "primary": 0.6, "multilingual": 0.0, "crosslingual": 0.3}
OTHER_LANGUAGE_WEIGHTS = {"keyword": 0.3, "primary": 0.0, "multilingual": 1.0, "crosslingual": 0.6}
# A French or German query's words put into English (kb.enrich.vocabulary) rank by BM25 too.
TRANSLATED_WEIGHT = 0.6
# The articles whose stored rows satisfy what the query asks for (kb.search.interpret).
FACTS_WEIGHT = 1.0


@dataclass(frozen=True)
class Fusion:
    """The weights of hybrid search's channels (an evaluation compares other settings)."""

    english: Mapping[str, float] = field(default_factory=lambda: ENGLISH_WEIGHTS)
    other: Mapping[str, float] = field(default_factory=lambda: OTHER_LANGUAGE_WEIGHTS)
    translated: float = TRANSLATED_WEIGHT
    facts: float = FACTS_WEIGHT
MARK_START, MARK_END = "\x02", "\x03"
STOPWORDS = QUERY_STOPWORDS
TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WORD = re.compile(r"\w+", re.UNICODE)


class SearchError(KbError):
    """A query that cannot be answered (empty, or an unknown mode)."""


@dataclass
class Query:
    text: str
    mode: str = "hybrid"
    limit: int = 10
    filters: Filters = field(default_factory=Filters)
    interpret: bool = True  # read vendors, topics, places, amounts, dates and facts in the query
    off: tuple[str, ...] = ()  # chips switched off by the user ("topic:funding", or "all")
    fusion: Fusion = field(default_factory=Fusion)
    sort: str = "relevance"  # or "newest", "oldest"
    offset: int = 0  # results skipped: (page - 1) * limit


@dataclass
class Ranking:
    """A search's ranked article ids with what the query was read as."""

    ranked: list[tuple[int, float]]
    interpretation: Interpretation
    browse: bool = False  # the query was nothing but chips: they filtered, newest first
    used_chips: bool = False  # the chips' channel took part in the fusion
    without_chips: int | None = None  # how many results the query gives with its chips off
    matches: int | None = None  # a browse: how many articles match its filters
    total: int | None = None  # results on every page together (a browse: its matches)


def query_terms(text: str) -> list[str]:
    """The query as quoted FTS5 terms and phrases, with `OR` kept and stray syntax neutralised."""
    parts: list[str] = []
    for phrase, token in TOKEN.findall(text[:MAX_QUERY_CHARS]):
        if token == "OR" and parts and parts[-1] != "OR":
            parts.append("OR")
            continue
        words = WORD.findall(phrase if phrase else token)
        if not words:
            continue
        if not phrase and len(words) == 1 and words[0].lower() in STOPWORDS:
            continue
        parts.append('"' + " ".join(words) + '"')
        if len(parts) >= MAX_TERMS:
            break
    while parts and parts[-1] == "OR":
        parts.pop()
    return parts


def fts_expression(text: str, *, any_term: bool = False) -> str | None:
    """A safe FTS5 expression: every term quoted, `OR` kept, stray syntax neutralised."""
    parts = query_terms(text)
    if not parts:
        return None
    return " OR ".join(p for p in parts if p != "OR") if any_term else " ".join(parts)


def _matches(db: Database, expr: str, filters: Filters, select: str, tail: str,
             params: list[Any]) -> list[tuple]:
    """Rows of the FTS index matching ``expr``; joined to articles only when a filter needs it."""
    where, filter_params = filters.sql()
    if where:
        sql = (f"select {select} from articles_fts join articles a on a.id = articles_fts.rowid "
               f"where articles_fts match ? and {where} {tail}")
        return db.execute(sql, [expr, *filter_params, *params]).fetchall()
    return db.execute(f"select {select} from articles_fts where articles_fts match ? {tail}",
                      [expr, *params]).fetchall()


def _capped_ranking(db: Database, expr: str, filters: Filters, limit: int,
                    rank_expr: str | None = None) -> list[tuple[int, float]]:
    """BM25 over at most CANDIDATE_CAP matches, the most recent ones (highest rowids) when there
    are more: a query of common words then costs what a rare one does. ``rank_expr``, when given,
    scores the matches of ``expr`` by fewer of its terms (see ``scoring_terms``)."""
    floor = _matches(db, expr, filters, "articles_fts.rowid", "order by articles_fts.rowid desc "
                     "limit 1 offset ?", [CANDIDATE_CAP - 1])
    bound, low = ("and articles_fts.rowid >= ? ", [floor[0][0]]) if floor else ("", [])
    bm25 = f"bm25(articles_fts, {TITLE_WEIGHT}, {SUMMARY_WEIGHT}, {TEXT_WEIGHT})"
    if not rank_expr or rank_expr == expr:
        rows = _matches(db, expr, filters, f"articles_fts.rowid, {bm25} as r",
                        f"{bound}order by r limit ?", [*low, limit])
    else:  # the unary + keeps SQLite from handing the IN list to FTS5 one rowid at a time
        where, params = filters.sql()
        matching = (f"select articles_fts.rowid from articles_fts "
                    f"{'join articles a on a.id = articles_fts.rowid ' if where else ''}"
                    f"where articles_fts match ? {'and ' + where if where else ''} {bound}")
        rows = db.execute(f"select articles_fts.rowid, {bm25} as r from articles_fts where articles_fts "
                          f"match ? {bound}and +articles_fts.rowid in ({matching}) order by r limit ?",
                          [rank_expr, *low, expr, *params, *low, limit]).fetchall()
    return [(int(aid), -score) for aid, score in rows]


def term_shares(db: Database, terms: list[str], top: int) -> dict[str, float]:
    """The share of articles each term occurs in, estimated over the latest SHARE_WINDOW articles
    up to rowid ``top`` (a count over a rowid range reads a sliver of each posting list)."""
    low = max(0, top - SHARE_WINDOW)
    span = max(1, top - low)
    return {t: db.execute("select count(*) from articles_fts where articles_fts match ? and rowid > ?",
                          [t, low]).fetchone()[0] / span for t in dict.fromkeys(terms)}


def scoring_terms(words: list[str], shares: dict[str, float], articles: int) -> list[str]:
    """The terms to score matches by. FTS5's bm25 gives a term in over half the articles an IDF of
    1e-6, next to which a rarer term's (0.4 and up) is all that counts, yet bm25 reads the common
    term's whole posting list to learn that. Such a term is left out of the scoring (it still
    filters) when reading its list would cost more than stepping through the extra matches its
    absence lets in. When every term is that common, FTS5 would weigh them all alike at 1e-6; the
    rarest one then scores alone, ordering the candidates by its frequency instead of their sum."""
    candidates = min(CANDIDATE_CAP, articles * prod(shares[t] for t in words))
    kept, dropped_share = list(words), 1.0
    for term in sorted((t for t in words if shares[t] > COMMON_SHARE), key=lambda t: -shares[t]):
        if len(kept) == 1:
            break
        saved = IDF_NS * articles * shares[term]
        added = ROW_NS * candidates * (1 / (dropped_share * shares[term]) - 1 / dropped_share)
        if dropped_share == 1:  # the matches are then read twice: once to filter, once to score
            added += ROW_NS * candidates
        if saved <= added:
            break
        kept.remove(term)
        dropped_share *= shares[term]
    return kept


def _selective_terms(terms: list[str], shares: dict[str, float], articles: int) -> list[str]:
    """For the any-term pass: drop terms matching more than CANDIDATE_CAP articles when some term
    is rarer (such words add little to BM25 and would crowd the capped candidates)."""
    rare = [t for t in terms if shares[t] * articles < CANDIDATE_CAP]
    return rare or terms


def keyword_ranking(db: Database, text: str, filters: Filters, limit: int) -> list[tuple[int, float]]:
    """BM25 with the title weighted above summary and body; all terms first, then any term."""
    terms = query_terms(text)
    if not terms:
        return []
    words = [t for t in terms if t != "OR"]
    articles = db.execute("select max(rowid) from articles").fetchone()[0] or 0  # deletions are rare
    shares = term_shares(db, words, articles)
    rank_expr = None if "OR" in terms else " ".join(scoring_terms(words, shares, articles))
    ranked = _capped_ranking(db, " ".join(terms), filters, limit, rank_expr)
    if len(ranked) < limit and (len(words) > 1 or "OR" in terms):
        seen = {aid for aid, _ in ranked}
        expr = " OR ".join(_selective_terms(words, shares, articles))
        ranked += [(aid, score) for aid, score in _capped_ranking(db, expr, filters, limit)
                   if aid not in seen]
    return ranked[:limit]


def semantic_job(db: Database, text: str, filters: Filters, limit: int,
                 embedder: Embedder) -> Callable[[], list[tuple[int, float]]]:
    """Articles by their best passage's cosine similarity under one model, in two parts: the
    database reads now, and the rest (encoding the query, scanning the vectors: no database, and
    numpy and onnxruntime release the GIL) as a function another thread may run meanwhile."""
    index = load_index(db, embedder.name)
    allowed = None
    if filters.active():
        where, params = filters.sql()
        allowed = {r[0] for r in db.execute(f"select a.id from articles a where {where}", params)}
    return lambda: index.search(query_vector(embedder, text[:MAX_QUERY_CHARS]), limit=limit,
                                allowed=allowed)


_SEMANTIC_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-semantic")
_VECTORS: OrderedDict[tuple[str, str, str, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()
VECTOR_CACHE_SIZE = 512


def forget_query_vectors() -> None:
    """Drop the kept query vectors (benchmarks time each query's encoding)."""
    with _VECTORS_LOCK:
        _VECTORS.clear()


def query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """A query's vector, kept for its next asking (the least recently asked go first): a saved
    search's feed is polled again and again, and changing a filter or the mode asks the same words."""
    key = (type(embedder).__name__, embedder.name, str(getattr(embedder, "path", "")), text)
    with _VECTORS_LOCK:
        if key in _VECTORS:
            _VECTORS.move_to_end(key)
            return _VECTORS[key]
    vector = np.asarray(embedder.encode_query(text), dtype=np.float32)
    vector.flags.writeable = False
    with _VECTORS_LOCK:
        _VECTORS[key] = vector
        while len(_VECTORS) > VECTOR_CACHE_SIZE:
            _VECTORS.popitem(last=False)
    return vector


def _embedders(db: Database, given: dict[str, Embedder] | None) -> dict[str, Embedder]:
    """The embedder of each role that has vectors in this database (given ones take precedence)."""
    out: dict[str, Embedder] = {}
    for role in ROLES:
        if given and role in given:
            out[role] = given[role]
        elif model := model_for(db, role):
            out[role] = get_embedder(model)
    return out


def fuse(rankings: list[list[tuple[int, float]]], *, k: int = RRF_K,
         weights: list[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for rank, (aid, _) in enumerate(ranking):
            scores[aid] = scores.get(aid, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def interpretation_of(query: Query) -> Interpretation:
    """The chips of a hybrid query the user left on (none in the single modes, or when off)."""
    text = " ".join(query.text.split())
    if query.mode != "hybrid" or not query.interpret or "all" in query.off:
        return Interpretation(text)
    return interpret(text[:MAX_QUERY_CHARS]).without(query.off)


def rank(db: Database, query: Query, *,
         embedders: dict[str, Embedder] | None = None) -> list[tuple[int, float]]:
    """Article ids and scores, best first."""
    return rank_explained(db, query, embedders=embedders).ranked


def browse(db: Database, filters: Filters, limit: int, *, offset: int = 0, oldest: bool = False,
           matches: int | None = None) -> list[tuple[int, float]]:
    """The articles matching the filters, newest first (or oldest first). With many matches
    (``matches`` past MAX_DEPTH) the articles are read in date order through its index, each
    tested; with few, the matches are listed and sorted."""
    many = (matches if matches is not None else count_matching(db, filters)) > MAX_DEPTH
    where, params = filters.sql(correlated=many)
    order = "asc" if oldest else "desc"
    rows = db.execute(f"select a.id from articles a {'where ' + where if where else ''} "
                      f"order by a.published_at {order}, a.id {order} limit ? offset ?",
                      [*params, limit, offset]).fetchall()
    return [(aid, 0.0) for aid in dict.fromkeys(aid for (aid,) in rows)]


def count_matching(db: Database, filters: Filters, expr: str | None = None) -> int:
    """How many articles match the filters (and the FTS expression, when given), counted up to
    MAX_DEPTH + 1: past that, "more than MAX_DEPTH" is all a page needs."""
    cap = MAX_DEPTH + 1
    if expr:
        return len(_matches(db, expr, filters, "articles_fts.rowid", "limit ?", [cap]))
    where, params = filters.sql()
    return int(db.execute(f"select count(*) from (select 1 from articles a "
                          f"{'where ' + where if where else ''} limit ?)", [*params, cap]).fetchone()[0])


def rank_explained(db: Database, query: Query, *,
                   embedders: dict[str, Embedder] | None = None) -> Ranking:
    """The page of results ``query`` asks for (``offset``, ``limit``, ``sort``), with how it was
    read: a query without words browses its filters; a query of nothing but chips browses with
    them as filters; one that asks for a set of facts gets the chips' channel in its fusion."""
    text = " ".join(query.text.split())
    if query.mode not in MODES:
        raise SearchError(f"unknown mode {query.mode!r} (use keyword, semantic or hybrid)")
    if query.sort not in SORTS:
        raise SearchError(f"unknown sort {query.sort!r} (use relevance, newest or oldest)")
    if not text:
        if not query.filters.active():
            raise SearchError("the query is empty: give words, or a filter to browse by")
        matches = count_matching(db, query.filters)
        found = browse(db, query.filters, query.limit, offset=query.offset, oldest=query.sort == "oldest",
                       matches=matches)
        return Ranking(found, Interpretation(text), browse=True, matches=matches, total=matches)
    reading = interpretation_of(query)
    if reading.only_filters():
        filters = reading.as_filters(query.filters)
        matches = count_matching(db, filters)
        return Ranking(browse(db, filters, query.limit, offset=query.offset, oldest=query.sort == "oldest",
                              matches=matches),
                       reading, browse=True, matches=matches, total=matches,
                       without_chips=count_matching(db, query.filters, fts_expression(text, any_term=True)))
    depth = min(MAX_DEPTH, query.offset + query.limit)
    if query.sort != "relevance":  # the relevant articles, however far down, then by date
        depth = max(depth, SORT_POOL)
    result = _ranked(db, query, text, reading, depth, embedders)
    if query.sort != "relevance":
        dates = dict(db.execute(f"select id, published_at from articles where id in "
                                f"({','.join('?' * len(result.ranked))})", [a for a, _ in result.ranked]))
        result.ranked.sort(key=lambda pair: dates.get(pair[0]) or "", reverse=query.sort == "newest")
    result.total = len(result.ranked)
    result.ranked = result.ranked[query.offset:query.offset + query.limit]
    return result


def _ranked(db: Database, query: Query, text: str, reading: Interpretation, depth: int,
            embedders: dict[str, Embedder] | None) -> Ranking:
    """The best ``depth`` articles by relevance (hybrid: fused, spread over stories and cut off
    where the score falls below CUT_OFF of the best)."""
    if query.mode == "keyword":
        return Ranking(keyword_ranking(db, text, query.filters, depth), reading)
    models = _embedders(db, embedders)
    if not models:
        raise SearchError("no embeddings yet: run 'kb enrich' first, or use --mode keyword")
    candidates = max(depth, CANDIDATES)
    lang = guess_language(text)
    english = lang in (None, "en")
    table = dict(query.fusion.english if english else query.fusion.other)
    if not any(table[role] for role in models):  # only the English model: it answers every query
        table["primary"] = 1.0
    jobs, weights = [], []
    for role in ROLES:
        if role in models and table[role]:
            jobs.append(semantic_job(db, text, query.filters, candidates, models[role]))
            weights.append(table[role])
    if query.mode == "hybrid":  # the semantic part on the pool while this thread ranks by keywords
        pending = [_SEMANTIC_POOL.submit(job) for job in jobs]
        keyword = keyword_ranking(db, text, query.filters, candidates)
        rankings = [f.result() for f in pending] + [keyword]
        weights.append(table["keyword"])
        if not english and query.fusion.translated and "multilingual" in models and (
                words := in_english(db, text, lang, models["multilingual"])):
            rankings.append(keyword_ranking(db, words, query.filters, candidates))
            weights.append(query.fusion.translated)
    else:
        rankings = [job() for job in jobs]
    ranked = rankings[0] if len(rankings) == 1 else fuse(rankings, weights=weights)
    result = Ranking(ranked, reading)
    if query.mode != "hybrid":
        result.ranked = ranked[:depth]
        return result
    if query.fusion.facts and reading.selects_a_set() and (
            facts := facts_ranking(db, reading, query.filters, [aid for aid, _ in ranked[:CANDIDATES]])):
        result.without_chips = len(_spread_and_cut(db, ranked, depth, query.filters))
        result.ranked = fuse([*rankings, facts], weights=[*weights, query.fusion.facts])
        result.used_chips = True
    result.ranked = _spread_and_cut(db, result.ranked, depth, query.filters)
    return result


def _spread_and_cut(db: Database, ranked: list[tuple[int, float]], depth: int,
                    filters: Filters) -> list[tuple[int, float]]:
    """Hybrid's last steps: a story's articles spread after its best, then the cut-off."""
    return cut_off(spread_over_stories(db, ranked[:depth], filters))[:depth]


def cut_off(ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The results down to where the fused score falls below CUT_OFF of the best one."""
    if not ranked:
        return ranked
    floor = CUT_OFF * ranked[0][1]
    return [pair for pair in ranked if pair[1] >= floor]


def in_english(db: Database, text: str, lang: str | None, embedder: Embedder) -> str:
    """The query's words put into English by the nearest-word vectors `kb enrich` stored ("" when
    there are none, as in a database from before them)."""
    vocabulary = vocabulary_for(db, embedder.name)
    return vocabulary.translate(text[:MAX_QUERY_CHARS], lang or "", embedder) if vocabulary else ""


def spread_over_stories(db: Database, ranked: list[tuple[int, float]],
                        filters: Filters) -> list[tuple[int, float]]:
    """Give every article of a story the score of its best-ranked article.

    Outlets covering one event often share few words (or no language) with the query, yet are
    as relevant as the one that matched; they rank just after it. Filters still apply to them."""
    if not ranked:
        return ranked
    marks = ",".join("?" * len(ranked))
    sql = (f"select s.story_id, s.article_id from story_articles s where s.story_id in "
           f"(select story_id from story_articles where article_id in ({marks}))")
    params: list[Any] = [aid for aid, _ in ranked]
    if filters.active():
        where, extra = filters.sql()
        sql += f" and s.article_id in (select a.id from articles a where {where})"
        params += extra
    stories: dict[str, list[int]] = {}
    story_of: dict[int, str] = {}
    for story_id, article_id in db.execute(sql, params):
        stories.setdefault(story_id, []).append(article_id)
        story_of[article_id] = story_id
    scores = dict(ranked)
    for aid, score in ranked:
        for mate in stories.get(story_of.get(aid, ""), []):
            if scores.get(mate, float("-inf")) < score:
                scores[mate] = score
    return sorted(scores.items(), key=lambda kv: -kv[1])


def search(db: Database, query: Query, *,
           embedders: dict[str, Embedder] | None = None) -> list[dict[str, Any]]:
    """Ranked results with what a reader needs: title, date, source, snippet, summary, topics."""
    return search_explained(db, query, embedders=embedders)[0]


def search_explained(db: Database, query: Query, *, embedders: dict[str, Embedder] | None = None
                     ) -> tuple[list[dict[str, Any]], Ranking]:
    """The results and how the query was read (its chips, and whether it browsed)."""
    ranking = rank_explained(db, query, embedders=embedders)
    return describe(db, ranking.ranked, query.text), ranking


def chips_line(ranking: Ranking) -> str:
    """"interpreted as: topic funding · jurisdiction EU" (empty when no chip took part)."""
    chips = ranking.interpretation.chips
    if not chips or not (ranking.browse or ranking.used_chips):
        return ""
    names = " · ".join(f"{c.kind} {c.label}" for c in chips)
    return f"browsing {names}, newest first" if ranking.browse else f"interpreted as: {names}"


def describe(db: Database, ranked: list[tuple[int, float]], text: str) -> list[dict[str, Any]]:
    """What a reader sees of each result, in order, read a few queries for all results at once
    (articles deleted since they were indexed are left out)."""
    ids = [aid for aid, _ in ranked]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    keys = ["id", "url", "title", "published", "lang", "feed_summary", "source", "summary", "story_id",
            "lead"]
    rows = {r[0]: dict(zip(keys, r, strict=True)) for r in db.execute(
        "select a.id, a.url, a.title, a.published_at, a.lang, a.summary, "
        "coalesce(s.name, a.source_id), sm.summary, sa.story_id, substr(a.text, 1, 220) "
        "from articles a left join sources s on s.id = a.source_id "
        "left join article_summaries sm on sm.article_id = a.id "
        f"left join story_articles sa on sa.article_id = a.id where a.id in ({marks})", ids)}
    topics: dict[int, list[dict[str, Any]]] = {aid: [] for aid in ids}
    for aid, slug, score in db.execute(
            f"select article_id, topic, score from article_topics where article_id in ({marks}) "
            "order by score desc", ids):
        topics[aid].append({"slug": slug, "score": round(score, 3)})
    vendors: dict[int, list[str]] = {aid: [] for aid in ids}
    for aid, name in db.execute(
            "select ae.article_id, e.name from article_entities ae join entities e on e.id = ae.entity_id "
            f"where ae.article_id in ({marks}) and e.kind = 'vendor' and ae.role = 'main' "
            "order by ae.mentions desc", ids):
        vendors[aid].append(name)
    stories = sorted({r["story_id"] for r in rows.values() if r["story_id"]})
    outlets = dict(db.execute(
        "select sa.story_id, count(distinct a.source_id) from story_articles sa join articles a "
        f"on a.id = sa.article_id where sa.story_id in ({','.join('?' * len(stories))}) "
        "group by sa.story_id", stories).fetchall()) if stories else {}
    snippets = matching_snippets(db, ids, text)
    results = []
    for aid, score in ranked:
        result = rows.get(aid)
        if result is None:
            continue
        lead = result.pop("lead")
        result["score"] = round(score, 6)
        result["summary"] = result["summary"] or result.pop("feed_summary")
        result.pop("feed_summary", None)
        result["snippet"] = snippets.get(aid) or ((lead or "") + "…")
        result["topics"], result["vendors"] = topics[aid], vendors[aid]
        if result["story_id"]:
            result["outlets"] = outlets.get(result["story_id"], 0)
        results.append(result)
    return results


def matching_snippets(db: Database, article_ids: list[int], text: str) -> dict[int, str]:
    """For each article where a query word occurs, the best-matching stretch of its text, matches
    wrapped in \\x02...\\x03 (escaped by renderers); one query for all the articles."""
    expr = fts_expression(text, any_term=True)
    if not expr or not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    return {aid: s for aid, s in db.execute(
        "select rowid, snippet(articles_fts, 2, ?, ?, '…', 28) from articles_fts "
        f"where articles_fts match ? and rowid in ({marks})",
        [MARK_START, MARK_END, expr, *article_ids]) if s}

