"""persist_rpm: keep every RPM that yum installs in the persistrepo store.

The yum 3 (EL7, Python 2.7) twin of the dnf plugin: same store, same config
keys, same capture code (persistrepo.capture), provenance method "yum".
See docs/el7.md for what runs where, and dnf-persist(8) for the config keys.

How it hooks into yum 3.4.3's YumBase.runTransaction:
- pretrans: every member about to be installed (TS_INSTALL, TS_TRUEINSTALL,
  TS_UPDATE, TS_OBSOLETING: installs, dependencies, updates, obsoleting
  packages, reinstalls, downgrades, local files) is staged: its downloaded
  file is copied (or hardlinked) into <store>/.persistrepo/yum-staging/<pid>/,
  because yum deletes the downloaded files (cleanUsedHeadersPackages, when
  keepcache=0) before posttrans runs.
- posttrans: only what the rpmdb really has afterwards is handed to
  persistrepo.capture, with what the rpmdb no longer has of the removed
  members; the staging is deleted. A transaction rpm could not run never
  reaches posttrans: it persists nothing, and the close hook deletes the
  staging.
- config: registers `yum persist list|remove|status` where yum is the CLI.

Nothing here may break the admin's transaction: every problem is reported,
recorded for `yum persist status`, and swallowed.

Python 2.7 and 3.6+; nothing heavier than the standard library is imported
until a capture needs it.
"""

import errno
import os
import shutil
import sys

from yum.constants import TS_INSTALL_STATES, TS_REMOVE_STATES
from yum.plugins import TYPE_CORE

from persistrepo import capture, compat, config, failures, fsutil, incoming, listing, record, specs
from persistrepo.errors import PersistError
from persistrepo.layout import Layout

requires_api_version = '2.6'
plugin_type = (TYPE_CORE,)

STAGING = "yum-staging"
FIX = ("yumdownloader --destdir=/var/tmp/persist {nevra} && "
       "persistrepo add /var/tmp/persist/*.rpm")
_BOOLS = ("remove_on_erase", "capture_installroot")
AT_RISK = 100  # `yum persist status` found something to act on

_txn = None  # the transaction being captured, between pretrans and posttrans


def read_settings(conduit):
    """The [main] keys of persist_rpm.conf, read through the conduit: strings
    with confString, booleans with confBool (yum's 0/1, yes/no, true/false).
    Lists (exclude) are split here: 3.4.3's conduit has no confList."""
    def get(key):
        if key in _BOOLS:
            value = conduit.confBool("main", key)
            return None if value is None else ("1" if value else "0")
        return conduit.confString("main", key)
    return config.Settings.from_values(get)


def _po_nevra(po):
    return record.nevra(po.name, po.epoch if po.epoch != "0" else None, po.version,
                        po.release, po.arch)


def _origin(po):
    """The repo id, or '@commandline' for a local file (yum names its fake
    repo '/' + the file name)."""
    if getattr(po, "pkgtype", None) == "local" or po.repoid.startswith("/"):
        return record.COMMANDLINE
    return po.repoid


def _reason(txmbr):
    if txmbr.isDep or txmbr.reason == "dep":
        return "dependency"
    if txmbr.reason == "user":
        return "user"
    return "unknown"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def _remove_tree(path):
    if path and os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


class _Member(object):
    """One package to install: what capture needs, and its staged file."""

    def __init__(self, txmbr, path):
        po = txmbr.po
        self.name, self.epoch, self.version = po.name, po.epoch, po.version
        self.release, self.arch = po.release, po.arch
        self.nevra = _po_nevra(po)
        self.origin = _origin(po)
        self.reason = _reason(txmbr)
        self.path = path
        self.error = None


class _Transaction(object):
    def __init__(self, settings, installroot):
        self.settings = settings
        self.installroot = installroot
        self.store = settings.store_path(installroot)
        self.staging = None
        self.members = []

    def staging_dir(self):
        """<store>/.persistrepo/yum-staging/<pid>, created safely; leftovers
        of yum processes that died are removed."""
        if self.staging is None:
            layout = Layout(self.store)
            parent = os.path.join(layout.state, STAGING)
            for d in (layout.root, layout.state, parent):
                fsutil.ensure_dir(d)
            fsutil.check_ancestors(layout.root)
            for name in os.listdir(parent):
                if not (name.isdigit() and _pid_alive(int(name))):
                    _remove_tree(os.path.join(parent, name))
            path = os.path.join(parent, str(os.getpid()))
            fsutil.ensure_dir(path)
            self.staging = path
        return self.staging

    def cleanup(self):
        _remove_tree(self.staging)
        self.staging = None


# -- hooks -------------------------------------------------------------------

