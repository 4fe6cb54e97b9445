"""The provenance manifest that travels beside the packages: every entry of
the store's provenance record (reason, origin, method, signer key id, module
stream, when persisted) and the store's public keys.

It is made only from the store's state, so the same store always gives the
same bytes: a push that changes nothing finds the same manifest on the server.
It is not the export manifest (persistrepo.export.manifest), which says what
an export installs and how; this one carries the record itself, to be taken
back into a store entry for entry.
"""

import json

from persistrepo import fsutil, names, pgp
from persistrepo.store import record

FORMAT = "persistrepo-fleet-manifest"
VERSION = 1
FILENAME = "manifest.json"
MAX_SIZE = 64 * 1024 * 1024


def build(entries, keys):
    """The manifest's bytes for the store's entries and {key_id: armored}."""
    doc = {"format": FORMAT, "version": VERSION,
           "packages": sorted(entries, key=lambda e: e["filename"]),
           "keys": dict(keys)}
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8")


def parse(data, source):
    """(entries, {key_id: armored}) from a manifest's bytes, each checked as
    the store checks its own record; ValueError naming source otherwise."""
    if len(data) > MAX_SIZE:
        raise ValueError("%s is larger than %d bytes" % (source, MAX_SIZE))
    try:
        doc = fsutil.load_json(data)  # bounded in depth, as every store file
    except ValueError as e:
        raise ValueError("%s is not a JSON document (%s)" % (source, e))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or \
            doc.get("version") != VERSION:
        raise ValueError("%s is not a version %d %s" % (source, VERSION, FORMAT))
    entries, keys = doc.get("packages"), doc.get("keys")
    if not isinstance(entries, list) or not isinstance(keys, dict):
        raise ValueError("%s: packages is not a list or keys is not an object" % source)
    seen = set()
    for e in entries:
        try:
            record.check_entry(e)
        except ValueError as err:
            raise ValueError("%s: %s" % (source, err))
        if e["filename"] in seen:
            raise ValueError("%s lists %s twice" % (source, e["filename"]))
        seen.add(e["filename"])
    for key_id, armored in keys.items():
        try:
            if not names.is_key_id(key_id) or not pgp.covers(armored, key_id):
                raise ValueError("it is not the key %s" % key_id)
        except (pgp.BadKey, ValueError, TypeError, AttributeError) as err:
            raise ValueError("%s: key %r: %s" % (source, key_id, err))
    return entries, keys
