"""A root's rpm database: its packages, their headers and its gpg-pubkeys.
EL7's and EL8's rpmdbs are Berkeley DB; rpm opens whichever the root has.
Python 2.7 compatible.
"""

import itertools
import os

from persistrepo import names
from persistrepo.compat.headers import header_fields, header_identity
from persistrepo.compat.strings import text
from persistrepo.errors import UsageError


def rpmdb_dir(root):
    """Where root's rpm database is (%_dbpath within root)."""
    import rpm
    return os.path.join(root, text(rpm.expandMacro("%{_dbpath}")).lstrip("/"))


def rpmdb_headers(root, name=None, limit=None):
    """The headers in root's rpm database (only those of package name if
    given; at most limit). Opening a root that has none creates an empty
    one: check rpmdb_dir first."""
    ts = _rpmdb_reader(root)
    try:
        found = ts.dbMatch("name", name) if name else ts.dbMatch()
        return list(itertools.islice(found, limit))
    finally:
        found = None  # the match iterator goes before its database
        ts.closeDB()


def rpmdb_headers_named(root, names):
    """The headers in root's rpm database of the packages called names: one
    index lookup each, rather than reading an image's every header."""
    ts = _rpmdb_reader(root)
    try:
        return [h for name in sorted(set(names)) for h in ts.dbMatch("name", name)]
    finally:
        ts.closeDB()


def _rpmdb_reader(root):
    import rpm
    ts = rpm.TransactionSet(root or "/")
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    return ts


def rpmdb_packages(root):
    """[{name, epoch, version, release, arch, nevra}] of root's rpmdb, without
    gpg-pubkey entries. A root without an rpmdb is a UsageError, as for
    replay (rpm would create an empty one)."""
    dbpath = rpmdb_dir(root)
    if not os.path.exists(dbpath):
        raise UsageError("%s has no rpm database at %s; point the option at an installed or "
                         "unpacked image root" % (root, dbpath))
    found = []
    for h in rpmdb_headers(root):
        fields = header_fields(h)
        if fields[0] == "gpg-pubkey":
            continue
        p = dict(zip(("name", "epoch", "version", "release", "arch"), fields))
        p["nevra"] = names.nevra(*fields)
        found.append(p)
    return sorted(found, key=lambda p: p["nevra"])


def installed_pubkeys(root="/"):
    """[armored key] of the gpg-pubkeys imported into root's rpm database."""
    import rpm
    return [text(h[rpm.RPMTAG_DESCRIPTION]) for h in rpmdb_headers(root, "gpg-pubkey")]


def installed_identities(root, names_wanted):
    """{nevra: header_identity} of root's installed packages of these names
    (the rpmdb opened once for all of them)."""
    found = {}
    ts = _rpmdb_reader(root)
    try:
        for name in sorted(set(names_wanted)):
            for hdr in ts.dbMatch("name", name):
                identity = header_identity(hdr)
                found[identity["nevra"]] = identity
    finally:
        ts.closeDB()
    return found
