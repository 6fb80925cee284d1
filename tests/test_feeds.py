from conftest import FIXTURES, rss2

from kb.crawl.feeds import parse_feed

BASE = "http://feeds.example"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_text().replace("{BASE}", BASE).encode()


def test_atom_relative_link_resolves_against_xml_base_and_loses_tracking():
    feed = parse_feed(load("atom_xmlbase.xml"), f"{BASE}/atom.xml")
    [entry] = feed.entries
    assert entry.url == f"{BASE}/news/2026/atom-story.html"
    assert entry.link.startswith(f"{BASE}/news/2026/atom-story.html?utm_source=feed")


def test_atom_fields():
    [entry] = parse_feed(load("atom_xmlbase.xml"), f"{BASE}/atom.xml").entries
    assert entry.title == "Atom entry with a relative link"
    assert entry.author == "Bea Reporter"
    assert entry.published_at == "2026-10-02T10:00:00+00:00"
    assert entry.summary == "The Atom summary."


def test_rss1_entries():
    feed = parse_feed(load("rss1.xml"), f"{BASE}/rss1.xml")
    [entry] = feed.entries
    assert entry.url == f"{BASE}/rdf/story.html"
    assert entry.published_at == "2026-10-03T08:00:00+00:00"
    assert entry.author == "Cy Author"
    assert feed.is_feed and not feed.bozo


def test_rss2_relative_links_resolve_against_feed_url():
    body = rss2(BASE, [{"title": "T", "link": "/a/b.html"}]).encode()
    [entry] = parse_feed(body, f"{BASE}/sub/feed.xml").entries
    assert entry.url == f"{BASE}/a/b.html"


def test_duplicate_links_with_tracking_give_one_entry():
    body = rss2(BASE, [
        {"title": "One", "link": f"{BASE}/s.html?utm_source=x", "guid": "1"},
        {"title": "One again", "link": f"{BASE}/s.html", "guid": "2"},
    ]).encode()
    assert [e.url for e in parse_feed(body, f"{BASE}/f.xml").entries] == [f"{BASE}/s.html"]


def test_html_page_is_not_a_feed():
    parsed = parse_feed(b"<!DOCTYPE html><html><body><p>hello</p></body></html>", BASE)
    assert not parsed.is_feed


def test_fingerprint_changes_when_entry_is_edited():
    a = parse_feed(rss2(BASE, [{"title": "T", "link": "/x"}]).encode(), BASE).entries[0]
    b = parse_feed(rss2(BASE, [{"title": "T (updated)", "link": "/x"}]).encode(), BASE).entries[0]
    assert a.fingerprint != b.fingerprint