def config_hook(conduit):
    """Register `yum persist` where yum is the command line (the conduit's
    registerCommand raises ConfigError elsewhere, e.g. for yum-cron)."""
    if hasattr(conduit._base, "registerCommand"):
        conduit.registerCommand(PersistCommand(conduit))


def pretrans_hook(conduit):
    """Stage the files of everything about to be installed."""
    global _txn
    _txn = None
    try:
        settings = read_settings(conduit)
    except (ValueError, PersistError) as e:
        conduit.error(1, "persist_rpm: error: persist_rpm.conf: %s; nothing of this "
                         "transaction will be persisted" % e)
        return
    installroot = conduit.getConf().installroot or "/"
    if installroot != "/" and not settings.capture_installroot:
        conduit.info(3, "persist_rpm: capture_installroot=0, not capturing in %s"
                     % installroot)
        return
    txn = _Transaction(settings, installroot)
    tsinfo = conduit.getTsInfo()
    members = tsinfo.getMembersWithState(output_states=TS_INSTALL_STATES)
    for txmbr in sorted(members, key=lambda t: t.pkgtup):
        path = txmbr.po.localPkg()
        m = _Member(txmbr, path)
        txn.members.append(m)
        if settings.excluded(m.name) or capture.in_store(path, txn.store):
            continue  # capture says why it skips them; no copy needed
        try:
            m.path, _ = fsutil.stage_file(path, txn.staging_dir())
        except (IOError, OSError, PersistError) as e:
            m.error = "could not stage %s in %s: %s" % (
                os.path.basename(path), txn.store, capture.describe(e))
    _txn = txn


def posttrans_hook(conduit):
    """Persist what the rpmdb really has now, drop what it lost."""
    global _txn
    txn, _txn = _txn, None
    if txn is None:
        return
    try:
        _commit(conduit, txn)
    except Exception as e:  # never break the admin's transaction
        conduit.error(1, "persist_rpm: error: capture failed: %s" % capture.describe(e))
    finally:
        txn.cleanup()


def close_hook(conduit):
    """yum runs this at exit, also when the transaction failed and posttrans
    never ran: leave no staged files behind."""
    global _txn
    if _txn is not None:
        _txn.cleanup()
        _txn = None


def _commit(conduit, txn):
    rpmdb = conduit.getRpmDB()
    installed, unstaged = [], []
    for m in txn.members:
        if not rpmdb.searchNevra(name=m.name, epoch=m.epoch, ver=m.version, rel=m.release,
                                 arch=m.arch):
            conduit.info(2, "persist_rpm: %s is not installed after the transaction; "
                            "not persisted" % m.nevra)
        elif m.error:
            unstaged.append(m)
        else:
            installed.append(capture.Installed(m.path, m.name, m.nevra, m.origin, m.reason))
    erased = []
    for txmbr in conduit.getTsInfo().getMembersWithState(output_states=TS_REMOVE_STATES):
        if not rpmdb.contains(po=txmbr.po):
            erased.append(capture.Erased(txmbr.name, _po_nevra(txmbr.po)))
    out = capture.capture(txn.settings, txn.installroot, installed, erased, method="yum",
                          fix=FIX)
    if unstaged:
        failures.record(failures.path_for(txn.installroot),
                        [(m.nevra, m.error, FIX.format(name=m.name, nevra=m.nevra))
                         for m in unstaged], "yum", txn.store)
        out.failed.extend((m.nevra, m.error) for m in unstaged)
    _report(conduit, txn, out, dict((m.nevra, m.name) for m in txn.members))


def _report(conduit, txn, out, names):
    for nevra in out.persisted:
        conduit.info(2, "persist_rpm: persisted %s" % nevra)
    for nevra in out.dropped:
        conduit.info(2, "persist_rpm: dropped %s from the store" % nevra)
    for nevra, why in out.skipped:
        conduit.info(3, "persist_rpm: not persisting %s: %s" % (nevra, why))
    for nevra, why in out.failed:
        conduit.error(1, "persist_rpm: error: %s was not persisted in %s: %s. The "
                         "transaction itself succeeded. Fix: %s"
                      % (nevra, txn.store, why, out.fixes.get(nevra) or
                         FIX.format(name=names.get(nevra, nevra), nevra=nevra)))
    for note in out.notes:
        conduit.error(2, "persist_rpm: warning: %s" % note)
    if out.failed:
        conduit.error(2, "persist_rpm: 'yum persist status' lists what is not persisted")


# -- yum persist ---------------------------------------------------------------

