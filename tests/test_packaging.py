"""The RPM packaging: sdist -> rpmbuild -ba -> file lists, flags, requires,
an install into a throw-away root, rpmlint, man pages and bash completion.

Built once per module with this machine's (Debian's) rpm.  Debian quirks:
rpm's database path comes from bed.tool_env()'s HOME (see tests/support/bed.py);
build dependencies are Fedora package names Debian's rpmdb cannot satisfy,
hence ``rpmbuild --nodeps``; Debian's brp-compress needs bash (see below).
"""

import argparse
import gzip
import operator
import os
import re
import subprocess
import sys
import tarfile

import pytest

import persistrepo
from persistrepo.cli import build_parser
from tests.support import bed

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(TOP, 'packaging', 'python-persistrepo.spec')
RPMLINTRC = os.path.join(TOP, 'packaging', 'persistrepo.rpmlintrc')
VR = persistrepo.__version__ + '-1'
LIB = 'python3-persistrepo'
DNF = 'python3-dnf-plugin-persist-rpm'
IMG = 'persistrepo-imgbased'
SITELIB = re.compile(r'^/usr/lib/python3\.\d+/site-packages/')
STORE = '/var/imgbased/persisted_packages'


def run(cmd, **kwargs):
    """Run a tool with bed.tool_env() and return its stdout; a non-zero exit
    fails the test with the tool's output."""
    proc = subprocess.run([str(c) for c in cmd], env=bed.tool_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kwargs)
    assert proc.returncode == 0, '%s failed:\n%s' % (cmd, proc.stdout)
    return proc.stdout


def rpmbuild(tmp, defines=()):
    """Build the sdist and rpmbuild -ba the spec on it in a clean _topdir
    under tmp, with extra --define MACRO VALUE strings.
    Returns {'sdist': path, 'srpm': path, name: binary rpm path}."""
    dist, topdir = tmp / 'dist', tmp / 'top'
    run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', tmp,
         'sdist', '--dist-dir', dist], cwd=TOP)
    # --nodeps: BuildRequires are Fedora/EL package names that Debian's rpmdb
    # cannot know about.
    cmd = ['rpmbuild', '-ba', '--nodeps',
           '--define', '_topdir %s' % topdir,
           '--define', '_sourcedir %s' % dist,
           # Debian's brp-compress uses `read -d`, which its /bin/sh (dash)
           # lacks, so man pages would stay uncompressed; Fedora's runs fine.
           '--define', '__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress'
                       ' %{?_prefix}']
    for define in defines:
        cmd += ['--define', define]
    run(cmd + [SPEC])
    rpms = {'sdist': str(dist / os.listdir(str(dist))[0])}
    for sub in ('RPMS', 'SRPMS'):
        for dirpath, _, names in os.walk(str(topdir / sub)):
            for name in names:
                path = os.path.join(dirpath, name)
                key = 'srpm' if sub == 'SRPMS' else run(
                    ['rpm', '-qp', '--qf', '%{NAME}', path])
                rpms[key] = path
    return rpms


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """The spec built as on Fedora, EL8 and EL9 (see rpmbuild())."""
    return rpmbuild(tmp_path_factory.mktemp('rpmbuild'))


@pytest.fixture(scope='module')
def installed(built, tmp_path_factory):
    """A throw-away root with the binary RPMs installed (rpm --nodeps)."""
    root = tmp_path_factory.mktemp('installroot')
    # --noscripts: the root has no shell for persistrepo-imgbased's %post.
    run(['rpm', '--root', root, '--nodeps', '--noscripts', '-i', built[LIB], built[DNF],
         built[IMG]])
    return str(root)


def file_table(path):
    """{file name: (perms, user, group, file flags)} of an RPM file."""
    out = run(['rpm', '-qp', '--qf', '[%{FILENAMES}\t%{FILEMODES:perms}\t'
               '%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]',
               path])
    return {f[0]: tuple(f[1:]) for f in
            (line.split('\t') for line in out.splitlines())}


def requires(path):
    """The Requires of an RPM file, one string each."""
    return set(run(['rpm', '-qp', '--requires', path]).splitlines())


