"""Test bed: real RPM builds, GPG signing, repos, install roots and dnf runs.

Everything here drives the real tools (rpmbuild via rpmfluff, rpmsign, gpg,
createrepo_c, dnf, rpm); nothing is mocked.  No pytest import: conftest.py
wraps these helpers in fixtures.

Debian quirk handled here: Debian's rpm sets ``%_dbpath`` to ``~/.rpmdb``,
so ``dnf --installroot=R`` would put the rpmdb in ``R/root/.rpmdb``.  All
subprocesses started through :func:`tool_env` get a private ``HOME`` whose
``.rpmmacros`` sets ``%_dbpath /var/lib/rpm`` (the Fedora/EL layout), and the
in-process readers push the same macro.
"""

import atexit
import contextlib
import hashlib
import http.server
import os
import posixpath
import re
import shlex
import shutil
import socketserver
import subprocess
import tempfile
import threading
import urllib.parse
from collections import namedtuple

import rpm
import rpmfluff

from persistrepo.compat import headers, rpmdb

DBPATH = '/var/lib/rpm'
BUSYBOX = '/bin/busybox'
GPG = shutil.which('gpg') or '/usr/bin/gpg'
_PROXY_VARS = ('http_proxy', 'https_proxy', 'ftp_proxy', 'all_proxy')

_homes = {}


def _make_home(macros):
    if macros not in _homes:
        home = tempfile.mkdtemp(prefix='bed-home-')
        os.chmod(home, 0o755)  # other users' runs (tests of non-root reads) read it too
        with open(os.path.join(home, '.rpmmacros'), 'w') as f:
            f.write(macros)
        atexit.register(shutil.rmtree, home, True)
        _homes[macros] = home
    return _homes[macros]


def rpm_home():
    """A per-process HOME whose .rpmmacros sets %_dbpath to DBPATH: the HOME
    of the code under test (conftest.py sets it for the whole session)."""
    return _make_home('%%_dbpath %s\n' % DBPATH)


def tool_home():
    """rpm_home() for the test bed's own rpm and dnf runs, which set up
    images with unsigned packages: signatures are not required there even
    where the platform enforces them (%_pkgverify_level all, the sid
    "verify-all" variant), so that only the code under test meets that."""
    return _make_home('%%_dbpath %s\n%%_pkgverify_level digest\n' % DBPATH)


