"""The provenance record (.persistrepo/index.json): one entry per stored package.

The format is documented in docs/store-format.md. Python 2.7 compatible.
"""

import json
import os
import time

from persistrepo import fsutil
from persistrepo.errors import PersistError

FORMAT = 1
METHODS = ("dnf", "yum", "cli", "refresh")
REASONS = ("user", "dependency", "unknown")
COMMANDLINE = "@commandline"


def nevra(name, epoch, version, release, arch):
    """name-[epoch:]version-release.arch, the epoch left out when it is 0."""
    evr = "%s-%s" % (version, release)
    if epoch:
        evr = "%s:%s" % (epoch, evr)
    return "%s-%s.%s" % (name, evr, arch)


def filename(name, version, release, arch):
    return "%s-%s-%s.%s.rpm" % (name, version, release, arch)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_entry(info, method, origin=None, reason="unknown", persisted_at=None):
    """A provenance entry for a package read by persistrepo.rpmfile."""
    if method not in METHODS:
        raise ValueError("unknown method %r" % method)
    if reason not in REASONS:
        raise ValueError("unknown reason %r" % reason)
    return {
        "filename": filename(info.name, info.version, info.release, info.arch),
        "name": info.name,
        "epoch": info.epoch,
        "version": info.version,
        "release": info.release,
        "arch": info.arch,
        "nevra": nevra(info.name, info.epoch, info.version, info.release, info.arch),
        "sha256": info.sha256,
        "size": info.size,
        "persisted_at": persisted_at or now(),
        "method": method,
        "origin": origin,
        "reason": reason,
        "signed": info.key_id is not None,
        "key_id": info.key_id,
        "installonly": info.installonly,
    }


class Index(object):
    """The packages of a store by file name, plus a generation counter that the
    repodata's revision must match."""

    def __init__(self, generation=0, packages=None):
        self.generation = generation
        self.packages = packages or {}

    def entries(self):
        return [self.packages[k] for k in sorted(self.packages)]

    def to_bytes(self):
        """One package per line: readable, and fast (no indent keeps json's C encoder)."""
        lines = ",\n  ".join(json.dumps(e, sort_keys=True) for e in self.entries())
        text = '{"format": %d,\n "generation": %d,\n "packages": [\n  %s\n ]\n}\n' \
            % (FORMAT, self.generation, lines)
        return text.encode("utf-8")


def load_index(path):
    """Read the index; a missing file is an empty store."""
    if not os.path.lexists(path):
        return Index()
    fd = fsutil.open_regular(path)
    try:
        with os.fdopen(fd, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError("unknown format %r" % doc.get("format"))
        packages = dict((e["filename"], e) for e in doc["packages"])
        return Index(int(doc["generation"]), packages)
    except (ValueError, KeyError, TypeError) as e:
        raise PersistError("the provenance record %s is unreadable (%s); run "
                           "'persistrepo refresh' to rebuild it from the files" % (path, e))


def load_index_or_empty(path):
    """The index, or an empty one if it is unreadable (for refresh)."""
    try:
        return load_index(path)
    except PersistError:
        return Index()
