"""Which enabled module stream a package dnf 4 installed belongs to (capture).

libdnf's module container (dnf.Base._moduleContainer, what
dnf.module.module_base.ModuleBase works on) knows every stream's modulemd;
a package is an artifact of a stream when its NEVRA is listed there.
"""

from persistrepo import names
from persistrepo.compat import dnfapi
from persistrepo.streams import keep_newest


def enabled_artifacts(base):
    """{"name-epoch:version-release.arch": module record} for the artifacts of
    the streams enabled in base (the newest module version listing each one);
    records that fail names.check_module are left out."""
    container = dnfapi.module_container(base)
    if container is None:
        return {}
    found = {}
    for mp in container.getModulePackages():
        if not container.isEnabled(mp):
            continue
        record = {"name": mp.getName(), "stream": mp.getStream(),
                  "version": dnfapi.module_version(mp), "context": mp.getContext(),
                  "arch": mp.getArch(), "modulemd": mp.getYaml()}
        try:
            names.check_module(record)
        except ValueError:
            continue
        keep_newest(found, record, mp.getArtifacts())
    return found
