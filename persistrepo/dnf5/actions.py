"""The JSON channel of libdnf5's actions plugin (libdnf5-actions(8)).

An action with ``mode=json`` gets requests answered on its stdin for the
JSON lines it writes on its stdout. The plugin reads nothing else from that
stdout, so the channel keeps a private copy of it and points file descriptor
1 at stderr: a stray print can then never break the protocol.
Python 3.6 compatible.
"""

import json
import os
import sys

from persistrepo import fsutil
from persistrepo.errors import PersistError

# What capture needs of each package of the transaction.
PACKAGE_FIELDS = ("action", "direction", "name", "epoch", "version", "release", "arch",
                  "repo_id", "location")


class Channel(object):
    """Requests to the actions plugin that started this process."""

    def __init__(self, stdin=None, stdout_fd=1):
        self._out = os.fdopen(os.dup(stdout_fd), "w")
        os.dup2(2, stdout_fd)  # stray output goes to stderr from now on
        sys.stdout = sys.stderr
        self._in = stdin or sys.stdin

    def request(self, domain, args):
        """Send one "get" request; its "return" object, or PersistError."""
        self._out.write(json.dumps({"op": "get", "domain": domain, "args": args}) + "\n")
        self._out.flush()
        line = self._in.readline()
        if not line:
            raise PersistError("the actions plugin closed the channel (is the action "
                               "line in mode=json?)")
        try:
            reply = fsutil.load_json(line)
        except ValueError:
            raise PersistError("the actions plugin answered no JSON: %r" % line[:80])
        if not isinstance(reply, dict):
            raise PersistError("the actions plugin answered %r, not a JSON object" % line[:80])
        if reply.get("status") != "OK":
            raise PersistError("the actions plugin refused %s: %s"
                               % (domain, reply.get("message", reply)))
        return reply.get("return", {})

    def conf(self, key):
        """A value of dnf5's base configuration (a string)."""
        for item in self.request("conf", {"key": key}).get("keys_val", []):
            if item.get("key") == key:
                return item.get("value")
        raise PersistError("dnf5 has no configuration option %s" % key)

    def transaction(self):
        """The packages of the transaction: dicts with PACKAGE_FIELDS."""
        return self.request("trans_packages", {"output": list(PACKAGE_FIELDS)}).get(
            "trans_packages", [])

    def close(self):
        self._out.close()
