"""The Datasette instance over a real `kb serve` child process on 127.0.0.1: search page and its JSON,
article, story, funding and chart pages, canned queries, facets, Atom feeds, escaping of crawled
text, no e-mail address anywhere, Datasette's usual errors."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import feedparser
import httpx
import pytest
from conftest import copy_database
from markupsafe import escape
from sqlite_utils import Database
from sqlite_utils.utils import sqlite3 as dbapi

from kb.enrich.ledger import build_ledger
from kb.publish.serve import spawn_server, wait_for_server
from kb.publish.web import QueryTimeout, Reader, one_per_story, related, story_members
from kb.store.views import ensure_views

SEED_TITLE = "Mistral CEO pitches open source AI days after Anthropic ban"
QUERY = "Mistral debt and equity"
XSS = "<script>alert(1)</script>"
XSS_VENDOR = "<img src=x onerror=alert(2)>"
XSS_WORD = "zorblaxian"
SUBSCRIBER = "secret.reader@example.org"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
ATOM = "{http://www.w3.org/2005/Atom}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepared_copy(demo_db: Path, folder: Path) -> Path:
    """A copy of the demo corpus with a hostile article (markup in every crawled field) and, beside
    it, the private subscribers database the digest keeps (which Datasette must never serve)."""
    target = copy_database(demo_db, folder / "kb.db")
    db = Database(target)
    source_id = db.execute("select id from sources order by id limit 1").fetchone()[0]
    aid = db["articles"].insert({
        "url": "https://hostile.example/x?a=1&b=<2>", "source_id": source_id,
        "title": f"{XSS} {XSS_WORD} chip smuggling", "published_at": "2026-11-27T10:00:00+00:00",
        "lang": "en", "summary": f"Summary {XSS}\x0b", "author": XSS,
        "text": f"First paragraph {XSS_WORD} mentions {XSS} and export controls.\n\nSecond \x02 part.",
        "content_hash": "hostile", "word_count": 9, "extraction": "trafilatura",
    }).last_pk
    db["article_topics"].insert({"article_id": aid, "topic": "export-controls", "score": 0.99,
                                 "method": "rules", "evidence": XSS})
    eid = db["entities"].insert({"kind": "vendor", "name": XSS_VENDOR}).last_pk
    db["article_entities"].insert({"article_id": aid, "entity_id": eid, "mentions": 2, "method": "rules"})
    db["funding_events"].insert({"article_id": aid, "company": XSS, "amount": 1e6, "currency": "USD",
                                 "kind": "equity", "sentence": XSS, "method": "rules"})
    build_ledger(db)  # as enrichment does after its stages
    db.conn.close()
    private = Database(folder / "kb.private.db")
    private["subscribers"].insert({"email": SUBSCRIBER, "topics": "[]"})
    private.conn.close()
    return target


def start_server(db_path: Path, *extra: str, timeout: float = 90) -> tuple[subprocess.Popen[bytes], str]:
    """`kb serve` (with ``extra`` options) on a free port, once it answers; its log beside the db."""
    port = free_port()
    proc = spawn_server(db_path, port=port, log=db_path.parent / f"serve-{port}.log", extra=list(extra))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(base + "/-/search", proc, timeout=timeout)
    except Exception:
        proc.kill()
        raise
    return proc, base


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def kb_copy(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_copy(demo_db, tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def site(kb_copy: Path) -> Iterator[httpx.Client]:
    proc, base = start_server(kb_copy)
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            yield client
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def db(kb_copy: Path, site: httpx.Client) -> Database:
    """The copy, read-only, after the server has created its views."""
    return Database(sqlite3.connect(f"file:{kb_copy}?mode=ro", uri=True))


def search_json(site: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = site.get("/-/search.json", params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_home_page_leads_to_the_search_page(site):
    response = site.get("/")
    assert response.status_code == 302
    assert response.headers["location"] == "/-/search"
    page = site.get("/-/search").text
    assert 'name="q"' in page
    assert re.search(r'value="hybrid"\s+checked', page)
    for name in ("topic", "vendor", "jurisdiction", "source", "since", "until"):
        assert f'name="{name}"' in page


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_search_json_finds_the_seed_article_in_each_mode(site, mode):
    results = search_json(site, q=QUERY, mode=mode)
    assert SEED_TITLE in [r["title"] for r in results[:10]]
    seed = next(r for r in results if r["title"] == SEED_TITLE)
    assert seed["outlets"] >= 2
    assert "Mistral AI" in seed["vendors"]
    assert {t["slug"] for t in seed["topics"]} >= {"open-source"}
    assert seed["page"] == f"/-/article/{seed['id']}"
    if mode != "semantic":
        assert "<mark>" in seed["snippet_html"] and "\x02" not in seed["snippet"]


def test_search_page_shows_highlights_chips_outlets_and_feed(site):
    page = site.get("/-/search", params={"q": QUERY}).text
    assert SEED_TITLE in page
    assert re.search(r"<mark>(Mistral|debt|equity)</mark>", page)
    assert re.search(r'class="chip topic"[^>]*>open-source <span class="chip-score">1\.00', page)
    assert re.search(r'class="outlets" href="/-/story/st-[0-9a-f]+">3 outlets', page)
    feed = re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]*href="([^"]+)"', page)
    assert feed and feed.group(1).startswith("/-/search.atom?q=Mistral")


def test_search_filters_apply(site, db):
    by_topic = search_json(site, q=QUERY, topic="funding")
    assert by_topic and all("funding" in {t["slug"] for t in r["topics"]} for r in by_topic)
    by_vendor = search_json(site, q="chips export", mode="keyword", vendor="Nvidia")
    assert by_vendor and all("Nvidia" in r["vendors"] for r in by_vendor)
    dated = search_json(site, q=QUERY, mode="keyword", since="2026-10-01", until="2026-10-06")
    assert dated and all("2026-10-01" <= r["published"][:10] <= "2026-10-06" for r in dated)
    source, name = db.execute("select a.source_id, s.name from articles a join sources s "
                              "on s.id = a.source_id where a.title = ?", [SEED_TITLE]).fetchone()
    by_source = search_json(site, q=QUERY, source=source)
    assert by_source and {r["source"] for r in by_source} == {name}
    assert search_json(site, q=QUERY, jurisdiction="EU")


def test_bad_parameters_get_datasettes_error_page(site):
    page = site.get("/-/search", params={"q": "x", "mode": "fuzzy"})
    assert page.status_code == 400 and "unknown mode" in page.text and "Powered by" in page.text
    data = site.get("/-/search.json", params={"q": "x", "since": "last week"})
    assert data.status_code == 400 and data.json()["error"].startswith("since 'last week' is no date")
    vendor = site.get("/-/search.json", params={"q": "x", "vendor": "Mistral"})  # the CLI's message
    assert vendor.status_code == 400
    assert vendor.json()["error"] == "unknown vendor 'Mistral' (did you mean 'Mistral AI'?)"
    assert site.get("/-/search.json", params={"q": "Mistral", "vendor": "mistral ai",
                                              "since": "2026-01-01"}).json()["results"]
    assert site.get("/-/article/999999").status_code == 404
    assert site.get("/-/story/st-nope").status_code == 404


def test_article_page(site, db):
    aid = db.execute("select id from articles where title = ?", [SEED_TITLE]).fetchone()[0]
    page = site.get(f"/-/article/{aid}").text
    assert f"<h1>{SEED_TITLE}</h1>" in page
    assert "<q>open weights</q>" in page  # topic evidence
    assert "3,500,000,000" in page  # the funding event
    [authors] = db.execute("select authors from articles where id = ?", [aid]).fetchone()
    assert json.loads(authors) and f'by <span class="authors">{", ".join(json.loads(authors))}' in page
    story = db.execute("select story_id from story_articles where article_id = ?", [aid]).fetchone()[0]
    assert f'href="/-/story/{story}"' in page
    others = [r[0] for r in db.execute("select a.title from story_articles s join articles a on "
                                       "a.id = s.article_id where story_id = ? and a.id != ?", [story, aid])]
    assert others and all(str(escape(title)) in page for title in others)
    related_part = page.split('class="related"')[1].split("</section>")[0]
    assert related_part.count("<li>") == 5
    assert not any(str(escape(title)) in related_part for title in others)


def test_related_leaves_out_the_story_and_the_article(db):
    aid = db.execute("select id from articles where title = ?", [SEED_TITLE]).fetchone()[0]
    found = related(db, aid, limit=8)
    assert len(found) == 8
    members = set(story_members(db, aid))
    assert len(members) >= 2 and not members & {r["id"] for r in found}


def test_story_page_lists_articles_in_time_order(site, db):
    story = db.execute("select id from stories order by outlet_count desc, id limit 1").fetchone()[0]
    page = site.get(f"/-/story/{story}").text
    times = re.findall(r'<time datetime="([^"]+)"', page)
    expected = [r[0] for r in db.execute("select a.published_at from story_articles s join articles a "
                                         "on a.id = s.article_id where s.story_id = ?", [story])]
    assert times == sorted(expected) and len(times) >= 2


def test_funding_rounds_sort_by_each_column(site):
    for column in ("company", "amount", "currency", "valuation", "date"):
        data = site.get("/kb/funding_rounds.json", params={"_sort_desc": column, "_shape": "objects",
                                                            "_size": "max"}).json()
        values = [r[column] for r in data["rows"] if r[column] is not None]
        assert len(values) > 3 and values == sorted(values, reverse=True), column
    page = site.get("/kb/funding_rounds", params={"_sort_desc": "amount"}).text
    assert "650,000,000,000" in page


def test_article_list_facets_and_full_text_search(site):
    data = site.get("/kb/article_list.json", params={"_search": "Mistral", "_shape": "objects"}).json()
    assert set(data["facet_results"]) == {"topics", "vendors", "jurisdictions", "source", "lang", "month"}
    topics = {f["value"]: f["count"] for f in data["facet_results"]["topics"]["results"]}
    assert topics["open-source"] > 0
    assert data["rows"] and all("Mistral" in json.dumps(r) for r in data["rows"])
    newest = site.get("/kb/article_list.json", params={"_shape": "objects"}).json()["rows"]
    assert [r["published"] for r in newest] == sorted((r["published"] for r in newest), reverse=True)
    filtered = site.get("/kb/article_list.json", params={"topics__arraycontains": "funding",
                                                         "_shape": "objects", "_size": "max"}).json()
    assert filtered["rows"] and all("funding" in json.loads(r["topics"]) for r in filtered["rows"])


def test_canned_queries(site):
    rounds = site.get("/kb/funding_by_vendor.json", params={"vendor": "Mistral", "_shape": "objects"})
    assert rounds.json()["rows"] and all("Mistral" in r["company"] for r in rounds.json()["rows"])
    for name in ("export_control_timeline", "regulation_by_jurisdiction", "topics_per_week",
                 "stories_of_the_week"):
        rows = site.get(f"/kb/{name}.json", params={"_shape": "objects"}).json()["rows"]
        assert rows, name
    timeline = site.get("/kb/export_control_timeline.json", params={"_shape": "objects"}).json()["rows"]
    assert [r["first_reported"] for r in timeline] == sorted(r["first_reported"] for r in timeline)
    week = site.get("/kb/stories_of_the_week.json", params={"_shape": "objects"}).json()["rows"]
    assert week[0]["outlets"] == max(r["outlets"] for r in week)
    assert 'src="/-/charts/topics-per-week.svg"' in site.get("/kb/topics_per_week").text


def test_topics_per_week_chart_is_svg_with_a_line_per_topic(site, db):
    response = site.get("/-/charts/topics-per-week.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(response.content)
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    topics = {r[0] for r in db.execute("select distinct topic from article_topics")}
    assert {line.find("{http://www.w3.org/2000/svg}title").text for line in lines} == topics


def parse_feed(site: httpx.Client, path: str) -> Any:
    response = site.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    ET.fromstring(response.content)  # well-formed XML
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    return feed


def test_topic_feed_has_one_entry_per_story(site, db):
    feed = parse_feed(site, "/-/feeds/topic/funding.atom")
    stories = {r[0] for r in db.execute(
        "select coalesce(s.story_id, 'a' || t.article_id) from article_topics t left join story_articles s "
        "on s.article_id = t.article_id where t.topic = 'funding'")}
    assert len(feed.entries) == min(40, len(stories))
    assert len({e.id for e in feed.entries}) == len(feed.entries)
    ids = [int(e.links[1].href.rsplit("/", 1)[1]) for e in feed.entries]
    assert one_per_story(db, ids) == ids
    assert all(e.updated and e.title and e.links[0].href.startswith("http") for e in feed.entries)


def test_vendor_and_search_feeds(site):
    vendor = parse_feed(site, "/-/feeds/vendor/" + quote("Mistral AI") + ".atom")
    assert vendor.entries and vendor.feed.title == "aiwatch: Mistral AI"
    # Arm is only ever named in passing in the sample: an empty feed, not an error
    assert site.get("/-/feeds/vendor/Arm.atom").status_code == 200
    assert not parse_feed(site, "/-/feeds/vendor/Arm.atom").entries
    assert site.get("/-/feeds/vendor/Nosuchvendor.atom").status_code == 404
    search = parse_feed(site, "/-/search.atom?" + str(httpx.QueryParams({"q": QUERY})))
    # a subscription: the relevant stories, newest first
    ranked = search_json(site, q=QUERY, sort="newest")
    assert search.entries[0].title == ranked[0]["title"]
    assert [e.updated for e in search.entries] == sorted((e.updated for e in search.entries), reverse=True)
    story = next(r["story_id"] for r in ranked if r["title"] == SEED_TITLE)
    # The seed article's story is one entry.
    base = str(site.base_url).rstrip("/")
    assert [e.id for e in search.entries].count(f"{base}/-/story/{story}") == 1
    assert len({e.id for e in search.entries}) == len(search.entries) < len(ranked)
    assert site.get("/-/search.atom").status_code == 400
    assert site.get("/-/feeds/topic/no-such-topic.atom").status_code == 404


def test_crawled_markup_is_escaped_everywhere(site, db):
    aid = db.execute("select id from articles where content_hash = 'hostile'").fetchone()[0]
    pages = [
        site.get("/-/search", params={"q": XSS_WORD, "mode": "keyword"}).text,
        site.get(f"/-/article/{aid}").text,
        site.get("/kb/article_list", params={"_search": XSS_WORD}).text,
        site.get("/kb/funding_rounds").text,
        site.get("/kb/articles", params={"_search": XSS_WORD}).text,
        site.get("/kb/article_list", params={"_facet_array": "vendors", "_search": XSS_WORD}).text,
    ]
    for page in pages:
        assert XSS not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    feed = site.get("/-/feeds/topic/export-controls.atom")
    ET.fromstring(feed.content)
    assert XSS.encode() not in feed.content and b"&lt;script&gt;alert(1)&lt;/script&gt;" in feed.content
    assert not feedparser.parse(feed.content).bozo


def every_route(site: httpx.Client, db: Database) -> list[str]:
    """Every page the instance lists: its JSON endpoints, each table, view and canned query (HTML
    and JSON, all rows), a row page per table, and our pages for every article and story."""
    routes = ["/", "/-/search", f"/-/search?q={quote(QUERY)}", f"/-/search.json?q={quote(QUERY)}",
              f"/-/search.atom?q={quote(QUERY)}", "/-/metadata.json", "/-/databases.json",
              "/-/plugins.json", "/-/settings.json", "/-/versions.json", "/-/threads.json",
              "/-/actor.json", "/-/charts/topics-per-week", "/-/charts/topics-per-week.svg", "/kb",
              "/kb.json"]
    info = site.get("/kb.json").json()
    for table in info["tables"]:
        name = table["name"]
        routes += [f"/kb/{quote(name)}", f"/kb/{quote(name)}.json?_size=max"]
        if table["primary_keys"] and table["count"] and not table["hidden"]:
            first = site.get(f"/kb/{quote(name)}.json?_size=1&_shape=objects").json()["rows"][0]
            key = ",".join(quote(str(first[k]), safe="") for k in table["primary_keys"])
            routes.append(f"/kb/{quote(name)}/{key}")
    for view in info["views"]:
        routes += [f"/kb/{view}", f"/kb/{view}.json?_size=max"]
    for query in info["queries"]:
        routes += [f"/kb/{query['name']}", f"/kb/{query['name']}.json?vendor=&_size=max"]
    routes += [f"/-/article/{r[0]}" for r in db.execute("select id from articles")]
    routes += [f"/-/story/{r[0]}" for r in db.execute("select id from stories")]
    routes += [f"/-/feeds/topic/{r[0]}.atom" for r in db.execute("select slug from topics")]
    routes += ["/-/feeds/vendor/" + quote(r[0], safe="") + ".atom" for r in db.execute(
        "select distinct e.name from entities e join article_entities ae on ae.entity_id = e.id "
        "where e.kind = 'vendor'")]
    return routes


def test_no_email_address_on_any_route(site, db, kb_copy):
    databases = site.get("/-/databases.json").json()
    assert [d["path"] for d in databases] == ["kb.db"]  # the file's name, never its absolute path
    assert (kb_copy.parent / "kb.private.db").exists()
    routes = every_route(site, db)
    assert len(routes) > 400
    seen = 0
    for route in routes:
        response = site.get(route)
        assert response.status_code in (200, 302), (route, response.status_code)
        assert SUBSCRIBER not in response.text, route
        assert not EMAIL.search(response.text), (route, EMAIL.search(response.text))
        seen += 1
    assert seen == len(routes)
    for path in ("/kb/subscribers", "/kb.private/subscribers", "/kb.private.json"):
        response = site.get(path)
        assert SUBSCRIBER not in response.text and "subscribers" not in response.text.lower(), path


def test_sql_errors_time_outs_and_writes_get_datasettes_messages(site):
    bad = site.get("/kb", params={"sql": "select nonsense from articles"})
    assert bad.status_code == 400 and "no such column: nonsense" in bad.text
    slow = site.get("/kb", params={"sql": "with recursive c(x) as (select 1 union all select x + 1 "
                                          "from c) select count(*) from c", "_timelimit": "50"})
    assert "SQL query took too long" in slow.text
    write = site.get("/kb", params={"sql": "delete from articles"})
    assert write.status_code == 400 and "Statement must be a SELECT" in write.text
    assert site.get("/kb/articles.json", params={"_size": "1"}).json()["rows"]


def test_reader_enforces_the_time_limit_and_is_read_only(kb_copy):
    reader = Reader(kb_copy, threads=1, time_limit_ms=50)
    with pytest.raises(QueryTimeout):
        reader.call(lambda d: d.execute("with recursive c(x) as (select 1 union all select x + 1 "
                                        "from c) select count(*) from c").fetchall())
    with pytest.raises(dbapi.OperationalError, match="readonly"):
        reader.call(lambda d: d.execute("delete from articles"))
    assert reader.call(lambda d: d.execute("select count(*) from articles").fetchone()[0]) > 100


def test_ensure_views_is_idempotent_and_replaces_changed_views(demo_db, tmp_path):
    fresh = Database(copy_database(demo_db, tmp_path / "fresh.db"))
    for view in ("article_list", "funding_rounds", "topic_weeks"):
        fresh.execute(f"drop view if exists {view}")
    assert ensure_views(fresh) == 3
    assert ensure_views(fresh) == 0
    fresh.execute("drop view funding_rounds")
    fresh.execute("create view funding_rounds as select 1 as id")
    assert ensure_views(fresh) == 1
    assert "company" in fresh["funding_rounds"].columns_dict
    assert fresh.execute("select count(*) from article_list").fetchone()[0] == \
        fresh.execute("select count(*) from articles").fetchone()[0]
