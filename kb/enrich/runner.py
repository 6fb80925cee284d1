"""`kb enrich`: run the enrichment stages in order over what is new or changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlite_utils.db import Database

from kb.core.errors import KbError

logger = logging.getLogger("aiwatch.enrich")


def _embed(db: Database, **options: Any) -> int:
    """The three models: MiniLM (English, the primary), the multilingual encoder, which also embeds
    the English articles' words for translating French and German queries (kb.enrich.vocabulary),
    and multilingual-e5 for questions asked in another language than the articles' (its first
    passages only: it is the slowest of the three)."""
    from kb.enrich.embed import (
        CROSSLINGUAL_MODEL,
        CROSSLINGUAL_PASSAGES,
        DEFAULT_MODEL,
        MULTILINGUAL_MODEL,
        embed_articles,
    )
    from kb.enrich.vocabulary import count_words, embed_words

    quiet = options.get("quiet", False)
    multilingual = options.get("multilingual_embedder")
    done = embed_articles(db, embedder=options.get("embedder"), role="primary",
                          model=DEFAULT_MODEL, quiet=quiet)
    embed_articles(db, embedder=multilingual, role="multilingual", model=MULTILINGUAL_MODEL, quiet=quiet)
    embed_articles(db, embedder=options.get("crosslingual_embedder"), role="crosslingual",
                   model=CROSSLINGUAL_MODEL, quiet=quiet, max_passages=CROSSLINGUAL_PASSAGES)
    count_words(db)
    embed_words(db, multilingual.name if multilingual else MULTILINGUAL_MODEL, multilingual, quiet=quiet)
    return done


def _entities(db: Database, **options: Any) -> int:
    from kb.enrich.entities import tag_entities

    return tag_entities(db, quiet=options.get("quiet", False))


def _funding(db: Database, **options: Any) -> int:
    from kb.enrich.funding import extract_funding_events

    return extract_funding_events(db, quiet=options.get("quiet", False))


def _policy_refs(db: Database, **options: Any) -> int:
    from kb.enrich.policy_refs import extract_policy_refs

    return extract_policy_refs(db, quiet=options.get("quiet", False))


def _topics(db: Database, **options: Any) -> int:
    from kb.enrich.topics import tag_topics

    return tag_topics(db, embedder=options.get("multilingual_embedder"), quiet=options.get("quiet", False))


def _summaries(db: Database, **options: Any) -> int:
    from kb.enrich.summaries import summarize_articles

    return summarize_articles(db, quiet=options.get("quiet", False))


def _stories(db: Database, **options: Any) -> int:
    from kb.enrich.stories import cluster_stories

    return cluster_stories(db)


def _audiences(db: Database, **options: Any) -> int:
    from kb.enrich.audiences import tag_audiences

    return tag_audiences(db, quiet=options.get("quiet", False))


# In dependency order: topics use embeddings, stories use embeddings, vendors, amounts and refs.
STAGES: dict[str, Callable[..., int]] = {
    "embed": _embed,
    "entities": _entities,
    "funding": _funding,
    "policy_refs": _policy_refs,
    "topics": _topics,
    "summaries": _summaries,
    "stories": _stories,
    "audiences": _audiences,  # reads topics, funding, refs and vendors; story audiences need stories
}


def run_enrichment(db: Database, *, only: list[str] | None = None, **options: Any) -> dict[str, int]:
    """Run every stage (or ``only`` those), in order. Returns articles processed per stage."""
    unknown = [s for s in only or [] if s not in STAGES]
    if unknown:
        raise KbError(f"unknown stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
    counts = {}
    for name, stage in STAGES.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        counts[name] = stage(db, **options)
        logger.info("%s: %d articles in %.1f s", name, counts[name], time.perf_counter() - started)
    from kb.enrich.entity_days import build_entity_days
    from kb.enrich.ledger import build_ledger
    from kb.enrich.list_facets import build_list_facets
    from kb.enrich.review import apply_reviews

    apply_reviews(db)
    if not only or "funding" in only:
        events = build_ledger(db)  # after the corrections, which may remove mentions
        logger.info("funding ledger: %d events", events)
    days = build_entity_days(db)  # what the web's entity and trends pages count, corrections applied
    logger.info("entity days: %d rows", days)
    facets = build_list_facets(db)  # the article list's facet counts, read when it has no filter
    logger.info("article list facets: %d rows", facets)
    return counts
