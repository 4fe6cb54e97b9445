"""What the dnf and yum plugins do after a transaction, in one place.

The plugins translate their transaction into Installed/Erased facts and call
capture(); it never raises, so a capture problem never breaks the admin's
transaction. Python 2.7 compatible: without the rpm or createrepo_c bindings
(yum's interpreter on some hosts) packages are queued in the store's incoming
directory and taken in by `persistrepo ingest` (docs/el7.md).
"""

import os
import subprocess

from persistrepo import compat, failures, incoming, record
from persistrepo.layout import Layout


class Installed(object):
    """A package the transaction really installed, where its file is, and the
    enabled module stream it is an artifact of (a names.check_module record;
    dnf 4 only: EL7's yum has no modules)."""

    def __init__(self, path, name, nevra, origin=None, reason="unknown", module=None):
        self.path = os.path.abspath(path)
        self.module = module
        self.name = name
        self.nevra = nevra
        self.origin = origin
        self.reason = reason


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


# The packages packaging/python-persistrepo.spec builds. The transaction that
# installs them runs before dnf loads the plugin, so capture never sees it;
# the dnf plugin persists them afterwards (docs/dnf-plugin.md).
OWN_PACKAGES = ("python3-persistrepo", "python2-persistrepo",
                "python3-dnf-plugin-persist-rpm", "yum-plugin-persist-rpm",
                "persistrepo-imgbased", "dnf5-plugin-persistrepo")


def own_unpersisted(settings, installroot, installed):
    """The (name, nevra) pairs of installed that are persistrepo's own
    packages, not excluded and not in the store (read without its lock)."""
    own = [(n, v) for n, v in installed if n in OWN_PACKAGES and not settings.excluded(n)]
    if not own:
        return []
    stored = set(e["nevra"] for e in
                 record.load_index(Layout(settings.store_path(installroot)).index).entries())
    return [(n, v) for n, v in own if v not in stored]


def bindings_available():
    try:
        import createrepo_c  # noqa: F401
        import rpm  # noqa: F401
    except ImportError:
        return False
    return True


def in_store(path, root):
    """True for one of the store's own package files (they sit directly in
    root); scratch files under root/.persistrepo (the yum plugin's staging)
    are not the store's."""
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(root)


def describe(err):
    """An exception as a short reason, for messages."""
    return getattr(err, "strerror", None) or str(err) or err.__class__.__name__


def capture(settings, installroot, installed, erased, method, fix):
    """Persist installed, drop erased; fix is a command template with {name}
    (or {nevra}) that repairs a failed capture (e.g. "dnf persist add {name}")."""
    out = Outcome()
    root = settings.store_path(installroot)
    wanted = []
    for pkg in installed:
        if settings.excluded(pkg.name):
            out.skipped.append((pkg.nevra, "excluded by the exclude setting"))
        elif in_store(pkg.path, root):
            out.skipped.append((pkg.nevra, "installed from the store itself"))
        else:
            wanted.append(pkg)
    gone = [e for e in erased if not settings.excluded(e.name)] \
        if settings.remove_on_erase else []
    try:
        if bindings_available():
            _direct(out, root, installroot, wanted, gone, method)
        else:
            _queued(out, root, settings, installroot, wanted, gone, method)
    except Exception as e:  # anything at all: the admin's transaction must go on
        done = set(out.persisted) | set(n for n, _ in out.failed)
        out.failed.extend((p.nevra, describe(e)) for p in wanted if p.nevra not in done)
    path = failures.path_for(installroot)
    by_nevra = dict((p.nevra, p) for p in wanted)
    for nevra, _ in out.failed:
        out.fixes[nevra] = advice(by_nevra.get(nevra), nevra, fix, root, installroot)
    if out.failed:
        if not failures.record(path, [(n, msg, out.fixes[n]) for n, msg in out.failed],
                               method, root):
            out.notes.append("could not record the failure in %s either" % path)
    failures.forget(path, out.persisted + out.dropped)
    return out


def advice(pkg, nevra, fix, root, installroot):
    """A command that persists this package: for a local file that is still
    there, `persistrepo add` with its path (no repo has it); else fix."""
    if pkg is not None and pkg.origin == record.COMMANDLINE and os.path.isfile(pkg.path):
        store = " --store %s" % compat.shell_quote(root) if installroot not in (None, "", "/") else ""
        return "persistrepo%s add %s" % (store, compat.shell_quote(pkg.path))
    return fix.format(name=pkg.name if pkg is not None else nevra, nevra=nevra)


def _direct(out, root, installroot, wanted, gone, method):
    from persistrepo.store import Candidate, Store
    store = Store(root)
    if wanted:
        result = store.add([Candidate(p.path, method, p.origin, p.reason, supersede=True,
                                      module=p.module) for p in wanted],
                           all_or_nothing=False)
        failed = dict((c.path, describe(err)) for c, err in result.failed)
        for p in wanted:
            if p.path in failed:
                out.failed.append((p.nevra, failed[p.path]))
            else:
                out.persisted.append(p.nevra)
    if gone:
        out.dropped.extend(e["nevra"] for e in store.remove([g.nevra for g in gone],
                                                            missing_ok=True))
    if wanted:
        missing = store.keep_signing_keys(installroot)
        if missing:
            out.notes.append("no public key for %s in the rpmdb; replay cannot check "
                             "those signatures" % ", ".join(missing))


def _queued(out, root, settings, installroot, wanted, gone, method):
    queued = []
    for p in wanted:
        try:
            incoming.queue_add(root, p.path, method, p.origin, p.reason, supersede=True)
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
            out.failed.append((p.nevra, "queued in %s; run 'persistrepo ingest'"
                               % layout.incoming))
        else:
            out.failed.append((p.nevra, "'persistrepo ingest' refused it"))
    out.dropped.extend(g.nevra for g in gone if g.nevra not in stored)


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
