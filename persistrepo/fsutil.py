"""File-system primitives for the store: atomic writes, safe placement, no symlinks.

Python 2.7 compatible: the yum plugin's capture path imports this.
"""

import binascii
import errno
import fcntl
import hashlib
import json
import os
import re
import stat

from persistrepo.compat import stdlib
from persistrepo.errors import BadPackage, UnsafeStore, UsageError

FILE_MODE = 0o644
DIR_MODE = 0o755
_FICLONE = 0x40049409
_CHUNK = 1024 * 1024
_BATCH = 64  # files held open at once to be fsynced together
_MAX_LINKS = 40
MAX_JSON_DEPTH = 32  # the store's documents nest 4 levels; a module record 5
MAX_STORE_FILE = 256 << 20
_JSON_ESCAPE = re.compile(br'\\.', re.S)
_JSON_NOT_STRUCTURE = bytes(bytearray(i for i in range(256) if chr(i) not in '"[]{}'))
_JSON_PAIR = re.compile(br'\[\]|\{\}')


def running_as_root():
    return os.geteuid() == 0


def check_dir(path):
    """Refuse a store directory that is a symlink, or, as root, not root-owned
    or writable by group or others."""
    try:
        st = os.lstat(path)
    except OSError as e:
        raise UnsafeStore("%s: %s" % (path, e.strerror))
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStore("%s is a symlink; the store never follows symlinks. "
                          "Point --store at the real directory." % path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStore("%s is not a directory" % path)
    if running_as_root():
        if st.st_uid != 0:
            raise UnsafeStore("%s is owned by uid %d, not root; refusing to trust it. "
                              "Fix with: chown root:root %s" % (path, st.st_uid, path))
        if st.st_mode & 0o022:
            raise UnsafeStore("%s is group- or world-writable (mode %04o); refusing to "
                              "trust it. Fix with: chmod 0755 %s"
                              % (path, stat.S_IMODE(st.st_mode), path))


def check_ancestors(path):
    """As root, refuse a store whose parent directories another user could swap."""
    if not running_as_root():
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):  # not made yet: its nearest existing parent counts
        parent = os.path.dirname(parent)
    while True:
        st = os.stat(parent)
        sticky = st.st_mode & stat.S_ISVTX
        if st.st_uid != 0 or (st.st_mode & 0o022 and not sticky):
            raise UnsafeStore("%s (a parent of the store) is not root-owned or is writable "
                              "by others; refusing to trust the store below it." % parent)
        if parent == "/":
            return
        parent = os.path.dirname(parent)


