"""Match package specs (name, name-version, NEVRA, name.arch or a glob) to entries.

Python 2.7 compatible.
"""

from fnmatch import fnmatchcase


def _forms(e):
    n, v, r, a = e["name"], e["version"], e["release"], e["arch"]
    evr = "%s:%s-%s" % (e["epoch"], v, r)
    return (n, "%s.%s" % (n, a), "%s-%s" % (n, v), "%s-%s-%s" % (n, v, r),
            "%s-%s-%s.%s" % (n, v, r, a), "%s-%s" % (n, evr), "%s-%s.%s" % (n, evr, a),
            e["nevra"], e["filename"])


def matches(spec, entry):
    return any(fnmatchcase(form, spec) for form in _forms(entry))


def select(specs, entries):
    """(selected entries, specs that matched nothing)."""
    chosen, unmatched = {}, []
    for spec in specs:
        hits = [e for e in entries if matches(spec, e)]
        if not hits:
            unmatched.append(spec)
        for e in hits:
            chosen[e["filename"]] = e
    return [chosen[k] for k in sorted(chosen)], unmatched
