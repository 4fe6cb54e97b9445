"""Package files the store dropped, kept for `persistrepo restore`.

A removal (remove, prune, an upgrade's older version, an erase) moves the
file to .persistrepo/removed/STAMP/, next to its provenance entry, outside
the repository. The newest KEEP removals are kept, none older than MAX_AGE
(docs/store-format.md). Python 2.7 compatible.
"""

import json
import os
import re
import time

from persistrepo import fsutil
from persistrepo.errors import PersistError, UnsafeStore
from persistrepo.store import record

KEEP = 10
MAX_AGE = 30 * 24 * 3600
_SLOT = re.compile(r"(\d{8}T\d{6}Z)-(\d{3})\Z")
_ENTRY = "entry.json"


def check(layout):
    """Refuse (UnsafeStore) a removed/ that is no real directory: a write
    would have nowhere to keep what it removes."""
    if os.path.lexists(layout.removed) and (os.path.islink(layout.removed) or
                                            not os.path.isdir(layout.removed)):
        raise UnsafeStore("%s is not a directory of the store (a symlink or a file), so "
                          "removed packages could not be kept; run 'persistrepo refresh', "
                          "which sets it aside" % layout.removed)


def keep(layout, name, entry):
    """Move the package file name (no longer in the index, or replaced) aside
    with entry (None: a file without provenance); returns the slot, or None
    if there was no regular file to keep."""
    path = layout.package(name, "the journal")
    if not fsutil.is_regular(path):
        return None
    check(layout)
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
    return slot


def is_slot(name):
    """A slot name this module gives: STAMP-NNN with a real UTC time."""
    m = _SLOT.match(name)
    if not m:
        return False
    try:
        _utc_seconds(m.group(1))
    except ValueError:
        return False
    return True


def _slots(layout, now=None):
    """Slot directories, newest first. A slot dated in the future (made
    while the clock was ahead) counts as older than every other one: its
    date says nothing about when it was made."""
    if not os.path.isdir(layout.removed) or os.path.islink(layout.removed):
        return []
    now = time.time() if now is None else now
    found = [n for n in os.listdir(layout.removed) if is_slot(n)
             and os.path.isdir(os.path.join(layout.removed, n))
             and not os.path.islink(os.path.join(layout.removed, n))]

    def newness(n):
        return (_utc_seconds(n[:16]) <= now + 60, n)
    return [os.path.join(layout.removed, n) for n in sorted(found, key=newness, reverse=True)]


def strays(layout):
    """What removed/ holds that is no slot (verify names it, refresh sets it aside)."""
    if not os.path.isdir(layout.removed) or os.path.islink(layout.removed):
        return []
    return [os.path.join(layout.removed, n) for n in sorted(os.listdir(layout.removed))
            if not is_slot(n) or os.path.islink(os.path.join(layout.removed, n))
            or not os.path.isdir(os.path.join(layout.removed, n))
            or _entry_of(os.path.join(layout.removed, n)) is False]


def kept(layout):
    """[(entry, slot)] of the usable kept files, newest first."""
    found = []
    for slot in _slots(layout):
        entry = _entry_of(slot)
        if entry and fsutil.is_regular(os.path.join(slot, entry["filename"])):
            found.append((entry, slot))
    return found


def _entry_of(slot):
    """The slot's checked entry; None where it has none (a file kept without
    provenance); False where entry.json is unusable."""
    path = os.path.join(slot, _ENTRY)
    if not os.path.lexists(path):
        return None
    try:
        entry = fsutil.load_json(fsutil.read_store_file(path, 1 << 20))
        record.check_entry(entry)
    except (ValueError, PersistError, IOError, OSError):
        return False
    return entry


def take(layout, slot, entry):
    """Move a kept file into tmp for a commit; return its staged path."""
    staged = layout.scratch(layout.tmp, "restore-%s.rpm" % os.path.basename(slot), "restore")
    os.rename(os.path.join(slot, entry["filename"]), staged)
    return staged


def forget(layout, slot):
    """Remove one slot and what is left in it."""
    fsutil.clear_dir(slot)
    os.rmdir(slot)


def expire(layout, now=None, fresh=()):
    """Keep the newest KEEP slots, none older than MAX_AGE, and always the
    fresh ones (made by this commit: its message promises restore)."""
    now = time.time() if now is None else now
    for n, slot in enumerate(_slots(layout, now)):
        if slot in fresh:
            continue
        stamp = _SLOT.match(os.path.basename(slot)).group(1)
        age = now - _utc_seconds(stamp)
        if n >= KEEP or age > MAX_AGE:
            forget(layout, slot)


def _utc_seconds(stamp):
    import calendar  # only here: every write of the store imports this module
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
