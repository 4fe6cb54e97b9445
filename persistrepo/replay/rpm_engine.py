"""Replay through rpm's own transaction set, where there is no dnf (EL7:
yum 3.4.3 and rpm 4.11 on Python 2.7; docs/replay.md, "Without dnf").

The plan is the dnf engine's (plan.decide): the newest persisted version of
each requested name.arch, skipped when the root has the same or newer. The
store also keeps the dependencies those packages were installed with, so
"the store plus the root's rpmdb" is a closed set and rpm's own check() is
the solver: the requested packages go into a TransactionSet on the root;
for each requirement check() finds unmet, the newest store package that
provides it (and is newer than what the root has of its name.arch) joins,
until nothing more can. A package whose requirement or conflict is still
unmet is broken, and so is every requested package that needed it through
a dependency; the rest is planned again without them. Strict (on_broken =
fail), nothing is installed when anything is broken. Python 2.7 compatible.
"""

import os

from persistrepo import fsutil
from persistrepo.compat import headers, rpmdb, signatures, strings, versions
from persistrepo.errors import PersistError, UsageError
from persistrepo.replay import plan, trust


class _Installed(object):
    """An installed package as plan.newest_compatible takes it."""

    def __init__(self, hdr):
        self.name, self.epoch, self.version, self.release, self.arch = \
            headers.header_fields(hdr)


def _installed(root):
    """{name: [_Installed]} of root's rpmdb."""
    found = {}
    for hdr in rpmdb.rpmdb_headers(root):
        pkg = _Installed(hdr)
        found.setdefault(pkg.name, []).append(pkg)
    return found


def _repodata_sums(store):
    """{filename: sha256} as the store's repodata lists the packages."""
    from persistrepo.store import repodata
    try:
        state = repodata.read_state(store.layout)
    except Exception as e:  # createrepo_c raises several types for bad XML
        raise PersistError("cannot read the store %s's repodata (%s); run 'persistrepo "
                           "verify'" % (store.layout.root, e))
    # Only a record at the entry's own location counts (not another
    # directory's file of that name), and one location listed twice not at all.
    return dict((href, listed[0]) for href, listed in (state[1] if state else {}).items()
                if listed is not None)


def _header(path):
    fd = fsutil.open_regular(path)
    try:
        return headers.inspecting_ts().hdrFromFdno(fd)
    finally:
        os.close(fd)


class _Solver(object):
    """rpm's check() over the requested packages and what the store adds."""

    def __init__(self, root, store, entries, refused, installed_of):
        self.root = root
        self.store = store
        self.headers = {}
        # Every store package that may join as a dependency: not refused,
        # newer than what the root has of its name.arch.
        self.pool = []
        for e in versions.newest_first([e for e in entries if e["filename"] not in refused]):
            have = installed_of(e["name"], e["arch"])
            if not have or versions.compare_versions(plan._evr(have[0]), e) < 0:
                self.pool.append(e)

    def header(self, entry):
        name = entry["filename"]
        if name not in self.headers:
            self.headers[name] = _header(self.store.layout.package(name))
        return self.headers[name]

    def transaction(self, members):
        import rpm
        ts = rpm.TransactionSet(self.root)
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)  # trust checked them
        for e in members:
            path = self.store.layout.package(e["filename"])
            ts.addInstall(self.header(e), path, "i" if e["installonly"] else "u")
        return ts

    def _provider(self, needer, text, members):
        """The newest pool package that provides the requirement of needer
        that rpm prints as text, or None."""
        import rpm
        wanted = [d for d in rpm.ds(self.header(needer), rpm.RPMTAG_REQUIRENAME)
                  if strings.text(d.DNEVR())[2:] == text]
        if not wanted:
            return None
        taken = set((e["name"], e["arch"]) for e in members)
        for e in self.pool:
            if (e["name"], e["arch"]) in taken and not e["installonly"]:
                continue
            hdr = self.header(e)
            if text.startswith("/"):
                if text in [strings.text(f) for f in hdr[rpm.RPMTAG_FILENAMES] or ()]:
                    return e
            elif rpm.ds(hdr, rpm.RPMTAG_PROVIDENAME).Search(wanted[0]) >= 0:
                return e
        return None

    def solve(self, requested):
        """(dependencies {filename: (entry, [(needing NEVRA, capability)])},
        unmet {filename: why}, unattributed [rpm's problem texts]) for the
        requested entries."""
        import rpm
        deps = {}
        while True:
            members = list(requested) + [d[0] for d in deps.values()]
            # rpm 4.11 gives a dependency problem no key: the package is
            # named as rpm names the transaction's elements.
            by_nevra = dict((strings.text(self.header(e)[rpm.RPMTAG_NEVRA]), e) for e in members)
            ts = self.transaction(members)
            ts.check()
            unmet, unattributed, grew = {}, [], False
            for p in ts.problems():
                text = strings.text(p._str)
                entry = by_nevra.get(strings.text(p.pkgNEVR))
                key = entry["filename"] if entry is not None else None
                if entry is None:
                    if p.type in (rpm.RPMPROB_REQUIRES, rpm.RPMPROB_CONFLICT):
                        unattributed.append(strings.text(str(p)))
                    continue
                if p.type == rpm.RPMPROB_REQUIRES:
                    provider = self._provider(entry, text, members)
                    if provider is not None:
                        need = (entry["nevra"], text)
                        deps.setdefault(provider["filename"], (provider, []))[1].append(need)
                        grew = True
                        continue
                    why = "nothing provides %s needed by %s" % (text, entry["nevra"])
                elif p.type == rpm.RPMPROB_CONFLICT:
                    why = "%s conflicts with %s" % (entry["nevra"], text)
                else:
                    continue
                unmet.setdefault(key, []).append(why)
            ts.closeDB()
            if not grew:
                return deps, dict((k, "; ".join(v)) for k, v in unmet.items()), unattributed


