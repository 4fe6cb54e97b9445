"""The failures of push and pull, each with its own exit code
(persistrepo(8), "EXIT STATUS")."""

from persistrepo.errors import (EXIT_CONFLICT, EXIT_DENIED, EXIT_SERVER, EXIT_UNREACHABLE,
                                PersistError)


class Unreachable(PersistError):
    """No connection, or TLS verification failed."""

    exit_code = EXIT_UNREACHABLE


class Unauthorized(PersistError):
    exit_code = EXIT_DENIED


class Conflict(PersistError):
    """Another build of the same NEVRA is on the other side."""

    exit_code = EXIT_CONFLICT


class Failed(PersistError):
    """A Pulp task failed or timed out, or the server answered nonsense."""

    exit_code = EXIT_SERVER
