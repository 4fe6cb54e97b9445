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


def nevra(name, epoch, version, release, arch):
    """name-[epoch:]version-release.arch, the epoch left out when it is 0."""
    evr = "%s-%s" % (version, release)
    if epoch:
        evr = "%s:%s" % (epoch, evr)
    return "%s-%s.%s" % (name, evr, arch)


def parse_nevra(text):
    """(name, epoch or None, version, release, arch) of text in a form dnf or
    rpm prints: N-V-R.A (rpm -qa), N-E:V-R.A (dnf repoquery) or E:N-V-R.A;
    None for anything else."""
    body, dot, arch = text.rpartition(".")
    parts = body.rsplit("-", 2)
    if not dot or len(parts) != 3:
        return None
    name, version, release = parts
    epoch = None
    if ":" in name:
        epoch, _, name = name.partition(":")
    elif ":" in version:
        epoch, _, version = version.partition(":")
    if epoch is not None and not (epoch.isdigit() and len(epoch) <= 10):
        return None
    if not all(_fits(pattern, value) for pattern, value in (
            (_NAME, name), (_VERREL, version), (_VERREL, release), (_ARCH, arch))):
        return None
    return name, None if epoch is None else int(epoch), version, release, arch


_NAME_HEAD, _NAME_CHAR = r"[A-Za-z0-9_%]", r"[A-Za-z0-9.\-_+%{}]"
_VERREL_CHAR, _ARCH_CHAR = r"[A-Za-z0-9._+%{}~^]", r"[A-Za-z0-9_]"
_NAME_TEXT = _NAME_HEAD + _NAME_CHAR + "*"
_VERREL_TEXT = _VERREL_CHAR + "+"
_ARCH_TEXT = _ARCH_CHAR + "+"
_NAME = re.compile(_NAME_TEXT + r"\Z")
_VERREL = re.compile(_VERREL_TEXT + r"\Z")
_ARCH = re.compile(_ARCH_TEXT + r"\Z")
# Name, version, release and arch in one match, "/" (which none holds) between.
_NVRA = re.compile("/".join((_NAME_TEXT, _VERREL_TEXT, _VERREL_TEXT, _ARCH_TEXT)) + r"\Z")
_PACKAGE_FILE = re.compile(r"[A-Za-z0-9_%][A-Za-z0-9.\-_+%{}~^]*\.rpm\Z")
SHA256_TEXT, KEY_ID_TEXT = r"[0-9a-f]{64}", r"[0-9a-f]{16,64}"
_SHA256 = re.compile(SHA256_TEXT + r"\Z")
_SHA256_LINES = re.compile(r"(?:[0-9a-f]{64}\n)*[0-9a-f]{64}\Z")
_KEY_ID = re.compile(KEY_ID_TEXT + r"\Z")
_SCRATCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]*\Z")
_MODULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9.\-_+]*\Z")
_CONTEXT = re.compile(r"[A-Za-z0-9_.]+\Z")
MAX_LENGTH = 255
# A name, version, release and arch of at most MAX_LENGTH characters, for
# patterns that check them in place (".." is left to the caller).
BOUNDED_NAME = "%s%s{0,%d}" % (_NAME_HEAD, _NAME_CHAR, MAX_LENGTH - 1)
BOUNDED_VERREL = "%s{1,%d}" % (_VERREL_CHAR, MAX_LENGTH)
BOUNDED_ARCH = "%s{1,%d}" % (_ARCH_CHAR, MAX_LENGTH)
MAX_MODULEMD = 1 << 20
_STRING = (type(u""), str)
_WHOLE_TYPES = (int, type(2 ** 64))  # long on Python 2; bool is not among them


def is_whole(value, below):
    """True for a whole number in [0, below): an int, or the long of Python 2's
    rpm bindings and json (never a bool)."""
    return type(value) in _WHOLE_TYPES and 0 <= value < below


def _fits(pattern, value):
    return isinstance(value, _STRING) and len(value) <= MAX_LENGTH and ".." not in value \
        and bool(pattern.match(value))


def _nvra_fits(name, version, release, arch):
    """_fits of all four at once (the common case, in one pass of C code)."""
    try:
        text = "/".join((name, version, release, arch))
    except (TypeError, ValueError):  # not all text (or, on Python 2, bytes beside text)
        return False
    return max(len(name), len(version), len(release), len(arch)) <= MAX_LENGTH and \
        ".." not in text and bool(_NVRA.match(text))


def check_nevra(name, epoch, version, release, arch, what):
    """Refuse (BadPackage) a header whose NEVRA rpm itself would not build."""
    if not _nvra_fits(name, version, release, arch):  # then say which one is wrong
        for label, value, pattern in (("name", name, _NAME), ("version", version, _VERREL),
                                      ("release", release, _VERREL), ("arch", arch, _ARCH)):
            if not _fits(pattern, value):
                raise BadPackage("%s has an invalid %s %r (rpm allows letters, digits and "
                                 "'%s'); refusing it" % (what, label, value,
                                                         {"name": ".-_+%{}",
                                                          "arch": "_"}.get(label, "._+%{}~^")))
    if not is_whole(epoch, 2 ** 32):
        raise BadPackage("%s has an invalid epoch %r; refusing it" % (what, epoch))


def check_module(module):
    """Raise ValueError unless module is a module stream record
    (docs/store-format.md): name and stream like a package name, version a
    whole number, context letters, digits, "_" and ".", arch as a package's,
    modulemd printable text of at most 1 MiB."""
    if not isinstance(module, dict) or set(module) != set(MODULE_FIELDS):
        raise ValueError("a module record is not an object with %s" % ", ".join(MODULE_FIELDS))
    for key, pattern in (("name", _MODULE), ("stream", _MODULE), ("context", _CONTEXT),
                         ("arch", _ARCH)):
        if not _fits(pattern, module[key]):
            raise ValueError("a module record has an invalid %s %r" % (key, module[key]))
    version = module["version"]
    if not is_whole(version, 2 ** 64):
        raise ValueError("a module record has an invalid version %r" % (version,))
    doc = module["modulemd"]
    if not isinstance(doc, _STRING) or len(doc) > MAX_MODULEMD or \
            any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in doc):
        raise ValueError("a module record's modulemd is not printable text of at most 1 MiB")


MODULE_FIELDS = ("name", "stream", "version", "context", "arch", "modulemd")


def is_package_file(value):
    return _fits(_PACKAGE_FILE, value)


def is_sha256(value):
    return isinstance(value, _STRING) and bool(_SHA256.match(value))


def are_sha256(values):
    """True if every one of values is a sha256 (is_sha256), checked in one
    pass of C code over them all."""
    values = list(values)
    if not all(isinstance(v, _STRING) for v in values):
        return False
    lines = "\n".join(values)
    # The length proves that no value holds a newline of its own.
    return not values or len(lines) == 65 * len(values) - 1 and bool(_SHA256_LINES.match(lines))


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
