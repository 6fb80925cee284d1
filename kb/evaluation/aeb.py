"""Extraction measured on the article-extraction benchmark, through the real crawl.

The benchmark's pages are served behind an RSS feed on 127.0.0.1 (items with a link and nothing
else, so the page alone must give title, date and authors), crawled with ``kb crawl`` into a
temporary database, and the stored rows are scored beside trafilatura called directly on the same
pages in the same run: the body with the benchmark's metric (word 4-gram shingles) and single
tokens, and title, date and authors against our own labels of the same pages
(``aeb_labels.json``, see docs/crawling.md for how they were made).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import sqlite_utils

from kb.core.errors import KbError
from kb.evaluation.extraction_metric import extraction_scores, page_counts
from kb.evaluation.metadata_metric import metadata_scores
from kb.evaluation.sample import serve_site


def _find(aeb_dir: Path) -> tuple[Path, Path]:
    for base in (aeb_dir, aeb_dir / "data"):
        if (base / "ground-truth.json").exists() and (base / "html").is_dir():
            return base / "ground-truth.json", base / "html"
    raise KbError(f"no article-extraction benchmark at {aeb_dir} "
                  "(expected ground-truth.json and html/ there or in data/)")


def _site(truth: dict[str, Any], html_dir: Path, out: Path) -> None:
    (out / "pages").mkdir(parents=True)
    items = []
    for key in truth:
        page = gzip.decompress((html_dir / f"{key}.html.gz").read_bytes())
        (out / "pages" / f"{key}.html").write_bytes(page)
        items.append(f"<item><link>pages/{key}.html</link><guid>{escape(key)}</guid></item>")
    (out / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>aeb</title>'
        f"<link>/</link>{''.join(items)}</channel></rss>", encoding="utf-8")


LABELS = Path(__file__).with_name("aeb_labels.json")


def _score(truth: dict[str, Any], predicted: dict[str, dict[str, Any]],
           labels: dict[str, Any]) -> dict[str, Any]:
    texts = {k: predicted.get(k, {}).get("text") or "" for k in truth}
    scores: dict[str, Any] = extraction_scores(
        [page_counts(truth[k]["articleBody"], texts[k]) for k in truth])
    tokens = extraction_scores([page_counts(truth[k]["articleBody"], texts[k], 1) for k in truth])
    scores["token_f1"] = tokens["f1"]
    scores["empty"] = sum(1 for k in truth if not texts[k].strip())
    scores["metadata"] = metadata_scores({k: v for k, v in labels.items() if k in truth}, predicted)
    return scores


def _bare(truth: dict[str, Any], html_dir: Path, **options: Any) -> dict[str, dict[str, Any]]:
    """trafilatura alone: its text and its own title, date and author (authors split on ';')."""
    import trafilatura

    out = {}
    for key in truth:
        html = gzip.decompress((html_dir / f"{key}.html.gz").read_bytes())
        doc = trafilatura.bare_extraction(html, url=truth[key].get("url"), with_metadata=True,
                                          **options)
        assert not isinstance(doc, dict)
        out[key] = {"text": (doc.text if doc else "") or "", "title": doc.title if doc else None,
                    "date": doc.date if doc else None,
                    "authors": [a.strip() for a in ((doc.author if doc else "") or "").split(";")
                                if a.strip()]}
    return out


def run_aeb(aeb_dir: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Crawl the benchmark's pages and score them; returns the figures."""
    truth_path, html_dir = _find(Path(aeb_dir))
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        site, db_path = Path(tmp) / "site", Path(tmp) / "aeb.db"
        _site(truth, html_dir, site)
        with serve_site(site) as base:
            started = time.perf_counter()
            cmd = [sys.executable, "-m", "kb", "crawl", "--db", str(db_path),
                   "--feed", f"{base}/feed.xml", "-s", "DOWNLOAD_DELAY=0",
                   "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", "AUTOTHROTTLE_ENABLED=0"]
            if quiet:
                cmd.append("--quiet")
            proc = subprocess.run(cmd, capture_output=quiet, text=True,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"})
            elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise KbError(f"the crawl failed: {(proc.stderr or '').strip()[-300:]}")
        db = sqlite_utils.Database(db_path)
        crawled = {
            r["url"].rsplit("/", 1)[-1].removesuffix(".html"): {
                "text": r["text"] or "", "title": r["title"], "date": r["published_at"],
                "authors": json.loads(r["authors"] or "[]")}
            for r in db.query("select url, title, text, published_at, authors from articles")}
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    return {
        "pages": len(truth),
        "crawled": len(crawled),
        "crawl_seconds": elapsed,
        "pages_per_second": len(crawled) / elapsed if elapsed else 0.0,
        "labelled_pages": sum(1 for k in labels if k in truth),
        "scores": {
            "kb crawl (stored)": _score(truth, crawled, labels),
            "trafilatura defaults": _score(truth, _bare(truth, html_dir), labels),
            "trafilatura favor_precision": _score(truth, _bare(truth, html_dir,
                                                              favor_precision=True), labels),
        },
    }
