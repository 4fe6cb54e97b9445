"""The persisted-package store: a createrepo_c repository plus a provenance record.

Every write runs under the store lock and as one journalled commit:
stage files and chunks in .persistrepo/tmp, write the journal, then apply it
(rename files into place, write index.json, write repodata, unlink what went
away). A crash at any point leaves either the old state or a journal that the
next write (or refresh) rolls forward. Nothing read from the store's own
files is trusted before it is checked (docs/store-format.md, "Trust").
"""

import json
import os
import time

from persistrepo import (compat, failures, fsutil, incoming, modules, names, pgp, record,
                         repodata, rpmfile, specs, trash)
from persistrepo.errors import BadPackage, NoMatch, PersistError, UnsafeStore, UsageError
from persistrepo.layout import FOREIGN, STATE_DIR, Layout
from persistrepo.lock import StoreLock


class Candidate(object):
    """A file to persist and what is known of where it came from."""

    def __init__(self, path, method="cli", origin=None, reason="user", supersede=False,
                 module=None, installed=None, root_owned=False, installed_in=None,
                 persisted_at=None):
        """installed: the rpmdb's compat.header_identity of the build a
        transaction installed; the file must prove to be it (capture).
        installed_in: a root whose rpmdb must hold the file's own build
        (`dnf persist add`, which fetches the installed NEVRA from a repo).
        root_owned: as root, take only a file that root owns and nobody
        else may write (import from another tool's store).
        persisted_at: kept from another store (pull), else now."""
        self.path = path
        self.installed = installed
        self.installed_in = installed_in
        self.root_owned = root_owned
        self.persisted_at = persisted_at
        self.module = module
        self.method = method
        self.origin = origin
        self.reason = reason
        self.supersede = supersede



def _installed_build(req):
    """The rpmdb's identity of the build a queued add request names (BadPackage
    if its root does not hold it): what the queued file must prove to be."""
    name, root = names.parse_nevra(req["nevra"])[0], req["installroot"]
    if not os.path.isdir(compat.rpmdb_dir(root)):  # rpm would make an empty one
        raise BadPackage("%s has no rpm database to check it against" % root)
    try:
        build = compat.installed_identities(root, [name]).get(req["nevra"])
    except Exception as e:  # rpm.error from a damaged rpmdb: one line, no traceback
        raise BadPackage("cannot read the rpm database of %s (%s)" % (root, e))
    if build is None:
        raise BadPackage("the rpm database of %s does not hold %s" % (root, req["nevra"]))
    return build

class AddResult(object):
    """What one add did: entries added, replaced (same NEVRA, new checksum),
    unchanged, and failures; signers: the key ids of the signed packages in
    the store after it (for keep_signing_keys, without reading the index again);
    warnings: what the admin should know that failed nothing."""

    def __init__(self):
        self.added = []
        self.replaced = []
        self.unchanged = []
        self.failed = []
        self.signers = None
        self.warnings = []


class Changed(object):
    """What remove, prune or restore did: the entries dropped (or put back),
    and warnings as in AddResult."""

    def __init__(self, entries, warnings=()):
        self.entries = entries
        self.warnings = list(warnings)


def _signers(entries):
    return set(e["key_id"] for e in entries if e["signed"])


class _Plan(object):
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


