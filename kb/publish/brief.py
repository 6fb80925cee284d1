"""Story briefs: an editor's one-page account of a story, put together from the tables, with no AI
service and no generated text.

A brief (``story_brief``) holds:

* **summary**: the best sentences across the story's outlets (``summary_sentences``);
* **key takeaway**: the sentence that best states the event's consequence (``takeaway``);
* **key facts**: the story's funding events from the funding ledger (status, amount as stated,
  converted amounts, valuation), its policy references, the jurisdictions whose rules it discusses,
  and the dates it states (``dated_sentences``);
* **topics** and **main vendors**;
* **best for**: the audiences of ``story_audiences`` (kb.enrich.audiences), with the evidence;
* **coverage** by outlet and language, and **related stories** (``related_stories``).

Sentences are taken from the articles in the reader's language when the story has one, else in
English, else in the story's most common language, so a brief never mixes languages.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlite_utils.db import Database

from kb.core.money import money
from kb.enrich.summaries import STOP, WORD, split_sentences

SUMMARY_SENTENCES = 3
SUMMARY_WORDS = 90
DUPLICATE = 0.5  # word overlap (Jaccard) above which a sentence repeats one already chosen
SAME_ARTICLE = 0.7  # a sentence's score once its article has given one: other outlets first
RELATED_DAYS = 120
STATUS_ORDER = {"closed": 0, "announced": 1, "in_talks": 2, "cumulative": 3}
LANGUAGES = {"en": "English", "fr": "French", "de": "German"}
STATUS_LABELS = {"closed": "closed", "announced": "announced", "in_talks": "in talks",
                 "cumulative": "raised to date"}
AUDIENCE_LABELS = {"policy": "Policy makers", "investor": "Investors",
                   "engineering": "CTOs and AI/ML leads", "executive": "Executives"}
_I = re.IGNORECASE
# Words that state what follows from an event, per language (see ``takeaway``).
CONSEQUENCE = {
    "en": re.compile(r"\b(?:will|would|could|may|might|means?|meaning|so that|in order to|aims? to|"
                     r"expected to|set to|likely to|allows?|enables?|forces?|lets|paves? the way|"
                     r"clears? the way|opens? the way)\b", _I),
    "fr": re.compile(r"\b(?:va|vont|pourra(?:it|ient)?|devra(?:it|ient)?|permettra(?:it)?|permet|"
                     r"afin de|pour que|vise à|visent à|signifie|ouvre la voie|obligera(?:it)?)\b", _I),
    "de": re.compile(r"\b(?:wird|werden|würde|könnte|könnten|soll|sollen|damit|um zu|ermöglicht|"
                     r"bedeutet|zwingt|dürfte)\b", _I),
}
MONTHS = {
    "en": "January|February|March|April|May|June|July|August|September|October|November|December",
    "fr": "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre",
    "de": "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember",
}
DATE = {
    "en": re.compile(rf"\b(?:\d{{1,2}} (?:{MONTHS['en']})(?: \d{{4}})?"
                     rf"|(?:{MONTHS['en']}) \d{{1,2}}(?:, \d{{4}})?|(?:{MONTHS['en']}) \d{{4}})\b"),
    "fr": re.compile(rf"\b\d{{1,2}}(?:er)? (?:{MONTHS['fr']})(?: \d{{4}})?\b", _I),
    "de": re.compile(rf"\b\d{{1,2}}\. (?:{MONTHS['de']})(?: \d{{4}})?\b"),
}
# A stated date matters when it is a deadline or a start: 'takes effect on', 'comments are due by'.
DEADLINE = re.compile(
    r"\b(?:effect|effective|due|deadline|from|until|by|before|starting|applies|apply|in force|"
    r"expires?|closes?|opens?|scheduled|à partir du|entre(?:ra)? en vigueur|d'ici|jusqu'au|"
    r"au plus tard|avant le|ab dem|ab|bis zum|bis|tritt|in Kraft|spätestens|Frist)\b", _I)


def entity_path(kind: str, name: str) -> str:
    """The page of a vendor, topic or jurisdiction: /-/vendor/Mistral%20AI."""
    return f"/-/{kind}/{quote(name, safe='')}"


def plural(n: int, one: str, many: str) -> str:
    """'1 article', '3 articles'."""
    return f"{n} {one if n == 1 else many}"


def story_brief(db: Database, story_id: str, *, lang: str | None = None,
                related_limit: int = 5) -> dict[str, Any] | None:
    """Everything the brief of a story shows, or None when there is no such story. ``lang`` is the
    reader's language: sentences come from the story's articles in it when there are some."""
    story = next(db.query("select * from stories where id = ?", [story_id]), None)
    if story is None:
        return None
    articles = story_articles(db, story_id, with_text=True)
    ids = [a["id"] for a in articles]
    chosen_lang = brief_language(articles, lang)
    texts = [a for a in articles if (a["lang"] or "en") == chosen_lang]
    summary = summary_sentences(texts)
    return {
        "story": story,
        "counts": f"{plural(story['article_count'], 'article', 'articles')} from "
                  f"{plural(story['outlet_count'], 'outlet', 'outlets')}",
        "lang": chosen_lang,
        "summary": summary,
        "takeaway": takeaway(texts, exclude={s["text"] for s in summary}),
        "facts": {
            "funding": funding_facts(db, ids),
            "policy_refs": _policy_refs(db, ids),
            "jurisdictions": _entities(db, ids, "jurisdiction"),
            "dates": dated_sentences(texts),
            "first_seen": story["first_seen"], "last_seen": story["last_seen"],
        },
        "topics": _topics(db, ids),
        "vendors": _entities(db, ids, "vendor"),
        "best_for": best_for(db, story_id, ids),
        "articles": [{k: v for k, v in a.items() if k != "text"} for a in articles],
        "coverage": coverage(articles),
        "related": related_stories(db, story_id, ids, limit=related_limit) if related_limit else [],
    }


def story_articles(db: Database, story_id: str, *, with_text: bool = False) -> list[dict[str, Any]]:
    """A story's articles in time order, each with its outlet and summary (and its text)."""
    return list(db.query(
        "select a.id, a.title, a.url, a.published_at as published, a.lang, a.source_id, "
        f"{'a.text, ' if with_text else ''}"
        "coalesce(s.name, a.source_id) as source, coalesce(sm.summary, a.summary) as summary "
        "from story_articles sa join articles a on a.id = sa.article_id "
        "left join sources s on s.id = a.source_id left join article_summaries sm on sm.article_id = a.id "
        "where sa.story_id = ? order by a.published_at, a.id", [story_id]))


