"""The provenance record (.persistrepo/index.json): one entry per stored package.

The format is documented in docs/store-format.md. Python 2.7 compatible.
"""

import json
import os
import re
import time

from persistrepo import fsutil, names
from persistrepo.errors import BadPackage, PersistError
from persistrepo.names import nevra  # noqa: F401 (record.nevra for its users)

FORMAT = 1
METHODS = ("dnf", "yum", "cli", "refresh")
REASONS = ("user", "dependency", "unknown")
COMMANDLINE = "@commandline"


def filename(name, version, release, arch):
    return "%s-%s-%s.%s.rpm" % (name, version, release, arch)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


MAX_TEXT = 512
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")


def clean_text(value):
    """Free text for an entry (an origin: a repo id, what --origin says) as
    the store can always read it back: control characters written as \\xNN,
    at most MAX_TEXT characters (a longer text is cut, ending in "...")."""
    if value is None:
        return None
    if isinstance(value, bytes) and not isinstance(value, type(u"")):
        value = value.decode("utf-8", "replace")
    value = u"".join(c if printable(c) else u"\\x%02x" % ord(c) for c in value)
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT - 3] + u"..."


def make_entry(info, method, origin=None, reason="unknown", persisted_at=None, module=None):
    """A provenance entry for a package read by persistrepo.store.rpmfile; module is
    the stream it is an artifact of (names.check_module), or None. This is
    the one place entries are made: the text is made readable (clean_text)
    and the entry is checked as the store's reader checks it, so whatever is
    written can be read back (ValueError otherwise)."""
    if method not in METHODS:
        raise ValueError("unknown method %r" % method)
    if reason not in REASONS:
        raise ValueError("unknown reason %r" % reason)
    if not (isinstance(persisted_at, _TEXT) and _STAMP.match(persisted_at)):
        persisted_at = None
    entry = {
        "filename": filename(info.name, info.version, info.release, info.arch),
        "name": info.name,
        "epoch": info.epoch,
        "version": info.version,
        "release": info.release,
        "arch": info.arch,
        "nevra": nevra(info.name, info.epoch, info.version, info.release, info.arch),
        "sha256": info.sha256,
        "size": info.size,
        "persisted_at": persisted_at or now(),
        "method": method,
        "origin": clean_text(origin),
        "reason": reason,
        "signed": info.key_id is not None,
        "key_id": info.key_id,
        "installonly": info.installonly,
        "module": module,
    }
    try:
        check_entry(entry)
    except ValueError as e:
        raise BadPackage("cannot record %s: %s" % (entry["nevra"], e))
    return entry


class Index(object):
    """The packages of a store by file name, plus a generation counter that the
    repodata's revision must match."""

    def __init__(self, generation=0, packages=None):
        self.generation = generation
        self.packages = packages or {}
        # By file name, (entry, its line) as parse_index read them. Entries
        # are never changed in place (a changed entry is a new dict), so an
        # entry that is still the one read is written as its line.
        self.lines = {}

    def entries(self):
        return [self.packages[k] for k in sorted(self.packages)]

    def to_bytes(self):
        """One package per line: readable, and fast (no indent keeps json's C
        encoder; an entry as read is not encoded again)."""
        lines = _SEPARATOR.join(self._line(e) for e in self.entries())
        return (_HEAD % (FORMAT, self.generation) + lines + _FOOT).encode("utf-8")

    def _line(self, entry):
        read = self.lines.get(entry["filename"])
        return read[1] if read is not None and read[0] is entry else _ENCODER.encode(entry)


_ENCODER = json.JSONEncoder(sort_keys=True)  # what json.dumps makes anew for each call
_HEAD = '{"format": %d,\n "generation": %d,\n "packages": [\n  '
_SEPARATOR = ",\n  "
_FOOT = "\n ]\n}\n"
_CANONICAL_HEAD = re.compile(  # _HEAD, its generation one that parse_index accepts
    r'\{"format": %d,\n "generation": (0|[1-9][0-9]{0,17}),\n "packages": \[\n  ' % FORMAT)