class Store(object):
    def __init__(self, root):
        if not root:
            raise UsageError("the store path is empty; pass --store DIR")
        self.layout = Layout(root)
        # What the running operation has to say: a write hands them over in
        # its result; keys() leaves them for its caller (verify, replay).
        self.warnings = []

    # -- what is at the path ---------------------------------------------

    def exists(self):
        return os.path.lexists(self.layout.root)

    def is_store(self):
        return os.path.isdir(self.layout.state) and not os.path.islink(self.layout.state)

    def _is_blank(self):
        """An absent path or an empty directory: a store may be made there."""
        if not self.exists():
            return True
        return os.path.isdir(self.layout.root) and not os.path.islink(self.layout.root) \
            and not self.layout.entries()

    def require(self):
        """Refuse a path that holds neither a store nor nothing (an existing
        empty directory, as the package ships it, is an empty store)."""
        fsutil.check_ancestors(self.layout.root)
        if os.path.islink(self.layout.state):
            raise UnsafeStore("%s is a symlink; the store never follows symlinks. Check who "
                              "made it, and make it a real directory" % self.layout.state)
        if self.is_store():
            self._check_safe()
            return
        if self.exists() and self._is_blank():
            fsutil.check_dir(self.layout.root)
            return
        if not self.exists():
            raise UsageError("no store at %s; check --store (or persist_dir)" % self.layout.root)
        raise UsageError("%s is not a persistrepo store (it has no %s/); check --store, or take "
                         "the directory over with 'persistrepo refresh --adopt'"
                         % (self.layout.root, STATE_DIR))

    def _check_safe(self):
        fsutil.check_ancestors(self.layout.root)
        for d in self.layout.dirs():
            if os.path.lexists(d):
                fsutil.check_dir(d)

    # -- reading ---------------------------------------------------------

    def entries(self):
        """Provenance entries sorted by file name."""
        self.require()
        return record.load_index(self.layout.index).entries()

    def key_files(self):
        """{key_id: path} of the public keys kept for signed packages (only
        regular files with a key id name; verify reports anything else)."""
        if not os.path.isdir(self.layout.keys):
            return {}
        found = {}
        for name in sorted(os.listdir(self.layout.keys)):
            key_id = name[:-4]
            if names.is_key_file(name):
                path = self.layout.key(key_id)
                if fsutil.is_regular(path):
                    found[key_id] = path
        return found

    def keys(self):
        """{key_id: armored public key} of the kept keys that can be trusted."""
        found = {}
        for key_id, path in self.key_files().items():
            try:
                found[key_id] = fsutil.read_store_file(path).decode("ascii", "replace")
            except PersistError as e:
                self.warnings.append(str(e))
        return found

    def reading(self):
        """A shared lock for a reader that needs a stable view, where it can
        have one (see lock.StoreLock.shared)."""
        return StoreLock(self.layout.lock, shared=True)

    # -- the commit machinery --------------------------------------------

    def writing(self, create=False, adopt=False, repair=None):
        """The write transaction: check the store (with create, make one in an
        absent or empty directory; with adopt, in any directory), take the
        lock, finish an interrupted commit, clear the scratch directory. With
        repair (refresh's report), a damaged journal is set aside."""
        return _Writing(self, create, adopt, repair)

    def _read_journal(self):
        """The interrupted commit's journal, checked name by name."""
        source = "the journal %s" % self.layout.journal
        try:
            doc = fsutil.load_json(fsutil.read_store_file(self.layout.journal))
            adds, removes = doc["adds"], doc["removes"]
            removed_entries = doc.get("removed_entries", [])
            for item in adds:
                record.check_entry(item["entry"])
                self.layout.scratch(self.layout.tmp, item["staged"], source)
            for name in removes:
                self.layout.package(name, source)
            for entry in removed_entries:
                record.check_entry(entry)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
            raise UnsafeStore("%s is damaged (%s); run 'persistrepo refresh', which sets "
                              "it aside" % (self.layout.journal, e))
        return {"adds": adds, "removes": removes, "removed_entries": removed_entries}

    def _commit(self, adds, removes, index=None, chunks=None):
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
            index = record.load_index(self.layout.index)
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
            index = record.load_index(self.layout.index)
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
        fsutil.fsync_dir(self.layout.root)
        for name in journal["removes"]:
            if name not in added:
                index.packages.pop(name, None)
        index.generation += 1
        self._write_repodata(index, chunks)
        for name in journal["removes"]:
            if name not in index.packages:
                fresh.append(trash.keep(self.layout, name, entries.get(name)))
        trash.expire(self.layout, fresh=fresh)
        self._drop_unused_chunks(index)
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

    def _write_repodata(self, index, made=None, use_pack=True):
        """Write index, and repodata for it (index.json and the data files are
        fsynced together), from the packages' chunks: made in this write,
        else from chunks.pack where a chunk file is unchanged since the pack
        recorded it, else from chunks/ (refresh, use_pack=False, reads every
        file). The chunk files this write checked or wrote go to the pack:
        appended to a sound pack, unless its records no longer used would
        then be more than a quarter of it; else the pack is written anew."""
        made = made or {}
        packed, records = repodata.load_pack(self.layout) if use_pack else ({}, 0)
        docs, kept, fresh = [], [], []
        for e in index.entries():
            sha256 = e["sha256"]
            identity = repodata.chunk_file_identity(self.layout, sha256)
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
        repodata.write(self.layout, docs, index.generation, modules.yaml(index.entries()),
                       also={self.layout.index: index.to_bytes()})
        if not records or 4 * (records - len(kept)) > records + len(fresh):
            repodata.save_pack(self.layout, kept + fresh)
        elif fresh:
            repodata.save_pack(self.layout, fresh, append=True)

    def _drop_unused_chunks(self, index):
        used = set(e["sha256"] + ".xml" for e in index.packages.values())
        for name in os.listdir(self.layout.chunks):
            path = os.path.join(self.layout.chunks, name)
            if name not in used and names.is_chunk_file(name) and fsutil.is_regular(path):
                fsutil.unlink_if_exists(path)

    def _stage(self, plan, path, origin_path=None, cand=None):
        """Copy path into tmp, check the copy (against cand.installed, the
        build rpm installed) and make its chunks (into plan.chunks): (staged,
        info). The checks read the private copy, taken from the one open of
        path, so nothing can swap the file between check and copy."""
        staged, _ = fsutil.stage_file(path, self.layout.tmp, sync=False,
                                      root_owned=cand is not None and cand.root_owned)
        try:
            info = rpmfile.read_package(staged)
            installed = cand.installed if cand is not None else None
            if installed is None and cand is not None and cand.installed_in is not None:
                installed = compat.installed_identities(cand.installed_in, [info.name]).get(
                    info.identity["nevra"])
                if installed is None:
                    raise BadPackage("%s is %s, which is not installed in %s"
                                     % (staged, info.identity["nevra"], cand.installed_in))
            if installed is not None:
                why = compat.same_build(info.identity, installed)
                if why:
                    raise BadPackage("%s is not the %s that rpm installed: %s; a file changed "
                                     "after rpm read it is never stored"
                                     % (staged, installed["nevra"], why))
            href = record.filename(info.name, info.version, info.release, info.arch)
            chunks = repodata.make_chunks(staged, href)
        except BadPackage as e:
            fsutil.unlink_if_exists(staged)
            raise BadPackage(str(e).replace(staged, origin_path or path))
        plan.chunks[info.sha256] = chunks
        return staged, info

    def _quarantine(self, path, why, report):
        """Set aside something the store cannot use; never delete it."""
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
        report["quarantined"].append((os.path.relpath(path, self.layout.root), why,
                                      os.path.relpath(target, self.layout.root)))

    # -- operations ------------------------------------------------------

    def _handed_over(self):
        """The warnings gathered so far, for the operation's result."""
        warnings, self.warnings = self.warnings, []
        return warnings

    def add(self, candidates, all_or_nothing=True):
        """Persist files. Same NEVRA and checksum is a no-op; same NEVRA with a
        new checksum replaces the stored file. With all_or_nothing, one bad
        file adds nothing; otherwise bad files are reported in result.failed."""
        result = AddResult()
        with self.writing(create=True):
            self._ingest_locked()
            plan = _Plan(record.load_index(self.layout.index))
            for cand in candidates:
                staged = None
                try:
                    staged, info = self._stage(plan, cand.path, cand=cand)
                    entry = record.make_entry(info, cand.method, cand.origin, cand.reason,
                                              cand.persisted_at, module=cand.module)
                except (BadPackage, OSError, IOError) as e:
                    if staged is not None:
                        fsutil.unlink_if_exists(staged)
                    if all_or_nothing:
                        raise _as_persist_error(e, cand.path)
                    result.failed.append((cand, _as_persist_error(e, cand.path)))
                    continue
                final = self.layout.package(entry["filename"])
                if os.path.lexists(final) and not fsutil.is_regular(final):
                    fsutil.unlink_if_exists(staged)
                    err = BadPackage("%s is in the way of %s (not a regular file); run "
                                     "'persistrepo refresh', which sets it aside"
                                     % (final, entry["nevra"]))
                    if all_or_nothing:
                        raise err
                    result.failed.append((cand, err))
                    continue
                old = plan.batch.get(entry["filename"]) or \
                    plan.index.packages.get(entry["filename"])
                vouched = False
                if old is not None and old["sha256"] == entry["sha256"]:
                    if old["method"] == "refresh" and cand.method != "refresh":
                        vouched = True  # adopted, provenance unknown: now it is known
                    elif cand.module is None or old.get("module") == cand.module:
                        result.unchanged.append(old)
                        fsutil.unlink_if_exists(staged)
                        continue
                    else:  # the same file, now known to come from a module stream
                        entry = dict(old, module=cand.module)
                (result.replaced if old is not None and not vouched
                 else result.added).append(entry)
                plan.add(staged, info, entry, cand.supersede)
            self._commit(plan.adds, plan.removes, plan.index, plan.chunks)
            result.signers = _signers(plan.index.packages.values())
        result.warnings = self._handed_over()
        return result

    def remove(self, spec_list, missing_ok=False, dry_run=False, literal=False):
        """Drop the entries the specs select (their files are kept for
        restore); a spec that matches nothing is an error and then nothing is
        removed (unless missing_ok); a Changed with them. With dry_run, only
        say what would go.
        literal: the specs are names from a transaction or the store, never
        globs (specs.select)."""
        if dry_run:
            return Changed(self._matching(spec_list, self.entries(), missing_ok, literal))
        with self.writing():
            self._ingest_locked()
            index = record.load_index(self.layout.index)
            chosen = self._matching(spec_list, index.entries(), missing_ok, literal)
            self._commit([], [e["filename"] for e in chosen], index)
        return Changed(chosen, self._handed_over())

    @staticmethod
    def _matching(spec_list, entries, missing_ok, literal=False):
        chosen, unmatched = specs.select(spec_list, entries, literal)
        if unmatched and not missing_ok:
            raise NoMatch("no persisted package matches %s"
                          % ", ".join(repr(s) for s in unmatched))
        return chosen

    def prune(self, keep=1, installonly_keep=3, dry_run=False):
        """Keep the newest `keep` versions of each name.arch (installonly
        packages keep `installonly_keep`); a Changed with the dropped entries. With
        dry_run, only say what would go."""
        if dry_run:
            return Changed(_surplus(self.entries(), keep, installonly_keep))
        with self.writing():
            self._ingest_locked()
            index = record.load_index(self.layout.index)
            dropped = _surplus(index.entries(), keep, installonly_keep)
            self._commit([], [e["filename"] for e in dropped], index)
        return Changed(dropped, self._handed_over())

    def removed(self):
        """Entries of the package files kept after removal, newest first."""
        self.require()
        return [e for e, _ in trash.kept(self.layout)]

    def restore(self, spec_list):
        """Put removed packages back with their provenance: a Changed with their entries."""
        with self.writing():
            kept = trash.kept(self.layout)
            chosen, unmatched = specs.select(spec_list, [e for e, _ in kept])
            if unmatched:
                raise NoMatch("no removed package matches %s; see 'persistrepo list "
                              "--removed'" % ", ".join(repr(s) for s in unmatched))
            wanted = set(e["filename"] for e in chosen)
            index = record.load_index(self.layout.index)
            picked = []
            for entry, slot in kept:  # newest first: one slot per file name
                if entry["filename"] in wanted:
                    picked.append((entry, slot))
                    wanted.discard(entry["filename"])
            for entry, slot in picked:  # refuse before anything moves
                self._restorable(entry, slot, index)
            adds, slots = [], []
            try:
                for entry, slot in picked:
                    if entry["filename"] not in index.packages:
                        adds.append((trash.take(self.layout, slot, entry), entry))
                        slots.append(slot)
            except BaseException:
                for (staged, entry), slot in zip(adds, slots):  # back where they were
                    os.rename(staged, os.path.join(slot, entry["filename"]))
                raise
            self._commit(adds, [], index)
            for slot in slots:
                trash.forget(self.layout, slot)
        return Changed([e for _, e in adds], self._handed_over())

    def _restorable(self, entry, slot, index):
        """Refuse (PersistError) to restore entry from slot over anything: a
        different build stored under its name, or a file the record does
        not know; and a kept copy that is damaged."""
        name = entry["filename"]
        stored = index.packages.get(name)
        where = os.path.relpath(os.path.join(slot, name), self.layout.root)
        if stored is not None:
            if stored["sha256"] == entry["sha256"]:
                self.warnings.append("%s is persisted already (the same build); nothing to "
                                     "restore" % entry["nevra"])
            else:
                raise PersistError("cannot restore %s: a different build of it is stored "
                                   "(sha256 %s) and stays; to store the kept build instead, "
                                   "run 'persistrepo add %s' (the stored one then goes to "
                                   "the removed packages)"
                                   % (entry["nevra"], stored["sha256"][:12],
                                      os.path.join(slot, name)))
            return
        if os.path.lexists(self.layout.package(name)):
            raise PersistError("cannot restore %s: %s is there already but not in the "
                               "provenance record; run 'persistrepo refresh' (it adopts the "
                               "file or sets it aside); the kept copy stays in %s"
                               % (entry["nevra"], self.layout.package(name), where))
        kept_file = os.path.join(slot, name)
        try:
            info = rpmfile.read_package(kept_file, store_file=True)
        except PersistError as e:
            raise PersistError("cannot restore %s: the kept copy is corrupt (%s); it stays in %s"
                               % (entry["nevra"], e, where))
        if info.sha256 != entry["sha256"] or info.size != entry["size"]:
            raise PersistError("cannot restore %s: the kept copy is corrupt (its sha256 is not "
                               "the recorded one); it stays in %s" % (entry["nevra"], where))

    def add_key(self, key_id, armored):
        """Keep the ASCII-armored public key that verifies packages signed by key_id."""
        with self.writing(create=True):
            path = self.layout.key(key_id.lower(), "the caller")
            if not os.path.lexists(path):
                fsutil.write_atomic(path, armored, self.layout.tmp)

    def keep_signing_keys(self, installroot="/", signers=None):
        """Keep the key of every signed package the store lacks a key for, from
        installroot's gpg-pubkeys; return the key ids still missing (the rpmdb
        does not have them either). signers: the key ids of the stored
        packages, as an add just left them (AddResult.signers); read from the
        index if not given."""
        if signers is None:
            signers = _signers(self.entries())
        wanted = set(signers) - set(self.key_files())
        if not wanted:
            return []
        available = compat.installed_pubkeys(installroot)
        missing = []
        for key_id in sorted(wanted):
            armored = pgp.find_key(available, key_id)
            if armored is None:
                missing.append(key_id)
            else:
                self.add_key(key_id, armored.encode("utf-8"))
        return missing

    def ingest(self):
        """Take in what the yum plugin staged in .persistrepo/incoming."""
        with self.writing(create=True):
            result = self._ingest_locked()
        result.warnings = self._handed_over()
        return result

    def _ingest_locked(self, report=None):
        requests = incoming.pending(self.layout)
        if not requests:
            return AddResult()
        plan = _Plan(record.load_index(self.layout.index))
        result = AddResult()
        handled = []
        for req in requests:
            if req["op"] == "invalid":
                why = "unusable request %s in %s (%s)" % (req["_token"], self.layout.incoming,
                                                          req["why"])
                if report is None:
                    result.failed.append((req, PersistError(why + "; 'persistrepo refresh' "
                                                            "sets it aside")))
                else:
                    for path in incoming.files_of(self.layout, req["_token"]):
                        self._quarantine(path, why, report)
                continue
            handled.append(req)
            if req["op"] == "remove":
                chosen, _ = specs.select([req["spec"]], plan.index.entries(), literal=True)
                plan.removes.extend(e["filename"] for e in chosen)
                continue
            src = incoming.package_of(self.layout, req)
            staged = None
            try:
                staged, info = self._stage(plan, src, cand=Candidate(
                    src, installed=_installed_build(req)))
                entry = record.make_entry(info, req["method"], req["origin"], req["reason"],
                                          req["persisted_at"])
            except BadPackage as e:
                # Never trusted, never retried: set aside, recorded for status.
                handled.remove(req)
                result.failed.append((req, self._refuse_queued(req, e, report)))
                continue
            except (OSError, IOError) as e:
                if staged is not None:
                    fsutil.unlink_if_exists(staged)
                result.failed.append((req, _as_persist_error(e, src)))
                continue
            if entry["filename"] in plan.batch:
                continue
            result.added.append(entry)
            plan.add(staged, info, entry, req["supersede"])
        self._commit(plan.adds, plan.removes, plan.index, plan.chunks)
        incoming.done(self.layout, handled)
        return result

    def _refuse_queued(self, req, err, report):
        """Set aside a queued add whose file is not the build its rpmdb holds,
        and record the failure where status finds it: the PersistError."""
        aside = report if report is not None else {"quarantined": []}
        for path in incoming.files_of(self.layout, req["_token"]):
            self._quarantine(path, str(err), aside)
        where = [new for old, _, new in aside["quarantined"] if old.endswith(".rpm")]
        why = "refused queued %s: %s%s" % (req["nevra"], err, "; set aside as %s" % where[-1]
                                           if where else "")
        name = names.parse_nevra(req["nevra"])[0]
        root = req["installroot"]
        fix = "yum %sreinstall %s" % ("" if root == "/" else "--installroot=%s "
                                      % compat.shell_quote(root), compat.shell_quote(name))
        failures.record(failures.path_for(root), [(req["nevra"], why, fix)], req["method"],
                        self.layout.root)
        return PersistError(why)

    def refresh(self, adopt=False):
        """Repair: rebuild index and repodata from the package files. Known
        files keep their provenance; unknown ones are recorded with method
        'refresh'; whatever cannot be used is moved to .persistrepo/quarantine.
        With adopt, a directory that is not yet a store becomes one (an old
        repodata/ is kept as repodata.before-persistrepo/). The report's
        warnings are as AddResult's."""
        report = {"adopted": [], "dropped": [], "quarantined": [], "repodata_kept": None}
        kept = None
        if adopt and not self.is_store() and os.path.isdir(self.layout.repodata) \
                and not os.path.islink(self.layout.repodata):
            kept = self.layout.kept_repodata
            if os.path.lexists(kept):
                raise UsageError("%s exists already; move it away first" % kept)
        # writing() checks everything it can refuse before it changes anything;
        # only then is the old repodata moved aside.
        with self.writing(adopt=adopt, repair=report):
            if kept is not None:
                os.rename(self.layout.repodata, kept)
                fsutil.ensure_dir(self.layout.repodata)
                report["repodata_kept"] = os.path.basename(kept)
            self._ingest_locked(report)
            try:
                old = record.load_index(self.layout.index)
            except PersistError as err:
                old = record.Index(packages=dict((e["filename"], e) for e in
                                                 record.salvage(self.layout.index)))
                self._quarantine(self.layout.index, str(err), report)
            by_sha = dict((e["sha256"], e) for e in old.packages.values())
            index = record.Index(old.generation)
            for name in sorted(os.listdir(self.layout.root)):
                entry = self._refresh_one(name, by_sha, report)
                if entry is not None:
                    index.packages[name] = entry
            report["dropped"] = [e for n, e in sorted(old.packages.items())
                                 if n not in index.packages]
            for path in self.layout.foreign():
                self._quarantine(path, FOREIGN, report)
            self._set_aside_strays(self.layout.chunks, names.is_chunk_file, report)
            self._set_aside_strays(self.layout.repodata, lambda name: True, report)
            self._set_aside_strays(self.layout.keys, names.is_key_file, report)
            for key_id, path in self.key_files().items():
                try:
                    pgp.key_ids(fsutil.read_store_file(path))
                except (PersistError, ValueError) as e:
                    self._quarantine(path, "not a usable public key (%s)" % e, report)
            if os.path.lexists(self.layout.chunk_pack) and \
                    not fsutil.is_regular(self.layout.chunk_pack):
                self._quarantine(self.layout.chunk_pack, "not a regular file", report)
            index.generation += 1
            self._write_repodata(index, use_pack=False)
            self._drop_unused_chunks(index)
        report["warnings"] = self._handed_over()
        return report

    def _refresh_one(self, name, by_sha, report):
        """The entry for one name in the store directory, or None."""
        path = os.path.join(self.layout.root, name)
        if not name.endswith(".rpm"):
            return None
        if not fsutil.is_regular(path) or not names.is_package_file(name):
            self._quarantine(path, "not a regular package file", report)
            return None
        try:
            info = rpmfile.read_package(path, store_file=True)
            href = record.filename(info.name, info.version, info.release, info.arch)
            if href != name:
                raise BadPackage("its file name should be %s" % href)
            repodata.save_chunks(self.layout, info.sha256, repodata.make_chunks(path, href),
                                 replace=True)
        except PersistError as e:
            self._quarantine(path, str(e), report)
            return None
        known = by_sha.get(info.sha256)
        if known is None:
            known = record.make_entry(info, "refresh")
            report["adopted"].append(known)
        return known

    def _set_aside_strays(self, directory, wanted, report):
        """Quarantine what a store directory should not hold: anything but
        regular files with a name the store gives them there."""
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if not fsutil.is_regular(path) or not wanted(name):
                self._quarantine(path, "not a file the store writes here", report)

    def verify(self, check_signatures=True):
        """Every problem found (persistrepo.verify)."""
        from persistrepo import verify
        return verify.run(self, check_signatures)


