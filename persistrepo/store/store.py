"""The persisted-package store: a createrepo_c repository plus a provenance record.

A Store checks what is at its path and runs the operations (add, remove,
prune, restore, ingest), each in one write transaction (persistrepo.store.writing).
Its kept keys are persistrepo.store.keys'; refresh, which repairs it, sits above it
in persistrepo.store.repair.
"""

import os

from persistrepo import fsutil, names, specs
from persistrepo.compat import headers, rpmdb, stdlib, versions
from persistrepo.errors import BadPackage, NoMatch, PersistError, UnsafeStore, UsageError
from persistrepo.store import failures, incoming, record, repodata, rpmfile, trash
from persistrepo.store.keys import signers_of
from persistrepo.store.layout import STATE_DIR, Layout
from persistrepo.store.lock import StoreLock
from persistrepo.store.writing import Plan, Transaction


class Candidate(object):
    """A file to persist and what is known of where it came from."""

    def __init__(self, path, method="cli", origin=None, reason="user", supersede=False,
                 module=None, installed=None, root_owned=False, installed_in=None,
                 persisted_at=None):
        """installed: the rpmdb's headers.header_identity of the build a
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
    if not os.path.isdir(rpmdb.rpmdb_dir(root)):  # rpm would make an empty one
        raise BadPackage("%s has no rpm database to check it against" % root)
    try:
        build = rpmdb.installed_identities(root, [name]).get(req["nevra"])
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

    def reading(self):
        """A shared lock for a reader that needs a stable view, where it can
        have one (see lock.StoreLock.shared)."""
        return StoreLock(self.layout.lock, shared=True)

    # -- writing ---------------------------------------------------------

    def writing(self, create=False, adopt=False, repair=None):
        """The write transaction (persistrepo.store.writing.Transaction), once the
        store is checked: with create, one is made in an absent or empty
        directory; with adopt, in any directory. repair: refresh's
        (persistrepo.store.repair.Repair)."""
        if not self.is_store():
            if self.exists() and not self._is_blank() and not adopt:
                self.require()  # says why this directory is not a store
            if not (create or adopt):
                raise UsageError("%s holds no store yet: nothing is persisted there"
                                 % self.layout.root if self.exists() else
                                 "no store at %s; check --store (or persist_dir)"
                                 % self.layout.root)
        return Transaction(self.layout, self.warnings, repair)

    def _stage(self, plan, path, origin_path=None, cand=None, read_ahead=None):
        """Copy path into tmp, check the copy (against cand.installed, the
        build rpm installed) and make its chunks (into plan.chunks): (staged,
        info). The checks read the private copy, taken from the one open of
        path, so nothing can swap the file between check and copy; or, for
        a hardlink, what read_ahead (a read_ahead.ReadAhead) read of that
        inode as it still is."""
        staged, method, source = fsutil.stage_file(
            path, self.layout.tmp, sync=False, root_owned=cand is not None and cand.root_owned)
        try:
            ahead = read_ahead.take(source) if read_ahead and method == "hardlink" else None
            info, chunks = ahead or (rpmfile.read_package(staged), None)
            installed = cand.installed if cand is not None else None
            if installed is None and cand is not None and cand.installed_in is not None:
                installed = rpmdb.installed_identities(cand.installed_in, [info.name]).get(
                    info.identity["nevra"])
                if installed is None:
                    raise BadPackage("%s is %s, which is not installed in %s"
                                     % (staged, info.identity["nevra"], cand.installed_in))
            if installed is not None:
                why = headers.same_build(info.identity, installed)
                if why:
                    raise BadPackage("%s is not the %s that rpm installed: %s; a file changed "
                                     "after rpm read it is never stored"
                                     % (staged, installed["nevra"], why))
            if chunks is None:
                href = record.filename(info.name, info.version, info.release, info.arch)
                chunks = repodata.make_chunks(staged, href)
        except BadPackage as e:
            fsutil.unlink_if_exists(staged)
            raise BadPackage(str(e).replace(staged, origin_path or path))
        plan.chunks[info.sha256] = chunks
        return staged, info

    # -- operations ------------------------------------------------------

    def handed_over(self):
        """The warnings gathered so far (by the store and its write
        transaction, which share the list), for the operation's result."""
        warnings = list(self.warnings)
        del self.warnings[:]
        return warnings

    def add(self, candidates, all_or_nothing=True, read_ahead=None):
        """Persist files. Same NEVRA and checksum is a no-op; same NEVRA with a
        new checksum replaces the stored file. With all_or_nothing, one bad
        file adds nothing; otherwise bad files are reported in result.failed.
        read_ahead: a read_ahead.ReadAhead of (some of) the files."""
        result = AddResult()
        with self.writing(create=True) as txn:
            self.ingest(txn)
            plan = Plan(txn.load_index())
            for cand in candidates:
                staged = None
                try:
                    staged, info = self._stage(plan, cand.path, cand=cand,
                                               read_ahead=read_ahead)
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
            txn.commit(plan.adds, plan.removes, plan.index, plan.chunks)
            result.signers = signers_of(plan.index.packages.values())
        result.warnings = self.handed_over()
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
        with self.writing() as txn:
            self.ingest(txn)
            index = txn.load_index()
            chosen = self._matching(spec_list, index.entries(), missing_ok, literal)
            txn.commit([], [e["filename"] for e in chosen], index)
        return Changed(chosen, self.handed_over())

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
        with self.writing() as txn:
            self.ingest(txn)
            index = txn.load_index()
            dropped = _surplus(index.entries(), keep, installonly_keep)
            txn.commit([], [e["filename"] for e in dropped], index)
        return Changed(dropped, self.handed_over())

    def removed(self):
        """Entries of the package files kept after removal, newest first."""
        self.require()
        return [e for e, _ in trash.kept(self.layout)]

    def restore(self, spec_list):
        """Put removed packages back with their provenance: a Changed with their entries."""
        with self.writing() as txn:
            kept = trash.kept(self.layout)
            chosen, unmatched = specs.select(spec_list, [e for e, _ in kept])
            if unmatched:
                raise NoMatch("no removed package matches %s; see 'persistrepo list "
                              "--removed'" % ", ".join(repr(s) for s in unmatched))
            wanted = set(e["filename"] for e in chosen)
            index = txn.load_index()
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
            txn.commit(adds, [], index)
            for slot in slots:
                trash.forget(self.layout, slot)
        return Changed([e for _, e in adds], self.handed_over())

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

    def ingest(self, txn=None):
        """Take in what the yum plugin staged in .persistrepo/incoming; within
        txn, an open write transaction, if given. In refresh's (txn.repair),
        an unusable request is set aside, else it is a failure."""
        if txn is None:
            with self.writing(create=True) as txn:
                result = self.ingest(txn)
            result.warnings = self.handed_over()
            return result
        requests = incoming.pending(self.layout)
        if not requests:
            return AddResult()
        plan = Plan(txn.load_index())
        result = AddResult()
        handled = []
        for req in requests:
            if req["op"] == "invalid":
                why = "unusable request %s in %s (%s)" % (req["_token"], self.layout.incoming,
                                                          req["why"])
                if txn.repair is None:
                    result.failed.append((req, PersistError(why + "; 'persistrepo refresh' "
                                                            "sets it aside")))
                else:
                    for path in incoming.files_of(self.layout, req["_token"]):
                        txn.quarantine(path, why)
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
                result.failed.append((req, self._refuse_queued(txn, req, e)))
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
        txn.commit(plan.adds, plan.removes, plan.index, plan.chunks)
        incoming.done(self.layout, handled)
        return result

    def _refuse_queued(self, txn, req, err):
        """Set aside a queued add whose file is not the build its rpmdb holds,
        and record the failure where status finds it: the PersistError."""
        where = []
        for path in incoming.files_of(self.layout, req["_token"]):
            target = txn.quarantine(path, str(err))
            if path.endswith(".rpm"):
                where.append(target)
        why = "refused queued %s: %s%s" % (req["nevra"], err, "; set aside as %s" % where[-1]
                                           if where else "")
        name = names.parse_nevra(req["nevra"])[0]
        root = req["installroot"]
        fix = "yum %sreinstall %s" % ("" if root == "/" else "--installroot=%s "
                                      % stdlib.shell_quote(root), stdlib.shell_quote(name))
        failures.record(failures.path_for(root), [(req["nevra"], why, fix)], req["method"],
                        self.layout.root)
        return PersistError(why)

    def verify(self, check_signatures=True):
        """Every problem found (persistrepo.store.verify)."""
        from persistrepo.store import verify  # the writes, which start sooner, never need it
        self.require()
        if not self.is_store():
            return []
        return verify.run(self.layout, self.warnings, check_signatures)


def _surplus(entries, keep, installonly_keep):
    """Entries beyond the newest keep (installonly: installonly_keep) per name.arch."""
    groups = {}
    for e in entries:
        groups.setdefault((e["name"], e["arch"]), []).append(e)
    dropped = []
    for group in groups.values():
        limit = max(keep, installonly_keep) if group[0]["installonly"] else keep
        dropped.extend(versions.newest_first(group)[limit:])
    return sorted(dropped, key=lambda e: e["filename"])


def _as_persist_error(e, path):
    if isinstance(e, PersistError):
        return e
    return PersistError("%s: %s" % (path, getattr(e, "strerror", None) or e))