def cli_options():
    """{None: global options, command: its options} of the real parser."""
    parser = build_parser()
    found = {None: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return {name: {opt for a in p._actions for opt in a.option_strings}
            for name, p in found.items()}


def test_spec_version_is_the_package_version():
    """Version: in the spec is persistrepo.__version__ (setup.py's source)."""
    with open(SPEC) as f:
        version = re.search(r'^Version:\s*(\S+)$', f.read(), re.M).group(1)
    assert version == persistrepo.__version__


def test_rpmbuild_makes_the_python3_subpackages(built):
    """Outside EL7: the library, the dnf plugin and the imgbased plugin, plus
    the source RPM."""
    assert set(built) == {'sdist', 'srpm', LIB, DNF, IMG}
    assert built['srpm'].endswith('/python-persistrepo-%s.src.rpm' % VR)


def test_library_package_layout(built):
    """Command, package, man page, completion, license, doc, and the store
    directory owned with mode 0755."""
    files = file_table(built[LIB])
    assert files['/usr/bin/persistrepo'][:3] == ('-rwxr-xr-x', 'root', 'root')
    modules = {os.path.basename(f) for f in files
               if SITELIB.match(f) and '/persistrepo/' in f}
    assert {'__init__.py', '__main__.py', 'cli.py', 'store.py'} <= modules
    assert any(f.endswith('/persistrepo/replay/run.py') for f in files)  # the subpackage
    assert files['/usr/share/man/man8/persistrepo.8.gz'][3] == 'd'
    assert '/usr/share/bash-completion/completions/persistrepo' in files
    assert files['/usr/share/licenses/%s-%s/LICENSE' % (
        LIB, persistrepo.__version__)][3] == 'l'
    docdir = '/usr/share/doc/%s-%s/' % (LIB, persistrepo.__version__)
    for doc in ['README.md'] + [n for n in os.listdir(os.path.join(TOP, 'docs'))
                                if n.endswith('.md')]:
        assert files[docdir + doc][3] == 'd', doc
    assert files[STORE][:3] == ('drwxr-xr-x', 'root', 'root')
    assert files['/var/imgbased'][0] == 'drwxr-xr-x'
    assert not any('dnf-plugins' in f or f.startswith('/etc') for f in files)


def test_push_timer_ships_disabled(built, installed):
    """persistrepo-push.service and .timer come with the command, and
    installing the package enables neither (docs/fleet.md)."""
    files = file_table(built[LIB])
    units = '/usr/lib/systemd/system/persistrepo-push.'
    for unit in ('service', 'timer'):
        assert files[units + unit][:3] == ('-rw-r--r--', 'root', 'root'), unit
    with open(installed + units + 'service') as f:
        assert 'ExecStart=/usr/bin/persistrepo push\n' in f.read()
    with open(installed + units + 'timer') as f:
        assert 'WantedBy=timers.target' in f.read()
    enabled = [os.path.join(d, n) for d, _, names in os.walk(installed + '/etc')
               for n in names if n.startswith('persistrepo-push')]
    assert enabled == []
    assert not os.path.lexists(installed + '/etc/systemd/system/timers.target.wants')
    assert run(['rpm', '-qp', '--scripts', built[LIB]]).strip() == ''  # nothing enables it


def test_library_package_requires(built):
    """The library needs the rpm and createrepo_c bindings."""
    assert {'python3-rpm', 'python3-createrepo_c'} <= requires(built[LIB])


def test_dnf_plugin_package_layout(built):
    """Plugin in dnf's plugin directory, conf as %config(noreplace), man."""
    files = file_table(built[DNF])
    plugin = [f for f in files if f.endswith('/dnf-plugins/persist_rpm.py')]
    assert len(plugin) == 1 and SITELIB.match(plugin[0])
    assert files['/etc/dnf/plugins/persist_rpm.conf'][3] == 'cn'
    assert files['/usr/share/man/man8/dnf-persist.8.gz'][3] == 'd'
    assert STORE not in files


def test_dnf_plugin_package_requires(built):
    """dnf, createrepo_c and exactly this build of the library."""
    assert {'python3-dnf', 'python3-createrepo_c',
            '%s = %s' % (LIB, VR)} <= requires(built[DNF])


def test_imgbased_plugin_package_layout(built):
    """The plugin module in imgbased's plugins package, byte-compiled; the
    directory stays python3-imgbased's."""
    files = file_table(built[IMG])
    plugins = [f for f in files if '/imgbased/plugins/' in f]
    assert len([f for f in plugins if f.endswith('/imgbased/plugins/persistrepo.py')]) == 1
    assert all(SITELIB.match(f) for f in plugins)
    assert any(f.endswith('.pyc') and '/__pycache__/persistrepo.' in f for f in plugins)
    assert not any(f.endswith('/imgbased/plugins') or f.endswith('/__init__.py')
                   for f in files)


def test_imgbased_plugin_package_requires_and_scripts(built):
    """imgbased's Python package, dnf and this build of the library; on
    install, and when imgbased is installed later, imgbased-persist's
    capture is turned off without failing the transaction; before an image
    update imgbased-persist's store is taken over, after its %post the new
    layer gets the replay (docs/replay.md, "The image-update package")."""
    assert {'python3-imgbased', 'python3-dnf', '%s = %s' % (LIB, VR)} <= requires(built[IMG])
    scripts = run(['rpm', '-qp', '--scripts', '--triggers', built[IMG]])
    wanted = '/usr/bin/persistrepo import-imgbased --no-import >/dev/null 2>&1 || :'
    updates = 'ovirt-node-ng-image-update, redhat-virtualization-host-image-update'
    assert scripts.splitlines() == [
        'postinstall scriptlet (using /bin/sh):', wanted,
        'triggerin scriptlet (using /bin/sh) -- imgbased', wanted,
        'triggerprein scriptlet (using /bin/sh) -- ' + updates,
        '/usr/bin/persistrepo import-imgbased --if-present || :',
        '/usr/bin/persistrepo imgbased-update --before || :',
        'triggerin scriptlet (using /bin/sh) -- ' + updates,
        '/usr/bin/persistrepo imgbased-update || :'], scripts


def test_sdist_carries_every_file_the_spec_uses(built):
    """Both the EL7 and the other branch build from the sdist alone."""
    used = {'LICENSE', 'README.md', 'setup.py', 'persistrepo/__init__.py'}
    for rhel in ('7', '9'):
        spec = run(['rpmspec', '-P', '--define', 'rhel ' + rhel, '--define',
                    'python2_sitelib /usr/lib/python2.7/site-packages', SPEC])
        used |= set(re.findall(r'(?<![\w/.-])((?:dnf-plugins|yum-plugins|imgbased-plugin|conf'
                               r'|docs|completion)/[\w./-]+)', spec))
    with tarfile.open(built['sdist']) as tar:
        names = {n.split('/', 1)[1] for n in tar.getnames() if '/' in n}
    assert 'docs/man/persistrepo.8.rst' in used
    assert used <= names


def test_el7_branch_makes_python2_library_and_yum_plugin():
    """With %{rhel} 7 the spec yields python2-persistrepo, the yum plugin and
    persistrepo-imgbased (queried here; tests/test_el7_node_update.py builds
    and installs them)."""
    out = run(['rpmspec', '-q', '--define', 'rhel 7',
               '--define', 'python2_sitelib /usr/lib/python2.7/site-packages',
               '--qf', '%{NAME}:[ %{REQUIRENEVRS},]\n', SPEC])
    reqs = {name: {r.strip() for r in rest.split(',') if r.strip()}
            for name, rest in (line.split(':', 1) for line in out.splitlines())
            if name != 'python-persistrepo'}
    assert reqs == {
        'python2-persistrepo': {'rpm-python', 'python-createrepo_c'},
        'yum-plugin-persist-rpm': {'yum', 'python2-persistrepo = ' + VR},
        IMG: {'imgbased', 'python2-persistrepo = ' + VR, '/bin/sh'}}
    files = run(['rpmspec', '-P', '--define', 'rhel 7', '--define',
                 'python2_sitelib /usr/lib/python2.7/site-packages', SPEC])
    assert '\n/usr/lib/yum-plugins/persist_rpm.*\n' in files
    assert ('\n%config(noreplace) /etc/yum/pluginconf.d/persist_rpm.conf\n'
            in files)
    assert '\n/usr/lib/python2.7/site-packages/persistrepo/\n' in files
    assert '\n/usr/lib/python2.7/site-packages/imgbased/plugins/persistrepo.py*\n' in files
    assert '%triggerin -n persistrepo-imgbased -- ovirt-node-ng-image-update' in files


def test_the_plugin_knows_every_package_the_spec_makes():
    """capture.OWN_PACKAGES (the packages the dnf plugin persists of itself)
    are the spec's binary packages on every branch: EL7, dnf 4, dnf5."""
    from persistrepo.capture.capture import OWN_PACKAGES
    names = set()
    for defines in ([], ['--define', 'rhel 7'], ['--define', 'with_dnf5 1']):
        out = run(['rpmspec', '-q', '--define', 'python2_sitelib /usr/lib/python2.7/site-packages',
                   '--qf', '%{NAME}\n'] + defines + [SPEC])
        names.update(out.split())
    assert names - {'python-persistrepo'} == set(OWN_PACKAGES)


def test_install_into_a_throwaway_root(built, installed):
    """Files land where the packages say, rpm -V finds them intact, and the
    installed command runs and reports the version."""
    plugin = [f for f in file_table(built[DNF])
              if f.endswith('/dnf-plugins/persist_rpm.py')][0]
    img_plugin = [f for f in file_table(built[IMG])
                  if f.endswith('/imgbased/plugins/persistrepo.py')][0]
    for path in ('/usr/bin/persistrepo', plugin, img_plugin, STORE,
                 '/etc/dnf/plugins/persist_rpm.conf',
                 '/usr/share/bash-completion/completions/persistrepo',
                 '/usr/share/man/man8/persistrepo.8.gz',
                 '/usr/share/man/man8/dnf-persist.8.gz'):
        assert os.path.exists(installed + path), path
    assert os.stat(installed + STORE).st_mode & 0o7777 == 0o755
    assert run(['rpm', '--root', installed, '-V', '--nodeps', LIB, DNF, IMG]) == ''
    sitelib = os.path.dirname(os.path.dirname(plugin))
    version = run(['env', 'PYTHONPATH=' + installed + sitelib, sys.executable,
                   installed + '/usr/bin/persistrepo', '--version'])
    assert version.strip() == "persistrepo %s" % persistrepo.__version__


def test_man_page_documents_every_cli_option(installed):
    """The installed persistrepo(8) names every command and option."""
    with gzip.open(installed + '/usr/share/man/man8/persistrepo.8.gz',
                   'rt') as f:
        page = re.sub(r'\\f[BIRP]', '', f.read()).replace('\\-', '-')
    assert re.search(r'^\.TH "?persistrepo"? "?8"?', page, re.M | re.I), page[:400]
    missing = set()
    for command, options in cli_options().items():
        wanted = options - {'-h', '--help'} | ({command} if command else set())
        missing |= {w for w in wanted
                    if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(w),
                                     page)}
    assert not missing


