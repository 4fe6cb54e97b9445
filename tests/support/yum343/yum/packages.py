"""Package objects, mirroring yum 3.4.3 yum/packages.py.

Headers are read with the real `rpm -qp` binary (the 2.7 interpreter has no
rpm bindings); the attributes the plugin API exposes are yum's: name, arch,
epoch (a string, '0' when unset, doepoch() lines 1393-1400), version/ver,
release/rel, pkgtup (name, arch, epoch, version, release), repoid, repo,
state, localPkg(), returnIdSum().
"""

import hashlib
import os
import subprocess

_QF = ('%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SHA1HEADER}\\n'
       '[P\\t%{PROVIDENAME}\\n][O\\t%{OBSOLETENAME}\\t%{OBSOLETEFLAGS:deptype}'
       '\\t%{OBSOLETEFLAGS}\\t%{OBSOLETEVERSION}\\n]')


def _text(b):
    return b.decode('utf-8') if isinstance(b, bytes) else b


def parse_qf(text):
    """Turn `rpm --qf _QF` output into header-like dicts, one per package."""
    hdrs, cur = [], None
    for line in _text(text).splitlines():
        f = line.split('\t')
        if f[0] == 'P':
            cur['provides'].append(f[1])
        elif f[0] == 'O':
            cur['obsoletes'].append((f[1], int(f[3]), f[4]))
        else:
            cur = {'name': f[0], 'epoch': None if f[1] == '(none)' else f[1],
                   'version': f[2], 'release': f[3], 'arch': f[4], 'pkgid': f[5],
                   'provides': [], 'obsoletes': []}
            hdrs.append(cur)
    return hdrs


def hdrFromPackage(path):
    """rpmUtils.miscutils.hdrFromPackage, read through `rpm -qp`."""
    out = subprocess.check_output(['rpm', '-qp', '--nosignature', '--nodigest', '--qf',
                                   _QF, path])
    return parse_qf(out)[0]


def rpm_vercmp(a, b):
    """rpm's version comparison through the real rpm (lua rpm.vercmp)."""
    out = subprocess.check_output(['rpm', '--eval', '%%{lua: print(rpm.vercmp("%s", "%s"))}'
                                   % (a, b)])
    return int(_text(out).strip())


class FakeSack:
    """Lines 165-177."""

    def have_fastReturnFileEntries(self):
        return True

    def delPackage(self, obj):
        pass


class FakeRepository:
    """Lines 179-224: a local file's repo; its id is '/' plus the file name
    without .rpm (_set_cleanup_repoid)."""

    def __init__(self, repoid):
        pathbased = False
        if '/' in repoid:
            repoid = os.path.basename(repoid)
            pathbased = True
        if repoid.endswith('.rpm'):
            repoid = repoid[:-4]
            pathbased = True
        self.id = ('/' if pathbased else '') + repoid
        self.name = self.id
        self.sack = FakeSack()

    def __str__(self):
        return self.id


class PackageObject(object):
    """Lines 231-371: ui_envra/__str__, __eq__ over pkgtup and repoid, and
    returnIdSum() over self._checksums."""

    def __init__(self):
        self.name = None
        self.version = None
        self.release = None
        self.epoch = None
        self.arch = None
        self._checksums = []

    def __str__(self):
        if self.epoch == '0':
            return '%s-%s-%s.%s' % (self.name, self.version, self.release, self.arch)
        return '%s:%s-%s-%s.%s' % (self.epoch, self.name, self.version, self.release,
                                   self.arch)

    def __eq__(self, other):
        if not other:
            return False
        if self.pkgtup != other.pkgtup:
            return False
        if hasattr(self, 'repoid') and hasattr(other, 'repoid'):
            if self.repoid != other.repoid:
                return False
        return True

    def __ne__(self, other):
        return not (self == other)

    def __hash__(self):
        return hash(self.pkgtup)

    def __repr__(self):
        return "<%s : %s (%s)>" % (self.__class__.__name__, str(self), hex(id(self)))

    def returnChecksums(self):
        return self._checksums

    checksums = property(fget=lambda self: self.returnChecksums())

    def returnIdSum(self):
        for (csumtype, csum, csumid) in self.checksums:
            if csumid:
                return (csumtype, csum)


