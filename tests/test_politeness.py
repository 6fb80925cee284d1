"""Politeness and incrementality against real local servers: conditional requests, robots.txt, the
User-Agent, per-source delay and concurrency, retries with backoff, source back-off, versions, and
re-extraction from the archive."""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from conftest import LOREM, rss2, run_kb
from test_hostile import LocalServer, plain_page, static

from kb import __version__
from kb.crawl.run import reextract
from kb.store.connection import open_db
from kb.store.writes import next_due

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0"]


def crawl(db: Path, *args: str, expect: int = 0) -> Any:
    proc = run_kb("crawl", "--db", str(db), *args)
    assert proc.returncode == expect, proc.stderr
    return proc


def articles(db: Path) -> dict[str, dict[str, Any]]:
    return {r["url"]: r for r in sqlite_utils.Database(db).query("select * from articles")}


def write_config(path: Path, sources: list[dict[str, Any]], **crawl_settings: Any) -> Path:
    import yaml

    settings = {"download_delay": 0, "autothrottle": False, "extract_workers": 1,
                **crawl_settings}
    path.write_text(yaml.safe_dump({"crawl": settings, "sources": sources}), encoding="utf-8")
    return path


@pytest.fixture
def srv() -> Iterator[LocalServer]:
    server = LocalServer()
    yield server
    server.close()


def feed(server: LocalServer, path: str, items: list[dict[str, str]]) -> str:
    return server.page(path, rss2(server.base, items), content_type="application/rss+xml")


