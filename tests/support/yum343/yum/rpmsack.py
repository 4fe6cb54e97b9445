"""The installed-package sack, mirroring yum 3.4.3 yum/rpmsack.py
RPMDBPackageSack (lines 180-1240): searchNevra/_search (1183-1240, gpg-pubkey
left out as in _get_packages 1194-1206), contains (packageSack.py 118-127),
returnPackages, dropCachedData (265-294), plus the yumdb
(RPMDBAdditionalData, lines 1548-1700) reduced to one JSON file.

It reads the real rpmdb of the install root with `rpm --root ROOT -qa`.
"""

import json
import os
import subprocess

from yum.packages import _QF, YumInstalledPackage, parse_qf


class GenericHolder(object):
    """yum.misc.GenericHolder with the `in` and get() of yumdb_info."""

    def __init__(self, store, key):
        self.__dict__['_store'] = store
        self.__dict__['_key'] = key

    def __getattr__(self, attr):
        try:
            return self._store.data[self._key][attr]
        except KeyError:
            raise AttributeError(attr)

    def __setattr__(self, attr, value):
        self._store.data.setdefault(self._key, {})[attr] = value
        self._store.save()

    def __contains__(self, attr):
        return attr in self._store.data.get(self._key, {})

    def get(self, attr, default=None):
        return self._store.data.get(self._key, {}).get(attr, default)

    def clean(self):
        self._store.data.pop(self._key, None)
        self._store.save()


class RPMDBAdditionalData(object):
    """Lines 1548-1616 (the on-disk layout is simplified to one JSON file)."""

    def __init__(self, db_path):
        self.path = os.path.join(db_path, 'yumdb.json')
        try:
            with open(self.path) as f:
                self.data = json.load(f)
        except (IOError, OSError, ValueError):
            self.data = {}

    def save(self):
        if not os.path.isdir(os.path.dirname(self.path)):
            os.makedirs(os.path.dirname(self.path))
        with open(self.path, 'w') as f:
            json.dump(self.data, f)

    def get_package(self, po=None, **kwargs):
        return GenericHolder(self, '%s-%s:%s-%s.%s' % (po.name, po.epoch, po.version,
                                                       po.release, po.arch))


class RPMDBPackageSack(object):
    """Lines 180-264 and 1177-1240."""

    def __init__(self, root='/', releasever=None, cachedir=None, persistdir='/var/lib/yum'):
        self.root = root
        self.yumdb = RPMDBAdditionalData(os.path.join(root, persistdir.lstrip('/'), 'yumdb'))
        self._pkgs = None

    def _load(self):
        if self._pkgs is None:
            out = subprocess.check_output(['rpm', '--root', self.root, '-qa', '--qf', _QF])
            self._pkgs = [YumInstalledPackage(h, yumdb=self.yumdb) for h in parse_qf(out)
                          if h['name'] != 'gpg-pubkey']
        return self._pkgs

    def dropCachedData(self):
        """Lines 265-294: forget everything read; the next query rereads."""
        self._pkgs = None

    def dropCachedDataPostTransaction(self, txmbrs):
        """Lines 296-340 (upstream keeps a partial cache; rereading is exact)."""
        self._pkgs = None

    def returnPackages(self, repoid=None, patterns=None, ignore_case=False):
        return list(self._load())

    def searchNames(self, names=[]):
        return [po for po in self._load() if po.name in names]

    def searchNevra(self, name=None, epoch=None, ver=None, rel=None, arch=None):
        """_search, lines 1208-1240: match every given field."""
        ret = []
        for po in self._load():
            if name is not None and po.name != name:
                continue
            if arch is not None and po.arch != arch:
                continue
            if epoch is not None and po.epoch != epoch:
                continue
            if ver is not None and po.ver != ver:
                continue
            if rel is not None and po.rel != rel:
                continue
            ret.append(po)
        return ret

    def searchPkgTuple(self, pkgtup):
        """packageSack.py lines 113-116."""
        (n, a, e, v, r) = pkgtup
        return self.searchNevra(name=n, arch=a, epoch=e, ver=v, rel=r)

    def contains(self, name=None, arch=None, epoch=None, ver=None, rel=None, po=None):
        """packageSack.py lines 118-127."""
        if po:
            name = po.name
            arch = po.arch
            epoch = po.epoch
            ver = po.version
            rel = po.release
        return bool(self.searchNevra(name=name, arch=arch, epoch=epoch, ver=ver, rel=rel))
