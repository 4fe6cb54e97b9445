"""What the dnf and yum plugins do after a transaction, in one place.

The plugins translate their transaction into Installed/Erased facts and call
capture(); it never raises, so a capture problem never breaks the admin's
transaction. Python 2.7 compatible: without the rpm or createrepo_c bindings
(yum's interpreter on some hosts) packages are queued in the store's incoming
directory and taken in by `persistrepo ingest` (docs/el7.md).
"""

import errno
import os
import shutil
import subprocess
import sys

from persistrepo import config, fsutil
from persistrepo.compat import headers, rpmdb, stdlib
from persistrepo.store import failures, incoming, record
from persistrepo.store.keys import keep_signing_keys
from persistrepo.store.layout import Layout
from persistrepo.store.record import COMMANDLINE, nevra  # noqa: F401 (for the plugins)


class Installed(object):
    """A package the transaction really installed, where its file is, and the
    enabled module stream it is an artifact of (a names.check_module record;
    dnf 4 and dnf5 only: EL7's yum has no modules). error: why its file could
    not be kept until capture (Staging); capture then reports it as failed."""

    def __init__(self, path, name, nevra, origin=None, reason="unknown", module=None,
                 error=None):
        self.path = os.path.abspath(path)
        self.module = module
        self.name = name
        self.nevra = nevra
        self.origin = origin
        self.reason = reason
        self.error = error


class Erased(object):
    """A package the transaction removed from the system."""

    def __init__(self, name, nevra):
        self.name = name
        self.nevra = nevra


class Outcome(object):
    """NEVRAs persisted, dropped, skipped (with why) and failed (with why)."""

    def __init__(self):
        self.persisted = []
        self.dropped = []
        self.skipped = []
        self.failed = []
        self.notes = []
        self.fixes = {}

    def lines(self, store):
        """(kind, line) of what every plugin tells the admin, kind being
        "info", "detail" (a package not persisted on purpose), "error" or
        "warning"; the plugin puts its name before each line."""
        said = []
        if self.persisted:
            said.append(("info", "persisted %s in %s" % (", ".join(sorted(self.persisted)),
                                                         store)))
        if self.dropped:
            said.append(("info", "dropped %s from the store" % ", ".join(sorted(self.dropped))))
        said.extend(("detail", "not persisting %s: %s" % skipped) for skipped in self.skipped)
        said.extend(("error", "error: %s was NOT persisted (%s); it stays installed but will be "
                     "lost on the next image upgrade; fix: %s" % (nevra, why, self.fixes[nevra]))
                    for nevra, why in self.failed)
        said.extend(("warning", "warning: %s" % note) for note in self.notes)
        return said


# The packages packaging/python-persistrepo.spec builds. The transaction that
# installs them runs before dnf loads the plugin, so capture never sees it;
# the dnf plugin persists them afterwards (docs/dnf-plugin.md).
OWN_PACKAGES = ("python3-persistrepo", "python2-persistrepo",
                "python3-dnf-plugin-persist-rpm", "yum-plugin-persist-rpm",
                "persistrepo-imgbased", "dnf5-plugin-persistrepo")


# What every image ships: an image-update package requires imgbased, and
# the package manager comes with the image; nor is anything they need
# persisted as one of persistrepo's dependencies.
SHIPPED_BY_EVERY_IMAGE = ("imgbased", "python3-imgbased", "dnf", "python3-dnf", "yum", "rpm")


# Set in a front end's process before rpm runs when its hook runs
# finish_image_update() once the transaction ended: persistrepo-imgbased's
# trigger then says that what the store lacks goes into the new layer then.
FINISHING = "PERSISTREPO_FINISHES_IMAGE_UPDATE"


# Set by a front end (the dnf 4 and yum plugins) in its process before rpm
# runs a transaction on the host: the newest layer then. The scriptlets
# inherit it, so persistrepo-imgbased's trigger knows which layer this
# transaction made, whatever order rpm gave the packages.
NEWEST_LAYER_BEFORE = "PERSISTREPO_NEWEST_LAYER_BEFORE"


# What a Node is updated by; persistrepo-imgbased's triggers fire on them.
IMAGE_UPDATE_PACKAGES = ("ovirt-node-ng-image-update", "redhat-virtualization-host-image-update")


