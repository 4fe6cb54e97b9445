#!/usr/bin/env python3
"""Replay of N packages vs `dnf --installroot install` of the same N from the
same repo, side by side in one run; prints both wall times and the ratio.

Usage: .venv/bin/python bench/bench_replay.py [N]   (default 50; run as root)
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import rpm  # noqa: E402

from persistrepo.store import Candidate, Store  # noqa: E402
from tests import bed  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    # Debian's rpm keeps the rpmdb in ~/.rpmdb; bed's HOME fixes %_dbpath.
    os.environ["HOME"] = bed.rpm_home()
    rpm.addMacro("_dbpath", bed.DBPATH)
    work = tempfile.mkdtemp(prefix="bench-replay-")
    os.chmod(work, 0o755)
    cwd = os.getcwd()
    os.chdir(work)  # rpmfluff builds in the current directory
    try:
        build = bed.Builder(os.path.join(work, "rpms")).build
        rpms = [build("pkg%03d" % i, requires=["pkg%03d" % (i - 1)] if i % 5 else [],
                      files={"/usr/share/bench/pkg%03d" % i: "x" * 4096})
                for i in range(n)]
        repo = bed.make_repo(os.path.join(work, "repo"), rpms)
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
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
