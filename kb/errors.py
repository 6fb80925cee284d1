"""Named exceptions raised by the library; the CLI turns them into one-line errors."""


class KbError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(KbError):
    """The configuration file is missing, unreadable or invalid."""


class DatabaseError(KbError):
    """The database cannot be opened or written."""


class LockedError(KbError):
    """Another run holds the lock."""
