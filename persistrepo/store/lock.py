"""The store's single-writer lock (flock on .persistrepo/lock).

The lock file is root's alone (mode 0600): no other user can open it, so no
other user can hold it and make root wait. Readers that cannot open it (any
other user, or a read-only store that has no lock file yet) read without it;
they see whole states anyway, since every file is replaced by rename, and
verify re-reads until the state it saw did not change under it.

Python 2.7 compatible.
"""

import errno
import fcntl
import os
import stat
import time

from persistrepo.errors import StoreBusy, UnsafeStore

DEFAULT_TIMEOUT = 300.0
MODE = 0o600


class StoreLock(object):
    """Exclusive for writers, shared for readers that need a stable view;
    `held` tells a reader whether it got the lock."""

    def __init__(self, path, shared=False, timeout=DEFAULT_TIMEOUT):
        self.path = path
        self.shared = shared
        self.timeout = timeout
        self.held = False
        self._fd = None

    def _open(self):
        if self.shared:
            try:
                return os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as e:
                if e.errno in (errno.EACCES, errno.EPERM, errno.ENOENT):
                    return None
                raise
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, MODE)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            os.close(fd)
            raise UnsafeStore("%s is not a regular file of this user; refusing to use it as "
                              "the store lock. Remove it; the next write makes a new one"
                              % self.path)
        if stat.S_IMODE(st.st_mode) != MODE:
            os.fchmod(fd, MODE)
        return fd

    def __enter__(self):
        self._fd = self._open()
        if self._fd is None:
            return self
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
                self.held = True
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
        if self._fd is not None:
            if self.held:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None
        self.held = False
