"""Where the package's own files are, and where writable state goes.

Bundled files (configurations, taxonomy, gazetteer, templates, the sample corpus, the Datasette
site) are read through ``importlib.resources``, so an installed wheel finds them as a checkout does.
Nothing is ever written there: trained models, generated labels and caches go to the user's data
and cache folders (``$AIWATCH_DATA_DIR`` and ``$AIWATCH_CACHE_DIR`` override them).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import platformdirs

APP = "aiwatch"


def bundled(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package`` (read-only once installed)."""
    return Path(str(files(package).joinpath(*parts)))


def data_dir() -> Path:
    """The writable folder for state that outlives a run (a refitted topic model)."""
    return Path(os.environ.get("AIWATCH_DATA_DIR") or platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    """The writable folder for state that can be rebuilt (exported encoders, generated sites)."""
    return Path(os.environ.get("AIWATCH_CACHE_DIR") or platformdirs.user_cache_dir(APP))
