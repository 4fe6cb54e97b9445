"""Version order with rpm's own algorithm."""

from functools import cmp_to_key


def _evr(entry):
    return (str(entry["epoch"] or 0), entry["version"], entry["release"])


def compare(a, b):
    """rpm.labelCompare over two entries: -1, 0 or 1."""
    import rpm
    return rpm.labelCompare(_evr(a), _evr(b))


def newest_first(entries):
    return sorted(entries, key=cmp_to_key(compare), reverse=True)
