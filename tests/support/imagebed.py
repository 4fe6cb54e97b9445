"""Image builds for the export tests: a local base image and the real buildah.

The base image is a Debian root (the running stack's own suite) with dnf and
rpm, made by mmdebstrap and cached as a tarball outside the checkout
(/var/cache/persistrepo/image-base, keyed by its inputs), as the sid chroot
is. Debian's rpm keeps its database in ~/.rpmdb, so the image gets
/etc/rpm/macros.persistrepo-base with %_dbpath /var/lib/rpm (the Fedora/EL layout)
and, as Fedora's images, no unshare plugin.
Each test session imports it into its own vfs storage (`buildah from scratch`,
then `buildah commit`) and installs the test bed's packages into its rpmdb
with the real dnf --installroot. Builds are `buildah bud --isolation chroot
--storage-driver vfs --pull=never`: no registry, and no network in the build
because dnf there sees only the context's file:// repos.
"""

import contextlib
import fcntl
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile

from tests.support import bed

CACHE = os.environ.get("PERSISTREPO_IMAGE_CACHE", "/var/cache/persistrepo/image-base")
PACKAGES = ("dnf", "rpm")
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*",
                 "/usr/share/info/*")
RECIPE = 1  # bump when the way the tarball is made changes
BASE_MACROS = "etc/rpm/macros.persistrepo-base"
NPROC_CAP = 32768
# What bed.make_root gives a tree for its scriptlets, not part of its image.
TREE_TOOLS = ("bin", "usr/bin", "dev", "tmp", "var/tmp")


def suite():
    """The running Debian's suite (sid calls itself by the testing codename too)."""
    with open("/etc/os-release") as f:
        fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    if "sid" in fields.get("PRETTY_NAME", ""):
        return "sid"
    return fields.get("VERSION_CODENAME", "").strip('"') or "sid"


