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
import logging
import os
import re
import subprocess
import tempfile

from persistrepo import bootc, fsutil, names, words
from persistrepo.compat import rpmdb, stdlib, strings
from persistrepo.errors import PersistError, UsageError
from persistrepo.front.advice import Front
from persistrepo.store import failures


class Image(object):
    """The image's packages and where that knowledge came from.

    nevras: (name, epoch, version, release, arch) of exact builds; loose:
    (name, version, release, arch) of manifest lines without an epoch
    (`rpm -qa` prints none), matched whatever the epoch."""

    def __init__(self, source, nevras=(), loose=(), root=None):
        self.source = source
        self.root = root  # an image root replay's planner can be run against
        self.nevras = set(nevras)
        self.loose = set(loose)

    def __len__(self):
        return len(self.nevras) + len(self.loose)

    def contains(self, pkg):
        nvra = (pkg["name"], pkg["version"], pkg["release"], pkg["arch"])
        return (pkg["name"], int(pkg["epoch"] or 0)) + nvra[1:] in self.nevras or \
            nvra in self.loose


def read_manifest(path):
    """An Image from a file with one package per line, as rpm -qa
    (N-V-R.A), dnf repoquery (N-E:V-R.A) or E:N-V-R.A print them; blank
    lines, `#` comments and gpg-pubkey lines are ignored, a trailing `.rpm`
    is dropped. Any other line is a UsageError naming it."""
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
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line.endswith(".rpm"):
            line = line[:-4]
        if not line or line.startswith("gpg-pubkey-"):
            continue
        parsed = names.parse_nevra(line)
        if parsed is None:
            raise UsageError("%s line %d: %r is not a package (give N-V-R.A as 'rpm -qa' "
                             "prints it, N-E:V-R.A as 'dnf repoquery' does, or E:N-V-R.A)"
                             % (path, number, line[:80]))
        name, epoch, version, release, arch = parsed
        if epoch is None:
            loose.add((name, version, release, arch))
        else:
            nevras.add((name, epoch, version, release, arch))
    return Image("manifest %s" % path, nevras, loose)


def read_image_root(path, label=None):
    if not os.path.isdir(path):
        raise UsageError("%s: no such directory (--image-root)" % path)
    pkgs = rpmdb.rpmdb_packages(path)
    return Image(label or "image root %s" % path, [
        (p["name"], int(p["epoch"] or 0), p["version"], p["release"], p["arch"])
        for p in pkgs], root=None if label else path)


def _run(cmd):
    out = subprocess.check_output(cmd, stderr=subprocess.STDOUT)
    return strings.text(out).strip().splitlines()[-1].strip()


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
        self.not_installed = []  # NEVRAs replay would install again
        self.broken = []         # [{nevra, reason}] replay would leave out
        self.skipped = []        # [{nevra, reason}] not installed, but replay skips them
        self.failures = []       # failure records still outstanding
        self.fixes = {}          # NEVRA of an unpersisted package: a command that persists it
        self.last_replay = None  # what the newest replay report says it left out
        self.image_update = None  # the newest image update that did not get the packages
        self.image_mode = None   # on a bootc host: what its next upgrade or reboot drops
        self.warnings = []       # what replay's dry run could not use: shown, not in the JSON

    def at_risk(self):
        return bool(self.unpersisted or self.not_installed or self.broken or self.failures or
                    self.image_update or (self.image_mode and self.image_mode["drops"]))

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
            "failed_image_update": self.image_update,
            "not_installed": self.not_installed,
            "broken": self.broken,
            "skipped": self.skipped,
            "failures": self.failures,
            "excluded": self.excluded,
            "image_mode": self.image_mode,
            "at_risk": self.at_risk(),
        }


def report(settings, store, installroot="/", image=None, front=None):
    """Compare the rpmdb of installroot, store (a Store) and the image; front
    (commands.Front) is the front end whose commands the advice names."""
    front = front or Front()
    installroot = installroot or "/"
    rep = Report(installroot, store.layout.root, image)
    entries = store.entries()
    stored = set(e["nevra"] for e in entries)
    pkgs = rpmdb.rpmdb_packages(installroot)
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
    # `dnf persist add` (dnf5's under dnf5), with --store where dnf would use another
    own = settings.store_path(installroot)
    adder = Front(front.name if front.name in ("dnf", "dnf5") else "dnf",
                  None if os.path.realpath(own) == os.path.realpath(rep.store) else rep.store,
                  installroot)
    for p in pkgs:
        if p["nevra"] in rep.unpersisted:
            rep.fixes[p["nevra"]] = fix_for(p, installroot, rep.store, adder)
    if entries:
        replay_verdicts(rep, store, image.root if image and image.root else installroot,
                        installed)
    rep.last_replay = last_replay(installroot)
    from persistrepo.imgbased import last_image_update
    update = last_image_update(store.layout.root)
    if update and (update.get("status") in ("failed", "not-found", "not-replayed") or
                   update.get("lacks")):
        rep.image_update = update
    if bootc.is_image_mode_host(installroot):
        # export reads persistrepo's own default store unless given --store
        exporter = Front("persistrepo", None if os.path.realpath(settings.persist_dir) ==
                         os.path.realpath(rep.store) else rep.store)
        rep.image_mode = image_mode(installroot, pkgs, image, exporter)
    return rep


