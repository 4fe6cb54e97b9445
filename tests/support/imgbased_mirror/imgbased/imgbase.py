"""ImageLayers and LVs, mirroring src/imgbased/imgbase.py and lvm.py.

In run.py's scenarios an LV is a directory VG_DIR/LV_NAME. For the
`imgbase` command on a hosted Node (tests/support/node.py), the volume group's
metadata is the Node's node.json, in the directory IMGBASED_MIRROR_NODE
names: {"layers": {layer: image tree}} in naming order, and each layer's
LV is a block device (imgbased/lvm.py)."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile

from imgbased import constants, lvm
from imgbased.hooks import Hooks


class LV(object):
    """lvm.py lines 171-187: lv_name is the short name, lvm_name "VG/LV";
    path is the LV's device (on a hosted Node) or directory (run.py)."""

    def __init__(self, vg_dir, lv_name, device=None):
        self.vg_dir = vg_dir
        self.vg_name = os.path.basename(vg_dir)
        self.lv_name = lv_name
        self.device = device

    @property
    def lvm_name(self):
        return "%s/%s" % (self.vg_name, self.lv_name)

    @property
    def path(self):
        return self.device or os.path.join(self.vg_dir, self.lv_name)


@contextlib.contextmanager
def mounted(path):
    """utils.mounted (utils.py lines 377-420): the LV's device mounted on a
    temporary directory for the block; a directory LV (run.py) is itself."""
    if os.path.isdir(path):
        yield path
        return
    target = tempfile.mkdtemp(prefix="imgbased-mnt-")
    subprocess.check_call(["mount", path, target])
    try:
        yield target
    finally:
        subprocess.check_call(["umount", target])
        os.rmdir(target)


class ImageLayers(object):
    """imgbase.py lines 51-100 and 162-213."""

    hooksdir = "/usr/lib/imgbased/hooks.d/"
    mode = None
    boot_dir = None  # the Node's /boot (BootSetupHandler), or None: not set up

    def __init__(self, vg_dir=None):
        self.node = None  # run.py's scenarios
        if vg_dir is None:  # `imgbase` on a hosted Node
            self.node = os.environ["IMGBASED_MIRROR_NODE"]
            vg_dir = os.path.join(self.node, "onn")
            self.boot_dir = "/boot"
        self.vg_dir = vg_dir
        self.hooks = Hooks(self)
        self.hooks.add_filesystem_emitter(self.hooksdir)  # lines 71-75
        self.hooks.create("new-layer-added", ("old-lv", "new-lv"))  # line 80
        self.hooks.create("pre-layer-removed", ("lv_fullname",))  # lines 87-88
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
        return LV(self.vg_dir, layer, lvm.devices(self.node).get(layer) if self.node else None)

    def add_layer(self, previous, new, populate):
        """Lines 191-213: the snapshot (populate(path) fills the new LV),
        then "new-layer-added" with both LVs."""
        populate(self.lv_from_layer(new).path)
        prev_lv, new_lv = self.lv_from_layer(previous), self.lv_from_layer(new)
        self.registered.append(new_lv)
        self.hooks.emit("new-layer-added", prev_lv, new_lv)
        return new_lv

    # -- the Node's volume group (IMGBASED_MIRROR_NODE) -------------------

    def _state(self):
        with open(os.path.join(self.node, "node.json")) as f:
            return json.load(f)

    def _save(self, state):
        with open(os.path.join(self.node, "node.json"), "w") as f:
            json.dump(state, f)

    def layers(self):
        """naming.py lines 56-61: the layers in naming order."""
        return list(self._state()["layers"])

    def latest_layer(self):
        """Lines 400-401 (naming.last_layer)."""
        return self.layers()[-1]

    def current_layer(self):
        """Lines 403-412: the layer whose LV is mounted at / (findmnt, then
        lvs of the device)."""
        source = subprocess.check_output(["findmnt", "-n", "-o", "SOURCE", "/"],
                                         universal_newlines=True).strip()
        return lvm.lv_name_of(self.node, source)

    def base_of_layer(self, layer):
        """Lines 414-425: "NVR+1" is a layer of base "NVR"."""
        return layer.rsplit("+", 1)[0]

    def add_node_layer(self, layer, tree):
        """A new layer (add_base_with_tree, then add_layer: update.py lines
        108-128): an LV holding the extracted image tree."""
        lvm.create_volume(self.node, layer, tree)
        state = self._state()
        state["layers"][layer] = tree
        self._save(state)

    def activate(self, layer):
        """The layer's LV (its device is there in every mount namespace)."""
        assert layer in self.layers(), "No such layer: %s" % layer
        return self.lv_from_layer(layer)

    def _remove_node_layer(self, layer):
        lvm.remove_volume(self.node, layer)
        state = self._state()
        del state["layers"][layer]
        self._save(state)

    def remove_base(self, base):
        """Lines 348-378: every layer of the base goes ("pre-layer-removed",
        whose osupdater callback removes the boot entries, then the LV), then
        the base."""
        current = self.current_layer()
        for layer in [n for n in self.layers() if self.base_of_layer(n) == base]:
            assert layer != current
            self.hooks.emit("pre-layer-removed", self.lv_from_layer(layer).lvm_name)
            self._remove_node_layer(layer)

    def reset_registered_volumes(self):
        """lvm.py line 108, LVM.reset_registered_volumes, which update.py line 72
        calls: the LVs this update created are removed."""
        for lv in self.registered:
            if self.node:
                self._remove_node_layer(lv.lv_name)
            else:
                if os.path.ismount(lv.path):  # run.py's overlayfs layers
                    subprocess.check_call(["umount", lv.path])
                shutil.rmtree(lv.path)
        self.registered = []
