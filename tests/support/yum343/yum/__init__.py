"""YumBase, reduced to what drives the plugin hooks, mirroring yum 3.4.3
yum/__init__.py: downloadPkgs (lines 1910-2046), runTransaction (1456-1571),
verifyTransaction (1573-1681), cleanUsedHeadersPackages (2183-2219),
getPackageObject (3037-3065), _add_prob_flags (3434-3438), and the tsInfo
calls that install/update/remove/downgrade/reinstall end in (see each).

The rpm transaction itself is real: TransactionWrapper.run hands the elements
to rpmts.py, which runs rpm's own TransactionSet.run in a Python that has
the rpm bindings ($YUM343_RPM_PYTHON), against the real install root.
"""

import json
import logging
import os
import shutil
import subprocess
import sys

from yum import Errors, logginglevels, plugins
from yum.constants import TS_INSTALL_STATES, TS_REMOVE_STATES
from yum.packages import YumAvailablePackage, YumLocalPackage, hdrFromPackage
from yum.rpmsack import RPMDBPackageSack
from yum.transactioninfo import TransactionData

__version__ = '3.4.3'

try:
    from urllib2 import urlopen
except ImportError:
    from urllib.request import urlopen

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# rpm.RPMPROB_FILTER_* names, resolved by rpmts.py (no bindings here)
RPMPROB_FILTER_REPLACEPKG = 'RPMPROB_FILTER_REPLACEPKG'
RPMPROB_FILTER_REPLACENEWFILES = 'RPMPROB_FILTER_REPLACENEWFILES'
RPMPROB_FILTER_REPLACEOLDFILES = 'RPMPROB_FILTER_REPLACEOLDFILES'
RPMPROB_FILTER_OLDPACKAGE = 'RPMPROB_FILTER_OLDPACKAGE'


class GenericHolder(object):
    """yum.misc.GenericHolder."""


class YumConf(GenericHolder):
    """The config.YumConf attributes this harness uses: installroot,
    keepcache, cachedir, installonlypkgs, installonly_limit, history_record,
    debuglevel, errorlevel, assumeyes, obsoletes, uid."""

    def __init__(self, values):
        self.installroot = values.get('installroot', '/')
        self.keepcache = int(values.get('keepcache', 0))
        self.cachedir = values.get('cachedir', '/var/cache/yum')
        self.installonlypkgs = values.get('installonlypkgs', [
            'kernel', 'kernel-bigmem', 'kernel-enterprise', 'kernel-smp', 'kernel-modules',
            'kernel-debug', 'kernel-unsupported', 'kernel-source', 'kernel-devel',
            'kernel-PAE', 'kernel-PAE-debug'])
        self.installonly_limit = int(values.get('installonly_limit', 3))
        self.history_record = False
        self.debuglevel = int(values.get('debuglevel', 2))
        self.errorlevel = int(values.get('errorlevel', 2))
        self.assumeyes = True
        self.obsoletes = True
        self.uid = os.geteuid()
        self.yumvar = {'releasever': '7'}


class YumRepository(object):
    """yumRepo.YumRepository: id, baseurl list, pkgdir/hdrdir under cachedir
    (cachedir/<id>/packages, cachedir/<id>/headers)."""

    def __init__(self, repoid, baseurl, cachedir):
        self.id = repoid
        self.name = repoid
        self.baseurl = [baseurl]
        self.pkgdir = os.path.join(cachedir, repoid, 'packages')
        self.hdrdir = os.path.join(cachedir, repoid, 'headers')
        self.sack = None

    def __str__(self):
        return self.id


class RepoStorage(object):
    """repos.RepoStorage: .repos {id: repo} and listEnabled()."""

    def __init__(self):
        self.repos = {}

    def add(self, repo):
        self.repos[repo.id] = repo

    def listEnabled(self):
        return [self.repos[k] for k in sorted(self.repos)]


