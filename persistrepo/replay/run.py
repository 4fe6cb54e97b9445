"""Replay the persisted packages into a new image layer (docs/replay.md).

An image updater calls replay(new_root, store) after unpacking the new root
and before its first boot; `persistrepo replay` is the same call. Everything
goes through the dnf API in one transaction inside the new root; the capture
plugin is never loaded (no init_plugins), so nothing is persisted twice.
Where there is no dnf, rpm_engine installs the same plan (_engine).
Python 2.7 compatible (what EL7 runs of it).
"""

import functools
import gc
import json
import os
import shutil
import sys
import tempfile

from persistrepo import fsutil
from persistrepo.compat import dnfapi, headers, rpmdb, signatures, stdlib
from persistrepo.errors import (EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, PersistError, UnsafeStore,
                                UsageError)
from persistrepo.replay import dnf5, history, module_plan, mounts, plan, report, trust
from persistrepo.store.keys import kept_keys

FORMAT = 1


class _Record(object):
    """A plan item as a child process reported it."""

    def __init__(self, doc):
        self.__dict__.update(doc)
        self._doc = doc

    def to_dict(self):
        return self._doc


class ReplayResult(object):
    """What a replay planned and did. status: ok, nothing-to-do, planned
    (dry run), partial (--skip-broken left packages out) or failed."""

    def __init__(self, root, store_root, dry_run, skip_broken, enablerepos):
        self.root = root
        self.store = store_root
        self.dry_run = dry_run
        self.skip_broken = skip_broken
        self.enablerepos = list(enablerepos)
        self.started_at = report.utc_now()
        self.finished_at = None
        self.items = []
        self.refused = []
        self.keys_imported = []
        self.transaction_error = None
        self.unsigned_by_policy = []
        self.excluded = []
        self.report_file = None
        self.dnf5_state = None
        self.warnings = []  # for the admin, not the report: what the store could not give
        self.status = None
        self.exit_code = None

    def take(self, doc):
        """Take over what a child process's result (to_dict) says it did."""
        for key in ("status", "exit_code", "refused", "keys_imported", "transaction_error",
                    "excluded"):
            setattr(self, key, doc[key])
        self.items = [_Record(d) for d in doc["packages"]]

    def by_action(self, action):
        return [i for i in self.items if i.action == action]

    @property
    def broken(self):
        return self.by_action("broken")

    def to_dict(self):
        return {
            "format": FORMAT,
            "root": self.root,
            "store": self.store,
            "dry_run": self.dry_run,
            "skip_broken": self.skip_broken,
            "enablerepos": self.enablerepos,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "exit_code": self.exit_code,
            "packages": [i.to_dict() for i in self.items],
            "refused": self.refused,
            "keys_imported": self.keys_imported,
            "transaction_error": self.transaction_error,
            "unsigned_by_policy": self.unsigned_by_policy,
            "excluded": self.excluded,
            "report_file": self.report_file,
            "dnf5_state": self.dnf5_state,
        }


def _check_root(root):
    import rpm
    if not os.path.isdir(root):
        raise UsageError("--installroot %s is not a directory; point it at the unpacked new "
                         "image root" % root)
    dbpath = rpmdb.rpmdb_dir(root)
    if not os.path.isdir(dbpath):
        raise UsageError("%s has no rpm database at %s; point --installroot at an unpacked "
                         "image root" % (root, dbpath))
    try:
        installed = rpmdb.rpmdb_headers(root, limit=1)  # one says it is not empty
    except rpm.error as e:
        raise UsageError("cannot read the rpm database of %s (%s); is it the unpacked image "
                         "root?" % (root, e))
    if not installed:
        raise UsageError("the rpm database of %s holds no packages, so what the image ships "
                         "is unknown; point --installroot at an unpacked image root" % root)


