"""Which enabled module stream a package dnf 4 installed belongs to (capture).

libdnf's module container (dnf.Base._moduleContainer, what
dnf.module.module_base.ModuleBase works on) knows every stream's modulemd;
a package is an artifact of a stream when its NEVRA is listed there.
"""

from persistrepo import compat, names


def enabled_artifacts(base):
    """{"name-epoch:version-release.arch": module record} for the artifacts of
    the streams enabled in base (the newest module version listing each one);
    records that fail names.check_module are left out."""
    container = compat.module_container(base)
    if container is None:
        return {}
    found = {}
    for mp in container.getModulePackages():
        if not container.isEnabled(mp):
            continue
        record = {"name": mp.getName(), "stream": mp.getStream(),
                  "version": compat.module_version(mp), "context": mp.getContext(),
                  "arch": mp.getArch(), "modulemd": mp.getYaml()}
        try:
            names.check_module(record)
        except ValueError:
            continue
        for art in mp.getArtifacts():
            old = found.get(art)
            if old is None or old["version"] < record["version"]:
                found[art] = record
    return found


def key(pkg):
    """A hawkey package as a modulemd artifact."""
    return "%s-%d:%s-%s.%s" % (pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch)