def tool_env(extra=None):
    """Environment for the bed's rpm/dnf subprocesses (tool_home()), C locale,
    no proxies (loopback HTTP must stay local), no .pyc files written into
    plugin dirs.  ``extra`` entries override."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in _PROXY_VARS}
    env.update(HOME=tool_home(), LC_ALL='C.UTF-8', LANG='C.UTF-8',
               PYTHONDONTWRITEBYTECODE='1')
    env.update(extra or {})
    return env


@contextlib.contextmanager
def dbpath_macro():
    """Temporarily push ``%_dbpath DBPATH`` for in-process rpm bindings."""
    rpm.addMacro('_dbpath', DBPATH)
    try:
        yield
    finally:
        rpm.delMacro('_dbpath')


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------

class Builder:
    """Builds real RPMs with rpmfluff into ``outdir``, caching by spec.

    Each distinct spec lands in ``outdir/<hash>/N-V-R.A.rpm`` so two specs
    with the same NVRA (e.g. with and without a failing %pre) never clash.
    Identical calls return the cached path without rebuilding.
    """

    def __init__(self, outdir):
        self.outdir = str(outdir)
        os.makedirs(self.outdir, exist_ok=True)
        self._cache = {}

    def build(self, name, version='1.0', release='1', epoch=None,
              arch='noarch', requires=(), provides=(), obsoletes=(),
              conflicts=(), pre=None, files=None, sign_with=None,
              summary=None, changelog_author=None):
        """Build (or reuse) a binary RPM and return its path.

        ``arch`` is 'noarch' or a real arch ('x86_64', 'i686', ...).
        ``pre`` is a %pre body, e.g. 'exit 1'.  ``files`` maps absolute
        install paths to text content.  ``sign_with`` is a :class:`GpgKey`;
        the signed copy is cached separately from the unsigned build.
        ``summary`` and ``changelog_author`` (one changelog entry) set that
        metadata.
        """
        files = dict(files or {})
        spec = (name, version, release, epoch, arch, tuple(requires),
                tuple(provides), tuple(obsoletes), tuple(conflicts), pre,
                tuple(sorted(files.items())), summary, changelog_author)
        key = spec + ((sign_with.fingerprint,) if sign_with else ())
        if key in self._cache:
            return self._cache[key]
        if sign_with is not None:
            path = self._copy_to(key, self.build(
                name, version, release, epoch, arch, requires, provides, obsoletes,
                conflicts, pre, files, summary=summary, changelog_author=changelog_author))
            sign_with.sign(path)
        else:
            path = self._rpmfluff(key, name, version, release, epoch, arch,
                                  requires, provides, obsoletes, conflicts,
                                  pre, files, summary, changelog_author)
        self._cache[key] = path
        return path

    def _dir(self, key):
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:12]
        path = os.path.join(self.outdir, digest)
        os.makedirs(path, exist_ok=True)
        return path

    def _copy_to(self, key, src):
        dst = os.path.join(self._dir(key), os.path.basename(src))
        shutil.copy2(src, dst)
        return dst

    def _rpmfluff(self, key, name, version, release, epoch, arch, requires,
                  provides, obsoletes, conflicts, pre, files, summary,
                  changelog_author):
        pkg = rpmfluff.SimpleRpmBuild(name, version, release, [arch])
        if summary is not None:
            pkg.add_summary(summary)
        if changelog_author is not None:
            pkg.add_changelog_entry('- built by the test bed', version, release,
                                    nameStr=changelog_author)
        if epoch is not None:
            pkg.epoch = epoch
        for dep in requires:
            pkg.add_requires(dep)
        for dep in provides:
            pkg.add_provides(dep)
        for dep in obsoletes:
            pkg.add_obsoletes(dep)
        for dep in conflicts:
            pkg.add_conflicts(dep)
        if pre is not None:
            pkg.add_pre(pre)
        for i, (path, content) in enumerate(sorted(files.items())):
            pkg.add_installed_file(
                path.lstrip('/'), rpmfluff.SourceFile('file%d' % i, content))
        try:
            pkg.make()
            return self._copy_to(key, pkg.get_built_rpm(arch))
        finally:
            pkg.clean()


def rpm_header(path):
    """Read an RPM file's header without verifying signatures or digests."""
    ts = rpm.TransactionSet()
    ts.setVSFlags(-1)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        return ts.hdrFromFdno(fd)
    finally:
        os.close(fd)


def rpm_nevra(path):
    """NEVRA string of an RPM file, same format as :func:`installed`."""
    return headers.header_nevra(rpm_header(path))


_SIG_TAGS = [getattr(rpm, t) for t in ('RPMTAG_OPENPGP', 'RPMTAG_RSAHEADER',
                                        'RPMTAG_DSAHEADER', 'RPMTAG_SIGPGP',
                                        'RPMTAG_SIGGPG') if hasattr(rpm, t)]


def signing_key_id(path):
    """Short key id (last 8 hex digits, lower case) that signed an RPM file,
    or None if it is unsigned."""
    hdr = rpm_header(path)
    for tag in _SIG_TAGS:
        name = rpm.tagnames[tag]
        text = hdr.format('%%{%s:pgpsig}' % name)
        m = re.search(r'Key ID ([0-9a-fA-F]+)', text)
        if m:
            return m.group(1)[-8:].lower()
    return None


# --------------------------------------------------------------------------
# GPG
# --------------------------------------------------------------------------

