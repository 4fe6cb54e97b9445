"""The OS updater's part in a new layer, mirroring
src/imgbased/plugins/osupdater.py."""

import filecmp
import os
import shutil


class BootSetupError(Exception):
    """Line 62."""


def pre_init(app):
    """Lines 74-76."""
    app.imgbase.hooks.create("os-upgraded",
                             ("previous-lv_fullname", "new-lv_fullname"))


def init(app):
    """Lines 79-80 (the other two hooks are not mirrored)."""
    app.imgbase.hooks.connect("new-layer-added", on_new_layer)


def on_new_layer(imgbase, previous_lv, new_lv):
    """Lines 85-122: /var must be a mount point (preprocess, 126-129); /etc
    is migrated (migrate_etc, line 106; /var's migration is not mirrored)
    and relocate_update_manager runs (line 112), then migrate_boot (line
    120)."""
    if not os.path.ismount("/var"):
        raise RuntimeError("It's required /var as separate mountpoint!")
    migrate_etc(new_lv, previous_lv)
    relocate_update_manager(new_lv)
    migrate_boot(imgbase, new_lv, previous_lv)


def migrate_etc(new_lv, previous_lv):
    """Lines 588-720, for layers with /usr/share/factory/etc (tests/node.py):
    every file of the previous layer's /etc that is not in its factory /etc
    or differs from it is copied into the new layer (lines 680-715). The
    product check, UID/GID drift and versionlock are not mirrored."""
    old_etc = os.path.join(previous_lv.path, "etc")
    factory = os.path.join(previous_lv.path, "usr/share/factory/etc")
    if not os.path.isdir(factory):
        return
    changed = []

    def changed_and_new(dc, rel):
        changed.extend(os.path.join(rel, f) for f in dc.left_only + dc.diff_files)
        for name, sub in dc.subdirs.items():
            changed_and_new(sub, os.path.join(rel, name))
    changed_and_new(filecmp.dircmp(old_etc, factory), "")
    for rel in changed:
        src, dst = os.path.join(old_etc, rel), os.path.join(new_lv.path, "etc", rel)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)


def migrate_boot(imgbase, new_lv, previous_layer_lv):
    """Lines 263-269: any exception of the boot set-up, "os-upgraded"'s
    callbacks included, becomes BootSetupError."""
    try:
        adjust_mounts_and_boot(imgbase, new_lv, previous_layer_lv)
    except Exception:
        raise BootSetupError()


def relocate_update_manager(new_lv):
    """Lines 849-863: the host's /var/lib/yum and /var/lib/dnf become
    *absolute* links to /usr/share/yum and /usr/share/dnf (the move of the
    emptied directory into the running layer's /usr/share is left out)."""
    for path in ("/var/lib/yum", "/var/lib/dnf"):
        if not os.path.exists(path):
            continue
        usr_share = os.path.join("/usr/share", os.path.basename(path))
        if not os.path.islink(path):
            shutil.rmtree(path)
            os.symlink(usr_share, path)


def adjust_mounts_and_boot(imgbase, new_lv, previous_lv):
    """Lines 936-1039: "os-upgraded" is emitted with the previous LV's short
    name and the new LV's "VG/LV" name, the new layer not mounted."""
    imgbase.hooks.emit("os-upgraded", previous_lv.lv_name, new_lv.lvm_name)
