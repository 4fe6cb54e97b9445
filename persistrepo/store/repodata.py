"""Repository metadata through the createrepo_c bindings.

Each stored package keeps its three XML chunks (primary, filelists, other) in
.persistrepo/chunks/<sha256>.xml, made once when it is added. Writing the
repodata then only concatenates chunks, so adding or removing k packages never
re-reads the headers of the other N.
"""

import contextlib
import hashlib
import operator
import os
import re
import stat
import sys
import threading
import time
import zlib

from persistrepo import fsutil, names
from persistrepo.compat import stdlib, strings
from persistrepo.errors import BadPackage, PersistError
from persistrepo.store import createrepo_process

KINDS = ("primary", "filelists", "other")
CHANGELOG_LIMIT = 10


def make_chunks(path, location_href):
    """The XML chunks of the RPM at path, as createrepo_c dumps them; BadPackage
    if createrepo_c cannot (e.g. control characters in a dependency)."""
    try:
        return createrepo_process.run(_chunks_by_createrepo_c, path, location_href)
    except createrepo_process.Crashed as e:
        raise _no_chunks(path, e)


def _chunks_by_createrepo_c(path, location_href):
    import createrepo_c as cr
    try:
        with _c_stderr_silenced():
            pkg = cr.package_from_rpm(path, cr.SHA256, location_href, None, CHANGELOG_LIMIT)
            return dict(zip(KINDS, (strings.text(doc) for doc in cr.xml_dump(pkg))))
    except (cr.CreaterepoCError, ValueError, TypeError) as e:
        raise _no_chunks(path, e)


def _no_chunks(path, why):
    return BadPackage("%s: createrepo_c cannot write repository metadata for it (%s)"
                      % (path, str(why).strip() or why.__class__.__name__))


@contextlib.contextmanager
def _c_stderr_silenced():
    """createrepo_c also logs its refusals through GLib straight to fd 2; the
    exception carries the reason, so keep that out of one-line errors."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def chunk_file(chunks):
    """The chunks as one file's bytes, NUL-separated (XML never contains NUL)."""
    return "\0".join(chunks[k] for k in KINDS).encode("utf-8")


def save_chunks(layout, sha256, chunks, replace=False):
    """Keep a package's chunks in chunks/; with replace, whatever is at that
    name is replaced."""
    path = layout.chunk(sha256)
    if replace or not os.path.lexists(path):
        fsutil.write_atomic(path, chunk_file(chunks), layout.tmp)


def save_new_chunks(layout, made):
    """Keep the chunks of many packages ({sha256: chunks}) that chunks/ lacks,
    in one go (fsutil.write_many). Unsynced: a chunk file a crash damaged
    fails load_chunks' check and is made again from its package, which is
    durable (its fsyncs were most of a capture's own time)."""
    files = dict((layout.chunk(sha256), chunk_file(chunks))
                 for sha256, chunks in made.items())
    fsutil.write_many(dict((p, d) for p, d in files.items() if not os.path.lexists(p)),
                      layout.tmp, durable=False)


def load_chunks(layout, sha256):
    """The chunks kept for a package; PersistError if the file is missing,
    not the store's, or not the three chunks of that very package."""
    path = layout.chunk(sha256)
    try:
        parts = fsutil.read_store_file(path).decode("utf-8").split("\0")
    except UnicodeDecodeError:
        parts = []
    if len(parts) != 3 or not _are_chunks_of([sha256], *([p] for p in parts)):
        raise PersistError("%s is not the metadata of package %s" % (path, sha256))
    return dict(zip(KINDS, parts))


def _are_chunks_of(sums, primaries, filelists, others):
    """True if primaries[i], filelists[i] and others[i] are the chunks of
    the package whose sha256 is sums[i], for every i: each a <package>
    element (whitespace around it aside) naming that sha256. Checked in
    loops of C code over them all (map), not one Python call per package."""
    pkgids = list(map('pkgid="%s"'.__mod__, sums))
    chunks = primaries + filelists + others
    # A chunk as createrepo_c dumps it is told without copying it (strip would).
    return (all(map(_STARTS_PACKAGE, chunks)) or
            all([p.lstrip().startswith("<package") for p in chunks])) and \
        (all(map(_ENDS_PACKAGE, chunks)) or
         all([p.rstrip().endswith("</package>") for p in chunks])) and \
        all(map(operator.contains, primaries, map(">%s</checksum>".__mod__, sums))) and \
        all(map(operator.contains, filelists, pkgids)) and \
        all(map(operator.contains, others, pkgids))


_STARTS_PACKAGE = operator.methodcaller("startswith", "<package")
_ENDS_PACKAGE = operator.methodcaller("endswith", "</package>\n")


