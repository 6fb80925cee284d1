"""A lock file beside the database so two crawls or updates never overlap."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.core.errors import LockedError


@contextmanager
def run_lock(db_path: str | Path) -> Iterator[None]:
    """Hold ``<db>.lock`` for the duration; raise LockedError if another run holds it."""
    path = Path(f"{db_path}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise LockedError(f"another run (pid {holder}) holds {path}; try again later") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
