"""The replay plan: what to install into a new root, and why (docs/replay.md).

Requested are the packages the admin asked for (reason "user", and "unknown"
because a package of unknown provenance may well be the admin's; losing it is
worse than installing it). Dependencies are only a pool for the solver.
For each requested name.arch the newest persisted version is the candidate
(every version of an installonly package is one); it is skipped when the root
already has the same or a newer version, upgraded when older, else installed.
"""

from functools import cmp_to_key

from persistrepo.compat import dnfapi, versions
from persistrepo.replay import trust
from persistrepo.store.record import nevra

STORE_REPO = "persistrepo-store"
REQUESTED_REASONS = ("user", "unknown")


class Item(object):
    """One line of the plan. role: requested, dependency or image; action:
    install, upgrade, skip, broken or remove; outcome is set after the run."""

    FIELDS = ("nevra", "name", "epoch", "version", "release", "arch", "role", "action",
              "reason", "root_has", "needed_by", "repo", "outcome")

    def __init__(self, pkg_or_entry, role, action, reason, root_has=None, repo=STORE_REPO):
        get = (pkg_or_entry.get if isinstance(pkg_or_entry, dict)
               else lambda k: getattr(pkg_or_entry, k))
        self.name, self.arch = get("name"), get("arch")
        self.epoch, self.version, self.release = int(get("epoch") or 0), get("version"), \
            get("release")
        self.nevra = nevra(self.name, self.epoch, self.version, self.release, self.arch)
        self.role, self.action, self.reason = role, action, reason
        self.root_has = root_has
        self.needed_by = []
        self.repo = repo
        self.outcome = None
        self.pkg = None

    def to_dict(self):
        return dict((k, getattr(self, k)) for k in self.FIELDS)


def _evr(pkg):
    return {"epoch": pkg.epoch, "version": pkg.version, "release": pkg.release}


def _pkg_nevra(pkg):
    return nevra(pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch)


def _compatible_installed(sack, name, arch):
    """Installed packages of name that a package of arch would replace."""
    return newest_compatible(sack.query().installed().filter(name=name), arch)


def newest_compatible(installed, arch):
    """Of the installed packages of one name (objects with name, epoch,
    version, release and arch), those that a package of arch would
    replace, newest first."""
    if arch != "noarch":
        installed = [p for p in installed if p.arch in (arch, "noarch")]
    return sorted(installed, key=cmp_to_key(lambda a, b: versions.compare_versions(_evr(a),
                                                                             _evr(b))),
                  reverse=True)


def candidates(entries):
    """The entries replay asks for: newest per requested name.arch, every
    requested version of installonly packages."""
    groups = {}
    for e in entries:
        groups.setdefault((e["name"], e["arch"]), []).append(e)
    chosen = []
    for key in sorted(groups):
        group = versions.newest_first(groups[key])
        if group[0]["installonly"]:
            chosen.extend(e for e in group if e["reason"] in REQUESTED_REASONS)
        elif any(e["reason"] in REQUESTED_REASONS for e in group):
            chosen.append(group[0])
    return chosen


def _store_pkg(sack, entry):
    """The store repo's package that is exactly entry (not another one of its
    NEVRA that the repodata lists elsewhere), or None."""
    import hawkey
    q = sack.query(flags=hawkey.IGNORE_EXCLUDES).filter(
        reponame=STORE_REPO, name=entry["name"], arch=entry["arch"], epoch=entry["epoch"],
        version=entry["version"], release=entry["release"])
    return next((p for p in q if trust.is_entry(p, entry)), None)


def requested(sack, entries, refused):
    """Plan items for the requested packages (dnf's view of the root);
    refused maps filename -> why."""
    def pick(e):
        pkg = _store_pkg(sack, e)
        why = excluded(sack, pkg) if pkg is not None else None
        return (None, why) if why else (pkg, None)
    return decide(entries, refused, lambda name, arch: _compatible_installed(sack, name, arch),
                  pick)


def decide(entries, refused, installed_of, pick):
    """Plan items for the requested packages, whichever engine installs them:
    installed_of(name, arch) gives the root's packages that one of arch
    would replace, newest first (newest_compatible); pick(entry) gives
    (what to install, None) or (None, why it cannot be)."""
    items = []
    for e in candidates(entries):
        installed = installed_of(e["name"], e["arch"])
        newest = installed[0] if installed else None
        root_has = _pkg_nevra(newest) if newest else None
        if e["installonly"]:
            same_or_newer = [p for p in installed if versions.compare_versions(_evr(p), e) >= 0]
            if same_or_newer:
                item = Item(e, "requested", "skip", "the root already has %s (same or newer)"
                            % _pkg_nevra(same_or_newer[0]), root_has)
            else:
                item = Item(e, "requested", "install", "installonly; the root has no version "
                            "this new", root_has)
        elif newest is None:
            item = Item(e, "requested", "install", "absent from the root")
        elif versions.compare_versions(_evr(newest), e) >= 0:
            same = versions.compare_versions(_evr(newest), e) == 0
            item = Item(e, "requested", "skip", "the root already has %s (%s)"
                        % (root_has, "same version" if same else "newer"), root_has)
        else:
            item = Item(e, "requested", "upgrade", "the root has older %s" % root_has, root_has)
        if item.action != "skip":
            if e["filename"] in refused:
                item.action, item.reason = "broken", refused[e["filename"]]
            else:
                item.pkg, why = pick(e)
                if why:
                    item.action, item.reason = "broken", why
        items.append(item)
    return items


