"""The [fleet] section of persist_rpm.conf (every key is documented in
dnf-persist(8)) and the credentials file it names."""

import os
import re
import socket
import stat

from persistrepo import config, fsutil
from persistrepo.errors import BadPackage, UnsafeStore, UsageError

SECTION = "fleet"
DEFAULT_CREDENTIALS = "/etc/persistrepo/pulp-credentials"
DEFAULT_TASK_TIMEOUT = 600
_REPOSITORY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]{0,99}\Z")


def check_repository(name, what="--repository"):
    """A repository name that is safe in a base path and a log line."""
    if not _REPOSITORY.match(name or ""):
        raise UsageError("%s %r is not a repository name (letters, digits, '.', '_' and "
                         "'-', at most 100)" % (what, name))
    return name


def host_repository():
    """persistrepo-HOST, HOST the host name made safe for a repository name."""
    host = re.sub(r"[^A-Za-z0-9._\-]", "-", socket.gethostname()) or "localhost"
    return "persistrepo-" + host[:88].lstrip("._-")


class FleetSettings(object):
    """Where push and pull go, and how they prove who they are."""

    def __init__(self):
        self.server = None
        self.repository = None
        self.group = None
        self.sslcacert = None
        self.sslverify = True
        self.credentials = DEFAULT_CREDENTIALS
        self.credentials_set = False
        self.task_timeout = DEFAULT_TASK_TIMEOUT

    def repository_name(self):
        """repository, else persistrepo-group-GROUP, else persistrepo-HOST."""
        if self.repository:
            return check_repository(self.repository, "repository =")
        if self.group:
            return check_repository("persistrepo-group-" + self.group, "group =")
        return host_repository()


def load(path=None):
    """The [fleet] settings of the config file (config.find), with defaults."""
    s = FleetSettings()
    found = config.find(path)
    if found is None:
        return s
    parser = config.parse(found)
    if not parser.has_section(SECTION):
        return s

    def get(key):
        if parser.has_option(SECTION, key):
            return parser.get(SECTION, key).strip()
        return None
    s.server = get("server") or None
    s.repository = get("repository") or None
    s.group = get("group") or None
    s.sslcacert = get("sslcacert") or None
    if get("sslverify") is not None:
        s.sslverify = config.parse_bool("sslverify", get("sslverify"))
    if get("credentials") is not None:
        s.credentials = get("credentials")
        s.credentials_set = True
    if get("task_timeout") is not None:
        try:
            s.task_timeout = int(get("task_timeout"))
        except ValueError:
            s.task_timeout = 0
        if s.task_timeout < 1:
            raise UsageError("task_timeout = %s is not a whole number of seconds, 1 or more"
                             % get("task_timeout"))
    for key in ("sslcacert", "credentials"):
        value = getattr(s, key)
        if value and not os.path.isabs(value):
            raise UsageError("%s = %s is not an absolute path" % (key, value))
    return s


def read_credentials(path, required):
    """(username, password) from path, a root-owned 0600 file of
    `username = NAME` and `password = SECRET` lines; None when the file is
    absent and not required (the server then sees an anonymous client)."""
    if not os.path.lexists(path) and not required:
        return None
    try:
        fd = fsutil.open_regular(path)
    except BadPackage as e:  # open_regular says what the path is
        raise UsageError("credentials file: %s" % e)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
            raise UnsafeStore("%s is owned by uid %d with mode %04o; credentials are read "
                              "only from a root-owned 0600 file. Fix: chown root:root %s; "
                              "chmod 0600 %s" % (path, st.st_uid, stat.S_IMODE(st.st_mode),
                                                 path, path))
        data = f.read(65537)
    values = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or len(data) > 65536:
        raise UsageError("%s is not a small UTF-8 text file" % path)
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("username", "password"):
            values[key.strip()] = value.strip()
    if not values.get("username") or "password" not in values:
        raise UsageError("%s must hold a 'username = NAME' and a 'password = SECRET' line"
                         % path)
    return values["username"], values["password"]