def test_feed_whose_etag_changes_but_body_does_not_costs_no_parsing(srv, tmp_path):
    b = srv.base
    srv.page("/a.html", plain_page("A", LOREM))
    body = rss2(b, [{"title": "A", "link": f"{b}/a.html"}])
    served = []

    def fresh_etag(h: BaseHTTPRequestHandler) -> None:
        served.append(h.headers.get("If-None-Match"))
        static(body, content_type="application/rss+xml",
               headers={"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})(h)

    srv.add("/etag.xml", fresh_etag)
    db = tmp_path / "kb.db"
    crawl(db, "--feed", f"{b}/etag.xml", *FAST, "-q")
    proc = crawl(db, "--feed", f"{b}/etag.xml", *FAST, "-q")
    assert served[1] is not None  # the second request was conditional
    assert "1 not modified" in proc.stdout and srv.fetched("/a.html") == 1
    source = next(sqlite_utils.Database(db)["sources"].rows)
    assert source["not_modified_count"] == 1 and source["feed_hash"]


def test_story_re_announced_under_a_new_link_is_one_article_with_versions(srv, tmp_path):
    b = srv.base
    srv.page("/s/first.html", plain_page("Story", LOREM))
    feed(srv, "/f.xml", [{"title": "Story", "link": f"{b}/s/first.html", "guid": "urn:story:1"}])
    db = tmp_path / "kb.db"
    crawl(db, "--feed", f"{b}/f.xml", *FAST, "-q")
    [old] = articles(db).values()
    srv.page("/s/renamed.html", plain_page("Story", LOREM + ["An update was added later on."]))
    feed(srv, "/f.xml", [{"title": "Story (updated)", "link": f"{b}/s/renamed.html",
                          "guid": "urn:story:1"}])
    proc = crawl(db, "--feed", f"{b}/f.xml", *FAST, "-q")
    assert "0 new, 1 updated" in proc.stdout
    [new] = articles(db).values()
    assert (new["id"], new["version"], new["url"]) == (old["id"], 2, f"{b}/s/renamed.html")
    assert new["published_at"] == old["published_at"]
    [version] = sqlite_utils.Database(db)["article_versions"].rows
    assert (version["version"], version["title"]) == (1, "Story")


def test_robots_txt_is_obeyed_and_the_user_agent_names_the_project(srv, tmp_path):
    b = srv.base
    srv.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    srv.page("/public/a.html", plain_page("Public", LOREM))
    srv.page("/private/b.html", plain_page("Private", LOREM))
    feed(srv, "/f.xml", [{"title": "Public", "link": f"{b}/public/a.html"},
                         {"title": "Private", "link": f"{b}/private/b.html",
                          "summary": "Only the feed's words."}])
    config = write_config(tmp_path / "c.yaml", [{"id": "robots", "name": "R",
                                                 "feed_url": f"{b}/f.xml"}],
                          contact_url="https://example.org/aiwatch-contact")
    db = tmp_path / "kb.db"
    crawl(db, "--config", str(config), "-q")
    assert srv.fetched("/public/a.html") == 1 and srv.fetched("/private/b.html", None) == 0
    stored = articles(db)
    assert stored[f"{b}/private/b.html"]["text"] == "Only the feed's words."
    agents = {r["ua"] for r in srv.requests}
    assert agents == {f"aiwatch/{__version__} (+https://example.org/aiwatch-contact)"}


def slow_page(server: LocalServer, seconds: float) -> Any:
    """A page that takes ``seconds`` to answer; records the most requests in flight per host."""
    in_flight: Counter[str] = Counter()
    server.peak = defaultdict(int)
    lock = threading.Lock()

    def handle(h: BaseHTTPRequestHandler) -> None:
        host = h.headers.get("Host", "").split(":")[0]
        with lock:
            in_flight[host] += 1
            server.peak[host] = max(server.peak[host], in_flight[host])
        time.sleep(seconds)
        with lock:
            in_flight[host] -= 1
        static(plain_page("Slow", LOREM))(h)

    return handle


def test_delay_and_concurrency_are_applied_per_source(srv, tmp_path):
    b, local = srv.base, f"http://localhost:{srv.port}"
    handler = slow_page(srv, 0.3)
    for n in range(5):
        srv.add(f"/a/{n}.html", handler)
    for n in range(8):
        srv.add(f"/b/{n}.html", handler)
    feed(srv, "/a.xml", [{"title": f"A{n}", "link": f"{b}/a/{n}.html"} for n in range(5)])
    srv.page("/b.xml", rss2(local, [{"title": f"B{n}", "link": f"{local}/b/{n}.html"}
                                    for n in range(8)]), content_type="application/rss+xml")
    config = write_config(tmp_path / "c.yaml", [
        {"id": "slow-a", "name": "A", "feed_url": f"{b}/a.xml", "download_delay": 0.6,
         "concurrency": 1},
        {"id": "fast-b", "name": "B", "feed_url": f"{local}/b.xml", "download_delay": 0.0,
         "concurrency": 4},
    ], autothrottle=True, concurrency_per_domain=1)
    db = tmp_path / "kb.db"
    crawl(db, "--config", str(config), "-q", "-s", "DOWNLOAD_DELAY_JITTER=0",
          "-s", "AUTOTHROTTLE_TARGET_CONCURRENCY=4")
    assert len(articles(db)) == 13
    starts = sorted(r["at"] for r in srv.requests if r["path"].startswith("/a/"))
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.55, gaps  # AutoThrottle may lengthen a source's delay, never shorten it
    assert srv.peak["127.0.0.1"] == 1
    assert 2 <= srv.peak["localhost"] <= 4


def counting(answers: list[Any]) -> Any:
    """A handler giving the n-th answer on the n-th request (the last one from then on)."""
    calls = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(time.monotonic())
        if isinstance(answer, float):
            time.sleep(answer)
            answer = static(plain_page("Slow at first", LOREM))
        answer(h)

    handle.calls = calls
    return handle


def test_retries_back_off_and_honour_retry_after(srv, tmp_path):
    b = srv.base
    ok = static(plain_page("Finally", LOREM))
    flaky = srv.add("/r/flaky.html", counting([static("busy", status=503), static("busy", status=503), ok]))
    # On its own host name: a 429 slows its host's whole download slot down, as it should.
    srv.add("/r/limited.html", counting([
        static("slow down", status=429, headers={"Retry-After": "2"}), ok]))
    limited = f"http://localhost:{srv.port}/r/limited.html"
    timeout = srv.add("/r/timeout.html", counting([2.5, ok]))
    never = srv.add("/r/never.html", counting([
        static("come back tomorrow", status=429, headers={"Retry-After": "3600"}), ok]))
    feed(srv, "/f.xml", [{"title": n, "link": u} for n, u in
                         (("flaky", flaky), ("limited", limited), ("timeout", timeout),
                          ("never", never))])
    db = tmp_path / "kb.db"
    proc = crawl(db, "--feed", f"{b}/f.xml", "--allow-private", *FAST, "-s", "RETRY_TIMES=2",
                 "-s", "KB_RETRY_BACKOFF_BASE=0.5", "-s", "DOWNLOAD_TIMEOUT=1",
                 "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4")
    stored = articles(db)

    def gaps(path: str) -> list[float]:
        calls = srv.routes[path].calls
        return [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]

    assert stored[flaky]["extraction"] != "fetch_failed"
    assert [round(g, 1) >= want for g, want in zip(gaps("/r/flaky.html"), (0.5, 1.0),
                                                    strict=True)] == [True, True]
    assert stored[limited]["extraction"] != "fetch_failed" and gaps("/r/limited.html")[0] >= 2.0
    assert stored[timeout]["extraction"] != "fetch_failed" and len(srv.routes["/r/timeout.html"].calls) == 2
    assert stored[never]["extraction"] == "fetch_failed" and len(srv.routes["/r/never.html"].calls) == 1
    assert "Retry-After 3600 s" in proc.stderr


def test_failing_source_is_backed_off_not_dropped(srv, tmp_path):
    b = srv.base
    srv.page("/ok.html", plain_page("Fine", LOREM))
    feed(srv, "/good.xml", [{"title": "Fine", "link": f"{b}/ok.html"}])
    srv.page("/dead.xml", "gone", status=500, content_type="text/plain")
    sources = [{"id": "good", "name": "Good", "feed_url": f"{b}/good.xml"},
               {"id": "dead", "name": "Dead", "feed_url": f"{b}/dead.xml"}]
    config = write_config(tmp_path / "c.yaml", sources, retries=0)
    db = tmp_path / "kb.db"
    first = crawl(db, "--config", str(config), "-q")
    assert "failed: dead: HTTP 500 (next try " in first.stderr
    assert first.stdout.startswith("crawl #1:")  # the summary first, then the failures
    dead = sqlite_utils.Database(db)["sources"].get("dead")
    due = datetime.fromisoformat(dead["next_due_at"]) - datetime.fromisoformat(dead["last_attempt_at"])
    assert (dead["consecutive_failures"], due) == (1, timedelta(minutes=15))

    second = crawl(db, "--config", str(config), "-q")
    assert srv.fetched("/dead.xml", None) == 1
    assert "1 sources backed off" in second.stdout and "1 not modified" in second.stdout
    runs = list(sqlite_utils.Database(db).query("select * from crawl_runs order by id"))
    assert runs[-1]["sources_skipped"] == 1

    only_dead = write_config(tmp_path / "dead.yaml", sources[1:], retries=0)
    skipped = crawl(db, "--config", str(only_dead), "-q")
    assert "0 failed" in skipped.stdout and srv.fetched("/dead.xml", None) == 1

    named = crawl(db, "--config", str(config), "--feed", f"{b}/dead.xml", "-q", expect=1)
    assert "1 failed" in named.stdout and srv.fetched("/dead.xml", None) == 2
    dead = sqlite_utils.Database(db)["sources"].get("dead")
    due = datetime.fromisoformat(dead["next_due_at"]) - datetime.fromisoformat(dead["last_attempt_at"])
    assert (dead["consecutive_failures"], due) == (2, timedelta(minutes=30))
    retried = crawl(db, "--config", str(config), "--retry-failed", "-q")
    assert srv.fetched("/dead.xml", None) == 3 and "0 sources backed off" not in retried.stdout
    assert sqlite_utils.Database(db)["sources"].get("dead")["consecutive_failures"] == 3
    listing = run_kb("sources", "--db", str(db))
    assert listing.returncode == 0
    [line] = [ln for ln in listing.stdout.splitlines() if ln.startswith("dead")]
    assert "backed off" in line and "HTTP 500" in line


@pytest.mark.parametrize("failures,minutes", [(1, 15), (2, 30), (3, 60), (5, 240), (7, 960),
                                              (8, 1440), (40, 1440)])
def test_back_off_starts_at_minutes_and_doubles_up_to_a_day(failures, minutes):
    now = "2026-10-01T00:00:00+00:00"
    assert datetime.fromisoformat(next_due(now, failures)) - datetime.fromisoformat(now) == (
        timedelta(minutes=minutes))


def test_reextract_rebuilds_text_from_the_archive_without_fetching(srv, tmp_path):
    b = srv.base
    srv.page("/x/a.html", plain_page("Café “story”", [*LOREM, "Brüssel’s “quoted” reply."],
                                     head="").encode("cp1252"), content_type="text/html")
    feed(srv, "/f.xml", [{"title": "A", "link": f"{b}/x/a.html"}])
    db_path = tmp_path / "kb.db"
    crawl(db_path, "--feed", f"{b}/f.xml", *FAST, "-q")
    hits = len(srv.requests)
    db = open_db(db_path)
    [good] = db["articles"].rows
    assert "Brüssel’s “quoted” reply." in good["text"]
    page = db["pages"].get(good["id"])
    assert gzip.decompress(page["body_gz"]).count(b"\x93quoted\x94") == 1
    # An older, worse extractor had stored something else.
    db.execute("update articles set text = 'stale', content_hash = 'x' where id = ?", [good["id"]])
    db.conn.commit()
    assert reextract(db, workers=1, quiet=True) == {"pages": 1, "updated": 1, "unchanged": 0}
    fixed = db["articles"].get(good["id"])
    assert (fixed["text"], fixed["version"]) == (good["text"], 2)
    assert [v["text"] for v in db["article_versions"].rows] == ["stale"]
    assert reextract(db, workers=0, quiet=True) == {"pages": 1, "updated": 0, "unchanged": 1}
    assert len(srv.requests) == hits
