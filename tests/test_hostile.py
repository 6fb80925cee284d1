"""Hostile input, each case served by a real HTTP server on 127.0.0.1 to the real `kb crawl`.

One crawl (module-scoped) fetches every hostile feed at once, as a real run would meet them; the
tests then look at what it stored. The private-network guard gets crawls of its own.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from conftest import LOREM, ROOT, rss2

from kb.crawl.feeds import parse_feed
from kb.crawl.netguard import is_private_address, refusal_reason

Handler = Callable[[BaseHTTPRequestHandler], None]
WORDS = ("Café Zürich naïve façade, the Commission said", "Brüssel’s “quoted” reply – a dash")


class LocalServer:
    """A real HTTP/1.0 server whose routes are functions, for behaviour FixtureServer cannot do
    (trickling, no Content-Length, redirects, compressed bombs). Records every request (host,
    path, User-Agent, time) and every answer (host, path, status)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: list[tuple[str, str, int]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Request(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def send_response(self, code: int, message: str | None = None) -> None:
                with server.lock:
                    server.hits.append((self.headers.get("Host", ""), self.path.split("?")[0], code))
                super().send_response(code, message)

            def do_GET(self) -> None:  # noqa: N802
                with server.lock:
                    server.requests.append({
                        "host": self.headers.get("Host", ""), "path": self.path.split("?")[0],
                        "ua": self.headers.get("User-Agent", ""), "at": time.monotonic()})
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                (route or static(b"not found", status=404, content_type="text/plain"))(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Request)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.base + path

    def page(self, path: str, body: str | bytes, **kwargs: Any) -> str:
        return self.add(path, static(body, **kwargs))

    def fetched(self, path: str, status: int | None = 200) -> int:
        return sum(1 for _, p, s in self.hits if p == path and (status is None or s == status))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def static(body: str | bytes, *, status: int = 200, content_type: str = "text/html; charset=utf-8",
           headers: dict[str, str] | None = None, length: bool = True) -> Handler:
    """A fixed answer; conditional GETs on its ETag get 304."""
    data = body.encode() if isinstance(body, str) else body
    etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'

    def handle(h: BaseHTTPRequestHandler) -> None:
        with contextlib.suppress(OSError):  # the crawler hung up (size limit, timeout): fine
            if status == 200 and h.headers.get("If-None-Match") == etag:
                h.send_response(304)
                h.send_header("ETag", etag)
                h.end_headers()
                return
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            if length:
                h.send_header("Content-Length", str(len(data)))
            h.send_header("ETag", etag)
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)

    return handle


def redirect(location: str, status: int = 302) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle


def trickle(seconds: float = 30, every: float = 0.25) -> Handler:
    """Headers at once, then one byte every ``every`` seconds: never finishes in time."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                h.wfile.write(b"<")
                h.wfile.flush()
            except OSError:
                return
            time.sleep(every)

    return handle


def gzip_bomb(megabytes: int = 100) -> bytes:
    """``megabytes`` MB of zeros, gzip-compressed (about 0.1% of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1024 * 1024)
    return b"".join([*(packer.compress(chunk) for _ in range(megabytes)), packer.flush()])


def plain_page(title: str, paragraphs: list[str], *, head: str = '<meta charset="utf-8">',
               extra: str = "") -> str:
    """An article page with no date anywhere (so date fallbacks can be seen)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html lang=\"en\"><head>{head}<title>{title}</title></head><body>"
            f"<nav><a href=\"/\">Home</a></nav><main><article><h1>{title}</h1>{extra}{body}"
            f"</article></main><footer>Footer links</footer></body></html>")


def kb_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    env.pop("KB_DB", None)
    env.pop("KB_CONFIG", None)
    return env


def run_measured(*args: str, timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the real `kb` in a child and return it with the peak memory (KiB) of it and its children."""
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run([sys.executable, '-m', 'kb', *sys.argv[1:]])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(p.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=kb_env())
    peak = int(proc.stderr.strip().splitlines()[-1])
    return proc, peak


FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "RETRY_TIMES=0",
        "-s", "DOWNLOAD_TIMEOUT=3", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]


