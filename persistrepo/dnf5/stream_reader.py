"""Which enabled module stream a package dnf5 installed belongs to (capture).

libdnf5 keeps each module's state in ROOT/<system_state_dir>/modules.toml
([modules.NAME] with state = "Enabled" and enabled_stream) and the repos'
module metadata where it downloaded them: <cachedir>/<repo id>-<hash>/,
the file the cached repomd.xml names as its "modules" record. A package is
an artifact of a stream when its NEVRA is listed in the stream's modulemd.
The metadata are read with a parser of the few modulemd v2 fields a record
needs (name, stream, version, context, arch, artifacts/rpms), never through
symlinks; whatever it does not understand gives no record.

A repo's module metadata may be tens of MiB and capture runs inside dnf5's
transaction, so it is bounded: the file is decompressed as a stream, in
blocks, and only the documents that name an enabled module and one of the
captured packages are kept and parsed (a document is at most
MAX_DOCUMENT bytes; memory is a block plus one document). Reading stops
beyond MAX_YAML bytes or past the transaction's deadline (MAX_SECONDS for
all repos together); that repo then gives no record and the reason goes to
notes. Python 3.6 compatible.
"""

import os
import re
import time

from persistrepo import fsutil, names
from persistrepo.compat import decompress
from persistrepo.dnf5 import state as dnf5_state
from persistrepo.streams import keep_newest

MAX_YAML = 64 << 20
MAX_SECONDS = 1.0
MAX_DOCUMENT = 4 * names.MAX_MODULEMD  # bytes; a modulemd record is at most 1 MiB of text
_BLOCK = 1 << 20
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_-]*):(?:[ \t]+(.*))?$")
_FIELDS = ("name", "stream", "version", "context", "arch")
_VERSION = re.compile(r"[0-9]{1,20}$")


def enabled_streams(path):
    """{module name: stream} of the modules modules.toml has enabled; {} if
    it is missing or unreadable (or there is no tomllib)."""
    modules = dnf5_state.load_toml(path).get("modules")
    found = {}
    for name, state in (modules.items() if isinstance(modules, dict) else ()):
        if isinstance(state, dict) and state.get("state") == "Enabled" \
                and isinstance(state.get("enabled_stream"), str):
            found[name] = state["enabled_stream"]
    return found


def metadata_files(cachedir):
    """The module metadata files of the repos in dnf5's cache."""
    import createrepo_c as cr
    try:
        repos = sorted(os.listdir(cachedir))
    except OSError:
        return []
    found = []
    for d in repos:
        repomd = os.path.join(cachedir, d, "repodata", "repomd.xml")
        if not fsutil.is_regular(repomd):
            continue
        try:
            records = cr.Repomd(repomd).records
        except Exception:  # createrepo_c raises several types for bad XML
            continue
        for r in records:
            directory, _, name = (r.location_href or "").partition("/")
            if r.type == "modules" and directory == "repodata" and names.is_scratch(name):
                found.append(os.path.join(cachedir, d, "repodata", name))
    return found


class Unusable(Exception):
    """Why a repo's module metadata gives no record."""


def _boundaries(buf, pos, eof):
    """(offset, kind, end) of each complete "---" or "..." line of buf from
    pos on (an offset is that of the newline before the line); the last
    line waits for more unless eof."""
    while True:
        found = [at for at in (buf.find(b"\n---", pos), buf.find(b"\n...", pos)) if at >= 0]
        if not found:
            return
        at = min(found)
        end = buf.find(b"\n", at + 4)
        if end < 0:
            if not eof:
                return
            end = len(buf)
        if not buf[at + 4:end].strip():
            yield at, buf[at + 1:at + 4], end
        pos = end