def replay_verdicts(rep, store, root, installed):
    """What replay's own planner (a dry run) does with the store in root
    (the image root checked against, else the installed root): requested
    packages it would install that are not installed here, those it would
    leave out and why, and those it skips (the root has them, or newer)."""
    from persistrepo.replay import replay

    # Under `dnf persist status`, dnf's logger prints to the admin's terminal.
    quiet = logging.getLogger("dnf")
    was = quiet.disabled
    quiet.disabled = True
    try:
        result = replay(root, store, dry_run=True, write_report=False,
                        allow_running_root=True)
    finally:
        quiet.disabled = was
    rep.warnings.extend(result.warnings)
    for item in result.items:
        if item.role != "requested":
            continue  # a dependency is only a pool replay draws from
        if item.action == "broken":
            rep.broken.append({"nevra": item.nevra, "reason": item.reason})
        elif item.nevra in installed:
            continue
        elif item.action in ("install", "upgrade"):
            rep.not_installed.append(item.nevra)
        elif item.action == "skip":
            rep.skipped.append({"nevra": item.nevra, "reason": item.reason})
    rep.not_installed.sort()


def image_mode(installroot, pkgs, image, exporter):
    """What the next `bootc upgrade` or reboot drops: on an image-mode host
    nothing replays, so every package that is not in the image goes, persisted
    or not (without the image's list, every installed package is named);
    exporter (a Front) names the store that the export command reads."""
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
            # without a booted image export has no FROM of its own
            "keep_with": exporter.command("export --format containerfile %sDIR"
                                          % ("" if booted else "--from IMAGE "))}


REPORTS = "var/log/persistrepo"
_MAX_REPORT = 64 << 20
_TEXT = (type(u""), str)


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
            doc = fsutil.load_json(f.read(_MAX_REPORT + 1))
        left = [{"nevra": p["nevra"], "reason": p.get("reason")}
                for p in doc["packages"] if p.get("role") == "requested"
                and p.get("outcome") not in ("done", "skipped")]
        left += [{"nevra": r["filename"], "reason": r["reason"]} for r in doc["refused"]]
        if not isinstance(doc["status"], _TEXT) or not all(
                isinstance(p["nevra"], _TEXT) and isinstance(p["reason"], _TEXT + (type(None),))
                for p in left):
            raise TypeError("not a report replay writes")
        return {"report": path, "status": doc["status"], "left_out": left}
    except (ValueError, KeyError, TypeError, AttributeError, PersistError, OSError):
        # Anything but a report replay wrote (a list, wrong types, too deep, too big).
        return {"report": path, "status": "unreadable", "left_out": []}


CACHES = ("var/cache/dnf/*/packages", "var/cache/libdnf5/*/packages",
          "var/cache/yum/*/*/packages")
DNF_HISTORY = "var/lib/dnf/history.sqlite"


def installed_from(pkg, installroot):
    """The repo dnf's history (dnf 4) or state (dnf5) says pkg came from,
    "@commandline" for a local file; None when neither knows."""
    from persistrepo.dnf5 import state
    nevras = state.load_toml(os.path.join(
        installroot, state.SYSTEM_STATE_DIR.lstrip("/"), "nevras.toml"))
    found = (nevras.get("nevras") or {}).get(pkg["nevra"])
    if isinstance(found, dict) and found.get("from_repo"):
        return found["from_repo"]
    history = os.path.join(installroot, DNF_HISTORY)
    if not fsutil.is_regular(history):
        return None
    try:
        import libdnf.transaction
        swdb = libdnf.transaction.Swdb(history)
        try:
            return swdb.getRPMRepo("%s-%d:%s-%s.%s" % (
                pkg["name"], int(pkg["epoch"] or 0), pkg["version"], pkg["release"],
                pkg["arch"])) or None
        finally:
            swdb.closeDatabase()
    except Exception:  # no libdnf (EL7, dnf5 only), or a history it cannot read
        return None


