#!/usr/bin/env python3
"""Adding one package to an N-package store against `createrepo_c --update`
over the same directory (what dnf-plugins-core's `local` plugin runs after
every transaction), plus `persistrepo list --json`.

"persistrepo add" is the command (bin/persistrepo, as the RPM installs it),
interpreter start-up included; "in-process"
is the library call the dnf plugin makes inside the running dnf.

Usage: bench/bench_store.py [N ...]   (default: 100 1000 5000; run as root)
Prints wall times (median of 5) and the ratios to createrepo_c (below 1: add
is faster), measured side by side.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from persistrepo.store.store import Candidate, Store  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 5


def build_packages(count, workdir):
    """count tiny noarch RPMs from one spec with count subpackages (one
    rpmbuild run, far faster than count builds)."""
    spec = os.path.join(workdir, "bench.spec")
    with open(spec, "w") as f:
        f.write("Name: benchsrc\nVersion: 1.0\nRelease: 1\nSummary: bench\n"
                "License: MIT\nBuildArch: noarch\n%description\nbench\n")
        for i in range(count):
            f.write("%%package -n bench-%05d\nSummary: bench %d\n"
                    "%%description -n bench-%05d\nbench\n%%files -n bench-%05d\n"
                    % (i, i, i, i))
    top = os.path.join(workdir, "rpmbuild")
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", "_topdir " + top, spec],
                   check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(top, "RPMS", "noarch")
    return sorted(os.path.join(out, n) for n in os.listdir(out))


# The commands run with their modules' bytecode cached, as an installed
# package has it (PYTHONDONTWRITEBYTECODE would compile every module each run).
ENV = dict((k, v) for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE")
ENV["PYTHONPATH"] = REPO


def timed(cmd):
    """Wall time of cmd. What it left unwritten is written out after the
    clock stops: createrepo_c never fsyncs, and the next add's first fsync
    would otherwise wait for its files (ext4 commits them together)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    took = time.perf_counter() - start
    os.sync()
    return took


def persistrepo(*args):
    """The command as the RPM installs it."""
    return [sys.executable, os.path.join(REPO, "bin", "persistrepo")] + list(args)


def measure(n, packages, workdir):
    base, extra = packages[:n], packages[n:n + 2 * ROUNDS]
    ours, inproc, theirs, listing = [], [], [], []
    store = os.path.join(workdir, "store-%d" % n)
    plain = os.path.join(workdir, "plain-%d" % n)
    subprocess.run(persistrepo("--store", store, "add", *base), check=True,
                   stdout=subprocess.DEVNULL, env=ENV)
    os.mkdir(plain)
    for p in base:
        shutil.copy(p, plain)
    subprocess.run(["createrepo_c", "--quiet", plain], check=True)
    os.sync()  # the setup's writes, as timed() does
    for pkg, pkg2 in zip(extra[::2], extra[1::2]):
        ours.append(timed(persistrepo("--store", store, "add", pkg)))
        start = time.perf_counter()
        Store(store).add([Candidate(pkg2)])
        inproc.append(time.perf_counter() - start)
        os.sync()
        for p in (pkg, pkg2):
            shutil.copy(p, plain)
            theirs.append(timed(["createrepo_c", "--quiet", "--update", plain]))
        listing.append(timed(persistrepo("--store", store, "list", "--json")))
    return [statistics.median(x) for x in (ours, inproc, theirs, listing)]


def main(argv):
    sizes = [int(a) for a in argv] or [100, 1000, 5000]
    workdir = tempfile.mkdtemp(prefix="persistrepo-bench-")
    try:
        packages = build_packages(max(sizes) + 2 * ROUNDS, workdir)
        print("%6s %22s %10s %6s %17s %6s %12s" % ("N", "createrepo_c --update", "add (cmd)",
                                                  "ratio", "add (in-process)", "ratio",
                                                  "list --json"))
        rows = []
        for n in sizes:
            ours, inproc, theirs, listing = measure(n, packages, workdir)
            print("%6d %21.3fs %9.3fs %5.2fx %16.3fs %5.2fx %11.3fs"
                  % (n, theirs, ours, ours / theirs, inproc, inproc / theirs, listing))
            rows.append((n, ours, inproc, theirs))
        for n, ours, inproc, theirs in rows:  # the figure lines bench/run-all gathers
            print("add/createrepo_c N=%d: %.2fx (add %.3f s, createrepo_c --update %.3f s)"
                  % (n, ours / theirs, ours, theirs))
            print("add in-process/createrepo_c N=%d: %.2fx (%.3f s, createrepo_c --update "
                  "%.3f s)" % (n, inproc / theirs, inproc, theirs))
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main(sys.argv[1:])
