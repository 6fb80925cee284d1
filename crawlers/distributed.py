"""The crawl worker: FeedsSpider fed from Redis through scrapy-redis's scheduler and dupefilter, with
leases so a killed worker loses nothing, and a pipeline that pushes finished articles to Redis.

What scrapy-redis's own RedisSpider gets wrong on Scrapy 2.19, and what this module does instead:

* Scrapy 2.13+ calls ``async def start()``, never ``start_requests()``: RedisSpider's seeds only
  arrive through its ``spider_idle`` handler. ``RedisFeedsSpider.start`` is the redis-fed start.
* RedisSpider's seed requests are ``dont_filter=True`` (they bypass the dupefilter): ours are not.
* Its idle clock is a class attribute set at import time: ours starts when ``start()`` runs.
* It takes CONCURRENT_REQUESTS seeds at a time (one worker takes them all): ours take one
  (``redis_batch_size = 1``), and only when the shared request queue is empty.
* Its scheduler pops with RPOP/ZREM (a worker killed mid-request loses it) and flushes the shared
  queue when a worker closes unless SCHEDULER_PERSIST: ``LeasedScheduler`` pops under a lease and
  never flushes; ``RoundDupeFilter`` never clears the shared set and keeps one set per round.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import logging
import pickle
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy_redis.connection import get_redis_from_settings
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import Base
from scrapy_redis.scheduler import Scheduler
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, FeedResult, PageRefused
from crawlers.spiders.feeds import FeedsSpider
from kb.core.config import Config
from kb.crawl.assembly import build_article
from kb.crawl.feeds import FeedEntry
from kb.crawl.queue import ROUND_TTL, Keys, RedisWork, crawling, decode_element, encode_element
from kb.crawl.settings import scrapy_settings

logger = logging.getLogger("aiwatch.distributed")
REDIS_LOST = "redis unavailable"
UNDECODABLE = (pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError, ValueError,
               ImportError)


def worker_settings(config: Config, redis_url: str, *, keys: Keys, overrides: dict[str, str],
                    allow_private: bool, quiet: bool) -> Any:
    """The single-process crawl's settings (politeness, guards, limits, extraction), with the
    scheduler, dupefilter and storage swapped for their Redis versions; ``-s`` still wins."""
    settings = scrapy_settings(config, "", overrides={}, allow_private=allow_private, quiet=quiet)
    middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
    middlewares["crawlers.distributed.SharedPoliteness"] = 950  # last before the download
    settings.setdict({
        "REDIS_URL": redis_url,
        "KB_REDIS_PREFIX": keys.prefix,
        "KB_MAX_ATTEMPTS": 5,
        "SCHEDULER": "crawlers.distributed.LeasedScheduler",
        "SCHEDULER_QUEUE_CLASS": "crawlers.distributed.LeasedQueue",
        "DUPEFILTER_CLASS": "crawlers.distributed.RoundDupeFilter",
        "SCHEDULER_PERSIST": True,  # the first worker to stop must not wipe the shared queue
        "DOWNLOADER_MIDDLEWARES": middlewares,
        "ITEM_PIPELINES": {"crawlers.pipelines.ExtractionPipeline": 100,
                           "crawlers.distributed.RedisResultsPipeline": 200},
    }, priority="cmdline")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


@dataclass
class Envelope:
    """Where an item's work came from: its round, the lease to finish, the entry's URL."""

    round: str
    lease: str | None
    url: str | None = None
    wanted: list[str] = field(default_factory=list)  # a feed's entries that it asked to fetch


class RedisKnown:
    """The seeder's ``known`` hash (canonical URL -> entry fingerprint), looked up per entry."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    def get(self, url: str) -> str | None:
        value = self.client.hget(self.key, url)
        return value.decode() if value else None


