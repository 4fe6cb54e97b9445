"""Module state before packages: replay's plan for recorded streams (docs/replay.md, "Modules").

For each module stream the store recorded (docs/store-format.md, "Module
streams"), the new root's state decides: the stream already enabled, go on;
no state (or only a default), enable the recorded stream through dnf's module
API, its own plan item; another stream enabled, or the module disabled, the
stream's packages are broken. A stream is never switched.
"""

import os

from persistrepo.compat import dnfapi
from persistrepo.replay.plan import Item
from persistrepo.store import modulemd
from persistrepo.streams import spec


def _item(key, action, reason, repo):
    name, stream, version, _, arch = key
    item = Item({"name": name, "arch": arch, "epoch": 0, "version": stream,
                 "release": str(version)}, "module", action, reason, repo=repo)
    item.nevra = spec(name, stream)
    return item


def plan(base, entries):
    """(module items, {filename: why broken}) for the recorded streams;
    enables streams in base as planned."""
    import dnf.exceptions
    from dnf.module.module_base import ModuleBase
    container = dnfapi.module_container(base)
    recorded = modulemd.streams(entries)
    if container is None or not recorded:
        return [], {}
    items, broken = [], {}
    for key in sorted(recorded):
        name, stream = key[0], key[1]
        state = container.getModuleState(name)
        enabled = container.getEnabledStream(name) if state in (
            container.ModuleState_ENABLED, container.ModuleState_INSTALLED) else None
        why = None
        if enabled == stream:
            continue
        elif enabled:
            why = ("module %s: stream %s is enabled in the new root, but this package was "
                   "persisted from stream %s; replay never switches streams"
                   % (name, enabled, stream))
        elif state == container.ModuleState_DISABLED:
            why = "module %s is disabled in the new root; it was persisted from stream %s" \
                % (name, stream)
        else:
            known = container.query(name, stream, "", "", "")
            repo = known[0].getRepoID() if known else "@System"
            try:
                ModuleBase(base).enable([spec(name, stream)])
            except dnf.exceptions.Error as e:
                why = "cannot enable module stream %s in the new root: %s" % (
                    spec(name, stream), str(e).strip() or e.__class__.__name__)
            else:
                items.append(_item(key, "enable", "the new root has no state for module %s; "
                                   "enabling the stream it was persisted from" % name, repo))
        if why:
            for e in recorded[key]:
                broken[e["filename"]] = why
    return items, broken


def enabled(root, item):
    """True if root's module state (etc/dnf/modules.d) has item's stream enabled."""
    try:
        from configparser import ConfigParser, Error
    except ImportError:  # Python 2.7
        from ConfigParser import ConfigParser, Error
    parser = ConfigParser()
    path = os.path.join(root, "etc/dnf/modules.d", item.name + ".module")
    try:
        parser.read(path)
        return parser.get(item.name, "stream") == item.version and \
            parser.get(item.name, "state") in ("enabled", "installed")
    except Error:
        return False
