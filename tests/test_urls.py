import pytest

from kb.crawl.urls import canonical_url


@pytest.mark.parametrize("url, expected", [
    ("https://Example.com/a?utm_source=x&utm_medium=y", "https://example.com/a"),
    ("https://example.com/a#section", "https://example.com/a"),
    ("https://example.com:443/a?id=3&fbclid=zz", "https://example.com/a?id=3"),
    ("http://example.com:8080/a?b=1&a=2", "http://example.com:8080/a?b=1&a=2"),
    ("https://example.com", "https://example.com/"),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected
