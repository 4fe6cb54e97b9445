"""Errors with the exit code the CLI returns for them (see docs/exit-codes.md).

Python 2.7 compatible: the yum plugin imports this.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNSAFE = 3
EXIT_PARTIAL = 4


class PersistError(Exception):
    """An error that is reported as one line, never as a traceback."""

    exit_code = EXIT_FAILED


class BadPackage(PersistError):
    """A file that is not a usable binary RPM."""


class NoMatch(PersistError):
    """A package spec that matches nothing in the store."""


class UnsafeStore(PersistError):
    """A store that is not safe to trust or to write as root."""

    exit_code = EXIT_UNSAFE


class StoreBusy(PersistError):
    """Another process held the store lock for too long."""


class UsageError(PersistError):
    exit_code = EXIT_USAGE