def fix_for(pkg, installroot, store_path, adder):
    """A command that persists an installed package: `persistrepo add` with
    its RPM file where a package cache still has it (as for one installed
    with plain rpm -i from there), or with the file name of one installed
    from a local file (run where the file is), else `dnf persist add NAME`
    (adder, a Front), which fetches the installed build from a repo."""
    name = "%s-%s-%s.%s.rpm" % (pkg["name"], pkg["version"], pkg["release"], pkg["arch"])
    for pattern in CACHES:
        # The name is data, never a pattern (rpm accepts a package named "*").
        literal = re.sub(r"([*?[])", r"[\1]", name)  # glob.escape, which 2.7 lacks
        for path in sorted(glob.glob(os.path.join(installroot, pattern, literal))):
            if os.path.isfile(path) and not os.path.islink(path):
                return Front.persistrepo(store_path, "add %s" % stdlib.shell_quote(path))
    if installed_from(pkg, installroot) == "@commandline":
        return Front.persistrepo(store_path, "add %s" % stdlib.shell_quote(name))
    return adder.command("add %s" % stdlib.shell_quote(pkg["name"]))


def to_json(rep):
    return json.dumps(rep.to_dict(), indent=2, sort_keys=True)


def text(rep, front=None):
    """The report for people; front (commands.Front) is the front end that
    shows it, whose commands the advice names."""
    front = front or Front()
    lines = ["store: %s (%s persisted, %d installed in %s)"
             % (rep.store, words.count(rep.persisted, "package"), rep.installed,
                rep.installroot)]
    if rep.image is None:
        lines.append("image: unknown; packages that came with the image cannot be told "
                     "apart, so every installed package that is not persisted is listed "
                     "(give --image-manifest FILE or --image-root DIR)")
    else:
        lines.append("image: %s (%s)" % (rep.image.source, words.count(len(rep.image),
                                                                          "package")))
    if rep.unpersisted:
        lines.append("installed but neither in the image nor persisted (%d); lost on the "
                     "next image upgrade unless persisted:" % len(rep.unpersisted))
        lines.extend("  %s  (fix: %s)" % (n, rep.fixes[n]) for n in rep.unpersisted)
    if rep.not_installed:
        lines.append("persisted but no longer installed (%d); replay would install them "
                     "again unless you run '%s':" % (len(rep.not_installed),
                                                     front.command("remove NAME")))
        lines.extend("  " + n for n in rep.not_installed)
    if rep.broken:
        lines.append("persisted but replay would leave them out (%d), as 'persistrepo "
                     "replay --dry-run' shows:" % len(rep.broken))
        lines.extend("  %s: %s" % (b["nevra"], b["reason"]) for b in rep.broken)
    if rep.skipped:
        lines.append("persisted, not installed, and replay skips them (not at risk):")
        lines.extend("  %s: %s" % (b["nevra"], b["reason"]) for b in rep.skipped)
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
    if rep.image_update and rep.image_update["status"] == "not-replayed":
        from persistrepo.imgbased import replay_command
        lines.append("the layer %s, newer than the running one, did NOT get the persisted "
                     "packages (no image update replayed into it); before booting it, run '%s'"
                     % (rep.image_update["layer"], replay_command(rep.image_update["layer"])))
    elif rep.image_update and rep.image_update["status"] != "failed" and \
            rep.image_update.get("lacks"):
        from persistrepo.imgbased import lacking_fix
        lines.append("the layer %s lacks %s, which the store did not have when the image "
                     "update replayed into it; before booting it, %s"
                     % (rep.image_update["layer"], ", ".join(map(str, rep.image_update["lacks"])),
                        lacking_fix(rep.image_update["layer"])))
    elif rep.image_update:
        lines.append("the image update to %s (%s) did NOT get the persisted packages: %s"
                     % (rep.image_update["layer"], rep.image_update.get("at"),
                        rep.image_update.get("detail")))
    if rep.image_mode and rep.image_mode["drops"]:
        mode = rep.image_mode
        lines.append("image mode (bootc%s): the next 'bootc upgrade' or reboot drops the %s "
                     "not in the image%s:" % (
                         ", booted " + mode["booted_image"] if mode["booted_image"] else "",
                         words.count(len(mode["drops"]), "package"),
                         "" if rep.image else " (image unknown: every installed package is "
                         "named)"))
        lines.extend("  " + n for n in mode["drops"])
        lines.append("keep them in a new image: %s, then 'podman build -t IMAGE DIR' and "
                     "'bootc switch --transport containers-storage IMAGE' (docs/image-mode.md)"
                     % mode["keep_with"])
    if not rep.at_risk():
        lines.append("nothing at risk")
    return "\n".join(lines)
