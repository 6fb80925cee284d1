"""Options, error handling and logging shared by every command."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
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


class _OursOrWarnings(logging.Filter):
    """Our own messages at INFO; the libraries' only from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("aiwatch") or record.levelno >= logging.WARNING


def setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_OursOrWarnings())
    handler.setLevel(logging.ERROR if quiet else logging.INFO)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint="-s")
        settings[name.strip()] = setting
    return settings

