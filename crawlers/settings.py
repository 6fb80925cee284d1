"""Scrapy settings for the aiwatch crawlers: polite defaults, overridable from the kb config and -s."""

BOT_NAME = "aiwatch"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

USER_AGENT = "aiwatch/0.1 (+https://github.com/aiwatch/aiwatch)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
# A page's callback yields one or two items; Scrapy starts CONCURRENT_ITEMS tasks per callback
# output, so its default of 100 costs more CPU than all our own work per page.
CONCURRENT_ITEMS = 8
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # also caps a compressed body's decompressed size
DOWNLOAD_WARNSIZE = 0
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"  # the run summary reports the failure
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DNS_TIMEOUT = 10
# The private-network guard's resolver: lookups checked and pinned (crawlers/resolver.py).
TWISTED_DNS_RESOLVER = "crawlers.resolver.GuardedResolver"

# Only http(s) is ever fetched, whatever a feed links to.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}

DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.PrivateNetworkGuard": 40,  # before robots.txt is asked for
    "crawlers.middlewares.SourcePoliteness": 45,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
}
EXTENSIONS = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "crawlers.throttle.SlotAutoThrottle": 0,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.ExtractionPipeline": 100,
    "crawlers.pipelines.StoragePipeline": 200,
}

# Our own: where items are stored and how many processes extract text off the reactor thread.
KB_DB = "kb.db"
KB_EXTRACT_WORKERS = 2
KB_ALLOW_PRIVATE = False
KB_DNS_SERVERS = ""  # host:port,... to resolve through instead of the system resolver
KB_QUIET = False
KB_SOURCES_SKIPPED = 0
# Retries: the n-th waits KB_RETRY_BACKOFF_BASE * 2**(n-1) s (at most KB_RETRY_BACKOFF_MAX) or what
# Retry-After asks; a Retry-After longer than KB_RETRY_AFTER_MAX fails the request for this run.
KB_RETRY_BACKOFF_BASE = 1.0
KB_RETRY_BACKOFF_MAX = 60.0
KB_RETRY_AFTER_MAX = 120.0

LOG_LEVEL = "WARNING"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
LOG_INSTALL_ROOT_HANDLER = False
