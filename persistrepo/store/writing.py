"""The write transaction on a store's layout (Store.writing).

Every write runs under the store lock and as one journalled commit:
stage files and chunks in .persistrepo/tmp, write the journal, then apply it
(rename files into place, write index.json, write repodata, unlink what went
away). A crash at any point leaves either the old state or a journal that the
next write (or refresh) rolls forward. Nothing read from the store's own
files is trusted before it is checked (docs/store-format.md, "Trust"), or
vouched for as the very file the last write made (persistrepo.store.checked).
"""

import json
import os
import time

from persistrepo import fsutil, names
from persistrepo.errors import BadPackage, PersistError, UnsafeStore
from persistrepo.store import checked, modulemd, record, repodata, rpmfile, trash
from persistrepo.store.lock import StoreLock


def read_journal(layout):
    """The interrupted commit's journal, checked name by name."""
    source = "the journal %s" % layout.journal
    try:
        doc = fsutil.load_json(fsutil.read_store_file(layout.journal))
        adds, removes = doc["adds"], doc["removes"]
        removed_entries = doc.get("removed_entries", [])
        for item in adds:
            record.check_entry(item["entry"])
            layout.scratch(layout.tmp, item["staged"], source)
        for name in removes:
            layout.package(name, source)
        for entry in removed_entries:
            record.check_entry(entry)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise UnsafeStore("%s is damaged (%s); run 'persistrepo refresh', which sets "
                          "it aside" % (layout.journal, e))
    return {"adds": adds, "removes": removes, "removed_entries": removed_entries}


class Plan(object):
    """What one commit will do, worked out under the lock from the index:
    staged files to add with their entries, file names to drop, and the
    chunks made for every staged file ({sha256: chunks})."""

    def __init__(self, index):
        self.index = index
        self.adds = []
        self.removes = []
        self.chunks = {}
        self.batch = {}

    def add(self, staged, info, entry, supersede):
        """Add staged as entry; with supersede, the other versions of its
        name.arch go (never for installonly packages)."""
        self.adds.append((staged, entry))
        self.batch[entry["filename"]] = entry
        if supersede and not info.installonly:
            self.removes.extend(o["filename"] for o in self.index.packages.values()
                                if (o["name"], o["arch"]) == (info.name, info.arch)
                                and o["filename"] != entry["filename"])


