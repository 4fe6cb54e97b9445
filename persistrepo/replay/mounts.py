"""The new root as scriptlets expect it: /proc, /sys, /dev, /dev/pts, /dev/shm
and /run, set up in a private mount namespace of a child process.

Like mock's chroots, /dev is a fresh tmpfs with the usual character devices
and its own devpts; /sys is the host's, read-only; /run is an empty tmpfs.
All of it lives in the namespace of the process that runs the transaction,
so it vanishes with that process, even if it is killed: the caller and the
host never see a mount under the root (docs/replay.md, "Mounts").
"""

import ctypes
import errno
import os
import stat

from persistrepo.errors import PersistError

_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MNT_DETACH = 2
# name, major, minor (Documentation/admin-guide/devices.txt)
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
          ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise PersistError("cannot %s: %s" % (what, os.strerror(err)))


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(),
                       fstype and fstype.encode(), ctypes.c_ulong(flags),
                       data and data.encode()),
           "mount %s on %s" % (fstype or source, target))


def _directory(root, relative):
    """root/relative as a real directory (made if missing), never a link."""
    path = os.path.join(root, relative)
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
        os.mkdir(path, 0o755)
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise PersistError("%s is not a directory (a symlink or a file); replay mounts %s "
                           "there and will not follow it out of the new root"
                           % (path, "/" + relative))
    return path


MOUNT_POINTS = ("proc", "sys", "dev", "run")


def remove_unused(root, made):
    """Remove the mount points in made (relative to root) that enter()
    created and that are still empty: a failed replay leaves the root as
    it was."""
    for name in made:
        try:
            os.rmdir(os.path.join(root, name))
        except OSError:
            pass


def enter(root):
    """Move this process into a private mount namespace and mount what
    scriptlets need inside root. Call it only in a child process."""
    _check(_libc.unshare(_CLONE_NEWNS), "make a private mount namespace")
    _make_private()
    _mount("proc", _directory(root, "proc"), "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    sys_dir = _directory(root, "sys")
    _mount("/sys", sys_dir, None, _MS_BIND | _MS_REC)
    _mount(None, sys_dir, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    dev = _directory(root, "dev")
    _mount("tmpfs", dev, "tmpfs", _MS_NOSUID, "mode=0755")
    for name, major, minor in DEVICES:
        _device(dev, name, major, minor)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    _mount("devpts", os.path.join(dev, "pts"), "devpts", _MS_NOSUID | _MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620")
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    _mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    for name, target in _LINKS:
        os.symlink(target, os.path.join(dev, name))
    _mount("tmpfs", _directory(root, "run"), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")


def scratch(path):
    """A private tmpfs on the empty directory path, for what needs no
    durability (dnf's cache, history.py's copy). Call it only after enter()."""
    _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "mode=0700")


def unmount(path):
    """Detach what scratch() mounted, so that path can be removed."""
    _check(_libc.umount2(path.encode(), _MNT_DETACH), "unmount %s" % path)


def _make_private():
    """Make sure no mount made from here propagates back to the host."""
    if _libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        _check(-1, "make the mounts private")
    # "/" is no mount point: this is a chroot. Safe only if nothing here is shared.
    try:
        with open("/proc/self/mountinfo") as f:
            shared = [line for line in f if " shared:" in line.split(" - ")[0]]
    except (IOError, OSError) as e:
        raise PersistError("cannot tell whether mounts here stay private (%s)" % e)
    if shared:
        raise PersistError("/ is not a mount point (a chroot?) and the mounts here are "
                           "shared with the host; run replay outside the chroot, or in a "
                           "private mount namespace (unshare --mount)")


def _device(dev, name, major, minor):
    """A character device in the root's /dev: made, or where that is not
    allowed (a restricted container), the host's node bound over a file."""
    path = os.path.join(dev, name)
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        open(path, "w").close()
        _mount("/dev/" + name, path, None, _MS_BIND)
