"""Match package specs (name, name-version, NEVRA, name.arch or a glob) to entries.

Globs are for what an admin types only: a name that comes from a
transaction, a header or a file is matched literally (rpm accepts a package
named "*"). Python 2.7 compatible.
"""

from fnmatch import fnmatchcase


def _forms(e):
    n, v, r, a = e["name"], e["version"], e["release"], e["arch"]
    evr = "%s:%s-%s" % (e["epoch"], v, r)
    return (n, "%s.%s" % (n, a), "%s-%s" % (n, v), "%s-%s-%s" % (n, v, r),
            "%s-%s-%s.%s" % (n, v, r, a), "%s-%s" % (n, evr), "%s-%s.%s" % (n, evr, a),
            e["nevra"], e["filename"])


def matches(spec, entry, literal=False):
    if literal:
        return spec in _forms(entry)
    return any(fnmatchcase(form, spec) for form in _forms(entry))


def select(specs, entries, literal=False):
    """(selected entries, specs that matched nothing); literal: specs are
    data (a NEVRA from a transaction), never globs."""
    chosen, unmatched = {}, []
    for spec in specs:
        hits = [e for e in entries if matches(spec, e, literal)]
        if not hits:
            unmatched.append(spec)
        for e in hits:
            chosen[e["filename"]] = e
    return [chosen[k] for k in sorted(chosen)], unmatched
