"""Where things live inside a store directory (the format is in docs/store-format.md).

Python 2.7 compatible.
"""

import os

from persistrepo import names

STATE_DIR = ".persistrepo"
FOREIGN = "neither a package file nor a directory of the store (docs/store-format.md)"


class Layout(object):
    """Paths of one store."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.state = os.path.join(self.root, STATE_DIR)
        self.repodata = os.path.join(self.root, "repodata")
        self.kept_repodata = self.repodata + ".before-persistrepo"  # refresh --adopt's
        self.index = os.path.join(self.state, "index.json")
        self.journal = os.path.join(self.state, "journal.json")
        self.failures = os.path.join(self.state, "failures.json")
        self.lock = os.path.join(self.state, "lock")
        self.chunks = os.path.join(self.state, "chunks")
        self.chunk_pack = os.path.join(self.state, "chunks.pack")
        self.checked = os.path.join(self.state, "checked")
        self.keys = os.path.join(self.state, "keys")
        self.incoming = os.path.join(self.state, "incoming")
        self.tmp = os.path.join(self.state, "tmp")
        self.quarantine = os.path.join(self.state, "quarantine")
        self.removed = os.path.join(self.state, "removed")

    def dirs(self):
        """Every directory of the store, parents first."""
        return [self.root, self.state, self.repodata, self.chunks, self.keys,
                self.incoming, self.tmp]

    def entries(self):
        """The top directory's names, less lost+found where the store is a
        file system of its own: mkfs made it, and fsck needs it there."""
        found = os.listdir(self.root)
        if "lost+found" in found and os.path.ismount(self.root):  # novm: posix has it in 2.7
            found.remove("lost+found")
        return sorted(found)

    def foreign(self):
        """What the top directory holds that the format defines neither as a
        package file (a name ending in .rpm, checked on its own) nor as a
        directory of the store: verify names it, refresh sets it aside."""
        own = set(os.path.basename(p) for p in (self.state, self.repodata, self.kept_repodata))
        return [os.path.join(self.root, n) for n in self.entries()
                if n not in own and not n.endswith(".rpm")]

    # Each path below is built only from a name proven to be one component
    # of the kind the store writes (persistrepo.names): it stays in the store.

    def package(self, filename, source="the provenance record"):
        names.require(names.is_package_file(filename), filename, "package file", source)
        return os.path.join(self.root, filename)

    def chunk(self, sha256, source="the provenance record"):
        names.require(names.is_sha256(sha256), sha256, "checksum", source)
        return os.path.join(self.chunks, sha256 + ".xml")

    def chunks_of(self, sums, source="the provenance record"):
        """chunk() of each of sums, their names checked together."""
        if not names.are_sha256(sums):
            return [self.chunk(sha256, source) for sha256 in sums]  # refuses the bad one
        prefix = os.path.join(self.chunks, "")
        return [prefix + sha256 + ".xml" for sha256 in sums]

    def key(self, key_id, source="the store"):
        names.require(names.is_key_id(key_id), key_id, "key id", source)
        return os.path.join(self.keys, key_id + ".asc")

    def scratch(self, directory, name, source):
        """A file directly in tmp/ or incoming/."""
        names.require(names.is_scratch(name), name, "scratch file", source)
        return os.path.join(directory, name)
