#!/usr/bin/env python3
"""Replay of N packages vs `dnf --installroot install` of the same N from the
same repo, side by side in one run: PAIRS pairs, alternating which goes
first, each into a fresh root; prints the medians and their ratio (and the
CPU time both took, which a busy machine disturbs less than wall time).

Usage: .venv/bin/python bench/bench_replay.py [N] [--profile]   (default 50; root)

persistrepo runs from a byte-compiled copy of the checkout, as it does
installed from its package (dnf's own modules are byte-compiled too).

--profile runs one more replay under cProfile (a sitecustomize.py put first
on the replay process's PYTHONPATH; the transaction's child process is
profiled on its own) and prints where persistrepo's code spends its time in
each process, before the figures. The last line is always
`replay/dnf N=<n>: <ratio>x (replay <s> s, dnf <s> s)`.
"""

import os
import pstats
import resource
import statistics
import subprocess
import sys
import time

import benchbed
from bench_capture import installed_copy

from persistrepo.store.store import Candidate, Store
from tests.support import bed

PAIRS = 3
# The replay process is profiled from start to exit; its transaction child
# (forked, left with os._exit) gets a profile of its own, BENCH_PROFILE.child.
PROFILER = """\
import atexit, cProfile, os
_out = os.environ["BENCH_PROFILE"]
_profile = cProfile.Profile()
_profile.enable()
def _dump(path):
    _profile.disable()
    _profile.dump_stats(path)
atexit.register(lambda: _dump(_out))
def _in_child():
    global _profile
    _profile.disable()
    _profile = cProfile.Profile()
    _profile.enable()
    leave = os._exit
    os._exit = lambda code: (_dump(_out + ".child"), leave(code))
os.register_at_fork(after_in_child=_in_child)
"""


def _cpu():
    """CPU seconds used so far by the waited-for child processes."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def dnf(work, label, repo, n):
    """(wall, CPU) seconds of one `dnf install` of the n packages into a fresh
    root; the root."""
    root = bed.make_root(os.path.join(work, label))
    cpu, t = _cpu(), time.time()
    res = bed.run_dnf(root, ["install"] + ["pkg%03d" % i for i in range(n)],
                      repos={"bench": repo})
    elapsed = time.time() - t, _cpu() - cpu
    assert res.returncode == 0, res
    return elapsed, root


def replay(work, label, store, top, env=None):
    """(wall, CPU) seconds of one `persistrepo replay` of store into a fresh
    root, persistrepo imported from top; the root."""
    root = bed.make_root(os.path.join(work, label))
    cpu, t = _cpu(), time.time()
    res = subprocess.run([sys.executable, "-m", "persistrepo", "replay", "--installroot",
                          root, "--store", store.layout.root],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True,
                         env=bed.tool_env(dict({"PYTHONPATH": top}, **(env or {}))))
    elapsed = time.time() - t, _cpu() - cpu
    assert res.returncode == 0, res.stdout + res.stderr
    return elapsed, root


def profile(work, store, top):
    hook = os.path.join(work, "profiler")
    os.mkdir(hook)
    with open(os.path.join(hook, "sitecustomize.py"), "w") as f:
        f.write(PROFILER)
    out = os.path.join(work, "replay.prof")
    replay(work, "profiled-root", store, top,
           env={"PYTHONPATH": hook + os.pathsep + top, "BENCH_PROFILE": out})
    for path, what in ((out, "the replay process"),
                       (out + ".child", "its transaction child")):
        print("--- %s:" % what)
        stats = pstats.Stats(path, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(r"persistrepo/", 40)
    stats.sort_stats("cumulative").print_callees(r"replay/run.py.*\(_replay\)")
    sys.stdout.flush()


def main(argv):
    n = int(argv[0]) if argv and argv[0].isdigit() else 50
    with benchbed.workspace("bench-replay-") as work:
        rpms, repo = benchbed.packages(work, n)
        store = Store(os.path.join(work, "store"))
        store.add([Candidate(p, reason="user") for p in rpms])
        top = installed_copy(work)
        if "--profile" in argv:
            profile(work, store, top)

        plain, replayed = [], []
        for i in range(PAIRS):
            order = [(plain, lambda: dnf(work, "dnf-%d" % i, repo, n)),
                     (replayed, lambda: replay(work, "replay-%d" % i, store, top))]
            roots = []
            for times, run in (order if i % 2 == 0 else order[::-1]):
                elapsed, root = run()
                times.append(elapsed)
                roots.append(root)
            assert bed.installed(roots[0]) == bed.installed(roots[1])
        d, r = ([statistics.median(x[k] for x in times) for k in (0, 1)]
                for times in (plain, replayed))
        print("%d packages into an empty root, median of %d pairs:" % (n, PAIRS))
        print("  dnf --installroot install   %6.2fs wall %6.2fs CPU" % tuple(d))
        print("  persistrepo replay          %6.2fs wall %6.2fs CPU" % tuple(r))
        print("  CPU ratio replay/dnf        %6.2f" % (r[1] / d[1]))
        print("replay/dnf N=%d: %.2fx (replay %.2f s, dnf %.2f s)"
              % (n, r[0] / d[0], r[0], d[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
