"""What a store write reads of package files, read ahead of it.

Capture's process reads the files a transaction installs while rpm still
works (persistrepo.capture.process). It reads only files that nobody but
root may change, each through one open, and names what it read by that
inode's identity: device, inode, mtime, ctime and size, the same before
and after the read. Store._stage takes it only for a file it staged as a
hardlink of that very inode, still unchanged; it reads any other file
itself.
"""

import os

from persistrepo import fsutil


def inode_key(st):
    return "%d:%s" % (st.st_dev, fsutil.identity(st))


class ReadAhead(object):
    """Files read ahead: (PackageInfo, chunks) by inode key."""

    def __init__(self):
        self._found = {}

    def read(self, path):
        """Read path ahead, if nobody but root may change it. Raises what
        reading it raises; the store then reads it itself, and says so."""
        from persistrepo.store import record, repodata, rpmfile
        fd = fsutil.open_regular(os.path.realpath(path))
        try:
            before = os.fstat(fd)
            if not fsutil.root_only_writable(before):
                return
            info = rpmfile.read_package(path, fd=fd)
            href = record.filename(info.name, info.version, info.release, info.arch)
            # createrepo_c opens a path: this one is the inode open here.
            chunks = repodata.make_chunks("/proc/self/fd/%d" % fd, href)
            if fsutil.identity(os.fstat(fd)) == fsutil.identity(before):
                self._found[inode_key(before)] = (info, chunks)
        finally:
            os.close(fd)

    def take(self, st):
        """(PackageInfo, chunks) read from the file that st (its stat, as
        staged) describes, or None."""
        return self._found.pop(inode_key(st), None)