# A plain entry's line (module null) as _ENCODER writes it, its text
# printable ASCII without escapes. A line without ".." that matches is an
# entry check_entry accepts: the same rules, the cross-field ones by
# backreference. Every field is bounded and ends at a quote no field holds,
# so no line makes the match backtrack far.
_PLAIN_ENTRY = (  # compiled when first used: an index the last write vouches for never needs it
    r'\{"arch": "(?P<arch>%(arch)s)", "epoch": (?:0|(?P<epoch>[1-9][0-9]{0,8})), '
    r'"filename": "(?P<name>%(name)s)-(?P<version>%(verrel)s)-(?P<release>%(verrel)s)'
    r'\.(?P=arch)\.rpm", "installonly": (?:true|false), '
    r'"key_id": (?:null|"(?P<key_id>%(key_id)s)"), "method": "(?:%(methods)s)", '
    r'"module": null, "name": "(?P=name)", '
    r'"nevra": "(?P=name)-(?(epoch)(?P=epoch):)(?P=version)-(?P=release)\.(?P=arch)", '
    r'"origin": (?:null|%(text)s), "persisted_at": %(text)s, "reason": "(?:%(reasons)s)", '
    r'"release": "(?P=release)", "sha256": "%(sha256)s", "signed": (?(key_id)true|false), '
    r'"size": (?:0|[1-9][0-9]{0,17}), "version": "(?P=version)"\}\Z'
    % {"arch": names.BOUNDED_ARCH, "name": names.BOUNDED_NAME, "verrel": names.BOUNDED_VERREL,
       "key_id": names.KEY_ID_TEXT, "sha256": names.SHA256_TEXT,
       "methods": "|".join(METHODS), "reasons": "|".join(REASONS),
       "text": r'"[ !#-\[\]-~]{0,%d}"' % MAX_TEXT})  # printable ASCII, no quote or escape
_TEXT = (type(u""), str)
_FIELDS = {"filename": _TEXT, "name": _TEXT, "epoch": int, "version": _TEXT,
           "release": _TEXT, "arch": _TEXT, "nevra": _TEXT, "sha256": _TEXT, "size": int,
           "persisted_at": _TEXT, "method": _TEXT, "origin": _TEXT + (type(None),),
           "reason": _TEXT, "signed": bool, "key_id": _TEXT + (type(None),),
           "installonly": bool}
_FIELD_NAMES = tuple(sorted(_FIELDS))
_ABSENT = (object(),) * len(_FIELD_NAMES)  # a missing field is not a null one
_SOUND_KINDS = set()


_CONTROL = re.compile(u"[\x00-\x1f\x7f]")


def printable(text):
    """True for text without control characters (safe in a table or a log line)."""
    return not _CONTROL.search(text)


def check_entry(e):
    """Raise ValueError unless e is an entry this store could have written."""
    if not isinstance(e, dict):
        raise ValueError("an entry is not an object")
    # The types of the fields decide this check alone: a combination found
    # sound once is sound for every entry.
    kinds = tuple(map(type, map(e.get, _FIELD_NAMES, _ABSENT)))
    if kinds not in _SOUND_KINDS:
        for key, types in _FIELDS.items():
            if not isinstance(e.get(key, _ABSENT[0]), types) or \
                    (types is int and isinstance(e[key], bool)):
                raise ValueError("entry field %r is missing or of the wrong type" % key)
        _SOUND_KINDS.add(kinds)
    try:
        names.check_nevra(e["name"], e["epoch"], e["version"], e["release"], e["arch"],
                          "an entry")
    except BadPackage as err:
        raise ValueError(str(err))
    if e["filename"] != filename(e["name"], e["version"], e["release"], e["arch"]) or \
            e["nevra"] != nevra(e["name"], e["epoch"], e["version"], e["release"], e["arch"]):
        raise ValueError("entry %r: its file name or NEVRA does not match its name, version, "
                         "release and arch" % e["filename"])
    if not names.is_sha256(e["sha256"]) or e["size"] < 0:
        raise ValueError("entry %r: bad sha256 or size" % e["filename"])
    if e["method"] not in METHODS or e["reason"] not in REASONS:
        raise ValueError("entry %r: unknown method or reason" % e["filename"])
    if e["signed"] != (e["key_id"] is not None) or \
            (e["key_id"] is not None and not names.is_key_id(e["key_id"])):
        raise ValueError("entry %r: bad key id" % e["filename"])
    if e.get("module") is not None:
        names.check_module(e["module"])
    for key in ("origin", "persisted_at"):
        if e[key] is not None and (len(e[key]) > MAX_TEXT or not printable(e[key])):
            raise ValueError("entry %r: %s holds control characters" % (e["filename"], key))


