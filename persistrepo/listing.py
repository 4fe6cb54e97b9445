"""How stored packages are shown: the table and the stable JSON of `list`.

The JSON fields are a stable interface, documented in docs/store-format.md.
"""

import json

JSON_FIELDS = ("name", "epoch", "version", "release", "arch", "nevra", "filename", "sha256",
               "size", "persisted_at", "method", "origin", "reason", "signed", "key_id",
               "installonly")


def to_json(entries):
    return json.dumps([dict((k, e.get(k)) for k in JSON_FIELDS) for e in entries],
                      indent=2, sort_keys=True)


def table(entries):
    """A plain-text table, one package per line."""
    rows = [("PACKAGE", "REASON", "ORIGIN", "SIGNED", "PERSISTED")]
    for e in entries:
        rows.append((e["nevra"], e["reason"], e["origin"] or "-",
                     e["key_id"][-8:] if e["signed"] else "no", e["persisted_at"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
