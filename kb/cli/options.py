"""Options, error handling and logging shared by every command."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import click

from kb.core.errors import KbError

DB_HELP = "Knowledge base file (default: $KB_DB, else kb.db)."
CONFIG_HELP = "Configuration file, or 'default' / 'demo' (default: $KB_CONFIG, else bundled)."


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db_path", envvar="KB_DB", default="kb.db", show_default=True,
                        type=click.Path(dir_okay=False), help=DB_HELP)(fn)


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_name", envvar="KB_CONFIG", default=None,
                        help=CONFIG_HELP)(fn)


def quiet_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True, help="No progress output.")(fn)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one 'Error:' line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KbError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


class _Ours(logging.Filter):
    """Our own messages only, less the detail (``aiwatch.detail.*``: each retry): the libraries'
    (robots.txt and download errors with their tracebacks) and the detail go to the log file, or
    to the console with --verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("aiwatch") and not record.name.startswith("aiwatch.detail")


class _OneLine(logging.Formatter):
    """The message alone, never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class _OursOrWarnings(logging.Filter):
    """Our own messages at INFO; the libraries' only from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("aiwatch") or record.levelno >= logging.WARNING


def setup_logging(quiet: bool, *, verbose: bool = False, log_file: Path | None = None) -> None:
    """Console: our messages, one line each (errors only with ``quiet``); with ``verbose`` the
    libraries' warnings and tracebacks too. ``log_file`` gets everything from WARNING up (our
    INFO lines too), tracebacks included, rotated at 1 MB."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR if quiet else logging.INFO)
    if verbose:
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(_OursOrWarnings())
    else:
        console.setFormatter(_OneLine())
        console.addFilter(_Ours())
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            file = QuietFileHandler(log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        except OSError as exc:
            raise KbError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from None
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file.addFilter(_OursOrWarnings())
        handlers.append(file)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)


class QuietFileHandler(RotatingFileHandler):
    """A log file that fails silently (a full disk must not fill the console with logging's own
    tracebacks): the run's outcome still reaches the console."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def verbose_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-v", "--verbose", is_flag=True,
                        help="Also show the libraries' warnings and tracebacks.")(fn)


def log_file_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Where the full log goes, tracebacks included "
                             "(default: <db>.crawl.log beside the database).")(fn)


def crawl_log(db_path: str, log_file: Path | None) -> Path:
    return log_file or Path(db_path).with_suffix(".crawl.log")


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--topic, --vendor, --jurisdiction, --source, --since and --until (kb.search.filters)."""
    for name, text in reversed((
        ("topic", "Only articles with this topic slug."),
        ("vendor", "Only articles naming this vendor."),
        ("jurisdiction", "Only articles about this jurisdiction."),
        ("source", "Only articles from this source (its id)."),
        ("since", "Only articles published on or after this day (YYYY-MM-DD, 7d, last-week...)."),
        ("until", "Only articles published on or before this day."),
    )):
        fn = click.option(f"--{name}", name, help=text)(fn)
    return fn


def parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint="-s")
        settings[name.strip()] = setting
    return settings