def base_tarball():
    """The cached Debian root with dnf and rpm (built on first use)."""
    name = suite()
    key = hashlib.sha256(repr((RECIPE, name, PACKAGES, DPKG_EXCLUDES)).encode()).hexdigest()
    path = os.path.join(CACHE, "%s-%s.tar" % (name, key[:16]))
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            tmp = path[:-len(".tar")] + ".part.tar"
            # sid's Release file can look expired against this machine's clock.
            cmd = ["mmdebstrap", "--quiet", "--variant=minbase", "--format=tar",
                   "--aptopt=Acquire::Check-Valid-Until \"false\"",
                   "--include=" + ",".join(PACKAGES)]
            cmd += ["--dpkgopt=path-exclude=%s" % p for p in DPKG_EXCLUDES]
            subprocess.run(cmd + [name, tmp], check=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
            os.rename(tmp, path)
    return path


class Buildah(object):
    """The real buildah with a private vfs storage under workdir."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.storage = ["--root", os.path.join(self.workdir, "storage"),
                        "--runroot", os.path.join(self.workdir, "run"),
                        "--storage-driver", "vfs"]

    def run(self, *args, check=True, timeout=600):
        proc = subprocess.run(["buildah"] + self.storage + [str(a) for a in args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout,
                              env=bed.tool_env({"BUILDAH_ISOLATION": "chroot"}))
        if check and proc.returncode != 0:
            raise AssertionError("buildah %s failed (%d):\n%s%s" % (
                " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
        return proc

    @contextlib.contextmanager
    def _committed(self, tag):
        """A scratch container holding the cached Debian root with %_dbpath
        set, mounted: its root path; committed as tag when the block ends."""
        ctr = self.run("from", "scratch").stdout.strip()
        try:
            mnt = self.run("mount", ctr).stdout.strip()
            subprocess.run(["tar", "-xf", base_tarball(), "-C", mnt], check=True)
            os.makedirs(os.path.dirname(os.path.join(mnt, BASE_MACROS)), exist_ok=True)
            with open(os.path.join(mnt, BASE_MACROS), "w") as f:
                f.write("%%_dbpath %s\n" % bed.DBPATH)
                # sid's rpm enables its unshare plugin, whose scriptlet namespaces
                # need CAP_SYS_ADMIN, which a build's RUN lacks: a scriptlet
                # fails there. Fedora's and EL's images do not install the
                # plugin (rpm-plugin-unshare); a base here does as they do.
                f.write("%__transaction_unshare %{nil}\n")
            yield mnt
            self.run("commit", "--quiet", ctr, tag)
        finally:
            self.run("rm", ctr, check=False)

    def make_base(self, tag, rpms=()):
        """Commit image tag: the cached Debian root, %_dbpath set, and bed's
        base package plus rpms installed by dnf --installroot."""
        with self._committed(tag) as mnt:
            res = bed.run_dnf(mnt, ["install", bed.base_rpm()] + [str(p) for p in rpms])
            assert res.returncode == 0, res
            shutil.rmtree(os.path.join(mnt, "var/cache/dnf"), ignore_errors=True)
        return tag

    def import_tree(self, tag, tree):
        """Commit image tag from an image tree that bed built (its packages'
        files, its rpmdb, its dnf history) laid over the cached Debian root,
        which stands in for the rest of the OS (dnf, rpm, a shell) as the
        host's root does under a hosted Node's layers (tests/support/node.py). The
        static shell and scratch directories that bed.make_root gives a tree
        for its scriptlets stay out."""
        with self._committed(tag) as mnt:
            _lay_over(str(tree), mnt, skip=TREE_TOOLS)
        return tag

    @contextlib.contextmanager
    def mounted(self, image):
        """A fresh working container of image, mounted: its root path."""
        ctr = self.run("from", "--pull-never", image).stdout.strip()
        try:
            yield self.run("mount", ctr).stdout.strip()
        finally:
            self.run("rm", ctr, check=False)

    def bud(self, context, tag, check=True):
        """Build context (its Containerfile) as tag, offline and without a registry."""
        return self.run("bud", "--isolation", "chroot", "--pull=never", "--layers=false",
                        *(_limits() + ["-f", os.path.join(str(context), "Containerfile"),
                                       "-t", tag]),
                        str(context), check=check)

    def run_in(self, image, *argv):
        """argv run in a fresh container of image (`buildah run`): its
        CompletedProcess, and the container's name."""
        ctr = self.run("from", "--pull-never", *(_limits() + [image])).stdout.strip()
        try:
            return self.run("run", "--isolation", "chroot", ctr, "--", *argv), ctr
        finally:
            self.run("rm", ctr, check=False)


def _limits():
    """--ulimit options for what a container runs: buildah 1.43 raises the
    open-file and process limits unless told limits this process may set (a
    container here may not raise them); buildah 1.28 has already capped
    processes at 32768 when it sets them."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = min(n for n in resource.getrlimit(resource.RLIMIT_NPROC) + (NPROC_CAP,)
                if n != resource.RLIM_INFINITY)
    return ["--ulimit", "nofile=%s:%s" % tuple(
        "unlimited" if n == resource.RLIM_INFINITY else n for n in nofile),
        "--ulimit", "nproc=%d:%d" % (nproc, nproc)]


def _lay_over(src, dst, skip=()):
    """Copy tree src onto dst: directories merge, anything else replaces
    what dst has there (an empty directory included); paths in skip
    (relative to the top) are left out."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        for name in list(dirnames) + filenames:
            path = os.path.normpath(os.path.join(rel, name))
            source, target = os.path.join(src, path), os.path.join(dst, path)
            if path in skip:
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if os.path.isdir(source) and not os.path.islink(source):
                if os.path.isdir(target) and not os.path.islink(target):
                    continue
                if os.path.lexists(target):
                    os.unlink(target)
                os.mkdir(target)
                shutil.copystat(source, target)
                continue
            if name in dirnames:  # a symlink to a directory: os.walk won't enter it
                dirnames.remove(name)
            if os.path.isdir(target) and not os.path.islink(target):
                os.rmdir(target)
            elif os.path.lexists(target):
                os.unlink(target)
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                shutil.copy2(source, target)


def temporary_workdir():
    """A directory for a session's buildah storage (vfs needs a real file system)."""
    return tempfile.mkdtemp(prefix="persistrepo-buildah-", dir="/var/tmp")
