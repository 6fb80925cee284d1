"""Crawling past one machine: a shared Redis queue with leases, the seeder and the one SQLite writer.

Keys (all under one prefix, ``aiwatch`` by default):

* ``seeds`` (list): one element per due feed, written by ``kb crawl --redis``;
* ``requests`` (list): scrapy-redis's request queue, shared by every ``kb crawl-worker``;
* ``dupefilter:<round>`` (set): scrapy-redis's dupefilter, one per crawl round, expiring;
* ``leases`` (sorted set, token -> deadline) and ``lease-data`` (hash, token -> element): work a
  worker has taken and not finished; a lease not renewed in time goes back to its queue;
* ``known`` (hash, canonical URL -> entry fingerprint): what is stored already, for incremental fetches;
* ``results`` (list) and ``results:processing`` (list): finished articles and feed outcomes, drained
  by ``kb ingest`` with the reliable-queue pattern (moved to ``processing``, deleted after commit);
* ``round:<round>:stored`` (set) and ``held-feeds`` (hash): which entries of a round are in SQLite,
  and the feed outcomes waiting for theirs (validators are saved only once all their pages are in).

Queue elements are ``<kind><attempts>|<payload>``: kind ``s`` (a seed, JSON) or ``r`` (a request
pickled by scrapy-redis). Every time a lease runs out the attempts go up; at ``max_attempts`` the
element goes to ``dead`` instead of back to its queue.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kb.core.errors import KbError

ROUND_TTL = 7 * 24 * 3600  # seconds a round's dupefilter and stored set are kept


class RedisUnavailable(KbError):
    """The Redis URL is malformed or the server cannot be reached."""


class QueueBusy(KbError):
    """The shared queue still holds the previous round's work."""


class Keys:
    """The Redis key names, all under one prefix (several crawls can share one Redis)."""

    def __init__(self, prefix: str = "aiwatch") -> None:
        self.prefix = prefix
        self.seeds = f"{prefix}:seeds"
        self.requests = f"{prefix}:requests"
        self.leases = f"{prefix}:leases"
        self.lease_data = f"{prefix}:lease-data"
        self.dead = f"{prefix}:dead"
        self.known = f"{prefix}:known"
        self.results = f"{prefix}:results"
        self.processing = f"{prefix}:results:processing"
        self.results_dead = f"{prefix}:results:dead"
        self.held = f"{prefix}:held-feeds"
        self.writer_lock = f"{prefix}:writer-lock"

    def dupefilter(self, round_id: str) -> str:
        return f"{self.prefix}:dupefilter:{round_id}"

    def stored(self, round_id: str) -> str:
        return f"{self.prefix}:round:{round_id}:stored"

    def feeds_saved(self, round_id: str) -> str:
        return f"{self.prefix}:round:{round_id}:feeds"

    def slot(self, name: str) -> str:
        return f"{self.prefix}:slot:{name}"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str) -> Any:
    """A Redis client for ``url`` (redis://, rediss:// or unix://), checked with a PING."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=60)
        client.ping()
    except ValueError as exc:
        raise RedisUnavailable(f"bad Redis URL {redact(url)!r}: {exc}") from None
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}") from None
    return client


def encode_element(kind: str, attempts: int, payload: bytes) -> bytes:
    return f"{kind}{attempts}|".encode() + payload


def decode_element(element: bytes) -> tuple[str, int, bytes]:
    """(kind, attempts, payload) of a queue element."""
    head, _, payload = element.partition(b"|")
    return head[:1].decode(), int(head[1:] or 0), payload


_NOW = ("local t = redis.call('TIME') "
        "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ")
POP = _NOW + """
local element = redis.call('RPOP', KEYS[1])
if not element then return false end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], element)
return element
"""
RENEW = _NOW + """
local renewed = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
"""
# KEYS: leases, lease-data, seeds, requests, dead. ARGV: max attempts, 1 to count this as an
# attempt (a lease that ran out) or 0 (a worker handing its work back), then the tokens (or none:
# every expired lease).
REQUEUE = _NOW + """
local tokens = {}
if #ARGV > 2 then
  for i = 3, #ARGV do tokens[#tokens + 1] = ARGV[i] end
else
  tokens = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
