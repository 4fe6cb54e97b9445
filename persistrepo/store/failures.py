"""Capture failures, recorded so that `status` shows them until they are fixed.

They live outside the store (<installroot>/var/lib/persistrepo/failures.json),
so a full or broken store can still be reported. Python 2.7 compatible.
"""

import json
import os
import time

from persistrepo import fsutil
from persistrepo.errors import PersistError

RELATIVE_PATH = "var/lib/persistrepo/failures.json"


def path_for(installroot="/"):
    return os.path.join(installroot or "/", RELATIVE_PATH)


_FIELDS = ("nevra", "error", "when", "method", "store", "fix")


def _usable(item):
    return isinstance(item, dict) and all(isinstance(item.get(k), (type(u""), str))
                                          for k in _FIELDS)


def load(path):
    """Recorded failures (a list of dicts), oldest first; [] if none. A
    record that is not one this module writes (a symlink, another shape)
    counts as none: it is replaced by the next failure."""
    try:
        items = fsutil.load_json(fsutil.read_store_file(path))
    except (IOError, OSError, ValueError, PersistError):
        return []
    return [i for i in items if _usable(i)] if isinstance(items, list) else []


def _save(path, items):
    fsutil.ensure_dir(os.path.dirname(path))
    fsutil.write_atomic(path, (json.dumps(items, indent=1, sort_keys=True) + "\n")
                        .encode("utf-8"), os.path.dirname(path))


def record(path, failed, method, store):
    """Add failures, given as [(nevra, message, fix command)]. Never raises:
    returns False if even this could not be written."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    new = dict((nevra, {"nevra": nevra, "error": msg, "when": when, "method": method,
                        "store": store, "fix": fix})
               for nevra, msg, fix in failed)
    items = [i for i in load(path) if i.get("nevra") not in new] + \
        [new[k] for k in sorted(new)]
    try:
        _save(path, items)
        return True
    except (IOError, OSError, PersistError):
        return False


def forget(path, nevras):
    """Drop the failures of packages that are now persisted or gone."""
    nevras = set(nevras)
    items = load(path)
    keep = [i for i in items if i.get("nevra") not in nevras]
    if len(keep) != len(items):
        try:
            _save(path, keep)
        except (IOError, OSError, PersistError):
            pass