def chunk_file_identity(layout, sha256):
    """Inode, mtime, ctime and size of a package's chunk file as text; None
    if it is not a regular file. Any change to the file changes it."""
    return _identity(layout.chunk(sha256))


def chunk_file_identities(layout, sums):
    """chunk_file_identity of each package of sums, in their order. Each is
    looked up by name in chunks/, opened once, where os.stat takes dir_fd:
    the kernel then walks one component, not the store's whole path."""
    paths = layout.chunks_of(sums)
    try:
        directory = os.open(layout.chunks, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW) \
            if stdlib.HAS_LSTAT_AT else None
    except OSError:
        directory = None
    if directory is None:
        return [_identity(path) for path in paths]
    try:
        skip = len(os.path.join(layout.chunks, ""))
        return [_identity(path[skip:], directory) for path in paths]
    finally:
        os.close(directory)


def chunk_file_identities_meanwhile(layout, sums):
    """A function giving {sha256: chunk_file_identity} for sums, read from
    now on in a thread (os.stat lets go of the GIL): a write stats the chunk
    files while it stages its packages and syncs its journal. Without a
    thread, they are read when asked for."""
    found = []

    def read():
        try:
            found.append(chunk_file_identities(layout, sums))
        except Exception:  # read again when asked for, where it is reported
            pass

    reader = threading.Thread(target=read)
    reader.daemon = True
    try:
        reader.start()
    except threading.ThreadError:  # no thread to be had (RuntimeError on Python 3)
        reader = None

    def identities():
        if reader is not None:
            reader.join()
        return dict(zip(sums, found[0] if found else chunk_file_identities(layout, sums)))
    return identities


def _identity(path, directory=None):
    try:
        st = os.lstat(path) if directory is None else stdlib.lstat_at(directory, path)
    except OSError:
        return None
    return fsutil.identity(st) if stat.S_ISREG(st.st_mode) else None


def save_pack(layout, packed, append=False):
    """Keep the chunks of the packages whose chunk files were checked or
    written in this write ([(sha256, identity of the file, chunks)]) in one
    file, chunks.pack, so that the next write reads one file rather than one
    per package; with append, add them at the end of the pack (a later
    record of a package stands for it). Unsynced like the chunk files: a
    damaged pack is not used, and a pack that cannot be written leaves the
    old one, still sound. True if the pack was written."""
    data = "\0".join("\0".join([sha256, identity] + [chunks[k] for k in KINDS])
                     for sha256, identity, chunks in packed).encode("utf-8")
    try:
        if append:
            fsutil.append_to(layout.chunk_pack, b"\0" + data)
        else:
            fsutil.write_many({layout.chunk_pack: data}, layout.tmp, durable=False)
    except (IOError, OSError):
        return False
    return True


def load_pack(layout, checked_identity=None):
    """({sha256: (identity, chunks)}, number of records) of chunks.pack, each
    checked as load_chunks checks a chunk file (unless the pack is still the
    one of checked_identity, which a write made: persistrepo.store.checked);
    ({}, 0) if there is none or any part of it is not sound. An entry stands
    for its chunk file only while that file's identity
    (chunk_file_identity) is the recorded one."""
    if not os.path.lexists(layout.chunk_pack):
        return {}, 0
    try:
        data, identity = fsutil.read_identified_store_file(layout.chunk_pack)
        parts = data.decode("utf-8").split("\0")
    except (PersistError, IOError, OSError, UnicodeDecodeError):
        return {}, 0
    sums, identities = parts[0::5], parts[1::5]
    primaries, filelists, others = parts[2::5], parts[3::5], parts[4::5]
    if identity != checked_identity and (
            len(parts) % 5 or not names.are_sha256(sums) or not _are_identities(identities) or
            not _are_chunks_of(sums, primaries, filelists, others)):
        return {}, 0
    return dict(zip(sums, zip(identities, map(_chunks, primaries, filelists, others)))), \
        len(sums)


def _chunks(primary, filelists, other):
    """A package's chunks by kind (KINDS), as make_chunks gives them; a dict
    display is built faster than dict(zip(KINDS, ...)) for each of N."""
    return {"primary": primary, "filelists": filelists, "other": other}


def _are_identities(values):
    """True if every one of values is a chunk file's identity as the pack
    records it, checked in one pass of C code over them all."""
    lines = "\n".join(values)
    return not values or lines.count("\n") == len(values) - 1 and \
        bool(_PACK_IDENTITIES.match(lines))


_IDENTITY = r"[0-9]{1,30}(?:\.[0-9]{1,30}){3}"
_PACK_IDENTITIES = re.compile(r"(?:%s\n)*%s\Z" % (_IDENTITY, _IDENTITY))


def referenced_files(repomd_path):
    """File names under repodata/ that a repomd.xml points at (empty if none)."""
    if not os.path.isfile(repomd_path) or os.path.islink(repomd_path):
        return set()
    return set(createrepo_process.run(_referenced_by, repomd_path))


