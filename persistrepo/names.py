"""What may name a package, and the store's own files, before a path is built.

Package names, versions and releases follow rpmbuild's own rules
(rpmCharCheck in rpm's build/parsePreamble: ASCII letters and digits plus
".-_+%{}" in a name, which starts with a letter, digit, "_" or "%"; plus
"._+%{}~^" in a version or release; never ".."); an arch is letters, digits
and "_". A header that breaks them is refused, so no file name made from a
header can hold "/", "..", a newline or XML markup. Python 2.7 compatible.
"""

import re

from persistrepo.errors import BadPackage, UnsafeStore

_NAME = re.compile(r"[A-Za-z0-9_%][A-Za-z0-9.\-_+%{}]*\Z")
_VERREL = re.compile(r"[A-Za-z0-9._+%{}~^]+\Z")
_ARCH = re.compile(r"[A-Za-z0-9_]+\Z")
_PACKAGE_FILE = re.compile(r"[A-Za-z0-9_%][A-Za-z0-9.\-_+%{}~^]*\.rpm\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_KEY_ID = re.compile(r"[0-9a-f]{16,64}\Z")
_SCRATCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]*\Z")
MAX_LENGTH = 255
_STRING = (type(u""), str)


def _fits(pattern, value):
    return isinstance(value, _STRING) and len(value) <= MAX_LENGTH and ".." not in value \
        and bool(pattern.match(value))


def check_nevra(name, epoch, version, release, arch, what):
    """Refuse (BadPackage) a header whose NEVRA rpm itself would not build."""
    for label, value, pattern in (("name", name, _NAME), ("version", version, _VERREL),
                                  ("release", release, _VERREL), ("arch", arch, _ARCH)):
        if not _fits(pattern, value):
            raise BadPackage("%s has an invalid %s %r (rpm allows letters, digits and "
                             "'%s'); refusing it" % (what, label, value,
                                                     {"name": ".-_+%{}",
                                                      "arch": "_"}.get(label, "._+%{}~^")))
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2 ** 32:
        raise BadPackage("%s has an invalid epoch %r; refusing it" % (what, epoch))


def is_package_file(value):
    return _fits(_PACKAGE_FILE, value)


def is_sha256(value):
    return isinstance(value, _STRING) and bool(_SHA256.match(value))


def is_key_id(value):
    return isinstance(value, _STRING) and bool(_KEY_ID.match(value))


def is_scratch(value):
    return _fits(_SCRATCH, value)


def is_chunk_file(value):
    return value.endswith(".xml") and is_sha256(value[:-4])


def is_key_file(value):
    return value.endswith(".asc") and is_key_id(value[:-4])


def require(ok, value, what, source):
    """Refuse (UnsafeStore) a name from the store's own files that is not
    what the store writes there."""
    if not ok:
        raise UnsafeStore("%s names %s %r, which the store never writes; refusing to act on "
                          "it. Run 'persistrepo verify', then 'persistrepo refresh'"
                          % (source, what, value))
    return value