def feed_of(server: LocalServer, path: str, items: list[dict[str, str]], **kwargs: Any) -> str:
    return server.page(path, rss2(server.base, items), content_type="application/rss+xml",
                       **kwargs)


def encoded_feed(base: str, name: str, title: str, encoding: str, declared: str) -> bytes:
    decl = f' encoding="{declared}"' if declared else ""
    return (f'<?xml version="1.0"{decl}?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>{base}/</link><item><title>{title}</title><link>{base}/{name}/page.html</link>"
            f"<description>{title} summary</description></item></channel></rss>").encode(encoding)


def build_site(s: LocalServer) -> list[str]:
    """Every hostile case; returns the feed URLs."""
    b = s.base
    feeds = []
    text = [*LOREM, " ".join(WORDS)]
    # 1. Ill-formed XML: an unescaped &, an HTML entity, unclosed tags.
    for n in (1, 2):
        s.page(f"/bozo/{n}.html", plain_page(f"Bozo page {n}", LOREM))
    feeds.append(s.page("/bozo.xml", (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Broken & co'
        f"</title><link>{b}/</link><item><title>First &nbsp; story & more</title>"
        f"<link>{b}/bozo/1.html</link><description>AT&T said <b>hello</description></item>"
        f"<item><title>Second story</title><link>{b}/bozo/2.html</link>"
        f"<description>unclosed <i>tag</item></channel>"), content_type="application/rss+xml"))
    # 2. Charsets: ISO-8859-1 as declared; windows-1252 labelled ISO-8859-1 or not at all;
    #    UTF-8 labelled ISO-8859-1 (header and declaration).
    latin = "Latin-1: Café in Zürich, naïve façade"
    feeds.append(s.page("/latin1.xml", encoded_feed(b, "latin1", latin, "latin-1", "ISO-8859-1"),
                        content_type="application/rss+xml"))
    s.page("/latin1/page.html", plain_page(latin, [*LOREM, WORDS[0]], head="").encode("latin-1"),
           content_type="text/html; charset=ISO-8859-1")
    cp = "Windows-1252: Brüssel’s “quoted” reply – a dash"
    feeds.append(s.page("/cp1252.xml", encoded_feed(b, "cp1252", cp, "cp1252", "ISO-8859-1"),
                        content_type="application/rss+xml"))
    s.page("/cp1252/page.html", plain_page(cp, text, head="").encode("cp1252"),
           content_type="text/html")
    utf = "Mislabelled UTF-8: Café “Zürich” – façade"
    feeds.append(s.page("/utf8.xml", encoded_feed(b, "utf8", utf, "utf-8", "ISO-8859-1"),
                        content_type="text/xml; charset=ISO-8859-1"))
    s.page("/utf8/page.html", plain_page(utf, text, head='<meta charset="iso-8859-1">').encode(),
           content_type="text/html; charset=ISO-8859-1")
    # 3. Entity expansion.
    feeds.append(s.page("/laughs.xml", billion_laughs(b), content_type="application/rss+xml"))
    # 4. Over the size limit: a feed with Content-Length, a page without (read until cut off),
    #    and a gzip bomb.
    feeds.append(s.page("/big.xml", b"<rss>" + b" " * (11 * 1024 * 1024) + b"</rss>",
                        content_type="application/rss+xml"))
    s.page("/limits/huge.html", b"<html><body>" + b"x" * (11 * 1024 * 1024), length=False)
    s.page("/limits/bomb.html", gzip_bomb(), headers={"Content-Encoding": "gzip"})
    # 5. A server that trickles bytes (feed and page), a redirect loop.
    feeds.append(s.add("/trickle.xml", trickle()))
    s.add("/limits/trickle.html", trickle())
    s.add("/limits/loop-a.html", redirect(f"{b}/limits/loop-b.html"))
    s.add("/limits/loop-b.html", redirect(f"{b}/limits/loop-a.html"))
    feeds.append(feed_of(s, "/limits.xml", [
        {"title": f"Limit {n}", "link": f"{b}/limits/{n}.html", "summary": f"What the feed said {n}."}
        for n in ("huge", "bomb", "trickle", "loop-a")]))
    # 5b. Links that are not URLs at all, and a page that is not HTML.
    s.page("/files/report.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40, content_type="application/pdf")
    s.page("/files/fine.html", plain_page("Fine", LOREM))
    feeds.append(feed_of(s, "/files.xml", [
        {"title": "Bad port", "link": "http://127.0.0.1:99999999/x"},
        {"title": "A report", "link": f"{b}/files/report.pdf", "summary": "The report in brief."},
        {"title": "Fine", "link": f"{b}/files/fine.html"},
    ]))
    # 6. Feeds that are errors: 404, 500, empty, HTML.
    feeds.append(b + "/missing.xml")
    feeds.append(s.page("/error.xml", "oops", status=500, content_type="text/plain"))
    feeds.append(s.page("/empty.xml", b"", content_type="application/rss+xml"))
    feeds.append(s.page("/html.xml", plain_page("A homepage", LOREM)))
    # 7. Duplicate GUIDs and tracking parameters: one article.
    s.page("/dups/story.html", plain_page("The duplicated story", LOREM))
    feeds.append(feed_of(s, "/dups.xml", [
        {"title": "Dup", "link": f"{b}/dups/story.html?utm_source=rss&utm_medium=feed", "guid": "g1"},
        {"title": "Dup", "link": f"{b}/dups/story.html?fbclid=abc", "guid": "g1"},
        {"title": "Dup again", "link": f"{b}/dups/story.html#comments", "guid": "g2"},
        {"title": "Dup", "link": f"{b}/dups/moved.html", "guid": "g1"},
    ]))
    # 8. Dates: in the future, unparseable, absent (the page has no date either).
    for name in ("future", "garbage", "none"):
        s.page(f"/dates/{name}.html", plain_page(f"Dated {name}", LOREM))
    feeds.append(s.page("/dates.xml", (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>d</title><link>{b}/</link>'
        f"<item><title>Dated future</title><link>{b}/dates/future.html</link>"
        f"<pubDate>Sat, 01 Jan 2099 09:00:00 GMT</pubDate></item>"
        f"<item><title>Dated garbage</title><link>{b}/dates/garbage.html</link>"
        f"<pubDate>the day after the summit</pubDate></item>"
        f"<item><title>Dated none</title><link>{b}/dates/none.html</link></item>"
        f"</channel></rss>"), content_type="application/rss+xml"))
    # 9. Markup meant to run: script, javascript: URLs, event handlers.
    s.page("/xss/page.html", plain_page(
        "Page title <script>alert(0)</script>", LOREM,
        extra='<script>alert(1)</script><p>Read <a href="javascript:alert(2)" onclick="steal()">'
              'this link</a> and <img src="x.png" onerror="alert(3)"> look.</p>'
              '<p onmouseover="alert(4)">Hover text stays as text.</p>'))
    feeds.append(s.page("/xss.xml", (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>{b}/</link>'
        f"<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Safe &lt;b onclick=\"x()\"&gt;title"
        f"&lt;/b&gt;</title><link>{b}/xss/page.html</link><description><![CDATA[Summary "
        f'<a href="javascript:alert(5)" onmouseover="y()">link</a><script>bad()</script>]]>'
        f"</description></item></channel></rss>"), content_type="application/rss+xml"))
    return feeds


def billion_laughs(base: str) -> bytes:
    entities = '<!ENTITY lol0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
            f"<title>&lol9;</title><link>{base}/</link><item><title>&lol9;</title>"
            f"<link>{base}/laughs/page.html</link></item></channel></rss>").encode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = LocalServer()
    feeds = build_site(server)
    db_path = tmp_path_factory.mktemp("hostile") / "kb.db"
    args = ["crawl", "--db", str(db_path), *FAST]
    for feed in feeds:
        args += ["--feed", feed]
    started = time.monotonic()
    proc, peak_kib = run_measured(*args)
    elapsed = time.monotonic() - started
    db = sqlite_utils.Database(db_path)
    yield {
        "server": server, "proc": proc, "peak_mib": peak_kib / 1024, "seconds": elapsed,
        "db": db, "base": server.base,
        "articles": {r["url"]: r for r in db.query("select * from articles")},
        "sources": {r["feed_url"]: r for r in db.query("select * from sources")},
        "run": next(db.query("select * from crawl_runs order by id desc limit 1")),
    }
    server.close()


