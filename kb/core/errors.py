"""Named exceptions raised by the library; the CLI turns them into one-line errors.

Code that acts on an error catches its type, and a parent process reads the exit code: never the
message text.
"""

EXIT_ERROR = 1
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the lock; the same command may succeed later


class KbError(Exception):
    """Base class for errors a user can act on."""

    exit_code = EXIT_ERROR


class ConfigError(KbError):
    """The configuration file is missing, unreadable or invalid."""


class DatabaseError(KbError):
    """The database cannot be opened or written."""


class SchemaTooOld(DatabaseError):
    """A reader opened a database whose schema predates this release (`kb init` upgrades it)."""


class SchemaTooNew(DatabaseError):
    """The database was written by a later release; this one neither reads nor downgrades it."""


class LockedError(KbError):
    """Another run holds the lock."""

    exit_code = EXIT_LOCKED
