"""Shared fixtures: a real HTTP server on 127.0.0.1 and a way to run the real `kb` command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent

# The slow tier (`make test` runs it, `make test-fast` leaves it out): tests that drive a browser,
# need a Redis server or load an embedding model, and whole-crawl tests that take several seconds
# each (kill/restart, backoff waits, a full disk). Whole modules, the fixtures that load a model,
# the tests named below and single tests marked @pytest.mark.slow.
SLOW_MODULES = {"test_web_browser", "test_distributed", "test_query_encoder", "test_translate"}
SLOW_FIXTURES = {"demo_db", "demo_db_copy", "multilingual", "encoder"}
SLOW_TESTS = {
    "test_first_day::test_a_full_disk_stops_the_crawl_in_one_line_and_loses_nothing",
    "test_first_day::test_sources_added_by_homepage_are_named_by_their_feed_and_round_trip_through_opml",
    "test_first_day::test_one_failing_source_among_good_ones_is_backed_off_with_its_next_try",
    "test_first_day::test_a_feed_given_with_feed_is_named_by_its_title_not_its_host",
    "test_first_day::test_an_offline_crawl_says_so_in_one_error_line_and_backs_off_no_source",
    "test_first_day::test_the_demo_crawl_works_while_its_port_is_taken",
    "test_first_day::test_schedule_once_reports_a_crawl_where_every_feed_failed_as_failed",
    "test_crash::test_sigkill_mid_crawl_loses_nothing_and_a_rerun_completes",
    "test_crash::test_readers_keep_answering_while_a_crawl_writes",
    "test_politeness::test_failing_source_is_backed_off_not_dropped",
    "test_politeness::test_delay_and_concurrency_are_applied_per_source",
    "test_politeness::test_retries_back_off_and_honour_retry_after",
    "test_politeness::test_feed_whose_etag_changes_but_body_does_not_costs_no_parsing",
    "test_politeness::test_story_re_announced_under_a_new_link_is_one_article_with_versions",
    "test_hostile::test_the_hostile_crawl_completes_quickly_in_bounded_memory",
    "test_scheduler::test_foreground_runs_due_jobs_without_overlap",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: needs a browser, Redis or a model, or runs for seconds (not in make test-fast)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__ if hasattr(item, "module") and item.module else ""
        name = f"{module.rsplit('.', 1)[-1]}::{getattr(item, 'originalname', item.name)}"
        if (module in SLOW_MODULES or name in SLOW_TESTS
                or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True


class FixtureServer:
    """Serves routes that tests can change between requests; answers conditional GETs."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[tuple[str, int]] = []
        self.last_modified = formatdate(1_700_000_000, usegmt=True)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    route = Route(b"not found", status=404, content_type="text/plain")
                etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                if route.conditional and route.status == 200 and (
                    self.headers.get("If-None-Match") == etag
                ):
                    server.hits.append((self.path.split("?")[0], 304))
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                server.hits.append((self.path.split("?")[0], route.status))
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.conditional:
                    self.send_header("ETag", etag)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, path: str, body: str | bytes, **kwargs: Any) -> str:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **kwargs)
        return self.base + path

    def fetched(self, path: str, status: int = 200) -> int:
        return sum(1 for p, s in self.hits if p == path and s == status)


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    srv = FixtureServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def run_kb(*args: str, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the real `kb` command in a child process (Scrapy's reactor runs once per process)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    env.pop("KB_DB", None)
    env.pop("KB_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True,
                          env=env, timeout=kwargs.pop("timeout", 240), **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"kb {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def article_html(title: str, paragraphs: list[str], *, lang: str = "en",
                 date: str = "2026-10-01") -> str:
    """A realistic page: navigation, cookie banner, the article, related links, footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title} | Test Outlet</title></head><body>
<div class="cookie">We use cookies. <button>Accept</button></div>
<nav><a href="/">Home</a> <a href="/ai">AI</a> <a href="/policy">Policy</a></nav>
<main><article><h1>{title}</h1><p class="byline">By Ada Writer,
<time datetime="{date}T09:00:00+00:00">{date}</time></p>{body}</article>
<aside><h3>Related</h3><ul><li><a href="/x">Another story</a></li></ul></aside></main>
<footer>Copyright Test Outlet. Newsletter: sign up now.</footer></body></html>"""


LOREM = [
    "The European Commission set out on Tuesday how providers of general-purpose AI models "
    "should document their training data, a step that several vendors had lobbied to soften.",
    "Officials said the guidance would apply from next August and that national market "
    "surveillance authorities would coordinate enforcement through the new AI Office in Brussels.",
    "Industry groups welcomed the clarity but warned that smaller model makers could struggle "
    "with the reporting burden, and asked for templates that keep trade secrets protected.",
]


def rss2(base: str, items: list[dict[str, str]], title: str = "Test feed") -> str:
    entries = "".join(
        f"<item><title>{i['title']}</title><link>{i['link']}</link>"
        f"<guid>{i.get('guid', i['link'])}</guid>"
        f"<pubDate>{i.get('date', 'Thu, 01 Oct 2026 09:00:00 GMT')}</pubDate>"
        f"<description>{i.get('summary', 'A one-line summary.')}</description></item>"
        for i in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>{base}/</link><description>t</description>"
            f"{entries}</channel></rss>")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus crawled through the real crawl and fully enriched, built once per session.

    Read-only for tests: copy it (see ``demo_db_copy``) before writing.
    """
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    run_kb("sample", "crawl", "--db", str(path), "--port", "0", "-q", check=True)
    run_kb("enrich", "--db", str(path), "-q", check=True, timeout=900)
    return path


@pytest.fixture
def demo_db_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the enriched demo database that a test may change."""
    return copy_database(demo_db, tmp_path / "demo.db")


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite file (the online backup API, safe beside open readers)."""
    import sqlite3

    src, dest = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dest)
    src.close()
    dest.close()
    return target
