"""rpm's version order (rpm.labelCompare) over store entries. Python 2.7
compatible.
"""

from functools import cmp_to_key


def _evr(entry):
    return (str(entry["epoch"] or 0), entry["version"], entry["release"])


def compare_versions(a, b):
    """rpm.labelCompare over two entries (or dicts with their epoch, version and
    release): -1, 0 or 1."""
    import rpm
    return rpm.labelCompare(_evr(a), _evr(b))


def newest_first(entries):
    return sorted(entries, key=cmp_to_key(compare_versions), reverse=True)
