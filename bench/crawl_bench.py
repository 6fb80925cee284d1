"""Crawl benchmark: a local site of realistic article pages behind RSS feeds, crawled by `kb crawl`.

    python bench/crawl_bench.py [--pages N] [--feeds F] [--workers W] [--seed S]

Figures, all from one run on the same generated pages:
  * crawl + extract + store, pages/s (the real `kb crawl` in a child process, politeness delays off);
  * bare extraction (kb.crawl.extraction.extract_article) on the same pages, pages/s, in one process
    and in a pool of as many processes as the crawl's extraction workers; trafilatura alone (its
    precise mode with metadata) in the same pool; and the ratios;
  * a re-crawl of the unchanged site: page bodies downloaded (should be 0) and feeds answered 304;
  * peak memory: ru_maxrss of this process plus the largest of its children (the crawl and the
    extraction workers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.crawl.extraction import extract_article  # noqa: E402

WORDS = ("the a of to and in on for with by from at as is was are were will would could said "
         "model models data training compute chips export controls commission regulation act "
         "european union vendor vendors open source weights funding round investors valuation "
         "billion million startup company companies government ministers officials agency "
         "security safety evaluation benchmark release released announced policy policies market "
         "cloud sovereign infrastructure datacenter researchers research paper report analysts "
         "week month year today yesterday new first largest latest public private national law "
         "rules guidance enforcement providers users customers partners deal agreement").split()
NAMES = ["Mistral AI", "Aleph Alpha", "OpenAI", "Anthropic", "Google DeepMind", "Nvidia", "ASML",
         "the European Commission", "the AI Office", "Hugging Face", "Meta", "Microsoft"]


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(12, 28))
    words.insert(rng.randrange(len(words)), rng.choice(NAMES))
    return " ".join(words).capitalize() + "."


def boilerplate(rng: random.Random, n: int) -> tuple[str, str]:
    """Head and tail of a page: scripts, styles, menus, related links, comments, footer."""
    style = "<style>" + "".join(f".c{i}{{margin:{i}px;padding:{i % 7}px;color:#{i:06x}}}"
                                for i in range(550)) + "</style>"
    script = ("<script>window.dataLayer=window.dataLayer||[];" +
              "".join(f"dataLayer.push({{'event':'e{i}','value':{i}}});" for i in range(250)) +
              "</script>")
    nav = "<nav><ul>" + "".join(f'<li><a href="/section/{i}">Section {i}</a></li>'
                                for i in range(120)) + "</ul></nav>"
    related = "<aside><h3>Related</h3><ul>" + "".join(
        f'<li><a href="/p/{rng.randrange(10**6)}.html">{sentence(rng)[:70]}</a></li>'
        for _ in range(40)) + "</ul></aside>"
    comments = '<section class="comments"><h3>Comments</h3>' + "".join(
        f'<div class="comment"><b>user{rng.randrange(9999)}</b><p>{sentence(rng)}</p></div>'
        for _ in range(25)) + "</section>"
    footer = "<footer>" + "".join(f'<a href="/legal/{i}">Legal {i}</a> ' for i in range(60)) + (
        "Copyright Bench Outlet. Newsletter: sign up now.</footer>")
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Story {n} | Bench'
            f'</title>{style}{script}</head><body><div class="cookie">We use cookies. <button>'
            f"Accept</button></div>{nav}")
    return head, f"{related}{comments}{footer}</body></html>"


def make_page(seed: int, n: int) -> bytes:
    rng = random.Random(seed * 1_000_003 + n)
    head, tail = boilerplate(rng, n)
    paragraphs = "".join(
        "<p>" + " ".join(sentence(rng) for _ in range(rng.randint(3, 5))) + "</p>"
        for _ in range(rng.randint(6, 10)))
    article = (f'<main><article><h1>Story {n}: {sentence(rng)[:60]}</h1><p class="byline">By '
               f'Bench Writer, <time datetime="2026-10-{1 + n % 28:02d}T09:00:00+00:00">'
               f"{1 + n % 28} October 2026</time></p>{paragraphs}</article></main>")
    return f"{head}{article}{tail}".encode()


def make_feed(base: str, numbers: list[int]) -> bytes:
    items = "".join(
        f"<item><title>Story {n}</title><link>{base}/p/{n}.html</link><guid>{base}/p/{n}.html"
        f"</guid><pubDate>Thu, {1 + n % 28:02d} Oct 2026 09:00:00 GMT</pubDate>"
        f"<description>Summary of story {n}.</description></item>" for n in numbers)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench'
            f"</title><link>{base}/</link><description>b</description>{items}</channel></rss>"
            ).encode()


class Site:
    """The generated site, served from memory with ETags; counts what it sends."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.routes = pages
        self.etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, b in pages.items()}
        self.counts: dict[str, int] = {"page_bodies": 0, "feed_bodies": 0, "feed_304": 0}
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = site.routes.get(self.path)
                if body is None:
                    self._send(404, b"not found", "text/plain")
                    return
                kind = "feed" if self.path.endswith(".xml") else "page"
                if self.headers.get("If-None-Match") == site.etags[self.path]:
                    site.count(f"{kind}_304")
                    self.send_response(304)
                    self.send_header("ETag", site.etags[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                site.count(f"{kind}_bodies")
                ctype = "application/rss+xml" if kind == "feed" else "text/html; charset=utf-8"
                self._send(200, body, ctype, {"ETag": site.etags[self.path]})

            def _send(self, status: int, body: bytes, ctype: str,
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def _extract(body: bytes, url: str) -> int:
    return len(extract_article(body, url)["text"])


def _trafilatura(body: bytes, url: str) -> int:
    import trafilatura

    return len(trafilatura.extract(body, url=url, favor_precision=True, with_metadata=True) or "")


def bare_extraction(pages: list[tuple[str, bytes]], workers: int, extract: Any = _extract) -> float:
    """Seconds to extract every page: in this process (workers 0) or in a pool."""
    started = time.perf_counter()
    if workers == 0:
        for url, body in pages:
            extract(body, url)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(extract, [b for _, b in pages], [u for u, _ in pages], chunksize=8))
    return time.perf_counter() - started


def run_crawl(db: Path, feeds: list[str], workers: int) -> tuple[float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "kb", "crawl", "--db", str(db), "-q",
           "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0",
           "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", f"KB_EXTRACT_WORKERS={workers}"]
    for feed in feeds:
        cmd += ["--feed", feed]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"kb crawl failed:\n{proc.stderr[-2000:]}")
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    run = dict(conn.execute("select * from crawl_runs order by id desc limit 1").fetchone())
    run["articles"] = conn.execute("select count(*) from articles").fetchone()[0]
    run["short"] = conn.execute("select count(*) from articles where word_count < 200").fetchone()[0]
    conn.close()
    return elapsed, run


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="extraction processes (crawl and bare)")
    parser.add_argument("--seed", type=int, default=20261001)
    parser.add_argument("--serial-pages", type=int, default=500,
                        help="pages timed for the one-process extraction figure (saves time)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    bodies = {f"/p/{n}.html": make_page(args.seed, n) for n in range(args.pages)}
    generated = time.perf_counter() - started
    site = Site(dict(bodies))
    for f in range(args.feeds):
        site.routes[f"/feed{f}.xml"] = make_feed(site.base, list(range(f, args.pages, args.feeds)))
        site.etags[f"/feed{f}.xml"] = '"' + hashlib.sha1(site.routes[f"/feed{f}.xml"]).hexdigest()[:16] + '"'
    feeds = [f"{site.base}/feed{f}.xml" for f in range(args.feeds)]
    pages = [(site.base + path, body) for path, body in bodies.items()]
    mean_kb = sum(len(b) for b in bodies.values()) / len(bodies) / 1024

    sample = pages[: min(len(pages), args.serial_pages)]
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    bare_serial = bare_extraction(sample, 0) * len(pages) / len(sample)
    bare_cpu_ms = (cpu_seconds(resource.RUSAGE_SELF) - cpu) * 1000 / len(sample)
    bare_pool = bare_extraction(pages, args.workers)
    trafilatura_pool = bare_extraction(pages, args.workers, _trafilatura)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        crawl_s, run = run_crawl(db, feeds, args.workers)
        crawl_cpu_ms = (cpu_seconds(resource.RUSAGE_CHILDREN) - cpu) * 1000 / max(1, run["articles"])
        before = dict(site.counts)
        recrawl_s, rerun = run_crawl(db, feeds, args.workers)
        db_mib = db.stat().st_size / 2**20
    again = {k: site.counts[k] - before.get(k, 0) for k in site.counts}

    n = run["articles"]
    figures = {
        "pages": args.pages, "mean_page_kib": round(mean_kb, 1), "feeds": args.feeds,
        "workers": args.workers, "cpus": os.cpu_count(), "generate_s": round(generated, 1),
        "bare_serial_pages_per_s": round(args.pages / bare_serial, 1),
        "bare_pool_pages_per_s": round(args.pages / bare_pool, 1),
        "crawl_s": round(crawl_s, 1), "crawl_pages_per_s": round(n / crawl_s, 1),
        "stored": n, "short_texts": run["short"],
        "ratio_vs_bare_pool": round((n / crawl_s) / (args.pages / bare_pool), 2),
        "ratio_vs_bare_serial": round((n / crawl_s) / (args.pages / bare_serial), 2),
        "trafilatura_pool_pages_per_s": round(args.pages / trafilatura_pool, 1),
        "ratio_vs_trafilatura_pool": round((n / crawl_s) / (args.pages / trafilatura_pool), 2),
        "bare_cpu_ms_per_page": round(bare_cpu_ms, 1), "crawl_cpu_ms_per_page": round(crawl_cpu_ms, 1),
        "cpu_ratio": round(bare_cpu_ms / crawl_cpu_ms, 2), "load_average": round(os.getloadavg()[0], 1),
        "recrawl_s": round(recrawl_s, 1), "recrawl_page_bodies": again["page_bodies"],
        "recrawl_feed_304": again["feed_304"], "recrawl_new": rerun["articles_new"],
        "db_mib": round(db_mib, 1), "peak_mib": round(peak_mib(), 0),
    }
    rows = [
        ("pages (mean size)", f"{args.pages} ({mean_kb:.0f} KiB) behind {args.feeds} feeds"),
        ("bare extraction, 1 process", f"{figures['bare_serial_pages_per_s']} pages/s "
                                       f"(first {len(sample)} pages)"),
        (f"bare extraction, {args.workers} processes", f"{figures['bare_pool_pages_per_s']} pages/s"),
        (f"trafilatura alone (precise, with metadata), {args.workers} processes",
         f"{figures['trafilatura_pool_pages_per_s']} pages/s"),
        ("crawl + extract + store", f"{figures['crawl_pages_per_s']} pages/s "
                                    f"({n} stored in {crawl_s:.1f} s, process start included)"),
        ("crawl / bare (same processes)", f"{figures['ratio_vs_bare_pool']:.0%}"),
        ("crawl / bare (1 process)", f"{figures['ratio_vs_bare_serial']:.0%}"),
        ("crawl / trafilatura alone (same processes)", f"{figures['ratio_vs_trafilatura_pool']:.0%}"),
        ("CPU per page: bare / crawl (all processes)",
         f"{bare_cpu_ms:.1f} / {crawl_cpu_ms:.1f} ms = {figures['cpu_ratio']:.0%} "
         f"(process start included)"),
        ("re-crawl, unchanged site", f"{recrawl_s:.1f} s: {again['page_bodies']} page bodies, "
                                     f"{again['feed_304']}/{args.feeds} feeds 304"),
        ("database", f"{db_mib:.0f} MiB"),
        ("peak memory (self + largest child)", f"{figures['peak_mib']:.0f} MiB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"crawl benchmark on {os.cpu_count()} CPUs (load average {figures['load_average']} "
          "at the end: other work on the machine skews the wall-clock figures, not the CPU ones)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if args.json:
        print(json.dumps(figures))
    ok = (again["page_bodies"] == 0 and again["feed_304"] == args.feeds and n == args.pages
          and figures["peak_mib"] < 1024)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
