"""imgbased's own persistence, mirroring src/imgbased/plugins/rpmpersistence.py
lines 41-124: on "os-upgraded" in update mode, the RPMs imgbased-persist
copied to /var/imgbased/persisted-rpms that the host has installed are
installed into the new layer, failures only logged (lines 88-98); files of
packages the host lacks are deleted (lines 100-114). imgbased runs
`systemd-nspawn -D NEWROOT yum install -y --noplugins FILES` (lines 89-123);
the mirror runs `dnf --installroot NEWROOT install -y --noplugins FILES`
(no systemd-nspawn here; the machine-id swap and the product check are not
mirrored)."""

import glob
import logging
import os
import subprocess

from imgbased import constants
from imgbased.imgbase import mounted

log = logging.getLogger(__package__)


def pre_init(app):
    """Lines 41-43."""
    app.imgbase.hooks.create("rpms-persisted", ("previous-lv_fullname", "new-lv_fullname"))


def init(app):
    """Lines 46-47."""
    app.imgbase.hooks.connect("os-upgraded", on_os_upgraded)


def on_os_upgraded(imgbase, previous_lv_name, new_lv_name):
    """Lines 50-81 (the bind mount of /var, rbind, is the shared one here)."""
    if imgbase.mode != constants.IMGBASED_MODE_UPDATE:
        return
    new_lv = imgbase.lv_from_layer(imgbase.image_from_lvm_name(new_lv_name))
    rpms = glob.glob(constants.IMGBASED_PERSIST_PATH + "/*.rpm")
    rpms = [r for r in rpms if _installed_on_host(r) or os.remove(r)]
    if not rpms:
        return
    log.info("Reinstalling %d persisted RPMs: %s", len(rpms), " ".join(sorted(rpms)))
    try:
        with mounted(new_lv.path) as new_root:
            subprocess.check_output(["dnf", "--installroot", new_root, "install", "-y",
                                     "--noplugins"] + rpms, stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError as e:
        log.info("Failed to reinstall persisted RPMs!")
        log.info("Result: " + e.output.decode("utf-8"))


def _installed_on_host(rpm_file):
    """check_if_rpm_installed, lines 127-165."""
    try:
        nvr = subprocess.check_output(["rpm", "-qp", "--queryformat",
                                       "%{NAME}-%{VERSION}-%{RELEASE}", rpm_file],
                                      stderr=subprocess.DEVNULL, universal_newlines=True)
        subprocess.check_output(["rpm", "-q", nvr], stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError:
        return False
    return True