class GpgKey:
    """Throw-away RSA-2048 signing key without passphrase in its own GNUPGHOME.

    Attributes: ``home``, ``uid`` (e-mail, used as %_gpg_name),
    ``fingerprint``, ``keyid`` (short: last 8 hex, lower case) and
    ``pubkey`` (path of the ASCII-armored public key).  Call :meth:`close`
    to stop the gpg-agent.
    """

    def __init__(self, workdir, uid='test@persistrepo.invalid'):
        workdir = str(workdir)
        self.home = os.path.join(workdir, 'gnupg')
        os.makedirs(self.home, mode=0o700)
        self.uid = uid
        params = ('%%no-protection\nKey-Type: RSA\nKey-Length: 2048\n'
                  'Key-Usage: sign\nName-Real: persistrepo test\n'
                  'Name-Email: %s\nExpire-Date: 0\n%%commit\n' % uid)
        self._gpg('--gen-key', input=params)
        out = self._gpg('--list-keys', '--with-colons', uid)
        self.fingerprint = re.search(r'^fpr:(?::[^:]*){7}:([0-9A-F]+):',
                                     out, re.M).group(1)
        self.keyid = self.fingerprint[-8:].lower()
        self.pubkey = os.path.join(workdir, 'RPM-GPG-KEY-test')
        with open(self.pubkey, 'w') as f:
            f.write(self._gpg('--armor', '--export', uid))

    def _gpg(self, *args, **kw):
        return subprocess.run(
            [GPG, '--homedir', self.home, '--batch', '--quiet'] + list(args),
            input=kw.get('input'), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, universal_newlines=True,
            check=True).stdout

    def add_signing_subkey(self):
        """Add an RSA signing subkey, re-export ``pubkey`` (now holding both)
        and return the subkey's 16-hex key id (lower case)."""
        self._gpg('--pinentry-mode', 'loopback', '--passphrase', '',
                  '--quick-add-key', self.fingerprint, 'rsa2048', 'sign', '0')
        out = self._gpg('--list-keys', '--with-colons', self.uid)
        subkey = [l.split(':')[4] for l in out.splitlines()
                  if l.startswith('sub:')][-1].lower()
        with open(self.pubkey, 'w') as f:
            f.write(self._gpg('--armor', '--export', self.uid))
        return subkey

    def sign(self, *paths, subkey=None):
        """Sign RPM files in place with ``rpmsign --addsign`` (with the given
        subkey id, else the primary key).

        Debian's rpm defines %__gpg as /usr/bin/gpg2, which does not exist,
        so %__gpg is overridden too.
        """
        cmd = ['rpmsign', '--addsign',
               '--define', '_gpg_name %s' % (subkey + '!' if subkey else self.uid),
               '--define', '_gpg_path %s' % self.home,
               '--define', '__gpg %s' % GPG] + [str(p) for p in paths]
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, env=tool_env())
        if res.returncode != 0:
            raise RuntimeError('rpmsign failed: %s%s' % (res.stdout, res.stderr))

    def close(self):
        """Stop the gpg-agent started for this key's GNUPGHOME."""
        subprocess.run(['gpgconf', '--homedir', self.home, '--kill', 'all'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# Repos
# --------------------------------------------------------------------------

def make_repo(directory, rpms=()):
    """Copy ``rpms`` into ``directory`` and run createrepo_c on it; return
    the directory.  Rerun it after adding packages to refresh metadata."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    for path in rpms:
        shutil.copy2(str(path), directory)
    subprocess.run(['createrepo_c', '--quiet', '--no-database', directory],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return directory


# --------------------------------------------------------------------------
# Install roots and dnf
# --------------------------------------------------------------------------

BASE_NAME = 'bed-base'
_base_rpm = None


def base_rpm():
    """Path of the stub ``bed-base`` RPM (built once per process).

    It has no files and ``Provides: /bin/sh, /usr/bin/sh``: rpmbuild adds
    ``Requires(pre): /bin/sh`` to every package with a shell scriptlet, and
    dnf refuses those in a root where nothing provides /bin/sh.
    """
    global _base_rpm
    if _base_rpm is None:
        outdir = tempfile.mkdtemp(prefix='bed-base-')
        atexit.register(shutil.rmtree, outdir, True)
        _base_rpm = Builder(outdir).build(
            BASE_NAME, provides=['/bin/sh', '/usr/bin/sh'])
    return _base_rpm


def make_root(path, base=True):
    """Prepare an install root at ``path`` and return it as str.

    rpm runs scriptlets chrooted with /bin/sh, so the root gets a static
    busybox at /usr/bin/busybox with symlinks for all its applets (in a
    chroot the shell alone cannot run non-builtin applets) and
    /bin -> usr/bin.  With ``base`` the stub :func:`base_rpm` is put in the
    rpmdb (ROOT/var/lib/rpm) so packages requiring /bin/sh resolve;
    :func:`installed` hides it.  Without it the rpmdb is created on first use.
    """
    root = str(path)
    usrbin = os.path.join(root, 'usr', 'bin')
    os.makedirs(usrbin)
    for sub in ('tmp', 'var/tmp', 'etc', 'dev'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(usrbin, 'busybox'))
    applets = subprocess.run([BUSYBOX, '--list'], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout
    for applet in applets.split():
        link = os.path.join(usrbin, applet)
        if not os.path.lexists(link):
            os.symlink('busybox', link)
    os.symlink('usr/bin', os.path.join(root, 'bin'))
    if base:
        subprocess.run(['rpm', '--root', root, '-i', base_rpm()],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=tool_env(), check=True)
    return root


class DnfResult(namedtuple('DnfResult', 'returncode stdout stderr')):
    """``(returncode, stdout, stderr)`` of a dnf run; ``cmd`` holds argv."""
    cmd = ()

    @property
    def output(self):
        """stdout and stderr joined, handy for assertions."""
        return self.stdout + self.stderr

    def __str__(self):
        return 'dnf exited %d: %s\n--- stdout\n%s--- stderr\n%s' % (
            self.returncode, ' '.join(map(shlex.quote, self.cmd)),
            self.stdout, self.stderr)


def _repo_url(location):
    location = str(location)
    if re.match(r'^[a-z]+://', location):
        return location
    return 'file://' + os.path.abspath(location)


def _write_repo(path, repoid, spec, gpgcheck):
    opts = {'baseurl': spec} if not isinstance(spec, dict) else dict(spec)
    opts['baseurl'] = _repo_url(opts['baseurl'])
    if 'gpgkey' in opts:
        opts['gpgkey'] = _repo_url(opts['gpgkey'])
    opts.setdefault('name', repoid)
    opts.setdefault('gpgcheck', int(bool(gpgcheck)))
    opts.setdefault('metadata_expire', 0)
    with open(path, 'w') as f:
        f.write('[%s]\n' % repoid)
        for key, value in sorted(opts.items()):
            f.write('%s=%s\n' % (key, value))


def _run_isolated(tool, root, args, repos, gpgcheck, keepcache, options, timeout,
                  env):
    """Run dnf or dnf5 on root with only ``repos``, a generated config and
    private reposdir and varsdir; ``options(confdir)`` gives the tool's own
    options. Returns a DnfResult."""
    root = str(root)
    if isinstance(args, str):
        args = shlex.split(args)
    confdir = tempfile.mkdtemp(prefix='bed-%s-' % tool)
    try:
        reposdir = os.path.join(confdir, 'repos.d')
        varsdir = os.path.join(confdir, 'vars')
        os.mkdir(reposdir)
        os.mkdir(varsdir)
        for repoid, spec in (repos or {}).items():
            _write_repo(os.path.join(reposdir, repoid + '.repo'), repoid,
                        spec, gpgcheck)
        conf = os.path.join(confdir, 'dnf.conf')
        with open(conf, 'w') as f:
            f.write('[main]\ngpgcheck=%d\ninstallonly_limit=3\n'
                    'install_weak_deps=0\nprotected_packages=\n'
                    'keepcache=%d\nreposdir=%s\n'
                    % (bool(gpgcheck), bool(keepcache), reposdir))
        cmd = [tool, '--config=' + conf, '--installroot=' + root,
               '--releasever=1', '-y',
               '--setopt=reposdir=' + reposdir,
               '--setopt=varsdir=' + varsdir] + options(confdir)
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=tool_env(env),
                              timeout=timeout)
    finally:
        shutil.rmtree(confdir, ignore_errors=True)
    result = DnfResult(proc.returncode, proc.stdout, proc.stderr)
    result.cmd = cmd
    return result


def run_dnf(root, args, repos=None, gpgcheck=False, keepcache=False,
            setopts=None, plugin_dir=None, plugin_conf_dir=None,
            cacheonly=False, timeout=300, env=None):
    """Run the real ``dnf --installroot=ROOT -y ARGS``; return a DnfResult.

    ``args``: list (or shell-like str) such as ['install', 'tool'] or local
    RPM paths.  ``repos``: {id: path-or-URL} or {id: {'baseurl': ...,
    'gpgcheck': 1, 'gpgkey': path, ...}}; they are the only repos seen.
    ``gpgcheck`` is the default for [main] and for each repo.
    ``setopts``: {option: value} or ['opt=value', ...] passed as --setopt.
    ``plugin_dir``/``plugin_conf_dir`` become --setopt=pluginpath= and
    pluginconfpath= (not prefixed with the root); without them --noplugins.
    ``cacheonly`` adds -C.  ``env``: extra environment variables (e.g.
    PYTHONPATH for a plugin's imports), passed to :func:`tool_env`.

    Isolation from the host: a generated dnf.conf (--config), private
    reposdir and varsdir (set with --setopt so dnf does not look for them
    inside the root), tool_env() (private HOME, no proxies).  dnf keeps
    cachedir, persistdir and logdir under the root: ROOT/var/cache/dnf,
    ROOT/var/lib/dnf, ROOT/var/log.  Do not pass --setopt=cachedir=X: dnf
    4.14 then puts metadata and packages in X but expired_repos.json in
    ROOT/X; cachedir= in a config file is prefixed with the root entirely.
    """
    if isinstance(setopts, dict):
        setopts = ['%s=%s' % kv for kv in setopts.items()]

    def options(confdir):
        opts = []
        if plugin_dir or plugin_conf_dir:
            opts += ['--setopt=pluginpath=%s' % (plugin_dir or confdir),
                     '--setopt=pluginconfpath=%s' % (plugin_conf_dir or confdir)]
        else:
            opts.append('--noplugins')
        if cacheonly:
            opts.append('-C')
        return opts + ['--setopt=' + opt for opt in (setopts or ())]
    return _run_isolated('dnf', root, args, repos, gpgcheck, keepcache, options, timeout,
                         env)


def run_dnf5(root, args, repos=None, keepcache=False, plugin_conf_dir=None,
             platform_plugins=False, setopts=None, timeout=300, env=None):
    """Run the real ``dnf5 --installroot=ROOT -y ARGS``; return a DnfResult.

    Like :func:`run_dnf`: ``repos`` are the only repos seen, a generated
    config, private reposdir and varsdir, tool_env() (``env`` adds to it,
    e.g. DNF5_PLUGINS_DIR for command plugins).  ``plugin_conf_dir``
    becomes --setopt=pluginconfpath= (libdnf5 plugins and the actions
    plugin's actions.d live there); without it --no-plugins, so the
    platform's libdnf5 plugins (sid enables ``local`` on the host) never
    take part, unless ``platform_plugins`` asks for the platform's own
    plugin configuration, as a plain ``dnf5`` run has it.  dnf5 keeps its cache (var/cache/libdnf5), state
    (usr/lib/sysimage/libdnf5) and log inside the root.
    """
    def options(confdir):
        opts = []
        if plugin_conf_dir:
            opts.append('--setopt=pluginconfpath=%s' % plugin_conf_dir)
        elif not platform_plugins:
            opts.append('--no-plugins')
        return opts + ['--setopt=' + opt for opt in (setopts or ())]
    return _run_isolated('dnf5', root, args, repos, False, keepcache, options, timeout, env)


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of ``size`` (e.g. '64k') mounted on ``path`` (made if missing)
    for the block; unmounted afterwards unless the block already did."""
    path = str(path)
    os.makedirs(path, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size,
                    'tmpfs', path], check=True)
    try:
        yield path
    finally:
        if os.path.ismount(path):
            subprocess.run(['umount', path], check=True)


def _headers(root):
    root = str(root)
    with dbpath_macro():
        if not os.path.isdir(rpmdb.rpmdb_dir(root)):
            return []   # opening would create ROOT/var/lib/rpm as a side effect
        return rpmdb.rpmdb_headers(root)


def installed(root, base=False):
    """Set of NEVRA strings installed in ``root``'s rpmdb, without
    gpg-pubkey entries and (unless ``base``) without the bed-base stub."""
    hidden = {'gpg-pubkey'} if base else {'gpg-pubkey', BASE_NAME}
    return {headers.header_nevra(h) for h in _headers(root)
            if h[rpm.RPMTAG_NAME] not in hidden}


def pubkeys(root):
    """Set of short key ids (8 hex) of the gpg-pubkeys imported in ``root``.

    rpm 6 names a gpg-pubkey by the full fingerprint, older rpm by the short
    id: the last 8 hex digits are the short id either way."""
    return {h[rpm.RPMTAG_VERSION][-8:] for h in _headers(root)
            if h[rpm.RPMTAG_NAME] == 'gpg-pubkey'}


def cached_rpms(root):
    """Paths of .rpm files in dnf's package cache ROOT/var/cache/dnf."""
    found = []
    for dirpath, _, names in os.walk(os.path.join(str(root), 'var/cache/dnf')):
        found += [os.path.join(dirpath, n) for n in names if n.endswith('.rpm')]
    return sorted(found)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``server.directory`` (works on 3.6, which lacks directory=)."""

    def translate_path(self, path):
        path = urllib.parse.unquote(path.split('?', 1)[0].split('#', 1)[0])
        parts = [p for p in posixpath.normpath(path).split('/')
                 if p not in ('', '.', '..')]
        return os.path.join(self.server.directory, *parts)

    def log_message(self, *args):
        pass

    def log_request(self, code='-', size='-'):
        self.server.requests.append((self.path, code))


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class HttpServer:
    """Threaded static HTTP server on 127.0.0.1 (random free port).

    Context manager; ``url`` is the base URL (no trailing slash) and
    ``requests`` lists (path, status) of every request served.
    """

    def __init__(self, directory):
        self._httpd = _Server(('127.0.0.1', 0), _Handler)
        self._httpd.directory = os.path.abspath(str(directory))
        self._httpd.requests = self.requests = []
        self.url = 'http://127.0.0.1:%d' % self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def close(self):
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Standard package set
# --------------------------------------------------------------------------

Pkg = namedtuple('Pkg', 'name epoch version release arch path nevra signed')


class StandardSet:
    """A session's stock packages, all in one createrepo_c repo (``repo``).

    - ``libtool-dep`` 1.0; ``tool`` 1.0 and 2.0, both requiring libtool-dep
    - ``epochy`` 1:1.0 and 2.0 (epoch 0: older than 1:1.0)
    - ``multi`` 1.0 for x86_64 and i686
    - ``signed`` 1.0 signed with ``key``; ``unsigned`` 1.0
    - ``badpre`` 1.0 whose %pre exits 1

    Each ships /usr/share/bed/NAME.txt (same content for all arches).
    Look packages up with :meth:`pkg` / :meth:`path`.
    """

    SPECS = [
        dict(name='libtool-dep'),
        dict(name='tool', version='1.0', requires=['libtool-dep']),
        dict(name='tool', version='2.0', requires=['libtool-dep']),
        dict(name='epochy', version='1.0', epoch=1),
        dict(name='epochy', version='2.0'),
        dict(name='multi', arch='x86_64'),
        dict(name='multi', arch='i686'),
        dict(name='signed', sign=True),
        dict(name='unsigned'),
        dict(name='badpre', pre='exit 1'),
    ]

    def __init__(self, builder, key, repo_dir):
        self.key = key
        self.packages = []
        for spec in self.SPECS:
            spec = dict(spec)
            signed = spec.pop('sign', False)
            name = spec['name']
            path = builder.build(
                files={'/usr/share/bed/%s.txt' % name: name + '\n'},
                sign_with=key if signed else None, **spec)
            self.packages.append(Pkg(
                name, spec.get('epoch'), spec.get('version', '1.0'),
                spec.get('release', '1'), spec.get('arch', 'noarch'),
                path, rpm_nevra(path), signed))
        self.repo = make_repo(repo_dir, [p.path for p in self.packages])

    def pkg(self, name, version=None, arch=None):
        """The single Pkg matching name (and version/arch if given)."""
        found = [p for p in self.packages if p.name == name
                 and version in (None, p.version) and arch in (None, p.arch)]
        if len(found) != 1:
            raise LookupError('%d packages match %r %r %r'
                              % (len(found), name, version, arch))
        return found[0]

    def path(self, name, version=None, arch=None):
        """Path of the built RPM picked as in :meth:`pkg`."""
        return self.pkg(name, version, arch).path

    def repo_path(self, name, version=None, arch=None):
        """Path of that RPM's copy inside ``repo``."""
        return os.path.join(self.repo, os.path.basename(
            self.path(name, version, arch)))
