"""What the next image upgrade would lose: the logic of `dnf persist status`
and `persistrepo status` (documented in dnf-persist(8)).

Three things are at risk:
- installed packages that are neither in the image nor in the store (put there
  with plain `rpm -i`, installed before the plugin existed, a failed capture);
- persisted packages that are no longer installed (replay would bring them
  back; dependencies, which replay only draws on when needed, are not);
- capture failures recorded in <installroot>/var/lib/persistrepo/failures.json
  whose package is still installed and still not persisted.

"In the image" needs to know the image's package list. It comes from, in
order: an explicit manifest (one NEVRA per line, `rpm -qa` output works), an
explicit image root (a mounted or unpacked image whose rpmdb is read), or, on
an imgbased host, the rpmdb of the base layer the running layer was made from
(mounted read-only for the moment of reading). Without any of these the
report says that image packages cannot be told apart and lists every
unpersisted package as at risk.

Python 3.6 compatible.
"""

import glob
import json
import os
import subprocess
import tempfile

from persistrepo import bootc, compat, failures, fsutil, listing
from persistrepo.errors import PersistError, UsageError

class Image(object):
    """The image's packages and where that knowledge came from.

    nevras: exact NEVRAs; loose: name-version-release.arch of manifest lines
    without an epoch (`rpm -qa` prints none), matched whatever the epoch."""

    def __init__(self, source, nevras=(), loose=()):
        self.source = source
        self.nevras = set(nevras)
        self.loose = set(loose)

    def __len__(self):
        return len(self.nevras | self.loose)

    def contains(self, pkg):
        return pkg["nevra"] in self.nevras or _nvra(pkg) in self.loose


def _nvra(pkg):
    return "%s-%s-%s.%s" % (pkg["name"], pkg["version"], pkg["release"], pkg["arch"])


