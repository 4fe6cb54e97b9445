"""`verify`: everything that is wrong with a store, found without changing it.

Problem kinds (docs/store-format.md, "Trust"): missing, orphan, corrupt,
checksum, drift, modules, interrupted, incoming, unsafe, stray, chunk, key,
and trust: a package replay's trust policy (persistrepo.replay.trust)
refuses. Every one says what repairs it; `refresh` repairs all but missing files of a package
(which it forgets) and an unsafe store directory (which needs the admin).
A reader without the store lock (any user but root, a read-only store)
re-reads until the state it saw did not change under it.
"""

import os
import time

from persistrepo import fsutil, names, pgp, words
from persistrepo.compat import signatures, stdlib
from persistrepo.errors import BadPackage, PersistError
from persistrepo.store import incoming, modulemd, record, repodata, rpmfile, trash
from persistrepo.store.keys import kept_keys
from persistrepo.store.layout import FOREIGN
from persistrepo.store.lock import StoreLock
from persistrepo.store.writing import read_journal

_REFRESH = "run 'persistrepo refresh'"
_TRIES = 5


class Problem(object):
    """One thing verify found wrong."""

    def __init__(self, kind, subject, message):
        self.kind = kind
        self.subject = subject
        self.message = message

    def __str__(self):
        return "%s: %s: %s" % (self.kind, self.subject, self.message)


def run(layout, warnings, check_signatures=True):
    """Every problem found in the store at layout (Store.verify checked that
    it is one); warnings: the store's, each one a problem too."""
    with StoreLock(layout.lock, shared=True) as lock:
        for attempt in range(_TRIES):
            before = _state_mark(layout)
            problems = _problems(layout, warnings, check_signatures)
            if lock.held or (_state_mark(layout) == before and
                             not os.path.lexists(layout.journal)):
                return problems
            time.sleep(0.1 * (attempt + 1))
        return problems


def _state_mark(layout):
    """What changes whenever a writer commits (index and repomd.xml)."""
    marks = []
    for path in (layout.index, os.path.join(layout.repodata, "repomd.xml")):
        try:
            st = os.lstat(path)
            marks.append((st.st_ino, st.st_mtime, st.st_size))
        except OSError:
            marks.append(None)
    return marks


def _problems(layout, warnings, check_signatures):
    problems = []
    if os.path.lexists(layout.journal):
        try:
            read_journal(layout)
            problems.append(Problem("interrupted", layout.journal, "an operation was "
                                    "interrupted; the next write or 'persistrepo refresh' "
                                    "completes it"))
        except PersistError as e:
            problems.append(Problem("unsafe", layout.journal, str(e)))
    requests = incoming.pending(layout)
    bad = [r for r in requests if r["op"] == "invalid"]
    for r in bad:
        problems.append(Problem("incoming", r["_token"], "%s; %s, which sets it aside"
                                % (r["why"], _REFRESH)))
    if len(requests) > len(bad):
        problems.append(Problem("incoming", layout.incoming, "%s waiting; run 'persistrepo "
                                "ingest'" % words.count(len(requests) - len(bad), "request")))
    try:
        index = record.load_index(layout.index)
    except PersistError as e:
        return problems + [Problem("unsafe", layout.index, str(e))]
    keys = _keys(layout, warnings, problems) if check_signatures else {}
    verifier = signatures.Verifier(keys.values()) if check_signatures else None
    try:
        for e in index.entries():
            problems.extend(_entry(layout, e, verifier, keys))
    finally:
        if verifier is not None:
            verifier.close()
    problems.extend(_strays(layout, index))
    problems.extend(_repodata(layout, index))
    return problems


def _keys(layout, warnings, problems):
    """The usable kept keys; a problem for each one that is not."""
    keys = {}
    for key_id, armored in kept_keys(layout, warnings).items():
        try:
            pgp.key_ids(armored)
            keys[key_id] = armored
        except pgp.BadKey as e:
            problems.append(Problem("key", key_id, "%s; %s, which sets it aside"
                                    % (e, _REFRESH)))
    for warning in warnings:
        problems.append(Problem("unsafe", "keys", warning))
    return keys


def _entry(layout, e, verifier, keys):
    name = e["filename"]
    path = layout.package(name)
    if not os.path.lexists(path):
        return [Problem("missing", name, "recorded but the file is gone; add it again "
                        "or %s to forget it" % _REFRESH)]
    check = verifier if e["signed"] and e["key_id"] in keys else None
    try:
        info = rpmfile.read_package(path, verifier=check, store_file=True)
    except BadPackage as err:
        return [Problem("corrupt", name, str(err))]
    except PersistError as err:
        return [Problem("unsafe", name, str(err))]
    if info.sha256 != e["sha256"] or info.size != e["size"]:
        return [Problem("checksum", name, "sha256 %s does not match the record's %s"
                        % (info.sha256, e["sha256"]))]
    try:
        repodata.load_chunks(layout, e["sha256"])
    except PersistError as err:
        return [Problem("chunk", name, "%s; the next write or %s makes it again"
                        % (err, _REFRESH))]
    return _replay_refuses(layout, e, path, keys) if verifier is not None else []