class _Writing(object):
    """Store.writing(): the one write transaction."""

    def __init__(self, store, create, adopt, repair):
        self.store = store
        self.create = create or adopt
        self.adopt = adopt
        self.repair = repair
        self.lock = None

    def __enter__(self):
        store, layout = self.store, self.store.layout
        if not store.is_store():
            if store.exists() and not store._is_blank() and not self.adopt:
                store.require()  # says why this directory is not a store
            if not self.create:
                raise UsageError("%s holds no store yet: nothing is persisted there"
                                 % layout.root if store.exists() else
                                 "no store at %s; check --store (or persist_dir)" % layout.root)
        fsutil.check_ancestors(layout.root)
        for d in layout.dirs()[:2]:  # the store and its state: never set aside
            if os.path.lexists(d):
                fsutil.check_dir(d)
        if self.repair is not None and store.is_store():
            self._set_aside_subdirs()
        for d in layout.dirs():  # refuse before anything is made
            if os.path.lexists(d):
                fsutil.check_dir(d)
        for d in layout.dirs():
            fsutil.ensure_dir(d)
        if self.repair is not None:
            self._set_aside_unusable()
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

    def _set_aside_subdirs(self):
        """refresh: a symlink or a file where the store keeps a directory of
        its own (repodata/, chunks/, ...) is set aside; the next step makes
        the directory again."""
        layout = self.store.layout
        for d in layout.dirs()[2:]:
            if os.path.lexists(d) and (os.path.islink(d) or not os.path.isdir(d)):
                self.store._quarantine(d, "not a directory of the store", self.repair)

    def _set_aside_unusable(self):
        """refresh: a lock or removed/ of the wrong kind (a FIFO, a symlink)
        would refuse every write; set it aside."""
        layout = self.store.layout
        if os.path.lexists(layout.lock) and not fsutil.is_regular(layout.lock):
            self.store._quarantine(layout.lock, "not a regular file", self.repair)
        if os.path.lexists(layout.removed) and (os.path.islink(layout.removed) or
                                                not os.path.isdir(layout.removed)):
            self.store._quarantine(layout.removed, "not a directory", self.repair)
        for path in trash.strays(layout):
            self.store._quarantine(path, "not a slot of removed packages", self.repair)

    def _finish_journal(self):
        store = self.store
        try:
            journal = store._read_journal()
        except UnsafeStore:
            if self.repair is None:
                raise
            store._quarantine(store.layout.journal, "a damaged journal", self.repair)
            return
        store._apply(journal)

    def __exit__(self, *exc):
        self.lock.__exit__()


def _surplus(entries, keep, installonly_keep):
    """Entries beyond the newest keep (installonly: installonly_keep) per name.arch."""
    groups = {}
    for e in entries:
        groups.setdefault((e["name"], e["arch"]), []).append(e)
    dropped = []
    for group in groups.values():
        limit = max(keep, installonly_keep) if group[0]["installonly"] else keep
        dropped.extend(compat.newest_first(group)[limit:])
    return sorted(dropped, key=lambda e: e["filename"])


def _as_persist_error(e, path):
    if isinstance(e, PersistError):
        return e
    return PersistError("%s: %s" % (path, getattr(e, "strerror", None) or e))
