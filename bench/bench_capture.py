#!/usr/bin/env python3
"""`dnf install` of 50 small packages into a fresh root with the persist_rpm
plugin against without it (--noplugins), N pairs side by side in one run,
alternating which goes first. The figure is the median of the N pairs'
ratios, with their spread: a pair runs under the same load (rpm's closing
syncfs waits for whatever else the disk has to write), while a ratio of
medians mixes pairs. The ratio of CPU time (user and system, of dnf and
what it runs) shows the plugin's own work without the disk's waits.

Usage: .venv/bin/python bench/bench_capture.py [N] [--profile]   (default 9; root)

The plugin and persistrepo run from a byte-compiled copy of the checkout, as
they do installed from their package (tests/support/bed.py's dnf runs write no .pyc).

--profile runs one more install with the plugin under cProfile (a
sitecustomize.py put first on the dnf process's PYTHONPATH) and prints where
the plugin's hooks spend their time.
"""

import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import time

import benchbed
from benchbed import REPO  # also puts the checkout on sys.path

from persistrepo.store.store import Store
from tests.support import bed

COUNT = 50
STORE = "var/imgbased/persisted_packages"
PROFILER = """\
import atexit, cProfile, os
_profile = cProfile.Profile()
_profile.enable()
atexit.register(lambda: (_profile.disable(), _profile.dump_stats(os.environ["BENCH_PROFILE"])))
"""


def installed_copy(work):
    """persistrepo and the plugin copied into work and byte-compiled by dnf's
    interpreter: the directory to put on PYTHONPATH."""
    top = os.path.join(work, "installed")
    for sub in ("persistrepo", "dnf-plugins"):
        shutil.copytree(os.path.join(REPO, sub), os.path.join(top, sub),
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(shutil.which("dnf")) as f:
        python = f.readline()[2:].strip()
    subprocess.run([python, "-m", "compileall", "-q", top], check=True)
    return top


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def install(work, label, repo, names, plugin_conf, env=None):
    """(wall time, CPU time) of one `dnf install` of names into a fresh root;
    plugin_conf is (installed copy, plugin conf dir) or None for no plugin."""
    root = bed.make_root(os.path.join(work, label))
    kw = {}
    if plugin_conf:
        top, confdir = plugin_conf
        kw = dict(plugin_dir=os.path.join(top, "dnf-plugins"), plugin_conf_dir=confdir,
                  env=dict({"PYTHONPATH": top}, **(env or {})))
    cpu = _children_cpu()
    t = time.time()
    res = bed.run_dnf(root, ["install"] + names, repos={"bench": repo}, **kw)
    elapsed, cpu = time.time() - t, _children_cpu() - cpu
    assert res.returncode == 0, res
    if plugin_conf:
        stored = Store(os.path.join(root, STORE)).entries()
        assert len(stored) == len(names), "captured %d of %d" % (len(stored), len(names))
    return elapsed, cpu


def profile(work, repo, names, plugin_conf):
    hook = os.path.join(work, "profiler")
    os.mkdir(hook)
    with open(os.path.join(hook, "sitecustomize.py"), "w") as f:
        f.write(PROFILER)
    out = os.path.join(work, "capture.prof")
    install(work, "profiled", repo, names, plugin_conf,
            env={"PYTHONPATH": hook + os.pathsep + plugin_conf[0], "BENCH_PROFILE": out})
    stats = pstats.Stats(out)
    stats.sort_stats("cumulative").print_stats(r"persist_rpm.py|persistrepo/", 45)
    stats.sort_stats("tottime").print_callees(r"persist_rpm.py.*\((transaction|pre_transaction)\)")


def main(argv):
    pairs = int(argv[0]) if argv and argv[0].isdigit() else 9
    with benchbed.workspace("bench-capture-") as work:
        _, repo = benchbed.packages(work, COUNT)
        names = ["pkg%03d" % i for i in range(COUNT)]
        confdir = os.path.join(work, "pluginconf")
        os.mkdir(confdir)
        with open(os.path.join(confdir, "persist_rpm.conf"), "w") as f:
            f.write("[main]\nenabled=1\n")
        plugin_conf = (installed_copy(work), confdir)
        runs = []  # (without, with) per pair, each (wall, cpu)
        for i in range(pairs):
            pair = {}
            order = [(False, None), (True, plugin_conf)]
            for on, conf in (order if i % 2 == 0 else order[::-1]):
                pair[on] = install(work, "root-%d-%s" % (i, "on" if on else "off"),
                                   repo, names, conf)
            runs.append((pair[False], pair[True]))
        ratios = sorted(c[0] / p[0] for p, c in runs)
        ratio = statistics.median(ratios)
        cpu_ratio = statistics.median(c[1] / p[1] for p, c in runs)
        p = statistics.median(r[0][0] for r in runs)
        c = statistics.median(r[1][0] for r in runs)
        print("%d packages, dnf install into a fresh root, %d pairs side by side:"
              % (COUNT, pairs))
        print("  without the plugin   %6.3fs (median)" % p)
        print("  with the plugin      %6.3fs (median, +%.3fs)" % (c, c - p))
        print("  ratio per pair       %6.2f median, %.2f to %.2f" % (ratio, ratios[0], ratios[-1]))
        print("  CPU time ratio       %6.2f median" % cpu_ratio)
        print("plugin on/off N=%d: %.2fx (median of %d pairs, %.2f to %.2f; CPU %.2fx; "
              "with the plugin %.3f s, without %.3f s)"
              % (COUNT, ratio, pairs, ratios[0], ratios[-1], cpu_ratio, c, p))
        if "--profile" in argv:
            profile(work, repo, names, plugin_conf)


if __name__ == "__main__":
    main(sys.argv[1:])
