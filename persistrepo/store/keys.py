"""The public keys a store keeps for its signed packages, in .persistrepo/keys/
(docs/store-format.md): replay and export trust them, verify checks with them.

Python 2.7 compatible.
"""

import os

from persistrepo import fsutil, names, pgp
from persistrepo.compat import rpmdb
from persistrepo.errors import PersistError


def signers_of(entries):
    """The key ids of the signed entries."""
    return set(e["key_id"] for e in entries if e["signed"])


def key_files(layout):
    """{key_id: path} of the public keys kept for signed packages (only
    regular files with a key id name; verify reports anything else)."""
    if not os.path.isdir(layout.keys):
        return {}
    found = {}
    for name in sorted(os.listdir(layout.keys)):
        key_id = name[:-4]
        if names.is_key_file(name):
            path = layout.key(key_id)
            if fsutil.is_regular(path):
                found[key_id] = path
    return found


def kept_keys(layout, warnings):
    """{key_id: armored public key} of the kept keys that can be trusted;
    each one that cannot be read is said in warnings."""
    found = {}
    for key_id, path in key_files(layout).items():
        try:
            found[key_id] = fsutil.read_store_file(path).decode("ascii", "replace")
        except PersistError as e:
            warnings.append(str(e))
    return found


def add_key(store, key_id, armored):
    """Keep in store the ASCII-armored public key that verifies packages
    signed by key_id."""
    with store.writing(create=True):
        path = store.layout.key(key_id.lower(), "the caller")
        if not os.path.lexists(path):
            fsutil.write_atomic(path, armored, store.layout.tmp)


def keep_signing_keys(store, installroot="/", signers=None):
    """Keep the key of every signed package store lacks a key for, from
    installroot's gpg-pubkeys; return the key ids still missing (the rpmdb
    does not have them either). signers: the key ids of the stored
    packages, as an add just left them (AddResult.signers); read from the
    index if not given."""
    if signers is None:
        signers = signers_of(store.entries())
    wanted = set(signers) - set(key_files(store.layout))
    if not wanted:
        return []
    available = rpmdb.installed_pubkeys(installroot)
    missing = []
    for key_id in sorted(wanted):
        armored = pgp.find_key(available, key_id)
        if armored is None:
            missing.append(key_id)
        else:
            add_key(store, key_id, armored.encode("utf-8"))
    return missing