DNF_PERSISTDIR = "/var/lib/dnf"
# What dnf, rpm and dnf5 write under the root, following links as the host
# sees them (replay's own report and dnf's persistdir are resolved inside the
# root instead): rpm's database (added per root), dnf's module state, the
# logs, dnf5's state and cache.
_HOST_RESOLVED = ("etc/dnf", "var/log", "usr/lib/sysimage/libdnf5", "var/cache/libdnf5")


def _check_writes(root):
    """Refuse a root where something dnf, rpm or dnf5 write leads out of it."""
    dbpath = os.path.relpath(rpmdb.rpmdb_dir(root), root)
    for path in (dbpath,) + _HOST_RESOLVED:
        outside = fsutil.leaves_root(root, path)
        if outside:
            raise UnsafeStore("%s leads out of the new root (to %s), and replay (dnf, rpm) "
                              "would write there; nothing was changed. Make it a real "
                              "directory or a link inside the root"
                              % (os.path.join(root, path), outside))


def _make_base(result, store, workdir, persistdir=None):
    """dnf's Base for the root and repos of result (a ReplayResult), the
    store among the repos."""
    import dnf
    conf = dnf.conf.Conf()
    conf.installroot = result.root
    dnf_conf = os.path.join(result.root, "etc/dnf/dnf.conf")
    if os.path.isfile(dnf_conf):
        conf.read(dnf_conf)
    # The store's metadata cache is throw-away; a dry run must not even
    # create the root's history database, so its persistdir is private too.
    for sub in ("cache", "log", "persist"):
        os.mkdir(os.path.join(workdir, sub))
    conf.cachedir = os.path.join(workdir, "cache")
    conf.logdir = os.path.join(workdir, "log")
    if result.dry_run:
        conf.persistdir = os.path.join(workdir, "persist")
    elif persistdir:
        conf.persistdir = persistdir
    else:
        conf.prepend_installroot("persistdir")
    # Signatures are checked by trust before the transaction, with the
    # store's policy for unsigned packages, which dnf's gpgcheck cannot express.
    conf.gpgcheck = False
    conf.localpkg_gpgcheck = False
    # Replay never erases what the image ships to make room for old kernels.
    conf.installonly_limit = 0
    conf.assumeyes = True
    release = dnf.rpm.detect_releasever(result.root)
    if release:
        conf.releasever = release
    base = dnf.Base(conf)
    if result.enablerepos:
        conf.reposdir = [os.path.join(result.root, d.lstrip("/")) for d in conf.reposdir]
        conf.substitutions.update_from_etc(result.root)
        base.read_all_repos()
        unknown = sorted(set(result.enablerepos) - set(base.repos))
        if unknown:
            base.close()
            raise UsageError("--enablerepo %s: no such repo in %s (known: %s)"
                             % (", ".join(unknown), ", ".join(conf.reposdir),
                                ", ".join(sorted(base.repos)) or "none"))
        for repo in base.repos.values():
            if repo.id in result.enablerepos:
                repo.enable()
            else:
                repo.disable()
    base.repos.add_new_repo(plan.STORE_REPO, conf,
                            baseurl=["file://" + store.layout.root],
                            gpgcheck=False, skip_if_unavailable=False)
    # dnf's history records the command line it finds here.
    base.args = ["persistrepo", "replay", "--store", store.layout.root]
    return base


def _check_store(store, stored, base, keys):
    """trust.check_store with the sums dnf read from the store's repodata;
    return (refused, signers) as it does, and [{"filename": location,
    "reason": why}] for what the repodata lists beyond the record. Only the
    checked entries stay in dnf's sack."""
    import hawkey
    in_repodata = base.sack.query(flags=hawkey.IGNORE_EXCLUDES).filter(
        reponame=plan.STORE_REPO)
    sums = {}
    for pkg in in_repodata:
        sums[pkg.location] = trust.hexsum(pkg.chksum)
    refused, signers = trust.check_store(store, stored, sums, keys)
    checked = dict((e["filename"], e) for e in stored if e["filename"] not in refused)
    unchecked = [p for p in in_repodata if not trust.is_entry(p, checked.get(p.location))]
    base.sack.add_excludes(unchecked)
    unindexed = sorted(set(trust.unindexed(p, store.layout.root)
                           for p in unchecked if p.location not in refused))
    return refused, signers, [{"filename": f, "reason": why} for f, why in unindexed]


