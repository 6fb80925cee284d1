"""`kb serve`: Datasette over the knowledge base with the project's metadata, plugins and templates."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

from kb.errors import DatabaseError

DATASETTE_DIR = Path(__file__).resolve().parent.parent / "datasette"


def write_metadata(db_path: str | Path, target: Path) -> Path:
    """The bundled metadata, with its per-database part keyed by this file's database name."""
    metadata = yaml.safe_load((DATASETTE_DIR / "metadata.yaml").read_text(encoding="utf-8"))
    metadata["databases"] = {Path(db_path).stem: metadata["databases"]["kb"]}
    target.write_text(json.dumps(metadata), encoding="utf-8")
    return target


def datasette_args(db_path: str | Path, *, host: str, port: int, metadata: Path) -> list[str]:
    """The datasette command line that serves the knowledge base."""
    args = [
        sys.executable, "-m", "datasette", "serve", str(db_path),
        "--host", host, "--port", str(port), "--metadata", str(metadata),
        "--setting", "sql_time_limit_ms", "3000",
        "--setting", "max_returned_rows", "1000",
        "--setting", "default_page_size", "30",
        "--setting", "suggest_facets", "off",
        "--setting", "allow_download", "off",
    ]
    for folder, flag in (("templates", "--template-dir"), ("plugins", "--plugins-dir"),
                         ("static", "--static")):
        path = DATASETTE_DIR / folder
        if path.is_dir() and any(path.iterdir()):
            args += [flag, f"static:{path}" if folder == "static" else str(path)]
    return args


def run_datasette(db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Replace this process with Datasette serving the knowledge base."""
    if not Path(db_path).exists():
        raise DatabaseError(f"no database at {db_path}: run 'kb init' and 'kb crawl' first")
    metadata = write_metadata(db_path, Path(tempfile.mkdtemp(prefix="kb-serve-")) / "metadata.json")
    args = datasette_args(db_path, host=host, port=port, metadata=metadata)
    os.execv(args[0], args)
