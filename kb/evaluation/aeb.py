"""Extraction measured on the article-extraction benchmark, through the real crawl.

The benchmark's pages are served behind an RSS feed on 127.0.0.1, crawled with ``kb crawl`` into a
temporary database, and the stored text is scored with the benchmark's metric beside trafilatura
called directly on the same pages in the same run.
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
        items.append(f"<item><title>{escape(key)}</title><link>pages/{key}.html</link>"
                     f"<guid>{escape(key)}</guid></item>")
    (out / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>aeb</title>'
        f"<link>/</link>{''.join(items)}</channel></rss>", encoding="utf-8")


def _score(truth: dict[str, Any], predicted: dict[str, str]) -> dict[str, Any]:
    scores = extraction_scores(
        [page_counts(truth[k]["articleBody"], predicted.get(k, "")) for k in truth])
    scores["empty"] = sum(1 for k in truth if not predicted.get(k, "").strip())
    return scores


def _bare(truth: dict[str, Any], html_dir: Path, **options: Any) -> dict[str, str]:
    import trafilatura

    out = {}
    for key in truth:
        html = gzip.decompress((html_dir / f"{key}.html.gz").read_bytes())
        out[key] = trafilatura.extract(html, url=truth[key].get("url"), **options) or ""
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
        crawled = {r["title"]: r["text"] or "" for r in db.query("select title, text from articles")}
    return {
        "pages": len(truth),
        "crawled": len(crawled),
        "crawl_seconds": elapsed,
        "pages_per_second": len(crawled) / elapsed if elapsed else 0.0,
        "scores": {
            "kb crawl (stored text)": _score(truth, crawled),
            "trafilatura defaults": _score(truth, _bare(truth, html_dir)),
            "trafilatura favor_precision": _score(truth, _bare(truth, html_dir,
                                                              favor_precision=True)),
        },
    }
