"""`kb serve`: Datasette over the knowledge base with the project's metadata, plugins and templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import yaml

from kb.core.errors import DatabaseError, KbError
from kb.core.resources import bundled
from kb.publish.protect import ENV, ServeOptions
from kb.store.connection import open_db

DATASETTE_DIR = bundled("kb.publish", "site")  # the checkout's datasette/ folder, or its installed copy


def write_metadata(db_path: str | Path, target: Path) -> Path:
    """The bundled metadata, with its per-database part keyed by this file's database name."""
    metadata = yaml.safe_load((DATASETTE_DIR / "metadata.yaml").read_text(encoding="utf-8"))
    metadata["databases"] = {Path(db_path).stem: metadata["databases"]["kb"]}
    target.write_text(json.dumps(metadata), encoding="utf-8")
    return target


def datasette_args(db_path: str | Path, *, host: str, port: int, metadata: Path,
                   public: bool = False) -> list[str]:
    """The datasette command line that serves the knowledge base (public: no CSV streaming of
    whole tables, which no response cap could bound)."""
    args = [
        sys.executable, "-m", "datasette", "serve", str(db_path),
        "--host", host, "--port", str(port), "--metadata", str(metadata),
        "--setting", "sql_time_limit_ms", "3000",
        "--setting", "max_returned_rows", "1000",
        "--setting", "default_page_size", "30",
        "--setting", "facet_time_limit_ms", "400",
        "--setting", "suggest_facets", "off",
        "--setting", "allow_download", "off",
        "--setting", "truncate_cells_html", "300",
    ]
    if public:
        args += ["--setting", "allow_csv_stream", "off"]
    for folder, flag in (("templates", "--template-dir"), ("plugins", "--plugins-dir"),
                         ("static", "--static")):
        path = DATASETTE_DIR / folder
        if path.is_dir() and any(path.iterdir()):
            args += [flag, f"static:{path}" if folder == "static" else str(path)]
    return args


def run_datasette(db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8001,
                  options: ServeOptions | None = None) -> None:
    """Replace this process with Datasette serving the knowledge base."""
    if not Path(db_path).exists():
        raise DatabaseError(f"no database at {db_path}: run 'kb init' and 'kb crawl' first")
    open_db(db_path, create=False).close()  # the schema gate: an older or newer schema stops here
    options = options or ServeOptions(base_url=default_base_url(host, port))
    metadata = write_metadata(db_path, Path(tempfile.mkdtemp(prefix="kb-serve-")) / "metadata.json")
    args = datasette_args(db_path, host=host, port=port, metadata=metadata, public=options.public)
    os.execve(args[0], args, {**server_environment(os.environ), ENV: options.to_env()})


def default_base_url(host: str, port: int) -> str:
    """Where links point when no base URL is configured: the address the server listens on."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def server_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: single-threaded BLAS and OpenMP unless the caller chose otherwise
    (the server runs requests side by side; a query's few words gain nothing from a thread pool,
    and on busy cores one costs up to a second; see kb.publish.web.load_embedders)."""
    out = dict(env)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        out.setdefault(name, "1")
    out.setdefault("TOKENIZERS_PARALLELISM", "false")
    out.setdefault("HF_HUB_OFFLINE", "1")
    return out


class ServerStartError(KbError):
    """`kb serve` did not come up."""


def spawn_server(db_path: str | Path, *, host: str = "127.0.0.1", port: int,
                 log: Path | None = None, env: dict[str, str] | None = None,
                 extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Start `kb serve` as a child process (its PID is Datasette's: the command execs it), its
    output going to ``log`` (default: a temporary file; never an unread pipe, which would fill)."""
    log = log or Path(tempfile.mkdtemp(prefix="kb-serve-")) / "serve.log"
    command = [sys.executable, "-m", "kb", "serve", "--db", str(db_path), "--host", host,
               "--port", str(port), *(extra or [])]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def wait_for_server(url: str, proc: subprocess.Popen[bytes] | None = None, *,
                    timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers; raise ServerStartError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = getattr(proc, "log", None)
            tail = Path(log).read_text(errors="replace").strip()[-500:] if log else ""
            raise ServerStartError(f"kb serve exited with {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise ServerStartError(f"kb serve did not answer {url} within {timeout:.0f} s")
