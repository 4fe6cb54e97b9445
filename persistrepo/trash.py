"""Package files the store dropped, kept for `persistrepo restore`.

A removal (remove, prune, an upgrade's older version, an erase) moves the
file to .persistrepo/removed/STAMP/, next to its provenance entry, outside
the repository. The newest KEEP removals are kept, none older than MAX_AGE
(docs/store-format.md). Python 2.7 compatible.
"""

import calendar
import json
import os
import re
import time

from persistrepo import fsutil, record
from persistrepo.errors import PersistError

KEEP = 10
MAX_AGE = 30 * 24 * 3600
_SLOT = re.compile(r"(\d{8}T\d{6}Z)-(\d{3})\Z")
_ENTRY = "entry.json"


def keep(layout, name, entry):
    """Move the package file name (no longer in the index) aside with entry."""
    path = layout.package(name, "the journal")
    if not fsutil.is_regular(path):
        return
    fsutil.ensure_dir(layout.removed)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        slot = os.path.join(layout.removed, "%s-%03d" % (stamp, n))
        try:
            os.mkdir(slot, fsutil.DIR_MODE)
            break
        except OSError:
            if not os.path.lexists(slot):
                raise
    os.chmod(slot, fsutil.DIR_MODE)
    if entry is not None:
        fsutil.write_atomic(os.path.join(slot, _ENTRY), json.dumps(entry).encode("utf-8"),
                            layout.tmp)
    os.rename(path, os.path.join(slot, name))


def _slots(layout):
    """Slot directories, newest first."""
    if not os.path.isdir(layout.removed) or os.path.islink(layout.removed):
        return []
    found = [n for n in os.listdir(layout.removed) if _SLOT.match(n)]
    return [os.path.join(layout.removed, n) for n in sorted(found, reverse=True)
            if os.path.isdir(os.path.join(layout.removed, n))
            and not os.path.islink(os.path.join(layout.removed, n))]


def kept(layout):
    """[(entry, slot)] of the usable kept files, newest first."""
    found = []
    for slot in _slots(layout):
        try:
            entry = json.loads(fsutil.read_store_file(os.path.join(slot, _ENTRY))
                               .decode("utf-8"))
            record.check_entry(entry)
        except (ValueError, UnicodeDecodeError, PersistError, IOError, OSError):
            continue
        if fsutil.is_regular(os.path.join(slot, entry["filename"])):
            found.append((entry, slot))
    return found


def take(layout, slot, entry):
    """Move a kept file into tmp for a commit; return its staged path."""
    staged = layout.scratch(layout.tmp, "restore-%s.rpm" % os.path.basename(slot), "restore")
    os.rename(os.path.join(slot, entry["filename"]), staged)
    return staged


def forget(layout, slot):
    """Remove one slot and what is left in it."""
    fsutil.clear_dir(slot)
    os.rmdir(slot)


def expire(layout, now=None):
    """Keep the newest KEEP slots, none older than MAX_AGE."""
    now = time.time() if now is None else now
    for n, slot in enumerate(_slots(layout)):
        stamp = _SLOT.match(os.path.basename(slot)).group(1)
        age = now - _utc_seconds(stamp)
        if n >= KEEP or age > MAX_AGE:
            forget(layout, slot)


def _utc_seconds(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
