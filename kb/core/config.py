"""The YAML configuration: sources, crawl settings, schedule and mail, validated on load."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kb.core.errors import ConfigError
from kb.core.resources import bundled

CONFIG_DIR = bundled("kb", "config")
BUNDLED = {"default": CONFIG_DIR / "default.yaml", "demo": CONFIG_DIR / "demo.yaml"}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass
class Source:
    id: str
    name: str
    feed_url: str
    homepage: str | None = None
    lang: str | None = None
    tags: list[str] = field(default_factory=list)
    download_delay: float | None = None
    concurrency: int | None = None


@dataclass
class CrawlSettings:
    user_agent: str = "aiwatch/{version} (+{contact_url})"
    contact_url: str = "https://github.com/aiwatch/aiwatch"
    download_delay: float = 1.0
    concurrency_per_domain: int = 1
    autothrottle: bool = True
    obey_robots: bool = True
    timeout: float = 30.0
    retries: int = 2
    max_body_bytes: int = 10 * 1024 * 1024
    extract_workers: int = 2
    redis_url: str | None = None


@dataclass
class Schedule:
    crawl_every_minutes: int = 60
    jitter_seconds: int = 120
    digest_cron: str = "0 7 * * mon"
    timezone: str = "UTC"


@dataclass
class Smtp:
    """SMTP settings: the configuration's, which kb.publish.digest.mail overrides from the
    environment and flags. The password never comes from a file: only from $KB_SMTP_PASSWORD."""

    host: str | None = None
    port: int = 587
    security: str = "starttls"
    mail_from: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


@dataclass
class Config:
    path: str
    sources: list[Source]
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    schedule: Schedule = field(default_factory=Schedule)
    smtp: Smtp = field(default_factory=Smtp)
    taxonomy: str | None = None
    subscribers_db: str | None = None
    base_url: str | None = None  # the web instance's public address (links, feeds, unsubscribe)

    def source_for_feed(self, url: str) -> Source | None:
        return next((s for s in self.sources if s.feed_url == url), None)


def resolve_config_path(name: str | Path | None) -> Path:
    """A bundled configuration's name ('default', 'demo') or a file path."""
    if name is None:
        return BUNDLED["default"]
    if str(name) in BUNDLED:
        return BUNDLED[str(name)]
    return Path(name)


def load_config(name: str | Path | None = None) -> Config:
    """Load and validate a configuration; a problem raises ConfigError naming the key."""
    path = resolve_config_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"configuration file {path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML configuration is UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return parse_config(data, path=str(path))


def parse_config(data: dict[str, Any], *, path: str = "<config>") -> Config:
    known = {"sources", "crawl", "schedule", "smtp", "taxonomy", "subscribers_db", "base_url"}
    _reject_unknown(data, known, "", path)
    raw_sources = data.get("sources") or []
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{path}: sources: must be a list")
    sources = [_source(s, i, path) for i, s in enumerate(raw_sources)]
    seen: set[str] = set()
    for i, s in enumerate(sources):
        if s.id in seen:
            raise ConfigError(f"{path}: sources[{i}].id: duplicate source id {s.id!r}")
        seen.add(s.id)
    config = Config(
        path=path,
        sources=sources,
        crawl=_section(CrawlSettings, data.get("crawl"), "crawl", path),
        schedule=_section(Schedule, data.get("schedule"), "schedule", path),
        smtp=_section(Smtp, data.get("smtp"), "smtp", path),
        taxonomy=data.get("taxonomy"),
        subscribers_db=data.get("subscribers_db"),
        base_url=_base_url(data.get("base_url"), path),
    )
    if config.smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{path}: smtp.security: must be none, starttls or ssl")
    return config


def _base_url(value: Any, path: str) -> str | None:
    if value is None:
        return None
    try:
        return check_base_url(value)
    except ConfigError as exc:
        raise ConfigError(f"{path}: base_url: {exc}") from None


def check_base_url(value: Any) -> str:
    """A base URL as links need it: http(s), a host, no path, query or fragment; no trailing slash."""
    if not is_http_url(value):
        raise ConfigError(f"not an http(s) URL: {value!r}")
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"{value!r}: give the scheme and host only, e.g. https://news.example.org")
    return f"{parts.scheme}://{parts.netloc}"


def resolve_base_url(flag: str | None, env: dict[str, str] | Any, config: Config) -> str | None:
    """The base URL `kb serve` and `kb digest` share: the flag, else $KB_BASE_URL, else the
    configuration's ``base_url``."""
    for value in (flag, env.get("KB_BASE_URL"), config.base_url):
        if value:
            return check_base_url(value)
    return None


def _reject_unknown(data: dict[str, Any], known: set[str], prefix: str, path: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: {prefix}{key}: unknown key (expected one of "
                              f"{', '.join(sorted(known))})")


# Settings that never come from a file (the SMTP password is read from the environment only).
NOT_IN_FILES = {"password"}


def _section(cls: type, data: Any, name: str, path: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {name}: must be a mapping")
    types = {f.name: f.type for f in fields(cls) if f.name not in NOT_IN_FILES}
    _reject_unknown(data, set(types), f"{name}.", path)
    values = {}
    for key, value in data.items():
        values[key] = _coerce(value, str(types[key]), f"{name}.{key}", path)
    return cls(**values)


def _coerce(value: Any, type_name: str, key: str, path: str) -> Any:
    if value is None and "None" in type_name:
        return None
    expected = type_name.replace(" | None", "")
    checks: dict[str, Any] = {"int": int, "float": (int, float), "bool": bool, "str": str}
    wanted = checks.get(expected)
    if expected in ("int", "float") and isinstance(value, bool):
        wanted = None
    if wanted is None or not isinstance(value, wanted):
        raise ConfigError(f"{path}: {key}: expected {expected}, got {value!r}")
    if expected in ("int", "float") and value < 0:
        raise ConfigError(f"{path}: {key}: must not be negative")
    return float(value) if expected == "float" else value


def _source(data: Any, index: int, path: str) -> Source:
    where = f"sources[{index}]"
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {where}: must be a mapping")
    _reject_unknown(data, {f.name for f in fields(Source)}, f"{where}.", path)
    for key in ("id", "name", "feed_url"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(f"{path}: {where}.{key}: required text is missing")
    if not SLUG.match(data["id"]):
        raise ConfigError(f"{path}: {where}.id: use lowercase letters, digits and hyphens")
    for key in ("feed_url", "homepage"):
        if data.get(key) is not None and not is_http_url(data[key]):
            raise ConfigError(f"{path}: {where}.{key}: not an http(s) URL: {data[key]!r}")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{path}: {where}.tags: must be a list of words")
    return Source(**{**data, "tags": tags})


def is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