def _replay_refuses(layout, e, path, keys):
    """What replay's trust policy says of a sound entry: signed with a key
    the store does not keep (replay takes it only from a new root that has
    the key), or unsigned without a provenance it accepts."""
    from persistrepo.replay import trust
    add = "persistrepo --store %s add" % stdlib.shell_quote(layout.root)
    if e["signed"] and e["key_id"] not in keys:
        return [Problem("trust", e["filename"], "signed with key %s, which the store does "
                        "not keep: replay refuses it unless the new root has that key; fix: "
                        "%s --key KEYFILE %s" % (e["key_id"], add, stdlib.shell_quote(path)))]
    if not e["signed"]:
        allowed, _ = trust.unsigned_allowed(e)
        if not allowed:
            return [Problem("trust", e["filename"], "unsigned, and its provenance (method %s, "
                            "origin %s) is not one replay accepts unsigned: replay refuses "
                            "it; if you trust it, fix: %s %s"
                            % (e["method"], e["origin"] or "unknown", add,
                               stdlib.shell_quote(path)))]
    return []


def _strays(layout, index):
    """Orphan package files, and what the store's directories should not hold."""
    problems = []
    for name in sorted(os.listdir(layout.root)):
        if not name.endswith(".rpm"):
            continue
        path = os.path.join(layout.root, name)
        if not fsutil.is_regular(path) or not names.is_package_file(name):
            problems.append(Problem("stray", name, "not a regular package file; %s, which "
                                    "sets it aside" % _REFRESH))
        elif name not in index.packages:
            problems.append(Problem("orphan", name, "file is not in the provenance "
                                    "record; 'persistrepo refresh' adopts it"))
    for path in layout.foreign():
        problems.append(Problem("stray", os.path.relpath(path, layout.root),
                                "%s; %s, which sets it aside" % (FOREIGN, _REFRESH)))
    for directory, wanted in ((layout.chunks, names.is_chunk_file),
                              (layout.keys, names.is_key_file),
                              (layout.repodata, lambda name: True)):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if not fsutil.is_regular(path) or not wanted(name):
                problems.append(Problem("stray", os.path.relpath(path, layout.root),
                                        "not a file the store writes here; %s, which sets "
                                        "it aside" % _REFRESH))
    for path, what in ([(p, what) for p, what in ((layout.lock, "the lock is not a regular file"),
                                                  (layout.chunk_pack, "not a regular file"),
                                                  (layout.checked, "not a regular file"))
                        if os.path.lexists(p) and not fsutil.is_regular(p)]) + \
            ([(layout.removed, "not a directory (a symlink or a file)")]
             if os.path.lexists(layout.removed) and (os.path.islink(layout.removed) or
                                                     not os.path.isdir(layout.removed))
             else []) + [(p, "not a slot of removed packages") for p in trash.strays(layout)]:
        problems.append(Problem("stray", os.path.relpath(path, layout.root),
                                "%s; %s, which sets it aside" % (what, _REFRESH)))
    return problems


def _repodata(layout, index):
    try:
        state = repodata.read_state(layout)
    except Exception as e:  # createrepo_c raises several types for bad XML
        return [Problem("drift", "repodata", "unreadable: %s; %s" % (e, _REFRESH))]
    if state is None:
        if index.packages or index.generation:
            return [Problem("drift", "repodata", "missing; %s" % _REFRESH)]
        return []
    revision, packages = state
    problems = []
    if revision != str(index.generation):
        problems.append(Problem("drift", "repodata", "revision %s, record generation %d; %s"
                                % (revision, index.generation, _REFRESH)))
    recorded = dict((n, (e["sha256"], e["nevra"])) for n, e in index.packages.items())
    for name in sorted(set(recorded) | set(packages)):
        if name not in recorded or name not in packages or recorded[name] != packages[name]:
            problems.append(Problem("drift", name, "repodata and provenance record "
                                    "disagree; %s" % _REFRESH))
    return problems + _modules(layout, index.entries())


def modules_problem(layout, entries):
    """The problem with the repodata's modules.yaml, or None; entries: the
    store's (Store.entries). Replay asks before libdnf parses it: libdnf's
    YAML parser has no bound (an alias bomb ends it), so only the exact text
    the records make may reach it."""
    problems = _modules(layout, entries)
    return problems[0] if problems else None


def _modules(layout, entries):
    """The repodata's modules.yaml against the one the module records make."""
    want = modulemd.yaml(entries)
    try:
        have = repodata.modules_record(layout)
        if want is None and have is not None:
            why = "repodata has module streams but no package records one"
        elif want is not None and have is None:
            why = "repodata has no modules.yaml but packages record module streams"
        elif want is not None and repodata.read_modules(
                layout, have, len(want.encode("utf-8"))) != want.encode("utf-8"):
            why = "repodata's modules.yaml is not the one the module records make"
        else:
            return []
    except Exception as e:  # createrepo_c raises several types for bad XML
        why = "unusable modules.yaml: %s" % e
    return [Problem("modules", "repodata", "%s; %s" % (why, _REFRESH))]
