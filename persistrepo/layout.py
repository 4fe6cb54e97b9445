"""Where things live inside a store directory (the format is in docs/store-format.md).

Python 2.7 compatible.
"""

import os

STATE_DIR = ".persistrepo"


class Layout(object):
    """Paths of one store."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.state = os.path.join(self.root, STATE_DIR)
        self.repodata = os.path.join(self.root, "repodata")
        self.index = os.path.join(self.state, "index.json")
        self.journal = os.path.join(self.state, "journal.json")
        self.failures = os.path.join(self.state, "failures.json")
        self.lock = os.path.join(self.state, "lock")
        self.chunks = os.path.join(self.state, "chunks")
        self.keys = os.path.join(self.state, "keys")
        self.incoming = os.path.join(self.state, "incoming")
        self.tmp = os.path.join(self.state, "tmp")

    def dirs(self):
        """Every directory of the store, parents first."""
        return [self.root, self.state, self.repodata, self.chunks, self.keys,
                self.incoming, self.tmp]

    def package(self, filename):
        return os.path.join(self.root, filename)

    def chunk(self, sha256):
        return os.path.join(self.chunks, sha256 + ".xml")