def note_newest_layer(names):
    """What a front end runs before rpm runs a transaction on the host that
    installs names: when the trigger may fire (persistrepo-imgbased or an
    image-update package among them), put the newest layer in this
    process's environment. Any other transaction loads nothing of
    imgbased's. Never raises; without it the trigger goes by its own
    %triggerprein record."""
    os.environ.pop(NEWEST_LAYER_BEFORE, None)
    if not set(names) & set(IMAGE_UPDATE_PACKAGES + ("persistrepo-imgbased",)):
        return
    try:
        from persistrepo import imgbased
        latest = imgbased.newest_layer()
    except Exception:
        return
    if latest:
        os.environ[NEWEST_LAYER_BEFORE] = latest


def start_capture_process(names):
    """The dnf plugin's capture process for a transaction that installs
    names, started (capture/process.py), or None."""
    from persistrepo.capture.process import CaptureProcess
    return CaptureProcess.start(names)


def finish_image_update(names):
    """Once a transaction that installed names (and captured some) ended on
    the host: if one is an image-update package, replay into the layer its
    replay went into what the store gained since, in a process of its own
    (`persistrepo imgbased-update --finish`, started from /, which finds
    this transaction as its parent), whose one line goes to the console.
    None, or the line to say if that process could not run."""
    if not set(names) & set(IMAGE_UPDATE_PACKAGES):
        return None
    try:
        env = dict((k, v) for k, v in os.environ.items() if k != FINISHING)
        subprocess.call([sys.executable, "-m", "persistrepo", "imgbased-update", "--finish"],
                        cwd="/", env=env)
    except Exception as e:  # the admin's transaction is done; say how to finish it
        return ("what this transaction persisted did not go into the layer its image update "
                "made (%s); before booting it, run 'persistrepo imgbased-update --layer LAYER' "
                "for the layer named above" % describe(e))
    return None


def own_unpersisted(settings, installroot, installed):
    """The (name, nevra) pairs of installed (persistrepo's own packages and
    what they need) that are not excluded and not in the store (read
    without its lock)."""
    own = [(n, v) for n, v in installed if not settings.excluded(n)]
    if not own:
        return []
    stored = set(e["nevra"] for e in
                 record.load_index(Layout(settings.store_path(installroot)).index).entries())
    return [(n, v) for n, v in own if v not in stored]


def dnf_module_lookup(base):
    """A function from a package of dnf 4's base to the module record of the
    enabled stream it is an artifact of, or None (persistrepo.capture.stream_reader)."""
    from persistrepo.capture.stream_reader import enabled_artifacts
    from persistrepo.streams import artifact
    found = enabled_artifacts(base)
    return lambda pkg: found.get(artifact(pkg.name, pkg.epoch, pkg.version, pkg.release,
                                          pkg.arch))


def bindings_available():
    try:
        import createrepo_c  # noqa: F401
        import rpm  # noqa: F401
    except ImportError:
        return False
    return True


STAGING = "yum-staging"


class Staging(object):
    """Private copies of the files a transaction is about to install, for a
    package manager that deletes its downloads before capture runs (yum:
    cleanUsedHeadersPackages). They live in <store>/.persistrepo/yum-staging/
    <pid>; what processes that died left there is removed."""

    def __init__(self, store_root):
        self.layout = Layout(store_root)
        self.path = None

    def stage(self, path):
        """A copy (or hardlink) of path in the staging directory."""
        if self.path is None:
            parent = os.path.join(self.layout.state, STAGING)
            for d in (self.layout.root, self.layout.state, parent):
                fsutil.ensure_dir(d)
            fsutil.check_ancestors(self.layout.root)
            for name in os.listdir(parent):
                if not (name.isdigit() and _pid_alive(int(name))):
                    _remove_tree(os.path.join(parent, name))
            self.path = os.path.join(parent, str(os.getpid()))
            fsutil.ensure_dir(self.path)
        return fsutil.stage_file(path, self.path)[0]

    def cleanup(self):
        _remove_tree(self.path)
        self.path = None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def _remove_tree(path):
    if path and os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def in_store(path, root, resolved_root=None):
    """True for one of the store's own package files (they sit directly in
    root); scratch files under root/.persistrepo (the yum plugin's staging)
    are not the store's. resolved_root: os.path.realpath(root), if the
    caller asks about many files."""
    return os.path.dirname(os.path.realpath(path)) == (resolved_root or os.path.realpath(root))