class TransactionWrapper(object):
    """rpmUtils.transaction.TransactionWrapper: addInstall(hdr, key, mode),
    addErase(idx), run(cb, extra); run() is rpm's real run (rpmts.py)."""

    def __init__(self, root):
        self.root = root
        self.elements = []
        self.probFilterFlags = []

    def addInstall(self, path, key, mode):
        self.elements.append({'mode': mode, 'path': path})

    def addErase(self, nevra):
        self.elements.append({'mode': 'e', 'nevra': nevra})

    def isTsFlagSet(self, flag):
        return False

    def run(self, cb, extra):
        """rpm's ts.run(): None when all went well, [] after scriptlet or
        other non-fatal errors, a non-empty list when it could not run."""
        request = {'root': self.root, 'elements': self.elements,
                   'probfilter': self.probFilterFlags}
        python = os.environ.get('YUM343_RPM_PYTHON', '/usr/bin/python3')
        proc = subprocess.Popen([python, os.path.join(HERE, 'rpmts.py')],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = proc.communicate(json.dumps(request).encode('utf-8'))
        if proc.returncode != 0:
            raise RuntimeError('rpmts.py failed with %d' % proc.returncode)
        lines = out.decode('utf-8').strip().splitlines()
        # What the scriptlets printed is shown (output.py,
        # YumCliRPMCallBack.scriptout, which RPMTransaction._scriptout calls).
        for line in lines[:-1]:
            if line:
                sys.stdout.write(line + '\n')
        sys.stdout.flush()
        result = json.loads(lines[-1])
        if result is None:
            return None
        return [(e[0], tuple(e[1])) for e in result]


class RPMTransaction(object):
    """yum.rpmtrans.RPMTransaction: only the callback attribute is used here."""

    def __init__(self, base):
        self.base = base

    def callback(self, what, bytes, total, h, user):
        pass


class YumBase(object):
    """yum/__init__.py class YumBase (line 126 onwards)."""

    def __init__(self, conf):
        self.conf = YumConf(conf)
        logginglevels.doLoggingSetup(self.conf.debuglevel, self.conf.errorlevel)
        self.logger = logging.getLogger("yum.YumBase")
        self.verbose_logger = logging.getLogger("yum.verbose.YumBase")
        self.repos = RepoStorage()
        self.rpmdb = RPMDBPackageSack(root=self.conf.installroot)
        self.tsInfo = TransactionData()
        self.tsInfo.installonlypkgs = self.conf.installonlypkgs
        self.tsInfo.setDatabases(self.rpmdb, None)
        self.localPackages = []
        self.run_with_package_names = set()
        self.plugins = None
        self.ts = TransactionWrapper(self.conf.installroot)

    def doPluginSetup(self, optparser=None, plugin_types=None, searchpath=None,
                      confpath=None, disabled_plugins=None, enabled_plugins=None):
        """Lines 507-532: YumPlugins(self, searchpath, optparser, plugin_types,
        confpath, ...) which imports plugins and runs the 'config' slot."""
        self.plugins = plugins.YumPlugins(self, searchpath, optparser, plugin_types,
                                          confpath, disabled_plugins, enabled_plugins)

    # -- building the transaction: the tsInfo calls yum's commands end in --

    def repoPackage(self, repoid, relativepath):
        """A package of a configured repository, from its RPM file."""
        repo = self.repos.repos[repoid]
        src = os.path.join(repo.srcdir, relativepath)
        return YumAvailablePackage(repo, hdrFromPackage(src), relativepath)

    def localPackage(self, path):
        """installLocal (lines 4057-4170): a YumLocalPackage in localPackages."""
        po = YumLocalPackage(filename=path)
        self.localPackages.append(po)
        return po

    def install(self, po):
        """YumBase.install's last steps (lines 3640-3667): an installed package
        of the same version gets the replace filters and its members are
        dropped from tsInfo (so a reinstall is one install member, marked
        reinstall by addInstall); then tsInfo.addInstall(po)."""
        for ipkg in self.rpmdb.searchNevra(name=po.name, arch=po.arch):
            if ipkg.pkgtup == po.pkgtup:
                self._add_prob_flags(RPMPROB_FILTER_REPLACEPKG, RPMPROB_FILTER_REPLACENEWFILES,
                                     RPMPROB_FILTER_REPLACEOLDFILES)
                self.tsInfo.remove(ipkg.pkgtup)
                break
        return self.tsInfo.addInstall(po)

    def installAsDep(self, po, requiringPo):
        """depsolve.py lines 616-622: a dependency install is setAsDep(po=
        requiringPo) with reason 'dep'."""
        txmbr = self.tsInfo.addInstall(po)
        txmbr.setAsDep(po=requiringPo)
        txmbr.reason = 'dep'
        return txmbr

    def update(self, po, oldpo, requiringPo=None):
        """_add_up_txmbr, lines 3713-3719: addUpdate(upkg, ipkg), setAsDep for
        a dependency, reason 'dep' kept from the yumdb."""
        txmbr = self.tsInfo.addUpdate(po, oldpo)
        if requiringPo:
            txmbr.setAsDep(requiringPo)
        if 'reason' in oldpo.yumdb_info and oldpo.yumdb_info.reason == 'dep':
            txmbr.reason = 'dep'
        return txmbr

    def remove(self, po):
        """YumBase.remove ends in tsInfo.addErase(po) (line 4052)."""
        return self.tsInfo.addErase(po)

    def downgrade(self, po, oldpo):
        """Lines 4311-4450 (4441-4444): OLDPACKAGE filter, then tsInfo.addDowngrade."""
        self._add_prob_flags(RPMPROB_FILTER_OLDPACKAGE)
        return self.tsInfo.addDowngrade(po, oldpo)

    def reinstall(self, po):
        """Lines 4217-4260: the replace filters, remove() of the installed
        package, then install() of the same pkgtup, which (lines 3640-3651)
        drops that erase member again: what remains is one install member
        with reinstall=True."""
        self._add_prob_flags(RPMPROB_FILTER_REPLACEPKG, RPMPROB_FILTER_REPLACENEWFILES,
                             RPMPROB_FILTER_REPLACEOLDFILES)
        tx_mbrs = [self.remove(ipo) for ipo in self.rpmdb.searchPkgTuple(po.pkgtup)]
        if not tx_mbrs:
            raise Errors.YumBaseError("Problem in reinstall: no package matched to remove")
        return [self.install(po)]

    def _add_prob_flags(self, *flags):
        """Lines 3434-3438."""
        for flag in flags:
            if flag not in self.tsInfo.probFilterFlags:
                self.tsInfo.probFilterFlags.append(flag)

    def getPackageObject(self, pkgtup, allow_missing=False):
        """Lines 3037-3065 (local packages, then the repos' packages)."""
        for po in self.localPackages:
            if po.pkgtup == pkgtup:
                return po
        for txmbr in self.tsInfo.getMembers(pkgtup):
            if txmbr.po.repoid != 'installed':
                return txmbr.po
        if allow_missing:
            return None
        raise Errors.YumBaseError('Package tuple %s could not be found in packagesack'
                                  % str(pkgtup))

    # -- running it --

    def downloadPkgs(self, pkglist, callback=None, callback_total=None):
        """Lines 1910-2046: 'predownload', fetch every non-local package into
        repo.pkgdir (a file: baseurl is used in place, as urlgrabber does
        without copy_local), 'postdownload' with the errors dict."""
        errors = {}
        self.plugins.run('predownload', pkglist=pkglist)
        for po in pkglist:
            if hasattr(po, 'pkgtype') and po.pkgtype == 'local':
                continue
            url = po.repo.baseurl[0].rstrip('/') + '/' + po.relativepath
            if url.startswith('file:'):
                po.localpath = url[len('file://'):]
                continue
            local = po.localPkg()
            if not os.path.isdir(po.repo.pkgdir):
                os.makedirs(po.repo.pkgdir)
            try:
                src = urlopen(url)
                with open(local + '.tmp', 'wb') as f:
                    shutil.copyfileobj(src, f)
                os.rename(local + '.tmp', local)
                if not os.path.isdir(po.repo.hdrdir):
                    os.makedirs(po.repo.hdrdir)
                open(po.localHdr(), 'w').close()
            except (IOError, OSError) as e:
                errors.setdefault(po, []).append(str(e))
        self.plugins.run('postdownload', pkglist=pkglist, errors=errors)
        return errors

    def populateTs(self, test=0, keepold=1):
        """depsolve.py lines 184-249: 'u'/'i' members become addInstall(hdr,
        key, mode) (installonly 'u' converted to 'i'), 'e' members
        addErase(po.idx); 'ud'/'od' members are left to rpm."""
        self.ts.probFilterFlags = list(self.tsInfo.probFilterFlags)
        for txmbr in self.tsInfo.getMembers():
            if txmbr.ts_state in ['u', 'i']:
                if txmbr.ts_state == 'u' and self.tsInfo._allowedMultipleInstalls(txmbr.po):
                    txmbr.ts_state = 'i'
                self.ts.addInstall(txmbr.po.localPkg(), txmbr, txmbr.ts_state)
            elif txmbr.ts_state in ['e']:
                self.ts.addErase('%s-%s:%s-%s.%s' % (txmbr.name, txmbr.epoch, txmbr.version,
                                                     txmbr.release, txmbr.arch))

    def runTransaction(self, cb):
        """Lines 1456-1571, in order: 'pretrans'; ('historybegin' only with
        history_record, off here); ts.run; a non-empty error list raises
        YumRPMTransError before anything below (so no 'posttrans'); an empty
        list is the non-fatal "scriptlet" case (return_code 1); without
        keepcache cleanUsedHeadersPackages() deletes the downloaded files;
        the rpmdb cache is dropped; 'posttrans'; verifyTransaction."""
        self.plugins.run('pretrans')
        errors = self.ts.run(cb.callback, '')
        resultobject = GenericHolder()
        resultobject.return_code = 0
        if errors is None:
            pass
        elif len(errors) == 0:
            self.verbose_logger.debug('Warning: scriptlet or other non-fatal errors '
                                      'occurred during transaction.')
            resultobject.return_code = 1
        else:
            self.logger.critical("Transaction couldn't start:")
            for e in errors:
                self.logger.critical(e[0])
            raise Errors.YumRPMTransError(msg="Could not run transaction.", errors=errors)

        if not self.conf.keepcache and not self.ts.isTsFlagSet('RPMTRANS_FLAG_TEST'):
            self.cleanUsedHeadersPackages()

        if resultobject.return_code:
            self.rpmdb.dropCachedData()
        else:
            self.rpmdb.dropCachedDataPostTransaction(list(self.tsInfo))

        self.plugins.run('posttrans')
        self.verifyTransaction(resultobject)
        return resultobject

    def verifyTransaction(self, resultobject=None):
        """Lines 1573-1681: 'preverifytrans'; install members the rpmdb lacks
        become TS_FAILED, the others get yumdb from_repo/reason; yumdb entries
        of removed packages are cleaned; 'postverifytrans'."""
        self.plugins.run('preverifytrans')
        for txmbr in self.tsInfo:
            if txmbr.output_state in TS_INSTALL_STATES:
                if not self.rpmdb.contains(po=txmbr.po):
                    self.logger.critical('%s was supposed to be installed but is not!'
                                         % txmbr.po)
                    txmbr.output_state = 100  # TS_FAILED
                    continue
                po = self.rpmdb.searchPkgTuple(txmbr.pkgtup)[0]
                po.yumdb_info.from_repo = txmbr.po.repoid
                po.yumdb_info.reason = txmbr.reason
        for txmbr in self.tsInfo:
            if txmbr.output_state in TS_REMOVE_STATES:
                if self.rpmdb.contains(po=txmbr.po):
                    if not self.tsInfo.getMembersWithState(pkgtup=txmbr.pkgtup,
                                                           output_states=TS_INSTALL_STATES):
                        self.logger.critical('%s was supposed to be removed but is not!'
                                             % txmbr.po)
                        txmbr.output_state = 100
                        continue
                else:
                    self.rpmdb.yumdb.get_package(po=txmbr.po).clean()
        self.plugins.run('postverifytrans')
        self.rpmdb.dropCachedData()

    def cleanUsedHeadersPackages(self):
        """Lines 2183-2219: for members whose po.state is an install state and
        whose repoid is a configured repo (not 'installed', not a local file):
        file: baseurl repos lose only the .hdr, others the package and .hdr."""
        filelist = []
        for txmbr in self.tsInfo:
            if txmbr.po.state not in TS_INSTALL_STATES:
                continue
            if txmbr.po.repoid == "installed":
                continue
            if txmbr.po.repoid not in self.repos.repos:
                continue
            repo = self.repos.repos[txmbr.po.repoid]
            local = False
            for u in repo.baseurl:
                if u.startswith("file:"):
                    local = True
                    break
            if local:
                filelist.extend([txmbr.po.localHdr()])
            else:
                filelist.extend([txmbr.po.localPkg(), txmbr.po.localHdr()])
        for fn in filelist:
            if not os.path.exists(fn):
                continue
            try:
                os.unlink(fn)
            except OSError:
                self.logger.warning('Cannot remove %s', fn)


