"""A hosted Node's LVs as block devices, standing in for src/imgbased/lvm.py:
each LV is a loop device over a sparse ext2 image file NODE/lvm/LV.img
(`lvcreate --thin`, lines 363-370, then the file system imgbased's
add_base_with_tree makes and fills, update.py lines 108-128); node.json's
"devices" maps LV names to devices, as `lvs -o lv_path` and `lvs PATH`
(LV.path, LV.from_path, lines 184-187 and 247-260) do. busybox's mke2fs
makes the file system: it is there on every test stack (tests/support/bed.py).
Standard library only: tests/support/node.py loads this file too, to make the
first layer."""

import json
import os
import shutil
import subprocess
import tempfile

SIZE = 2 << 30  # sparse: only what is written takes space


def _state_path(node):
    return os.path.join(node, "node.json")


def _load(node):
    with open(_state_path(node)) as f:
        return json.load(f)


def _save(node, state):
    with open(_state_path(node), "w") as f:
        json.dump(state, f)


def devices(node):
    """{LV name: its device}."""
    return _load(node).get("devices", {})


def create_volume(node, name, tree, busybox="busybox"):
    """A new LV holding a copy of the tree; its device. Like lvcreate, it
    fails when the LV exists."""
    image = os.path.join(node, "lvm", name + ".img")
    os.makedirs(os.path.dirname(image), exist_ok=True)
    with open(image, "xb") as f:  # "Logical Volume already exists"
        f.truncate(SIZE)
    device = subprocess.check_output(["losetup", "--find", "--show", image],
                                     universal_newlines=True).strip()
    state = _load(node)
    state.setdefault("devices", {})[name] = device
    _save(node, state)
    subprocess.check_call([busybox, "mke2fs", "-q", device], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    target = tempfile.mkdtemp(prefix="lv-", dir=os.path.join(node, "lvm"))
    subprocess.check_call(["mount", device, target])
    try:
        subprocess.check_call(["cp", "-a", tree + "/.", target])
    finally:
        subprocess.check_call(["umount", target])
        os.rmdir(target)
    return device


def remove_volume(node, name):
    """lvremove: the device is detached (the kernel frees it once nothing
    has it mounted) and the image file goes."""
    state = _load(node)
    device = state.get("devices", {}).pop(name, None)
    _save(node, state)
    if device:
        subprocess.check_call(["losetup", "--detach", device])
    image = os.path.join(node, "lvm", name + ".img")
    if os.path.exists(image):
        os.unlink(image)


def lv_name_of(node, source):
    """The LV name of a device (lvs PATH), or None."""
    for name, device in devices(node).items():
        if device == source:
            return name
    return None


def detach_all(node):
    """Detach every LV's loop device (a test's clean-up; a device still
    mounted somewhere is freed when it is unmounted). A device is known by
    node.json and checked by its backing file's name: the path losetup
    shows is the one of the mount namespace that attached it."""
    for name, device in devices(node).items():
        back = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE",
                               device], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True).stdout.strip()
        if back.replace(" (deleted)", "").endswith("/lvm/%s.img" % name):
            subprocess.check_call(["losetup", "--detach", device])
    shutil.rmtree(os.path.join(node, "lvm"), ignore_errors=True)
