"""Errors with the exit code the CLI returns for them (defined in persistrepo(8),
docs/man/persistrepo.8.rst).

Python 2.7 compatible: the yum plugin imports this.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNSAFE = 3
EXIT_PARTIAL = 4
EXIT_UNREACHABLE = 5  # push, pull: the Pulp server cannot be reached (or TLS failed)
EXIT_DENIED = 6  # push, pull: the Pulp server refused the credentials
EXIT_CONFLICT = 7  # push, pull: another build of a package's NEVRA is already there
EXIT_SERVER = 8  # push, pull: a Pulp task failed or timed out, or an answer made no sense
EXIT_AT_RISK = 100  # status: ran fine, and there is something to act on (as dnf check-update)


def os_error_message(e):
    """An OSError (IOError on Python 2) as one line: "FILE: reason", or the
    reason alone where it names no file."""
    where = getattr(e, "filename", None)
    return "%s%s" % (where + ": " if where else "", e.strerror or e)


class PersistError(Exception):
    """An error that is reported as one line, never as a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message="", exit_code=None):
        Exception.__init__(self, message)
        if exit_code is not None:
            self.exit_code = exit_code


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
