"""A real Pulp 3 (pulpcore + pulp_rpm) on 127.0.0.1 for the fleet tests.

Its venv is installed once per requirements file (tests/support/pulp/requirements.txt)
under $PERSISTREPO_PULP_CACHE (default /var/cache/persistrepo/pulp), outside
the checkout, with pip's downloads cached beside it. Each test session gets a
fresh PostgreSQL cluster (Debian's postgresql package, run as the postgres
user on a private port and socket directory) and fresh pulpcore-api,
pulpcore-content and pulpcore-worker processes; close() stops them all.
"""

import base64
import glob
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, 'pulp', 'requirements.txt')
CACHE = os.environ.get('PERSISTREPO_PULP_CACHE', '/var/cache/persistrepo/pulp')
PASSWORD = 'fleet-test-password'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def venv():
    """The cached Pulp venv for REQUIREMENTS (installed on first use)."""
    with open(REQUIREMENTS, 'rb') as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    path = os.path.join(CACHE, key)
    stamp = os.path.join(path, 'installed')
    if not os.path.exists(stamp):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        subprocess.run(['/usr/bin/python3', '-m', 'venv', os.path.join(path, 'venv')],
                       check=True)
        subprocess.run([os.path.join(path, 'venv', 'bin', 'pip'), 'install', '-q',
                        '--disable-pip-version-check', '--prefer-binary',
                        '--cache-dir', os.path.join(CACHE, 'pip-cache'),
                        '-r', REQUIREMENTS], check=True)
        open(stamp, 'w').close()
    return os.path.join(path, 'venv')


def _pg_bin(tool):
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/' + tool))
    if not found:
        raise RuntimeError('no PostgreSQL server (%s); scripts/dev installs postgresql' % tool)
    return found[-1]


class PulpServer:
    """pulpcore on 127.0.0.1; url is the API's origin, content_url the
    content app's. Admin credentials: admin / PASSWORD."""

    def __init__(self, workdir):
        self.dir = str(workdir)
        self.venv = venv()
        self.procs = []
        # The postgres user must reach these: pytest's directories are root's alone.
        self.pg_dir = tempfile.mkdtemp(prefix='persistrepo-pulp-pg-')
        self.pg_data = os.path.join(self.pg_dir, 'data')
        self.pg_sock = os.path.join(self.pg_dir, 'sock')
        self.pg_port = _free_port()
        self.api_port, self.content_port = _free_port(), _free_port()
        self.url = 'http://127.0.0.1:%d' % self.api_port
        self.content_url = 'http://127.0.0.1:%d' % self.content_port
        self.env = dict(os.environ, PULP_SETTINGS=os.path.join(self.dir, 'settings.py'),
                        PATH=os.path.join(self.venv, 'bin') + ':' + os.environ['PATH'])
        for key in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'):
            self.env.pop(key, None)
        try:
            self._start_postgres()
            self._configure()
            self._start_pulp()
        except BaseException:
            self.close()
            raise

    def _as_postgres(self, argv, **kw):
        pg = pwd.getpwnam('postgres')

        def drop():
            os.setgroups([])
            os.setgid(pg.pw_gid)
            os.setuid(pg.pw_uid)
        return subprocess.run(argv, preexec_fn=drop, check=True, stdout=subprocess.DEVNULL,
                              cwd='/', **kw)

    def _start_postgres(self):
        pg = pwd.getpwnam('postgres')
        for d in (self.pg_dir, self.pg_data, self.pg_sock):
            if not os.path.isdir(d):
                os.mkdir(d, 0o700)
            os.chown(d, pg.pw_uid, pg.pw_gid)
        self._as_postgres([_pg_bin('initdb'), '-D', self.pg_data, '--auth=trust',
                           '-U', 'postgres', '-E', 'UTF8'])
        self._as_postgres([_pg_bin('pg_ctl'), '-D', self.pg_data, '-w', '-l',
                           os.path.join(self.pg_sock, 'log'), '-o',
                           "-p %d -k %s -c listen_addresses='' -c fsync=off "
                           "-c full_page_writes=off" % (self.pg_port, self.pg_sock), 'start'])
        self.postgres_started = True

    def _configure(self):
        media = os.path.join(self.dir, 'media')
        key_file = os.path.join(self.dir, 'db.key')
        with open(key_file, 'wb') as f:
            f.write(base64.urlsafe_b64encode(os.urandom(32)))
        settings = {
            'DATABASES': {'default': {'ENGINE': 'django.db.backends.postgresql',
                                      'NAME': 'postgres', 'USER': 'postgres',
                                      'HOST': self.pg_sock, 'PORT': str(self.pg_port)}},
            'MEDIA_ROOT': media,
            'WORKING_DIRECTORY': os.path.join(media, 'tmp'),
            'FILE_UPLOAD_TEMP_DIR': os.path.join(media, 'tmp'),
            'STATIC_ROOT': os.path.join(self.dir, 'static'),
            'DB_ENCRYPTION_KEY': key_file,
            'CONTENT_ORIGIN': self.content_url,
            'SECRET_KEY': base64.b64encode(os.urandom(30)).decode(),
            'ANALYTICS': False,
            # Basic auth hashes the password on every request: Django's default
            # PBKDF2 costs about a second a call on a busy 2-core machine.
            'PASSWORD_HASHERS': ['django.contrib.auth.hashers.MD5PasswordHasher'],
        }
        with open(self.env['PULP_SETTINGS'], 'w') as f:
            for key, value in settings.items():
                f.write('%s = %s\n' % (key, json.dumps(value).replace('false', 'False')))
        os.makedirs(os.path.join(media, 'tmp'))
        manager = os.path.join(self.venv, 'bin', 'pulpcore-manager')
        for argv in ([manager, 'migrate', '--noinput'],
                     [manager, 'reset-admin-password', '--password', PASSWORD]):
            subprocess.run(argv, env=self.env, check=True, stdout=subprocess.DEVNULL)

    def _spawn(self, name, *args):
        log = open(os.path.join(self.dir, name + '.log'), 'wb')
        self.procs.append(subprocess.Popen(
            [os.path.join(self.venv, 'bin', name)] + list(args), env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()

    def _start_pulp(self):
        self._spawn('pulpcore-api', '--bind', '127.0.0.1:%d' % self.api_port, '--workers', '1')
        self._spawn('pulpcore-content', '--bind', '127.0.0.1:%d' % self.content_port,
                    '--workers', '1')
        self._spawn('pulpcore-worker')
        deadline = time.time() + 180
        while time.time() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError('%s exited (%s); see %s' % (p.args[0], p.returncode,
                                                                   self.dir))
            try:
                status = self.api('/pulp/api/v3/status/')
                if status.get('online_workers') and status.get('online_content_apps'):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError('Pulp did not come up within 180 s; logs in %s' % self.dir)

    def api(self, path, method='GET', body=None):
        """A JSON call to the API as admin (for the tests' own checks)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header('Authorization', 'Basic ' + base64.b64encode(
            ('admin:' + PASSWORD).encode()).decode())
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            return json.loads(resp.read().decode() or 'null')

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        if getattr(self, 'postgres_started', False):
            self._as_postgres([_pg_bin('pg_ctl'), '-D', self.pg_data, '-m', 'immediate',
                               '-w', 'stop'])
            self.postgres_started = False
        shutil.rmtree(self.pg_dir, ignore_errors=True)


if __name__ == '__main__':  # a server to look at by hand: python -m tests.support.pulpserver DIR
    server = PulpServer(sys.argv[1])
    print(server.url, server.content_url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    finally:
        server.close()
