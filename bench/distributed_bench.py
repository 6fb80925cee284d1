"""Distributed crawl benchmark: 1, 2 and 4 `kb crawl-worker` processes and the `kb ingest` writer,
beside the single-process `kb crawl`, on one generated local site, in one run.

    python bench/distributed_bench.py [--pages N] [--feeds F] [--workers 1,2,4] [--extract W]

Figures (politeness delays off, CONCURRENT_REQUESTS_PER_DOMAIN=16 everywhere; pages/s include
process start, "steady" is the rate from 10% to 100% of the pages):
  * single process: `kb crawl` (fetch + extract + store), pages/s;
  * N workers: from starting them to the last article pushed to Redis (fetch + extract + push),
    pages/s, and the CPU all their processes used per page;
  * writer: `kb ingest` draining the full queue into SQLite alone, rows/s of its busy time;
  * the share of pages each worker fetched (the split).
Needs /usr/bin/redis-server; the site is bench/crawl_bench.py's realistic pages (~100 KiB each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from crawl_bench import make_feed, make_page  # noqa: E402

KB = [sys.executable, "-c", "import kb.cli.distributed, kb.cli; kb.cli.main()"]
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]


class Site:
    """The generated pages and feeds, served from memory; counts page hits per User-Agent."""

    def __init__(self, pages: int, feeds: int, seed: int) -> None:
        self.routes = {f"/p/{n}.html": make_page(seed, n) for n in range(pages)}
        self.agents: Counter[str] = Counter()
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = site.routes.get(self.path, b"")
                if self.path.startswith("/p/"):
                    with site.lock:
                        site.agents[self.headers.get("User-Agent", "")] += 1
                self.send_response(200 if body else 404)
                kind = "application/rss+xml" if self.path.endswith(".xml") else "text/html; charset=utf-8"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.feeds = [f"{self.base}/feed{f}.xml" for f in range(feeds)]
        for f in range(feeds):
            self.routes[f"/feed{f}.xml"] = make_feed(self.base, list(range(f, pages, feeds)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(folder), "--save", "", "--appendonly", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"redis://127.0.0.1:{port}/0"


def redis_client(url: str) -> Any:
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            time.sleep(0.02)
    raise SystemExit("redis-server did not start")


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("KB_")},
            "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}


def run(*args: str) -> str:
    proc = subprocess.run([*KB, *args], capture_output=True, text=True, env=env(), cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"kb {' '.join(args[:2])} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select count(distinct url) from articles").fetchone()[0]
    finally:
        conn.close()


def count_articles(db: Path) -> int:
    try:
        return stored(db) if db.exists() else 0
    except sqlite3.OperationalError:
        return 0  # schema being created


def watch(count: Any, procs: list[subprocess.Popen[bytes]], target: int) -> tuple[float, float]:
    """Poll ``count()`` until it reaches ``target`` (or the processes end): returns the seconds to
    10% and to 100% of it, from now."""
    started, tenth = time.perf_counter(), None
    while any(p.poll() is None for p in procs):
        done = count()
        if tenth is None and done >= target // 10:
            tenth = time.perf_counter() - started
        if done >= target:
            break
        time.sleep(0.05)
    return tenth or 0.0, time.perf_counter() - started


def single_process(site: Site, folder: Path, extract: int, pages: int) -> dict[str, Any]:
    db = folder / "single.db"
    cpu, load = children_cpu(), os.getloadavg()[0]
    proc = subprocess.Popen([*KB, "crawl", "--db", str(db), "-q", *FAST,
                             "-s", f"KB_EXTRACT_WORKERS={extract}",
                             *[a for feed in site.feeds for a in ("--feed", feed)]],
                            env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tenth, elapsed = watch(lambda: count_articles(db), [proc], pages)
    proc.wait()
    n = stored(db)
    return {"mode": "kb crawl (one process)", "processes": 1, "seconds": elapsed,
            "pages_per_s": n / elapsed, "steady_pages_per_s": 0.9 * n / (elapsed - tenth),
            "cpu_ms_per_page": (children_cpu() - cpu) * 1000 / n, "stored": n,
            "load": (load, os.getloadavg()[0])}


def distributed(site: Site, folder: Path, client: Any, url: str, workers: int, extract: int,
                pages: int, batch: int) -> tuple[dict[str, Any], dict[str, Any]]:
    client.flushall()
    site.agents.clear()
    db, config = folder / f"dist{workers}.db", folder / "config.yaml"
    config.write_text("sources:\n" + "".join(f"  - id: feed-{i}\n    name: Feed {i}\n    feed_url: {f}\n"
                                             for i, f in enumerate(site.feeds)))
    run("crawl", "--redis", url, "--db", str(db), "--config", str(config))
    expected = 1 + len(site.feeds) + pages  # the sources message, one per feed, one per page
    cpu, load = children_cpu(), os.getloadavg()[0]
    procs = [subprocess.Popen([*KB, "crawl-worker", "--redis", url, "--config", str(config), "-q",
                               *FAST, "-s", f"KB_EXTRACT_WORKERS={extract}", "-s", f"USER_AGENT=w{i}",
                               "--idle-exit", "0.5"], env=env(), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(workers)]
    tenth, elapsed = watch(lambda: client.llen("aiwatch:results"), procs, expected)
    for p in procs:
        p.wait()
    crawl_cpu = children_cpu() - cpu
    split = sorted((site.agents[f"w{i}"] for i in range(workers)), reverse=True)
    row = {"mode": f"{workers} crawl-worker{'s' if workers > 1 else ''} (fetch, extract, push)",
           "processes": workers, "seconds": elapsed, "pages_per_s": pages / elapsed,
           "steady_pages_per_s": 0.9 * pages / (elapsed - tenth),
           "cpu_ms_per_page": crawl_cpu * 1000 / pages, "split": split,
           "load": (load, os.getloadavg()[0])}
    started = time.perf_counter()
    out = run("ingest", "--redis", url, "--db", str(db), "-q", "--idle-exit", "0.2",
              "--batch", str(batch))
    wall = time.perf_counter() - started
    found = re.search(r"([\d.]+) rows/s", out)
    busy = float(found.group(1)) if found else 0.0
    row["stored"] = stored(db)
    writer = {"workers": workers, "rows_per_s_busy": busy, "rows_per_s_wall": pages / wall,
              "stored": row["stored"]}
    return row, writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to try, comma-separated")
    parser.add_argument("--extract", type=int, default=2,
                        help="extraction processes per crawl (KB_EXTRACT_WORKERS), as configured")
    parser.add_argument("--batch", type=int, default=200, help="kb ingest --batch")
    parser.add_argument("--seed", type=int, default=20261001)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    site = Site(args.pages, args.feeds, args.seed)
    mean_kib = sum(len(b) for p, b in site.routes.items() if p.startswith("/p/")) / args.pages / 1024
    rows, writers = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "redis").mkdir()
        redis_proc, url = start_redis(folder / "redis")
        try:
            client = redis_client(url)
            rows.append(single_process(site, folder, args.extract, args.pages))
            for n in (int(w) for w in args.workers.split(",")):
                row, writer = distributed(site, folder, client, url, n, args.extract, args.pages,
                                          args.batch)
                rows.append(row)
                writers.append(writer)
        finally:
            redis_proc.terminate()
            redis_proc.wait()

    print(f"distributed crawl benchmark: {args.pages} pages ({mean_kib:.0f} KiB mean) behind "
          f"{args.feeds} feeds, {os.cpu_count()} CPUs, {args.extract} extraction processes per crawl")
    print(f"  {'mode':<40} {'pages/s':>8} {'steady':>7} {'wall s':>7} {'CPU ms/page':>11} "
          f"{'stored':>6} {'load':>9}  split")
    for r in rows:
        split = "/".join(str(s) for s in r.get("split", [])) if r["processes"] > 1 else ""
        load = f"{r['load'][0]:.1f}-{r['load'][1]:.1f}"
        print(f"  {r['mode']:<40} {r['pages_per_s']:>8.1f} {r['steady_pages_per_s']:>7.1f} "
              f"{r['seconds']:>7.1f} {r['cpu_ms_per_page']:>11.1f} {r['stored']:>6} {load:>9}  {split}")
    print("  (pages/s: from process start to the last page; steady: from 10% to 100% of the pages;"
          " load: the 1-minute load average before and after)")
    for w in writers:
        print(f"  {'kb ingest, queue of ' + str(w['workers']) + '-worker run':<40} "
              f"{w['rows_per_s_busy']:>8.1f} rows/s busy, {w['rows_per_s_wall']:.1f} rows/s with "
              f"process start ({w['stored']} stored)")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        print(json.dumps({"rows": rows, "writers": writers}))
    ok = all(r["stored"] == args.pages for r in rows)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
