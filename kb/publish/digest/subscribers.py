"""Digest subscribers, their sends and the scheduler's state, in a private SQLite database.

The private database sits beside the knowledge base (``kb.db`` -> ``kb.private.db``) unless the
configuration's ``subscribers_db`` names another file. `kb serve` only ever serves the knowledge
base itself, so addresses and unsubscribe tokens never reach Datasette.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils.db import Database
from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as sqlite-utils uses

from kb.core.clock import utcnow
from kb.core.errors import DatabaseError, KbError
from kb.search.filters import FilterError, canonical
from kb.store.connection import connect

PROFILES: dict[str, dict[str, Any]] = {
    "policy": {"topics": ["regulation", "export-controls", "sovereignty"], "vendor_watch": False},
    "investor": {"topics": ["funding"], "vendor_watch": True},
    "engineering": {"topics": ["open-source"], "vendor_watch": True},
}
LANGUAGES = ("en", "fr", "de")
LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"{LOCAL}@(?:{LABEL}\.)+[A-Za-z]{{2,63}}")


class SubscriberError(KbError):
    """A subscriber that cannot be added, found or removed."""


@dataclass
class Subscriber:
    email: str
    topics: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    lang: str = "en"
    profile: str | None = None
    token: str = ""
    id: int | None = None
    created_at: str | None = None

    @property
    def vendor_watch(self) -> bool:
        """Whether the digest carries a vendors section (a profile that asks for it, or vendors)."""
        return bool(self.vendors) or bool(PROFILES.get(self.profile or "", {}).get("vendor_watch"))


def private_db_path(db_path: str | Path, configured: str | None = None) -> Path:
    """The private database: the configured file, else ``<db stem>.private.db`` beside the KB."""
    if configured:
        path = Path(configured)
    else:
        db = Path(db_path)
        path = db.with_name(f"{db.stem}.private.db")
    if path.resolve() == Path(db_path).resolve():
        raise SubscriberError(f"the subscribers database must not be the knowledge base itself ({path})")
    return path


def open_private_db(path: str | Path) -> Database:
    """Open (creating if needed, readable by its owner only) the private database and bring its
    tables up to date. SQLite gives its -wal and -shm files the main file's permissions."""
    try:
        if Path(path).parent.is_dir() and not Path(path).exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = connect(path)
        _ensure_tables(db)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise DatabaseError(f"cannot open {path}: {exc}") from exc
    return db


def _ensure_tables(db: Database) -> None:
    with db.conn:
        db.table("subscribers").create(
            {"id": int, "email": str, "topics": str, "vendors": str, "lang": str, "profile": str,
             "token": str, "created_at": str},
            pk="id", not_null={"email", "token"}, if_not_exists=True)
        db.table("subscribers").create_index(["email"], unique=True, if_not_exists=True)
        db.table("subscribers").create_index(["token"], unique=True, if_not_exists=True)
        db.table("digest_sends").create(
            {"subscriber_id": int, "week": str, "email": str, "status": str, "attempts": int,
             "message_id": str, "last_error": str, "sent_at": str, "updated_at": str},
            pk=("subscriber_id", "week"), defaults={"attempts": 0}, if_not_exists=True,
            foreign_keys=[("subscriber_id", "subscribers", "id")])
        db.table("job_runs").create(
            {"id": int, "job": str, "started_at": str, "finished_at": str, "status": str,
             "detail": str},
            pk="id", if_not_exists=True)
        db.table("job_runs").create_index(["job", "started_at"], if_not_exists=True)


def normalize_email(address: str) -> str:
    """A valid address, lower-cased; anything else raises SubscriberError."""
    value = (address or "").strip()
    if not EMAIL.fullmatch(value) or len(value) > 254:
        raise SubscriberError(f"{address!r} is not a valid email address (expected name@example.org)")
    return value.lower()


