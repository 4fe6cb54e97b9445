"""The OS updater's part in a new layer, mirroring
src/imgbased/plugins/osupdater.py."""

import filecmp
import os
import shutil
import subprocess

from imgbased import bootsetup, constants
from imgbased.bootsetup import BootSetupHandler
from imgbased.imgbase import mounted


class BootSetupError(Exception):
    """Line 62."""


def pre_init(app):
    """Lines 74-76."""
    app.imgbase.hooks.create("os-upgraded",
                             ("previous-lv_fullname", "new-lv_fullname"))


def init(app):
    """Lines 79-81 (post-init-layout is not mirrored)."""
    app.imgbase.hooks.connect("new-layer-added", on_new_layer)
    app.imgbase.hooks.connect("pre-layer-removed", on_remove_layer)


def on_new_layer(imgbase, previous_lv, new_lv):
    """Lines 85-122: /var must be a mount point (preprocess, 126-129); /etc
    is migrated (migrate_etc, line 106; /var's migration is not mirrored)
    and relocate_update_manager runs (line 112), then postprocess (line 119,
    of which only _install_update_rpm is mirrored) and migrate_boot (line
    120)."""
    if not os.path.ismount("/var"):
        raise RuntimeError("It's required /var as separate mountpoint!")
    migrate_etc(new_lv, previous_lv)
    relocate_update_manager(new_lv, running_root=imgbase.node is not None)
    install_update_rpm(new_lv)
    migrate_boot(imgbase, new_lv, previous_lv)
    # Each step mounts the LVs it needs (utils.mounted), as imgbased's do.


def install_update_rpm(new_lv):
    """postprocess's _install_update_rpm, lines 241-259: the image-update
    RPM the %post found (IMGBASED_IMAGE_UPDATE_RPM) goes into the new
    layer's rpmdb with rpm -U --justdb (rpm runs no scriptlet or trigger
    then)."""
    update_rpm = os.getenv("IMGBASED_IMAGE_UPDATE_RPM")
    if not update_rpm:
        return
    rpms = list(set(update_rpm.splitlines()))
    with mounted(new_lv.path) as new_root:
        subprocess.check_call(["rpm", "-U", "--quiet", "--justdb", "--root", new_root,
                               rpms[0]])


def migrate_etc(new_lv, previous_lv):
    """Lines 588-720, for layers with /usr/share/factory/etc (tests/support/node.py):
    every file of the previous layer's /etc that is not in its factory /etc
    or differs from it is copied into the new layer (lines 680-715). The
    product check, UID/GID drift and versionlock are not mirrored."""
    with mounted(previous_lv.path) as old_root, mounted(new_lv.path) as new_root:
        _migrate_etc(new_root, old_root)


def _migrate_etc(new_root, old_root):
    old_etc = os.path.join(old_root, "etc")
    factory = os.path.join(old_root, "usr/share/factory/etc")
    if not os.path.isdir(factory):
        return
    changed = []

    def changed_and_new(dc, rel):
        changed.extend(os.path.join(rel, f) for f in dc.left_only + dc.diff_files)
        for name, sub in dc.subdirs.items():
            changed_and_new(sub, os.path.join(rel, name))
    changed_and_new(filecmp.dircmp(old_etc, factory), "")
    for rel in changed:
        src, dst = os.path.join(old_etc, rel), os.path.join(new_root, "etc", rel)
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


def relocate_update_manager(new_lv, running_root=True):
    """Lines 849-863: the host's /var/lib/yum and /var/lib/dnf are emptied,
    moved to the running layer's /usr/share and become *absolute* links to
    /usr/share/yum and /usr/share/dnf. run.py runs on the test machine's
    own root (running_root False): there the move is left out."""
    for path in ("/var/lib/yum", "/var/lib/dnf"):
        if not os.path.exists(path):
            continue
        usr_share = os.path.join("/usr/share", os.path.basename(path))
        if not os.path.islink(path):
            shutil.rmtree(path)
            if running_root:
                os.mkdir(path)
                shutil.move(path, usr_share)
            os.symlink(usr_share, path)


def adjust_mounts_and_boot(imgbase, new_lv, previous_lv):
    """Lines 936-1053: "os-upgraded" is emitted with the previous LV's short
    name and the new LV's "VG/LV" name, the new layer not mounted (line
    1039); then, with the new layer mounted and the host's /var bound over
    its /var, the SELinux relabel and BootSetupHandler (lines 1041-1053;
    the grub command line and fstab updates are not mirrored). Where the
    Node has no /boot (run.py scenarios) the boot set-up is left out."""
    imgbase.hooks.emit("os-upgraded", previous_lv.lv_name, new_lv.lvm_name)
    if imgbase.boot_dir is None:
        return
    with mounted(new_lv.path) as new_root:
        _relabel_selinux(new_root)
        BootSetupHandler(root=new_root,
                         mkinitrd=(imgbase.mode == constants.IMGBASED_MODE_UPDATE)).setup()


def _relabel_selinux(newroot):
    """Lines 1011-1035: setfiles in the new root for each file_contexts file
    the new layer has, over /etc, /usr/bin, /usr/libexec, /usr/sbin,
    /usr/share and /var (excluding /usr/share/factory). The test images
    have no SELinux policy, so as in imgbased nothing runs."""
    for fc in ("/etc/selinux/targeted/contexts/files/file_contexts",
               "/etc/selinux/targeted/contexts/files/file_contexts.homedirs",
               "/etc/selinux/targeted/contexts/files/file_contexts.local"):
        if os.path.exists(newroot + "/" + fc):
            subprocess.check_call(["chroot", newroot, "setfiles", "-v", fc,
                                   "-e", "/usr/share/factory", "-e", "/var/cache/app-info",
                                   "/etc", "/usr/bin", "/usr/libexec", "/usr/sbin",
                                   "/usr/share", "/var"])


def on_remove_layer(imgbase, lv_fullname):
    """Lines 1056-1090 (remove_boot): the layer's boot entry and its kernel
    directory /boot/LAYER go."""
    layer = lv_fullname.split("/")[-1]
    bootsetup.remove_entries(layer, imgbase.boot_dir)
    shutil.rmtree(os.path.join(imgbase.boot_dir, layer), ignore_errors=True)