class YumAvailablePackage(PackageObject):
    """Lines 716-886: a repo package. localPkg() is repo.pkgdir + '/' +
    basename(remote_path) (lines 881-886), where downloadPkgs puts the file."""

    def __init__(self, repo, hdr, relativepath):
        PackageObject.__init__(self)
        self.repoid = repo.id
        self.repo = repo
        self.state = None
        self.remote_path = relativepath
        self.relativepath = relativepath
        self._from_hdr(hdr)

    def _from_hdr(self, hdr):
        """YumHeaderPackage.__init__, lines 1280-1302."""
        self.hdr = hdr
        self.name = hdr['name']
        self.arch = hdr['arch'] or 'noarch'
        self.epoch = hdr['epoch'] if hdr['epoch'] is not None else '0'
        self.version = hdr['version']
        self.release = hdr['release']
        self.ver = self.version
        self.rel = self.release
        self.pkgtup = (self.name, self.arch, self.epoch, self.version, self.release)
        self.pkgid = hdr.get('pkgid')
        self.provides_names = list(hdr.get('provides', []))
        self.obsoletes = [(n, flags, v) for n, flags, v in hdr.get('obsoletes', [])]
        self.obsoletes_names = [o[0] for o in self.obsoletes]

    def localPkg(self):
        if not hasattr(self, 'localpath'):
            rpmfn = os.path.basename(self.remote_path)
            self.localpath = self.repo.pkgdir + '/' + rpmfn
        return self.localpath

    def localHdr(self):
        """Lines 888-897: the .hdr beside the packages dir."""
        return os.path.join(self.repo.hdrdir,
                            os.path.basename(self.remote_path)[:-4] + '.hdr')

    def have_fastReturnFileEntries(self):
        return True

    def obsoletedBy(self, obsoleters, limit=0):
        """RpmBase.obsoletedBy: the first of obsoleters whose Obsoletes match
        this package (unversioned, or EQ/LT/GT/LE/GE against its EVR)."""
        for obs in obsoleters:
            for name, flags, ver in obs.obsoletes:
                if name != self.name:
                    continue
                sense = flags & 0x0e  # RPMSENSE_LESS|GREATER|EQUAL
                if not sense or not ver:
                    return [obs]
                mine = '%s:%s-%s' % (self.epoch, self.version, self.release)
                c = rpm_vercmp(mine, ver if ':' in ver else '0:' + ver)
                if (c < 0 and sense & 0x02) or (c > 0 and sense & 0x04) or \
                        (c == 0 and sense & 0x08):
                    return [obs]
        return []


class YumInstalledPackage(YumAvailablePackage):
    """Lines 1758-1763 and rpmsack.RPMInstalledPackage (rpmsack.py 60-70):
    repoid 'installed', yumdb_info from the yumdb."""

    def __init__(self, hdr, yumdb=None, repo=None):
        YumAvailablePackage.__init__(self, repo or _installed_repo, hdr, '')
        if yumdb is not None:
            self.yumdb_info = yumdb.get_package(self)


class YumLocalPackage(YumAvailablePackage):
    """Lines 1987-2060: pkgtype 'local', localpath is the file, repo a
    FakeRepository(filename) so repoid is '/' + name without .rpm, checksum
    computed from the file (sha256, _do_checksum)."""

    def __init__(self, ts=None, filename=None):
        self.pkgtype = 'local'
        self.localpath = filename
        hdr = hdrFromPackage(filename)
        fakerepo = FakeRepository(filename)
        fakerepo.cost = 0
        YumAvailablePackage.__init__(self, fakerepo, hdr, filename)
        self._stat = os.stat(self.localpath)

    def localPkg(self):
        return self.localpath

    def returnChecksums(self):
        if not self._checksums:
            with open(self.localpath, 'rb') as f:
                self._checksums = [('sha256', hashlib.sha256(f.read()).hexdigest(), 1)]
        return self._checksums


class _InstalledRepo(object):
    """The 'installed' pseudo-repository of rpmsack.py."""
    id = 'installed'
    name = 'installed'


_installed_repo = _InstalledRepo()
