"""The Containerfile of an export (docs/image-mode.md).

One RUN step with the build context bind-mounted read-only at MOUNT (so
neither the repos nor the keys stay in the image): import the keys, enable
the module streams, install. dnf sees only the context's repos (its reposdir
is the context's repos.d) unless repos of the base image are enabled on
purpose, so the build stays offline. Requested packages are what dnf is asked
to install, so dnf records them as user-installed and what it pulls in as
dependencies, as replay does.
"""

from persistrepo.export import context, plan
from persistrepo.streams import spec

MOUNT = "/run/persistrepo-export"
CACHE = "/var/tmp/persistrepo-export-cache"
BASE_REPOS_DIRS = ("/etc/yum.repos.d", "/etc/distro.repos.d", "/usr/share/dnf5/repos.d")


def dnf_options(export):
    """dnf's options in the build: the context's repos only, unless enablerepos."""
    ours = "%s/%s" % (MOUNT, context.REPOS_DIR)
    opts = ["-y", "--setopt=cachedir=%s" % CACHE]
    if not export.enablerepos:
        return opts + ["--setopt=reposdir=%s" % ours]
    ids = [repo_id for repo_id, _ in context.repo_ids(export)] + export.enablerepos
    return opts + ["--setopt=reposdir=%s" % ",".join(BASE_REPOS_DIRS + (ours,)),
                   "--disablerepo=*", "--enablerepo=%s" % ",".join(ids)]


def commands(export):
    """The shell commands of the RUN step, in order."""
    dnf = "dnf " + " ".join(dnf_options(export))
    steps = ["rpm --import %s/%s" % (MOUNT, context.key_file(k)) for k in sorted(export.keys)]
    steps += ["%s module enable %s" % (dnf, spec(m["name"], m["stream"])) for m in export.modules]
    specs = [p.spec() for p in export.requested()]
    if specs:
        steps.append("%s install %s" % (dnf, " ".join(specs)))
    upgrades = [p.spec() for p in export.requested() if p.action == "install-or-upgrade"]
    if upgrades:
        steps.append("%s upgrade %s" % (dnf, " ".join(upgrades)))
    if len(steps) > len(export.keys):
        steps.append("rm -rf %s" % CACHE)
    return steps


def header(export, base_image, prog):
    """The comment lines that say what the file carries and how it was planned."""
    lines = ["Written by %s: the persisted packages of %s" % (prog, export.store),
             "on top of %s." % base_image]
    if export.planned_by == plan.PLANNED_BY_REPLAY:
        lines.append("Planned by replay's planner against the base image root %s: this "
                     "installs exactly what 'persistrepo replay' would." % export.image_root)
    else:
        lines += ["No base image root was given (--image-root), so only what cannot downgrade "
                  "is asked for:", "  requested packages by name.arch (dnf install, then "
                  "dnf upgrade): a newer version in the base stays."]
    for repo_id, sub in context.repo_ids(export):
        pkgs = export.by_repo(repo_id)
        if repo_id == plan.REPO:
            lines.append("Repo %s (%s/, gpgcheck=1): %d signed packages, checked against %s."
                         % (repo_id, sub, len(pkgs), ", ".join(
                             context.key_file(k) for k in sorted(export.keys))
                            or "keys the base image has"))
        else:
            lines.append("Repo %s (%s/, gpgcheck=0): unsigned packages kept by provenance:"
                         % (repo_id, sub))
            lines += ["  %s: %s" % (p.entry["nevra"], p.unsigned) for p in pkgs]
    for m in export.modules:
        lines.append("Module stream %s:%s is enabled first." % (m["name"], m["stream"]))
    for s in export.skipped:
        lines.append("Not installed: %s (%s)." % (s["nevra"], s["reason"]))
    for nevra in export.excluded:
        lines.append("Left out with --exclude: %s." % nevra)
    if export.enablerepos:
        lines.append("Online: the base image's repos %s are enabled too."
                     % ", ".join(export.enablerepos))
    else:
        lines.append("Offline: dnf sees only the repos in this build context.")
    return ["# " + line if line else "#" for line in lines]


def text(export, base_image, prog="persistrepo export"):
    lines = header(export, base_image, prog) + ["FROM %s" % base_image]
    steps = commands(export)
    if not steps:
        lines.append("# Nothing to install: the base image already has every package.")
    else:
        lines.append("RUN --mount=type=bind,target=%s \\" % MOUNT)
        lines.append("    " + " && \\\n    ".join(steps))
    return "\n".join(lines) + "\n"


def files(export, base_image, prog="persistrepo export"):
    """{name: text} of the files the context has besides the repos and keys."""
    return {"Containerfile": text(export, base_image, prog),
            "%s/%s" % (context.REPOS_DIR, context.REPO_FILE):
                context.repo_definitions(export, "file://" + MOUNT)}
