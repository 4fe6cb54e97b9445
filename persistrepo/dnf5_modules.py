"""Which enabled module stream a package dnf5 installed belongs to (capture).

libdnf5 keeps each module's state in ROOT/<system_state_dir>/modules.toml
([modules.NAME] with state = "Enabled" and enabled_stream) and the repos'
module metadata where it downloaded them: <cachedir>/<repo id>-<hash>/,
the file the cached repomd.xml names as its "modules" record. A package is
an artifact of a stream when its NEVRA is listed in the stream's modulemd.
The metadata are read with a parser of the few modulemd v2 fields a record
needs (name, stream, version, context, arch, artifacts/rpms), never through
symlinks and never beyond MAX_YAML bytes; whatever it does not understand
gives no record. Python 3.6 compatible.
"""

import os
import re

from persistrepo import compat, dnf5_state, fsutil, names

MAX_YAML = 64 << 20
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


def read_yaml(path):
    """The text of a (compressed) modules.yaml, or None if it is no regular
    file, not UTF-8, larger than MAX_YAML or cannot be decompressed."""
    try:
        with os.fdopen(fsutil.open_regular(path), "rb") as f:
            data = compat.read_compressed(f, os.path.splitext(path)[1], MAX_YAML + 1)
        if data is None or len(data) > MAX_YAML:
            return None
        return data.decode("utf-8")
    except Exception:  # a damaged stream raises its decompressor's own error
        return None


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


def relevant(text, wanted):
    """Only the YAML documents of text that mention one of the wanted
    artifacts: a repo's module metadata may be tens of MiB, and capture
    parses only the records its packages need (each artifact found by a
    plain substring search, in C)."""
    spans = set()
    for art in wanted:
        at = text.find(art)
        while at >= 0:
            start = text.rfind("\n---", 0, at)
            end = text.find("\n...", at)
            spans.add((start + 1 if start >= 0 else 0, end + 4 if end >= 0 else len(text)))
            at = text.find(art, at + len(art)) if end < 0 else text.find(art, end)
    return "\n".join(text[s:e] for s, e in sorted(spans))


def enabled_artifacts(installroot, cachedir, state_dir, notes=None, wanted=None):
    """{"name-epoch:version-release.arch": module record} for the artifacts
    of the streams enabled in installroot (the newest module version listing
    each one), like dnf_modules.enabled_artifacts for dnf 4; with wanted
    (a set of artifacts), only for those. A metadata file that cannot be
    read (larger than MAX_YAML, damaged) is said in notes."""
    toml = os.path.join(installroot or "/", state_dir.lstrip("/"), "modules.toml")
    streams = enabled_streams(toml)
    found = {}
    if not streams:
        return found
    for path in metadata_files(cachedir):
        text = read_yaml(path)
        if text is None:
            if notes is not None:
                notes.append("the module metadata %s is unusable (no regular file, damaged, "
                             "or larger than %d MiB); no module stream is recorded from it"
                             % (path, MAX_YAML >> 20))
            continue
        if wanted is not None:
            text = relevant(text, wanted)
        for record, artifacts in records(text, streams):
            for art in artifacts:
                old = found.get(art)
                if old is None or old["version"] < record["version"]:
                    found[art] = record
    return found