def source(h: dict[str, Any], path: str) -> dict[str, Any]:
    return h["sources"][h["base"] + path]


def test_the_hostile_crawl_completes_quickly_in_bounded_memory(hostile):
    assert hostile["proc"].returncode == 0, hostile["proc"].stderr[-2000:]
    assert "Traceback" not in hostile["proc"].stderr
    assert hostile["seconds"] < 90
    assert hostile["peak_mib"] < 600, f"peak {hostile['peak_mib']:.0f} MiB"
    assert hostile["run"]["status"] == "completed"


def test_ill_formed_feed_still_yields_its_entries(hostile):
    b = hostile["base"]
    assert {f"{b}/bozo/1.html", f"{b}/bozo/2.html"} <= set(hostile["articles"])
    bozo = hostile["articles"][f"{b}/bozo/1.html"]
    assert json.loads(bozo["feed_entry"])["title"] == "First story & more"
    assert bozo["title"] == "Bozo page 1"  # the page's headline, which its <title> confirms
    assert source(hostile, "/bozo.xml")["last_status"] == "ok"


@pytest.mark.parametrize("name,title,needle", [
    ("latin1", "Latin-1: Café in Zürich, naïve façade", WORDS[0]),
    ("cp1252", "Windows-1252: Brüssel’s “quoted” reply – a dash", WORDS[1]),
    ("utf8", "Mislabelled UTF-8: Café “Zürich” – façade", WORDS[1]),
])
def test_wrong_or_missing_charsets_give_correct_text(hostile, name, title, needle):
    row = hostile["articles"][f"{hostile['base']}/{name}/page.html"]
    assert row["title"] == title
    assert row["summary"] == f"{title} summary"
    assert needle in row["text"]
    assert "Ã" not in row["text"] and "\ufffd" not in row["text"] and "â€" not in row["text"]


