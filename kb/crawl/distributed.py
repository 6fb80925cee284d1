"""Crawling past one machine: the seeder (`kb crawl --redis`), the worker (`kb crawl-worker`) and
the one SQLite writer (`kb ingest`), around the shared queue of kb.crawl.queue."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlite_utils.utils import sqlite3  # pysqlite3 where installed, as kb.db uses

from kb.core.clock import utcnow
from kb.core.config import Config
from kb.core.errors import DatabaseError, KbError, LockedError
from kb.core.progress import progress
from kb.crawl.queue import (
    MOVE_BATCH,
    REFRESH_LOCK,
    RELEASE_LOCK,
    ROUND_TTL,
    Keys,
    QueueBusy,
    RedisUnavailable,
    RedisWork,
    connect,
    crawling,
    encode_element,
    new_round_id,
    redact,
)
from kb.crawl.sources import CrawlError, due_sources, sources_for_run
from kb.store import writes as kbdb
from kb.store.connection import open_db
from kb.store.health import PageHealth

logger = logging.getLogger("aiwatch.distributed")
KNOWN_CHUNK = 5000



def read_crawl_state(db_path: str | Path) -> dict[str, Any]:
    """The crawl state of an existing database (read only); an empty one when there is none yet."""
    if not Path(db_path).exists():
        return {"sources": {}, "known": {}}
    db = open_db(db_path, create=False)
    try:
        return kbdb.get_crawl_state(db)
    finally:
        db.close()


def publish_known(client: Any, keys: Keys, known: dict[str, str | None], round_id: str) -> None:
    """Replace the ``known`` hash (URL -> entry fingerprint) in one step."""
    staging = f"{keys.known}:new:{round_id}"
    client.delete(staging)
    items = [(url, fp) for url, fp in known.items() if fp]
    for start in range(0, len(items), KNOWN_CHUNK):
        client.hset(staging, mapping=dict(items[start:start + KNOWN_CHUNK]))
    if items:
        client.rename(staging, keys.known)
    else:
        client.delete(keys.known)


def seed_crawl(db_path: str | Path, config: Config, client: Any, *, keys: Keys | None = None,
               feeds: list[str] | None = None) -> dict[str, Any]:
    """Put the due feeds on the shared queue as one new round instead of crawling them here.

    Reads the crawl state (never writes the database: the sources go to the writer as the first
    message of the round), publishes the known entries, then one seed per due feed. Refuses while
    the previous round's work is still queued or leased.
    """
    keys = keys or Keys()
    sources = sources_for_run(config, feeds)
    if not sources:
        raise CrawlError("no sources to crawl: add some to the configuration or pass --feed URL")
    work = RedisWork(client, keys)
    work.reap()  # a dead worker's expired leases count as queued work, not as work in progress
    pending = work.pending()
    if crawling(pending):
        raise QueueBusy(f"the shared queue still holds the last round ({pending['seeds']} feeds, "
                        f"{pending['requests']} requests queued, {pending['leases']} in progress): "
                        "not seeding; try again when the workers are done")
    state = read_crawl_state(db_path)
    due = sources if feeds else due_sources(sources, state, utcnow())
    round_id = new_round_id()
    publish_known(client, keys, state["known"], round_id)
    message = {"kind": "sources", "round": round_id, "sources": [asdict(s) for s in sources],
               "skipped": len(sources) - len(due)}
    pipe = client.pipeline(transaction=True)
    pipe.lpush(keys.results, json.dumps(message))
    for source in due:
        saved = state["sources"].get(source.id, {})
        seed = {"round": round_id, "source": asdict(source),
                "validators": {k: saved.get(k) for k in ("etag", "last_modified", "feed_hash")}}
        pipe.lpush(keys.seeds, encode_element("s", 0, json.dumps(seed).encode()))
    pipe.execute()
    return {"round": round_id, "seeded": len(due), "skipped": len(sources) - len(due),
            "known": len(state["known"])}


def run_worker(redis_url: str, config: Config, *, keys: Keys | None = None,
               overrides: dict[str, str] | None = None, allow_private: bool = False,
               idle_exit: float = 10.0, lease_seconds: float = 60.0,
               quiet: bool = False) -> dict[str, Any]:
    """Run one crawl worker in this process until the shared queue has been idle ``idle_exit``
    seconds (0: forever). Returns the worker's figures. Scrapy's reactor runs once per process."""
    from scrapy.crawler import CrawlerProcess

    from crawlers.distributed import RedisFeedsSpider, worker_settings

    connect(redis_url).close()
    settings = worker_settings(config, redis_url, keys=keys or Keys(), overrides=overrides or {},
                               allow_private=allow_private, quiet=quiet)
    figures: dict[str, Any] = {}
    process = CrawlerProcess(settings)
    process.crawl(RedisFeedsSpider, idle_exit=idle_exit, lease_seconds=lease_seconds,
                  figures=figures)
    process.start()
    if "worker" not in figures:
        raise CrawlError("the worker did not start (see the messages above)")
    if figures["reason"].startswith("redis unavailable"):
        raise RedisUnavailable(f"lost Redis at {redact(redis_url)} ({figures['reason']}); "
                               "unfinished work returns to the queue when its leases run out")
    return figures


class WriterLockLost(KbError):
    """Another writer took the Redis writer lock (this one stalled past its lease)."""


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


class Writer:
    """Drains ``results`` into SQLite in batches: the only process that writes the database.

    Reliable queue: a batch is moved to ``results:processing`` (atomically, in Redis), saved in one
    SQLite transaction, and deleted from ``processing`` only after the commit. A writer killed
    mid-batch leaves the batch in ``processing``; the next one saves it again first, and since
    articles are upserted by canonical URL (same text: 'unchanged') the replay adds nothing.
    """

    def __init__(self, db: Any, client: Any, keys: Keys, *, batch: int = 200,
                 lock_seconds: float = 30.0) -> None:
        self.db = db
        self.client = client
        self.keys = keys
        self.batch = batch
        self.lock_ms = int(lock_seconds * 1000)
        self.lock_value = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self._move = client.register_script(MOVE_BATCH)
        self._refresh = client.register_script(REFRESH_LOCK)
        self._unlock = client.register_script(RELEASE_LOCK)

    def acquire(self) -> None:
        """Take the Redis writer lock (one writer per queue); a dead writer's on this host is taken
        over at once, anyone else's is an error."""
        key = self.keys.writer_lock
        if self.client.set(key, self.lock_value, nx=True, px=self.lock_ms):
            return
        raw = self.client.get(key)
        holder = json.loads(raw) if raw else {}
        if holder.get("host") == socket.gethostname() and not _alive(holder.get("pid")):
            logger.info("taking over the writer lock of pid %s (no longer running)", holder["pid"])
            self.client.set(key, self.lock_value, px=self.lock_ms)
            return
        raise LockedError(f"another kb ingest ({holder.get('host')}, pid {holder.get('pid')}) "
                          "drains this queue; one writer at a time")

    def refresh(self) -> None:
        if not self._refresh(keys=[self.keys.writer_lock], args=[self.lock_value, self.lock_ms]):
            raise WriterLockLost("lost the writer lock to another kb ingest; stopping")

    def release(self) -> None:
        self._unlock(keys=[self.keys.writer_lock], args=[self.lock_value])

    def take(self, wait: float = 1.0) -> list[bytes]:
        """The next batch, oldest first: first what a killed writer left in ``processing``."""
        k = self.keys
        left = self.client.lrange(k.processing, 0, -1)
        if left:
            return list(reversed(left))
        elements = self._move(keys=[k.results, k.processing], args=[self.batch])
        if elements or wait <= 0:
            return list(elements)
        first = self.client.blmove(k.results, k.processing, wait, "RIGHT", "LEFT")
        if first is None:
            return []
        return [first, *self._move(keys=[k.results, k.processing], args=[self.batch - 1])]

    def ingest(self, elements: list[bytes]) -> int:
        """Save one batch, then acknowledge it; returns the number of articles saved."""
        messages, dead = [], []
        for element in elements:
            try:
                messages.append((element, json.loads(element)))
            except ValueError:
                dead.append(element)
        for _, m in messages:
            if m.get("kind") == "sources":
                for source in m["sources"]:
                    kbdb.save_source(self.db, source)
                self.counts["sources_skipped"] += m.get("skipped", 0)
        stored: dict[str, list[str]] = {}
        health = PageHealth()
        with self.db.atomic():
            for element, m in messages:
                if m.get("kind") not in ("article", "refused"):
                    continue
                try:
                    self._save_page(m, health)
                except (sqlite3.IntegrityError, KeyError, TypeError, ValueError) as exc:
                    logger.warning("could not store %s: %s: %s", m.get("url"), type(exc).__name__, exc)
                    self.errors.append(f"{m.get('url')}: {type(exc).__name__}: {exc}"[:300])
                    dead.append(element)
                    continue
                stored.setdefault(m["round"], []).append(m["url"])
        health.save(self.db)
        pipe = self.client.pipeline(transaction=False)
        for round_id, urls in stored.items():
            pipe.sadd(self.keys.stored(round_id), *urls)
            pipe.expire(self.keys.stored(round_id), ROUND_TTL)
        pipe.execute()
        for _, m in messages:
            if m.get("kind") == "feed":
                self._feed(m)
        self._resolve_held()
        pipe = self.client.pipeline(transaction=True)
        if dead:
            pipe.lpush(self.keys.results_dead, *dead)
        pipe.delete(self.keys.processing)
        pipe.execute()
        return sum(len(urls) for urls in stored.values())

    def _save_page(self, m: dict[str, Any], health: PageHealth) -> None:
        if m["kind"] == "refused":
            self.counts["pages_refused"] += 1
            return
        article = dict(m["article"])
        body_gz = base64.b64decode(m["body_gz"]) if m.get("body_gz") else None
        # save_article archives the page when "body" is not None; body_gz is what it stores.
        article["body"], article["body_gz"] = (b"" if body_gz else None), body_gz
        if m.get("page_error"):
            self.counts["pages_failed"] += 1
        health.record(m["source_id"], extraction=article["extraction"], page_error=m.get("page_error"))
        status = kbdb.save_article(self.db, article)
        self.counts[f"articles_{status}"] += 1

    def _missing(self, round_id: str, urls: list[str]) -> list[str]:
        if not urls:
            return []
        present = self.client.smismember(self.keys.stored(round_id), urls)
        return [u for u, there in zip(urls, present, strict=True) if not there]

    def _feed(self, m: dict[str, Any]) -> None:
        """A feed's outcome: saved now, or held until every page it asked for is stored."""
        round_id, result = m["round"], m["result"]
        source_id = result["source_id"]
        if self.client.sismember(self.keys.feeds_saved(round_id), source_id):
            return  # saved by a writer killed before it acknowledged the batch
        earlier = self.client.hget(self.keys.held, source_id)
        if earlier and json.loads(earlier)["round"] != round_id:
            # An older round's pages never all arrived: keep its health, not its validators.
            old = json.loads(earlier)
            self._save_feed(old["round"], {**old["result"], "etag": None, "last_modified": None,
                                           "feed_hash": None})
            self.client.hdel(self.keys.held, source_id)
        missing = self._missing(round_id, m.get("wanted") or []) if result["status"] == "ok" else []
        if missing:
            self.client.hset(self.keys.held, source_id,
                             json.dumps({"round": round_id, "result": result, "missing": missing}))
        else:
            self._save_feed(round_id, result)

    def _resolve_held(self) -> None:
        for source_id, raw in self.client.hgetall(self.keys.held).items():
            held = json.loads(raw)
            missing = self._missing(held["round"], held["missing"])
            if not missing:
                self._save_feed(held["round"], held["result"])
                self.client.hdel(self.keys.held, source_id)
            elif len(missing) < len(held["missing"]):
                self.client.hset(self.keys.held, source_id, json.dumps({**held, "missing": missing}))

    def _save_feed(self, round_id: str, result: dict[str, Any]) -> None:
        kbdb.save_feed_result(self.db, result)
        self.client.sadd(self.keys.feeds_saved(round_id), result["source_id"])
        self.client.expire(self.keys.feeds_saved(round_id), ROUND_TTL)
        self.counts[f"feeds_{result['status']}"] += 1
        self.counts["articles_unchanged"] += result["entries"] - result["pages_requested"]
        if result["status"] == "failed":
            self.errors.append(f"{result['source_id']}: {result.get('error')}")


