"""Strings as text: rpm 4.14's bindings under Python 3.6 give header strings
and macro expansions as bytes, as createrepo_c may give its XML. Python 2.7
compatible.
"""


def text(value):
    """A header or createrepo_c string as text (bytes are decoded as UTF-8)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