def test_entity_expansion_feed_is_refused(hostile):
    src = source(hostile, "/laughs.xml")
    assert src["last_status"] == "failed"
    assert "entit" in src["last_error"]
    assert not any("/laughs/" in url for url in hostile["articles"])


def test_entity_expansion_is_refused_at_once_in_bounded_memory():
    tracemalloc.start()
    started = time.perf_counter()
    parsed = parse_feed(billion_laughs("http://x"), "http://x/feed.xml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert parsed.error and "entit" in parsed.error and parsed.entries == []
    assert elapsed < 0.5 and peak < 5 * 1024 * 1024


def test_bodies_over_the_size_limit_are_cut_off(hostile):
    b = hostile["base"]
    assert "size limit" in source(hostile, "/big.xml")["last_error"]
    for name in ("huge", "bomb"):
        row = hostile["articles"][f"{b}/limits/{name}.html"]
        assert row["extraction"] == "fetch_failed"
        assert row["text"] == f"What the feed said {name}."
    pages = hostile["db"].execute("select count(*) from pages p join articles a on a.id = "
                                  "p.article_id where a.url like '%/limits/%'").fetchone()[0]
    assert pages == 0
    assert "size limit" in hostile["proc"].stderr


def test_links_that_are_not_urls_are_skipped_and_non_html_keeps_the_feed_text(hostile):
    b = hostile["base"]
    assert source(hostile, "/files.xml")["last_status"] == "ok"
    assert f"{b}/files/fine.html" in hostile["articles"]
    pdf = hostile["articles"][f"{b}/files/report.pdf"]
    assert (pdf["text"], pdf["extraction"]) == ("The report in brief.", "feed_only")
    assert not any("99999999" in url for url in hostile["articles"])


def test_a_trickling_server_hits_the_download_timeout(hostile):
    assert "timed out" in source(hostile, "/trickle.xml")["last_error"]
    row = hostile["articles"][f"{hostile['base']}/limits/trickle.html"]
    assert row["extraction"] == "fetch_failed"


def test_redirect_loops_stop(hostile):
    row = hostile["articles"][f"{hostile['base']}/limits/loop-a.html"]
    assert row["extraction"] == "fetch_failed"
    server = hostile["server"]
    loops = server.fetched("/limits/loop-a.html", None) + server.fetched("/limits/loop-b.html", None)
    assert 2 <= loops <= 8


@pytest.mark.parametrize("path,error", [
    ("/missing.xml", "HTTP 404"), ("/error.xml", "HTTP 500"), ("/empty.xml", "empty response"),
    ("/html.xml", "not a feed"),
])
def test_error_answers_are_recorded_against_the_source(hostile, path, error):
    src = source(hostile, path)
    assert (src["last_status"], src["consecutive_failures"]) == ("failed", 1)
    assert error in src["last_error"]
    assert src["next_due_at"] > src["last_attempt_at"]
    assert any(e.startswith(f"{src['id']}: ") and error in e
               for e in json.loads(hostile["run"]["errors"]))
    assert f"failed: {src['id']}: " in hostile["proc"].stderr


def test_duplicate_guids_and_tracking_links_give_one_article(hostile):
    b = hostile["base"]
    dups = [u for u in hostile["articles"] if "/dups/" in u]
    assert dups == [f"{b}/dups/story.html"]
    assert hostile["server"].fetched("/dups/story.html") == 1
    assert hostile["server"].fetched("/dups/moved.html", None) == 0
    assert hostile["articles"][dups[0]]["guid"].endswith("/g1")  # feedparser resolves a GUID


@pytest.mark.parametrize("name,flag", [("future", "future"), ("garbage", "unparseable"),
                                       ("none", "missing")])
def test_bad_dates_fall_back_to_the_fetch_time_and_are_flagged(hostile, name, flag):
    row = hostile["articles"][f"{hostile['base']}/dates/{name}.html"]
    assert row["date_flag"] == flag
    assert row["published_at"] == row["fetched_at"]
    assert row["updated_at"] is None


def test_markup_never_reaches_title_or_text(hostile):
    row = hostile["articles"][f"{hostile['base']}/xss/page.html"]
    assert row["title"] == "Safe title"
    assert row["summary"] == "Summary link"
    assert "this link" in row["text"] and "Hover text stays as text." in row["text"]
    for column in ("title", "summary", "text", "author"):
        value = row[column] or ""
        for bad in ("<", ">", "javascript:", "alert(", "onclick", "onerror", "onmouseover"):
            assert bad not in value, (column, bad, value)


def test_provenance_keeps_the_raw_page(hostile):
    db = hostile["db"]
    row = hostile["articles"][f"{hostile['base']}/cp1252/page.html"]
    page = db["pages"].get(row["id"])
    assert gzip.decompress(page["body_gz"]).decode("cp1252").count("“quoted”") == 3
    assert (page["status"], page["final_url"]) == (200, row["url"])
    assert json.loads(page["headers"])["Content-Type"] == "text/html"
    assert page["fetched_at"] == row["fetched_at"]


# The private-network guard, for real: the server is on 127.0.0.1; "localhost" is another host
# name for the same loopback address, so links to it stand for links into a private network.


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server = LocalServer()
    b, local = server.base, f"http://localhost:{server.port}"
    server.page("/guard/ok.html", plain_page("Same host", LOREM))
    server.page("/guard/secret.html", plain_page("Internal service", LOREM))
    server.page("/guard/secret2.html", plain_page("Internal service two", LOREM))
    server.add("/guard/hop.html", redirect(f"{local}/guard/secret2.html"))
    links = {
        "ok": f"{b}/guard/ok.html", "other-host": f"{local}/guard/secret.html",
        "hop": f"{b}/guard/hop.html", "file": "file:///etc/passwd",
        "data": "data:text/html,<p>hello</p>", "ftp": f"ftp://127.0.0.1:{server.port}/x",
    }
    public_only = {"metadata": "http://169.254.169.254/latest/meta-data/",
                   "private": "http://10.1.2.3/admin", "ipv6": "http://[::1]:9/x"}
    feed_of(server, "/guard.xml", [{"title": k, "link": v, "guid": k}
                                   for k, v in {**links, **public_only}.items()])
    feed_of(server, "/guard-local.xml", [{"title": k, "link": v, "guid": k}
                                         for k, v in links.items()])
    yield {"server": server, "base": b, "local": local, "db": tmp_path / "kb.db"}
    server.close()


def guard_crawl(g: dict[str, Any], feed: str, *extra: str) -> subprocess.CompletedProcess[str]:
    from conftest import run_kb

    proc = run_kb("crawl", "--db", str(g["db"]), "--feed", g["base"] + feed, *FAST, *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_links_to_private_hosts_and_other_schemes_are_refused_and_logged(guarded):
    proc = guard_crawl(guarded, "/guard.xml")
    db = sqlite_utils.Database(guarded["db"])
    assert [r["url"] for r in db.query("select url from articles")] == [
        f"{guarded['base']}/guard/ok.html"]
    server = guarded["server"]
    assert server.fetched("/guard/secret.html", None) == 0
    assert server.fetched("/guard/secret2.html", None) == 0
    assert server.fetched("/guard/hop.html") == 0 and server.fetched("/guard/hop.html", 302) == 1
    [run] = db["crawl_runs"].rows
    assert run["pages_refused"] == 8
    assert "8 links refused" in proc.stdout
    for url in (f"{guarded['local']}/guard/secret.html", "file:", "data:", "ftp:",
                "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/admin"):
        assert f"refused {url}" in proc.stderr
    assert f"refused {guarded['local']}/guard/secret2.html (redirected from" in proc.stderr


def test_allow_private_lifts_the_guard_but_not_for_other_schemes(guarded):
    proc = guard_crawl(guarded, "/guard-local.xml", "--allow-private")
    db = sqlite_utils.Database(guarded["db"])
    local = guarded["local"]
    stored = {r["url"]: r for r in db.query("select * from articles")}
    assert set(stored) == {f"{guarded['base']}/guard/ok.html", f"{local}/guard/secret.html",
                           f"{guarded['base']}/guard/hop.html"}
    assert "general-purpose AI models" in stored[f"{local}/guard/secret.html"]["text"]
    hop = db["pages"].get(stored[f"{guarded['base']}/guard/hop.html"]["id"])
    assert hop["final_url"] == f"{local}/guard/secret2.html"
    assert guarded["server"].fetched("/guard/secret2.html") == 1
    assert "3 links refused" in proc.stdout


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.1",
    "169.254.169.254", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1",
])
def test_private_addresses_are_recognised(address):
    assert is_private_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "2001:4860:4860::8888"])
def test_public_addresses_are_not(address):
    assert not is_private_address(address)


@pytest.mark.parametrize("url,reason", [
    ("file:///etc/passwd", "scheme 'file'"), ("data:text/html,x", "scheme 'data'"),
    ("ftp://example.com/x", "scheme 'ftp'"), ("javascript:alert(1)", "scheme 'javascript'"),
    ("http://localhost:8080/x", "localhost is a private"),
    ("http://2130706433/", "is a private"),  # 127.0.0.1 written as a number
    ("http://127.0.0.1:9/x", None),  # the feed's own host
])
def test_refusal_reasons(url, reason):
    got = refusal_reason(url, "http://127.0.0.1:9/feed.xml")
    assert (got is None) if reason is None else (reason in got)