end
local moved = 0
for _, token in ipairs(tokens) do
  local element = redis.call('HGET', KEYS[2], token)
  redis.call('ZREM', KEYS[1], token)
  redis.call('HDEL', KEYS[2], token)
  if element then
    local bar = string.find(element, '|', 1, true)
    local kind = string.sub(element, 1, 1)
    local attempts = tonumber(string.sub(element, 2, bar - 1)) + tonumber(ARGV[2])
    local again = kind .. attempts .. string.sub(element, bar)
    if attempts >= tonumber(ARGV[1]) then redis.call('RPUSH', KEYS[5], again)
    elseif kind == 's' then redis.call('RPUSH', KEYS[3], again)
    else redis.call('RPUSH', KEYS[4], again) end
    moved = moved + 1
  end
end
return moved
"""
MOVE_BATCH = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local element = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not element then break end
  out[#out + 1] = element
end
return out
"""
# KEYS: a host's slot. ARGV: its delay (ms). Reserves the host's next free send time, one delay
# after the last reservation by any worker; returns how long the caller waits for it (ms).
RESERVE = _NOW + """
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local delay = tonumber(ARGV[1])
redis.call('SET', KEYS[1], at + delay, 'PX', at + delay - now + 60000)
return at - now
"""
REFRESH_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisWork:
    """Leased work on the shared queues: take, renew, finish, and put back what a dead worker held.

    A token names one taken element; its deadline is set from Redis's own clock, so the machines'
    clocks do not matter.
    """

    def __init__(self, client: Any, keys: Keys, *, lease_seconds: float = 60.0,
                 max_attempts: int = 5) -> None:
        self.client = client
        self.keys = keys
        self.lease_ms = int(lease_seconds * 1000)
        self.max_attempts = max_attempts
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self._count = 0
        self._pop = client.register_script(POP)
        self._renew = client.register_script(RENEW)
        self._requeue = client.register_script(REQUEUE)
        self._reserve = client.register_script(RESERVE)

    def take(self, queue: str) -> tuple[str, bytes] | None:
        """Pop the oldest element of ``queue`` under a new lease: (token, element), or None."""
        self._count += 1
        token = f"{self.worker_id}:{self._count}"
        element = self._pop(keys=[queue, self.keys.leases, self.keys.lease_data],
                            args=[token, self.lease_ms])
        return (token, element) if element else None

    def push(self, queue: str, element: bytes, *, release: str | None = None) -> None:
        """Append to ``queue`` and, in the same transaction, finish the lease ``release``."""
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(queue, element)
        if release:
            pipe.zrem(self.keys.leases, release)
            pipe.hdel(self.keys.lease_data, release)
        pipe.execute()

    def release(self, token: str) -> None:
        """Finish a lease whose work needs no output (a duplicate dropped by the dupefilter)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.keys.leases, token)
        pipe.hdel(self.keys.lease_data, token)
        pipe.execute()

    def renew(self, tokens: set[str] | list[str]) -> int:
        """Push the deadlines of ``tokens`` forward; returns how many were still held."""
        if not tokens:
            return 0
        return int(self._renew(keys=[self.keys.leases], args=[self.lease_ms, *tokens]))

    def reap(self) -> int:
        """Put the work of every expired lease back on its queue (or in ``dead``)."""
        return int(self._requeue(keys=self._requeue_keys(), args=[self.max_attempts, 1]))

    def hand_back(self, tokens: set[str] | list[str]) -> int:
        """Put this worker's unfinished work back at once (a clean shutdown), attempts unchanged."""
        if not tokens:
            return 0
        return int(self._requeue(keys=self._requeue_keys(), args=[self.max_attempts, 0, *tokens]))

    def reserve(self, slot: str, delay: float) -> float:
        """Book the next send time for ``slot`` (a host), ``delay`` seconds after the last booking by
        any worker; returns the seconds to wait for it."""
        return int(self._reserve(keys=[self.keys.slot(slot)], args=[max(1, int(delay * 1000))])) / 1000

    def _requeue_keys(self) -> list[str]:
        k = self.keys
        return [k.leases, k.lease_data, k.seeds, k.requests, k.dead]

    def pending(self) -> dict[str, int]:
        """How much work is queued, leased and waiting for the writer."""
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        for key in (k.seeds, k.requests, k.results, k.processing, k.dead, k.results_dead):
            pipe.llen(key)
        pipe.zcard(k.leases)
        pipe.hlen(k.held)
        names = ("seeds", "requests", "results", "processing", "dead", "results_dead", "leases",
                 "held_feeds")
        return dict(zip(names, (int(v) for v in pipe.execute()), strict=True))


def crawling(pending: dict[str, int]) -> bool:
    """True while workers have something to do (queued or leased)."""
    return bool(pending["seeds"] or pending["requests"] or pending["leases"])


def new_round_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