def ensure_dir(path):
    """Create a directory (and parents) with mode 0755 and check it is safe."""
    if not os.path.lexists(path):
        parent = os.path.dirname(path.rstrip("/"))
        if parent and not os.path.lexists(parent):
            ensure_dir(parent)
        try:
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
    check_dir(path)


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_regular(path, follow=False):
    """Open a regular file read-only; without follow, a symlink is refused."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BadPackage("%s is a symlink; the store never follows symlinks" % path)
        if e.errno == errno.ENOENT:
            raise BadPackage("%s: no such file" % path)
        raise BadPackage("%s: %s" % (path, e.strerror))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadPackage("%s is not a regular file" % path)
    return fd


def open_store_file(path):
    """Open one of the store's own files: a regular file, never through a
    symlink, never blocking, and, as root, only one that root owns and
    nobody else may write (anyone else could otherwise steer root)."""
    fd = open_regular(path)
    if running_as_root():
        st = os.fstat(fd)
        if st.st_uid != 0 or st.st_mode & 0o022:
            os.close(fd)
            raise UnsafeStore("%s is owned by uid %d or writable by others (mode %04o); "
                              "refusing to trust it. Check who changed it, then fix with: "
                              "chown root:root %s; chmod 0644 %s"
                              % (path, st.st_uid, stat.S_IMODE(st.st_mode), path, path))
    return fd


def read_store_file(path, limit=MAX_STORE_FILE):
    """The bytes of one of the store's own files (see open_store_file); a
    file larger than limit is refused (UnsafeStore)."""
    return read_identified_store_file(path, limit)[0]


def read_identified_store_file(path, limit=MAX_STORE_FILE):
    """(read_store_file's bytes, the identity of the file they were read from)."""
    fd = open_store_file(path)
    try:
        # Read by the file's size, not limit + 1 at once (which would allocate
        # limit bytes for each of the thousands of chunk files repodata reads).
        parts, size = [], 0
        st = os.fstat(fd)
        want = min(st.st_size, limit) + 1
        while size <= limit:
            part = os.read(fd, min(want - size if size < want else _CHUNK, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    finally:
        os.close(fd)
    data = b"".join(parts)
    if len(data) > limit:
        raise UnsafeStore("%s is larger than %d MiB, more than the store ever writes there; "
                          "run 'persistrepo verify', then 'persistrepo refresh'"
                          % (path, limit >> 20))
    return data, identity(st)


def identity(st):
    """A file's inode, mtime, ctime and size as text, from its stat: any change
    to the file changes it, and only the kernel sets a ctime."""
    if _HAS_NS:
        return "%d.%d.%d.%d" % (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    # Python 2 has no st_mtime_ns: its float seconds are precise to the microsecond.
    return "%d.%d.%d.%d" % (st.st_ino, int(st.st_mtime * 1e9), int(st.st_ctime * 1e9),
                            st.st_size)


_HAS_NS = hasattr(os.stat_result, "st_mtime_ns")


def load_json(data, max_depth=MAX_JSON_DEPTH):
    """Parse a JSON document (bytes or text) that nests at most max_depth
    levels; ValueError for anything else. The depth is measured before
    parsing, in linear passes of C code: json's own recursion would end in
    RecursionError (or exhaust the stack) on a document nested thousands deep."""
    if isinstance(data, bytes):
        raw = data
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8")
    else:
        raw = data.encode("utf-8", "replace")
    # On the UTF-8 bytes, where quotes and brackets are single bytes (and
    # bytes.translate deletes in one pass): escapes go first (only strings
    # hold them; json stops at one outside), then all but quotes and
    # brackets. Two quotes side by side enclose nothing and leave every
    # other byte as much inside or outside a string as it was: they go
    # too, so that little is left to split. Of the rest, every other piece
    # between quotes is a string's (an unterminated one keeps its brackets).
    pieces = _JSON_ESCAPE.sub(b"", raw).translate(None, _JSON_NOT_STRUCTURE).replace(
        b'""', b"").split(b'"')
    brackets = b"".join(pieces[::2]) + (pieces[-1] if len(pieces) % 2 == 0 else b"")
    for _ in range(max_depth):
        brackets, n = _JSON_PAIR.subn(b"", brackets)
        if not n:
            break
    if brackets:  # sound JSON nested at most max_depth deep leaves nothing
        raise ValueError("unbalanced or nested more than %d levels deep" % max_depth)
    return json.loads(data)


def sha256_fd(fd):
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        block = os.read(fd, _CHUNK)
        if not block:
            break
        h.update(block)
    return h.hexdigest()


def _unused_name(tmpdir, suffix):
    """A random path in tmpdir for a file created exclusively (a link or an
    O_EXCL open), which fails rather than reuse a name."""
    return os.path.join(tmpdir, "tmp%s%s" % (binascii.hexlify(os.urandom(8)).decode("ascii"),
                                             suffix))


def write_atomic(path, data, tmpdir):
    """Write bytes to path by writing aside in tmpdir, fsyncing and renaming."""
    write_many({path: data}, tmpdir)


def write_many(files, tmpdir, durable=True, sync_with=(), last=None, dirs=()):
    """Write files ({path: bytes}) each aside in tmpdir, fsynced, and renamed
    into place; their writeback is started together before the first fsync
    waits, and each directory is fsynced once. Not durable: renamed into
    place unsynced (a cache its reader checks and can make again).
    sync_with: files already written that must be on disk before any of
    these is renamed into place, fsynced in the same batch. last: (path,
    bytes) of one more file, written and fsynced with them but renamed into
    place after all of them (what names them). dirs: other directories to
    fsync with theirs (where files were renamed since they were fsynced)."""
    items = sorted(files.items()) + ([last] if last else [])
    sync_with = list(sync_with)
    fsync_files(sync_with[:-_BATCH])
    for start in range(0, len(items), _BATCH):
        _write_batch(items[start:start + _BATCH], tmpdir, durable,
                     sync_with[-_BATCH:] if start == 0 else ())
    for directory in sorted(set(os.path.dirname(p) for p, _ in items) | set(dirs)) \
            if durable else ():
        fsync_dir(directory)


def append_to(path, data):
    """Append bytes to an existing regular file, unsynced (a cache its
    reader checks: a torn end makes the whole file unused)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _write_batch(items, tmpdir, durable=True, sync_with=()):
    staged, others = [], []
    try:
        for path in sync_with:
            others.append(os.open(path, os.O_RDONLY | os.O_NOFOLLOW))
        for path, data in items:
            tmp = _unused_name(tmpdir, ".part")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
            staged.append((fd, tmp, path))
            while data:
                data = data[os.write(fd, data):]
            os.fchmod(fd, FILE_MODE)
        if durable:
            _fsync_all(others + [fd for fd, _, _ in staged])
        for _, tmp, path in staged:
            os.rename(tmp, path)
    finally:
        for fd in others:
            os.close(fd)
        for fd, tmp, _ in staged:
            os.close(fd)
            unlink_if_exists(tmp)


def _fsync_all(fds):
    for fd in fds:
        stdlib.start_writeback(fd)
    for fd in fds:
        os.fsync(fd)


def fsync_files(paths):
    """fsync regular files (never through a symlink), their writeback started
    together as in write_many."""
    for start in range(0, len(paths), _BATCH):
        fds = []
        try:
            for path in paths[start:start + _BATCH]:
                fds.append(os.open(path, os.O_RDONLY | os.O_NOFOLLOW))
            _fsync_all(fds)
        finally:
            for fd in fds:
                os.close(fd)


def root_only_writable(st):
    """True for a file of root's that nobody else may change (mode 0644)."""
    return st.st_uid == 0 and not st.st_mode & 0o022 and stat.S_IMODE(st.st_mode) == FILE_MODE


def _try_hardlink(src_path, src_st, dst):
    try:
        os.link(src_path, dst)
    except OSError:
        return False
    st = os.lstat(dst)
    if (stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (src_st.st_dev, src_st.st_ino)
            and root_only_writable(st)):
        return True
    os.unlink(dst)
    return False


def _copy_fd(src_fd, dst_fd):
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        return "reflink"
    except (IOError, OSError):
        pass
    os.lseek(src_fd, 0, os.SEEK_SET)
    while True:
        block = os.read(src_fd, _CHUNK)
        if not block:
            break
        while block:
            block = block[os.write(dst_fd, block):]
    return "copy"


def stage_file(src_path, tmpdir, sync=True, root_owned=False):
    """Put a private copy of src_path into tmpdir the cheapest safe way.

    The file is opened once, at its real path (with root_owned: the path
    itself) and never through a symlink after that (nor a special file),
    and the copy is made from that open
    file: a check of the copy is a check of what is stored. A hardlink is
    used only for a root-owned 0644 file on the same file system (such as
    dnf's cache), since nobody but root can change it later, and only if
    it is the very file opened. Anything else is reflinked or copied, and
    fsynced unless sync is false (the store fsyncs a commit's staged files
    together, links included). With root_owned, as root, a file that
    another user owns or may write is refused. Returns (staged_path,
    method, the opened file's stat before it was staged).
    """
    if not root_owned:  # a path the admin or dnf gave: its real file, opened once
        src_path = os.path.realpath(src_path)
    src_fd = open_regular(src_path)
    try:
        src_st = os.fstat(src_fd)
        if root_owned and running_as_root() and (src_st.st_uid != 0 or
                                                 src_st.st_mode & 0o022):
            raise BadPackage("%s is owned by uid %d or writable by others (mode %04o); only "
                             "root's own files are taken in. Check where it came from, then "
                             "'persistrepo add' it" % (src_path, src_st.st_uid,
                                                       stat.S_IMODE(src_st.st_mode)))
        dst = _unused_name(tmpdir, ".rpm")
        if root_only_writable(src_st) and _try_hardlink(src_path, src_st, dst):
            return dst, "hardlink", src_st
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            method = _copy_fd(src_fd, dst_fd)
            if sync:
                os.fsync(dst_fd)
        except BaseException:
            os.close(dst_fd)
            os.unlink(dst)
            raise
        os.close(dst_fd)
        os.chmod(dst, FILE_MODE)
        return dst, method, src_st
    finally:
        os.close(src_fd)


def clear_dir(path):
    """Empty a scratch directory (leftovers of a crash), never following a link."""
    for name in os.listdir(path):
        full = os.path.join(path, name)
        st = os.lstat(full)
        if stat.S_ISDIR(st.st_mode):
            clear_dir(full)
            os.rmdir(full)
        else:
            os.unlink(full)


def is_regular(path):
    """True for a regular file (not a link, directory or special file)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def unlink_if_exists(path):
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def resolve_in_root(root, path):
    """path as seen from inside root (absolute links start at root, ".."
    stops at root), as a host path that never leaves root. A missing tail
    is kept as is; dnf creates it."""
    root = os.path.realpath(root)
    todo = [p for p in path.split("/") if p]
    done, hops = [], 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *(done + [part]))
        if not os.path.islink(here):
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_LINKS:
            raise UsageError("%s: too many levels of symbolic links inside %s" % (path, root))
        target = os.readlink(here)
        if target.startswith("/"):
            done = []
        todo = [p for p in target.split("/") if p] + todo
    return os.path.join(root, *done)


def leaves_root(root, path):
    """Where root/path leads when the host follows its links (as dnf and rpm
    do for what they write under an installroot), if that is outside root;
    else None."""
    real_root = os.path.realpath(root)
    host = os.path.realpath(os.path.join(real_root, path.lstrip("/")))
    if host == real_root or host.startswith(real_root.rstrip("/") + "/"):
        return None
    return host