def resolve_preferences(*, topics: Iterable[str], vendors: Iterable[str], profile: str | None,
                        lang: str, known_topics: Iterable[str],
                        known_vendors: Iterable[str]) -> tuple[list[str], list[str]]:
    """Validated topic slugs (the profile's, then the given ones) and canonical vendor names."""
    if profile is not None and profile not in PROFILES:
        raise SubscriberError(f"unknown profile {profile!r} (profiles: {', '.join(PROFILES)})")
    if lang not in LANGUAGES:
        raise SubscriberError(f"unsupported language {lang!r} (use one of {', '.join(LANGUAGES)})")
    slugs, names = list(known_topics), list(known_vendors)
    chosen: list[str] = list(PROFILES[profile]["topics"]) if profile else []
    vendors_chosen: list[str] = []
    try:  # the one filter parser's names and messages (kb.search.filters)
        for slug in (canonical("topic", t, slugs) for t in topics):
            chosen += [slug] if slug not in chosen else []
        for name in (canonical("vendor", v, names) for v in vendors):
            vendors_chosen += [name] if name not in vendors_chosen else []
    except FilterError as exc:
        raise SubscriberError(str(exc)) from None
    return chosen, vendors_chosen


def save_subscriber(db: Database, subscriber: Subscriber) -> tuple[Subscriber, bool]:
    """Insert a subscriber, or update the preferences of an existing address (keeping its token).

    Returns the stored subscriber and whether it was new.
    """
    email = normalize_email(subscriber.email)
    existing = next(db.table("subscribers").rows_where("email = ?", [email], limit=1), None)
    row = {"email": email, "topics": json.dumps(subscriber.topics),
           "vendors": json.dumps(subscriber.vendors), "lang": subscriber.lang,
           "profile": subscriber.profile}
    with db.conn:
        if existing:
            db.table("subscribers").update(existing["id"], row)
            sid = existing["id"]
        else:
            row |= {"token": secrets.token_urlsafe(18), "created_at": utcnow()}
            sid = db.table("subscribers").insert(row).last_pk
    return _subscriber(db.table("subscribers").get(sid)), existing is None


def list_subscribers(db: Database) -> list[Subscriber]:
    """Every subscriber, oldest first."""
    return [_subscriber(r) for r in db.table("subscribers").rows_where(order_by="id")]


def remove_subscriber(db: Database, email_or_token: str) -> Subscriber:
    """Remove a subscriber by address or unsubscribe token, with their send records."""
    value = email_or_token.strip()
    where, param = ("email = ?", value.lower()) if "@" in value else ("token = ?", value)
    row = next(db.table("subscribers").rows_where(where, [param], limit=1), None)
    if row is None:
        raise SubscriberError(f"no subscriber {value!r}")
    with db.conn:
        db.execute("delete from digest_sends where subscriber_id = ?", [row["id"]])
        db.table("subscribers").delete(row["id"])
    return _subscriber(row)


def last_sent_weeks(db: Database) -> dict[int, str]:
    """Subscriber id -> the latest week a digest was delivered to them."""
    return {r[0]: r[1] for r in db.execute(
        "select subscriber_id, max(week) from digest_sends where status = 'sent' group by subscriber_id")}


def _subscriber(row: dict[str, Any]) -> Subscriber:
    return Subscriber(email=row["email"], topics=json.loads(row["topics"] or "[]"),
                      vendors=json.loads(row["vendors"] or "[]"), lang=row["lang"] or "en",
                      profile=row["profile"], token=row["token"], id=row["id"],
                      created_at=row["created_at"])


# -- sends: one row per subscriber and ISO week ----------------------------------------------------

def sent_ids(db: Database, week: str) -> set[int]:
    """Subscribers who already received the digest of ``week``."""
    return {r[0] for r in db.execute(
        "select subscriber_id from digest_sends where week = ? and status = 'sent'", [week])}


def save_send(db: Database, subscriber: Subscriber, week: str, *, ok: bool, message_id: str,
              error: str | None = None) -> None:
    """Record one attempt: 'sent' is final; 'failed' is retried by the next run."""
    now = utcnow()
    with db.conn:
        db.execute(
            "insert into digest_sends (subscriber_id, week, email, status, attempts, message_id, "
            "last_error, sent_at, updated_at) values (?, ?, ?, ?, 1, ?, ?, ?, ?) "
            "on conflict (subscriber_id, week) do update set status = excluded.status, "
            "attempts = attempts + 1, message_id = excluded.message_id, "
            "last_error = excluded.last_error, sent_at = excluded.sent_at, updated_at = excluded.updated_at",
            [subscriber.id, week, subscriber.email, "sent" if ok else "failed", message_id, error,
             now if ok else None, now])
