"""persist_rpm: keep every RPM that yum installs in the persistrepo store.

The yum 3 (EL7, Python 2.7) twin of the dnf plugin: same store, same config
keys, same capture code (persistrepo.capture.capture), provenance method "yum".
See docs/el7.md for what runs where, and dnf-persist(8) for the config keys.

How it hooks into yum 3.4.3's YumBase.runTransaction:
- pretrans: every member about to be installed (TS_INSTALL, TS_TRUEINSTALL,
  TS_UPDATE, TS_OBSOLETING: installs, dependencies, updates, obsoleting
  packages, reinstalls, downgrades, local files) is staged: its downloaded
  file is copied (or hardlinked) aside (persistrepo.capture.capture.Staging),
  because yum deletes the downloaded files (cleanUsedHeadersPackages, when
  keepcache=0) before posttrans runs.
- posttrans: only what the rpmdb really has afterwards is handed to
  persistrepo.capture.capture, with what the rpmdb no longer has of the erased and
  obsoleted members (the old side of an update or downgrade is left to the
  store's supersede, as in the dnf plugin); the staging is deleted. A
  transaction rpm could not run never reaches posttrans: it persists
  nothing, and the close hook deletes the staging.
- config: registers `yum persist list|remove|status` where yum is the CLI.

Nothing here may break the admin's transaction: every problem is reported,
recorded for `yum persist status`, and swallowed.

Python 2.7 and 3.6+; nothing heavier than the standard library is imported
until a capture needs it.
"""

import os

from yum.constants import TS_ERASE, TS_INSTALL_STATES, TS_OBSOLETED
from yum.plugins import TYPE_CORE

from persistrepo import config
from persistrepo.capture import capture

requires_api_version = '2.6'
plugin_type = (TYPE_CORE,)

_BOOLS = ("remove_on_erase", "capture_installroot")

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
    return capture.nevra(po.name, po.epoch if po.epoch != "0" else None, po.version,
                         po.release, po.arch)


def _origin(po):
    """The repo id, or '@commandline' for a local file (yum names its fake
    repo '/' + the file name)."""
    if getattr(po, "pkgtype", None) == "local" or po.repoid.startswith("/"):
        return capture.COMMANDLINE
    return po.repoid


def _reason(txmbr):
    if txmbr.isDep or txmbr.reason == "dep":
        return "dependency"
    if txmbr.reason == "user":
        return "user"
    return "unknown"


class _Transaction(object):
    """The packages about to be installed, with their staged files."""

    def __init__(self, settings, installroot):
        self.settings = settings
        self.installroot = installroot
        self.store = settings.store_path(installroot)
        self.staging = capture.Staging(self.store)
        self.members = []  # (txmbr, capture.Installed)


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
    except (ValueError, config.UsageError) as e:
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
    if installroot == "/":
        # persistrepo-imgbased's trigger: the newest layer before rpm runs.
        capture.note_newest_layer([t.po.name for t in members])
    for txmbr in sorted(members, key=lambda t: t.pkgtup):
        po = txmbr.po
        pkg = capture.Installed(po.localPkg(), po.name, _po_nevra(po), _origin(po),
                                _reason(txmbr))
        txn.members.append((txmbr, pkg))
        if settings.excluded(pkg.name) or capture.in_store(pkg.path, txn.store):
            continue  # capture says why it skips them; no copy needed
        try:
            pkg.path = txn.staging.stage(pkg.path)
        except Exception as e:
            pkg.error = "could not stage %s in %s: %s" % (
                os.path.basename(pkg.path), txn.store, capture.describe(e))
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
        txn.staging.cleanup()


def close_hook(conduit):
    """yum runs this at exit, also when the transaction failed and posttrans
    never ran: leave no staged files behind."""
    global _txn
    if _txn is not None:
        _txn.staging.cleanup()
        _txn = None