class PersistCommand(object):
    """`yum persist list [--json] | remove SPEC... | status`, a yum 3.4.3
    YumCommand (getNames, getUsage, getSummary, doCheck, doCommand, needTs)."""

    def __init__(self, conduit):
        try:
            self.settings, self.problem = read_settings(conduit), None
        except (ValueError, PersistError) as e:
            self.settings, self.problem = None, "persist_rpm.conf: %s" % e

    def getNames(self):
        return ["persist"]

    def getUsage(self):
        return "list [--json] | remove SPEC... | status"

    def getSummary(self):
        return "Show or drop the packages kept across image upgrades"

    def doCheck(self, base, basecmd, extcmds):
        pass

    def needTs(self, base, basecmd, extcmds):
        return False

    def doCommand(self, base, basecmd, extcmds):
        if self.problem:
            return 1, [self.problem]
        sub, args = (extcmds[0], extcmds[1:]) if extcmds else ("list", [])
        handler = {"list": self._list, "remove": self._remove,
                   "status": self._status}.get(sub)
        if handler is None:
            return 1, ["unknown persist command '%s'; usage: yum persist %s"
                       % (sub, self.getUsage())]
        installroot = base.conf.installroot or "/"
        layout = Layout(self.settings.store_path(installroot))
        try:
            return handler(base, layout, installroot, args)
        except PersistError as e:
            return 1, [str(e)]
        except (IOError, OSError) as e:
            return 1, ["%s: %s" % (getattr(e, "filename", None) or layout.root,
                                   capture.describe(e))]

    @staticmethod
    def _entries(layout):
        return record.load_index(layout.index).entries()

    def _list(self, base, layout, installroot, args):
        if args not in ([], ["--json"]):
            return 1, ["usage: yum persist list [--json]"]
        entries = self._entries(layout)
        _out(listing.to_json(entries) if args else listing.table(entries))
        waiting = incoming.pending(layout)
        if waiting and not args:
            _out("%s waiting in %s; run 'persistrepo ingest'"
                 % (listing.count(len(waiting), "request"), layout.incoming))
        return 0, []

    def _remove(self, base, layout, installroot, args):
        if not args:
            return 1, ["usage: yum persist remove SPEC..."]
        if os.geteuid() != 0:
            return 1, ["You need to be root to perform this command."]
        chosen, unmatched = specs.select(args, self._entries(layout))
        if unmatched:
            return 1, ["no persisted package matches %s; see 'yum persist list'"
                       % ", ".join("'%s'" % s for s in unmatched)]
        if capture.bindings_available():
            from persistrepo.store import Store
            removed = [e["nevra"] for e in Store(layout.root).remove(args)]
        else:
            for e in chosen:
                incoming.queue_remove(layout.root, e["nevra"])
            capture.run_ingest(self.settings, layout.root, installroot)
            left = set(e["nevra"] for e in self._entries(layout))
            removed = [e["nevra"] for e in chosen if e["nevra"] not in left]
            if len(removed) != len(chosen):
                return 1, ["%s still in the store; the request waits in %s until "
                           "'persistrepo ingest' runs"
                           % (", ".join(e["nevra"] for e in chosen if e["nevra"] in left),
                              layout.incoming)]
        for nevra in removed:
            _out("removed %s (it stays installed)" % nevra)
        return 0, []

    def _status(self, base, layout, installroot, args):
        """Cheap status: recorded capture failures, requests waiting in
        incoming, persisted packages no longer installed. (Installed packages
        that are in neither the image nor the store: `persistrepo status`.)"""
        failed = failures.load(failures.path_for(installroot))
        waiting = incoming.pending(layout)
        gone = [e for e in self._entries(layout)
                if not base.rpmdb.searchNevra(name=e["name"], epoch=str(e["epoch"] or 0),
                                              ver=e["version"], rel=e["release"],
                                              arch=e["arch"])]
        for f in failed:
            _out("not persisted: %s (%s, %s): %s\n  fix: %s"
                 % (f.get("nevra"), f.get("method"), f.get("when"), f.get("error"),
                    f.get("fix")))
        if waiting:
            _out("waiting: %s in %s; run 'persistrepo ingest'"
                 % (listing.count(len(waiting), "request"), layout.incoming))
        for e in gone:
            _out("persisted but not installed: %s (a replay would install it again; "
                 "'yum persist remove %s' drops it)" % (e["nevra"], e["nevra"]))
        if not (failed or waiting or gone):
            _out("ok: %s holds every captured package" % layout.root)
            return 0, []
        _out("%s, %d waiting, %d persisted but not installed"
             % (listing.count(len(failed), "capture failure"), len(waiting), len(gone)))
        return AT_RISK, []  # yummain passes 100 through, as dnf persist status


def _out(text):
    compat.write_text(sys.stdout, text + "\n")
    sys.stdout.flush()
