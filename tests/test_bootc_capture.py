"""Capture on an image-mode (bootc) host: a transient transaction, as dnf
4.24 and dnf5 5.4 run it there, is captured like any other, into the store
under /var, while the package itself goes with the /usr overlay.

Each test makes a booted image-mode host in a private mount namespace and runs
the real dnf or dnf5 on its / (their bootc paths exist only for installroot
/). What cannot run here is mirrored: Debian packages no bootc, and no ostree
deployment boots in a test, so a stand-in `bootc` prints the status dnf5
reads, and a stand-in of libostree's GObject API answers dnf 4.24's questions.
Both stacks' dnf versions are in the sid chroot only; scripts/dev runs this
file on the sid stacks (docs/image-mode.md, "Capture on the host").
"""

import os
import shutil
import sqlite3
import subprocess

from tests.support import bed, node
from tests.support.storebed import listed
from tests.test_dnf5 import STORE, actions_line

# `bootc` as dnf5's libdnf5::utils::bootc calls it (libdnf5/utils/bootc.cpp:
# is_bootc_system reads .spec.image of `bootc status --json`,
# has_read_only_usr_overlay its .status.usrOverlay.accessMode), on a host whose
# /usr is already under bootc's read-only transient overlay. Debian packages
# no bootc, so this stand-in prints that document and logs its calls.
BOOTC_STUB = """#!/bin/sh
echo "$*" >> /bootc-calls
[ "$1" = status ] || exit 1
echo '{"apiVersion": "org.containers.bootc/v1", "kind": "BootcHost",
 "spec": {"image": {"image": "quay.io/example/node:41", "transport": "registry"}},
 "status": {"booted": {"image": {"image": {"image": "quay.io/example/node:41",
   "transport": "registry"}, "imageDigest": "sha256:%s"}},
  "usrOverlay": {"accessMode": "readOnly", "persistence": "transient"}}}'
""" % ("ab" * 32)

# A booted image-mode host in a private mount namespace: its /usr is this
# system's /usr under a read-only overlay (what `bootc usr-overlay --read-only`
# leaves), /etc a copy, /var its own, /run with ostree's marker. dnf5 runs
# there on / as an admin runs it; the overlay is unmounted afterwards, as the
# next boot discards it.
HOST_SCRIPT = r"""
set -e
h=$1 over=$2; shift 2
mkdir -p $h/usr $h/etc $h/var $h/proc $h/dev $h/run $h/tmp $h/src $h/opt \
  $over/upper $over/work $over/merged
for d in bin sbin lib lib64; do if [ -e /$d ]; then ln -sfn usr/$d $h/$d; fi; done
cp -a /etc/. $h/etc/
mount -t overlay overlay -o lowerdir=/usr,upperdir=$over/upper,workdir=$over/work $over/merged
mount --bind $over/merged $h/usr
mount -o remount,bind,ro $h/usr
mount --bind /proc $h/proc
mount --rbind /dev $h/dev
mount --bind /src $h/src
mount --bind /opt $h/opt
touch $h/run/ostree-booted
rc=0
chroot $h /usr/bin/env PATH=/stub:/usr/bin:/usr/sbin HOME=/root PYTHONPATH=/src:/gi "$@" \
  > $h/out 2>&1 || rc=$?
echo "exit $rc" >> $h/out
umount -l $h/usr $over/merged
"""


def on_host(host, overlay, *command):
    """Run command on the image-mode host; its output, ending "exit N"."""
    subprocess.run(["unshare", "--mount", "--propagation", node.propagation(), "sh", "-c",
                    HOST_SCRIPT, "sh", str(host), str(overlay)] + list(command), check=True)
    with open(str(host / "out")) as f:
        return f.read()


