"""Bounds on what one request may cost the web instance: the size of any SQLite value, the bytes of
one query's result, a thread pool of its own for arbitrary SQL, one running query per client, and a
rate limit. Used by kb.publish.protect and the Datasette plugins."""

from __future__ import annotations

import contextvars
import ctypes
import importlib
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import cache
from typing import Any

from sqlite_utils.utils import sqlite3

MB = 1024 * 1024
VALUE_LIMIT = 16 * MB  # any one string or blob, stored or computed (the crawler keeps pages under 10 MB)
RESULT_LIMIT = 16 * MB  # the values of one query's result, summed
SQLITE_LIMIT_LENGTH = 0  # sqlite3.h; pysqlite3 exports neither the constant nor Connection.setlimit


class LimitError(Exception):
    """The length limit could not be set on a connection."""


@cache
def _sqlite_library() -> Any:
    """The SQLite library the driver is built with (pysqlite3-binary links its own copy)."""
    module = importlib.import_module(f"{sqlite3.__name__.split('.')[0]}._sqlite3")
    lib = ctypes.CDLL(module.__file__)
    lib.sqlite3_limit.restype = ctypes.c_int
    lib.sqlite3_limit.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    return lib


def set_length_limit(conn: Any, limit: int = VALUE_LIMIT) -> None:
    """Cap every string and blob ``conn`` makes or reads at ``limit`` bytes: beyond it SQLite stops the
    statement with "string or blob too big" before allocating. Verified with a query, as the
    pysqlite3 path reaches the C handle through ctypes (its Connection has no ``setlimit``)."""
    if hasattr(conn, "setlimit"):
        conn.setlimit(SQLITE_LIMIT_LENGTH, limit)
    else:
        # pysqlite's Connection struct starts with the sqlite3* right after the object header.
        handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
        lib = _sqlite_library()
        if not handle or lib.sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, -1) <= 0:
            raise LimitError("cannot reach the SQLite handle of this connection")
        lib.sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, limit)
    try:
        conn.execute("select zeroblob(?)", [limit + 1]).fetchone()
    except sqlite3.DataError:
        return
    raise LimitError("the SQLite length limit did not take effect")


def budget_row_factory(limit: int = RESULT_LIMIT) -> Callable[[Any, tuple[Any, ...]], Any]:
    """A row factory (sqlite3.Row rows, as Datasette expects) that stops a cursor once the values it
    returned add up to more than ``limit`` bytes (strings counted in characters), so no query's
    result can hold gigabytes."""
    local = threading.local()

    def factory(cursor: Any, values: tuple[Any, ...]) -> Any:
        if getattr(local, "cursor", lambda: None)() is not cursor:
            local.cursor, local.used = weakref.ref(cursor), 0
        local.used += sum(len(v) if isinstance(v, str | bytes) else 8 for v in values)
        if local.used > limit:
            raise sqlite3.DataError(f"the result is larger than {limit // MB} MB: ask for fewer rows "
                                    "or columns")
        return sqlite3.Row(cursor, values)

    return factory


def bound_connection(conn: Any) -> None:
    """Both bounds on one connection (Datasette's, through the prepare_connection hook, and ours)."""
    set_length_limit(conn)
    conn.row_factory = budget_row_factory()


def release_frames(exc: BaseException) -> None:
    """Drop the locals of an exception's finished frames (and of its causes) in this thread.

    An interrupted query's exception holds, through its traceback, the cursor it ran on. Freed on
    the event loop's thread, that cursor resets its statement, which waits for the connection's
    mutex, held by the worker thread's next query: the whole server stalled for seconds at a time
    while clients queued slow queries. Freed here, it costs nothing."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


def in_worker(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on a worker thread; an exception leaves with its frames' locals released."""
    try:
        return fn(*args, **kwargs)
    except BaseException as exc:
        release_frames(exc)
        raise


# -- arbitrary SQL on a pool of its own --------------------------------------------------------------

POOL: contextvars.ContextVar[str] = contextvars.ContextVar("aiwatch_pool", default="pages")


class RoutingExecutor(Executor):
    """Datasette's executor, split: work submitted while ``POOL`` is "sql" (set by the request
    wrapper for arbitrary SQL) runs on a small pool of its own, so a flood of slow queries waits
    there and never takes the threads that pages, facets and feeds need."""

    def __init__(self, pages: Executor, sql_threads: int = 1) -> None:
        self.pages = pages
        self.sql = ThreadPoolExecutor(max_workers=sql_threads, thread_name_prefix="kb-sql")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        pool = self.sql if POOL.get() == "sql" else self.pages
        return pool.submit(in_worker, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pages.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.sql.shutdown(wait=wait, cancel_futures=cancel_futures)


class ClientGate:
    """At most ``per_client`` requests in flight per client address, ``total`` in all."""

    def __init__(self, per_client: int = 1, total: int = 16) -> None:
        self.per_client, self.total = per_client, total
        self.running: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, client: str) -> bool:
        with self._lock:
            if (self.running.get(client, 0) >= self.per_client
                    or sum(self.running.values()) >= self.total):
                return False
            self.running[client] = self.running.get(client, 0) + 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            left = self.running.get(client, 1) - 1
            if left:
                self.running[client] = left
            else:
                self.running.pop(client, None)


class RateLimiter:
    """A token bucket per client address: ``burst`` requests at once, then ``per_minute``."""

    def __init__(self, per_minute: float = 10, burst: int = 5, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate, self.burst, self.clock = per_minute / 60, burst, clock
        self.buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        with self._lock:
            now = self.clock()
            if len(self.buckets) > 10_000:  # forget idle clients rather than grow without bound
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 600}
            tokens, seen = self.buckets.get(client, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - seen) * self.rate)
            allowed = tokens >= 1
            self.buckets[client] = (tokens - 1 if allowed else tokens, now)
            return allowed
