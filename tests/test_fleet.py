"""persistrepo push and pull against a real Pulp 3 (pulpcore + pulp_rpm) that
the session starts on 127.0.0.1 (tests/support/pulpserver.py). Runs on the Debian 12
stack only: Pulp does not support the sid stack's Python (docs/testing.md)."""

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tests import test_dnf_plugin, test_modules, test_replay
from tests.support import bed
from tests.support.pulpserver import PASSWORD, PulpServer
from tests.support.storebed import cli, cli_command, cli_env, listed, one_line_error

API = '/pulp/api/v3/'


@pytest.fixture(scope='session')
def pulp(tmp_path_factory):
    server = PulpServer(tmp_path_factory.mktemp('pulp'))
    yield server
    server.close()


@pytest.fixture
def conf(pulp, tmp_path):
    """A persist_rpm.conf whose [fleet] section points at the test server,
    with a root-owned 0600 credentials file."""
    return fleet_conf(tmp_path, pulp.url, 'admin', PASSWORD)


def fleet_conf(tmp_path, server, username, password, mode=0o600):
    creds = tmp_path / ('creds-%s' % username)
    creds.write_text('username = %s\npassword = %s\n' % (username, password))
    os.chmod(str(creds), mode)
    path = tmp_path / ('persist_rpm-%s.conf' % username)
    path.write_text('[main]\npersist_dir = /nonexistent\n\n[fleet]\nserver = %s\n'
                    'credentials = %s\n' % (server, creds))
    return str(path)


def fleet(conf, store, *args):
    return cli('--store', store, '--config', conf, *args, timeout=600)


def ok(res):
    assert res.returncode == 0 and 'Traceback' not in res.stderr, (res.stdout, res.stderr)
    return res.stdout


def repository(pulp, name, plugin='rpm'):
    found = pulp.api(API + 'repositories/%s/%s/?name=%s' % (plugin, plugin, name))['results']
    return found[0] if found else None


def version_of(pulp, name, plugin='rpm'):
    repo = repository(pulp, name, plugin)
    return None if repo is None else int(repo['latest_version_href'].rstrip('/').split('/')[-1])


def server_packages(pulp, name):
    """{nevra: sha256} of the latest version of the rpm repository name."""
    href = repository(pulp, name)['latest_version_href']
    units = pulp.api(API + 'content/rpm/packages/?limit=1000&repository_version=' + href)
    return dict(('%s-%s-%s.%s' % (u['name'], u['version'], u['release'], u['arch']),
                 u['sha256']) for u in units['results'])


