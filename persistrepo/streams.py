"""Module-stream notions that capture's readers (dnf 4, dnf5) and the store's
modulemd writer share. Python 2.7 compatible.
"""


def artifact(name, epoch, version, release, arch):
    """A package as a modulemd artifact: name-epoch:version-release.arch, the
    epoch written even when it is 0."""
    return "%s-%d:%s-%s.%s" % (name, int(epoch or 0), version, release, arch)


def keep_newest(found, record, artifacts):
    """Give each of artifacts the module record in found ({artifact: record})
    unless a newer module version already lists it."""
    for art in artifacts:
        old = found.get(art)
        if old is None or old["version"] < record["version"]:
            found[art] = record


def spec(name, stream):
    """NAME:STREAM, as dnf module commands take a stream."""
    return "%s:%s" % (name, stream)
