"""Progress for long work: a tqdm bar on a terminal, a plain line every few seconds elsewhere (cron,
a log file), nothing at all with --quiet."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
logger = logging.getLogger("aiwatch.progress")
EVERY_SECONDS = 10.0


class PlainProgress:
    """tqdm's interface (update, set_postfix_str, close) as plain log lines, at most one every
    ``every`` seconds, and a last one when the work took long enough to have shown any."""

    def __init__(self, desc: str, total: int | None, unit: str, every: float = EVERY_SECONDS) -> None:
        self.desc, self.total, self.unit, self.every = desc, total, unit, every
        self.n, self.postfix, self.shown = 0, "", False
        self.started = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every:
            self._emit()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        if self.shown:
            self._emit()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.n / elapsed
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        text = f"{self.desc}: {done} {self.unit}, {rate:.1f}/s"
        if self.total and rate > 0 and self.n < self.total:
            text += f", about {(self.total - self.n) / rate:.0f} s left"
        return text + (f" ({self.postfix})" if self.postfix else "")

    def _emit(self) -> None:
        logger.info("%s", self.line())
        self.shown, self.last = True, time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(desc: str, *, total: int | None = None, unit: str = "articles",
             quiet: bool = False) -> Any:
    """A bar (terminal), plain periodic lines (not a terminal) or nothing (``quiet``)."""
    if quiet:
        return tqdm(disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=f" {unit}", leave=False)
    return PlainProgress(desc, total, unit)


def in_batches(items: Sequence[T], size: int, *, desc: str, unit: str = "articles",
               quiet: bool = False) -> Iterator[Sequence[T]]:
    """``items`` a batch at a time, with progress counted in items."""
    if not items:
        return
    with progress(desc, total=len(items), unit=unit, quiet=quiet) as bar:
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            yield batch
            bar.update(len(batch))
