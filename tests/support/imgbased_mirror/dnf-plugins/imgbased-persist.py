"""imgbased's dnf plugin, mirroring src/plugin-dnf/imgbased-persist.py lines
33-78 (with src/plugin-dnf/imgbased-persist.conf): every package a
transaction installs is copied to /var/imgbased/persisted-rpms unless
excluded; when one of bootsetup_pkgs (kernel-core) is installed,
BootSetupHandler sets up boot for the running layer; erased packages'
files are removed there."""

import logging
import os
import shutil

import dnf
from imgbased.bootsetup import BootSetupHandler
from imgbased.constants import IMGBASED_PERSIST_PATH

logger = logging.getLogger("dnf.plugin")


class ImgbasedPersist(dnf.Plugin):
    name = "imgbased-persist"
    config_name = "imgbased-persist"

    def __init__(self, base, cli):
        super(ImgbasedPersist, self).__init__(base, cli)
        self.base = base
        cp = self.read_config(self.base.conf)
        self.excluded_pkgs = cp.get("main", "excluded_pkgs").split(",")
        self.bootsetup_pkgs = cp.get("main", "bootsetup_pkgs").split(",")

    def transaction(self):
        if self.base.transaction.install_set:
            if not os.path.isdir(IMGBASED_PERSIST_PATH):
                os.makedirs(IMGBASED_PERSIST_PATH)
            bootsetup = False
            for p in self.base.transaction.install_set:
                if p.name in self.bootsetup_pkgs:
                    bootsetup = True
                if p.name in self.excluded_pkgs:
                    continue
                rpm = p.localPkg()
                logger.info("Persisting: %s" % os.path.basename(rpm))
                shutil.copy2(rpm, IMGBASED_PERSIST_PATH + os.path.basename(rpm))
            if bootsetup:
                logger.info("Updating boot configuration")
                BootSetupHandler().setup()
        for p in self.base.transaction.remove_set:
            try:
                os.remove(IMGBASED_PERSIST_PATH + "%s-%s-%s.%s.rpm" % (p.name, p.v, p.r, p.a))
            except Exception:
                pass
