"""Public keys of signed packages, exported from an rpmdb's gpg-pubkey entries."""

from persistrepo import compat, pgp


def find_key(armored_keys, key_id):
    """The first key block that holds the (sub)key key_id, or None."""
    for armored in armored_keys:
        if pgp.covers(armored, key_id):
            return armored
    return None


def keep_signing_keys(store, installroot="/"):
    """Copy into the store the key of every signed package it lacks a key for;
    return the key ids still missing (the rpmdb does not have them either)."""
    kept = set(store.key_files())
    wanted = set(e["key_id"] for e in store.entries() if e["signed"]) - kept
    if not wanted:
        return []
    available = compat.installed_pubkeys(installroot)
    missing = []
    for key_id in sorted(wanted):
        armored = find_key(available, key_id)
        if armored is None:
            missing.append(key_id)
        else:
            store.add_key(key_id, armored.encode("utf-8"))
    return missing
