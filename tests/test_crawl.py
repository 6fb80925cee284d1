"""The crawl end to end: a real HTTP server on 127.0.0.1, the real `kb crawl`, a real SQLite file."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from conftest import FIXTURES, LOREM, article_html, rss2, run_kb

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0"]


def crawl(db, *feeds, expect=0):
    args = ["crawl", "--db", str(db), "--quiet", *FAST]
    for feed in feeds:
        args += ["--feed", feed]
    proc = run_kb(*args)
    assert proc.returncode == expect, proc.stderr
    return proc


def rows(db):
    return {r["url"]: r for r in sqlite_utils.Database(db).query("select * from articles")}


@pytest.fixture
def site(server):
    """An RSS 2.0, an Atom (xml:base, relative link) and an RSS 1.0 feed with their pages."""
    base = server.base
    server.add("/news/2026/rss-story.html", article_html("RSS story", LOREM))
    server.add("/news/2026/atom-story.html", article_html("Atom story", LOREM[::-1]))
    server.add("/rdf/story.html", article_html("RDF story", LOREM[1:] + LOREM[:1]))
    server.add("/rss.xml", rss2(base, [{"title": "RSS story",
                                        "link": f"{base}/news/2026/rss-story.html?utm_source=x"}]),
               content_type="application/rss+xml")
    server.add("/atom.xml", (FIXTURES / "atom_xmlbase.xml").read_text().replace("{BASE}", base),
               content_type="application/atom+xml")
    server.add("/rss1.xml", (FIXTURES / "rss1.xml").read_text().replace("{BASE}", base),
               content_type="application/rdf+xml")
    return server


def test_three_feed_formats_crawl_into_rows_with_full_text(site, tmp_path):
    db = tmp_path / "kb.db"
    proc = crawl(db, f"{site.base}/rss.xml", f"{site.base}/atom.xml", f"{site.base}/rss1.xml")
    stored = rows(db)
    assert set(stored) == {
        f"{site.base}/news/2026/rss-story.html",
        f"{site.base}/news/2026/atom-story.html",
        f"{site.base}/rdf/story.html",
    }
    for row in stored.values():
        assert "general-purpose AI models" in row["text"]
        assert "cookies" not in row["text"] and "Newsletter" not in row["text"]
        assert row["word_count"] > 60
        assert row["extraction"] in ("trafilatura", "readability")
    atom = stored[f"{site.base}/news/2026/atom-story.html"]
    assert atom["title"] == "Atom entry with a relative link"
    # the page's byline beats the feed's author; the feed's stays on record
    assert atom["author"] == "Ada Writer" and json.loads(atom["authors"]) == ["Ada Writer"]
    assert json.loads(atom["feed_entry"])["author"] == "Bea Reporter"
    # the page's own date (a day before the feed's) is the publication date, in its time zone
    assert atom["published_at"] == "2026-10-01T09:00:00+00:00"
    assert atom["lang"] == "en"
    assert "3 new, 0 updated" in proc.stdout


def test_crawl_run_is_recorded(site, tmp_path):
    db = tmp_path / "kb.db"
    crawl(db, f"{site.base}/rss.xml", f"{site.base}/atom.xml")
    [run] = sqlite_utils.Database(db)["crawl_runs"].rows
    assert (run["status"], run["feeds_ok"], run["articles_new"]) == ("completed", 2, 2)
    assert run["started_at"] <= run["finished_at"]


def test_second_crawl_of_unchanged_sources_adds_and_rewrites_nothing(site, tmp_path):
    db = tmp_path / "kb.db"
    feeds = [f"{site.base}/rss.xml", f"{site.base}/atom.xml", f"{site.base}/rss1.xml"]
    crawl(db, *feeds)
    before = rows(db)
    pages_before = site.fetched("/rdf/story.html")
    proc = crawl(db, *feeds)
    assert rows(db) == before
    assert site.fetched("/rdf/story.html") == pages_before
    assert site.fetched("/rss.xml", 304) == 1
    assert "0 new, 0 updated" in proc.stdout and "3 not modified" in proc.stdout


def test_changed_page_updates_its_row_and_keeps_the_old_version(site, tmp_path):
    db = tmp_path / "kb.db"
    base = site.base
    crawl(db, f"{base}/rss.xml")
    url = f"{base}/news/2026/rss-story.html"
    old = rows(db)[url]
    site.add("/news/2026/rss-story.html",
             article_html("RSS story", LOREM + ["A correction was appended on Friday afternoon "
                                                "after the Commission clarified the timetable."]))
    site.add("/rss.xml", rss2(base, [{"title": "RSS story", "link": url,
                                      "date": "Fri, 02 Oct 2026 15:00:00 GMT"}]),
             content_type="application/rss+xml")
    proc = crawl(db, f"{base}/rss.xml")
    new = rows(db)[url]
    assert "0 new, 1 updated" in proc.stdout
    assert new["id"] == old["id"] and new["version"] == 2
    assert "correction was appended" in new["text"]
    assert new["content_hash"] != old["content_hash"]
    [version] = sqlite_utils.Database(db)["article_versions"].rows
    assert version["content_hash"] == old["content_hash"]


def test_same_article_in_two_feeds_with_tracking_is_stored_once(site, tmp_path):
    base = site.base
    site.add("/other.xml", rss2(base, [{"title": "RSS story again",
                                        "link": f"{base}/news/2026/rss-story.html#comments"}]))
    db = tmp_path / "kb.db"
    crawl(db, f"{base}/rss.xml", f"{base}/other.xml")
    assert list(rows(db)) == [f"{base}/news/2026/rss-story.html"]
    assert site.fetched("/news/2026/rss-story.html") == 1


def test_broken_feed_is_recorded_and_the_others_go_on(site, tmp_path):
    base = site.base
    site.add("/broken.xml", "<html><body>Not a feed</body></html>")
    db = tmp_path / "kb.db"
    proc = crawl(db, f"{base}/rss.xml", f"{base}/broken.xml", f"{base}/missing.xml")
    assert len(rows(db)) == 1
    assert "1 ok" in proc.stdout and "2 failed" in proc.stdout
    assert "not a feed" in proc.stderr and "HTTP 404" in proc.stderr
    assert "Traceback" not in proc.stderr
    health = {r["feed_url"]: r for r in sqlite_utils.Database(db)["sources"].rows}
    assert health[f"{base}/missing.xml"]["consecutive_failures"] == 1
    assert health[f"{base}/missing.xml"]["last_error"] == "HTTP 404"
    [run] = sqlite_utils.Database(db)["crawl_runs"].rows
    assert len(json.loads(run["errors"])) == 2


def test_every_feed_failing_exits_non_zero(server, tmp_path):
    proc = crawl(tmp_path / "kb.db", f"{server.base}/nothing.xml", expect=1)
    assert "1 failed" in proc.stdout


def test_page_that_cannot_be_fetched_keeps_feed_title_and_summary(server, tmp_path):
    base = server.base
    server.add("/f.xml", rss2(base, [{"title": "Gone page", "link": f"{base}/gone.html",
                                      "summary": "What the feed said about it."}]))
    db = tmp_path / "kb.db"
    crawl(db, f"{base}/f.xml")
    row = rows(db)[f"{base}/gone.html"]
    assert (row["title"], row["text"], row["extraction"]) == (
        "Gone page", "What the feed said about it.", "fetch_failed")


def test_bad_feed_url_is_one_clear_line(tmp_path):
    proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "--feed", "ftp://x/feed")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["Error: not an http(s) feed URL: 'ftp://x/feed'"]


def test_bad_setting_syntax_is_a_usage_error(tmp_path):
    proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "-s", "NOEQUALS")
    assert proc.returncode == 2 and "NAME=VALUE" in proc.stderr
