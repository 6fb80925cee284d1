"""Mail done right (issue 21): RFC 8058 one-click unsubscribe through the web instance's signed,
expiring, rate-limited endpoint (real `kb digest --send` to aiosmtpd, real `kb serve`), mailto: as a
second option, private files created 0600, and a validated sender address."""

from __future__ import annotations

import email
import stat
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import copy_database, run_kb
from test_digest import WEEK, smtp_server
from test_hardening import serve
from test_web import stop_server

from kb.publish.digest.subscribers import Subscriber, open_private_db
from kb.publish.unsubscribe import BadToken, make_token, signing_secret, verify

BASE_URL = "https://news.example.org"


def test_tokens_are_signed_and_expire():
    secret = b"k" * 32
    token = make_token(secret, "abc_DEF-123", now=1_000_000)
    assert verify(secret, token, now=1_000_001) == "abc_DEF-123"
    subscriber, expires, signature = token.split(".")
    for forged in (f"other.{expires}.{signature}", f"{subscriber}.{int(expires) + 9}.{signature}",
                   f"{subscriber}.{expires}.{signature[:-2]}AA"):
        with pytest.raises(BadToken, match="not valid"):
            verify(secret, forged, now=1_000_001)
    with pytest.raises(BadToken, match="not valid"):
        verify(b"x" * 32, token, now=1_000_001)
    with pytest.raises(BadToken, match="expired"):
        verify(secret, token, now=int(expires) + 1)
    for malformed in ("", "a.b", "a.b.c.d", "a.notanumber.c"):
        with pytest.raises(BadToken, match="incomplete"):
            verify(secret, malformed)


def test_the_secret_is_made_once_and_the_private_database_is_owner_only(tmp_path):
    path = tmp_path / "kb.private.db"
    db = open_private_db(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = signing_secret(db)
    assert first and len(first) == 32 and signing_secret(db) == first
    assert signing_secret(open_private_db(path), create=False) == first
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        assert not extra.exists() or stat.S_IMODE(extra.stat().st_mode) == 0o600


def headers_of(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


@pytest.fixture
def kb_with_subscribers(demo_db: Path, tmp_path: Path) -> Path:
    db = copy_database(demo_db, tmp_path / "kb.db")
    for address in ("ana@example.org", "li@example.org"):
        run_kb("subscribers", "add", address, "--db", str(db), check=True)
    return db


def test_one_click_unsubscribe_from_a_sent_digest(kb_with_subscribers):
    db = kb_with_subscribers
    private = db.with_name("kb.private.db")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with smtp_server() as (mailbox, port):
        sent = run_kb("digest", "--db", str(db), "--week", WEEK, "--send", "--smtp-host", "127.0.0.1",
                      "--smtp-port", str(port), "--smtp-security", "none",
                      "--mail-from", "aiwatch <digest@example.org>", "--base-url", BASE_URL)
        assert sent.returncode == 0, sent.stderr
        message = mailbox.for_address("ana@example.org")[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click, mailto = [u.strip(" <>") for u in message["List-Unsubscribe"].split(",")]
    assert one_click.startswith(f"{BASE_URL}/-/unsubscribe?t=")
    assert mailto.startswith("mailto:digest@example.org")
    assert one_click in message.get_body(("plain",)).get_content()
    path = urlsplit(one_click)._replace(scheme="", netloc="").geturl()

    proc, base = serve(db, "--base-url", BASE_URL)
    try:
        with httpx.Client(base_url=base, timeout=60) as site:
            page = site.get(path, headers={"X-Forwarded-For": "198.51.100.1"})
            assert page.status_code == 200 and 'method="post"' in page.text
            listed = run_kb("subscribers", "list", "--db", str(db)).stdout
            assert "ana@example.org" in listed  # a GET changes nothing
            done = site.post(path, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "X-Forwarded-For": "198.51.100.2"})
            assert done.status_code == 200 and "no more digests" in done.text
            listed = run_kb("subscribers", "list", "--db", str(db)).stdout
            assert "ana@example.org" not in listed and "li@example.org" in listed
            again = site.post(path, headers={"X-Forwarded-For": "198.51.100.3"})
            assert again.status_code == 200 and "already unsubscribed" in again.text
            forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
            refused = site.post(forged, headers={"X-Forwarded-For": "198.51.100.4"})
            assert refused.status_code == 400 and "not valid" in refused.text
            assert "li@example.org" in run_kb("subscribers", "list", "--db", str(db)).stdout
            statuses = [site.post(forged, headers={"X-Forwarded-For": "198.51.100.5"}).status_code
                        for _ in range(8)]
            assert statuses[:5] == [400] * 5 and statuses[-1] == 429
            assert "content-security-policy" in done.headers
    finally:
        stop_server(proc)


def test_without_a_base_url_mail_offers_mailto_only(kb_with_subscribers, tmp_path):
    out = tmp_path / "out"
    run_kb("digest", "--db", str(kb_with_subscribers), "--week", WEEK, "--out", str(out),
           "--mail-from", "digest@example.org", check=True)
    files = sorted(out.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    message = headers_of(next(f for f in files if f.suffix == ".eml").read_bytes())
    assert message["List-Unsubscribe"].startswith("<mailto:digest@example.org?subject=unsubscribe")
    assert message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("sender", ["not an address", "digest@example.org\r\nBcc: x@example.org",
                                    "Name <nobody>"])
def test_mail_from_is_validated_with_one_error_line(kb_with_subscribers, tmp_path, sender):
    for extra in (["--out", str(tmp_path / "out")],
                  ["--send", "--smtp-host", "127.0.0.1", "--smtp-port", "9", "--smtp-security", "none"]):
        proc = run_kb("digest", "--db", str(kb_with_subscribers), "--week", WEEK, "--mail-from", sender,
                      *extra)
        assert proc.returncode != 0 and proc.stderr.startswith("Error: the sender address"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_compose_message_headers(kb_with_subscribers):
    from datetime import UTC, datetime

    from kb.publish.digest.build import IsoWeek, build_week
    from kb.publish.digest.render import compose_message
    from kb.store.connection import open_db

    data = build_week(open_db(kb_with_subscribers, create=False), week=IsoWeek.parse(WEEK),
                      now=datetime(2026, 11, 20, tzinfo=UTC))
    reader = Subscriber(email="ana@example.org", token="tok-1")
    secret = b"s" * 32
    msg, rendered = compose_message(data, reader, mail_from="digest@example.org", base_url=BASE_URL,
                                    secret=secret)
    url = msg["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert verify(secret, url.split("t=", 1)[1]) == "tok-1"
    assert url in rendered.html and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, _ = compose_message(data, reader, mail_from="digest@example.org", base_url="http://127.0.0.1:8001",
                               secret=secret)
    assert plain["List-Unsubscribe"].startswith("<http://127.0.0.1:8001/-/unsubscribe?t=")
    assert plain["List-Unsubscribe-Post"] is None  # RFC 8058 wants HTTPS