def candidate_documents(stream, keep, deadline):
    """The YAML documents (bytes, from their "---" line to their "..." line
    or the next "---") of a decompressed stream for which keep(buf, start,
    end) is true, read in blocks; Unusable past MAX_YAML bytes or the
    deadline. A document longer than MAX_DOCUMENT is skipped unread."""
    buf, pos, start, too_long, total = b"\n", 0, None, False, 0
    while True:
        block = stream.read(_BLOCK)
        total += len(block)
        if total > MAX_YAML:
            raise Unusable("larger than %d MiB" % (MAX_YAML >> 20))
        if time.monotonic() > deadline:  # novm
            raise Unusable("not read within %g s, capture's bound for module metadata"
                           % MAX_SECONDS)
        eof = not block
        buf += block
        for at, kind, end in _boundaries(buf, pos, eof):
            if start is not None and not too_long and keep(buf, start, at + 1):
                yield buf[start:at + 1] + (buf[at + 1:end + 1] if kind == b"..." else b"")
            start, too_long = (at + 1, False) if kind == b"---" else (None, False)
            pos = end
        if eof:
            if start is not None and not too_long and keep(buf, start, len(buf)):
                yield buf[start:]
            return
        # Keep the open document (or only the unfinished line): the next
        # boundary search starts at the last newline.
        pos = max(pos, buf.rfind(b"\n", pos))
        cut = start if start is not None else pos
        if start is not None and len(buf) - start > MAX_DOCUMENT:
            too_long, cut = True, pos
        buf, pos = buf[cut:], pos - cut
        if start is not None:
            start = max(start - cut, 0)
        if len(buf) - pos > MAX_DOCUMENT:  # a line that long is no boundary
            buf, pos = buf[-1:], 0
            start = 0 if start is not None else None


def _scalar(value):
    """A YAML scalar written plain, single- or double-quoted (without
    escapes), or None."""
    value = value.strip()
    if value[:1] == '"':
        end = value.find('"', 1)
        if end < 0 or "\\" in value[:end] or value[end + 1:].strip()[:1] not in ("", "#"):
            return None
        return value[1:end]
    if value[:1] == "'":
        m = re.match(r"'((?:[^']|'')*)'\s*(#.*)?$", value)
        return m.group(1).replace("''", "'") if m else None
    value = value.split(" #", 1)[0].strip()
    if not value or value[0] in "[]{}&*!|>%@`,#":
        return None
    return value


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _rpms(lines, i, indent, rest):
    """The items of `rpms:` (a block or a flow sequence) at lines[i]."""
    if rest:
        rest = rest.strip()
        if not (rest.startswith("[") and rest.endswith("]")):
            return []
        return [_scalar(item) for item in rest[1:-1].split(",") if item.strip()]
    items, level = [], None
    for j in range(i + 1, len(lines)):
        stripped = lines[j].strip()
        if not stripped or stripped.startswith("#"):
            continue
        here = _indent(lines[j])
        level = here if level is None else level
        if here < max(level, indent):
            break
        if here == level:
            if not stripped.startswith("- "):
                break
            items.append(_scalar(stripped[2:]))
    return items


def parse(lines):
    """(fields, artifacts) of one modulemd v2 document's lines, or None."""
    top = {}
    data = []
    in_data = False
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _indent(line) == 0:
            m = _KEY.match(line.rstrip())
            if not m:
                return None
            top[m.group(1)] = _scalar(m.group(2) or "")
            in_data = m.group(1) == "data" and not m.group(2)
        elif in_data:
            data.append(line.rstrip())
    if top.get("document") != "modulemd" or top.get("version") != "2" or not data:
        return None
    level = _indent(data[0])
    fields, artifacts = {}, []
    for i, line in enumerate(data):
        m = _KEY.match(line[level:]) if _indent(line) == level else None
        if not m:
            continue
        if m.group(1) in _FIELDS:
            fields[m.group(1)] = _scalar(m.group(2) or "")
        elif m.group(1) == "artifacts":
            for j in range(i + 1, len(data)):
                inner = _indent(data[j])
                if inner <= level:
                    break
                k = _KEY.match(data[j][inner:])
                if k and k.group(1) == "rpms":
                    artifacts = _rpms(data, j, inner, k.group(2))
                    break
    return fields, [a for a in artifacts if a]


