"""What the benchmarks share: a scratch workspace and a set of real RPMs."""

import contextlib
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import rpm  # noqa: E402

from tests.support import bed  # noqa: E402


@contextlib.contextmanager
def workspace(prefix):
    """A scratch directory, the current one while it lasts (rpmfluff builds
    there); Debian's rpm keeps the rpmdb in ~/.rpmdb, bed's HOME fixes it."""
    os.environ["HOME"] = bed.rpm_home()
    rpm.addMacro("_dbpath", bed.DBPATH)
    work = tempfile.mkdtemp(prefix=prefix)
    os.chmod(work, 0o755)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def packages(work, n):
    """n small real RPMs pkg000..., in chains of five (each requires the one
    before), and a repository of them: (paths, repo directory)."""
    build = bed.Builder(os.path.join(work, "rpms")).build
    rpms = [build("pkg%03d" % i, requires=["pkg%03d" % (i - 1)] if i % 5 else [],
                  files={"/usr/share/bench/pkg%03d" % i: "x" * 4096})
            for i in range(n)]
    return rpms, bed.make_repo(os.path.join(work, "repo"), rpms)
