#!/usr/bin/env python3
"""A 50-package `dnf5 install` from an HTTP repo (keepcache=0) with and without
capture, side by side in one run; prints both wall times and the ratio.

Capture is the shipped action line (conf/dnf5/persistrepo.actions): one
`persistrepo dnf5-capture` per transaction. dnf5 exists in the sid chroot:

  scripts/sid-chroot run v6 python bench/bench_dnf5_capture.py [N]   (default 50)
"""

import os
import sys
import time

import benchbed
from benchbed import REPO  # also puts the checkout on sys.path

from persistrepo.store.store import Store
from tests.support import bed
from tests.test_dnf5 import actions_line


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with benchbed.workspace("bench-dnf5-") as work:
        rpms, repo = benchbed.packages(work, n)
        plugconf = os.path.join(work, "libdnf5-plugins")
        os.makedirs(os.path.join(plugconf, "actions.d"))
        with open(os.path.join(plugconf, "actions.conf"), "w") as f:
            f.write("[main]\nname = actions\nenabled = 1\n")
        config = os.path.join(work, "persist_rpm.conf")
        with open(config, "w") as f:
            f.write("[main]\n")
        with open(os.path.join(plugconf, "actions.d", "persistrepo.actions"), "w") as f:
            f.write(actions_line(config))
        names = ["pkg%03d" % i for i in range(n)]
        times = {}
        with bed.HttpServer(repo) as server:
            for label, conf in (("plain", None), ("capture", plugconf)):
                root = bed.make_root(os.path.join(work, label))
                t = time.time()
                res = bed.run_dnf5(root, ["install"] + names, repos={"bench": server.url},
                                   plugin_conf_dir=conf, env={"PYTHONPATH": REPO})
                times[label] = time.time() - t
                assert res.returncode == 0, res
        stored = Store(os.path.join(root, "var/imgbased/persisted_packages")).entries()
        assert len(stored) == n, "captured %d of %d" % (len(stored), n)
        print("%d packages, dnf5 install from HTTP, keepcache=0:" % n)
        print("  without capture   %6.2fs" % times["plain"])
        print("  with capture      %6.2fs  (%d persisted)" % (times["capture"], len(stored)))
        print("  ratio             %6.2f" % (times["capture"] / times["plain"]))


if __name__ == "__main__":
    main()
