"""Public keys of signed packages, exported from an rpmdb's gpg-pubkey entries."""

import rpm


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def installed_pubkeys(installroot="/"):
    """{short key id (8 hex): armored key} of the root's imported gpg-pubkeys."""
    ts = rpm.TransactionSet(installroot or "/")
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    return dict((_text(h[rpm.RPMTAG_VERSION]).lower(), _text(h[rpm.RPMTAG_DESCRIPTION]))
                for h in ts.dbMatch("name", "gpg-pubkey"))


def keep_signing_keys(store, installroot="/"):
    """Copy into the store the key of every signed package it lacks a key for;
    return the key ids still missing (the rpmdb does not have them either)."""
    kept = set(store.key_files())
    wanted = set(e["key_id"] for e in store.entries() if e["signed"]) - kept
    if not wanted:
        return []
    available = installed_pubkeys(installroot)
    missing = []
    for key_id in sorted(wanted):
        armored = available.get(key_id[-8:])
        if armored is None:
            missing.append(key_id)
        else:
            store.add_key(key_id, armored.encode("utf-8"))
    return missing