def documents(text):
    """The lines of each YAML document of text, from its "---" to its "..."
    (where there is one)."""
    doc = []
    for line in text.splitlines():
        if line.rstrip() == "---":
            if doc:
                yield doc
            doc = [line]
        elif line.rstrip() == "...":
            if doc:
                yield doc + [line]
            doc = []
        elif doc:
            doc.append(line)
    if doc:
        yield doc


def records(text, streams):
    """(module record, artifacts) of each document of a modules.yaml text
    that is a stream in streams ({name: stream}) and makes a valid record."""
    for lines in documents(text):
        parsed = parse(lines[1:-1] if lines[-1].rstrip() == "..." else lines[1:])
        if parsed is None:
            continue
        fields, artifacts = parsed
        if not all(fields.get(k) for k in _FIELDS) or not _VERSION.match(fields["version"]) \
                or streams.get(fields["name"]) != fields["stream"]:
            continue
        record = dict(fields, version=int(fields["version"]),
                      modulemd="\n".join(lines) + "\n")
        try:
            names.check_module(record)
        except ValueError:
            continue
        yield record, artifacts


def _keeper(streams, wanted):
    """keep() for candidate_documents: a document that mentions an enabled
    module and (with wanted) one of the wanted artifacts, found by substring
    searches in C; the parser then decides."""
    modules = [n.encode("utf-8") for n in streams]
    artifacts = None if wanted is None else [a.encode("utf-8") for a in wanted]

    def keep(buf, start, end):
        return any(buf.find(m, start, end) >= 0 for m in modules) and \
            (artifacts is None or any(buf.find(a, start, end) >= 0 for a in artifacts))
    return keep


def read_records(path, streams, wanted=None, deadline=None):
    """(module record, artifacts) of the documents of one repo's metadata
    that could give a record (see _keeper); Unusable if the file cannot be
    read in full within the bounds."""
    deadline = time.monotonic() + MAX_SECONDS if deadline is None else deadline  # novm
    found = []
    try:
        with os.fdopen(fsutil.open_regular(path), "rb") as f:
            with decompress.decompressing(f, os.path.splitext(path)[1]) as stream:
                if stream is None:
                    raise Unusable("no zstd to decompress it")
                for doc in candidate_documents(stream, _keeper(streams, wanted), deadline):
                    try:
                        found.extend(records(doc.decode("utf-8"), streams))
                    except UnicodeDecodeError:
                        continue
    except Unusable:
        raise
    except Exception as e:  # a damaged stream raises its decompressor's own error
        raise Unusable("unreadable: %s" % (str(e) or e.__class__.__name__))
    return found


def enabled_artifacts(installroot, cachedir, state_dir, notes=None, wanted=None,
                      deadline=None):
    """{"name-epoch:version-release.arch": module record} for the artifacts
    of the streams enabled in installroot (the newest module version listing
    each one), like persistrepo.capture.stream_reader.enabled_artifacts for
    dnf 4; with wanted (a set of artifacts), only for those. All repos' metadata are read by
    deadline (time.monotonic(); default MAX_SECONDS from now); a file that
    cannot be read within the bounds gives no record, and why is said in notes."""
    toml = os.path.join(installroot or "/", state_dir.lstrip("/"), "modules.toml")
    streams = enabled_streams(toml)
    found = {}
    if not streams:
        return found
    deadline = time.monotonic() + MAX_SECONDS if deadline is None else deadline  # novm
    for path in metadata_files(cachedir):
        try:
            recs = read_records(path, streams, wanted, deadline)
        except Unusable as e:
            if notes is not None:
                notes.append("the module metadata %s is %s; no module stream is recorded "
                             "from it" % (path, e))
            continue
        for record, artifacts in recs:
            keep_newest(found, record, artifacts)
    return found