def _needers(deps, filename, requested):
    """The requested packages that needed the dependency filename, through
    any chain of dependencies."""
    found, todo, seen = set(), [filename], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for nevra, _ in deps.get(current, (None, []))[1]:
            for name, e in requested.items():
                if e["nevra"] == nevra:
                    found.add(name)
            todo.extend(f for f, d in deps.items() if d[0]["nevra"] == nevra)
    return found


def _resolve(solver, items):
    """Mark the requested items that cannot be installed broken, with why;
    return (dependency entries to install with what needs them, rpm's
    problems with installed packages)."""
    while True:
        wanted = [i for i in items if i.pkg is not None and i.action != "broken"]
        requested = dict((i.pkg["filename"], i.pkg) for i in wanted)
        deps, unmet, unattributed = solver.solve(list(requested.values()))
        if not unmet:
            return deps, unattributed
        for filename, why in unmet.items():
            if filename in requested:
                broken = {filename: why}
            else:
                nevra = deps[filename][0]["nevra"]
                broken = dict((f, "needs %s, which cannot be installed: %s" % (nevra, why))
                              for f in _needers(deps, filename, requested))
            for item in wanted:
                if item.pkg["filename"] in broken:
                    item.action, item.reason = "broken", broken[item.pkg["filename"]]


def replay(result, store, stored, entries, armored, persistdir):
    """The rpm engine behind run.replay (same arguments as the dnf one; no
    repos but the store, and no dnf history: persistdir is unused)."""
    from persistrepo.replay import run
    if result.enablerepos:
        raise UsageError("--enablerepo needs dnf, which this host lacks; replay installs "
                         "from the store alone here (docs/replay.md, \"Without dnf\")")
    keys = trust.Keys(armored, result.root)
    try:
        refused, signers = trust.check_store(store, stored, _repodata_sums(store), keys)
        result.refused = [{"filename": f, "reason": refused[f]} for f in sorted(refused)]
        installed = _installed(result.root)

        def installed_of(name, arch):
            return plan.newest_compatible(installed.get(name, []), arch)

        items = plan.decide(entries, dict((f, "refused: " + why) for f, why in refused.items()),
                            installed_of, lambda e: (e, None))
        solver = _Solver(result.root, store, entries, refused, installed_of)
        deps, unattributed = _resolve(solver, items)
        extra = [plan.dependency(e, installed_of(e["name"], e["arch"]), needed, plan.STORE_REPO)
                 for e, needed in (deps[f] for f in sorted(deps))]
        for item in items:
            if item.action == "broken":
                item.pkg = None
        result.items = items + extra + plan.unused(entries, items + extra, installed_of)
        if unattributed:
            result.transaction_error = ("rpm's dependency check fails for packages the root "
                                        "has: %s" % "; ".join(unattributed))
        installs = [i for i in result.items if i.action in ("install", "upgrade")]
        ran = bool(installs) and not result.dry_run and not unattributed and (
            result.skip_broken or not result.broken)
        if ran:
            members = [i.pkg for i in installs]
            result.keys_imported = keys.import_into(result.root, [
                signers[e["filename"]] for e in members if e["filename"] in signers])
            result.transaction_error = _run(solver, members, bool(result.unsigned_by_policy))
        if not result.dry_run:
            run._outcomes(result.root, result.items, ran)
            failed = [i.nevra for i in result.items if i.outcome == "failed"]
            if failed and not result.transaction_error:
                result.transaction_error = ("rpm did not install %s (a scriptlet failed or a "
                                            "file conflicts)" % ", ".join(failed))
        run._finish(result, installs)
    finally:
        keys.close()


def _run(solver, members, unsigned_trusted):
    """Install members in one rpm transaction; None, or what rpm said went wrong."""
    import rpm
    ts = solver.transaction(members)
    files = {}

    def callback(what, amount, total, key, data):
        if what == rpm.RPMCALLBACK_INST_OPEN_FILE:
            files[key] = fsutil.open_regular(key)
            return files[key]
        if what == rpm.RPMCALLBACK_INST_CLOSE_FILE:
            os.close(files.pop(key))

    try:
        ts.check()
        ts.order()
        # rpm would refuse what the trust policy accepted (docs/replay.md, "Integrity").
        with signatures.digest_level_only(unsigned_trusted):
            problems = ts.run(callback, "")
    finally:
        for fd in files.values():
            os.close(fd)
        ts.closeDB()
    if problems is None:
        return None
    return "; ".join(strings.text(p[0]) for p in problems) or "rpm's transaction failed"