def _explain_broken(base, items):
    import hawkey
    combined = None
    for item in items:
        if item.action != "broken" or item.pkg is None:
            continue
        why = plan.explain(base.sack, item.pkg)
        if why is None:
            if combined is None:
                combined = hawkey.Goal(base.sack)
                for other in items:
                    if other.pkg is not None and other.role == "requested":
                        combined.install(other.pkg)
                combined.run()
            rules = plan.problem_text(combined, about=item.nevra)
            why = "cannot be installed together with the rest of the plan" + (
                ": " + rules if rules else "")
        item.reason = why


def _check_remote(base, items, keys):
    """Verify packages that --enablerepo repos delivered, with the same policy."""
    for item in items:
        if item.pkg is None or item.repo in (plan.STORE_REPO, "@System"):
            continue
        repo = base.repos[item.repo]
        _, why = trust.check_file(item.pkg.localPkg(), keys)
        if why is None and repo.gpgcheck and trust.rpmfile.read_package(
                item.pkg.localPkg()).key_id is None:
            why = "unsigned, but repo %s requires signatures" % repo.id
        if why:
            raise PersistError("%s from repo %s refused: %s" % (item.nevra, repo.id, why))


def _outcomes(root, items, ran):
    """Fill item.outcome from what the root's rpmdb now holds."""
    if not ran:
        for item in items:
            item.outcome = "skipped" if item.action == "skip" else "not-installed"
        return
    have = set(headers.header_nevra(hdr) for hdr in rpmdb.rpmdb_headers_named(
        root, [i.name for i in items if i.action in ("install", "upgrade", "remove")]))
    for item in items:
        if item.action == "enable":
            item.outcome = "done" if module_plan.enabled(root, item) else "failed"
        elif item.action in ("install", "upgrade"):
            item.outcome = "done" if item.nevra in have else "failed"
        elif item.action == "remove":
            item.outcome = "failed" if item.nevra in have else "done"
        else:
            item.outcome = "not-installed" if item.action == "broken" else "skipped"


def _finish(result, installs):
    broken = result.broken
    if result.transaction_error:
        result.status, result.exit_code = "failed", EXIT_FAILED
    elif broken and not result.skip_broken:
        result.status, result.exit_code = "failed", EXIT_FAILED
    elif broken:
        result.status, result.exit_code = "partial", EXIT_PARTIAL
    elif result.dry_run and installs:
        result.status, result.exit_code = "planned", EXIT_OK
    else:
        result.status = "ok" if installs else "nothing-to-do"
        result.exit_code = EXIT_OK