def parse_index(data, vouched=False):
    """An Index from the bytes of index.json; ValueError if they are not one.
    vouched: they are the index a write made (persistrepo.store.checked),
    whose entries need no check again."""
    read = _read_lines(data, vouched)
    if read is None:
        doc = fsutil.load_json(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a format %d provenance record" % FORMAT)
        generation, entries = doc.get("generation"), doc.get("packages")
        if not names.is_whole(generation, 2 ** 63):
            raise ValueError("bad generation %r" % (generation,))
        if not isinstance(entries, list):
            raise ValueError("packages is not a list")
        lines, plain = [None] * len(entries), [False] * len(entries)
    else:
        generation, entries, lines, plain = read
    index = Index(generation)
    for e, line, checked in zip(entries, lines, plain):
        if not checked:
            check_entry(e)
        if e["filename"] in index.packages:
            raise ValueError("%s is listed twice" % e["filename"])
        index.packages[e["filename"]] = e
        if line is not None:
            index.lines[e["filename"]] = (e, line)
    return index


def _read_lines(data, vouched=False):
    """(generation, entries, their lines, whether each is a plain entry
    _PLAIN_ENTRY has checked) of a document exactly as to_bytes writes it,
    each line proven one entry (or, vouched, every entry taken as checked);
    None for any other document (then it is read whole)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None
    head = _CANONICAL_HEAD.match(text)
    if not head or not text.endswith(_FOOT):
        return None
    lines = text.split(_SEPARATOR)  # neither the head nor the foot holds it
    lines[0] = lines[0][head.end():]
    lines[-1] = lines[-1][:-len(_FOOT)]
    lines = [] if lines == [""] else lines
    if vouched:
        return int(head.group(1)), json.loads(text)["packages"], lines, [True] * len(lines)
    plain_entry = re.compile(_PLAIN_ENTRY).match
    plain = [".." not in line and plain_entry(line) is not None for line in lines]
    # Any other line must be one whole entry as _ENCODER writes it: a line
    # holding two entries, or part of one, is not. Then the document, each
    # line one entry nested at most as deep as fsutil allows, is read at once.
    for line, checked in zip(lines, plain):
        if not checked:
            try:
                entry = fsutil.load_json(line, fsutil.MAX_JSON_DEPTH - 2)
            except ValueError:
                return None
            if _ENCODER.encode(entry) != line:
                return None
    return int(head.group(1)), json.loads(text)["packages"], lines, plain


def load_index(path, checked_identity=None):
    """Read the index; a missing file is an empty store. checked_identity:
    the identity of the index a write made (persistrepo.store.checked), whose
    entries need no check again if this is still that file."""
    if not os.path.lexists(path):
        return Index()
    data, identity = fsutil.read_identified_store_file(path)
    try:
        return parse_index(data, identity == checked_identity)
    except ValueError as e:
        raise PersistError("the provenance record %s is unreadable (%s); run "
                           "'persistrepo refresh' to rebuild it from the files" % (path, e))


def salvage(path):
    """The entries of a damaged index that are still sound (for refresh)."""
    try:
        doc = fsutil.load_json(fsutil.read_store_file(path))
    except (ValueError, UnicodeDecodeError, PersistError, IOError, OSError):
        return []
    found = []
    for e in doc.get("packages", []) if isinstance(doc, dict) and \
            isinstance(doc.get("packages"), list) else []:
        try:
            check_entry(e)
        except ValueError:
            if not isinstance(e, dict) or e.get("module") is None:
                continue
            e = dict(e, module=None)  # a bad module record costs only itself
            try:
                check_entry(e)
            except ValueError:
                continue
        found.append(e)
    return found
