"""BootSetupHandler, mirroring src/imgbased/bootsetup.py lines 14-105, with
the boot loader (bootloader.py, grubby) as files under the Node's /boot:
loader/entries/LAYER-KVER.conf per boot entry and `default` naming the layer
that boots next. dracut (mkinitrd) is not mirrored."""

import glob
import os
import shutil
import subprocess

import rpm
from imgbased import lvm


def boot_entries(boot="/boot"):
    """{entry file name: its kernel path} (BootConfiguration.list)."""
    found = {}
    for path in sorted(glob.glob(os.path.join(boot, "loader/entries/*.conf"))):
        with open(path) as f:
            lines = dict(line.split(None, 1) for line in f.read().splitlines() if " " in line)
        found[os.path.basename(path)] = lines.get("linux", "").strip()
    return found


def set_default(layer, boot="/boot"):
    """bootloader.BootConfiguration.set_default (grubby --set-default)."""
    with open(os.path.join(boot, "default"), "w") as f:
        f.write(layer + "\n")


def remove_entries(layer, boot="/boot"):
    """grubby --remove-kernel of the layer's entries (bootloader.py
    remove_entry, which osupdater's remove_boot calls, lines 1060-1065);
    when the default goes, grub falls back to the newest remaining entry."""
    for path in glob.glob(os.path.join(boot, "loader/entries", layer + "-*.conf")):
        os.unlink(path)
    default = os.path.join(boot, "default")
    if os.path.exists(default) and open(default).read().strip() == layer:
        left = sorted(n.rsplit("-", 1)[0] for n in boot_entries(boot))
        set_default(left[-1] if left else "", boot)


def _makedirs(path):
    """os.makedirs(path, exist_ok=True), also under Python 2.7: on EL7
    imgbased is a Python 2 package, and persistrepo's trigger (EL7's 2.7)
    imports this module."""
    if not os.path.isdir(path):
        os.makedirs(path)


class BootSetupHandler(object):
    """Lines 14-20: the layer is the LV mounted at root (LVM.LV.try_find,
    through findmnt)."""

    def __init__(self, root="/", mkconfig=False, mkinitrd=False):
        self._root = root
        self._mkinitrd = mkinitrd
        source = subprocess.check_output(["findmnt", "-n", "-o", "SOURCE", "--target", root],
                                         universal_newlines=True).strip()
        node = os.environ.get("IMGBASED_MIRROR_NODE")
        self._layer = lvm.lv_name_of(node, source) if node else source.split("/")[-1]

    def _get_kernel_files(self):
        """Lines 22-42: the /boot files of every package of the root's rpmdb
        (/usr/share/rpm) that provides "kernel"."""
        rpm.addMacro("_dbpath", os.path.join(self._root, "usr/share/rpm"))
        try:
            ts = rpm.TransactionSet()
            ret = {}
            for h in ts.dbMatch("providename", "kernel"):
                files = [os.path.join(self._root, f.lstrip("/")) for f in h[rpm.RPMTAG_FILENAMES]
                         if f.startswith("/boot")]
                files = [f for f in files if os.path.exists(f)]
                if files:
                    ret[h[rpm.RPMTAG_NEVRA]] = files
            ts.closeDB()
        finally:
            rpm.delMacro("_dbpath")
        if not ret:
            raise RuntimeError("kfiles were not found")
        return ret

    def setup(self):
        """Lines 89-105: each kernel without an entry gets its files copied
        to /boot/LAYER and an entry (_install_kernel, lines 57-71); then the
        layer becomes the default."""
        installed = set(boot_entries().values())
        for _, kfiles in sorted(self._get_kernel_files().items()):
            vmlinuz = [f for f in kfiles if "/vmlinuz" in f][0]
            kver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
            boot_path = "/%s/%s" % (self._layer, os.path.basename(vmlinuz))
            if boot_path in installed:
                continue
            _makedirs(os.path.join("/boot", self._layer))
            for f in kfiles:
                shutil.copy(f, os.path.join("/boot", self._layer))
            _makedirs("/boot/loader/entries")
            with open("/boot/loader/entries/%s-%s.conf" % (self._layer, kver), "w") as f:
                f.write("title %s\nlinux %s\n" % (self._layer, boot_path))
        set_default(self._layer)