def test_dnf5_transient_install_is_captured_under_var(tmp_path, builder):
    """On a bootc host with /usr read-only, real dnf5 refuses a plain install
    and takes its bootc path with --transient (remounting the overlay
    read-write in its own namespace); the capture lands in /var, which stays,
    while the package itself goes with the overlay."""
    host = tmp_path / "host"
    for sub in ("stub", "root", "plugconf/actions.d"):
        (host / sub).mkdir(parents=True)
    (host / "stub" / "bootc").write_text(BOOTC_STUB)
    os.chmod(str(host / "stub" / "bootc"), 0o755)
    shutil.copy(builder.build("vagent", files={"/usr/share/vagent/agent": "x\n"}),
                str(host / "vagent-1.0-1.noarch.rpm"))
    (host / "root" / ".rpmmacros").write_text("%%_dbpath %s\n" % bed.DBPATH)
    (host / "plugconf" / "actions.conf").write_text("[main]\nname = actions\nenabled = 1\n")
    (host / "plugconf" / "actions.d" / "persistrepo.actions").write_text(actions_line(
        "/persist_rpm.conf"))
    (host / "persist_rpm.conf").write_text("[main]\nenabled=1\n")

    dnf5 = ["dnf5", "-y", "--setopt=pluginconfpath=/plugconf",
            "--setopt=reposdir=/nonexistent", "install"]

    out = on_host(host, tmp_path / "overlay", *(dnf5 + ["/vagent-1.0-1.noarch.rpm"]))
    assert "Pass --transient" in out and "exit 1" in out, out
    out = on_host(host, tmp_path / "overlay", *(dnf5 + ["--transient",
                                                       "/vagent-1.0-1.noarch.rpm"]))
    assert "exit 0" in out, out
    assert "status" in (host / "bootc-calls").read_text()
    entry = listed(str(host / STORE))["vagent-1.0-1.noarch"]
    assert entry["origin"] == "@commandline" and entry["reason"] == "user"
    # The package went into the overlay, which the next boot discards.
    assert (tmp_path / "overlay" / "upper" / "share" / "vagent" / "agent").is_file()
    assert not os.path.exists("/usr/share/vagent/agent")


# libostree's GObject API as dnf 4.24 uses it (dnf/util.py, _BootcSystem:
# Sysroot.new_default().load(None), require_booted_deployment(),
# get_unlocked() against DeploymentUnlockedState): a booted deployment
# unlocked in transient mode, as `ostree admin unlock --transient` leaves it.
OSTREE_STANDIN = """
class _State(object):
    def __init__(self, nick):
        self.value_nick = nick


class DeploymentUnlockedState(object):
    NONE, DEVELOPMENT, HOTFIX, TRANSIENT = (_State(n) for n in (
        "none", "development", "hotfix", "transient"))


class _Deployment(object):
    def get_unlocked(self):
        return DeploymentUnlockedState.TRANSIENT


class Sysroot(object):
    @staticmethod
    def new_default():
        return Sysroot()

    def load(self, cancellable):
        return True

    def require_booted_deployment(self):
        return _Deployment()
"""


def test_dnf4_transient_install_is_captured_under_var(tmp_path, builder):
    """dnf 4.24 on a bootc host refuses a plain install (persistence=auto on a
    read-only /usr); with --transient it remounts /usr read-write in its own
    mount namespace and records the transaction as transient; the plugin
    captures the package into /var, and the package goes with the overlay."""
    import libdnf
    host = tmp_path / "host"
    for sub in ("root", "plugconf", "gi/gi/repository"):
        (host / sub).mkdir(parents=True)
    (host / "gi" / "gi" / "__init__.py").write_text(
        "def require_version(namespace, version):\n    pass\n")
    (host / "gi" / "gi" / "repository" / "__init__.py").write_text("")
    (host / "gi" / "gi" / "repository" / "OSTree.py").write_text(OSTREE_STANDIN)
    shutil.copy(builder.build("vagent", files={"/usr/share/vagent/agent": "x\n"}),
                str(host / "vagent-1.0-1.noarch.rpm"))
    (host / "root" / ".rpmmacros").write_text("%%_dbpath %s\n" % bed.DBPATH)
    (host / "plugconf" / "persist_rpm.conf").write_text("[main]\nenabled=1\n")
    dnf = ["dnf", "-y", "--setopt=pluginpath=/src/dnf-plugins",
           "--setopt=pluginconfpath=/plugconf", "--setopt=reposdir=/nonexistent", "install"]

    out = on_host(host, tmp_path / "overlay", *(dnf + ["/vagent-1.0-1.noarch.rpm"]))
    assert "Pass --transient" in out and "exit 1" in out, out
    out = on_host(host, tmp_path / "overlay", *(dnf + ["--transient",
                                                      "/vagent-1.0-1.noarch.rpm"]))
    assert "exit 0" in out, out
    entry = listed(str(host / STORE))["vagent-1.0-1.noarch"]
    assert entry["origin"] == "@commandline" and entry["method"] == "dnf"
    with sqlite3.connect(str(host / "var/lib/dnf/history.sqlite")) as db:
        [(persistence,)] = db.execute("select persistence from trans").fetchall()
    assert persistence == libdnf.transaction.TransactionPersistence_TRANSIENT
    assert (tmp_path / "overlay" / "upper" / "share" / "vagent" / "agent").is_file()
    assert not os.path.exists("/usr/share/vagent/agent")
