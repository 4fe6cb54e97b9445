"""Repository metadata through the createrepo_c bindings.

Each stored package keeps its three XML chunks (primary, filelists, other) in
.persistrepo/chunks/<sha256>.xml, made once when it is added. Writing the
repodata then only concatenates chunks, so adding or removing k packages never
re-reads the headers of the other N.
"""

import os
import shutil
import tempfile

from persistrepo import compat, fsutil

KINDS = ("primary", "filelists", "other")
CHANGELOG_LIMIT = 10


def make_chunks(path, location_href):
    """The XML chunks of the RPM at path, as createrepo_c dumps them."""
    import createrepo_c as cr
    pkg = cr.package_from_rpm(path, cr.SHA256, location_href, None, CHANGELOG_LIMIT)
    return dict(zip(KINDS, (compat.text(doc) for doc in cr.xml_dump(pkg))))


def save_chunks(layout, sha256, chunks):
    """Keep the chunks as one file, NUL-separated (XML never contains NUL)."""
    path = layout.chunk(sha256)
    if not os.path.lexists(path):
        data = "\0".join(chunks[k] for k in KINDS).encode("utf-8")
        fsutil.write_atomic(path, data, layout.tmp)


def load_chunks(layout, sha256):
    fd = fsutil.open_regular(layout.chunk(sha256))
    with os.fdopen(fd, "rb") as f:
        return dict(zip(KINDS, f.read().decode("utf-8").split("\0")))


def _xml_classes():
    import createrepo_c as cr
    return {"primary": cr.PrimaryXmlFile, "filelists": cr.FilelistsXmlFile,
            "other": cr.OtherXmlFile}


def referenced_files(repomd_path):
    """File names under repodata/ that a repomd.xml points at (empty if none)."""
    import createrepo_c as cr
    if not os.path.isfile(repomd_path) or os.path.islink(repomd_path):
        return set()
    try:
        repomd = cr.Repomd(repomd_path)
    except Exception:  # an unreadable old repomd references nothing worth keeping
        return set()
    return set(os.path.basename(r.location_href) for r in repomd.records)


def write(layout, chunk_docs, revision):
    """Write repodata for chunk_docs aside, then swap repomd.xml in atomically.

    Data files carry their checksum in their names, so the new ones never
    overwrite the old ones. Files of the previous repomd.xml are kept for
    readers that loaded it a moment ago; older ones are removed.
    """
    import createrepo_c as cr
    work = tempfile.mkdtemp(dir=layout.tmp)
    try:
        repomd = cr.Repomd()
        repomd.set_revision(str(revision))
        for kind, cls in sorted(_xml_classes().items()):
            stat = cr.ContentStat(cr.SHA256)
            path = os.path.join(work, "%s.xml.gz" % kind)
            xml = cls(path, cr.GZ_COMPRESSION, stat)
            xml.set_num_of_pkgs(len(chunk_docs))
            for doc in chunk_docs:
                xml.add_chunk(compat.createrepo_chunk(doc[kind]))
            xml.close()
            record = cr.RepomdRecord(kind, path)
            record.load_contentstat(stat)
            record.fill(cr.SHA256)
            record.rename_file()
            repomd.set_record(record)
        repomd.sort_records()
        keep = set(os.path.basename(r.location_href) for r in repomd.records)
        previous = referenced_files(os.path.join(layout.repodata, "repomd.xml"))
        for name in keep:
            os.chmod(os.path.join(work, name), fsutil.FILE_MODE)
            os.rename(os.path.join(work, name), os.path.join(layout.repodata, name))
        fsutil.fsync_dir(layout.repodata)
        fsutil.write_atomic(os.path.join(layout.repodata, "repomd.xml"),
                            repomd.xml_dump().encode("utf-8"), layout.tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in os.listdir(layout.repodata):
        if name not in keep and name not in previous and name != "repomd.xml":
            fsutil.unlink_if_exists(os.path.join(layout.repodata, name))


def read_state(layout):
    """(revision, {location_href: pkgid}) as the current repodata says, or None."""
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
        packages[pkg.location_href] = pkg.pkgId

    cr.xml_parse_primary(os.path.join(layout.root, primary[0].location_href),
                         pkgcb=collect, do_files=False)
    return repomd.revision, packages
