"""Run the persistrepo CLI and SIGKILL it at the Nth line it executes inside
the persistrepo package: `python crashpoint.py N ARGS...`.

With N = 0 it runs to the end and prints `lines: TOTAL` on stderr, so a test
can spread kill points over the whole operation. Only the command's own
lines count: its createrepo_c helper process (persistrepo.store.
createrepo_process) inherits the tracer, and is never the one killed here.
"""

import os
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(REPO, "persistrepo") + os.sep
target = int(sys.argv[1])
count = [0]
COMMAND = os.getpid()


def tracer(frame, event, arg):
    if not frame.f_code.co_filename.startswith(PACKAGE) or os.getpid() != COMMAND:
        return None
    if event == "line":
        count[0] += 1
        if count[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)
    return tracer


sys.settrace(tracer)
from persistrepo.cli import main  # noqa: E402

code = main(sys.argv[2:])
sys.settrace(None)
sys.stderr.write("lines: %d\n" % count[0])
sys.exit(code)
