"""Hardening of the public instance and the crawler (issue 21), against real parts: `kb serve` child
processes on 127.0.0.1 over copies of the demo corpus, headless Chromium, a real DNS server.

- routes: malformed paths and parameters get a 404 or 400, never a 500, cheaply, in one log line;
- headers: a strict CSP that the pages pass in Chromium, nosniff, frame-ancestors, Referrer-Policy;
  links from the configured base URL, never the Host header; no absolute file path in any body;
- SQL bounds: value and result sizes, one running query per client, pages fast during a flood;
- the schema gate: `kb serve` refuses a newer schema and leaves the file alone;
- the guard: a failed lookup is a refusal; the address checked is the address connected to.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import statistics
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlite_utils
from conftest import ROOT, copy_database, run_kb
from test_hostile import LOREM, LocalServer, feed_of, plain_page
from test_web import free_port, start_server, stop_server

from kb.crawl.netguard import addresses_refusal, refusal_reason
from kb.publish.limits import ClientGate, RateLimiter

BASE_URL = "https://news.example.org"
CHROMIUM = Path("/usr/bin/chromium")
SLOW_SQL = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"


def serve(db: Path, *extra: str) -> tuple[Any, str]:
    return start_server(db, *extra, timeout=120)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def public(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`kb serve --public --base-url https://news.example.org` over a copy of the demo corpus."""
    db = copy_database(demo_db, tmp_path_factory.mktemp("public") / "kb.db")
    proc, base = serve(db, "--public", "--base-url", BASE_URL)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield {"client": client, "proc": proc, "db": db, "base": base,
                   "log": db.parent / f"serve-{base.rsplit(':', 1)[1]}.log"}
    finally:
        stop_server(proc)


# -- routes: malformed input never gives a 500 ------------------------------------------------------

MALFORMED = [
    "/x.y.z", "/kb.nope.json", "/-/feeds/topic/a:b.atom", "/kb/articles?_sort=nosuch",
    "/kb/articles?_sort_desc=nosuch", "/kb/articles?_facet=nosuch", "/kb/articles.nope",
    "/kb/articles/99999999", "/kb/nosuchtable", "/kb/nosuchtable.json", "/nodb/articles",
    "/kb?sql=select", "/kb.json?sql=select+nosuch+from+articles", "/kb/articles?_size=abc",
    "/kb/articles.json?_size=-1", "/kb/articles?_next=zzz", "/kb/articles?_where=nonsense+(",
    "/kb/article_list?_search=%22unbalanced", "/kb/article_list.json?_facet_array=nosuch",
    "/-/article/abc", "/-/article/99999999999999999999999", "/-/story/%00", "/-/story/st-..%2F..",
    "/-/search?limit=abc", "/-/search.json?since=yesterday", "/-/search?q=x&mode=fuzzy",
    "/-/search.atom", "/-/feeds/vendor/%ff%fe.atom", "/-/feeds/topic/.atom", "/-/feeds/topic/x.atom",
    "/-/charts/topics-per-week.png", "/-/unsubscribe?t=nope", "/-/unsubscribe",
    "/kb/funding_by_vendor.json?vendor=%00", "/static/../kb.db", "/-/static/nope.css",
    "/kb/articles.csv?_stream=on", "/" + "a" * 5000, "/-/search?q=" + "x" * 5000,
]


def test_malformed_paths_get_a_400_or_404_never_a_500(public):
    site = public["client"]
    log = public["log"]
    before = log.read_text(errors="replace").count("\n")
    for path in MALFORMED:
        response = site.get(path)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
        assert response.status_code in (200, 302, 400, 403, 404), (path, response.status_code)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/kb/articles/-/insert", "/kb/articles", "/kb", "/-/search", "/kb/-/create",
                     "/-/messages", "/-/logout"):
            response = site.request(method, path, content=b"{}")
            assert response.status_code == 405, (method, path, response.status_code)
    written = log.read_text(errors="replace").splitlines()[before:]
    text = "\n".join(written)
    assert "Traceback" not in text and "│" not in text and "╭" not in text  # no rich tracebacks
    assert not [line for line in written if line.startswith(" ")]  # no multi-line messages
    ours = [line for line in written if ": 40" in line and not line.startswith("INFO")]
    assert len(ours) >= 20 and all(len(line) < 600 for line in ours)


