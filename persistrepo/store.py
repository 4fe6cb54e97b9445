"""The persisted-package store: a createrepo_c repository plus a provenance record.

Every write runs under the store lock and as one journalled commit:
stage files and chunks in .persistrepo/tmp, write the journal, then apply it
(rename files into place, write index.json, write repodata, unlink what went
away). A crash at any point leaves either the old state or a journal that the
next write (or refresh) rolls forward. See docs/store-format.md.
"""

import json
import os
import stat

from persistrepo import compat, fsutil, incoming, record, repodata, rpmfile, specs, versions
from persistrepo.errors import BadPackage, NoMatch, PersistError
from persistrepo.layout import Layout
from persistrepo.lock import StoreLock

DEFAULT_STORE = "/var/imgbased/persisted_packages"


class Candidate(object):
    """A file to persist and what is known of where it came from."""

    def __init__(self, path, method="cli", origin=None, reason="user", supersede=False):
        self.path = path
        self.method = method
        self.origin = origin
        self.reason = reason
        self.supersede = supersede


class AddResult(object):
    """What one add did: entries added, replaced (same NEVRA, new checksum),
    unchanged, superseded (older versions dropped), and failures."""

    def __init__(self):
        self.added = []
        self.replaced = []
        self.unchanged = []
        self.superseded = []
        self.failed = []


class Problem(object):
    """One thing verify found wrong."""

    def __init__(self, kind, subject, message):
        self.kind = kind
        self.subject = subject
        self.message = message

    def __str__(self):
        return "%s: %s: %s" % (self.kind, self.subject, self.message)


