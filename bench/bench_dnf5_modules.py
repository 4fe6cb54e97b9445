#!/usr/bin/env python3
"""dnf5 capture's reading of a big repo's module metadata: the time and peak
memory of finding the module streams of a 50-package transaction in a
generated modules.yaml of 62 MiB (gzip-compressed, as a repo serves it),
against capture's bound (persistrepo.dnf5.stream_reader: MAX_SECONDS, 100 MB).

Usage: bench/bench_dnf5_modules.py [MiB]   (default 62; needs only the
parser, so it runs on the host as well as in the sid chroot)
Prints the wall time and what reading the metadata added to the reader's
peak RSS, each as a ratio against its bound.
"""

import os
import subprocess
import sys
import tempfile

import benchbed
from benchbed import REPO  # also puts the checkout on sys.path

from tests.test_modules import MODULE, big_module_metadata

BOUND_SECONDS = 1.0  # issue 22's bound for a transaction (dnf5_modules.MAX_SECONDS)
BOUND_MEMORY = 100e6
STATE = "usr/lib/sysimage/libdnf5"
# The child reports its time, the artifacts found, its peak RSS (KiB) and notes.
CHILD = r"""
import sys, time
from persistrepo.dnf5 import stream_reader
root, cache, read = sys.argv[1], sys.argv[2], sys.argv[3] == "read"
wanted = set(["vtool-0:1.0-1.noarch"] + ["mod005-part%02d-0:1.%d-1.module_f41+%d+%08x.x86_64"
                                          % (k, 64, 64, 64) for k in range(49)])
start = time.monotonic()
notes = []
found = stream_reader.enabled_artifacts(root, cache, "/STATE", notes,
                                       wanted=wanted) if read else {}
took = time.monotonic() - start
with open("/proc/self/status") as f:  # VmHWM: this process's own peak, unlike ru_maxrss
    peak = [line.split()[1] for line in f if line.startswith("VmHWM:")][0]
print(took, len(found), peak, "; ".join(notes))
""".replace("STATE", STATE)


def make_cache(work, mib):
    """(installroot, cachedir) as dnf5 leaves them: vtool:1 and mod005:s1
    enabled, the repo's metadata in its cache with a big modules record."""
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, STATE))
    with open(os.path.join(root, STATE, "modules.toml"), "w") as f:
        for name, stream in (("vtool", "1"), ("mod005", "s1")):
            f.write('[modules.%s]\nenabled_stream = "%s"\ninstalled_profiles = []\n'
                    'state = "Enabled"\n' % (name, stream))
    repo = os.path.join(work, "root/var/cache/libdnf5/big-0123456789abcdef")
    os.makedirs(repo)
    subprocess.run(["createrepo_c", "--quiet", repo], check=True)
    yaml = os.path.join(work, "modules.yaml")
    with open(yaml, "w") as f:
        f.write(big_module_metadata(mib << 20, MODULE % {"stream": "1", "version": "1.0"}))
    subprocess.run(["modifyrepo_c", "--compress-type=gz", "--mdtype=modules",
                    yaml, os.path.join(repo, "repodata")], check=True,
                   stdout=subprocess.DEVNULL)
    return root, os.path.dirname(repo)


def measure(root, cache, read):
    out = subprocess.run([sys.executable, "-c", CHILD, root, cache, "read" if read else "no"],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=REPO)).stdout.split(" ", 3)
    return float(out[0]), int(out[1]), int(out[2]) << 10, out[3].strip()


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 62
    with tempfile.TemporaryDirectory(prefix="bench-dnf5-modules-") as work:
        root, cache = make_cache(work, mib)
        _, _, base, _ = measure(root, cache, False)
        took, found, peak, notes = measure(root, cache, True)
        print("module metadata of %d MiB, a 50-package transaction: %d artifacts found%s"
              % (mib, found, "; " + notes if notes else ""))
        print("dnf5 module metadata time/bound N=%dMiB: %.2fx (%.2f s, bound %g s)"
              % (mib, took / BOUND_SECONDS, took, BOUND_SECONDS))
        print("dnf5 module metadata memory/bound N=%dMiB: %.2fx (%.0f MB, bound %.0f MB; "
              "peak RSS %.0f MB, %.0f MB before reading)"
              % (mib, (peak - base) / BOUND_MEMORY, (peak - base) / 1e6, BOUND_MEMORY / 1e6,
                 peak / 1e6, base / 1e6))


if __name__ == "__main__":
    main()