def test_error_responses_cost_under_10_ms_of_cpu(public):
    site, pid = public["client"], public["proc"].pid
    paths = ["/x.y.z", "/kb.nope.json", "/kb/articles?_sort=nosuch", "/-/article/99999999",
             "/-/search?q=x&mode=fuzzy", "/kb.json?sql=select+nosuch"]
    for path in paths:
        site.get(path)
    for path in paths:
        start = cpu_seconds(pid)
        for _ in range(50):
            assert site.get(path).status_code in (400, 404)
        per_request = (cpu_seconds(pid) - start) / 50
        assert per_request < 0.010, (path, per_request)


# -- headers, base URL, file paths ------------------------------------------------------------------

def test_protective_headers_on_every_response(public):
    site = public["client"]
    for path in ("/-/search", "/-/search.json?q=chips", "/-/feeds/topic/funding.atom", "/kb/articles",
                 "/kb/articles.json", "/-/charts/topics-per-week.svg", "/static/aiwatch.css",
                 "/-/static/app.css", "/x.y.z", "/kb/articles?_sort=nosuch", "/"):
        headers = site.get(path).headers
        csp = headers["content-security-policy"]
        script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] in ("same-origin", "no-referrer"), path
        assert headers["x-frame-options"] == "DENY", path


def test_links_come_from_the_base_url_never_the_host_header(public):
    site = public["client"]
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    for path in ("/-/feeds/topic/funding.atom", "/-/search.atom?q=Mistral", "/kb/articles.json?_size=2",
                 "/kb/articles?_size=2", "/-/search?q=Mistral"):
        body = site.get(path, headers=evil).text
        assert "evil.example" not in body, path
    feed = site.get("/-/feeds/topic/funding.atom", headers=evil).text
    assert f"<id>{BASE_URL}/-/" in feed and f'href="{BASE_URL}/-/feeds/topic/funding.atom"' in feed
    assert site.get("/kb/articles.json?_size=2", headers=evil).json()["next_url"].startswith(BASE_URL)