class Store(object):
    def __init__(self, root=DEFAULT_STORE):
        self.layout = Layout(root)

    # -- reading ---------------------------------------------------------

    def exists(self):
        return os.path.lexists(self.layout.root)

    def _check_safe(self):
        fsutil.check_ancestors(self.layout.root)
        for d in self.layout.dirs():
            if os.path.lexists(d):
                fsutil.check_dir(d)

    def entries(self):
        """Provenance entries sorted by file name (empty for a missing store)."""
        if not self.exists():
            return []
        self._check_safe()
        return record.load_index(self.layout.index).entries()

    def key_files(self):
        """{key_id: path} of the public keys kept for signed packages."""
        if not os.path.isdir(self.layout.keys):
            return {}
        return dict((n[:-4], os.path.join(self.layout.keys, n))
                    for n in sorted(os.listdir(self.layout.keys)) if n.endswith(".asc"))

    def keys(self):
        """{key_id: armored public key} kept for signed packages."""
        found = {}
        for key_id, path in self.key_files().items():
            fd = fsutil.open_regular(path)
            with os.fdopen(fd, "rb") as f:
                found[key_id] = f.read().decode("ascii", "replace")
        return found

    # -- the commit machinery --------------------------------------------

    def _begin(self):
        """Create and check the store, take the lock, roll forward a journal."""
        for d in self.layout.dirs():
            fsutil.ensure_dir(d)
        fsutil.check_ancestors(self.layout.root)
        lock = StoreLock(self.layout.lock)
        lock.__enter__()
        try:
            if os.path.lexists(self.layout.journal):
                self._apply(self._read_journal())
            fsutil.clear_dir(self.layout.tmp)
        except BaseException:
            lock.__exit__()
            raise
        return lock

    def _read_journal(self):
        fd = fsutil.open_regular(self.layout.journal)
        with os.fdopen(fd, "rb") as f:
            return json.loads(f.read().decode("utf-8"))

    def _commit(self, adds, removes):
        """adds: [(staged_path, entry)]; removes: [filename]."""
        if not adds and not removes:
            return
        journal = {"adds": [{"staged": os.path.basename(p), "entry": e} for p, e in adds],
                   "removes": sorted(set(removes))}
        fsutil.write_atomic(self.layout.journal, json.dumps(journal).encode("utf-8"),
                            self.layout.tmp)
        self._apply(journal)

    def _apply(self, journal):
        """Carry out a journal; safe to repeat after a crash at any step."""
        index = record.load_index(self.layout.index)
        added = set()
        for item in journal["adds"]:
            entry = item["entry"]
            staged = os.path.join(self.layout.tmp, item["staged"])
            final = self.layout.package(entry["filename"])
            if os.path.lexists(staged):
                os.rename(staged, final)
            if os.path.lexists(final):
                index.packages[entry["filename"]] = entry
                added.add(entry["filename"])
        fsutil.fsync_dir(self.layout.root)
        for name in journal["removes"]:
            if name not in added:
                index.packages.pop(name, None)
        index.generation += 1
        fsutil.write_atomic(self.layout.index, index.to_bytes(), self.layout.tmp)
        self._write_repodata(index)
        for name in journal["removes"]:
            if name not in index.packages:
                fsutil.unlink_if_exists(self.layout.package(name))
        self._drop_unused_chunks(index)
        fsutil.unlink_if_exists(self.layout.journal)

    def _write_repodata(self, index):
        docs = [repodata.load_chunks(self.layout, e["sha256"]) for e in index.entries()]
        repodata.write(self.layout, docs, index.generation)

    def _drop_unused_chunks(self, index):
        used = set(e["sha256"] + ".xml" for e in index.packages.values())
        for name in os.listdir(self.layout.chunks):
            if name not in used:
                fsutil.unlink_if_exists(os.path.join(self.layout.chunks, name))

    def _stage(self, path, origin_path=None):
        """Copy path into tmp, check it and make its chunks: (staged, info)."""
        staged, _ = fsutil.stage_file(path, self.layout.tmp)
        try:
            info = rpmfile.read_package(staged)
        except BadPackage as e:
            fsutil.unlink_if_exists(staged)
            raise BadPackage(str(e).replace(staged, origin_path or path))
        href = record.filename(info.name, info.version, info.release, info.arch)
        repodata.save_chunks(self.layout, info.sha256, repodata.make_chunks(staged, href))
        return staged, info

    # -- operations ------------------------------------------------------

    def add(self, candidates, all_or_nothing=True):
        """Persist files. Same NEVRA and checksum is a no-op; same NEVRA with a
        new checksum replaces the stored file. With all_or_nothing, one bad
        file adds nothing; otherwise bad files are reported in result.failed."""
        result = AddResult()
        lock = self._begin()
        try:
            self._ingest_locked()
            index = record.load_index(self.layout.index)
            adds, removes, batch = [], [], {}
            for cand in candidates:
                try:
                    staged, info = self._stage(cand.path)
                except (BadPackage, OSError, IOError) as e:
                    if all_or_nothing:
                        raise _as_persist_error(e, cand.path)
                    result.failed.append((cand, _as_persist_error(e, cand.path)))
                    continue
                entry = record.make_entry(info, cand.method, cand.origin, cand.reason)
                old = batch.get(entry["filename"]) or index.packages.get(entry["filename"])
                if old is not None and old["sha256"] == entry["sha256"]:
                    result.unchanged.append(old)
                    fsutil.unlink_if_exists(staged)
                    continue
                (result.replaced if old is not None else result.added).append(entry)
                adds.append((staged, entry))
                batch[entry["filename"]] = entry
                if cand.supersede and not info.installonly:
                    for other in index.packages.values():
                        if (other["name"], other["arch"]) == (info.name, info.arch) \
                                and other["filename"] != entry["filename"]:
                            removes.append(other["filename"])
                            result.superseded.append(other)
            self._commit(adds, removes)
        finally:
            lock.__exit__()
        return result

    def remove(self, spec_list, missing_ok=False):
        """Drop the entries the specs select; a spec that matches nothing is an
        error and then nothing is removed (unless missing_ok)."""
        lock = self._begin()
        try:
            self._ingest_locked()
            index = record.load_index(self.layout.index)
            chosen, unmatched = specs.select(spec_list, index.entries())
            if unmatched and not missing_ok:
                raise NoMatch("no persisted package matches %s; see 'persistrepo list'"
                              % ", ".join(repr(s) for s in unmatched))
            self._commit([], [e["filename"] for e in chosen])
        finally:
            lock.__exit__()
        return chosen

    def prune(self, keep=1, installonly_keep=3):
        """Keep the newest `keep` versions of each name.arch (installonly
        packages keep `installonly_keep`); return the dropped entries."""
        lock = self._begin()
        try:
            self._ingest_locked()
            groups = {}
            for e in record.load_index(self.layout.index).entries():
                groups.setdefault((e["name"], e["arch"]), []).append(e)
            dropped = []
            for group in groups.values():
                limit = max(keep, installonly_keep) if group[0]["installonly"] else keep
                dropped.extend(versions.newest_first(group)[limit:])
            self._commit([], [e["filename"] for e in dropped])
        finally:
            lock.__exit__()
        return dropped

    def add_key(self, key_id, armored):
        """Keep the ASCII-armored public key that verifies packages signed by key_id."""
        lock = self._begin()
        try:
            path = os.path.join(self.layout.keys, key_id.lower() + ".asc")
            if not os.path.lexists(path):
                fsutil.write_atomic(path, armored, self.layout.tmp)
        finally:
            lock.__exit__()

    def ingest(self):
        """Take in what the yum plugin staged in .persistrepo/incoming."""
        lock = self._begin()
        try:
            return self._ingest_locked()
        finally:
            lock.__exit__()

    def _ingest_locked(self):
        requests = incoming.pending(self.layout)
        if not requests:
            return AddResult()
        index = record.load_index(self.layout.index)
        result = AddResult()
        adds, removes = [], []
        staged_names = set()
        for req in requests:
            if req["op"] == "remove":
                chosen, _ = specs.select([req["spec"]], index.entries())
                removes.extend(e["filename"] for e in chosen)
                continue
            if req.get("op") != "add":
                result.failed.append((req, PersistError("unreadable request %s in %s"
                                                        % (req["_token"], self.layout.incoming))))
                continue
            src = os.path.join(self.layout.incoming, req["file"])
            try:
                staged, info = self._stage(src)
            except (BadPackage, OSError, IOError) as e:
                result.failed.append((req, _as_persist_error(e, src)))
                continue
            entry = record.make_entry(info, req["method"], req.get("origin"),
                                      req.get("reason", "unknown"), req.get("persisted_at"))
            if entry["filename"] in staged_names:
                continue
            staged_names.add(entry["filename"])
            adds.append((staged, entry))
            result.added.append(entry)
            if req.get("supersede") and not info.installonly:
                removes.extend(o["filename"] for o in index.packages.values()
                               if (o["name"], o["arch"]) == (info.name, info.arch)
                               and o["filename"] != entry["filename"])
        self._commit(adds, removes)
        incoming.done(self.layout, requests)
        return result

    def refresh(self):
        """Rebuild index and repodata from the files (repair). Known files keep
        their provenance; unknown ones are recorded with method 'refresh'."""
        lock = self._begin()
        try:
            self._ingest_locked()
            old = record.load_index_or_empty(self.layout.index)
            by_sha = dict((e["sha256"], e) for e in old.packages.values())
            index = record.Index(old.generation)
            report = {"adopted": [], "dropped": [], "rejected": []}
            for name in sorted(os.listdir(self.layout.root)):
                path = self.layout.package(name)
                if not name.endswith(".rpm"):
                    continue
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    report["rejected"].append((name, "not a regular file"))
                    continue
                try:
                    info = rpmfile.read_package(path)
                except BadPackage as e:
                    report["rejected"].append((name, str(e)))
                    continue
                href = record.filename(info.name, info.version, info.release, info.arch)
                if href != name:
                    report["rejected"].append((name, "file name should be %s" % href))
                    continue
                repodata.save_chunks(self.layout, info.sha256,
                                     repodata.make_chunks(path, href))
                known = by_sha.get(info.sha256)
                if known is None:
                    known = record.make_entry(info, "refresh")
                    report["adopted"].append(known)
                index.packages[name] = known
            report["dropped"] = [e for n, e in sorted(old.packages.items())
                                 if n not in index.packages]
            index.generation += 1
            fsutil.write_atomic(self.layout.index, index.to_bytes(), self.layout.tmp)
            self._write_repodata(index)
            self._drop_unused_chunks(index)
        finally:
            lock.__exit__()
        return report

    def verify(self, check_signatures=True):
        """Every problem found: missing, orphan, corrupt or tampered files,
        metadata drift, an interrupted operation, packages waiting in incoming."""
        self._check_safe()
        if not os.path.isdir(self.layout.state):
            return [Problem("missing", self.layout.root, "not a persistrepo store; "
                            "run 'persistrepo refresh' to create one")]
        with StoreLock(self.layout.lock, shared=True):
            return self._verify_locked(check_signatures)

    def _verify_locked(self, check_signatures):
        problems = []
        if os.path.lexists(self.layout.journal):
            problems.append(Problem("interrupted", self.layout.journal,
                                    "an operation was interrupted; the next write or "
                                    "'persistrepo refresh' completes it"))
        waiting = incoming.pending(self.layout)
        if waiting:
            problems.append(Problem("incoming", self.layout.incoming,
                                    "%d request(s) waiting; run 'persistrepo ingest'"
                                    % len(waiting)))
        index = record.load_index(self.layout.index)
        keys = self.keys() if check_signatures else {}
        verifier = compat.Verifier(keys.values()) if check_signatures else None
        try:
            for e in index.entries():
                problems.extend(self._verify_entry(e, verifier, keys))
        finally:
            if verifier is not None:
                verifier.close()
        for name in sorted(os.listdir(self.layout.root)):
            if name.endswith(".rpm") and name not in index.packages:
                problems.append(Problem("orphan", name, "file is not in the provenance "
                                        "record; 'persistrepo refresh' adopts it"))
        problems.extend(self._verify_repodata(index))
        return problems

    def _verify_entry(self, e, verifier, keys):
        name = e["filename"]
        path = self.layout.package(name)
        if not os.path.lexists(path):
            return [Problem("missing", name, "recorded but the file is gone; add it again "
                            "or run 'persistrepo refresh' to forget it")]
        check = verifier if e["signed"] and e["key_id"] in keys else None
        try:
            info = rpmfile.read_package(path, verifier=check)
        except BadPackage as err:
            return [Problem("corrupt", name, str(err))]
        if info.sha256 != e["sha256"] or info.size != e["size"]:
            return [Problem("checksum", name, "sha256 %s does not match the record's %s"
                            % (info.sha256, e["sha256"]))]
        return []

    def _verify_repodata(self, index):
        try:
            state = repodata.read_state(self.layout)
        except Exception as e:  # createrepo_c raises several types for bad XML
            return [Problem("drift", "repodata", "unreadable: %s; run 'persistrepo refresh'"
                            % e)]
        if state is None:
            if index.packages or index.generation:
                return [Problem("drift", "repodata", "missing; run 'persistrepo refresh'")]
            return []
        revision, packages = state
        problems = []
        if revision != str(index.generation):
            problems.append(Problem("drift", "repodata", "revision %s, record generation "
                                    "%d; run 'persistrepo refresh'"
                                    % (revision, index.generation)))
        recorded = dict((n, e["sha256"]) for n, e in index.packages.items())
        for name in sorted(set(recorded) | set(packages)):
            if recorded.get(name) != packages.get(name):
                problems.append(Problem("drift", name, "repodata and provenance record "
                                        "disagree; run 'persistrepo refresh'"))
        return problems


def _as_persist_error(e, path):
    if isinstance(e, PersistError):
        return e
    return PersistError("%s: %s" % (path, getattr(e, "strerror", None) or e))