def run_ingest(db_path: str | Path, client: Any, *, keys: Keys | None = None, batch: int = 200,
               idle_exit: float = 10.0, lock_seconds: float = 30.0, quiet: bool = False,
               should_stop: Any = None) -> dict[str, Any]:
    """Drain the shared results into the database until the whole crawl has been idle
    ``idle_exit`` seconds (0: until ``should_stop()`` says so). Records one ``crawl_runs`` row and
    returns it with ``rows_per_second`` added."""
    import redis

    from crawlers.pipelines import RUN_FIELDS
    from kb.core.runlock import run_lock

    keys = keys or Keys()
    work = RedisWork(client, keys)
    with run_lock(db_path):
        db = open_db(db_path)
        writer = Writer(db, client, keys, batch=batch, lock_seconds=lock_seconds)
        writer.acquire()
        kbdb.mark_interrupted_runs(db)
        run_id = kbdb.start_crawl_run(db)
        bar = progress("ingest", unit="articles", quiet=quiet)
        saved, busy_s = 0, 0.0
        failure: KbError | None = None
        try:
            saved, busy_s = _drain(writer, work, bar, idle_exit=idle_exit, should_stop=should_stop)
        except redis.RedisError as exc:
            failure = RedisUnavailable(f"lost Redis: {exc}; what was taken is saved again next run")
        except sqlite3.OperationalError as exc:
            failure = DatabaseError(f"cannot write {db_path}: {exc}")
        finally:
            bar.close()
            with contextlib.suppress(redis.RedisError):
                writer.release()
        counts = {k: writer.counts[k] for k in RUN_FIELDS}
        kbdb.finish_crawl_run(db, run_id, counts, writer.errors,
                              status="interrupted" if failure else "completed")
        row = dict(db.table("crawl_runs").get(run_id))
        db.close()
    if failure:
        raise failure
    row["errors"] = writer.errors
    row["saved"] = saved
    row["rows_per_second"] = round(saved / busy_s, 1) if busy_s else 0.0
    return row


def _drain(writer: Writer, work: RedisWork, bar: Any, *, idle_exit: float,
           should_stop: Any) -> tuple[int, float]:
    """The writer's loop; returns (articles saved, seconds spent saving)."""
    saved, busy_s, idle_since = 0, 0.0, time.monotonic()
    while not (should_stop and should_stop()):
        elements = writer.take(wait=1.0)
        writer.refresh()
        if elements:
            started = time.perf_counter()
            try:
                n = writer.ingest(elements)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                # Another process (kb enrich) held the database past busy_timeout: the batch is
                # still in results:processing and is saved again.
                logger.warning("database busy (%s); trying the batch again in 5 s", exc)
                time.sleep(5)
                continue
            busy_s += time.perf_counter() - started
            saved += n
            bar.update(n)
            idle_since = time.monotonic()
        elif crawling(work.pending()) or not idle_exit:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= idle_exit:
            break
    return saved, busy_s