def replay(new_root, store, dry_run=False, skip_broken=False, enablerepos=(),
           write_report=True, exclude=(), allow_running_root=False, persistdir=None):
    """Install the persisted packages into new_root (see docs/replay.md).

    store is a persistrepo.store.store.Store; exclude holds package specs
    left out of this run. Returns a ReplayResult; raises PersistError (with
    exit_code) for bad input such as a missing root or store. Strict unless
    skip_broken: if any requested package cannot be installed, nothing is.
    The store is locked for reading throughout; a real run's transaction
    runs in a child process with the root's own /proc, /sys, /dev and /run
    (mounts), and its report is written whatever happens. persistdir:
    where dnf keeps its history and state (default: new_root's /var/lib/dnf
    as dnf resolves it).
    """
    new_root = os.path.abspath(new_root)
    if not dry_run and os.geteuid() != 0:
        raise PersistError("replay installs into %s: run it as root (or use --dry-run)"
                           % new_root)
    if new_root == "/" and not allow_running_root:
        raise UsageError("--installroot / is the running system; replay installs into a new "
                         "image root (give --allow-running-root if you really mean it)")
    _check_root(new_root)
    _check_writes(new_root)
    if persistdir is None:  # the root's own /var/lib/dnf, its links followed inside it
        persistdir = fsutil.resolve_in_root(new_root, DNF_PERSISTDIR)
    store.require()
    with store.reading():
        result = ReplayResult(new_root, store.layout.root, dry_run, skip_broken, enablerepos)
        stored = store.entries()  # the index is read once, here
        armored = kept_keys(store.layout, store.warnings)  # and the kept keys
        result.warnings.extend(store.handed_over())
        entries, result.excluded = _without(stored, exclude, store.layout.root)
        if signatures.signatures_enforced():
            result.unsigned_by_policy = sorted(
                e["nevra"] for e in entries
                if not e["signed"] and trust.unsigned_allowed(e)[0])
        from persistrepo.store import verify
        problem = verify.modules_problem(store.layout, stored) if entries else None
        if problem is not None:
            raise UnsafeStore("the store's module metadata cannot be replayed: %s"
                              % problem.message)
        work = functools.partial(_engine(), result, store, stored, entries, armored, persistdir)
        if not entries:  # an empty store (as the package ships it) has no repodata yet
            _finish(result, [])
        elif dry_run:
            work()
        else:
            _in_child(result, work)
            result.dnf5_state = dnf5.record_reasons(new_root, result.items)
    result.finished_at = report.utc_now()
    if write_report and not dry_run and result.status != "nothing-to-do":
        report.write(result)
    return result


def _engine():
    """What installs: dnf where its Python API imports (its solver, its
    history, module streams), else rpm's own transaction set (EL7, where
    yum 3.4.3 has no API to install into another root under this plan;
    docs/replay.md, "Without dnf"). Chosen here only."""
    if dnfapi.has_dnf():
        return _replay
    from persistrepo.replay import rpm_engine
    return rpm_engine.replay


def _without(entries, exclude, store_root):
    """(entries to replay, NEVRAs left out by the exclude specs); a
    UsageError for a spec that matches nothing."""
    if not exclude:
        return entries, []
    from persistrepo import specs
    dropped, unmatched = specs.select(exclude, entries)
    if unmatched:  # a typo would replay what the admin meant to leave out
        raise UsageError("--exclude %s matches no persisted package; nothing was replayed "
                         "(see 'persistrepo --store %s list')"
                         % (", ".join(unmatched), stdlib.shell_quote(store_root)))
    names = set(e["filename"] for e in dropped)
    return [e for e in entries if e["filename"] not in names], [e["nevra"] for e in dropped]


def _in_child(result, work):
    """Run work() in a child process in its own mount namespace with the
    root's mounts (its stdout goes to stderr: scriptlets must not mix with
    --json); take over its result. Whatever ends the child, the run is
    reported (docs/replay.md)."""
    sys.stdout.flush()
    sys.stderr.flush()
    made = [d for d in mounts.MOUNT_POINTS if not os.path.lexists(os.path.join(result.root, d))]
    try:
        _run_child(result, work)
    finally:
        if result.status != "ok" and result.status != "partial":
            mounts.remove_unused(result.root, made)


def _run_child(result, work):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        # dnf runs a full garbage collection each time it resets its sack
        # (fill_sack, close); what was imported and read before the fork
        # lives as long as this process, so the collector may skip it
        # (gc.freeze, Python 3.7 and later).
        getattr(gc, "freeze", lambda: None)()
        try:
            os.dup2(2, 1)
            mounts.enter(result.root)
            work()
            doc = {"result": result.to_dict()}
        except PersistError as e:
            doc = {"error": str(e), "exit_code": e.exit_code}
        except BaseException as e:  # libdnf, rpm, a full disk: reported, not a traceback
            doc = {"error": "%s: %s" % (e.__class__.__name__, e), "exit_code": EXIT_FAILED}
        try:
            with os.fdopen(write_fd, "w") as f:
                json.dump(doc, f)
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {"error": "the transaction process ended without a result (%s)"
                        % _wait_status(status), "exit_code": EXIT_FAILED}
    if "result" in doc:
        result.take(doc["result"])
        return
    # A failed run is a result like any other: shown (also as JSON) and reported.
    result.status, result.exit_code, result.transaction_error = \
        "failed", doc["exit_code"], doc["error"]