class RedisFeedsSpider(FeedsSpider):
    """FeedsSpider whose feeds come from the shared seeds list and whose requests go through the
    shared queue, so any worker fetches any page; items carry an envelope for the push pipeline."""

    name = "feeds-redis"
    redis_batch_size = 1  # seeds taken one at a time
    work: RedisWork  # set in from_crawler
    known_entries: RedisKnown

    def __init__(self, idle_exit: float = 10.0, lease_seconds: float = 60.0,
                 poll_seconds: float = 0.2, figures: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(sources=[], state={}, **kwargs)
        self.idle_exit = float(idle_exit)
        self.lease_seconds = float(lease_seconds)
        self.poll_seconds = float(poll_seconds)
        self.figures = figures if figures is not None else {}
        self.leases: set[str] = set()
        self.envelopes: dict[int, Envelope] = {}  # id(item) -> envelope, until pushed
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> RedisFeedsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        client = get_redis_from_settings(settings)
        keys = Keys(settings.get("KB_REDIS_PREFIX") or "aiwatch")
        spider.work = RedisWork(client, keys, lease_seconds=spider.lease_seconds,
                                max_attempts=settings.getint("KB_MAX_ATTEMPTS", 5))
        spider.known_entries = RedisKnown(client, keys.known)
        crawler.signals.connect(spider.closed_down, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        """Take one seed whenever the shared request queue runs dry; keep leases alive; end once
        the whole crawl (seeds, requests, anyone's leases) has been idle ``idle_exit`` seconds."""
        idle_since = last_beat = self.started = time.monotonic()  # the idle clock starts here
        beat = max(0.2, self.lease_seconds / 3)
        engine = self.crawler.engine
        while True:
            try:
                now = time.monotonic()
                if now - last_beat >= beat:
                    self.heartbeat()
                    last_beat = now
                pending = self.work.pending()
                request = None
                if pending["seeds"] and not pending["requests"] and not engine.needs_backout():
                    request = self.next_seed_request()
            except redis.RedisError as exc:
                raise CloseSpider(f"{REDIS_LOST}: {exc}") from None
            if request is not None:
                idle_since = now
                yield request
                continue
            if pending["requests"] and not engine.needs_backout():
                self._wake_engine()
            if self.leases or crawling(pending):
                idle_since = now
            elif self.idle_exit and now - idle_since >= self.idle_exit:
                return
            await asyncio.sleep(self.poll_seconds)

    def _wake_engine(self) -> None:
        # The engine polls an idle scheduler only every 5 s (its heartbeat); work another worker
        # queued should start now. Private in Scrapy 2.19, hence the guard.
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    def heartbeat(self) -> None:
        """Renew this worker's leases and put expired ones (a dead worker's) back on the queue."""
        held = self.work.renew(self.leases)
        if held < len(self.leases):
            logger.warning("%d leases ran out before renewal; their work may be done twice",
                           len(self.leases) - held)
        reaped = self.work.reap()
        if reaped:
            logger.info("re-queued %d requests whose worker stopped renewing them", reaped)

    def next_seed_request(self) -> scrapy.Request | None:
        """One seed from Redis, under a lease, as a feed request (it goes through the dupefilter)."""
        taken = self.work.take(self.work.keys.seeds)
        if taken is None:
            return None
        token, element = taken
        try:
            seed = json.loads(decode_element(element)[2])
            request = self.seed_request(seed)
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("dropped a malformed seed: %s", exc)
            self.work.push(self.work.keys.dead, element, release=token)
            return None
        request.meta["kb_lease"] = token
        self.leases.add(token)
        return request

    def seed_request(self, seed: dict[str, Any]) -> scrapy.Request:
        """The feed request FeedsSpider.start would make, with the round and validators in meta."""
        source = {**seed["source"], "kb_round": seed["round"]}
        validators = seed.get("validators") or {}
        return self.feed_request(source, validators, dont_filter=False, kb_round=seed["round"],
                                 kb_validators=validators)

    def hold_lease(self, token: str) -> None:
        self.leases.add(token)

    def finish_lease(self, token: str) -> None:
        self.leases.discard(token)

    def envelope_of(self, item: Any) -> Envelope | None:
        return self.envelopes.pop(id(item), None)

    def _tag(self, item: Any, meta: dict[str, Any], **fields: Any) -> Any:
        round_id = meta.get("kb_round") or meta["source"]["kb_round"]
        self.envelopes[id(item)] = Envelope(round=round_id, lease=meta.get("kb_lease"), **fields)
        return item

    def parse_feed(self, response: Response, source: dict[str, Any]) -> Iterator[Any]:
        # Validators travel in the request: the worker that fetches a feed need not have seeded it.
        self.validators[source["id"]] = response.meta.get("kb_validators") or {}
        outputs = list(super().parse_feed(response, source))  # at once: state is per source
        requests = [o for o in outputs if isinstance(o, scrapy.Request)]
        result = next((o for o in outputs if isinstance(o, FeedResult)), None)
        result = result or self.results.pop(source["id"])
        self.pending.pop(source["id"], None)
        self.validators.pop(source["id"], None)
        result.pages_requested = len(requests)
        yield from requests
        # Last, after its page requests are in the shared queue: pushing it ends the feed's lease.
        yield self._tag(result, response.meta, wanted=[r.meta["item"].url for r in requests])

    def _wants(self, entry: FeedEntry) -> bool:
        # Across feeds and workers the shared dupefilter stops a second fetch within a round.
        return self.known_entries.get(entry.url) != entry.fingerprint

    def _page_request(self, entry: FeedEntry, source: dict[str, Any], feed_lang: str | None,
                      channel_title: str | None = None) -> scrapy.Request | None:
        request = super()._page_request(entry, source, feed_lang, channel_title)
        if request is None:
            return None
        request = request.replace(dont_filter=False)  # pages go through the shared dupefilter
        request.meta["kb_round"] = source["kb_round"]
        return request

    def parse_page(self, response: Response) -> Iterator[Any]:
        for output in super().parse_page(response):
            yield self._tag(output, response.meta, url=response.meta["item"].url)

    def page_failed(self, failure: Failure) -> Iterator[Any]:
        meta = failure.request.meta  # type: ignore[attr-defined]  # Scrapy sets it
        for output in super().page_failed(failure):
            yield self._tag(output, meta, url=meta["item"].url)

    def feed_failed(self, failure: Failure) -> Iterator[FeedResult]:
        for output in super().feed_failed(failure):
            yield self._tag(output, failure.request.meta)  # type: ignore[attr-defined]

    def _page_done(self, source_id: str) -> Iterator[FeedResult]:
        return iter(())  # the writer, not a worker, knows when all of a feed's pages are stored

    def closed_down(self, spider: Any = None, reason: str = "") -> None:
        """Hand back unfinished work at once (a clean stop) and fill in the worker's figures."""
        try:
            handed = self.work.hand_back(self.leases)
        except redis.RedisError:
            handed = 0  # they come back when their leases run out
        self.leases.clear()
        self.figures.update({"worker": self.work.worker_id, "reason": reason,
                             "seconds": round(time.monotonic() - self.started, 1),
                             "handed_back": handed, "feeds": self.counts["feeds"],
                             "pages": self.counts["pages"],
                             "pages_failed": self.counts["pages_failed"],
                             "refused": self.counts["refused"]})


def result_message(item: Any, envelope: Envelope) -> dict[str, Any]:
    """The JSON message ``kb ingest`` stores: a feed's outcome, a refused link or an article
    (assembled here, so the writer only writes; the page travels gzip-compressed, base64)."""
    if isinstance(item, FeedResult):
        return {"kind": "feed", "round": envelope.round, "result": asdict(item),
                "wanted": envelope.wanted}
    if isinstance(item, PageRefused):
        return {"kind": "refused", "round": envelope.round, "source_id": item.source_id,
                "url": envelope.url, "link": item.url, "reason": item.reason}
    article = build_article(asdict(item), item.extracted)
    body, body_gz = article.pop("body"), article.pop("body_gz")
    if body is not None and body_gz is None:
        body_gz = gzip.compress(body, 6)
    return {"kind": "article", "round": envelope.round, "url": item.url,
            "source_id": item.source_id, "page_error": item.page_error, "article": article,
            "body_gz": base64.b64encode(body_gz).decode() if body_gz else None}


class RedisResultsPipeline:
    """Pushes each finished item (after extraction) to the results list and, in the same Redis
    transaction, finishes the lease of the request it came from."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisResultsPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Any = None) -> Any:
        spider = self.crawler.spider
        envelope = spider.envelope_of(item)
        if envelope is None:
            return item
        message = json.dumps(result_message(item, envelope)).encode()
        spider.work.push(spider.work.keys.results, message, release=envelope.lease)
        if envelope.lease:
            spider.finish_lease(envelope.lease)
        if isinstance(item, FeedResult):
            spider.counts["feeds"] += 1
        elif isinstance(item, PageRefused):
            spider.counts["refused"] += 1
        else:
            spider.counts["pages"] += 1
            spider.counts["pages_failed"] += bool(item.page_error)
        return item


class RoundDupeFilter(RFPDupeFilter):
    """scrapy-redis's dupefilter with one set per crawl round (expiring), so the next round can
    fetch a changed page again; pages are keyed by their entry's canonical URL; never cleared by
    a worker that stops."""

    def __init__(self, server: Any, key: str, debug: bool = False, keys: Keys | None = None) -> None:
        super().__init__(server, key, debug)
        self.keys = keys or Keys()

    @classmethod
    def from_spider(cls, spider: Any) -> RoundDupeFilter:
        keys = spider.work.keys
        return cls(spider.work.client, keys.dupefilter("*"), spider.settings.getbool("DUPEFILTER_DEBUG"),
                   keys=keys)

    def request_seen(self, request: scrapy.Request) -> bool:
        key = self.keys.dupefilter(request.meta.get("kb_round") or "-")
        pipe = self.server.pipeline(transaction=False)
        pipe.sadd(key, self.request_fingerprint(request))
        pipe.expire(key, ROUND_TTL)
        added, _ = pipe.execute()
        return added == 0

    def request_fingerprint(self, request: scrapy.Request) -> str:
        item = request.meta.get("item")
        if isinstance(item, ArticleItem):
            return hashlib.sha1(f"page\0{item.url}".encode()).hexdigest()
        return super().request_fingerprint(request)

    def close(self, reason: str = "") -> None:
        pass  # shared by every worker: it expires with its round


class LeasedQueue(Base):
    """The shared FIFO of requests; a pop leases the request (see kb.crawl.queue.RedisWork)."""

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        self.work: RedisWork = spider.work

    def __len__(self) -> int:
        return int(self.server.llen(self.key))

    def push(self, request: scrapy.Request, release: str | None = None) -> None:
        self.work.push(self.key, encode_element("r", 0, self._encode_request(request)), release=release)

    def pop(self, timeout: int = 0) -> scrapy.Request | None:
        taken = self.work.take(self.key)
        if taken is None:
            return None
        token, element = taken
        try:
            request = self._decode_request(decode_element(element)[2])
        except UNDECODABLE as exc:
            logger.warning("dropped an undecodable request: %s: %s", type(exc).__name__, exc)
            self.work.push(self.work.keys.dead, element, release=token)
            return None
        request.meta["kb_lease"] = token
        self.spider.hold_lease(token)
        return request


class LeasedScheduler(Scheduler):
    """scrapy-redis's scheduler over the leased queue and the round dupefilter.

    A request that continues leased work (a redirect or a retry) goes back to the shared queue and
    finishes the old lease in the same transaction, without the dupefilter (as in one process); a
    new request (a seed's feed, a feed's page) goes through the dupefilter first.
    """

    def open(self, spider: Any) -> None:
        self.spider = spider
        self.queue = LeasedQueue(self.server, spider, spider.work.keys.requests, self.serializer)
        self.df = RoundDupeFilter.from_spider(spider)
        if len(self.queue):
            logger.info("joining a crawl with %d requests queued", len(self.queue))

    def close(self, reason: str) -> None:
        pass  # SCHEDULER_PERSIST, always: the queue is shared

    def enqueue_request(self, request: scrapy.Request) -> bool:
        try:
            return self._enqueue(request)
        except redis.RedisError as exc:
            # Lost here, but its source is still leased in Redis: it comes back when that runs out.
            logger.warning("could not queue %s: %s: %s", request.url, REDIS_LOST, exc)
            return False

    def _enqueue(self, request: scrapy.Request) -> bool:
        lease = request.meta.pop("kb_lease", None)
        follow_up = lease is not None and ("redirect_urls" in request.meta
                                           or "retry_times" in request.meta)
        if not request.dont_filter and not follow_up and self.df.request_seen(request):
            self.df.log(request, self.spider)
            if lease:
                self.spider.work.release(lease)
                self.spider.finish_lease(lease)
            return False
        self.queue.push(request, release=lease)
        if lease:
            self.spider.finish_lease(lease)
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> scrapy.Request | None:
        try:
            request = self.queue.pop()
        except redis.RedisError as exc:
            self._lost(exc)
            return None
        if request is not None and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        try:
            return len(self.queue) > 0
        except redis.RedisError as exc:
            self._lost(exc)
            return False

    def _lost(self, exc: Exception) -> None:
        # The engine calls the scheduler from timers that must not raise; the spider's start()
        # notices the same failure and closes the spider.
        logger.debug("%s: %s", REDIS_LOST, exc)


class SharedPoliteness:
    """One host's pace across all workers. Just before a request leaves (last in the middleware
    chain, after robots.txt), the worker books the host's next send time in Redis, one delay after
    the last booking by any worker, and waits for it; its own slot delay then adds nothing, since
    its previous request to the host went out at least one delay earlier. With N workers a host
    still sees about one request per delay (per-source delays and AutoThrottle included), as with
    one process. No delay, no booking."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.default_delay = crawler.settings.getfloat("DOWNLOAD_DELAY")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPoliteness:
        return cls(crawler)

    async def process_request(self, request: scrapy.Request) -> None:
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        delay = slot.delay if slot is not None else (
            downloader.per_slot_settings.get(key, {}).get("delay", self.default_delay))
        if delay > 0:
            spider: RedisFeedsSpider = self.crawler.spider  # type: ignore[assignment]
            wait = spider.work.reserve(key, delay)
            if wait > 0:
                await asyncio.sleep(wait)