def complete(completion_file, *words):
    """What the installed bash completion offers for `words` (the last is
    the word being completed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _persistrepo; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    env = dict(os.environ, PYTHONPATH=TOP, PATH=os.path.dirname(sys.executable) + ':' +
               os.environ.get('PATH', ''))
    out = subprocess.run(['bash', '-c', script, 'bash', completion_file,
                          'persistrepo'] + list(words),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True, check=True, env=env).stdout
    return set(out.split())


def test_completion_offers_every_command_and_option(installed):
    """Commands after `persistrepo`, every option of each, --reason values."""
    comp = installed + '/usr/share/bash-completion/completions/persistrepo'
    options = cli_options()
    assert set(options) - {None} <= complete(comp, '')
    assert options[None] <= complete(comp, '-')
    for command in set(options) - {None}:
        assert options[command] <= complete(comp, command, '-'), command
    assert complete(comp, '--store', '/x', 'pr') == {'prune'}
    assert complete(comp, 'add', '--reason', '') == {'user', 'dependency'}


def test_completion_offers_stored_names_and_repo_ids(installed, std_set, tmp_path):
    from tests.support.storebed import cli
    comp = installed + '/usr/share/bash-completion/completions/persistrepo'
    store = str(tmp_path / 'store')
    assert cli('--store', store, 'add', std_set.path('tool', '1.0'),
               std_set.path('libtool-dep')).returncode == 0
    assert cli('--store', store, 'remove', 'libtool-dep').returncode == 0
    assert complete(comp, '--store', store, 'remove', '') == {'tool'}
    assert complete(comp, '--store', store, 'list', 't') == {'tool'}
    assert complete(comp, '--store', store, 'restore', '') == {'libtool-dep'}
    root = tmp_path / 'root'
    (root / 'etc/yum.repos.d').mkdir(parents=True)
    (root / 'etc/yum.repos.d/v.repo').write_text('[vendor]\nname=v\n\n[extras] \n')
    assert complete(comp, 'replay', '--installroot', str(root), '--enablerepo', '') == \
        {'vendor', 'extras'}


def rpmlintrc_for(version, path):
    """Write the rpmlintrc to path without the filters that an "# only rpmlint
    OP VERSION" line reserves for other rpmlint releases."""
    ops = {'<=': operator.le, '<': operator.lt, '>=': operator.ge,
           '>': operator.gt, '==': operator.eq}
    keep, wanted = [], True
    with open(RPMLINTRC) as f:
        for line in f:
            m = re.match(r'# only rpmlint (<=|<|>=|>|==) ([0-9.]+)$', line.strip())
            if m:
                want = tuple(int(x) for x in m.group(2).split('.'))
                wanted = ops[m.group(1)](version[:len(want)], want)
            elif line.startswith('addFilter'):
                if wanted:
                    keep.append(line)
                wanted = True
            else:
                keep.append(line)
    with open(path, 'w') as f:
        f.writelines(keep)
    return path


def test_rpmlint_is_clean(built, tmp_path):
    """No rpmlint error or warning beyond those the rpmlintrc accepts."""
    version = re.search(r'(\d+(?:\.\d+)+)', run(['rpmlint', '--version'])).group(1)
    rc = rpmlintrc_for(tuple(int(x) for x in version.split('.')),
                       str(tmp_path / 'persistrepo.rpmlintrc'))
    out = run(['rpmlint', '-r', rc, SPEC, built['srpm'], built[LIB], built[DNF], built[IMG]])
    assert ' 0 errors, 0 warnings,' in out, out
