"""An independently written labelled set, measured exactly as the sample corpus is.

The set (``articles.jsonl`` and ``queries.jsonl``, as in ``../shared/validation/``) is laid out as a
corpus like the bundled one in a temporary folder: one invented outlet per ``outlet``, a summary
feed each, pages in the sample site's templates. ``kb eval --validation PATH`` then crawls it
through the real crawl, enriches it with the models the sample trained, and scores it. Nothing is
fitted on these labels: topics are scored as ``kb enrich`` assigned them, not cross-validated.

The set is for measuring, never for tuning: see docs/evaluation.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kb.core.errors import KbError

FEED_FORMATS = ("rss2", "atom", "rss1")
DATE_STYLES = ("time", "jsonld", "text")


def find_validation(path: str | Path) -> Path:
    """The folder holding ``articles.jsonl``, or a one-line error saying what is missing."""
    folder = Path(path)
    if not (folder / "articles.jsonl").is_file():
        raise KbError(f"no validation set at {folder} (expected articles.jsonl there)")
    return folder


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except ValueError as exc:
        raise KbError(f"{path}: not JSON Lines ({exc})") from exc


def write_corpus(validation_dir: Path, out_dir: Path) -> Path:
    """Lay the set out as a corpus (outlets.yaml, articles/*.yaml, queries/*.yaml) in ``out_dir``."""
    return write_articles(_read_jsonl(validation_dir / "articles.jsonl"),
                          _read_jsonl(validation_dir / "queries.jsonl"), out_dir)


def write_articles(articles: list[dict[str, Any]], raw_queries: list[dict[str, Any]], out_dir: Path) -> Path:
    """Lay articles and queries in the validation set's shape out as a corpus in ``out_dir``."""
    outlets: dict[str, dict[str, Any]] = {}
    for a in articles:
        if a["outlet"] not in outlets:
            n = len(outlets)
            outlets[a["outlet"]] = {
                "slug": a["outlet"], "name": a.get("outlet_name") or a["outlet"],
                "lang": a.get("lang", "en"), "feed_format": FEED_FORMATS[n % 3],
                "feed_content": "summary", "date_style": DATE_STYLES[n % 3]}
    corpus = [{
        "id": a["id"], "outlet": a["outlet"], "story": a.get("story") or a["id"],
        "published": a["published"], "title": a["title"], "author": a.get("author") or "",
        "description": "", "body": "\n\n".join(a["paragraphs"]),
        "labels": {
            "topics": a.get("topics", []),
            "vendors": sorted({*a["vendors"].get("main", []), *a["vendors"].get("mentioned", [])}),
            "main_vendors": a["vendors"].get("main", []),
            "jurisdictions": a.get("jurisdictions", []),
            "funding_events": a.get("funding_events", []),
            **({"best_for": a["best_for"]} if "best_for" in a else {}),
        },
    } for a in articles]
    queries = [{"id": q["id"], "query": q["query"], "kind": q.get("kind", "keyword"),
                "lang": q.get("lang"), "judgments": q.get("relevant", {})}
               for q in raw_queries]
    (out_dir / "articles").mkdir(parents=True, exist_ok=True)
    (out_dir / "queries").mkdir(exist_ok=True)
    _dump(out_dir / "outlets.yaml", list(outlets.values()))
    _dump(out_dir / "articles" / "validation.yaml", corpus)
    _dump(out_dir / "queries" / "validation.yaml", queries)
    return out_dir


def _dump(path: Path, data: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
