"""The first day with real feeds: a crawl report a person and cron can read, backoff that fits the
failure, and sources managed from the shell (add, disable, retry, OPML round trip)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import sqlite_utils
from conftest import LOREM, article_html, rss2, run_kb


def write_config(path: Path, feeds: list[tuple[str, str]]) -> Path:
    lines = ["crawl:", "  download_delay: 0", "  retries: 0", "  timeout: 5", "sources:"]
    for source_id, url in feeds:
        lines += [f"  - id: {source_id}", f"    name: {source_id}", f"    feed_url: {url}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_offline_crawl_says_so_in_one_error_line_and_backs_off_no_source(tmp_path):
    # .invalid never resolves (RFC 2606): every feed fails as it does on a machine without network
    feeds = [(f"feed-{i}", f"http://feed-{i}.invalid/rss.xml") for i in range(6)]
    config = write_config(tmp_path / "offline.yaml", feeds)
    db = tmp_path / "kb.db"
    first = run_kb("crawl", "--db", str(db), "--config", str(config))
    lines = (first.stdout + first.stderr).splitlines()
    assert first.returncode == 1
    assert len(lines) <= 40, lines
    assert "Traceback" not in first.stdout + first.stderr
    assert [ln for ln in lines if ln.startswith("Error:")] == [
        "Error: no feed could be reached (6/6 DNS failures): is this machine offline?"]
    assert lines[0].startswith("crawl #1: 0 new") and lines[-1].startswith("Error:")
    assert "failed: feed-3: DNS lookup failed (feed-3.invalid) (tried again next run)" in lines
    assert "Traceback" in (tmp_path / "kb.crawl.log").read_text()  # the detail is kept, not shown
    rows = list(sqlite_utils.Database(db).query("select * from sources"))
    assert {(r["consecutive_failures"], r["next_due_at"], r["last_status"]) for r in rows} == {
        (0, None, "failed")}
    second = run_kb("crawl", "--db", str(db), "--config", str(config), "-q")
    assert second.returncode == 1 and "6 failed" in second.stdout  # tried again, not skipped
    assert "backed off" not in second.stdout


def test_one_failing_source_among_good_ones_is_backed_off_with_its_next_try(server, tmp_path):
    server.add("/a.html", article_html("Good news", LOREM))
    server.add("/good.xml", rss2(server.base, [{"title": "Good news", "link": f"{server.base}/a.html"}]),
               content_type="application/rss+xml")
    config = write_config(tmp_path / "c.yaml", [("good", f"{server.base}/good.xml"),
                                                ("gone", f"{server.base}/gone.xml")])
    db = tmp_path / "kb.db"
    run = run_kb("crawl", "--db", str(db), "--config", str(config), "-q")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("crawl #1: 1 new")
    [failed] = run.stderr.splitlines()
    assert failed.startswith("failed: gone: HTTP 404 (next try ") and failed.endswith(" UTC)")
    listing = run_kb("sources", "--db", str(db)).stdout.splitlines()
    [gone] = [ln for ln in listing if ln.startswith("gone")]
    [good] = [ln for ln in listing if ln.startswith("good")]
    assert "backed off" in gone and "HTTP 404" in gone
    assert good.split()[1:3] == ["ok", "1"]  # state, then the article count
    retry = run_kb("sources", "retry", "gone", "--db", str(db))
    assert retry.returncode == 0 and "1 sources due at the next crawl: gone" in retry.stdout
    again = run_kb("crawl", "--db", str(db), "--config", str(config), "-q")
    assert server.fetched("/gone.xml", 404) == 2 and "backed off" not in again.stdout


def test_sources_added_by_homepage_are_named_by_their_feed_and_round_trip_through_opml(server, tmp_path):
    server.add("/a.html", article_html("Chips and rules", LOREM))
    server.add("/feed.xml", rss2(server.base, [{"title": "Chips and rules", "link": f"{server.base}/a.html"}],
                                 title="Policy Wire — AI"), content_type="application/rss+xml")
    server.add("/", '<html><head><title>Home</title><link rel="alternate" type="application/rss+xml" '
                    'href="/feed.xml" title="RSS"></head><body>hi</body></html>')
    db = tmp_path / "kb.db"
    run_kb("init", "--db", str(db), check=True)
    added = run_kb("sources", "add", f"{server.base}/", "--db", str(db), "--allow-private")
    assert added.returncode == 0, added.stderr
    assert "added 127-0-0-1-" in added.stdout and "Policy Wire — AI" in added.stdout
    again = run_kb("sources", "add", f"{server.base}/feed.xml", "--db", str(db), "--allow-private")
    assert "already a source" in again.stdout
    refused = run_kb("sources", "add", f"{server.base}/feed.xml", "--db", str(db))
    assert refused.returncode == 1 and "private or local address" in refused.stderr

    config = write_config(tmp_path / "empty.yaml", [])
    crawl = run_kb("crawl", "--db", str(db), "--config", str(config), "--allow-private", "-q")
    assert crawl.returncode == 0 and "1 new" in crawl.stdout, crawl.stderr

    exported = run_kb("sources", "export", "--db", str(db))
    outline = ET.fromstring(exported.stdout).find("body/outline")
    assert outline is not None and outline.get("xmlUrl") == f"{server.base}/feed.xml"
    assert outline.get("title") == "Policy Wire — AI"
    (tmp_path / "feeds.opml").write_text(exported.stdout, encoding="utf-8")
    other = tmp_path / "other.db"
    run_kb("init", "--db", str(other), check=True)
    imported = run_kb("sources", "import", str(tmp_path / "feeds.opml"), "--db", str(other))
    assert imported.stdout.strip() == "import: 1 sources added, 0 already there"
    assert run_kb("sources", "export", "--db", str(other)).stdout.count("<outline") == 1

    source_id = added.stdout.split()[1].rstrip(":")
    assert run_kb("sources", "disable", source_id, "--db", str(db)).returncode == 0
    skipped = run_kb("crawl", "--db", str(db), "--config", str(config), "-q")
    assert skipped.returncode == 1 and "no sources to crawl" in skipped.stderr
    run_kb("sources", "enable", source_id, "--db", str(db), check=True)
    removed = run_kb("sources", "remove", source_id, "--db", str(db))
    assert removed.returncode == 0 and source_id not in run_kb("sources", "--db", str(db)).stdout
    assert sqlite_utils.Database(db)["articles"].count == 1  # its articles stay


def test_source_mistakes_are_one_line_errors(tmp_path):
    db = tmp_path / "kb.db"
    run_kb("init", "--db", str(db), check=True)
    bad_opml = tmp_path / "bad.opml"
    bad_opml.write_text("<opml><body><outline text='x' xmlUrl='file:///etc/passwd'/></body></opml>")
    cases = [
        (["sources", "disable", "nope"], "Error: unknown source 'nope' (kb sources lists them)"),
        (["sources", "import", str(bad_opml)], "Error: not an http(s) feed URL in the OPML file"),
        (["sources", "add", "ftp://example.org/feed"], "Error: not an http(s) URL"),
    ]
    for args, message in cases:
        result = run_kb(*args, "--db", str(db))
        assert result.returncode != 0 and result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1


def test_a_feed_given_with_feed_is_named_by_its_title_not_its_host(server, tmp_path):
    server.add("/a.html", article_html("Chips", LOREM))
    server.add("/feed.xml", rss2(server.base, [{"title": "Chips", "link": f"{server.base}/a.html"}],
                                 title="Chip Policy Daily"), content_type="application/rss+xml")
    db = tmp_path / "kb.db"
    for _ in range(2):  # the second run keeps the name
        run_kb("crawl", "--db", str(db), "--feed", f"{server.base}/feed.xml", "-q", check=True)
    [name] = [r["name"] for r in sqlite_utils.Database(db).query("select name from sources")]
    assert name == "Chip Policy Daily"


def test_filter_mistakes_are_one_line_errors_with_a_suggestion(tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.store.connection import open_db
    from kb.store.writes import save_article

    db = tmp_path / "kb.db"
    save_article(open_db(db), {"url": "https://x.example/a", "original_url": "https://x.example/a",
                               "title": "Mistral AI raises", "text": "Mistral AI raised money.",
                               "fetched_at": "2026-10-01T00:00:00+00:00",
                               "published_at": "2026-10-01T00:00:00+00:00"})
    from kb.enrich.runner import run_enrichment

    run_enrichment(open_db(db), only=["entities"], quiet=True)
    cases = [
        (["search", "Mistral", "--mode", "keyword", "--vendor", "Mistral"],
         "Error: unknown vendor 'Mistral' (did you mean 'Mistral AI'?)"),
        (["search", "Mistral", "--mode", "keyword", "--topic", "exportcontrols"],
         "Error: unknown topic 'exportcontrols' (did you mean 'export-controls'?)"),
        (["search", "Mistral", "--mode", "keyword", "--since", "2026-13-01"],
         "Error: since '2026-13-01' is no date"),
        (["search", "Mistral", "--mode", "keyword", "--since", "last week"],
         "Error: since 'last week' is no date"),
        (["export", "--topic", "fundign"], "Error: unknown topic 'fundign' (did you mean 'funding'?)"),
        (["review", "vendor", "1", "Mistral", "--confirm"], "Error: unknown vendor 'Mistral' (did you mean"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, [*args, "--db", str(db)])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    ok = CliRunner().invoke(cli, ["search", "Mistral", "--mode", "keyword", "--vendor", "mistral ai",
                                  "--since", "2026-09-01", "--until", "2026-10-01", "--db", str(db)])
    assert ok.exit_code == 0 and "Mistral AI raises" in ok.output
    new = CliRunner().invoke(cli, ["review", "vendor", "1", "Mistral Compute", "--confirm", "--new",
                                   "--db", str(db)])
    assert new.exit_code == 0, new.output
    missing = CliRunner().invoke(cli, ["enrich", "--db", str(tmp_path / "missing.db")])
    assert missing.exit_code == 1 and "run 'kb init' first" in missing.stderr
    assert not (tmp_path / "missing.db").exists()


def test_relative_days():
    import datetime as dt

    from kb.search.filters import parse_day

    today = dt.date(2026, 12, 9)  # a Wednesday
    assert parse_day("7d", today=today) == dt.date(2026, 12, 2)
    assert parse_day("2w", today=today) == dt.date(2026, 11, 25)
    assert parse_day("last-week", today=today) == dt.date(2026, 11, 30)
    assert parse_day("this-month", today=today) == dt.date(2026, 12, 1)
    assert parse_day("last-month", today=today) == dt.date(2026, 11, 1)
    assert parse_day("this-year", today=today) == dt.date(2026, 1, 1)
    assert parse_day("2026-02-03", today=today) == dt.date(2026, 2, 3)


def test_the_demo_crawl_works_while_its_port_is_taken(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_kb("sample", "crawl", "--db", str(tmp_path / "demo.db"), "--port", str(port))
    assert result.returncode == 0, result.stderr
    assert f"port {port} is taken: the sample site is served on port" in result.stderr
    assert "156 new" in result.stdout


def test_schedule_once_reports_a_crawl_where_every_feed_failed_as_failed(tmp_path):
    config = tmp_path / "aiwatch.yaml"
    config.write_text("crawl: {download_delay: 0, retries: 0, timeout: 5}\n"
                      "schedule: {crawl_every_minutes: 30, jitter_seconds: 0}\n"
                      "sources:\n  - {id: gone, name: Gone, feed_url: 'http://gone.invalid/feed.xml'}\n"
                      "  - {id: away, name: Away, feed_url: 'http://away.invalid/feed.xml'}\n",
                      encoding="utf-8")
    proc = run_kb("schedule", "--once", "--db", str(tmp_path / "kb.db"), "--config", str(config),
                  timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "update: failed" in proc.stdout


def test_a_full_disk_stops_the_crawl_in_one_line_and_loses_nothing(server, tmp_path):
    import random
    import subprocess

    import pytest

    words = "model chip export rule fund cloud policy vendor sovereign open weights licence".split()
    rng = random.Random(5)
    items = []
    for i in range(150):
        paragraphs = [" ".join(rng.choice(words) + str(rng.randint(0, 999)) for _ in range(120))
                      for _ in range(12)]
        link = server.add(f"/a{i}.html", article_html(f"Story {i}", paragraphs))
        items.append({"title": f"Story {i}", "link": link})
    feed = server.add("/feed.xml", rss2(server.base, items), content_type="application/rss+xml")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tiny)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        db = tiny / "kb.db"
        run_kb("init", "--db", str(db), check=True)
        full = run_kb("crawl", "--db", str(db), "--feed", feed, "-s", "DOWNLOAD_DELAY=0",
                      "--log-file", str(tmp_path / "crawl.log"))
        lines = (full.stdout + full.stderr).splitlines()
        assert full.returncode == 1 and "Traceback" not in full.stdout + full.stderr
        [error] = [ln for ln in lines if ln.startswith("Error:")]
        assert "the database cannot be written (database or disk is full)" in error, error
        assert len(lines) <= 3, lines
        partial = sqlite_utils.Database(db)
        stored = partial["articles"].count
        assert 0 < stored < 150
        assert partial.execute("pragma integrity_check").fetchone()[0] == "ok"
        roomy = tmp_path / "kb.db"
        partial.conn.backup(sqlite_utils.Database(roomy).conn)
        partial.conn.close()
    finally:
        subprocess.run(["umount", str(tiny)], check=True)
    again = run_kb("crawl", "--db", str(roomy), "--feed", feed, "-s", "DOWNLOAD_DELAY=0", "-q")
    assert again.returncode == 0, again.stderr
    db = sqlite_utils.Database(roomy)
    assert db.execute("select count(*), count(distinct url) from articles").fetchone() == (150, 150)
    assert [r["status"] for r in db.query("select status from crawl_runs order by id")] == [
        "failed", "completed"]


def test_unusable_configuration_files_and_settings_are_one_line_errors(tmp_path):
    binary = tmp_path / "config.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    cases = [
        (["--config", str(binary)], "not a text file"),
        (["--config", str(tmp_path)], "is a folder, not a file"),
        (["-s", "DOWNLOAD_DELAY=abc", "--feed", "http://127.0.0.1:9/feed.xml"],
         "-s DOWNLOAD_DELAY=abc: expected a number"),
        (["-s", "ROBOTSTXT_OBEY=maybe", "--feed", "http://127.0.0.1:9/feed.xml"],
         "-s ROBOTSTXT_OBEY=maybe: expected true or false"),
    ]
    for args, message in cases:
        result = run_kb("crawl", "--db", str(tmp_path / "kb.db"), *args)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


def test_a_read_only_folder_is_one_line_error(tmp_path):
    import subprocess

    import pytest

    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        for args in (["init"], ["crawl", "--feed", "http://127.0.0.1:9/feed.xml"], ["serve"]):
            result = run_kb(*args, "--db", str(folder / "kb.db"))
            assert result.returncode == 1 and result.stderr.startswith("Error: "), result.stderr
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_update_and_schedule_use_the_configured_redis_url(tmp_path):
    config = tmp_path / "redis.yaml"
    config.write_text("crawl: {redis_url: 'redis://127.0.0.1:1/0'}\n"
                      "sources:\n  - {id: a, name: A, feed_url: 'http://a.invalid/feed.xml'}\n",
                      encoding="utf-8")
    db = str(tmp_path / "kb.db")
    update = run_kb("update", "--db", db, "--config", str(config))
    assert update.returncode == 1
    assert update.stderr.startswith("Error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert update.stderr.count("\n") == 1
    scheduled = run_kb("schedule", "--once", "--db", db, "--config", str(config))
    assert scheduled.returncode == 1 and "update: failed" in scheduled.stdout
    assert not Path(db).exists()  # nothing was crawled here: the crawl workers would have
