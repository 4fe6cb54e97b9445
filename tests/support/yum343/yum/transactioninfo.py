"""TransactionData and TransactionMember, mirroring yum 3.4.3
yum/transactioninfo.py (class TransactionData lines 73-672, class
TransactionMember lines 732-790). The sack bookkeeping (localSack, _inSack,
conditionals) and provide/require lookups are left out; every add* method
sets the same states, flags and relations as upstream.
"""

from yum.constants import (TS_AVAILABLE, TS_ERASE, TS_FAILED, TS_INSTALL, TS_INSTALL_STATES,
                           TS_OBSOLETED, TS_OBSOLETING, TS_TRUEINSTALL, TS_UPDATE, TS_UPDATED)


class TransactionData:
    """Lines 73-672."""

    def __init__(self):
        """Lines 75-107."""
        self.flags = []
        self.vsflags = []
        self.probFilterFlags = []
        self.root = '/'
        self.pkgdict = {}
        self._namedict = {}
        self._unresolvedMembers = set()
        self.debug = 0
        self.changed = False
        self.installonlypkgs = []
        self.state_counter = 0
        self.conditionals = {}
        self.rpmdb = None
        self.pkgSack = None
        self.pkgSackPackages = 0
        self.instgroups = []
        self.removedgroups = []
        self.removed = []
        self.installed = []
        self.updated = []
        self.obsoleted = []
        self.depremoved = []
        self.depinstalled = []
        self.depupdated = []
        self.reinstalled = []
        self.downgraded = []
        self.failed = []

    def __len__(self):
        return len(self.pkgdict)

    def __iter__(self):
        """Lines 112-116."""
        return iter(self.getMembers())

    def getMembersWithState(self, pkgtup=None, output_states=None):
        """Lines 122-124: output_states=None raises TypeError as upstream
        ('in None'); returns a list (Python 2 filter)."""
        return [p for p in self.getMembers(pkgtup) if p.output_state in output_states]

    def getMembers(self, pkgtup=None):
        """Lines 126-137."""
        returnlist = []
        if pkgtup is None:
            for members in self.pkgdict.values():
                returnlist.extend(members)
        elif pkgtup in self.pkgdict:
            returnlist.extend(self.pkgdict[pkgtup])
        return returnlist

    def matchNaevr(self, name=None, arch=None, epoch=None, ver=None, rel=None):
        """Lines 172-196."""
        if name is None:
            txmbrs = self.getMembers()
        else:
            txmbrs = self._namedict.get(name, [])
            if arch is None and epoch is None and ver is None and rel is None:
                return txmbrs[:]
        result = []
        for txmbr in txmbrs:
            (n, a, e, v, r) = txmbr.pkgtup
            if arch is not None and arch != a:
                continue
            if epoch is not None and epoch != e:
                continue
            if ver is not None and ver != v:
                continue
            if rel is not None and rel != r:
                continue
            result.append(txmbr)
        return result

    def _allowedMultipleInstalls(self, po):
        """Lines 239-251."""
        if po.name in self.installonlypkgs:
            return True
        return any(prov in self.installonlypkgs for prov in po.provides_names)

    def add(self, txmember):
        """Lines 253-289: updates add TS_UPDATED members for the old packages;
        a second member of the same pkgtup and ts_state is dropped."""
        for oldpo in txmember.updates:
            self.addUpdated(oldpo, txmember.po)
        if txmember.pkgtup not in self.pkgdict:
            self.pkgdict[txmember.pkgtup] = []
        else:
            for member in self.pkgdict[txmember.pkgtup]:
                if member.ts_state == txmember.ts_state:
                    return
        self.pkgdict[txmember.pkgtup].append(txmember)
        self._namedict.setdefault(txmember.name, []).append(txmember)
        self.changed = True
        self.state_counter += 1
        self._unresolvedMembers.add(txmember)

    def remove(self, pkgtup):
        """Lines 291-311."""
        if pkgtup not in self.pkgdict:
            return
        for txmbr in self.pkgdict[pkgtup]:
            txmbr.po.state = None
            self._namedict[txmbr.name].remove(txmbr)
        del self.pkgdict[pkgtup]
        if not self._namedict[pkgtup[0]]:
            del self._namedict[pkgtup[0]]
        self.changed = True
        self.state_counter += 1

    def exists(self, pkgtup):
        """Lines 313-319."""
        if pkgtup in self.pkgdict and len(self.pkgdict[pkgtup]) != 0:
            return 1
        return 0

    def makelists(self, include_reinstall=False, include_downgrade=False):
        """Lines 330-407: only the CLI's output code calls this; until then the
        lists are empty (the trap imgbased's plugin fell into)."""
        for attr in ('instgroups', 'removedgroups', 'removed', 'installed', 'updated',
                     'obsoleted', 'depremoved', 'depinstalled', 'depupdated',
                     'reinstalled', 'downgraded', 'failed'):
            setattr(self, attr, [])
        for txmbr in self.getMembers():
            if txmbr.output_state == TS_UPDATE:
                (self.depupdated if txmbr.isDep else self.updated).append(txmbr)
            elif txmbr.output_state in (TS_INSTALL, TS_TRUEINSTALL):
                if include_reinstall and txmbr.reinstall:
                    self.reinstalled.append(txmbr)
                    continue
                if include_downgrade and txmbr.downgrades:
                    self.downgraded.append(txmbr)
                    continue
                (self.depinstalled if txmbr.isDep else self.installed).append(txmbr)
            elif txmbr.output_state == TS_ERASE:
                if include_downgrade and txmbr.downgraded_by:
                    continue
                (self.depremoved if txmbr.isDep else self.removed).append(txmbr)
            elif txmbr.output_state == TS_OBSOLETED:
                self.obsoleted.append(txmbr)
            elif txmbr.output_state == TS_OBSOLETING:
                self.installed.append(txmbr)
            elif txmbr.output_state == TS_FAILED:
                self.failed.append(txmbr)

    def addInstall(self, po):
        """Lines 409-428: TS_INSTALL, ts_state 'u', reinstall when the rpmdb
        has it; installonly packages go to addTrueInstall."""
        if self._allowedMultipleInstalls(po):
            return self.addTrueInstall(po)
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_AVAILABLE
        txmbr.output_state = TS_INSTALL
        txmbr.po.state = TS_INSTALL
        txmbr.ts_state = 'u'
        txmbr.reason = 'user'
        if self.rpmdb.contains(po=txmbr.po):
            txmbr.reinstall = True
        self.findObsoletedByThisMember(txmbr)
        self.add(txmbr)
        return txmbr

    def addTrueInstall(self, po):
        """Lines 430-445: TS_TRUEINSTALL, ts_state 'i'."""
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_AVAILABLE
        txmbr.output_state = TS_TRUEINSTALL
        txmbr.po.state = TS_INSTALL
        txmbr.ts_state = 'i'
        txmbr.reason = 'user'
        if self.rpmdb.contains(po=txmbr.po):
            txmbr.reinstall = True
        self.add(txmbr)
        return txmbr

    def addErase(self, po):
        """Lines 448-458."""
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_INSTALL
        txmbr.output_state = TS_ERASE
        txmbr.po.state = TS_INSTALL
        txmbr.ts_state = 'e'
        self.add(txmbr)
        return txmbr

    def addUpdate(self, po, oldpo=None):
        """Lines 460-478: TS_UPDATE with updates=[oldpo]; add() then adds
        the TS_UPDATED member for oldpo."""
        if self._allowedMultipleInstalls(po):
            return self.addTrueInstall(po)
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_AVAILABLE
        txmbr.output_state = TS_UPDATE
        txmbr.po.state = TS_UPDATE
        txmbr.ts_state = 'u'
        if oldpo:
            txmbr.relatedto.append((oldpo, 'updates'))
            txmbr.updates.append(oldpo)
        self.add(txmbr)
        self.findObsoletedByThisMember(txmbr)
        return txmbr

    def addDowngrade(self, po, oldpo):
        """Lines 480-495: TS_ERASE of oldpo (downgraded_by) plus an install
        of po with downgrades=[oldpo]."""
        itxmbr = self.addErase(oldpo)
        itxmbr.relatedto.append((po, 'downgradedby'))
        itxmbr.downgraded_by.append(po)
        atxmbr = self.addInstall(po)
        if not atxmbr:
            self.remove(itxmbr.pkgtup)
            return None
        atxmbr.relatedto.append((oldpo, 'downgrades'))
        atxmbr.downgrades.append(oldpo)
        return (itxmbr, atxmbr)

    def addUpdated(self, po, updating_po):
        """Lines 497-509."""
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_INSTALL
        txmbr.output_state = TS_UPDATED
        txmbr.po.state = TS_UPDATED
        txmbr.ts_state = 'ud'
        txmbr.relatedto.append((updating_po, 'updatedby'))
        txmbr.updated_by.append(updating_po)
        self.add(txmbr)
        return txmbr

    def addObsoleting(self, po, oldpo):
        """Lines 511-527."""
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_AVAILABLE
        txmbr.output_state = TS_OBSOLETING
        txmbr.po.state = TS_OBSOLETING
        txmbr.ts_state = 'u'
        txmbr.relatedto.append((oldpo, 'obsoletes'))
        txmbr.obsoletes.append(oldpo)
        if self.rpmdb.contains(po=txmbr.po):
            txmbr.reinstall = True
        self.add(txmbr)
        return txmbr

    def addObsoleted(self, po, obsoleting_po):
        """Lines 529-547."""
        txmbr = TransactionMember(po)
        txmbr.current_state = TS_INSTALL
        txmbr.output_state = TS_OBSOLETED
        txmbr.po.state = TS_OBSOLETED
        txmbr.ts_state = 'od'
        txmbr.relatedto.append((obsoleting_po, 'obsoletedby'))
        txmbr.obsoleted_by.append(obsoleting_po)
        self.add(txmbr)
        for otxmbr in self.getMembersWithState(obsoleting_po.pkgtup, [TS_OBSOLETING]):
            if po in otxmbr.obsoletes:
                continue
            otxmbr.relatedto.append((po, 'obsoletes'))
            otxmbr.obsoletes.append(po)
        return txmbr

    def setDatabases(self, rpmdb, pkgSack):
        """Lines 550-552."""
        self.rpmdb = rpmdb
        self.pkgSack = pkgSack

    def findObsoletedByThisMember(self, txmbr):
        """Lines 663-672: installed packages this member obsoletes become
        TS_OBSOLETED and the member TS_OBSOLETING."""
        for obs_n in txmbr.po.obsoletes_names:
            for pkg in self.rpmdb.searchNevra(name=obs_n):
                if pkg.obsoletedBy([txmbr.po]):
                    self.addObsoleted(pkg, txmbr.po)
                    txmbr.output_state = TS_OBSOLETING
                    txmbr.po.state = TS_OBSOLETING


class TransactionMember:
    """Lines 732-790: the attributes, copied po attributes (_poattr) and
    setAsDep()."""

    def __init__(self, po):
        self.po = po
        self.current_state = None
        self.ts_state = None
        self.output_state = None
        self.isDep = 0
        self.reason = 'user'
        self.process = None
        self.relatedto = []
        self.depends_on = []
        self.obsoletes = []
        self.obsoleted_by = []
        self.updates = []
        self.updated_by = []
        self.downgrades = []
        self.downgraded_by = []
        self.reinstall = False
        self.groups = []
        self._poattr = ['pkgtup', 'repoid', 'name', 'arch', 'epoch', 'version', 'release']
        for attr in self._poattr:
            setattr(self, attr, getattr(self.po, attr))

    def setAsDep(self, po=None):
        """Lines 770-777."""
        self.isDep = 1
        if po:
            self.relatedto.append((po, 'dependson'))
            self.depends_on.append(po)

    def __hash__(self):
        return object.__hash__(self)

    def __str__(self):
        return "%s.%s %s:%s-%s - %s" % (self.name, self.arch, self.epoch, self.version,
                                        self.release, self.ts_state)
