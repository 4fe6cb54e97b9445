"""The dnf plugin's capture, in a process started before rpm runs.

Capturing after the transaction took a tenth of a 50-package `dnf
install`, and what it did first (loading the store's modules and
createrepo_c, reading each file's header, making its repodata chunks)
needs nothing of the transaction's outcome. So the plugin starts this
process once dnf has resolved a transaction: it loads its modules while
dnf downloads, with rpm and createrepo_c state of its own (loading
createrepo_c re-reads rpm's configuration, which dnf's process must not
do before rpm runs). Before rpm runs, the plugin names the files the
transaction installs, and the process reads them ahead
(persistrepo.store.read_ahead) while rpm works, on another core. Once the
transaction is done, the plugin hands it capture()'s arguments and takes
its Outcome. Where the process cannot answer, the plugin captures in its
own process, as it always could.

Messages are JSON lines: the plugin writes {"read": [path, ...]}, then
{"capture": {...}}; the process answers the second with one line.
"""

import json
import os
import subprocess
import sys

from persistrepo import config
from persistrepo.capture import capture as capture_mod

# The answer: the lines of one transaction's outcome; a longer one is not read.
ANSWER_LIMIT = 64 << 20


class CaptureProcess(object):
    """The plugin's end: start() the process, read() files ahead, then
    capture() (or close())."""

    def __init__(self, child):
        self._child = child

    @classmethod
    def start(cls, names):
        """The process, for a transaction that installs names; None if it
        cannot run: without createrepo_c, or while rpm replaces persistrepo
        itself (the process would load its modules meanwhile)."""
        import importlib.util
        if set(names) & set(capture_mod.OWN_PACKAGES) or \
                importlib.util.find_spec("createrepo_c") is None:
            return None
        import persistrepo
        top = os.path.dirname(os.path.dirname(os.path.abspath(persistrepo.__file__)))
        env = dict(os.environ)
        # This very persistrepo, wherever dnf found it.
        env["PYTHONPATH"] = os.pathsep.join([top] + [p for p in [env.get("PYTHONPATH")] if p])
        try:
            with open(os.devnull, "wb") as null:
                return cls(subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=null, cwd="/", env=env, close_fds=True))
        except (OSError, ValueError):
            return None

    def read(self, paths):
        """Have paths read ahead while rpm works (before it runs)."""
        self._send({"read": list(paths)})

    def capture(self, settings, installroot, installed, erased, method, fix):
        """capture_mod.capture()'s Outcome, from the process; None if it
        gave none (the plugin then captures itself)."""
        if not self._send({"capture": {
                "settings": vars(settings), "installroot": installroot,
                "installed": [vars(p) for p in installed],
                "erased": [vars(e) for e in erased], "method": method, "fix": fix}}):
            return None
        try:
            self._child.stdin.close()
            answer = self._child.stdout.read(ANSWER_LIMIT)
            if self._child.wait() != 0:
                return None
            return _outcome(json.loads(answer.decode("utf-8")))
        except (OSError, IOError, ValueError, TypeError, KeyError):
            return None
        finally:
            self.close()

    def close(self):
        """End the process, if it still runs (it has no more to do)."""
        for f in (self._child.stdin, self._child.stdout):
            try:
                f.close()
            except (OSError, IOError):
                pass
        if self._child.poll() is None:
            self._child.kill()
            self._child.wait()

    def _send(self, message):
        try:
            self._child.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self._child.stdin.flush()
            return True
        except (OSError, IOError, ValueError):  # it ended: the plugin does the work
            return False


def _outcome(fields):
    out = capture_mod.Outcome()
    out.persisted = [str(v) for v in fields["persisted"]]
    out.dropped = [str(v) for v in fields["dropped"]]
    out.skipped = [(str(n), str(why)) for n, why in fields["skipped"]]
    out.failed = [(str(n), str(why)) for n, why in fields["failed"]]
    out.notes = [str(v) for v in fields["notes"]]
    out.fixes = dict((str(k), str(v)) for k, v in fields["fixes"].items())
    return out


def main():
    """The process: load, read ahead, capture, answer (on what was its
    stdout: what the capture's own calls may print goes nowhere)."""
    answer = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    import createrepo_c  # noqa: F401 (loaded now, while dnf downloads)

    from persistrepo.store import read_ahead, store  # noqa: F401
    ahead = read_ahead.ReadAhead()
    for line in iter(sys.stdin.readline, ""):
        message = json.loads(line)
        if "read" in message:
            for path in message["read"]:
                try:
                    ahead.read(path)
                except Exception:  # the store reads it itself, and says what is wrong
                    pass
            continue
        request = message["capture"]
        out = capture_mod.capture(
            config.Settings(**request["settings"]), request["installroot"],
            [capture_mod.Installed(**p) for p in request["installed"]],
            [capture_mod.Erased(**e) for e in request["erased"]],
            request["method"], request["fix"], ahead)
        answer.write(json.dumps(vars(out)) + "\n")
        answer.close()
        os._exit(0)  # the plugin waits for this exit: no interpreter teardown


if __name__ == "__main__":
    main()
