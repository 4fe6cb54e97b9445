"""`refresh`: repair a store from its package files.

It sits above the store (persistrepo.store.store): it runs the store's write
transaction with a Repair, which first sets aside what would refuse every
write. Nothing is deleted: what cannot be used goes to .persistrepo/quarantine.
"""

import os

from persistrepo import fsutil, names, pgp
from persistrepo.errors import BadPackage, PersistError, UsageError
from persistrepo.store import record, repodata, rpmfile, trash
from persistrepo.store.keys import key_files
from persistrepo.store.layout import FOREIGN


class Repair(object):
    """What refresh's write transaction sets aside before it can begin
    (the repair of Store.writing)."""

    def __init__(self, store):
        self.store = store

    def set_aside_subdirs(self, txn):
        """A symlink or a file where the store keeps a directory of its own
        (repodata/, chunks/, ...); the transaction makes the directory again."""
        if not self.store.is_store():
            return
        for d in txn.layout.dirs()[2:]:
            if os.path.lexists(d) and (os.path.islink(d) or not os.path.isdir(d)):
                txn.quarantine(d, "not a directory of the store")

    def set_aside_unusable(self, txn):
        """A lock or removed/ of the wrong kind (a FIFO, a symlink) would
        refuse every write."""
        layout = txn.layout
        if os.path.lexists(layout.lock) and not fsutil.is_regular(layout.lock):
            txn.quarantine(layout.lock, "not a regular file")
        if os.path.lexists(layout.removed) and (os.path.islink(layout.removed) or
                                                not os.path.isdir(layout.removed)):
            txn.quarantine(layout.removed, "not a directory")
        for path in trash.strays(layout):
            txn.quarantine(path, "not a slot of removed packages")


def refresh(store, adopt=False):
    """Rebuild store's index and repodata from the package files. Known
    files keep their provenance; unknown ones are recorded with method
    'refresh'; whatever cannot be used is moved to .persistrepo/quarantine.
    With adopt, a directory that is not yet a store becomes one (an old
    repodata/ is kept as repodata.before-persistrepo/). The report's
    warnings are as AddResult's."""
    layout = store.layout
    report = {"adopted": [], "dropped": [], "repodata_kept": None}
    kept = None
    if adopt and not store.is_store() and os.path.isdir(layout.repodata) \
            and not os.path.islink(layout.repodata):
        kept = layout.kept_repodata
        if os.path.lexists(kept):
            raise UsageError("%s exists already; move it away first" % kept)
    # writing() checks everything it can refuse before it changes anything;
    # only then is the old repodata moved aside.
    with store.writing(adopt=adopt, repair=Repair(store)) as txn:
        report["quarantined"] = txn.quarantined
        if kept is not None:
            os.rename(layout.repodata, kept)
            fsutil.ensure_dir(layout.repodata)
            report["repodata_kept"] = os.path.basename(kept)
        store.ingest(txn)
        try:
            old = record.load_index(layout.index)
        except PersistError as err:
            old = record.Index(packages=dict((e["filename"], e) for e in
                                             record.salvage(layout.index)))
            txn.quarantine(layout.index, str(err))
        by_sha = dict((e["sha256"], e) for e in old.packages.values())
        index = record.Index(old.generation)
        for name in sorted(os.listdir(layout.root)):
            entry = _refresh_one(txn, name, by_sha, report)
            if entry is not None:
                index.packages[name] = entry
        report["dropped"] = [e for n, e in sorted(old.packages.items())
                             if n not in index.packages]
        for path in layout.foreign():
            txn.quarantine(path, FOREIGN)
        _set_aside_strays(txn, layout.chunks, names.is_chunk_file)
        _set_aside_strays(txn, layout.repodata, lambda name: True)
        _set_aside_strays(txn, layout.keys, names.is_key_file)
        for key_id, path in key_files(layout).items():
            try:
                pgp.key_ids(fsutil.read_store_file(path))
            except (PersistError, ValueError) as e:
                txn.quarantine(path, "not a usable public key (%s)" % e)
        for path in (layout.chunk_pack, layout.checked):
            if os.path.lexists(path) and not fsutil.is_regular(path):
                txn.quarantine(path, "not a regular file")
        index.generation += 1
        txn.write_repodata(index, use_pack=False)
        txn.drop_unused_chunks(index)
    report["warnings"] = store.handed_over()
    return report


def _refresh_one(txn, name, by_sha, report):
    """The entry for one name in the store directory, or None."""
    path = os.path.join(txn.layout.root, name)
    if not name.endswith(".rpm"):
        return None
    if not fsutil.is_regular(path) or not names.is_package_file(name):
        txn.quarantine(path, "not a regular package file")
        return None
    try:
        info = rpmfile.read_package(path, store_file=True)
        href = record.filename(info.name, info.version, info.release, info.arch)
        if href != name:
            raise BadPackage("its file name should be %s" % href)
        repodata.save_chunks(txn.layout, info.sha256, repodata.make_chunks(path, href),
                             replace=True)
    except PersistError as e:
        txn.quarantine(path, str(e))
        return None
    known = by_sha.get(info.sha256)
    if known is None:
        known = record.make_entry(info, "refresh")
        report["adopted"].append(known)
    return known


def _set_aside_strays(txn, directory, wanted):
    """Quarantine what a store directory should not hold: anything but
    regular files with a name the store gives them there."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if not fsutil.is_regular(path) or not wanted(name):
            txn.quarantine(path, "not a file the store writes here")
