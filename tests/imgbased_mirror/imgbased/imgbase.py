"""ImageLayers and LVs, mirroring src/imgbased/imgbase.py and lvm.py.

An LV is a directory VG_DIR/LV_NAME; LVM itself is not mirrored."""

import os
import shutil
import subprocess

from imgbased import constants
from imgbased.hooks import Hooks


class LV(object):
    """lvm.py lines 171-185: lv_name is the short name, lvm_name "VG/LV";
    path is where the LV's file system is (a directory here, a device node
    on a host)."""

    def __init__(self, vg_dir, lv_name):
        self.vg_dir = vg_dir
        self.vg_name = os.path.basename(vg_dir)
        self.lv_name = lv_name

    @property
    def lvm_name(self):
        return "%s/%s" % (self.vg_name, self.lv_name)

    @property
    def path(self):
        return os.path.join(self.vg_dir, self.lv_name)


class ImageLayers(object):
    """imgbase.py lines 51-100 and 162-213."""

    hooksdir = "/usr/lib/imgbased/hooks.d/"
    mode = None

    def __init__(self, vg_dir):
        self.vg_dir = vg_dir
        self.hooks = Hooks(self)
        self.hooks.add_filesystem_emitter(self.hooksdir)  # lines 71-75
        self.hooks.create("new-layer-added", ("old-lv", "new-lv"))  # line 80
        self.registered = []

    def set_mode(self, mode):
        """Lines 97-100."""
        assert mode in constants.IMGBASED_MODES, "Invalid mode %s" % mode
        self.mode = mode

    def image_from_lvm_name(self, lvm_name):
        """Lines 170-173: "VG/LV" of this VG, to the layer's name."""
        vg_name, lv_name = lvm_name.split("/")
        assert vg_name == os.path.basename(self.vg_dir)
        return lv_name

    def lv_from_layer(self, layer):
        """Lines 162-163."""
        return LV(self.vg_dir, layer)

    def add_layer(self, previous, new, populate):
        """Lines 191-213: the snapshot (populate(path) fills the new LV),
        then "new-layer-added" with both LVs."""
        prev_lv, new_lv = self.lv_from_layer(previous), self.lv_from_layer(new)
        populate(new_lv.path)
        self.registered.append(new_lv.path)
        self.hooks.emit("new-layer-added", prev_lv, new_lv)
        return new_lv

    def reset_registered_volumes(self):
        """lvm.py line 108, LVM.reset_registered_volumes, which update.py line 72
        calls: the LVs this update created are removed."""
        for path in self.registered:
            if os.path.ismount(path):  # a layer of tests/node.py
                subprocess.check_call(["umount", path])
            shutil.rmtree(path)
        self.registered = []
