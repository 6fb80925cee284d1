"""Matching a name a person typed to the known one: any case, and a suggestion when none matches."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kb.core.errors import KbError


class FilterError(KbError):
    """A value that names nothing known (a topic, vendor, jurisdiction or source), or a date that
    is no date."""

    exit_code = 2


def canonical(kind: str, value: str, choices: Iterable[str]) -> str:
    """``value`` as the known name it matches (any case), else a FilterError with a suggestion."""
    names = {c.lower(): c for c in choices}
    found = names.get(value.strip().lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(value.strip(), list(names.values()), n=1, cutoff=0.5) or \
        [names[k] for k in names if k.startswith(value.strip().lower())][:1]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise FilterError(f"unknown {kind} {value!r}{hint}")