def _cause(why):
    """The cause alone: advice that follows it (after '; ') goes."""
    return why.split("; ", 1)[0]


def describe(err):
    """An exception as a short reason, for messages."""
    return getattr(err, "strerror", None) or str(err) or err.__class__.__name__


def capture(settings, installroot, installed, erased, method, fix, ahead=None):
    """Persist installed, drop erased; fix is a command template with {name}
    (or {nevra}) that repairs a failed capture (e.g. "dnf persist add {name}").
    ahead: a store.read_ahead.ReadAhead of (some of) the files."""
    out = Outcome()
    root = settings.store_path(installroot)
    resolved_root = os.path.realpath(root)
    wanted = []
    for pkg in installed:
        if pkg.error:
            out.failed.append((pkg.nevra, pkg.error))
        elif settings.excluded(pkg.name):
            out.skipped.append((pkg.nevra, "excluded by the exclude setting"))
        elif in_store(pkg.path, root, resolved_root):
            out.skipped.append((pkg.nevra, "installed from the store itself"))
        else:
            wanted.append(pkg)
    gone = [e for e in erased if not settings.excluded(e.name)] \
        if settings.remove_on_erase else []
    try:
        if bindings_available():
            if wanted or gone:  # else the store (and its imports) has nothing to do
                _direct(out, root, installroot, wanted, gone, method, ahead)
        else:
            _queued(out, root, settings, installroot, wanted, gone, method)
    except Exception as e:  # anything at all: the admin's transaction must go on
        done = set(out.persisted) | set(n for n, _ in out.failed)
        out.failed.extend((p.nevra, describe(e)) for p in wanted if p.nevra not in done)
    path = failures.path_for(installroot)
    by_nevra = dict((p.nevra, p) for p in installed)
    # One short line per failure: the cause, and one fix (the error's own
    # advice, if any, would be a second one; the fix reports it if it holds).
    out.failed = [(n, _cause(why)) for n, why in out.failed]
    for nevra, _ in out.failed:
        out.fixes[nevra] = out.fixes.get(nevra) or advice(by_nevra.get(nevra), nevra, fix,
                                                          root, installroot)
    if out.failed:
        if not failures.record(path, [(n, msg, out.fixes[n]) for n, msg in out.failed],
                               method, root):
            out.notes.append("could not record the failure in %s either" % path)
    failures.forget(path, out.persisted + out.dropped)
    if installroot in (None, "", "/"):
        try:
            from persistrepo import imgbased
            note = imgbased.boot_setup_after_capture([p.name for p in installed],
                                                     "yum" if method == "yum" else "dnf")
        except Exception as e:  # the admin's transaction must go on
            note = "imgbased's boot set-up could not run (%s)" % describe(e)
        if note:
            out.notes.append(note)
    return out


def fix_template(tool, installroot):
    """The fix command of a failed capture as a template with {name}: the
    root is shell-quoted and its braces doubled, so no root name (a brace
    in it) can break the template."""
    if installroot in (None, "", "/"):
        return "%s persist add {name}" % tool
    root = stdlib.shell_quote(installroot).replace("{", "{{").replace("}", "}}")
    return "%s --installroot=%s persist add {name}" % (tool, root)


def yum_fix_template(store):
    """The yum plugin's fix of a failed capture, a template with {nevra}:
    yum has no `persist add`, so the package is downloaded and added by
    persistrepo, to the store capture wrote (named unless it is the
    default one)."""
    add = "persistrepo add"
    if store != config.DEFAULT_PERSIST_DIR:
        add = "persistrepo --store %s add" % stdlib.shell_quote(store).replace(
            "{", "{{").replace("}", "}}")
    return "yumdownloader --destdir=/var/tmp/persist {nevra} && %s /var/tmp/persist/*.rpm" % add


def advice(pkg, nevra, fix, root, installroot):
    """A command that persists this package: for a local file that is still
    there and still the build rpm installed, `persistrepo add` with its path
    (no repo has it); else fix."""
    if pkg is not None and pkg.origin == record.COMMANDLINE and os.path.isfile(pkg.path) \
            and _still_installed_build(pkg, installroot):
        store = " --store %s" % stdlib.shell_quote(root) if installroot not in (None, "", "/") else ""
        return "persistrepo%s add %s" % (store, stdlib.shell_quote(pkg.path))
    return fix.format(name=stdlib.shell_quote(pkg.name if pkg is not None else nevra),
                      nevra=stdlib.shell_quote(nevra))