def store_files(store):
    """Every path in a store with its size and mtime."""
    found = {}
    for dirpath, dirs, files in os.walk(store):
        for n in dirs + files:
            st = os.lstat(os.path.join(dirpath, n))
            found[os.path.join(dirpath, n)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def fleet_set(builder, gpg_key):
    """What a host persisted: a signed vendor agent (its key kept), its
    library as a dependency, and a local tool."""
    b = builder.build
    return {'agent': b('fl-agent', requires=['fl-lib'], sign_with=gpg_key,
                       files={'/usr/share/fl/agent': 'agent\n'}),
            'lib': b('fl-lib', files={'/usr/share/fl/lib': 'lib\n'}),
            'tool': b('fl-tool', files={'/usr/share/fl/tool': 'tool\n'})}


def host_store(tmp_path, fleet_set, gpg_key, name='host-a'):
    store = str(tmp_path / name)
    ok(cli('--store', store, 'add', '--origin', 'vendor-repo', '--key', gpg_key.pubkey,
           fleet_set['agent']))
    ok(cli('--store', store, 'add', '--reason', 'dependency', '--origin', 'vendor-repo',
           fleet_set['lib']))
    ok(cli('--store', store, 'add', fleet_set['tool']))
    return store


def test_push_unchanged_push_and_push_after_remove(pulp, conf, tmp_path, fleet_set, gpg_key):
    store = host_store(tmp_path, fleet_set, gpg_key)
    out = ok(fleet(conf, store, 'push', '--repository', 'fl-push'))
    assert 'uploaded fl-agent-1.0-1.noarch' in out
    assert 'version 1 (3 added, 0 removed), provenance version 1' in out
    assert server_packages(pulp, 'fl-push') == dict(
        (nevra, e['sha256']) for nevra, e in listed(store).items())
    repo = repository(pulp, 'fl-push')
    assert repo['autopublish'] is True and repo['retain_package_versions'] == 0
    dist = pulp.api(API + 'distributions/rpm/rpm/?name=fl-push')['results'][0]
    assert dist['base_path'] == 'persistrepo/fl-push' and dist['repository'] == repo['pulp_href']
    # dnf can consume the published repository.
    assert b'type="primary"' in bed_fetch(dist['base_url'] + 'repodata/repomd.xml')

    out = ok(fleet(conf, store, 'push', '--repository', 'fl-push'))
    assert 'is up to date (version 1, 3 packages); nothing pushed' in out
    assert version_of(pulp, 'fl-push') == 1 and version_of(pulp, 'fl-push-provenance',
                                                            'file') == 1

    ok(cli('--store', store, 'remove', 'fl-tool'))
    out = ok(fleet(conf, store, 'push', '--repository', 'fl-push', '--dry-run'))
    assert out.splitlines() == ['would remove fl-tool-1.0-1.noarch',
                                'would update the provenance manifest']
    assert version_of(pulp, 'fl-push') == 1
    out = ok(fleet(conf, store, 'push', '--repository', 'fl-push'))
    assert 'version 2 (0 added, 1 removed), provenance version 2' in out
    assert set(server_packages(pulp, 'fl-push')) == {'fl-agent-1.0-1.noarch',
                                                     'fl-lib-1.0-1.noarch'}


def bed_fetch(url):
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as resp:
        return resp.read()


def history_reasons(root):
    """{name: dnf's reason} from the root's dnf history (2 user, 1 dependency)."""
    with sqlite3.connect(os.path.join(root, 'var/lib/dnf/history.sqlite')) as db:
        return dict(db.execute('select rpm.name, trans_item.reason from trans_item '
                               'join rpm on trans_item.item_id = rpm.item_id'))


def test_pull_into_an_empty_store_then_replay(pulp, conf, tmp_path, fleet_set, gpg_key):
    store_a = host_store(tmp_path, fleet_set, gpg_key)
    ok(fleet(conf, store_a, 'push', '--repository', 'fl-pull'))
    store_b = str(tmp_path / 'host-b')
    out = ok(fleet(conf, store_b, 'pull', '--repository', 'fl-pull', '--dry-run'))
    assert 'would pull 3 of the 3 packages of fl-pull version 1' in out
    assert not os.path.exists(store_b)
    out = ok(fleet(conf, store_b, 'pull', '--repository', 'fl-pull'))
    assert 'pulled 3 of the 3 packages of fl-pull version 1 (0 were here already), 1 keys' \
        in out
    assert listed(store_b) == listed(store_a)  # every field: reason, origin, key, module, time
    assert sorted(os.listdir(os.path.join(store_b, '.persistrepo', 'keys'))) == \
        sorted(os.listdir(os.path.join(store_a, '.persistrepo', 'keys')))
    ok(cli('--store', store_b, 'verify'))
    out = ok(fleet(conf, store_b, 'pull', '--repository', 'fl-pull'))
    assert 'pulled 0 of the 3 packages of fl-pull version 1 (3 were here already)' in out

    roots = {}
    for host, store in (('a', store_a), ('b', store_b)):
        root = bed.make_root(tmp_path / ('root-' + host))
        ok(cli('replay', '--installroot', root, '--store', store))
        roots[host] = root
    assert bed.installed(roots['b']) == bed.installed(roots['a']) == {
        'fl-agent-1.0-1.noarch', 'fl-lib-1.0-1.noarch', 'fl-tool-1.0-1.noarch'}
    assert bed.pubkeys(roots['b']) == bed.pubkeys(roots['a']) == {gpg_key.keyid}
    reasons = history_reasons(roots['b'])
    assert reasons == history_reasons(roots['a'])
    assert (reasons['fl-agent'], reasons['fl-lib'], reasons['fl-tool']) == (2, 1, 2)


def test_pulled_module_stream_is_recorded_and_enabled_by_replay(pulp, conf, tmp_path,
                                                                builder):
    """A host captured vtool from stream vtool:1 (the real dnf, the plugin):
    the store a new host pulls lists the same stream, writes the same
    modules.yaml, and its replay enables vtool:1 in a root without module
    state before installing vtool."""
    repos = test_modules.site(tmp_path, builder)
    layer = test_replay.image(tmp_path, [], 'layer-1')
    confdir = tmp_path / 'pluginconf'
    confdir.mkdir()
    dnf = test_dnf_plugin.Dnf(layer, str(confdir), repos)
    assert dnf('module', 'enable', 'vtool:1').returncode == 0
    res = dnf('install', 'vtool', builder.build('fl-plain'))
    assert res.returncode == 0, res
    store_a = dnf.store
    assert listed(store_a)['vtool-1.0-1.noarch']['module'] == test_modules.RECORD

    ok(fleet(conf, store_a, 'push', '--repository', 'fl-module'))
    store_b = str(tmp_path / 'host-b')
    ok(fleet(conf, store_b, 'pull', '--repository', 'fl-module'))
    pulled = listed(store_b)
    assert pulled['vtool-1.0-1.noarch']['module'] == test_modules.RECORD
    assert pulled['fl-plain-1.0-1.noarch']['module'] is None
    assert pulled == listed(store_a)
    assert 'vtool-0:1.0-1.noarch' in test_modules.repodata_modules(store_b)
    ok(cli('--store', store_b, 'verify'))

    root = test_modules.new_root(tmp_path, repos, 'layer-2')
    assert test_modules.state_of(root) is None
    out = ok(cli('replay', '--installroot', root, '--store', store_b))
    assert 'enabled module stream vtool:1' in out
    assert bed.installed(root) == {'vtool-1.0-1.noarch', 'fl-plain-1.0-1.noarch'}
    state = test_modules.state_of(root)
    assert (state['stream'], state['state']) == ('1', 'enabled'), state


def test_conflicting_build_refused_both_ways(pulp, conf, tmp_path, builder, fleet_set,
                                             gpg_key):
    store_a = host_store(tmp_path, fleet_set, gpg_key)
    ok(fleet(conf, store_a, 'push', '--repository', 'fl-conflict'))
    other = builder.build('fl-tool', files={'/usr/share/fl/tool': 'another build\n'})
    store_c = str(tmp_path / 'host-c')
    ok(cli('--store', store_c, 'add', other))
    before = store_files(store_c)
    for command in ('push', 'pull'):
        res = fleet(conf, store_c, command, '--repository', 'fl-conflict')
        assert res.returncode == 7, (command, res.stdout, res.stderr)
        line = one_line_error(res)
        assert 'another build of fl-tool-1.0-1.noarch' in line
        assert version_of(pulp, 'fl-conflict') == 1
        assert store_files(store_c) == before


def test_server_down_and_wrong_credentials_change_nothing(pulp, tmp_path, fleet_set,
                                                           gpg_key):
    store = host_store(tmp_path, fleet_set, gpg_key)
    before = store_files(store)
    down = fleet_conf(tmp_path, 'http://127.0.0.1:9', 'admin', PASSWORD)
    wrong = fleet_conf(tmp_path, pulp.url, 'intruder', 'not-the-password')
    loose = fleet_conf(tmp_path, pulp.url, 'loose', PASSWORD, mode=0o644)
    for command in ('push', 'pull'):
        res = fleet(down, store, command, '--repository', 'fl-fail')
        assert res.returncode == 5, res.stderr
        assert 'cannot reach the Pulp server http://127.0.0.1:9' in one_line_error(res)
        res = fleet(wrong, store, command, '--repository', 'fl-fail')
        assert res.returncode == 6, res.stderr
        assert 'refused the credentials (HTTP 401)' in one_line_error(res)
        res = fleet(loose, store, command, '--repository', 'fl-fail')
        assert res.returncode == 3, res.stderr
        assert 'mode 0644' in one_line_error(res)
    assert store_files(store) == before
    assert repository(pulp, 'fl-fail') is None


def test_interrupted_push_leaves_no_version_and_a_rerun_finishes(pulp, conf, tmp_path,
                                                                  builder):
    store = str(tmp_path / 'host-i')
    rpms = [builder.build('fl-many%d' % i, files={'/usr/share/fl/m%d' % i: 'x' * 4096})
            for i in range(5)]
    ok(cli('--store', store, 'add', *rpms))
    first = listed(store)['fl-many0-1.0-1.noarch']['sha256']
    push = subprocess.Popen(cli_command('--store', store, '--config', conf, 'push',
                                        '--repository', 'fl-interrupted'),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not pulp.api(API + 'content/rpm/packages/?sha256=' + first)['count']:
        assert push.poll() is None and time.time() < deadline
        time.sleep(0.05)
    push.send_signal(signal.SIGKILL)
    out = push.communicate()[0].decode()
    assert 'pushed' not in out
    assert version_of(pulp, 'fl-interrupted') == 0  # made, but no new version
    assert version_of(pulp, 'fl-interrupted-provenance', 'file') == 0

    out = ok(fleet(conf, store, 'push', '--repository', 'fl-interrupted'))
    assert 'already on the server: fl-many0-1.0-1.noarch' in out
    assert 'version 1 (5 added, 0 removed), provenance version 1' in out
    assert len(server_packages(pulp, 'fl-interrupted')) == 5


def test_failed_task_is_one_line_and_changes_nothing(pulp, conf, tmp_path, builder):
    """A store file damaged after it was added: Pulp's upload task refuses
    it, and push says so in one line (exit 8), making no version."""
    store = str(tmp_path / 'host-f')
    ok(cli('--store', store, 'add', builder.build('fl-damaged')))
    path = os.path.join(store, 'fl-damaged-1.0-1.noarch.rpm')
    with open(path, 'r+b') as f:
        f.write(b'not an rpm' * 16)
    before = store_files(store)
    res = fleet(conf, store, 'push', '--repository', 'fl-failed')
    assert res.returncode == 8, (res.stdout, res.stderr)
    assert 'fl-damaged' in one_line_error(res)
    assert version_of(pulp, 'fl-failed') == 0
    assert store_files(store) == before


def test_repository_name_per_host_by_default_per_group_by_option(pulp, conf, tmp_path):
    store = str(tmp_path / 'host-n')
    ok(cli('--store', store, 'add', bed.Builder(tmp_path / 'rpms').build('fl-named')))
    out = ok(fleet(conf, store, 'push', '--dry-run'))
    assert 'would create the repositories persistrepo-%s and persistrepo-%s-provenance' % (
        (os.uname()[1],) * 2) in out
    with open(conf, 'a') as f:
        f.write('group = web\n')
    out = ok(fleet(conf, store, 'push', '--dry-run'))
    assert 'would create the repositories persistrepo-group-web and ' \
        'persistrepo-group-web-provenance' in out
    assert repository(pulp, 'persistrepo-group-web') is None


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for
    127.0.0.1 that answers every request with an HTML page (not Pulp)."""
    import http.server
    import ssl
    import threading
    cert, key = str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', key, '-out', cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<html>not pulp</html>')

        def log_message(self, *args):
            pass
    httpd = http.server.HTTPServer(('127.0.0.1', 0), Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'https://127.0.0.1:%d' % httpd.server_address[1], cert
    httpd.shutdown()
    httpd.server_close()


def test_tls_is_verified_unless_turned_off(tmp_path, tls_server, builder):
    url, cert = tls_server
    store = str(tmp_path / 'host-t')
    ok(cli('--store', store, 'add', builder.build('fl-tls')))
    base = fleet_conf(tmp_path, url, 'admin', PASSWORD)
    res = fleet(base, store, 'push', '--repository', 'fl-tls')
    assert res.returncode == 5
    assert 'CERTIFICATE_VERIFY_FAILED' in one_line_error(res)
    for extra in ('sslcacert = %s\n' % cert, 'sslverify = 0\n'):
        conf = str(tmp_path / 'tls.conf')
        with open(base) as f, open(conf, 'w') as out:
            out.write(f.read() + extra)
        res = fleet(conf, store, 'push', '--repository', 'fl-tls')
        assert res.returncode == 8, (extra, res.stderr)
        assert 'is not JSON; is %s a Pulp 3 server?' % url in one_line_error(res)
