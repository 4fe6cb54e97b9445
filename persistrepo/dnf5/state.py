"""dnf5's record of why packages are installed: ROOT/<system_state_dir>/packages.toml.

libdnf5 writes it, keyed "name.arch", with reasons such as "User",
"Dependency", "Weak Dependency", "Group" and "External User" (installed
outside dnf5). Python 3.6 compatible; reading needs tomllib (Python 3.11,
every dnf5 host has it), without it every reason is "unknown".
"""

import os

from persistrepo.errors import PersistError

SYSTEM_STATE_DIR = "/usr/lib/sysimage/libdnf5"
MAX_TOML = 64 << 20
_REASONS = {"User": "user", "Group": "user", "Dependency": "dependency",
            "Weak Dependency": "dependency"}


def packages_toml(installroot="/", state_dir=SYSTEM_STATE_DIR):
    return os.path.join(installroot or "/", state_dir.lstrip("/"), "packages.toml")


def load_toml(path):
    """One of libdnf5's state files as a dict; {} if it is missing, no
    regular file (never through a symlink: root reads it, also in an
    installroot), larger than MAX_TOML, unreadable, or there is no tomllib."""
    try:
        import tomllib  # novm
    except ImportError:
        return {}
    from persistrepo import fsutil  # not at load: persistrepo's parser imports this module
    try:
        with os.fdopen(fsutil.open_regular(path), "rb") as f:
            data = f.read(MAX_TOML + 1)
        if len(data) > MAX_TOML:
            return {}
        doc = tomllib.loads(data.decode("utf-8"))
    except (PersistError, OSError, ValueError, RuntimeError):
        # RuntimeError (RecursionError): nested deeper than tomllib's parser goes
        return {}
    return doc if isinstance(doc, dict) else {}


def reasons(path):
    """{"name.arch": "user" | "dependency" | "unknown"} from packages.toml;
    {} if it is missing or unreadable. A value of the wrong type (a list
    for a reason, a number for a package) counts as no reason."""
    packages = load_toml(path).get("packages")
    if not isinstance(packages, dict):
        return {}
    found = {}
    for key, value in packages.items():
        reason = value.get("reason") if isinstance(value, dict) else None
        found[key] = _REASONS.get(reason, "unknown") if isinstance(reason, str) else "unknown"
    return found