def _still_installed_build(pkg, installroot):
    """True if pkg.path holds the build the rpmdb has (a file swapped after
    rpm read it must not be what the fix stores); True where the bindings
    that could tell are missing (yum's queued path)."""
    if not bindings_available():
        return True
    from persistrepo.store import rpmfile
    try:
        info = rpmfile.read_package(os.path.realpath(pkg.path))
        installed = rpmdb.installed_identities(installroot or "/", [info.name])
    except Exception:  # unreadable, not an RPM: no fix that names it
        return False
    return info.identity["nevra"] == pkg.nevra and \
        headers.same_build(info.identity, installed.get(pkg.nevra, {"nevra": None})) is None


def _direct(out, root, installroot, wanted, gone, method, ahead):
    from persistrepo.store.store import Candidate, Store
    store = Store(root)
    # Each file must prove to be the build the rpmdb now holds (Store._stage).
    builds = rpmdb.installed_identities(installroot or "/", [p.name for p in wanted])
    for p in [p for p in wanted if p.nevra not in builds]:
        out.failed.append((p.nevra, "the rpm database of %s does not list it as installed"
                           % (installroot or "/")))
    wanted = [p for p in wanted if p.nevra in builds]
    if wanted:
        result = store.add([Candidate(p.path, method, p.origin, p.reason, supersede=True,
                                      module=p.module, installed=builds[p.nevra])
                            for p in wanted],
                           all_or_nothing=False, read_ahead=ahead)
        out.notes.extend(result.warnings)
        failed = dict((c.path, describe(err)) for c, err in result.failed)
        for p in wanted:
            if p.path in failed:
                out.failed.append((p.nevra, failed[p.path]))
            else:
                out.persisted.append(p.nevra)
    if gone:
        removed = store.remove([g.nevra for g in gone], missing_ok=True, literal=True)
        out.dropped.extend(e["nevra"] for e in removed.entries)
        out.notes.extend(removed.warnings)
    if wanted:
        missing = keep_signing_keys(store, installroot, result.signers)
        if missing:
            out.notes.append("no public key for %s in the rpmdb; replay cannot check "
                             "those signatures" % ", ".join(missing))


def _queued(out, root, settings, installroot, wanted, gone, method):
    queued = []
    for p in wanted:
        try:
            incoming.queue_add(root, p.path, p.nevra, installroot, method, p.origin, p.reason,
                               supersede=True)
            queued.append(p)
        except (IOError, OSError) as e:
            out.failed.append((p.nevra, describe(e)))
    for g in gone:
        incoming.queue_remove(root, g.nevra)
    note = run_ingest(settings, root, installroot)
    if note:
        out.notes.append(note)
    layout = Layout(root)
    stored = set(e["nevra"] for e in record.load_index(layout.index).entries())
    waiting = bool(incoming.pending(layout))
    for p in queued:
        if p.nevra in stored:
            out.persisted.append(p.nevra)
        elif waiting:
            out.failed.append((p.nevra, "queued in %s, not yet ingested" % layout.incoming))
            out.fixes[p.nevra] = "persistrepo --store %s ingest" % stdlib.shell_quote(root)
        else:  # ingest recorded why
            why = [f["error"] for f in failures.load(failures.path_for(installroot))
                   if f["nevra"] == p.nevra]
            out.failed.append((p.nevra, why[-1] if why else "'persistrepo ingest' refused it"))
    out.dropped.extend(g.nevra for g in gone if g.nevra not in stored)


def queued_remove(settings, root, installroot, entries):
    """Queue the removal of entries and run ingest_command; the entries it
    really removed."""
    for e in entries:
        incoming.queue_remove(root, e["nevra"])
    run_ingest(settings, root, installroot)
    left = set(e["nevra"] for e in record.load_index(Layout(root).index).entries())
    return [e for e in entries if e["nevra"] not in left]


def run_ingest(settings, root, installroot):
    """Run ingest_command on the store; a note if it could not run, else None."""
    cmd = settings.ingest_command.split() + ["--store", root, "ingest",
                                             "--installroot", installroot or "/"]
    try:
        subprocess.call(cmd)
    except OSError as e:
        return ("could not run %s (%s); the queued requests wait in %s until "
                "'persistrepo ingest' runs" % (cmd[0], describe(e), root))
    return None
