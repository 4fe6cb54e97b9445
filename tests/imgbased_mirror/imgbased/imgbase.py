"""ImageLayers and LVs, mirroring src/imgbased/imgbase.py and lvm.py.

An LV is a directory VG_DIR/LV_NAME; LVM itself is not mirrored. For the
`imgbase` command (tests/node.py), the volume group's metadata is the
simulated Node's node.json, in the directory IMGBASED_MIRROR_NODE names:
{"layers": {layer: image tree}} in naming order; a layer is an overlayfs
mount at VG_DIR/LAYER, its changes in overlay/LAYER."""

import json
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
        return LV(self.vg_dir, layer)

    def add_layer(self, previous, new, populate):
        """Lines 191-213: the snapshot (populate(path) fills the new LV),
        then "new-layer-added" with both LVs."""
        prev_lv, new_lv = self.lv_from_layer(previous), self.lv_from_layer(new)
        populate(new_lv.path)
        self.registered.append(new_lv.path)
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
        """Lines 403-412: the layer whose LV is mounted at / (the Node mounts
        a running layer with its "VG/LV" name as the overlay's source)."""
        source = subprocess.check_output(["findmnt", "-n", "-o", "SOURCE", "/"],
                                         universal_newlines=True).strip()
        return self.image_from_lvm_name(source)

    def base_of_layer(self, layer):
        """Lines 414-425: "NVR+1" is a layer of base "NVR"."""
        return layer.rsplit("+", 1)[0]

    @staticmethod
    def overlay_options(node, layer, tree):
        """The layer as an overlayfs over its image tree and the host's root
        (the rest of the OS, which tests/node_host.py binds at NODE/.host)."""
        o = os.path.join(node, "overlay", layer)
        return "lowerdir=%s:%s/.host,upperdir=%s/upper,workdir=%s/work" % (
            tree, node, o, o)

    def add_node_layer(self, layer, tree):
        """A new layer (add_base_with_tree, then add_layer: update.py lines
        108-128) over the extracted image tree."""
        for d in ("upper", "work"):
            os.makedirs(os.path.join(self.node, "overlay", layer, d))
        state = self._state()
        state["layers"][layer] = tree
        self._save(state)
        self.activate(layer)

    def activate(self, layer):
        """The layer's "LV" is there (an LV's device node is, in every mount
        namespace; the overlayfs mount standing in for it is only where it
        was made, and a scriptlet of rpm's unshare plugin has its own)."""
        lv = self.lv_from_layer(layer)
        if not os.path.ismount(lv.path):
            os.makedirs(lv.path, exist_ok=True)
            subprocess.check_call(["mount", "-t", "overlay", lv.lvm_name, "-o",
                                   self.overlay_options(self.node, layer,
                                                        self._state()["layers"][layer]),
                                   lv.path])
        return lv

    def remove_base(self, base):
        """Lines 348-378: every layer of the base goes ("pre-layer-removed",
        whose osupdater callback removes the boot entries, then the LV), then
        the base."""
        state = self._state()
        current = self.current_layer()
        for layer in [n for n in state["layers"] if self.base_of_layer(n) == base]:
            assert layer != current
            self.hooks.emit("pre-layer-removed", self.lv_from_layer(layer).lvm_name)
            path = self.lv_from_layer(layer).path
            if os.path.ismount(path):
                subprocess.check_call(["umount", path])
            os.rmdir(path)
            shutil.rmtree(os.path.join(self.node, "overlay", layer))
            del state["layers"][layer]
        self._save(state)

    def reset_registered_volumes(self):
        """lvm.py line 108, LVM.reset_registered_volumes, which update.py line 72
        calls: the LVs this update created are removed."""
        for path in self.registered:
            if os.path.ismount(path):  # a layer of tests/node.py
                subprocess.check_call(["umount", path])
            shutil.rmtree(path)
            if self.node:
                layer = os.path.basename(path)
                shutil.rmtree(os.path.join(self.node, "overlay", layer))
                state = self._state()
                del state["layers"][layer]
                self._save(state)
        self.registered = []
