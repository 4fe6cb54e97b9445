"""Tell dnf5 in the new root why replay installed each package.

Replay installs through the dnf 4 API, which records the reasons in dnf 4's
history (ROOT/var/lib/dnf). dnf5 imports that history only while it has no
state of its own, so in a root dnf5 manages (ROOT/usr/lib/sysimage/libdnf5
exists) the replayed packages would be "External User". After the
transaction replay runs dnf5's own `dnf5 --installroot ROOT mark user|dependency
NEVRA...`, which records them through libdnf5 (docs/dnf5.md). Python 3.6
compatible.
"""

import os
import shutil
import subprocess

from persistrepo.dnf5 import state

RECORDED = "recorded"
_MARKS = (("user", "requested"), ("dependency", "dependency"))


def manages(root):
    """True if dnf5 keeps its state in root."""
    return os.path.isdir(os.path.join(root, state.SYSTEM_STATE_DIR.lstrip("/")))


def record_reasons(root, items):
    """Mark the replayed packages in dnf5's state. Returns None when root is
    not dnf5's or nothing was installed, RECORDED, or why it could not."""
    done = [i for i in items if i.outcome == "done" and i.action in ("install", "upgrade")]
    if not done or not manages(root):
        return None
    dnf5 = shutil.which("dnf5")
    if dnf5 is None:
        return ("dnf5 is not installed here, so dnf5 in %s lists the replayed packages "
                "as External User" % root)
    for reason, role in _MARKS:
        specs = sorted(i.nevra for i in done if i.role == role)
        if not specs:
            continue
        proc = subprocess.run([dnf5, "--installroot=%s" % root, "--no-plugins", "-y", "-q",
                               "mark", reason] + specs,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
            return "dnf5 mark %s failed (%s); dnf5 lists those packages as External User" \
                % (reason, last)
    return RECORDED