def test_no_absolute_file_path_in_any_response(public):
    site = public["client"]
    secrets = [str(public["db"].parent), str(ROOT), sys.prefix]
    paths = ["/-/databases.json", "/-/versions.json", "/-/plugins.json", "/-/settings.json",
             "/-/metadata.json", "/-/threads.json", "/-/config.json", "/kb.json", "/kb", "/-/search",
             "/kb/articles?_sort=nosuch", "/kb.json?sql=select+nosuch", "/x.y.z",
             "/kb.json?sql=" + quote("select * from pragma_database_list"),
             "/kb.json?sql=" + quote("select file from pragma_database_list")]
    for path in paths:
        body = site.get(path).text
        for secret in secrets:
            assert secret not in body, (path, secret)
    assert [d["path"] for d in site.get("/-/databases.json").json()] == ["kb.db"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")
def test_pages_pass_the_content_security_policy_in_chromium(public, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    db = sqlite_utils.Database(public["db"])
    article = db.execute("select id from articles order by id limit 1").fetchone()[0]
    story = db.execute("select id from stories limit 1").fetchone()[0]
    pages = ["/-/search", "/-/search?q=Mistral+debt+and+equity&mode=keyword", f"/-/article/{article}",
             f"/-/story/{story}", "/kb/article_list", "/kb/articles", "/kb", "/kb?sql=select+1",
             "/kb/topics_per_week", "/-/charts/topics-per-week", "/kb/funding_rounds", "/x.y.z",
             "/-/unsubscribe?t=nope"]
    violations: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(base_url=public["base"])
            page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                                 "(window.__csp = window.__csp || []).push(e.violatedDirective + ' ' "
                                 "+ e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber))")
            page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
            for path in pages:
                page.goto(path)
                page.wait_for_load_state("load")
                violations += [f"{path}: {v}" for v in page.evaluate("window.__csp || []")]
            # Datasette's own scripts ran: the SQL editor is a CodeMirror, menus close on a click.
            page.goto("/kb?sql=select+1")
            assert page.locator(".CodeMirror").count() == 1
        finally:
            browser.close()
    assert violations == []


# -- SQL bounds -------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_values_and_results_are_bounded(public):
    site, pid = public["client"], public["proc"].pid
    rss = rss_mb(pid)
    for sql, message in (
        ("select length(randomblob(1000000000))", "string or blob too big"),
        ("select randomblob(250000000) a, randomblob(250000000) b, randomblob(250000000) c",
         "string or blob too big"),
        ("with recursive c(x) as (select 1 union all select x + 1 from c limit 1000) "
         "select randomblob(1000000) from c", "larger than 16 MB"),
        # 8 MB of control characters, 48 MB as JSON escapes: the response cap
        ("select replace(hex(zeroblob(4000000)), '0', char(1))", "the response is larger than 32 MB"),
    ):
        started = time.monotonic()
        response = site.get("/kb.json", params={"sql": sql})
        assert response.status_code == 400 and message in response.json()["error"], (sql, response.text)
        assert time.monotonic() - started < 5, sql
    assert rss_mb(pid) - rss < 300
    ok = site.get("/kb.json", params={"sql": "select length(text) from articles order by 1 desc limit 1"})
    assert ok.status_code == 200 and ok.json()["rows"][0][0] > 1000
    assert site.get("/-/search.json", params={"q": "chips", "mode": "keyword"}).json()["results"]


def slow_query(base: str, address: str = "127.0.0.1", **headers: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base, transport=transport, timeout=60) as c:
        return c.get("/kb.json", params={"sql": SLOW_SQL}, headers=headers)


def test_one_running_query_per_client(public):
    base = public["base"]
    first: list[httpx.Response] = []
    runner = threading.Thread(target=lambda: first.append(slow_query(base, "127.0.0.21")))
    runner.start()
    time.sleep(0.5)
    again = slow_query(base, "127.0.0.21")
    assert again.status_code == 429 and again.headers["retry-after"]
    other = slow_query(base, "127.0.0.22")  # another client waits its turn and runs
    runner.join()
    assert first[0].status_code == 400 and "too long" in first[0].text
    assert other.status_code == 400 and "too long" in other.text
    # Behind a reverse proxy on this machine, clients are told apart by X-Forwarded-For.
    proxied: list[httpx.Response] = []
    runner = threading.Thread(target=lambda: proxied.append(
        slow_query(base, "127.0.0.23", **{"X-Forwarded-For": "203.0.113.7"})))
    runner.start()
    time.sleep(0.5)
    assert slow_query(base, "127.0.0.23", **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    runner.join()


def test_pages_stay_fast_while_eight_clients_flood_the_sql_endpoint(public):
    base = public["base"]
    stop = time.monotonic() + 12
    answers: list[int] = []

    def flood(n: int) -> None:
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{31 + n}")
        with httpx.Client(base_url=base, transport=transport, timeout=60) as c:
            while time.monotonic() < stop:
                answers.append(c.get("/kb.json", params={"sql": SLOW_SQL}).status_code)

    flooders = [threading.Thread(target=flood, args=(n,)) for n in range(8)]
    for t in flooders:
        t.start()
    time.sleep(1)
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < stop - 1:
            for path in ("/-/search?q=Mistral+debt+and+equity", "/kb/article_list", "/-/article/1",
                         "/-/feeds/topic/funding.atom"):
                started = time.monotonic()
                assert c.get(path).status_code == 200, path
                latencies.append(time.monotonic() - started)
    for t in flooders:
        t.join()
    latencies.sort()
    assert len(latencies) > 20 and answers and set(answers) <= {400, 429, 503}
    assert latencies[int(len(latencies) * 0.95)] < 1.0, latencies[-5:]
    assert statistics.median(latencies) < 0.5


def test_client_gate_and_rate_limiter():
    gate = ClientGate(per_client=1, total=2)
    assert gate.enter("a") and not gate.enter("a") and gate.enter("b") and not gate.enter("c")
    gate.leave("a")
    assert gate.enter("c")
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert [limiter.allow("x") for _ in range(3)] == [True, True, False]
    assert limiter.allow("y")
    now[0] = 10.0  # one token back after 10 s at 6 a minute
    assert limiter.allow("x") and not limiter.allow("x")


# -- kb serve: --no-sql, --public, first search, the schema gate ------------------------------------

def test_no_sql_refuses_arbitrary_sql_and_the_first_search_is_fast(demo_db, tmp_path):
    db = copy_database(demo_db, tmp_path / "kb.db")
    proc, base = serve(db, "--no-sql")
    try:
        log = tmp_path / f"serve-{base.rsplit(':', 1)[1]}.log"
        deadline = time.monotonic() + 120
        while "embedding models ready" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        started = time.monotonic()
        first = httpx.get(base + "/-/search.json", params={"q": "Mistral debt and equity"}, timeout=60)
        assert first.status_code == 200 and first.json()["results"]
        assert time.monotonic() - started < 1.0
        assert httpx.get(base + "/kb", params={"sql": "select 1"}).status_code == 403
        assert httpx.get(base + "/kb/articles", params={"_where": "1=1"}).status_code == 403
        assert httpx.get(base + "/kb/funding_by_vendor.json", params={"vendor": "Mistral"}).status_code == 200
    finally:
        stop_server(proc)


@pytest.mark.parametrize("args,message", [
    (["--public"], "--public needs the instance's public address"),
    (["--base-url", "ftp://x.example"], "not an http(s) URL"),
    (["--base-url", "https://x.example/sub/path"], "give the scheme and host only"),
])
def test_serve_refuses_bad_options_with_one_error_line(tmp_path, args, message):
    db = tmp_path / "kb.db"
    run_kb("init", "--db", str(db), check=True)
    proc = run_kb("serve", "--db", str(db), "--port", str(free_port()), *args, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("Error:")
    assert message in proc.stderr


@pytest.mark.slow
def test_a_newer_schema_is_refused_by_serve_export_and_digest(tmp_path):
    db = tmp_path / "kb.db"
    run_kb("init", "--db", str(db), check=True)
    conn = sqlite3.connect(db)
    known = conn.execute("pragma user_version").fetchone()[0]
    conn.execute(f"pragma user_version = {known + 1}")
    conn.close()
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for args in (["serve", "--port", str(free_port())], ["export"], ["digest", "--week", "2026-W46"]):
        proc = run_kb(*args, "--db", str(db), timeout=60)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith(f"Error: this database was written by a newer aiwatch "
                                      f"(schema {known + 1} > {known})"), (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


# -- the guard: fails closed, and connects to the address it checked --------------------------------

class DnsServer:
    """A real DNS server on 127.0.0.1 (UDP) answering A queries from ``answers``: each name's list
    of addresses is served in turn (the last one repeats); unknown names get NXDOMAIN."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            self.sock.sendto(self.answer(data), peer)

    def answer(self, query: bytes) -> bytes:
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode())
            i += 1 + query[i]
        question = query[12:i + 5]
        qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
        name = ".".join(labels).lower()
        if qtype == 1:
            self.asked.append(name)
        if name not in self.answers:
            return query[:2] + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + question
        served = self.answers[name]
        address = served[0] if len(served) == 1 else served.pop(0)
        records = struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(address) if qtype == 1 else b""
        return query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if records else 0, 0, 0) + question + records

    def close(self) -> None:
        self.sock.close()


FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "RETRY_TIMES=0",
        "-s", "DOWNLOAD_TIMEOUT=3", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "ROBOTSTXT_OBEY=0"]


def test_a_name_that_rebinds_to_a_private_address_is_never_fetched(tmp_path):
    server = LocalServer()
    dns = DnsServer({
        "rebind.test": ["93.184.215.14", "127.0.0.1"],  # public when checked, then loopback
        "private.test": ["10.0.0.5"],
        "loopback.test": ["127.0.0.1"],
    })
    try:
        port = server.port
        for name in ("secret", "private", "loopback", "missing"):
            server.page(f"/guard/{name}.html", plain_page(f"Internal {name}", LOREM))
        feed_of(server, "/feed.xml", [
            {"title": "rebinding", "link": f"http://rebind.test:{port}/guard/secret.html", "guid": "1"},
            {"title": "private", "link": f"http://private.test:{port}/guard/private.html", "guid": "2"},
            {"title": "loopback", "link": f"http://loopback.test:{port}/guard/loopback.html", "guid": "3"},
            {"title": "missing", "link": f"http://nxdomain.test:{port}/guard/missing.html", "guid": "4"},
        ])
        proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "--feed", server.base + "/feed.xml",
                      *FAST, "-s", f"KB_DNS_SERVERS=127.0.0.1:{dns.port}")
        assert proc.returncode in (0, 1), proc.stderr
        for name in ("secret", "private", "loopback", "missing"):
            assert server.fetched(f"/guard/{name}.html", None) == 0, name
        assert dns.asked.count("rebind.test") == 1  # checked once, then pinned: no second answer used
        assert (f"refused http://private.test:{port}/guard/private.html: private.test is a private"
                in proc.stderr)
        assert f"refused http://loopback.test:{port}/guard/loopback.html" in proc.stderr
        assert f"refused http://nxdomain.test:{port}/guard/missing.html: nxdomain.test could not be " \
               "resolved" in proc.stderr
    finally:
        dns.close()
        server.close()


@pytest.mark.parametrize("url", ["http://localhost.:9/x", "http://127.0.0.1.:9/x",
                                 "http://nonexistent.invalid/x", "http:///x"])
def test_a_failed_lookup_is_a_refusal(url):
    reason = refusal_reason(url, "http://feeds.example.org/feed.xml")
    assert reason and ("private" in reason or "could not be resolved" in reason), url


def test_addresses_refusal():
    assert addresses_refusal("a.test", []) == "a.test could not be resolved"
    assert "private" in (addresses_refusal("a.test", ["93.184.215.14", "10.1.1.1"]) or "")
    assert addresses_refusal("a.test", ["93.184.215.14"]) is None