class Transaction(object):
    """The one write transaction (Store.writing): under the store lock, with
    an interrupted commit finished and the scratch directory cleared."""

    def __init__(self, layout, warnings, repair=None):
        """warnings: the store's, where a package left out of the repodata is
        said. repair: refresh's (persistrepo.store.repair.Repair), which sets aside
        what would refuse this write; a damaged journal is then set aside
        too, where any other write refuses it."""
        self.layout = layout
        self.warnings = warnings
        self.repair = repair
        self.quarantined = []  # (path, why, where it went), relative to the store
        self.lock = None
        self._identities = None  # of the loaded index's chunk files, read meanwhile

    def __enter__(self):
        layout = self.layout
        fsutil.check_ancestors(layout.root)
        for d in layout.dirs()[:2]:  # the store and its state: never set aside
            if os.path.lexists(d):
                fsutil.check_dir(d)
        if self.repair is not None:
            self.repair.set_aside_subdirs(self)
        for d in layout.dirs():  # refuse before anything is made
            if os.path.lexists(d):
                fsutil.check_dir(d)
        for d in layout.dirs():
            fsutil.ensure_dir(d)
        if self.repair is not None:
            self.repair.set_aside_unusable(self)
        self.lock = StoreLock(layout.lock)
        self.lock.__enter__()
        try:
            if os.path.lexists(layout.journal):
                self._finish_journal()
            fsutil.clear_dir(layout.tmp)
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def _finish_journal(self):
        try:
            journal = read_journal(self.layout)
        except UnsafeStore:
            if self.repair is None:
                raise
            self.quarantine(self.layout.journal, "a damaged journal")
            return
        self._apply(journal)

    def __exit__(self, *exc):
        self.lock.__exit__()

    def load_index(self):
        """The index as read under this lock; its entries are checked unless
        the last write vouches for it (persistrepo.store.checked). Its chunk
        files' identities, which write_repodata needs, are read from now on."""
        index = record.load_index(self.layout.index, checked.sound(self.layout).get("index"))
        self._identities = repodata.chunk_file_identities_meanwhile(
            self.layout, [e["sha256"] for e in index.packages.values()])
        return index

    def quarantine(self, path, why):
        """Set aside something the store cannot use; never delete it. Return
        where it went, relative to the store."""
        fsutil.ensure_dir(self.layout.quarantine)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = os.path.join(self.layout.quarantine,
                              "%s-%s" % (stamp, os.path.basename(path)))
        n = 0
        while os.path.lexists(target):
            n += 1
            target = os.path.join(self.layout.quarantine, "%s-%d-%s"
                                  % (stamp, n, os.path.basename(path)))
        os.rename(path, target)
        where = os.path.relpath(target, self.layout.root)
        self.quarantined.append((os.path.relpath(path, self.layout.root), why, where))
        return where

    def commit(self, adds, removes, index=None, chunks=None):
        """adds: [(staged_path, entry)]; removes: [filename]; index: the index
        as read under this lock (read again if not given); chunks: {sha256:
        chunks} made for the staged files, kept in chunks/ first. The staged
        files are fsynced with the journal, before it is renamed into place
        to name them: a hardlinked one (dnf's cache) may not be on disk yet."""
        if chunks:
            repodata.save_new_chunks(self.layout, chunks)
        if not adds and not removes:
            return
        if index is None:
            index = self.load_index()
        # What an add replaces (another build under the same file name) goes
        # to the trash like what a removal drops.
        replaced = [index.packages[e["filename"]] for _, e in adds
                    if e["filename"] in index.packages
                    and index.packages[e["filename"]]["sha256"] != e["sha256"]]
        orphans = [e for _, e in adds if e["filename"] not in index.packages
                   and os.path.lexists(self.layout.package(e["filename"]))]
        if removes or replaced or orphans:  # refuse before the journal: it must keep them
            trash.check(self.layout)
        journal = {"adds": [{"staged": os.path.basename(p), "entry": e} for p, e in adds],
                   "removes": sorted(set(removes)),
                   "removed_entries": [index.packages[n] for n in sorted(set(removes))
                                       if n in index.packages] + replaced}
        fsutil.write_many({self.layout.journal: json.dumps(journal).encode("utf-8")},
                          self.layout.tmp, sync_with=[p for p, _ in adds])
        self._apply(journal, index, chunks)

    def _apply(self, journal, index=None, chunks=None):
        """Carry out a journal; safe to repeat after a crash at any step."""
        if index is None:
            index = self.load_index()
        entries = dict((e["filename"], e) for e in journal.get("removed_entries", []))
        added, fresh = set(), []
        for item in journal["adds"]:
            entry = item["entry"]
            staged = self.layout.scratch(self.layout.tmp, item["staged"], "the journal")
            final = self.layout.package(entry["filename"], "the journal")
            if os.path.lexists(staged):
                old = index.packages.get(entry["filename"])
                if os.path.lexists(final) and (old is None or old["sha256"] != entry["sha256"]):
                    # Another build, or a file without provenance: kept, never overwritten.
                    fresh.append(trash.keep(self.layout, entry["filename"],
                                            entries.get(entry["filename"])))
                os.rename(staged, final)
            if fsutil.is_regular(final):
                index.packages[entry["filename"]] = entry
                added.add(entry["filename"])
        for name in journal["removes"]:
            if name not in added:
                index.packages.pop(name, None)
        index.generation += 1
        # The store's directory (the renames above) is fsynced with the
        # repodata's and the index's, after their files are renamed in and
        # before the journal goes: until then a crash leaves the journal,
        # and applying it again renames what is still staged and writes the
        # index and repodata anew, so no rename needs to be durable sooner.
        self.write_repodata(index, chunks, dirs=[self.layout.root])
        for name in journal["removes"]:
            if name not in index.packages:
                fresh.append(trash.keep(self.layout, name, entries.get(name)))
        trash.expire(self.layout, fresh=fresh)
        # A chunk file goes unused only where an entry went (removed or
        # replaced) or a chunk made here is of no entry added; others (a
        # crash's) wait for the next write that drops one, or refresh.
        if journal["removes"] or entries or chunks is None or \
                not set(chunks) <= set(index.packages[name]["sha256"] for name in added):
            self.drop_unused_chunks(index)
        fsutil.unlink_if_exists(self.layout.journal)

    def _chunks_of(self, entry, made):
        """The entry's chunks: made in this commit, else read from chunks/; a
        missing or damaged chunk is made again from the package; None (with
        a warning) if the package cannot give them."""
        if entry["sha256"] in made:
            return made[entry["sha256"]]
        try:
            return repodata.load_chunks(self.layout, entry["sha256"])
        except PersistError:
            pass
        path = self.layout.package(entry["filename"])
        try:
            info = rpmfile.read_package(path, store_file=True)
            if info.sha256 != entry["sha256"]:
                raise BadPackage("%s does not match its recorded sha256" % path)
            chunks = repodata.make_chunks(path, entry["filename"])
        except PersistError as e:
            self.warnings.append("%s is left out of the repodata: %s; run 'persistrepo "
                                 "verify'" % (entry["nevra"], e))
            return None
        repodata.save_chunks(self.layout, entry["sha256"], chunks, replace=True)
        return chunks

    def write_repodata(self, index, made=None, use_pack=True, dirs=()):
        """Write index, and repodata for it (index.json, the data files and
        repomd.xml are fsynced together, and their directories with dirs,
        as repodata.write does), from the packages' chunks: made in this write,
        else from chunks.pack where a chunk file is unchanged since the pack
        recorded it, else from chunks/ (refresh, use_pack=False, reads every
        file). The chunk files this write checked or wrote go to the pack:
        appended to a sound pack, unless its records no longer used would
        then be more than a quarter of it; else the pack is written anew."""
        made = made or {}
        packed, records = repodata.load_pack(self.layout, checked.sound(self.layout).get(
            "pack")) if use_pack else ({}, 0)
        docs, kept, fresh = [], [], []
        entries = index.entries()
        # Only this write changes chunk files, and the ones it changes
        # before the repodata are of packages it made chunks for (made).
        identities = self._identities() if use_pack and self._identities else {}
        self._identities = None
        unknown = [e["sha256"] for e in entries if e["sha256"] not in identities]
        identities.update(zip(unknown, repodata.chunk_file_identities(self.layout, unknown)))
        for e in entries:
            sha256 = e["sha256"]
            identity = identities[sha256]
            hit = packed.get(sha256)
            if sha256 not in made and hit is not None and hit[0] == identity:
                docs.append(hit[1])
                kept.append((sha256, identity, hit[1]))
                continue
            chunks = self._chunks_of(e, made)
            if chunks is None:
                continue
            identity = repodata.chunk_file_identity(self.layout, sha256)
            if sha256 in made and (identity is None or identity.rsplit(".", 1)[1] !=
                                   str(len(repodata.chunk_file(chunks)))):
                identity = None  # a file this write did not make: the next one reads it
            docs.append(chunks)
            if identity is not None:
                fresh.append((sha256, identity, chunks))
        repodata.write(self.layout, docs, index.generation, modulemd.yaml(entries),
                       also=lambda: {self.layout.index: index.to_bytes()}, dirs=dirs)
        if not records or 4 * (records - len(kept)) > records + len(fresh):
            pack_sound = repodata.save_pack(self.layout, kept + fresh)
        else:  # appended to a sound pack, or left as it is
            pack_sound = not fresh or repodata.save_pack(self.layout, fresh, append=True)
        checked.record(self.layout, ("index", "pack") if pack_sound else ("index",))

    def drop_unused_chunks(self, index):
        used = set(e["sha256"] + ".xml" for e in index.packages.values())
        for name in set(os.listdir(self.layout.chunks)) - used:
            path = os.path.join(self.layout.chunks, name)
            if names.is_chunk_file(name) and fsutil.is_regular(path):
                fsutil.unlink_if_exists(path)
