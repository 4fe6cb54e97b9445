"""createrepo_c in a helper process of the command's own.

Loading createrepo_c's bindings (some sixty shared libraries) took a quarter
of `persistrepo add` at 1,000 packages, before the store could be written.
The command forks the helper first (helping), which loads them while the
command loads rpm and reads the store, and hands it repodata's calls into
createrepo_c (run) as plain data. A package that crashes createrepo_c then
ends the helper, not the write.

Without a helper, run makes the call in-process: in the dnf and yum plugins
(dnf and yum may hold threads, which fork would not copy), and on Python 2
(EL7), whose json cannot carry a path that is not UTF-8.

Python 2.7 compatible.
"""

import contextlib
import errno
import json
import os
import signal

from persistrepo import errors
from persistrepo.compat import stdlib


class Crashed(Exception):
    """createrepo_c crashed the helper during a call (how); later calls run
    in-process."""


_helper = None
_GONE = object()  # the helper's answer when it ended without crashing


@contextlib.contextmanager
def helping(wanted):
    """Calls made within go to a helper, when wanted and where a process can
    be forked; else they run in-process."""
    global _helper
    try:
        _helper = _Helper() if wanted and not stdlib.PY2 else None
    except OSError:
        _helper = None
    try:
        yield
    finally:
        if _helper is not None:
            _helper.stop()
        _helper = None


def run(function, *args):
    """function(*args), a function of persistrepo.store.repodata whose
    arguments and result are plain data (JSON's): in the helper while one
    runs; Crashed if createrepo_c crashes it meanwhile. A helper that ended
    otherwise (it found no createrepo_c to load, say) leaves the call to this
    process, which then fails as it would have without one."""
    if _helper is not None and not _helper.ended:
        result = _helper.call(function.__name__, args)
        if result is not _GONE:
            return result
    return function(*args)


class _Helper(object):

    def __init__(self):
        fds = []
        try:
            fds.extend(os.pipe())
            fds.extend(os.pipe())
            self.pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        requests_read, self._requests, self._replies, replies_write = fds
        if self.pid == 0:
            # Only os._exit leaves: a normal exit would flush the command's
            # buffered output a second time, and run its atexit handlers.
            status = 1
            try:
                os.close(self._requests)
                os.close(self._replies)
                _serve(os.fdopen(requests_read, "rb"), os.fdopen(replies_write, "wb"))
                status = 0
            finally:
                os._exit(status)
        os.close(requests_read)
        os.close(replies_write)
        self._reader = os.fdopen(self._replies, "rb")
        self.ended = False

    def call(self, name, args):
        try:
            _write_all(self._requests, json.dumps([name, list(args)]).encode("utf-8") + b"\n")
            line = self._reader.readline()
        except (IOError, OSError) as e:
            if e.errno != errno.EPIPE:
                raise
            line = b""
        if not line.endswith(b"\n"):
            self.ended = True
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            if os.WIFSIGNALED(status):
                raise Crashed("createrepo_c was killed by signal %d" % os.WTERMSIG(status))
            return _GONE
        kind, value = json.loads(line.decode("utf-8"))
        if kind == "ok":
            return value
        if kind == "os":
            raise OSError(*value)
        raise getattr(errors, kind)(*value)

    def stop(self):
        """End the helper: between calls it holds nothing of the store's, and
        it may still be loading createrepo_c. Its exit is not waited for
        (the command ends next, and its teardown took as long as a write's
        fsyncs)."""
        os.close(self._requests)
        self._reader.close()
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _serve(requests, replies):
    """The helper: load createrepo_c, then answer each request line with one
    reply line, until the command closes its end."""
    # The command decides what an interrupt means; its exit ends this. Its
    # output is the command's alone: a reader waiting for the end of it must
    # not wait for this process too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    import createrepo_c  # noqa: F401 (loaded now, while the command reads the store)

    from persistrepo.store import repodata
    for line in iter(requests.readline, b""):
        name, args = json.loads(line.decode("utf-8"))
        try:
            reply = ["ok", getattr(repodata, name)(*args)]
        except errors.PersistError as e:
            kind = type(e).__name__ if getattr(errors, type(e).__name__, None) is type(e) \
                else "PersistError"
            reply = [kind, [str(e), e.exit_code]]
        except (IOError, OSError) as e:
            reply = ["os", [e.errno, e.strerror] + ([e.filename] if e.filename else [])]
        except Exception as e:  # a PersistError in the command, as one line
            reply = ["PersistError",
                     ["createrepo_c's helper process failed: %s: %s"
                      % (type(e).__name__, e), errors.EXIT_FAILED]]
        replies.write(json.dumps(reply).encode("utf-8") + b"\n")
        replies.flush()