def _wait_status(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    return "exit status %d" % os.WEXITSTATUS(status)


def _replay(result, store, stored, entries, armored, persistdir):
    """The dnf engine: result (a ReplayResult) says where and how to replay;
    stored: the store's index entries, entries: those to replay, armored:
    the kept keys (Store.keys)."""
    import dnf
    import dnf.exceptions
    workdir = tempfile.mkdtemp(prefix="persistrepo-replay-")
    if not result.dry_run:  # in the transaction's child: nothing here needs fsyncs
        mounts.scratch(workdir)
    base = keys = scratch = None
    try:
        base = _make_base(result, store, workdir, persistdir)
        if not result.dry_run:
            scratch = history.ScratchHistory.start(base, os.path.join(workdir, "history"))
        try:
            base.fill_sack(load_system_repo=True)
        except dnf.exceptions.RepoError as e:
            raise PersistError("cannot read the store %s as a repository (%s); run "
                               "'persistrepo verify'" % (store.layout.root, e))
        keys = trust.Keys(armored, result.root)
        refused, signers, unindexed = _check_store(store, stored, base, keys)
        result.refused = [{"filename": f, "reason": refused[f]}
                          for f in sorted(refused)] + unindexed
        module_items, module_broken = module_plan.plan(base, entries)
        items = plan.requested(base.sack, entries, dict(module_broken, **dict(
            (f, "refused: " + why) for f, why in refused.items())))
        for item in items:
            if item.pkg is not None:
                base.package_install(item.pkg, strict=False)
        if any(i.pkg is not None for i in items):
            try:
                base.resolve()
            except dnf.exceptions.DepsolveError as e:
                raise PersistError("the solver failed: %s" % e)
        result.items = module_items + plan.after_resolve(base.sack, items,
                                                                base.transaction, entries)
        _explain_broken(base, result.items)
        installs = [i for i in result.items
                    if i.action in ("install", "upgrade", "remove", "enable")]
        run = installs and not result.dry_run and (result.skip_broken or not result.broken)
        if run:
            # For a local repo dnf only re-reads each file to compare its
            # checksum with the repodata's, as _check_store did for each
            # file of the store's index.
            checked = set(e["filename"] for e in stored) - set(refused)
            fetch = [i.pkg for i in installs if i.pkg is not None and i.action != "remove"
                     and not (i.pkg.reponame == plan.STORE_REPO and i.pkg.location in checked)]
            if fetch:
                base.download_packages(fetch)
            _check_remote(base, result.items, keys)
            wanted = [signers[i.pkg.location] for i in installs if i.pkg is not None
                      and i.repo == plan.STORE_REPO and i.pkg.location in signers]
            result.keys_imported = keys.import_into(result.root, wanted)
            try:
                # rpm would refuse what the trust policy accepted (docs/replay.md,
                # "Integrity"); dnf re-reads rpm's configuration until here.
                with signatures.digest_level_only(bool(result.unsigned_by_policy)):
                    base.do_transaction()
            except dnf.exceptions.Error as e:
                result.transaction_error = str(e)
            finally:
                if scratch is not None:
                    scratch.move_in(base)
        if not result.dry_run:
            _outcomes(result.root, result.items, run)
            failed = [i.nevra for i in result.items if i.outcome == "failed"]
            if failed and not result.transaction_error:
                result.transaction_error = ("rpm did not install %s (a scriptlet failed or a "
                                            "file conflicts)" % ", ".join(failed))
        _finish(result, installs)
    finally:
        if keys is not None:
            keys.close()
        if base is not None:
            base.close()
        if not result.dry_run:
            mounts.unmount(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
