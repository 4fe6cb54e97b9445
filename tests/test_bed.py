"""Proves the test bed drives the real rpmbuild, rpmsign, createrepo_c and dnf."""

import os

from persistrepo.compat.headers import header_nevra
from tests.support import bed

HOST_DNF_DIRS = ('/var/cache/dnf', '/var/lib/dnf', '/var/log')


def host_state():
    """Listing with mtimes of the host dirs dnf must never touch."""
    state = {}
    for top in HOST_DNF_DIRS:
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(dirpath, name)
                if top != '/var/log' or 'dnf' in name or 'hawkey' in name:
                    state[path] = os.lstat(path).st_mtime
    return state


def test_build_sign_and_read_key_id(builder, gpg_key):
    spec = dict(name='full', version='3.1', release='2', epoch=4,
                arch='i686', requires=['libfoo >= 1'], provides=['fullcap'],
                obsoletes=['oldfull < 3'], conflicts=['antifull'],
                pre='exit 0', files={'/etc/full.conf': 'x=1\n'})
    path = builder.build(**spec)
    assert builder.build(**spec) == path          # cached, not rebuilt
    hdr = bed.rpm_header(path)
    assert header_nevra(hdr) == 'full-4:3.1-2.i686'
    assert 'libfoo' in hdr['requirename']
    assert 'fullcap' in hdr['providename']
    assert hdr['obsoletename'] == ['oldfull']
    assert hdr['conflictname'] == ['antifull']
    assert hdr['prein'].strip() == 'exit 0'
    assert hdr['filenames'] == ['/etc/full.conf']
    assert bed.signing_key_id(path) is None

    signed = builder.build(sign_with=gpg_key, **spec)
    assert signed != path
    assert len(gpg_key.keyid) == 8
    assert bed.signing_key_id(signed) == gpg_key.keyid
    assert bed.signing_key_id(path) is None       # cached build untouched
    with open(gpg_key.pubkey) as f:
        assert f.read().startswith('-----BEGIN PGP PUBLIC KEY BLOCK-----')


def test_standard_set(std_set, gpg_key):
    assert std_set.pkg('epochy', '1.0').nevra == 'epochy-1:1.0-1.noarch'
    assert std_set.pkg('multi', arch='i686').nevra == 'multi-1.0-1.i686'
    assert bed.signing_key_id(std_set.repo_path('signed')) == gpg_key.keyid
    assert bed.signing_key_id(std_set.repo_path('unsigned')) is None
    assert os.path.isfile(os.path.join(std_set.repo, 'repodata/repomd.xml'))


def test_install_with_dependency(std_set, root):
    before = host_state()
    res = bed.run_dnf(root, ['install', 'tool'], repos={'std': std_set.repo})
    assert res.returncode == 0, res
    assert bed.installed(root) == {'tool-2.0-1.noarch',
                                   'libtool-dep-1.0-1.noarch'}
    assert os.path.isfile(os.path.join(root, 'usr/share/bed/tool.txt'))
    assert os.path.isdir(os.path.join(root, 'var/lib/rpm'))
    assert not os.path.exists(os.path.join(root, 'root/.rpmdb'))
    assert os.path.isdir(os.path.join(root, 'var/cache/dnf'))
    assert host_state() == before
    assert bed.pubkeys(root) == set()
    assert 'bed-base-1.0-1.noarch' in bed.installed(root, base=True)


def test_two_arches_epoch_and_downgrade(std_set, root):
    repos = {'std': std_set.repo}
    res = bed.run_dnf(root, 'install multi.x86_64 multi.i686 epochy tool-1.0',
                      repos=repos)
    assert res.returncode == 0, res
    assert bed.installed(root) == {
        'multi-1.0-1.x86_64', 'multi-1.0-1.i686', 'epochy-1:1.0-1.noarch',
        'tool-1.0-1.noarch', 'libtool-dep-1.0-1.noarch'}
    res = bed.run_dnf(root, ['upgrade', 'tool'], repos=repos, cacheonly=True)
    assert res.returncode == 0, res
    assert 'tool-2.0-1.noarch' in bed.installed(root)


def test_scriptlets_run_in_root(std_set, builder, root):
    res = bed.run_dnf(root, ['install', std_set.path('badpre')])
    assert res.returncode != 0, res
    assert 'scriptlet' in res.output
    assert bed.installed(root) == set()
    good = builder.build('goodpre', pre='mkdir -p /var/tmp/bed && '
                                        'echo "$1" | cat > /var/tmp/bed/pre')
    res = bed.run_dnf(root, ['install', good])
    assert res.returncode == 0, res
    assert bed.installed(root) == {'goodpre-1.0-1.noarch'}
    with open(os.path.join(root, 'var/tmp/bed/pre')) as f:
        assert f.read() == '1\n'


def test_gpgcheck_imports_key(std_set, gpg_key, root):
    repos = {'std': {'baseurl': std_set.repo, 'gpgkey': gpg_key.pubkey}}
    res = bed.run_dnf(root, ['install', 'signed'], repos=repos, gpgcheck=True)
    assert res.returncode == 0, res
    assert bed.pubkeys(root) == {gpg_key.keyid}
    res = bed.run_dnf(root, ['install', 'unsigned'], repos=repos,
                      gpgcheck=True)
    assert res.returncode != 0, res
    assert bed.installed(root) == {'signed-1.0-1.noarch'}


def test_http_keepcache(std_set, root, http_serve):
    server = http_serve(std_set.repo)
    repos = {'web': server.url}
    res = bed.run_dnf(root, ['install', 'tool'], repos=repos, keepcache=False)
    assert res.returncode == 0, res
    assert {'/tool-2.0-1.noarch.rpm', '/libtool-dep-1.0-1.noarch.rpm'} <= {
        path for path, code in server.requests}
    assert 'tool-2.0-1.noarch' in bed.installed(root)
    assert bed.cached_rpms(root) == []

    res = bed.run_dnf(root, ['install', 'unsigned'], repos=repos,
                      keepcache=True)
    assert res.returncode == 0, res
    assert [os.path.basename(p) for p in bed.cached_rpms(root)] == [
        'unsigned-1.0-1.noarch.rpm']


PLUGIN = '''
import os
import dnf

class Marker(dnf.Plugin):
    name = 'marker'

    def transaction(self):
        with open(os.path.join(self.base.conf.installroot, 'marker'), 'w') as f:
            f.write(' '.join(sorted(str(p) for p in
                                    self.base.transaction.install_set)))
'''


def test_plugin_dir(std_set, root, tmp_path):
    plugins = tmp_path / 'plugins'
    plugins.mkdir()
    (plugins / 'marker.py').write_text(PLUGIN)
    (plugins / 'marker.conf').write_text('[main]\nenabled=1\n')
    res = bed.run_dnf(root, ['install', 'libtool-dep'],
                      repos={'std': std_set.repo}, plugin_dir=plugins,
                      plugin_conf_dir=plugins)
    assert res.returncode == 0, res
    with open(os.path.join(root, 'marker')) as f:
        assert f.read() == 'libtool-dep-1.0-1.noarch'
    assert not (plugins / '__pycache__').exists()
