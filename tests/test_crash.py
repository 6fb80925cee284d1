"""Crash safety and concurrent readers, for real: a `kb crawl` child killed with SIGKILL mid-run
over a slow local site, and a reader thread querying while a crawl writes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from conftest import LOREM, ROOT, rss2, run_kb
from test_hostile import LocalServer, kb_env, plain_page, static

PAGES = 60
CRAWL = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0",
         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2", "-s", "KB_EXTRACT_WORKERS=1"]


@pytest.fixture
def slow_site() -> Iterator[LocalServer]:
    """60 article pages that take 0.08 s each, behind two feeds."""
    server = LocalServer()

    def slow(n: int) -> Any:
        answer = static(plain_page(f"Slow story {n}", [f"Story number {n}.", *LOREM]))

        def handle(h: BaseHTTPRequestHandler) -> None:
            time.sleep(0.08)
            answer(h)

        return handle

    for n in range(PAGES):
        server.add(f"/s/{n}.html", slow(n))
    for half in (0, 1):
        items = [{"title": f"Slow story {n}", "link": f"{server.base}/s/{n}.html"}
                 for n in range(half, PAGES, 2)]
        server.page(f"/feed{half}.xml", rss2(server.base, items), content_type="application/rss+xml")
    yield server
    server.close()


def crawl_args(server: LocalServer, db: Path) -> list[str]:
    return ["crawl", "--db", str(db), "--feed", f"{server.base}/feed0.xml",
            "--feed", f"{server.base}/feed1.xml", "-q", *CRAWL]


def committed(db: Path) -> int:
    """Articles a separate reader sees as committed right now."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute("select count(*) from articles").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the extraction workers of a crawl)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent to reap it is not)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def kill_after(server: LocalServer, db: Path, at_least: int) -> tuple[int, list[int]]:
    """Start a crawl, SIGKILL it once ``at_least`` articles are committed; returns what a reader
    saw committed just before the kill, and the crawl's worker processes."""
    proc = subprocess.Popen([sys.executable, "-m", "kb", *crawl_args(server, db)], cwd=ROOT,
                            env=kb_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    seen = 0
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = workers or children_of(proc.pid)
        seen = committed(db)
        if seen >= at_least:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the crawl finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return seen, workers


def check_database(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert conn.execute("pragma foreign_key_check").fetchall() == []
    return conn


@pytest.mark.parametrize("kill_points", [(1, 25)])
def test_sigkill_mid_crawl_loses_nothing_and_a_rerun_completes(slow_site, tmp_path, kill_points):
    db = tmp_path / "kb.db"
    for at_least in kill_points:
        seen, workers = kill_after(slow_site, db, at_least)
        conn = check_database(db)
        stored = conn.execute("select count(*) from articles").fetchone()[0]
        assert stored >= seen >= at_least
        # An article and its archived page are written in one transaction: never one alone.
        orphans = conn.execute("select count(*) from articles a left join pages p "
                               "on p.article_id = a.id where p.article_id is null").fetchone()[0]
        assert orphans == 0
        conn.close()
        deadline = time.monotonic() + 5  # the extraction workers die with their parent
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers and not any(map(alive, workers))

    def page_requests() -> int:  # counted on arrival, so those in flight at a kill count before it
        return sum(1 for r in slow_site.requests if r["path"].startswith("/s/"))

    before = page_requests()
    proc = run_kb(*crawl_args(slow_site, db))
    assert proc.returncode == 0, proc.stderr
    conn = check_database(db)
    urls = [r[0] for r in conn.execute("select url from articles")]
    assert len(urls) == len(set(urls)) == PAGES
    assert conn.execute("select count(*) from pages").fetchone()[0] == PAGES
    assert conn.execute("select count(*) from article_versions").fetchone()[0] == 0
    assert conn.execute("select min(word_count) from articles").fetchone()[0] > 60
    statuses = [r[0] for r in conn.execute("select status from crawl_runs order by id")]
    assert statuses == ["interrupted"] * len(kill_points) + ["completed"]
    # The re-run fetches exactly the pages the killed runs had not stored: nothing stored is fetched
    # again. (How many pages were in flight at a kill depends on how far extraction lagged the
    # downloads, e.g. while a fresh worker imports trafilatura, so it is not bounded here.)
    assert page_requests() - before == PAGES - stored
    again = run_kb(*crawl_args(slow_site, db))
    assert "0 new, 0 updated" in again.stdout and "2 not modified" in again.stdout


def test_readers_keep_answering_while_a_crawl_writes(slow_site, tmp_path):
    db = tmp_path / "kb.db"
    run_kb("init", "--db", str(db), check=True)
    stop = threading.Event()
    latencies: list[float] = []
    counts: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        conn = sqlite3.connect(db, timeout=10)
        try:
            while not stop.is_set():
                started = time.perf_counter()
                counts.append(conn.execute("select count(*) from articles").fetchone()[0])
                conn.execute("select rowid from articles_fts where articles_fts match 'commission' "
                             "limit 5").fetchall()
                conn.execute("select a.title, length(p.body_gz) from articles a join pages p "
                             "on p.article_id = a.id order by a.id desc limit 3").fetchall()
                latencies.append(time.perf_counter() - started)
                time.sleep(0.005)
        except sqlite3.Error as exc:
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        proc = run_kb(*crawl_args(slow_site, db))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert errors == []
    assert counts == sorted(counts) and counts[-1] == PAGES
    assert len({c for c in counts if 0 < c < PAGES}) >= 5  # it really read during the writes
    assert max(latencies) < 1.0, max(latencies)  # never a lock wait (busy timeouts are seconds)
