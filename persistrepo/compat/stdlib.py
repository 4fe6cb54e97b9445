"""Where Python 2.7's standard library differs: text written to a pipe must
be encoded by hand, shell quoting is pipes.quote (pipes is gone from Python
3.13), os.posix_fadvise is absent, os.stat takes no dir_fd, a new fd is
inheritable. Python 2.7 compatible.
"""

import os
import sys

try:
    from shlex import quote as shell_quote  # novm
except ImportError:  # Python 2.7
    from pipes import quote as shell_quote  # noqa: F401

PY2 = sys.version_info[0] == 2


def write_text(stream, value):
    """Write text to a stream; Python 2 would encode it as ASCII on a pipe."""
    if PY2 and not isinstance(value, bytes):
        value = value.encode("utf-8")
    stream.write(value)


def open_missing_standard_streams():
    """Open /dev/null on whichever of fds 0-2 the process was started
    without, and give Python the streams it then left out: else the files
    root opens next would take those numbers, and whatever writes to fd 2
    (createrepo_c's GLib logging, a child process) would write into them."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if not PY2:  # Python 3 opens it close-on-exec
                os.set_inheritable(fd, True)  # novm
        if getattr(sys, name) is None:
            setattr(sys, name, os.fdopen(fd, mode))


def start_writeback(fd):
    """Have the kernel start writing a file's dirty pages out without waiting
    (POSIX_FADV_DONTNEED does on Linux), so that fsyncs of many files that
    follow share journal commits; nothing where Python lacks it."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is not None:
        fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # novm


# os.stat takes dir_fd and follow_symlinks from Python 3.3 on.
HAS_LSTAT_AT = os.stat in getattr(os, "supports_dir_fd", ()) and \
    os.stat in getattr(os, "supports_follow_symlinks", ())


def lstat_at(directory, name):
    """os.lstat of name in directory, an open directory's fd (where
    HAS_LSTAT_AT)."""
    return os.stat(name, dir_fd=directory, follow_symlinks=False)  # novm
