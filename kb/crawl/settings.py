"""The Scrapy settings of a crawl: the project's (crawlers.settings), then the kb config, then `-s`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb import __version__
from kb.core.config import Config
from kb.core.errors import KbError


def scrapy_settings(config: Config, db_path: str | Path, *, overrides: dict[str, str],
                    allow_private: bool, quiet: bool, skipped: int = 0) -> Any:
    """Scrapy settings: the project's defaults, then the kb config, then ``-s`` overrides."""
    from scrapy.settings import Settings

    crawl = config.crawl
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    user_agent = crawl.user_agent.format(version=__version__, contact_url=crawl.contact_url)
    settings.setdict({
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_TIMES": crawl.retries,
        "DOWNLOAD_MAXSIZE": crawl.max_body_bytes,
        "KB_EXTRACT_WORKERS": crawl.extract_workers,
        "KB_DB": str(db_path),
        "KB_ALLOW_PRIVATE": allow_private,
        "KB_QUIET": quiet,
        "KB_SOURCES_SKIPPED": skipped,
        "LOG_LEVEL": "ERROR" if quiet else "WARNING",
    }, priority="cmdline")
    for name, value in overrides.items():
        settings.set(name, checked_value(name, value, settings.get(name)), priority="cmdline")
    return settings


class SettingError(KbError):
    """A -s NAME=VALUE whose value cannot be the setting's type."""

    exit_code = 2


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def checked_value(name: str, value: str, default: Any) -> Any:
    """``value`` as the type of the setting's default (a number, a flag), else SettingError."""
    kind = type(default)
    if kind is bool:
        if value.strip().lower() not in TRUE + FALSE:
            raise SettingError(f"-s {name}={value}: expected true or false")
        return value.strip().lower() in TRUE
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            expected = "a whole number" if kind is int else "a number"
            raise SettingError(f"-s {name}={value}: expected {expected}") from None
    return value
