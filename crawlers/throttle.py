"""AutoThrottle that respects each download slot's own minimum delay (a source's download_delay)."""

from __future__ import annotations

from scrapy import Request, Spider
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response


class SlotAutoThrottle(AutoThrottle):
    """Scrapy's AutoThrottle, with the floor (and, if higher, the ceiling) of the delay taken from
    the slot's per-slot settings when a source set its own ``download_delay``; otherwise the global
    DOWNLOAD_DELAY, as in Scrapy."""

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        key = request.meta.get("download_slot")
        per_slot = self.crawler.engine.downloader.per_slot_settings.get(key or "", {})
        floor = per_slot.get("delay")
        if floor is None:
            super()._response_downloaded(response, request, spider)
            return
        saved = self.mindelay, self.maxdelay
        self.mindelay, self.maxdelay = floor, max(self.maxdelay, floor)
        try:
            super()._response_downloaded(response, request, spider)
        finally:
            self.mindelay, self.maxdelay = saved
