"""What the last write left sound: the identities (fsutil.identity) of
index.json and chunks.pack as it wrote them, in .persistrepo/checked.

Every write reads both files whole; checking each entry and chunk in them
again took a fifth of `persistrepo add` at 1,000 packages. A file whose
identity is the recorded one is the file that write made (any change to it
changes its inode, times or size), so a write does not check its contents
again. verify and refresh check everything, always. Unsynced like the pack:
the next write makes it anew, and one that is damaged, missing or not the
store's own trusts nothing.

Python 2.7 compatible.
"""

import os
import re

from persistrepo import fsutil
from persistrepo.errors import PersistError

# Raised whenever a write starts checking more in these files than the
# identities recorded under the previous value vouch for.
CHECKS = 1
KINDS = ("index", "pack")
_IDENTITY = r"[0-9]{1,30}(?:\.[0-9]{1,30}){3}"
_RECORD = re.compile(r"checks %d\n(?:index (%s)\n)?(?:pack (%s)\n)?\Z"
                     % (CHECKS, _IDENTITY, _IDENTITY))


def sound(layout):
    """{kind: identity} of the files the last write left sound; {} if it
    vouches for none."""
    try:
        found = _RECORD.match(fsutil.read_store_file(layout.checked, 4096).decode("ascii"))
    except (PersistError, IOError, OSError, UnicodeDecodeError):
        return {}
    return dict((kind, value) for kind, value in zip(KINDS, found.groups()) if value) \
        if found else {}


def record(layout, kinds):
    """Vouch for the files of kinds (KINDS) as they are now."""
    lines = ["checks %d\n" % CHECKS]
    try:
        for kind, path in (("index", layout.index), ("pack", layout.chunk_pack)):
            if kind in kinds:
                lines.append("%s %s\n" % (kind, fsutil.identity(os.lstat(path))))
        fsutil.write_many({layout.checked: "".join(lines).encode("ascii")}, layout.tmp,
                          durable=False)
    except (IOError, OSError):
        pass  # an old record vouches for files only as they were
