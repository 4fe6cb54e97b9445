"""dnf's history of the new root, written to a scratch copy (on the
transaction child's private tmpfs) and moved into the root once, at the
end (docs/replay.md, "History").

libdnf commits its history database, with an fsync each time, several
times per package. The new root has not booted yet, so that durability
buys nothing until replay ends. The root's own history is copied in
first, so nothing is lost; if replay dies before the end, the root's
history is as it was (and rpm's database is rpm's own, consistent).
"""

import os
import shutil
import sqlite3
import stat
import tempfile

from persistrepo import fsutil
from persistrepo.errors import PersistError


class ScratchHistory(object):
    """The root's history database (target) and its working copy (path)."""

    def __init__(self, target, scratch):
        self.target = target
        self.scratch = scratch
        self.path = os.path.join(scratch, os.path.basename(target))

    @classmethod
    def start(cls, base, scratch):
        """Point base's history at a copy of the root's in scratch (a new
        directory). None where the root's database cannot be copied whole
        (a link, another writer): dnf then writes it in place, as it
        always did."""
        from dnf.db.history import SwdbInterface
        target = SwdbInterface(base.conf.persistdir).dbpath
        if os.path.lexists(target) and not _settled(target):
            return None
        os.mkdir(scratch, 0o700)
        history = cls(target, scratch)
        if os.path.lexists(target):
            shutil.copyfile(target, history.path)
        base.history = SwdbInterface(scratch, releasever=base.conf.releasever)
        return history

    def move_in(self, base):
        """Close base's history and put the copy in place of the root's:
        written beside it, fsynced and renamed over it."""
        base.history.close()
        if not os.path.lexists(self.path):  # dnf never opened its history
            return
        if not _settled(self.path):
            raise PersistError("dnf's history of this replay (%s) could not be completed; "
                               "%s is as it was" % (self.path, self.target))
        directory = os.path.dirname(self.target)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(prefix=".history.", suffix=".part", dir=directory)
            try:
                with open(self.path, "rb") as src, os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    _attributes_of(self.target, dst.fileno())
                    dst.flush()
                    os.fsync(dst.fileno())
                os.rename(tmp, self.target)
            finally:
                fsutil.unlink_if_exists(tmp)
            fsutil.fsync_dir(directory)
        except OSError as e:
            raise PersistError("cannot write dnf's history into %s (%s); the packages are "
                               "installed (rpm -qa lists them), but 'dnf history' does not "
                               "show this replay" % (self.target, e))


def _attributes_of(target, fd):
    """Give fd the mode, owner and extended attributes (an SELinux label) of
    the file target, or mode 0644 where there is none."""
    try:
        st = os.lstat(target)
    except OSError:
        os.fchmod(fd, 0o644)
        return
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(target, follow_symlinks=False)
    except OSError:  # no extended attributes on this file system
        return
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(target, name, follow_symlinks=False))
        except OSError:  # one this file system or its policy refuses
            pass


def _settled(path):
    """Whether the sqlite database at path (a regular file, not a link) is
    whole in its main file: its write-ahead log checkpointed into it and
    emptied, no rollback journal left; as a result of opening it, a hot
    journal is rolled back."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        db = sqlite3.connect(path)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return not busy and not os.path.lexists(path + "-journal") and (
        not os.path.lexists(path + "-wal") or os.path.getsize(path + "-wal") == 0)
