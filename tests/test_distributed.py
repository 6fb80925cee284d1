"""Distributed crawl: a real redis-server, real `kb crawl-worker` and `kb ingest` processes, a real
HTTP site on 127.0.0.1 and real SQLite files. Workers and writers are killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import LOREM, article_html, rss2

from kb.crawl.distributed import Writer
from kb.crawl.queue import Keys, RedisWork, decode_element, encode_element

REDIS_SERVER = "/usr/bin/redis-server"
KB = [sys.executable, "-m", "kb"]
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "KB_EXTRACT_WORKERS=1"]
IDLE = ["--idle-exit", "1.5"]

pytestmark = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="needs redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1 with AOF (fsync on every write) in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.kill()


class Site:
    """Generated article pages behind RSS feeds; counts every hit per path and per User-Agent."""

    def __init__(self, pages: int, feeds: int) -> None:
        self.hits: Counter[str] = Counter()
        self.agents: Counter[str] = Counter()
        self.times: list[float] = []
        self.lock = threading.Lock()
        self.routes: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = site.routes.get(self.path)
                with site.lock:
                    site.hits[self.path] += 1
                    if self.path.startswith("/p/"):
                        site.agents[self.headers.get("User-Agent", "")] += 1
                        site.times.append(time.monotonic())
                kind = "application/rss+xml" if self.path.endswith(".xml") else "text/html"
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.feeds = feeds
        for n in range(pages):
            self.add_page(n)
        self.publish(pages)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add_page(self, n: int, title: str | None = None) -> None:
        paragraphs = [f"Story number {n}. {p}" for p in LOREM]
        self.routes[f"/p/{n}.html"] = article_html(title or f"Story {n}", paragraphs).encode()

    def publish(self, pages: int, titles: dict[int, str] | None = None) -> None:
        titles = titles or {}
        for f in range(self.feeds):
            items = [{"title": titles.get(n, f"Story {n}"), "link": f"{self.base}/p/{n}.html"}
                     for n in range(f, pages, self.feeds)]
            self.routes[f"/feed{f}.xml"] = rss2(self.base, items).encode()

    def page_hits(self) -> dict[str, int]:
        with self.lock:
            return {p: n for p, n in self.hits.items() if p.startswith("/p/")}

    def config(self, path: Path) -> Path:
        lines = ["sources:"] + [f"  - id: feed-{f}\n    name: Feed {f}\n    feed_url: {self.base}/feed{f}.xml"
                                for f in range(self.feeds)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def make_site() -> Iterator[Callable[[int, int], Site]]:
    sites: list[Site] = []

    def make(pages: int, feeds: int) -> Site:
        sites.append(Site(pages, feeds))
        return sites[-1]

    yield make
    for site in sites:
        site.close()


def kb_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    for name in ("KB_DB", "KB_CONFIG", "KB_REDIS_URL"):
        env.pop(name, None)
    return env


def kb(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    """Run the real `kb` (with the distributed commands loaded) to completion."""
    return subprocess.run([*KB, *args], capture_output=True, text=True, env=kb_env(),
                          timeout=timeout)


class Running:
    """A `kb` command running in the background, its output in a file."""

    def __init__(self, folder: Path, name: str, *args: str) -> None:
        self.out = folder / f"{name}.out"
        with self.out.open("w") as out:
            self.proc = subprocess.Popen([*KB, *args], stdout=out, stderr=subprocess.STDOUT,
                                         env=kb_env())

    def finish(self, timeout: float = 150) -> str:
        code = self.proc.wait(timeout=timeout)
        text = self.out.read_text()
        assert code == 0, text
        return text

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def seed(site: Site, redis_url: str, db: Path, config: Path) -> str:
    proc = kb("crawl", "--redis", redis_url, "--db", str(db), "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert f"{site.feeds} feeds seeded" in proc.stdout
    return proc.stdout


def worker(folder: Path, name: str, redis_url: str, config: Path, *extra: str) -> Running:
    return Running(folder, name, "crawl-worker", "--redis", redis_url, "--config", str(config),
                   *FAST, "-s", f"USER_AGENT={name}", *IDLE, *extra)


def writer(folder: Path, name: str, redis_url: str, db: Path, *extra: str) -> Running:
    return Running(folder, name, "ingest", "--redis", redis_url, "--db", str(db), "-q", *IDLE, *extra)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def assert_stored_once(db: Path, site: Site, pages: int) -> None:
    [(count, distinct)] = query(db, "select count(*), count(distinct url) from articles")
    assert (count, distinct) == (pages, pages)
    assert {r[0] for r in query(db, "select url from articles")} == {
        f"{site.base}/p/{n}.html" for n in range(pages)}
    assert query(db, "select count(*) from article_versions") == [(0,)]
    assert query(db, "select count(*), count(distinct article_id) from pages") == [(pages, pages)]
    short = query(db, "select count(*) from articles where extraction not in "
                      "('trafilatura', 'readability') or text not like '%general-purpose AI models%'")
    assert short == [(0,)]


def assert_queue_drained(server: RedisServer) -> None:
    pending = RedisWork(server.client(), Keys()).pending()
    assert pending == dict.fromkeys(pending, 0)


def test_two_workers_and_one_writer_fetch_and_store_every_page_once(redis_server, make_site,
                                                                     tmp_path):
    site = make_site(500, 10)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_url := redis_server.url, db, config)
    ingest = writer(tmp_path, "writer", redis_url, db)
    workers = [worker(tmp_path, name, redis_url, config) for name in ("w1", "w2")]
    outputs = [w.finish() for w in workers]
    assert "500 new" in ingest.finish()

    hits = site.page_hits()
    assert len(hits) == 500 and set(hits.values()) == {1}  # every page fetched exactly once
    assert site.agents["w1"] > 0 and site.agents["w2"] > 0  # both workers did some of it
    assert site.agents["w1"] + site.agents["w2"] == 500
    assert sum(site.hits[f"/feed{f}.xml"] for f in range(10)) == 10
    assert sum(int(o.rsplit(" feeds, ", 1)[1].split()[0]) for o in outputs) == 500
    assert_stored_once(db, site, 500)
    assert query(db, "select count(*) from sources where feed_hash is not null "
                     "and last_status = 'ok'") == [(10,)]
    assert query(db, "select status, articles_new, feeds_ok from crawl_runs") == [("completed", 500, 10)]
    assert_queue_drained(redis_server)


def test_a_worker_killed_mid_run_loses_nothing(redis_server, make_site, tmp_path):
    site = make_site(500, 10)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_url := redis_server.url, db, config)
    doomed = worker(tmp_path, "w1", redis_url, config, "--lease", "2")
    deadline = time.monotonic() + 90
    while sum(site.page_hits().values()) < 120 and time.monotonic() < deadline:
        time.sleep(0.01)
    doomed.kill()
    leased = redis_server.client().zcard("aiwatch:leases")
    assert leased > 0  # it died holding work
    assert sum(site.page_hits().values()) < 500

    survivor = worker(tmp_path, "w2", redis_url, config, "--lease", "2")
    ingest = writer(tmp_path, "writer", redis_url, db)
    survivor.finish()
    ingest.finish()
    hits = site.page_hits()
    assert len(hits) == 500  # every page fetched, the dead worker's leased ones again
    assert sum(hits.values()) - 500 <= leased
    assert_stored_once(db, site, 500)
    assert query(db, "select count(*) from sources where feed_hash is not null") == [(10,)]
    assert_queue_drained(redis_server)


def test_the_writer_killed_mid_batch_loses_and_duplicates_nothing(redis_server, make_site, tmp_path):
    site = make_site(500, 10)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_url := redis_server.url, db, config)
    worker(tmp_path, "w1", redis_url, config).finish()
    client = redis_server.client()
    assert client.llen("aiwatch:results") == 1 + 10 + 500  # sources, feeds, articles

    doomed = writer(tmp_path, "writer1", redis_url, db, "--batch", "100")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and client.llen("aiwatch:results:processing"):
            try:
                if query(db, "select count(*) from articles")[0][0] >= 100:
                    break
            except sqlite3.OperationalError:
                pass  # schema still being created
        time.sleep(0.005)
    doomed.kill()
    in_flight = client.llen("aiwatch:results:processing")
    assert in_flight > 0  # killed between taking a batch and acknowledging it
    assert query(db, "select count(*) from articles")[0][0] < 500

    output = writer(tmp_path, "writer2", redis_url, db).finish()
    assert "failed:" not in output  # no message was set aside
    assert_stored_once(db, site, 500)
    assert query(db, "select status from crawl_runs order by id") == [("interrupted",), ("completed",)]
    assert query(db, "select count(*) from sources where feed_hash is not null") == [(10,)]
    assert_queue_drained(redis_server)


def test_redis_killed_and_restarted_keeps_every_pushed_article(redis_server, make_site, tmp_path):
    site = make_site(40, 2)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_server.url, db, config)
    worker(tmp_path, "w1", redis_server.url, config).finish()
    redis_server.kill()
    redis_server.start()  # same folder: the append-only file is replayed
    assert redis_server.client().llen("aiwatch:results") == 1 + 2 + 40
    writer(tmp_path, "writer", redis_server.url, db).finish()
    assert_stored_once(db, site, 40)


def test_second_round_fetches_only_new_and_changed_entries(redis_server, make_site, tmp_path):
    site = make_site(30, 3)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_server.url, db, config)
    worker(tmp_path, "w1", redis_server.url, config).finish()
    writer(tmp_path, "writer", redis_server.url, db).finish()
    before = site.page_hits()

    site.add_page(0, "Story 0, corrected")
    site.add_page(30)
    site.publish(31, titles={0: "Story 0, corrected"})
    assert "30 known entries published" in seed(site, redis_server.url, db, config)
    worker(tmp_path, "w1b", redis_server.url, config).finish()
    output = writer(tmp_path, "writer2", redis_server.url, db).finish()
    after = site.page_hits()
    assert {p for p in after if after[p] != before.get(p)} == {"/p/0.html", "/p/30.html"}
    assert query(db, "select count(*) from articles") == [(31,)]
    assert query(db, f"select title, version from articles where url = '{site.base}/p/0.html'") == [
        ("Story 0, corrected", 2)]
    assert query(db, "select articles_new, articles_updated, feeds_ok, feeds_not_modified from "
                     "crawl_runs order by id desc limit 1") == [(1, 1, 1, 2)]
    assert "1 new, 1 updated" in output


def test_politeness_holds_across_workers(redis_server, make_site, tmp_path):
    site = make_site(8, 1)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_server.url, db, config)
    polite = ["-s", "DOWNLOAD_DELAY=0.4", "-s", "DOWNLOAD_DELAY_JITTER=0", "-s", "CONCURRENT_REQUESTS=1",
              "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    workers = [worker(tmp_path, name, redis_server.url, config, *polite) for name in ("w1", "w2")]
    for w in workers:
        w.finish()
    assert sum(site.agents.values()) == 8 and site.agents["w1"] and site.agents["w2"]
    times = sorted(site.times)
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) > 0.3


def test_crawl_without_redis_still_crawls_here(make_site, tmp_path):
    site = make_site(3, 1)
    db = tmp_path / "kb.db"
    proc = kb("crawl", "--db", str(db), "--config", str(site.config(tmp_path / "c.yaml")), "-q",
              *FAST[:4])
    assert proc.returncode == 0, proc.stderr
    assert "3 new" in proc.stdout
    assert query(db, "select count(*) from articles") == [(3,)]


def test_reextract_stays_local_even_with_a_redis_url(redis_server, tmp_path):
    db = tmp_path / "kb.db"
    assert kb("init", "--db", str(db)).returncode == 0
    proc = subprocess.run([*KB, "crawl", "--reextract", "--db", str(db)], capture_output=True,
                          text=True, env={**kb_env(), "KB_REDIS_URL": redis_server.url}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("reextract: 0 pages")
    assert redis_server.client().dbsize() == 0  # nothing seeded


def test_seeding_refuses_while_the_last_round_is_unfinished(redis_server, make_site, tmp_path):
    site = make_site(2, 1)
    db, config = tmp_path / "kb.db", site.config(tmp_path / "config.yaml")
    seed(site, redis_server.url, db, config)
    proc = subprocess.run([*KB, "crawl", "--db", str(db), "--config", str(config)], capture_output=True,
                          text=True, env={**kb_env(), "KB_REDIS_URL": redis_server.url}, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: the shared queue still holds the last round (1 feeds")
    assert redis_server.client().llen("aiwatch:seeds") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["crawl-worker"], "Error: kb crawl-worker needs a Redis URL: pass --redis URL or set KB_REDIS_URL"),
    (["ingest", "--redis", "redis://127.0.0.1:1/0"], "Error: cannot reach Redis at redis://127.0.0.1:1/0"),
    (["crawl-status", "--redis", "http://example.org"], "Error: bad Redis URL 'http://example.org'"),
])
def test_user_mistakes_are_one_line_errors(args, message):
    proc = kb(*args, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1


def test_leases_run_out_back_onto_their_queue_then_to_dead(redis_server):
    work = RedisWork(redis_server.client(), Keys(), lease_seconds=0.2, max_attempts=2)
    keys = work.keys
    work.push(keys.requests, encode_element("r", 0, b"payload"))
    token, element = work.take(keys.requests)
    assert decode_element(element) == ("r", 0, b"payload")
    assert work.reap() == 0 and work.pending()["leases"] == 1
    time.sleep(0.12)
    assert work.renew([token]) == 1
    time.sleep(0.12)
    assert work.reap() == 0  # renewed in time
    time.sleep(0.25)
    assert work.reap() == 1
    assert work.pending()["requests"] == 1 and work.pending()["leases"] == 0
    token, element = work.take(keys.requests)
    assert decode_element(element) == ("r", 1, b"payload")
    assert work.renew([token, "someone-else:1"]) == 1
    assert work.hand_back([token]) == 1  # a clean stop: back at once, attempts unchanged
    token, element = work.take(keys.requests)
    assert decode_element(element)[1] == 1
    time.sleep(0.25)
    assert work.reap() == 1
    assert redis_server.client().lrange(keys.dead, 0, -1) == [encode_element("r", 2, b"payload")]
    assert work.take(keys.requests) is None


def test_a_second_writer_is_refused_while_the_first_lives(redis_server, tmp_path):
    from kb.core.errors import LockedError
    from kb.store.connection import open_db

    first = Writer(open_db(tmp_path / "a.db"), redis_server.client(), Keys())
    first.acquire()
    second = Writer(open_db(tmp_path / "b.db"), redis_server.client(), Keys())
    with pytest.raises(LockedError, match="another kb ingest"):
        second.acquire()
    first.release()
    second.acquire()


def test_a_worker_that_loses_redis_exits_with_one_error_line(redis_server, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("sources: []\n")
    running = Running(tmp_path, "w1", "crawl-worker", "--redis", redis_server.url, "--config",
                      str(config), "--idle-exit", "0")
    time.sleep(3)
    assert running.proc.poll() is None  # waiting for work
    redis_server.kill()
    assert running.proc.wait(timeout=30) == 1
    assert running.out.read_text().startswith(f"Error: lost Redis at {redis_server.url}")
