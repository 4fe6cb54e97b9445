"""The persist_rpm configuration shared by the dnf plugin, the yum plugin and
the CLI (every key is documented, with its default, in dnf-persist(8):
docs/man/dnf-persist.8.rst).

Python 2.7 compatible.
"""

import os
import re
from fnmatch import fnmatchcase

try:
    from configparser import RawConfigParser as ConfigParser, Error as ConfigError  # novm
except ImportError:  # Python 2.7
    from ConfigParser import RawConfigParser as ConfigParser, Error as ConfigError  # novm

from persistrepo.errors import UsageError

DNF_CONF = "/etc/dnf/plugins/persist_rpm.conf"
YUM_CONF = "/etc/yum/pluginconf.d/persist_rpm.conf"
DEFAULT_PERSIST_DIR = "/var/imgbased/persisted_packages"
DEFAULT_EXCLUDE = ("ovirt-node-ng-image-update*", "redhat-virtualization-host-image-update*",
                   "ovirt-engine-appliance", "rhvm-appliance", "gpg-pubkey")
ON_BROKEN = ("fail", "skip")
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


def split_list(value):
    return [v for v in re.split(r"[\s,]+", value or "") if v]


def parse_bool(key, value):
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError("%s = %s is not a boolean; use 1 or 0" % (key, value))


class Settings(object):
    """Values of the [main] section, with their defaults."""

    def __init__(self, persist_dir=DEFAULT_PERSIST_DIR, exclude=DEFAULT_EXCLUDE,
                 remove_on_erase=True, capture_installroot=True, ingest_command="persistrepo",
                 on_broken="fail"):
        self.persist_dir = persist_dir
        self.exclude = list(exclude)
        self.remove_on_erase = remove_on_erase
        self.capture_installroot = capture_installroot
        self.ingest_command = ingest_command
        self.on_broken = on_broken

    @classmethod
    def from_values(cls, get):
        """Build from get(key) -> str or None, such as a plugin's config reader."""
        s = cls()
        if get("persist_dir") is not None:
            s.persist_dir = get("persist_dir").strip()
            if not os.path.isabs(s.persist_dir):
                raise UsageError("persist_dir = %s is not an absolute path"
                                 % (s.persist_dir or "(empty)"))
        if get("ingest_command"):
            s.ingest_command = get("ingest_command").strip()
        if get("exclude") is not None:
            s.exclude = split_list(get("exclude"))
        for key in ("remove_on_erase", "capture_installroot"):
            if get(key) is not None:
                setattr(s, key, parse_bool(key, get(key)))
        if get("on_broken") is not None:
            s.on_broken = get("on_broken").strip().lower()
            if s.on_broken not in ON_BROKEN:
                raise UsageError("on_broken = %s is not one of %s"
                                 % (get("on_broken"), ", ".join(ON_BROKEN)))
        return s

    def excluded(self, name):
        return any(fnmatchcase(name, pattern) for pattern in self.exclude)

    def store_path(self, installroot="/"):
        """persist_dir inside installroot, the way dnf prefixes its persistdir."""
        if not installroot or installroot == "/":
            return self.persist_dir
        return os.path.join(installroot, self.persist_dir.lstrip("/"))


def parse(path):
    """The parsed config file, or a UsageError naming it."""
    parser = ConfigParser()
    try:
        parser.read([path])
    except ConfigError as e:
        raise UsageError("%s: cannot parse: %s" % (path, str(e).splitlines()[0]))
    except (UnicodeError, IOError, OSError) as e:
        raise UsageError("%s: cannot read it as a UTF-8 configuration file (%s)"
                         % (path, getattr(e, "strerror", None) or e))
    return parser


def read_file(path):
    parser = parse(path)

    def get(key):
        if parser.has_section("main") and parser.has_option("main", key):
            return parser.get("main", key)
        return None
    return Settings.from_values(get)


def find(path=None, installroot="/"):
    """The config file to read: path, else the dnf plugin's or the yum
    plugin's inside installroot, else None (the defaults)."""
    if path is not None:
        if os.path.isdir(path):
            raise UsageError("--config %s is a directory; give the config file, such as %s"
                             % (path, DNF_CONF))
        if not os.path.isfile(path):
            raise UsageError("%s: no such config file" % path)
        return path
    for conf in (DNF_CONF, YUM_CONF):
        full = os.path.join(installroot, conf.lstrip("/"))
        if os.path.isfile(full):
            return full
    return None


def load(path=None, installroot="/"):
    """Settings from the config file (see find), else the defaults."""
    found = find(path, installroot)
    return Settings() if found is None else read_file(found)
