"""The topic taxonomy: each topic's slug, name, patterns and example sentences (kb/data/taxonomy.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from kb.core.resources import bundled

TAXONOMY = bundled("kb", "data", "taxonomy.yaml")


@dataclass
class Topic:
    slug: str
    name: str
    description: str
    keywords: re.Pattern[str]
    negative: re.Pattern[str] | None
    examples: list[str]


def alternation(patterns: list[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)", re.IGNORECASE)


@cache
def load_taxonomy(path: str | None = None) -> tuple[str, list[Topic]]:
    """The taxonomy file's version and topics."""
    data = yaml.safe_load(Path(path or TAXONOMY).read_text(encoding="utf-8"))
    topics = [
        Topic(slug=t["slug"], name=t.get("name", t["slug"]), description=t.get("description", ""),
              keywords=alternation(t["keywords"]),
              negative=alternation(t["negative"]) if t.get("negative") else None,
              examples=t.get("examples", []))
        for t in data["topics"]
    ]
    return str(data.get("version", 1)), topics
