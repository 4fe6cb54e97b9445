#!/usr/bin/env python3
"""Replay of N packages vs `dnf --installroot install` of the same N from the
same repo, side by side in one run; prints both wall times and the ratio.

Usage: .venv/bin/python bench/bench_replay.py [N]   (default 50; run as root)
"""

import os
import subprocess
import sys
import time

import benchbed
from benchbed import REPO  # also puts the checkout on sys.path

from persistrepo.store import Candidate, Store
from tests import bed


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with benchbed.workspace("bench-replay-") as work:
        rpms, repo = benchbed.packages(work, n)
        store = Store(os.path.join(work, "store"))
        store.add([Candidate(p, reason="user") for p in rpms])

        dnf_root = bed.make_root(os.path.join(work, "dnf-root"))
        t = time.time()
        res = bed.run_dnf(dnf_root, ["install"] + ["pkg%03d" % i for i in range(n)],
                          repos={"bench": repo})
        dnf_s = time.time() - t
        assert res.returncode == 0, res

        replay_root = bed.make_root(os.path.join(work, "replay-root"))
        t = time.time()
        res = subprocess.run([sys.executable, "-m", "persistrepo", "replay", "--installroot",
                              replay_root, "--store", store.layout.root],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, env=bed.tool_env({"PYTHONPATH": REPO}))
        replay_s = time.time() - t
        assert res.returncode == 0, res.stdout + res.stderr
        assert bed.installed(replay_root) == bed.installed(dnf_root)
        print("%d packages into an empty root:" % n)
        print("  dnf --installroot install   %6.2fs" % dnf_s)
        print("  persistrepo replay          %6.2fs" % replay_s)
        print("  ratio replay/dnf            %6.2f" % (replay_s / dnf_s))


if __name__ == "__main__":
    main()