def _commit(conduit, txn):
    rpmdb = conduit.getRpmDB()
    installed = []
    for txmbr, pkg in txn.members:
        if rpmdb.contains(po=txmbr.po):
            installed.append(pkg)
        else:
            conduit.info(2, "persist_rpm: %s is not installed after the transaction; "
                            "not persisted" % pkg.nevra)
    # The old side of an update or downgrade is not dropped here, as in the dnf
    # plugin: the store's supersede drops it once the new version is captured,
    # and keeps it if that capture failed.
    erased = [capture.Erased(t.name, _po_nevra(t.po)) for t in conduit.getTsInfo()
              .getMembersWithState(output_states=[TS_ERASE, TS_OBSOLETED])
              if not t.downgraded_by and not rpmdb.contains(po=t.po)]
    out = capture.capture(txn.settings, txn.installroot, installed, erased, method="yum",
                          fix=capture.yum_fix_template(txn.store))
    _report(conduit, txn, out)
    own = [(po.name, _po_nevra(po)) for name in capture.OWN_PACKAGES
           for po in rpmdb.searchNevra(name=name)]
    for _, nevra in capture.own_unpersisted(txn.settings, txn.installroot, own):
        # yum loads no plugin in the transaction that installs it, and yum
        # deletes its downloads (keepcache=0): the admin adds the files (the
        # dnf plugin fetches them from a repo instead).
        conduit.error(2, "persist_rpm: warning: persistrepo's own package %s is not persisted; "
                         "the next image will lack persistrepo; fix: %s"
                      % (nevra, capture.yum_fix_template(txn.store).format(nevra=nevra)))
    from persistrepo.front import commands
    line = commands.image_update_line([p.name for p in installed],
                                      bool(rpmdb.searchNevra(name="persistrepo-imgbased")),
                                      txn.installroot)
    if line:
        conduit.error(2, line)


def _report(conduit, txn, out):
    say = {"info": lambda line: conduit.info(2, line),
           "detail": lambda line: conduit.info(3, line),
           "error": lambda line: conduit.error(1, line),
           "warning": lambda line: conduit.error(2, line)}
    for kind, line in out.lines(txn.store):
        say[kind]("persist_rpm: " + line)
    if out.failed:
        conduit.error(2, "persist_rpm: 'yum persist status' lists what is not persisted")


# -- yum persist ---------------------------------------------------------------

class PersistCommand(object):
    """`yum persist list|remove|status`, with the options of
    persistrepo.front.subcommands, a yum 3.4.3
    YumCommand (getNames, getUsage, getSummary, doCheck, doCommand, needTs)."""

    def __init__(self, conduit):
        try:
            self.settings, self.problem = read_settings(conduit), None
        except (ValueError, config.UsageError) as e:
            self.settings, self.problem = None, "persist_rpm.conf: %s" % e

    def getNames(self):
        return ["persist"]

    def getUsage(self):
        return "[list|remove|status] [SPEC...] [OPTIONS] (dnf-persist(8))"

    def getSummary(self):
        return "Show or drop the packages kept across image upgrades"

    def doCheck(self, base, basecmd, extcmds):
        pass

    def needTs(self, base, basecmd, extcmds):
        return False

    def doCommand(self, base, basecmd, extcmds):
        from persistrepo.front import commands
        if self.problem:
            return 1, [self.problem]
        try:
            args = commands.subcommands.parse_plugin_words("yum", extcmds)
        except commands.subcommands.WordsError as e:
            return 1, ["%s; usage: yum persist %s" % (e, self.getUsage())]
        installroot = base.conf.installroot or "/"
        path = getattr(args, "store", None) or self.settings.store_path(installroot)
        try:
            store = commands.Store(path)
            out = getattr(self, "_" + args.subcommand)(base, store, installroot, args)
        except commands.PersistError as e:
            return 1, [str(e)]
        except (IOError, OSError) as e:
            return 1, ["%s: %s" % (getattr(e, "filename", None) or path, capture.describe(e))]
        for line in out.lines:
            _out(line)
        for warning in out.warnings:
            _out("warning: " + warning)
        return out.exit_code, out.errors

    def _list(self, base, store, installroot, args):
        from persistrepo.front import commands
        return commands.list_packages(store, args.specs, args.json, args.removed)

    def _remove(self, base, store, installroot, args):
        from persistrepo.front import commands
        chosen = commands.dropping(store, args.specs, front=commands.Front(
            "yum", getattr(args, "store", None), installroot))
        if args.dry_run:
            return commands.would_drop(chosen)
        if os.geteuid() != 0:
            raise commands.UsageError("You need to be root to perform this command.")
        return commands.drop(store, chosen, installroot, settings=self.settings)

    def _status(self, base, store, installroot, args):
        """Cheap status (commands.pending): not `persistrepo status`, which
        also finds installed packages in neither the image nor the store."""
        from persistrepo.front import commands
        return commands.pending(store, installroot, lambda e: base.rpmdb.searchNevra(
            name=e["name"], epoch=str(e["epoch"] or 0), ver=e["version"], rel=e["release"],
            arch=e["arch"]), commands.Front("yum", getattr(args, "store", None), installroot))


def _out(text):
    from persistrepo.front import commands
    commands.say(text)