def brief_language(articles: list[dict[str, Any]], wanted: str | None = None) -> str:
    """The reader's language if an article is in it, else English if one is, else the most common."""
    langs = [a["lang"] or "en" for a in articles]
    for choice in (wanted, "en"):
        if choice and choice in langs:
            return choice
    return Counter(langs).most_common(1)[0][0] if langs else "en"


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text) if w.lower() not in STOP]


def _weights(articles: list[dict[str, Any]]) -> Counter[str]:
    """A word's weight: the number of outlets using it times log(1 + its uses), the headlines' words
    counting as three uses more: what several outlets say is what the story is about."""
    outlets: dict[str, set[str]] = {}
    uses: Counter[str] = Counter()
    for a in articles:
        words = _tokens(a["text"] or "") + 3 * _tokens(a["title"] or "")
        uses.update(words)
        for w in set(words):
            outlets.setdefault(w, set()).add(a["source_id"] or a["source"] or "")
    return Counter({w: len(outlets[w]) * math.log1p(n) for w, n in uses.items()})


def _candidates(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every sentence of at least five words, scored by the story's word weights (per word, the
    square root of the sentence's length damping long ones), with its article and position."""
    weights = _weights(articles)
    out = []
    for order, a in enumerate(articles):
        for i, text in enumerate(split_sentences(a["text"] or "")):
            tokens = _tokens(text)
            centrality = sum(weights[t] for t in set(tokens)) / (len(tokens) ** 0.5 + 1)
            out.append({"text": text, "article_id": a["id"], "source": a["source"], "url": a["url"],
                        "order": order, "position": i, "centrality": centrality,
                        "words": set(tokens)})
    return out


def _repeats(sentence: dict[str, Any], chosen: list[dict[str, Any]]) -> bool:
    for c in chosen:
        union = sentence["words"] | c["words"]
        if union and len(sentence["words"] & c["words"]) / len(union) >= DUPLICATE:
            return True
    return False


def summary_sentences(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to three sentences (about 90 words) across the outlets: the most central first, early
    sentences favoured (the lead states the news), a sentence repeating a chosen one skipped, and an
    article that already gave one sentence scored down so that other outlets speak too. Returned in
    the order of the articles and of the sentences within them."""
    pool = _candidates(articles)
    for s in pool:
        s["score"] = s["centrality"] * (1.3 if s["position"] == 0 else 1 / (1 + 0.08 * s["position"]))
    chosen: list[dict[str, Any]] = []
    words = 0
    while pool and len(chosen) < SUMMARY_SENTENCES:
        best = max(pool, key=lambda s: s["score"])
        pool.remove(best)
        n = len(best["text"].split())
        if _repeats(best, chosen) or (chosen and words + n > SUMMARY_WORDS):
            continue
        chosen.append(best)
        words += n
        for s in pool:
            if s["article_id"] == best["article_id"]:
                s["score"] *= SAME_ARTICLE
    chosen.sort(key=lambda s: (s["order"], s["position"]))
    return [_public(s) for s in chosen]


def _public(sentence: dict[str, Any]) -> dict[str, Any]:
    return {k: sentence[k] for k in ("text", "article_id", "source", "url")}


def _quoted(text: str) -> bool:
    """A sentence that is mostly someone's words in quotation marks (an opinion, not the news)."""
    inside = sum(len(m.group(0)) for m in re.finditer(r"[\"“«„][^\"”»“]*[\"”»“]", text))
    return text.lstrip()[:1] in "\"“«„" or inside > len(text) / 2


def takeaway(articles: list[dict[str, Any]], *, exclude: set[str] | None = None) -> dict[str, Any] | None:
    """The sentence that best states the event's consequence.

    The rule: among the sentences of the brief's language that are not in the summary and not
    mostly a quotation, keep those holding a consequence cue of that language ("will", "could",
    "means", "so that", "aims to", "expected to"; "va", "pourrait", "afin de"; "wird", "könnte",
    "damit"…), and take the most central one, centrality being how much of the words several
    outlets use it holds (the summary's measure, without its preference for early sentences). With
    no such sentence, the most central sentence outside the summary stands in."""
    exclude = exclude or set()
    lang = articles[0]["lang"] if articles else "en"
    cue = CONSEQUENCE.get(lang or "en", CONSEQUENCE["en"])
    pool = [s for s in _candidates(articles) if s["text"] not in exclude and not _quoted(s["text"])
            and len(s["text"].split()) <= 45]
    if not pool:
        return None
    stated = [s for s in pool if cue.search(s["text"])]
    best = max(stated or pool, key=lambda s: s["centrality"])
    return {**_public(best), "rule": "consequence" if stated else "central"}


def dated_sentences(articles: list[dict[str, Any]], limit: int = 4) -> list[dict[str, Any]]:
    """Dates the story states as deadlines or starts ('takes effect on 8 October'), each once, with
    its sentence; the earliest articles first."""
    lang = articles[0]["lang"] if articles else "en"
    pattern = DATE.get(lang or "en", DATE["en"])
    seen: set[str] = set()
    out = []
    for a in articles:
        for text in split_sentences(a["text"] or ""):
            for m in pattern.finditer(text):
                when = m.group(0)
                if when.lower() in seen or not DEADLINE.search(text):
                    continue
                seen.add(when.lower())
                out.append({"when": when, "text": text, "source": a["source"], "url": a["url"]})
                if len(out) == limit:
                    return out
    return out


def funding_facts(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    """The funding ledger's events reported by these articles, with status, amount as stated
    ('€3.5bn'), its USD and EUR values and the valuation; closed deals first, totals last."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = list(db.query(
        f"select l.* from funding_ledger l where l.id in (select event_id from funding_events "
        f"where article_id in ({marks}) and event_id is not null)", ids))
    for r in rows:
        r["stated"] = money(r["amount"], r["currency"] or "")
        r["valuation_stated"] = money(r["valuation"], r["currency"] or "") if r["valuation"] else None
        r["usd"] = money(r["amount_usd"], "USD") if r["amount_usd"] else None
        r["eur"] = money(r["amount_eur"], "EUR") if r["amount_eur"] else None
        r["status_label"] = STATUS_LABELS.get(r["status"], r["status"])
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r["status"], 9), -(r["amount_usd"] or 0)))


def _policy_refs(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    seen: dict[str, dict[str, Any]] = {}
    for r in db.query(f"select kind, ref, context from policy_refs where article_id in "
                      f"({','.join('?' * len(ids))}) order by id", ids):
        seen.setdefault(r["ref"], r)
    return list(seen.values())


def _entities(db: Database, ids: list[int], kind: str) -> list[dict[str, Any]]:
    """The story's main vendors (or jurisdictions), most named first, with their pages."""
    if not ids:
        return []
    rows = db.execute(
        f"select e.name, sum(ae.mentions) from article_entities ae join entities e on e.id = ae.entity_id "
        f"where e.kind = ? and ae.role = 'main' and ae.article_id in ({','.join('?' * len(ids))}) "
        f"group by e.name order by sum(ae.mentions) desc, e.name", [kind, *ids]).fetchall()
    return [{"name": name, "mentions": n, "path": entity_path(kind, name)} for name, n in rows]


def _topics(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [{"slug": slug, "name": name, "score": score, "path": entity_path("topic", slug)}
            for slug, name, score in db.execute(
                f"select t.topic, coalesce(tp.name, t.topic), max(t.score) from article_topics t "
                f"left join topics tp on tp.slug = t.topic where t.article_id in ({marks}) "
                f"group by t.topic order by max(t.score) desc", ids)]


def best_for(db: Database, story_id: str, ids: list[int]) -> list[dict[str, Any]]:
    """The audiences the story is best for (kb.enrich.audiences), surest first, each with the
    evidence of its surest article."""
    if not ids:
        return []
    rows = list(db.query("select audience, probability from story_audiences where story_id = ? "
                         "and best_for = 1 order by probability desc", [story_id]))
    marks = ",".join("?" * len(ids))
    for r in rows:
        found = db.execute(f"select evidence from article_audiences where audience = ? and article_id in "
                           f"({marks}) order by probability desc limit 1", [r["audience"], *ids]).fetchone()
        r["evidence"] = found[0] if found else ""
        r["label"] = AUDIENCE_LABELS.get(r["audience"], r["audience"])
    return rows


def coverage(articles: list[dict[str, Any]]) -> dict[str, Any]:
    """Who covered the story, in which language: per outlet its articles; per language a count."""
    outlets: dict[str, list[dict[str, Any]]] = {}
    for a in articles:
        outlets.setdefault(a["source"] or "", []).append(
            {k: a[k] for k in ("id", "title", "url", "published", "lang")})
    langs = Counter(a["lang"] or "?" for a in articles)
    return {"outlets": [{"name": name, "articles": items} for name, items in outlets.items()],
            "languages": [{"lang": lang, "name": LANGUAGES.get(lang, lang), "articles": n}
                          for lang, n in langs.most_common()]}


def related_stories(db: Database, story_id: str, ids: list[int], *, limit: int = 5) -> list[dict[str, Any]]:
    """Other stories first seen within four months that share a policy reference, a funding event or
    a main vendor with this one (3, 3 and 2 points each), ranked by those points plus half a point
    per shared jurisdiction and the overlap of their topics (0 to 1, Jaccard), then by closeness in
    time. A shared topic or place alone never relates two stories."""
    story = next(db.query("select first_seen from stories where id = ?", [story_id]), None)
    if not ids or story is None:
        return []
    day = datetime.fromisoformat(story["first_seen"])
    span = timedelta(days=RELATED_DAYS)
    window = [(day - span).isoformat(), (day + span).isoformat()]
    marks = ",".join("?" * len(ids))
    scores: dict[str, float] = defaultdict(float)
    for weight, table, column, extra in (
            (3.0, "policy_refs", "ref", ""), (3.0, "funding_events", "event_id", ""),
            (2.0, "article_entities", "entity_id", _KIND.format(kind="vendor"))):
        for sid, n in db.execute(_shared(table, column, extra, marks), [*window, *ids]).fetchall():
            scores[sid] += weight * n
    scores.pop(story_id, None)
    candidates = sorted(scores, key=lambda sid: -scores[sid])[:200]
    if not candidates:
        return []
    for sid, n in db.execute(_shared("article_entities", "entity_id", _KIND.format(kind="jurisdiction"),
                                     marks), [*window, *ids]).fetchall():
        if sid in scores:
            scores[sid] += 0.5 * n
    mine = {r[0] for r in db.execute(f"select topic from article_topics where article_id in ({marks})", ids)}
    theirs: dict[str, set[str]] = {}
    for sid, topic in db.execute(
            f"select distinct sa.story_id, t.topic from article_topics t join story_articles sa on "
            f"sa.article_id = t.article_id where sa.story_id in ({','.join('?' * len(candidates))})",
            candidates).fetchall():
        theirs.setdefault(sid, set()).add(topic)
    for sid in candidates:
        union = mine | theirs.get(sid, set())
        scores[sid] += len(mine & theirs.get(sid, set())) / len(union) if union else 0.0
    rows = {r["id"]: r for r in db.query(
        f"select * from stories where id in ({','.join('?' * len(candidates))})", candidates)}
    ranked = sorted(rows, key=lambda sid: (-scores[sid], abs((datetime.fromisoformat(
        rows[sid]["first_seen"]) - day).total_seconds()), sid))
    return [{**rows[sid], "score": round(scores[sid], 2)} for sid in ranked[:limit]]


_KIND = " and x.role = 'main' and x.entity_id in (select id from entities where kind = '{kind}')"


def _shared(table: str, column: str, extra: str, marks: str) -> str:
    """Stories first seen in a window whose articles share values of ``column`` with these articles."""
    return (f"select sa.story_id, count(distinct x.{column}) from {table} x join story_articles sa "
            f"on sa.article_id = x.article_id join stories st on st.id = sa.story_id "
            f"where st.first_seen between ? and ? and x.{column} in (select {column} from {table} x "
            f"where x.article_id in ({marks}){extra}){extra} group by sa.story_id")
