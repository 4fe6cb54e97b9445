"""The store's single-writer lock (flock on .persistrepo/lock).

Python 2.7 compatible.
"""

import errno
import fcntl
import os
import time

from persistrepo.errors import StoreBusy

DEFAULT_TIMEOUT = 300.0


class StoreLock(object):
    """Exclusive for writers, shared for readers that need a stable view."""

    def __init__(self, path, shared=False, timeout=DEFAULT_TIMEOUT):
        self.path = path
        self.shared = shared
        self.timeout = timeout
        self._fd = None

    def __enter__(self):
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.time() >= deadline:
                os.close(self._fd)
                self._fd = None
                raise StoreBusy("the store lock %s is held by another persistrepo process; "
                                "try again when it finishes" % self.path)
            time.sleep(0.05)

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
