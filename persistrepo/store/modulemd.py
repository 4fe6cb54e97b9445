"""Module streams of the stored packages (EL8/EL9 AppStream; docs/store-format.md).

An entry's "module" record names the stream the package was installed from.
The store's repodata/modules.yaml is made from the records' checked fields
only (names.check_module), never from the captured modulemd text, so no
record can make the repository unreadable. Python 2.7 compatible.
"""

from persistrepo.streams import artifact, spec

SUMMARY = "module stream persisted by persistrepo"


def streams(entries):
    """{(name, stream, version, context, arch): [entries]} of the entries that
    carry a module record."""
    found = {}
    for e in entries:
        m = e.get("module")
        if m:
            key = (m["name"], m["stream"], m["version"], m["context"], m["arch"])
            found.setdefault(key, []).append(e)
    return found


def document(key, entries):
    """One modulemd v2 document for a stream and its stored artifacts."""
    name, stream, version, context, arch = key
    lines = ["---", "document: modulemd", "version: 2", "data:",
             '  name: "%s"' % name, '  stream: "%s"' % stream, "  version: %d" % version,
             '  context: "%s"' % context, '  arch: "%s"' % arch,
             '  summary: "%s"' % SUMMARY, '  description: "%s %s"' % (SUMMARY, spec(name, stream)),
             "  license:", '    module: ["unknown"]', "  artifacts:", "    rpms:"]
    lines.extend('    - "%s"' % a for a in sorted(
        artifact(e["name"], e["epoch"], e["version"], e["release"], e["arch"]) for e in entries))
    lines.append("...")
    return "\n".join(lines) + "\n"


def yaml(entries):
    """modules.yaml for the entries, or None when none carries a module record."""
    found = streams(entries)
    if not found:
        return None
    return "".join(document(key, found[key]) for key in sorted(found))


def label(e):
    """' [NAME:STREAM]' for an entry from a module stream, else ''."""
    return " [%s]" % spec(e["module"]["name"], e["module"]["stream"]) if e.get("module") else ""


def public(module):
    """The module record as list --json shows it (without the modulemd text)."""
    if not module:
        return None
    return dict((k, module[k]) for k in ("name", "stream", "version", "context", "arch"))
