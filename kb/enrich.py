"""`kb enrich`: run the enrichment stages in order over what is new or changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlite_utils.db import Database

from kb.errors import KbError

logger = logging.getLogger("aiwatch.enrich")


def _embed(db: Database, **options: Any) -> int:
    from kb.embed import embed_articles

    return embed_articles(db, embedder=options.get("embedder"), quiet=options.get("quiet", False))


STAGES: dict[str, Callable[..., int]] = {
    "embed": _embed,
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
    return counts
