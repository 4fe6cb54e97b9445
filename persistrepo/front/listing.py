"""How persistrepo, `dnf persist` and `yum persist` show things: the package
table, the stable JSON of `list` and `verify`.

The JSON fields are a stable interface, documented in docs/store-format.md.
Python 2.7 compatible.
"""

import json
import os
import sys

from persistrepo.store.modulemd import label, public

JSON_FIELDS = ("name", "epoch", "version", "release", "arch", "nevra", "filename", "sha256",
               "size", "persisted_at", "method", "origin", "reason", "signed", "key_id",
               "installonly", "module")
VERIFY_FORMAT = 1
_HEAD = ("PACKAGE", "REASON", "ORIGIN", "SIGNED", "PERSISTED")
_SHRINKABLE = (2, 4, 1)  # ORIGIN, PERSISTED, REASON give way first; never PACKAGE
_MIN = 5


def to_json(entries):
    return json.dumps([dict((k, public(e.get(k)) if k == "module" else e.get(k))
                            for k in JSON_FIELDS) for e in entries], indent=2, sort_keys=True)


def terminal_width(stream=None):
    """COLUMNS if set, else the width of the terminal stream writes to, else
    None (a pipe or a file: no limit)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns  # novm
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _cut(text, width):
    return text if len(text) <= width else text[:max(1, width - 1)] + "~"


def table(entries, width=None):
    """A plain-text table, one package per line, at most width columns wide
    where the package names allow (they are never cut): other columns
    shrink, then go."""
    rows = [_HEAD] + [(e["nevra"], e["reason"], (e["origin"] or "-") + label(e),
                       e["key_id"][-8:] if e["signed"] else "no", e["persisted_at"])
                      for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    shown = list(range(len(_HEAD)))

    def excess():
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1) - width
    if width:
        for col in _SHRINKABLE:
            if excess() <= 0:
                break
            widths[col] = max(_MIN, widths[col] - excess())
        # Still too wide: columns go, in the same order, then SIGNED.
        for col in _SHRINKABLE + (3,):
            if excess() <= 0:
                break
            shown.remove(col)
    return "\n".join("  ".join(_cut(r[i], widths[i]).ljust(widths[i]) for i in shown).rstrip()
                     for r in rows)


def verify_json(store_root, entries, problems, signatures):
    """The stable document of `verify --json` (docs/store-format.md)."""
    by_file = dict((e["filename"], e["nevra"]) for e in entries)
    return json.dumps({
        "format": VERIFY_FORMAT,
        "store": store_root,
        "checked": {"packages": len(entries), "signatures": signatures},
        "ok": not problems,
        "problems": [{"kind": p.kind, "subject": p.subject, "package": by_file.get(p.subject),
                      "message": p.message} for p in problems],
    }, indent=2, sort_keys=True)