def _referenced_by(repomd_path):
    import createrepo_c as cr
    try:
        repomd = cr.Repomd(repomd_path)
    except Exception:  # an unreadable old repomd references nothing worth keeping
        return []
    return sorted(set(os.path.basename(r.location_href) for r in repomd.records))


def write(layout, chunk_docs, revision, modules_yaml=None, also=None, dirs=()):
    """Write repodata for chunk_docs (and modules_yaml, a "modules" record,
    when given) aside, then swap repomd.xml in atomically. also: a function
    giving other files ({path: bytes}, the index), called while the data
    files are compressed; they are written with them, in the same batch of
    fsyncs. dirs: other directories to fsync with the repodata's (where files
    were renamed since they were fsynced).

    Data files carry their checksum in their names, so the new ones never
    overwrite the old ones. Files of the previous repomd.xml are kept for
    readers that loaded it a moment ago; older ones are removed.
    """
    try:
        keep = _write_aside(layout, chunk_docs, revision, modules_yaml, also or dict, dirs)
    except (_CreaterepoFailed, createrepo_process.Crashed) as e:
        raise PersistError("cannot write the repodata of %s (%s); the next write or "
                           "'persistrepo refresh' completes it" % (layout.root, e))
    for name in os.listdir(layout.repodata):
        path = os.path.join(layout.repodata, name)
        if name not in keep and name != "repomd.xml" and fsutil.is_regular(path):
            fsutil.unlink_if_exists(path)


class _CreaterepoFailed(PersistError):
    """createrepo_c could not write (a full disk, say)."""


def _write_aside(layout, chunk_docs, revision, modules_yaml, also, dirs):
    """Write the data files (and also) and repomd.xml aside, fsynced in one
    batch, and move them in, repomd.xml last; return the names of this and
    the previous generation's files."""
    frames = createrepo_process.run(_frames, layout.tmp, len(chunk_docs))
    texts = []
    for kind in sorted(KINDS):
        head, tail = frames[kind]
        texts.append((kind, "".join([head] + [doc[kind] for doc in chunk_docs] + [tail])
                      .encode("utf-8")))
    compressed, files = _gzip_meanwhile([text for _, text in texts], also)
    records = []
    for (kind, text), (data, checksum, open_checksum) in zip(texts, compressed):
        records.append((kind, "%s.xml.gz" % kind, len(data), checksum, len(text), open_checksum))
        files[os.path.join(layout.root, _href(checksum, "%s.xml.gz" % kind))] = data
    if modules_yaml is not None:
        data = modules_yaml.encode("utf-8")
        checksum = hashlib.sha256(data).hexdigest()
        records.append(("modules", "modules.yaml", len(data), checksum, None, None))
        files[os.path.join(layout.root, _href(checksum, "modules.yaml"))] = data
    keep = set(os.path.basename(_href(r[3], r[1])) for r in records)
    previous = referenced_files(os.path.join(layout.repodata, "repomd.xml"))
    fsutil.write_many(files, layout.tmp, dirs=dirs, last=(
        os.path.join(layout.repodata, "repomd.xml"),
        createrepo_process.run(_repomd_xml, revision, records).encode("utf-8")))
    return keep | previous


def _href(checksum, name):
    """Where a data file goes: repodata/CHECKSUM-name, as createrepo_c names it."""
    return "repodata/%s-%s" % (checksum, name)


def _frames(tmpdir, count):
    """{kind: (head, tail)}: the text a createrepo_c XML file of count
    packages holds before and after its package chunks, as createrepo_c
    itself writes it (in the write's own tmpdir, under its lock: no other
    file there has that name)."""
    import createrepo_c as cr
    frames = {}
    classes = {"primary": cr.PrimaryXmlFile, "filelists": cr.FilelistsXmlFile,
               "other": cr.OtherXmlFile}
    for kind in KINDS:
        path = os.path.join(tmpdir, "repodata-%s.frame" % kind)
        fsutil.unlink_if_exists(path)  # left by a write of this transaction that failed
        try:
            xml = classes[kind](path, cr.NO_COMPRESSION)
            xml.set_num_of_pkgs(count)
            xml.close()
            with open(path, "rb") as f:
                head, _, tail = f.read().decode("utf-8").rpartition("</")
        except cr.CreaterepoCError as e:
            raise _CreaterepoFailed(str(e))
        finally:
            fsutil.unlink_if_exists(path)
        frames[kind] = (head, "</" + tail)
    return frames


