"""One-click unsubscribe (RFC 8058): signed, expiring links that `kb digest` puts in each mail and
the web instance honours. The signing secret lives in the private database (created on first use);
the web instance's unsubscribe endpoint is its only write into that database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from sqlite_utils.db import Database

from kb.core.errors import KbError
from kb.publish.digest.subscribers import SubscriberError, open_private_db, remove_subscriber

PATH = "/-/unsubscribe"
VALID_DAYS = 120  # a digest read months later still unsubscribes


class BadToken(KbError):
    """An unsubscribe token that is malformed, forged or expired."""


def signing_secret(db: Database, *, create: bool = True) -> bytes | None:
    """The private database's signing secret (made, once, by the first writer that asks)."""
    if "secrets" in db.table_names():
        row = db.execute("select value from secrets where name = 'unsubscribe'").fetchone()
        if row:
            return bytes.fromhex(row[0])
    if not create:
        return None
    with db.conn:
        db.table("secrets").create({"name": str, "value": str}, pk="name", if_not_exists=True)
        db.execute("insert or ignore into secrets (name, value) values ('unsubscribe', ?)",
                   [secrets.token_hex(32)])
    return signing_secret(db, create=False)


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def make_token(secret: bytes, subscriber_token: str, *, now: float | None = None,
               days: int = VALID_DAYS) -> str:
    """``<subscriber token>.<expiry, unix seconds>.<HMAC-SHA256 of both>``."""
    payload = f"{subscriber_token}.{int((now or time.time()) + days * 86400)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str, *, now: float | None = None) -> str:
    """The subscriber token a signed token carries; BadToken if forged, malformed or expired."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise BadToken("this unsubscribe link is incomplete")
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(secret, payload), parts[2]):
        raise BadToken("this unsubscribe link is not valid")
    if int(parts[1]) < (now or time.time()):
        raise BadToken("this unsubscribe link has expired")
    return parts[0]


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}?t={quote(token, safe='')}"


def _read_secret(private_path: str | Path) -> bytes:
    from sqlite_utils.utils import sqlite3

    path = Path(private_path)
    if not path.exists():
        raise BadToken("this instance has no subscribers")
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        secret = signing_secret(Database(conn), create=False)
    finally:
        conn.close()
    if secret is None:
        raise BadToken("this unsubscribe link is not valid")
    return secret


def check(private_path: str | Path, token: str) -> str:
    """Verify a signed token against the private database's secret (read-only)."""
    return verify(_read_secret(private_path), token)


def unsubscribe(private_path: str | Path, token: str) -> bool:
    """Remove the subscriber a signed token names; False when they were already gone."""
    subscriber = check(private_path, token)
    db = open_private_db(private_path)
    try:
        remove_subscriber(db, subscriber)
    except SubscriberError:
        return False
    finally:
        db.close()
    return True
