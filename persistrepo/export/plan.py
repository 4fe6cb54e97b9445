"""What an export carries: packages, module streams and keys (docs/image-mode.md).

With the base image's root (image_root), replay's own planner decides, in a
dry run against that root, so the image gets exactly what replay would put
there. Without it nothing about the base is known: each requested package is
asked for by name.arch (dnf installs it if absent, then upgrades an older one,
and never downgrades a newer one the base ships), installonly packages by
NEVRA, and every stored dependency is offered to the solver as replay offers
them.

Every exported package passes replay's trust policy (replay/trust.py): it
matches its record, a signed one verifies with a key the store kept (the
export carries it), and an unsigned one is allowed by its provenance and goes
to the separate unsigned repo.
"""

import os

from persistrepo.errors import PersistError
from persistrepo.replay import plan as replay_plan
from persistrepo.replay import trust
from persistrepo.store import modulemd
from persistrepo.store.keys import kept_keys

REPO = "persistrepo-export"
UNSIGNED_REPO = "persistrepo-unsigned"
PLANNED_BY_REPLAY = "replay"
PLANNED_NO_DOWNGRADE = "no-downgrade"


class Package(object):
    """One exported package. role: requested or dependency; action: install,
    upgrade (replay's plan), install-or-upgrade (no base root) or pool (a
    dependency offered to the solver); unsigned: why provenance allows it
    unsigned, or None for a signed package."""

    def __init__(self, entry, role, action, unsigned=None):
        self.entry = entry
        self.role = role
        self.action = action
        self.unsigned = unsigned

    @property
    def repo(self):
        return UNSIGNED_REPO if self.unsigned else REPO

    def spec(self):
        """What the Containerfile asks dnf for."""
        e = self.entry
        if self.action == "install-or-upgrade":
            return "%s.%s" % (e["name"], e["arch"])
        return "%s-%d:%s-%s.%s" % (e["name"], e["epoch"], e["version"], e["release"], e["arch"])


class Export(object):
    """The whole of an export: packages, module streams to enable, the keys
    of the signed packages ({key_id: armored}), how it was planned, and the
    packages left out (excluded by the admin, or skipped by replay's plan)."""

    def __init__(self, store_root, image_root, planned_by):
        self.store = store_root
        self.image_root = image_root
        self.planned_by = planned_by
        self.packages = []
        self.modules = []
        self.keys = {}
        self.excluded = []
        self.skipped = []
        self.enablerepos = []
        self.from_enabled_repos = []

    def by_repo(self, repo):
        return [p for p in self.packages if p.repo == repo]

    def requested(self):
        return [p for p in self.packages if p.role == "requested"]


def select(store, image_root=None, enablerepos=(), exclude=()):
    """The Export of store (a persistrepo.store.store.Store); PersistError naming
    every package that cannot be exported and the fix."""
    store.require()
    with store.reading():
        entries = store.entries()
        if exclude:
            from persistrepo import specs
            dropped, _ = specs.select(exclude, entries)
            gone = set(e["filename"] for e in dropped)
            entries = [e for e in entries if e["filename"] not in gone]
        else:
            dropped = []
        planned_by = PLANNED_BY_REPLAY if image_root else PLANNED_NO_DOWNGRADE
        export = Export(store.layout.root, image_root and os.path.abspath(image_root),
                        planned_by)
        export.excluded = sorted(e["nevra"] for e in dropped)
        export.enablerepos = list(enablerepos)
        if image_root:
            chosen = _by_replay(export, store, entries, enablerepos, exclude)
        else:
            chosen = _no_downgrade(entries)
        keys = kept_keys(store.layout, store.warnings)
        _check_trust(export, store, chosen, keys)
        export.packages = chosen
        wanted_streams = modulemd.streams([p.entry for p in export.packages])
        if not image_root:
            export.modules = [modulemd.public(group[0]["module"])
                              for _, group in sorted(wanted_streams.items())]
    return export


def _no_downgrade(entries):
    chosen = []
    for e in replay_plan.candidates(entries):
        chosen.append(Package(e, "requested", "install" if e["installonly"]
                              else "install-or-upgrade"))
    for e in entries:
        if e["reason"] not in replay_plan.REQUESTED_REASONS:
            chosen.append(Package(e, "dependency", "pool"))
    return chosen


def _by_replay(export, store, entries, enablerepos, exclude):
    from persistrepo.replay import replay
    result = replay(export.image_root, store, dry_run=True, write_report=False,
                    enablerepos=enablerepos, exclude=exclude)
    broken = result.broken
    if broken:
        raise PersistError("cannot export what replay cannot install into %s: %s; leave "
                           "them out with --exclude SPEC" % (export.image_root, "; ".join(
                               "%s: %s" % (i.nevra, i.reason) for i in broken)))
    by_nevra = dict((e["nevra"], e) for e in entries)
    chosen = []
    for item in result.items:
        if item.role == "module":
            if item.action == "enable":
                name, stream = item.nevra.split(":", 1)
                export.modules.append(_recorded_stream(entries, name, stream))
        elif item.action in ("install", "upgrade"):
            if item.repo == replay_plan.STORE_REPO:
                chosen.append(Package(by_nevra[item.nevra], item.role, item.action))
            else:
                export.from_enabled_repos.append({"nevra": item.nevra, "repo": item.repo})
        elif item.action == "skip" and item.role == "requested":
            export.skipped.append({"nevra": item.nevra, "reason": item.reason})
    return chosen


def _recorded_stream(entries, name, stream):
    for e in entries:
        m = e.get("module")
        if m and m["name"] == name and m["stream"] == stream:
            return modulemd.public(m)
    raise PersistError("replay planned module stream %s:%s, which no record names"
                       % (name, stream))


def _check_trust(export, store, chosen, keys):
    """Apply replay's trust policy to each chosen package's stored file."""
    checker = trust.Keys(keys, export.image_root)
    problems = []
    try:
        for p in chosen:
            e = p.entry
            path = store.layout.package(e["filename"])
            info, why = trust.check_file(path, checker, e["sha256"], e["size"])
            if why is None and info.key_id is None:
                allowed, text = trust.unsigned_allowed(e, store.layout.root)
                if allowed:
                    p.unsigned = text
                else:
                    why = "refused: %s %s" % (e["nevra"], text)
            elif why is None and info.key_id in keys:  # else only the base image has it
                export.keys[info.key_id] = keys[info.key_id]
            if why:
                problems.append("%s: %s" % (e["nevra"], why))
    finally:
        checker.close()
    if problems:
        raise PersistError("cannot export: %s; leave them out with --exclude SPEC"
                           % "; ".join(problems))