def _repomd_xml(revision, records):
    """repomd.xml of revision for records: (type, file name, size, sha256,
    and the size and sha256 of its text if compressed, else None), as
    createrepo_c writes it (RepomdRecord.fill would read the files again)."""
    import createrepo_c as cr
    repomd = cr.Repomd()
    repomd.set_revision(str(revision))
    for kind, name, size, checksum, size_open, checksum_open in records:
        record = cr.RepomdRecord(kind, None)
        record.checksum_type = "sha256"
        record.checksum = checksum
        record.size = size
        if checksum_open is not None:
            record.checksum_open_type = "sha256"
            record.size_open, record.checksum_open = size_open, checksum_open
        record.timestamp = int(time.time())
        record.location_href = _href(checksum, name)
        repomd.set_record(record)
    repomd.sort_records()
    try:
        return strings.text(repomd.xml_dump())
    except cr.CreaterepoCError as e:
        raise _CreaterepoFailed(str(e))


# Fast gzip: readers (librepo, libsolv, yum, createrepo_c) take any level, and
# the higher ones cost a write of N packages twice the time for a sixth less.
GZIP_LEVEL = 1


def _gzip(text):
    """(gzip of text, its sha256, the sha256 of text)."""
    gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    data = gz.compress(text) + gz.flush()
    return data, hashlib.sha256(data).hexdigest(), hashlib.sha256(text).hexdigest()


def _gzip_meanwhile(texts, meanwhile):
    """([_gzip of each of texts], what meanwhile() returns): the largest text
    is compressed in one thread and the others in a second (zlib and hashlib
    let go of the GIL) while this one runs meanwhile."""
    done = [None] * len(texts)
    largest = max(range(len(texts)), key=lambda i: len(texts[i]))
    shares = [[largest], [i for i in range(len(texts)) if i != largest]]

    def compress(share):
        try:
            for i in share:
                done[i] = _gzip(texts[i])
        except MemoryError:  # compressed again below, where it is reported
            pass

    workers = []
    for share in shares:
        worker = threading.Thread(target=compress, args=(share,))
        try:
            worker.start()
        except threading.ThreadError:  # no thread to be had (RuntimeError on Python 3)
            continue
        workers.append(worker)
    try:
        result = meanwhile()
    finally:
        for worker in workers:
            worker.join()
    for i, text in enumerate(texts):
        if done[i] is None:  # no thread, or it ran out of memory
            done[i] = _gzip(text)
    return done, result


def _data_file(layout, href):
    """The path of a repodata file a repomd.xml names, if it is one the store
    writes (repodata/NAME); None otherwise."""
    directory, _, name = (href or "").partition("/")
    if directory != "repodata" or not names.is_scratch(name):
        return None
    return os.path.join(layout.repodata, name)


def read_state(layout):
    """(revision, {location_href: (pkgid, nevra)}) as the current repodata
    says, or None; a location listed twice maps to None."""
    import createrepo_c as cr
    repomd_path = os.path.join(layout.repodata, "repomd.xml")
    if not os.path.isfile(repomd_path) or os.path.islink(repomd_path):
        return None
    repomd = cr.Repomd(repomd_path)
    primary = [r for r in repomd.records if r.type == "primary"]
    if not primary:
        return None
    packages = {}

    def collect(pkg):
        # Two records of one location are two packages dnf may take for one file.
        packages[pkg.location_href] = None if pkg.location_href in packages else (
            pkg.pkgId, names.nevra(pkg.name, int(pkg.epoch or 0), pkg.version, pkg.release,
                                   pkg.arch))

    path = _data_file(layout, primary[0].location_href)
    if path is None or not fsutil.is_regular(path):
        raise PersistError("repomd.xml names %r as its primary metadata"
                           % primary[0].location_href)
    cr.xml_parse_primary(path, pkgcb=collect, do_files=False)
    return repomd.revision, packages


def modules_record(layout):
    """The "modules" record of the store's repomd.xml, or None; PersistError
    if it has more than one."""
    import createrepo_c as cr
    repomd = cr.Repomd(os.path.join(layout.repodata, "repomd.xml"))
    found = [r for r in repomd.records if r.type == "modules"]
    if len(found) > 1:
        raise PersistError("repomd.xml names %d modules records" % len(found))
    return found[0] if found else None


def read_modules(layout, record, limit):
    """The bytes of the modules.yaml a repomd record names; PersistError if
    it is not a regular file of the store's repodata, is larger than limit
    or does not match the record's checksum."""
    path = _data_file(layout, record.location_href)
    if path is None:
        raise PersistError("repomd.xml names %r as its modules metadata"
                           % record.location_href)
    with os.fdopen(fsutil.open_regular(path), "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise PersistError("%s is larger than the records' modules.yaml" % path)
    if record.checksum_type != "sha256" or hashlib.sha256(data).hexdigest() != record.checksum:
        raise PersistError("%s does not match its checksum in repomd.xml" % path)
    return data