def excluded(sack, pkg):
    """Why dnf hides pkg in the new root (modular filtering or excludepkgs),
    or None if it does not."""
    if sack.query().filterm(pkg=[pkg]):
        return None
    if dnfapi.excluded_by_modules(sack, pkg):
        return ("excluded by modular filtering in the new root: it belongs to a module "
                "stream that is not enabled there (docs/replay.md, \"Modules\")")
    return "excluded in the new root by its dnf configuration (excludepkgs)"


def _needed_by(sack, install_set):
    """{package: [(needing package, capability)]} within the packages to install."""
    pkgs = list(install_set)
    q = sack.query().filterm(pkg=pkgs)
    found = {}
    for p in pkgs:
        for req in list(p.requires) + list(p.recommends):
            for d in q.filter(provides=req):
                if d != p:
                    found.setdefault(d, []).append((p, str(req)))
    return found


def after_resolve(sack, items, transaction, entries):
    """Complete the plan from a resolved transaction: requested packages the
    solver dropped become broken; add dependencies pulled in, image packages
    removed, and pool packages left unused."""
    install_set = set(transaction.install_set) if transaction else set()
    for item in items:
        if item.pkg is not None and item.pkg not in install_set:
            item.action = "broken"
    requested_pkgs = set(i.pkg for i in items if i.pkg is not None)
    needed = _needed_by(sack, install_set)
    extra = []
    for pkg in sorted(install_set - requested_pkgs, key=_pkg_nevra):
        extra.append(dependency(pkg, _compatible_installed(sack, pkg.name, pkg.arch),
                                [(_pkg_nevra(p), cap) for p, cap in needed.get(pkg, [])],
                                pkg.reponame))
    new_names = set(p.name for p in install_set)
    for pkg in sorted(transaction.remove_set if transaction else (), key=_pkg_nevra):
        if pkg.name in new_names:
            continue
        by = sorted(_pkg_nevra(p) for p in sack.query().filterm(pkg=list(install_set))
                    .filter(obsoletes=[pkg]))
        item = Item(pkg, "image", "remove", "obsoleted by " + ", ".join(by) if by
                    else "removed by the solver", repo="@System")
        item.pkg = pkg
        extra.append(item)
    return items + extra + unused(entries, items + extra,
                                  lambda name, arch: _compatible_installed(sack, name, arch))


def dependency(pkg, installed, needed, repo):
    """The plan item of a dependency to install: installed as
    newest_compatible gives it, needed [(the needing package's NEVRA,
    the capability)]."""
    why = ["%s (requires %s)" % (nevra_, cap) for nevra_, cap in needed]
    item = Item(pkg, "dependency", "upgrade" if installed else "install",
                "needed by " + ", ".join(why) if why else "pulled in by the solver",
                _pkg_nevra(installed[0]) if installed else None, repo=repo)
    item.needed_by = sorted(set(nevra_ for nevra_, _ in needed))
    item.pkg = pkg
    return item


def unused(entries, planned, installed_of):
    """Skip items for the store's dependencies that no planned item pulled in."""
    pulled = set((i.name, i.arch) for i in planned)
    pool = {}
    for e in entries:
        if e["reason"] not in REQUESTED_REASONS and (e["name"], e["arch"]) not in pulled:
            pool.setdefault((e["name"], e["arch"]), []).append(e)
    extra = []
    for key in sorted(pool):
        e = versions.newest_first(pool[key])[0]
        installed = installed_of(e["name"], e["arch"])
        if installed:
            reason = "dependency not needed: the root already has %s" \
                % _pkg_nevra(installed[0])
        else:
            reason = "dependency not needed: no requested package requires it"
        extra.append(Item(e, "dependency", "skip", reason,
                          _pkg_nevra(installed[0]) if installed else None))
    return extra


def explain(sack, pkg):
    """Why pkg cannot be installed on its own: the solver's problem rules, or
    None when it can (then it only clashes with the rest of the plan)."""
    import hawkey
    goal = hawkey.Goal(sack)
    goal.install(pkg)
    if goal.run():
        return None
    return problem_text(goal)


# libsolv's rules that only say "see the other rules".
_GENERIC = ("conflicting requests", "problem with installed package")


def problem_text(goal, about=None):
    """A failed goal's problem rules (one list per problem) as one line;
    with about, only the rules that mention that NEVRA."""
    rules = []
    for problem in goal.problem_rules():
        for rule in ([problem] if isinstance(problem, str) else problem):
            if rule not in rules and not rule.startswith(_GENERIC) \
                    and (about is None or about in rule):
                rules.append(rule)
    return "; ".join(rules)