def read_manifest(path):
    """An Image from a file with one NEVRA per line (blank lines, `#` comments
    and gpg-pubkey lines are ignored; a trailing `.rpm` is dropped)."""
    try:
        fd = fsutil.open_regular(path, follow=True)
        with os.fdopen(fd, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except (IOError, OSError, PersistError) as e:
        raise UsageError("%s: cannot read the image manifest: %s"
                         % (path, getattr(e, "strerror", None) or e))
    except UnicodeDecodeError:
        raise UsageError("%s: the image manifest is not text (one NEVRA per line, as "
                         "'rpm -qa' prints them)" % path)
    nevras, loose = set(), set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.endswith(".rpm"):
            line = line[:-4]
        if not line or line.startswith("gpg-pubkey-"):
            continue
        (nevras if ":" in line else loose).add(line)
    return Image("manifest %s" % path, nevras, loose)


def read_image_root(path, label=None):
    if not os.path.isdir(path):
        raise UsageError("%s: no such directory (--image-root)" % path)
    pkgs = compat.rpmdb_packages(path)
    return Image(label or "image root %s" % path, [p["nevra"] for p in pkgs])


def _run(cmd):
    out = subprocess.check_output(cmd, stderr=subprocess.STDOUT)
    return compat.text(out).strip().splitlines()[-1].strip()


def imgbased_base():
    """An Image from the base layer of the running imgbased layer, or None if
    this is not an imgbased host. Needs root: the base LV is mounted
    read-only (nouuid: it is an XFS snapshot sibling of the running root)."""
    if not any(os.access(os.path.join(d, "imgbase"), os.X_OK)
               for d in os.environ.get("PATH", os.defpath).split(os.pathsep)):
        return None
    try:
        layer = _run(["imgbase", "layer", "--current"])
        base = _run(["imgbase", "base", "--of-layer", layer])
        device = _run(["imgbase", "layer", "--volume-path", base])
    except (OSError, subprocess.CalledProcessError) as e:
        raise PersistError("imgbase could not name the base layer (%s); give "
                           "--image-manifest or --image-root" % e)
    mnt = tempfile.mkdtemp(prefix="persistrepo-base-")
    try:
        with open(os.devnull, "wb") as quiet:
            mounted = any(subprocess.call(["mount", "-o", options, device, mnt],
                                          stderr=quiet) == 0
                          for options in ("ro,nouuid", "ro"))
        if not mounted:
            raise PersistError("cannot mount the base layer %s (%s) read-only; give "
                               "--image-manifest or --image-root" % (base, device))
        try:
            return read_image_root(mnt, "imgbased base layer %s" % base)
        finally:
            subprocess.call(["umount", mnt])
    finally:
        os.rmdir(mnt)


def image_packages(manifest=None, image_root=None, installroot="/"):
    """The Image for a status report, or None when it cannot be known."""
    if manifest and image_root:
        raise UsageError("give --image-manifest or --image-root, not both")
    if manifest:
        return read_manifest(manifest)
    if image_root:
        return read_image_root(image_root)
    if (installroot or "/") == "/":
        return imgbased_base()
    return None


class Report(object):
    def __init__(self, installroot, store, image):
        self.installroot = installroot
        self.store = store
        self.image = image
        self.persisted = 0
        self.installed = 0
        self.unpersisted = []    # NEVRAs (without those of recorded failures)
        self.excluded = []       # NEVRAs not persisted on purpose
        self.not_installed = []  # NEVRAs
        self.failures = []       # failure records still outstanding
        self.fixes = {}          # NEVRA of an unpersisted package: a command that persists it
        self.last_replay = None  # what the newest replay report says it left out
        self.image_mode = None   # on a bootc host: what its next upgrade or reboot drops

    def at_risk(self):
        return bool(self.unpersisted or self.not_installed or self.failures or
                    (self.image_mode and self.image_mode["drops"]))

    def to_dict(self):
        return {
            "installroot": self.installroot,
            "store": self.store,
            "image": {"known": self.image is not None,
                      "source": self.image.source if self.image else None,
                      "packages": len(self.image) if self.image else None},
            "installed": self.installed,
            "persisted": self.persisted,
            "unpersisted": self.unpersisted,
            "fixes": self.fixes,
            "last_replay": self.last_replay,
            "not_installed": self.not_installed,
            "failures": self.failures,
            "excluded": self.excluded,
            "image_mode": self.image_mode,
            "at_risk": self.at_risk(),
        }


def report(settings, installroot="/", image=None, store_path=None, adder="dnf"):
    """Compare the rpmdb of installroot, the store and the image; adder is
    the dnf ("dnf" or "dnf5") whose `persist add` the advice names."""
    from persistrepo.store import Store
    installroot = installroot or "/"
    store_path = store_path or settings.store_path(installroot)
    rep = Report(installroot, os.path.abspath(store_path), image)
    entries = Store(store_path).entries()
    stored = set(e["nevra"] for e in entries)
    pkgs = compat.rpmdb_packages(installroot)
    installed = set(p["nevra"] for p in pkgs)
    rep.persisted, rep.installed = len(entries), len(pkgs)
    rep.failures = [f for f in failures.load(failures.path_for(installroot))
                    if f.get("nevra") in installed and f.get("nevra") not in stored]
    failed = set(f["nevra"] for f in rep.failures)
    for p in pkgs:
        if p["nevra"] in stored or p["nevra"] in failed or \
                (image is not None and image.contains(p)):
            continue
        (rep.excluded if settings.excluded(p["name"]) else rep.unpersisted).append(p["nevra"])
    for p in pkgs:
        if p["nevra"] in rep.unpersisted:
            rep.fixes[p["nevra"]] = fix_for(p, installroot, store_path, adder)
    # A dependency is only a pool replay draws from: not installed, it is not at risk.
    rep.not_installed = sorted(e["nevra"] for e in entries
                               if e["nevra"] not in installed and e["reason"] != "dependency")
    rep.last_replay = last_replay(installroot)
    if bootc.is_image_mode_host(installroot):
        rep.image_mode = image_mode(installroot, pkgs, image)
    return rep


EXPORT_COMMAND = "persistrepo export --format containerfile DIR"


def image_mode(installroot, pkgs, image):
    """What the next `bootc upgrade` or reboot drops: on an image-mode host
    nothing replays, so every package that is not in the image goes, persisted
    or not (without the image's list, every installed package is named)."""
    booted = overlay = None
    if installroot == "/":
        try:
            doc = bootc.status()
            booted = bootc.booted_image(doc)
            overlay = doc["status"].get("usrOverlay")
        except PersistError:  # status still reports what it knows
            pass
    return {"booted_image": booted, "usr_overlay": overlay,
            "drops": sorted(p["nevra"] for p in pkgs
                            if image is None or not image.contains(p)),
            "keep_with": EXPORT_COMMAND}


REPORTS = "var/log/persistrepo"


def last_replay(installroot):
    """{report, status, left_out: [{nevra, reason}]} of the newest replay
    report in installroot (docs/replay.md), or None."""
    directory = os.path.join(installroot, REPORTS)
    try:
        names = sorted(n for n in os.listdir(directory)
                       if n.startswith("replay-") and n.endswith(".json"))
    except OSError:
        return None
    if not names:
        return None
    path = os.path.join(directory, names[-1])
    try:
        fd = fsutil.open_regular(path)
        with os.fdopen(fd, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        left = [{"nevra": p["nevra"], "reason": p.get("reason")}
                for p in doc["packages"] if p.get("role") == "requested"
                and p.get("outcome") not in ("done", "skipped")]
        left += [{"nevra": r["filename"], "reason": r["reason"]} for r in doc["refused"]]
        return {"report": path, "status": doc["status"], "left_out": left}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, PersistError, OSError):
        return {"report": path, "status": "unreadable", "left_out": []}


CACHES = ("var/cache/dnf/*/packages", "var/cache/libdnf5/*/packages",
          "var/cache/yum/*/*/packages")


def fix_for(pkg, installroot, store_path, adder="dnf"):
    """A command that persists an installed package: `persistrepo add` with
    its RPM file where a package cache still has it (as for one installed
    with plain rpm -i from there), else `dnf persist add NAME` (or dnf5's),
    which fetches the installed build from a repo."""
    name = "%s-%s-%s.%s.rpm" % (pkg["name"], pkg["version"], pkg["release"], pkg["arch"])
    for pattern in CACHES:
        for path in sorted(glob.glob(os.path.join(installroot, pattern, name))):
            if os.path.isfile(path) and not os.path.islink(path):
                store = "" if installroot == "/" else " --store %s" % compat.shell_quote(
                    store_path)
                return "persistrepo%s add %s" % (store, compat.shell_quote(path))
    root = "" if installroot == "/" else " --installroot=%s" % compat.shell_quote(installroot)
    return "%s%s persist add %s" % (adder, root, pkg["name"])


def to_json(rep):
    return json.dumps(rep.to_dict(), indent=2, sort_keys=True)


def text(rep, prog="persistrepo"):
    """The report for people; prog is the command that shows it ("dnf persist",
    "dnf5 persist" or "persistrepo"), named in the advice."""
    lines = ["store: %s (%s persisted, %d installed in %s)"
             % (rep.store, listing.count(rep.persisted, "package"), rep.installed,
                rep.installroot)]
    if rep.image is None:
        lines.append("image: unknown; packages that came with the image cannot be told "
                     "apart, so every installed package that is not persisted is listed "
                     "(give --image-manifest FILE or --image-root DIR)")
    else:
        lines.append("image: %s (%s)" % (rep.image.source, listing.count(len(rep.image),
                                                                          "package")))
    if rep.unpersisted:
        lines.append("installed but neither in the image nor persisted (%d); lost on the "
                     "next image upgrade unless persisted:" % len(rep.unpersisted))
        lines.extend("  %s  (fix: %s)" % (n, rep.fixes[n]) for n in rep.unpersisted)
    if rep.not_installed:
        lines.append("persisted but no longer installed (%d); replay would install them "
                     "again unless you run '%s remove NAME':" % (len(rep.not_installed), prog))
        lines.extend("  " + n for n in rep.not_installed)
    if rep.failures:
        lines.append("capture failures (%d):" % len(rep.failures))
        lines.extend("  %s: %s (%s %s); fix: %s" % (f.get("nevra"), f.get("error"),
                                                   f.get("method"), f.get("when"),
                                                   f.get("fix"))
                     for f in rep.failures)
    if rep.excluded:
        lines.append("not persisted on purpose (exclude setting): %s"
                     % ", ".join(rep.excluded))
    if rep.last_replay and rep.last_replay["left_out"]:
        lines.append("the last replay (%s, %s) left out:" % (rep.last_replay["status"],
                                                             rep.last_replay["report"]))
        lines.extend("  %s: %s" % (p["nevra"], p["reason"]) for p in rep.last_replay["left_out"])
    if rep.image_mode and rep.image_mode["drops"]:
        mode = rep.image_mode
        lines.append("image mode (bootc%s): the next 'bootc upgrade' or reboot drops the %s "
                     "not in the image%s:" % (
                         ", booted " + mode["booted_image"] if mode["booted_image"] else "",
                         listing.count(len(mode["drops"]), "package"),
                         "" if rep.image else " (image unknown: every installed package is "
                         "named)"))
        lines.extend("  " + n for n in mode["drops"])
        lines.append("keep them in a new image: %s, then 'podman build -t IMAGE DIR' and "
                     "'bootc switch --transport containers-storage IMAGE' (docs/image-mode.md)"
                     % mode["keep_with"])
    if not rep.at_risk():
        lines.append("nothing at risk")
    return "\n".join(lines)
