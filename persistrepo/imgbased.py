"""The imgbased integration (docs/replay.md, "imgbased").

imgbased emits "os-upgraded" once /etc and /var are migrated, with the new
layer's LV unmounted. on_os_upgraded() mounts that LV, binds the host's
/var over the layer's /var (Node's /var is shared by all layers), runs a
strict replay with dnf's history resolved inside the layer, and unmounts
everything, also on failure. Every failure becomes one HookError, which
imgbased turns into BootSetupError: the update is aborted and the host
keeps booting the old layer.

On a Node the update really comes from installing the image-update RPM,
whose %post runs the *new* image's imgbase, which never loads this plugin.
after_image_update() is what persistrepo-imgbased's RPM trigger runs after
that %post: it finds the new layer from imgbased's own state and replays
into it the same way, then lets imgbased set up boot for replayed kernels.
Both paths go through replay_layer(), which records per layer, under its
own lock, that the layer got its replay: a second path is "nothing to do".
The trigger also fires when persistrepo-imgbased itself is installed while
an image-update package is there (and the host may run an older layer
after a rollback): before_image_update(), run at %triggerprein, records
the newest layer and the transaction, and the trigger acts only on a layer
that appeared since, in that transaction. A front end with a hook before
rpm runs (the dnf 4 and yum plugins) notes the newest layer itself
(capture.note_newest_layer()), which holds whatever order rpm gave the
packages.
Packages that this same transaction installs are captured only when it
ends, after the trigger: a front end with a hook after the transaction
(the dnf 4 plugin) then runs finish_image_update(), which replays them
into the layer this transaction's trigger replayed into. Without one
(rpm -U), the trigger's line and `persistrepo status` name what the layer
lacks and the command that adds it.

import_imgbased() takes over the store of imgbased's own dnf plugin,
imgbased-persist; disable_imgbased_persist() turns that plugin's capture off.
"""

# Python 2 (EL7) would take "imgbased" for this module.
from __future__ import absolute_import

import datetime
import json
import os
import re
import stat
import subprocess
import tempfile

from persistrepo import config, fsutil, words
from persistrepo.capture.capture import IMAGE_UPDATE_PACKAGES, NEWEST_LAYER_BEFORE
from persistrepo.errors import PersistError, UsageError, os_error_message
from persistrepo.fsutil import resolve_in_root
from persistrepo.store.keys import keep_signing_keys
from persistrepo.store.layout import Layout
from persistrepo.store.lock import StoreLock
from persistrepo.store.store import Candidate, Store

IMGBASED_STORE = "/var/imgbased/persisted-rpms"
IMGBASED_PERSIST_CONF = "/etc/dnf/plugins/imgbased-persist.conf"
DNF_PERSISTDIR = "/var/lib/dnf"
# Set while a replay runs: the replay's own transaction fires the trigger
# again inside the new root (installing persistrepo-imgbased there, where
# imgbased's postprocess already put the image-update package in the rpmdb).
REPLAYING = "PERSISTREPO_REPLAYING"
LAYERS_FILE = "imgbased-layers.json"
# What %triggerprein saw: the newest layer before the image-update package
# was installed, and the transaction that installs it.
PENDING_FILE = "imgbased-pending.json"
TRIGGER_PATH = "image-update trigger"
FINISH_PATH = "after the transaction"
REPLAYED = ("ok", "partial", "nothing-to-do")
LAYER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
ALREADY = "already"  # replay_layer(): the layer already got its replay


class HookError(Exception):
    """The replay into the new layer failed; the message is one line."""

    def __init__(self, message):
        super(HookError, self).__init__(" ".join(message.split()))


def _run(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    out = proc.communicate()[0].strip()
    if proc.returncode != 0:
        raise HookError("%s failed: %s" % (" ".join(cmd), out or
                                           "exit status %d" % proc.returncode))


def _source_options(source):
    """mount options for the new layer: its LV (a block device) or, for a
    layer kept as a directory, a bind mount."""
    if not os.path.isabs(source):
        raise HookError("the new layer %r is not an absolute path" % source)
    try:
        mode = os.stat(source).st_mode
    except OSError as e:
        raise HookError("the new layer %s: %s" % (source, e.strerror))
    if stat.S_ISBLK(mode):
        return []
    if stat.S_ISDIR(mode):
        return ["--bind"]
    raise HookError("the new layer %s is neither a block device nor a directory" % source)


def _real_dir(root, sub):
    """root/sub if it is a directory and no symlink (a mount there would
    follow the link out of root)."""
    path = os.path.join(root, sub)
    try:
        st = os.lstat(path)
    except OSError as e:
        raise HookError("%s: %s" % (path, e.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise HookError("%s is not a directory inside the new layer; refusing to mount "
                        "/var there" % path)
    return path


def describe(result):
    """One line on a replay the hook ran: what it did or why it failed, and
    the report, named by its path in the shared /var."""
    if result is ALREADY:
        return "nothing to do: this layer already got its replay"
    if result.status == "failed":
        why = ["%s: %s" % (i.nevra, i.reason) for i in result.broken]
        if result.transaction_error:
            why.append("the transaction failed: %s" % result.transaction_error.strip())
        text = "; ".join(why)
    elif result.status == "nothing-to-do":
        text = "nothing to do: every persisted package is in the new layer"
    else:
        done = [i for i in result.items if i.outcome == "done" and i.action != "remove"]
        text = "installed %s" % words.count(len(done), "package")
        if result.broken:
            text += "; left out (on_broken = skip): %s" % "; ".join(
                "%s: %s" % (i.nevra, i.reason) for i in result.broken)
    text += "".join("; warning: %s" % w for w in result.warnings)
    return text + ("; report %s" % result.report_file if result.report_file else "")


def replay_into(new_root, store, skip_broken=False):
    """Replay store into new_root with dnf's history and state in new_root's
    own /var/lib/dnf, resolved inside new_root (on Node it is an absolute
    link to /usr/share/dnf); strict unless skip_broken (on_broken = skip).
    Returns the result or raises HookError."""
    from persistrepo.replay import replay
    persistdir = resolve_in_root(new_root, DNF_PERSISTDIR)
    result = replay(new_root, store, skip_broken=skip_broken, persistdir=persistdir)
    if result.status == "failed":
        raise HookError(describe(result))
    return result


def on_os_upgraded(layer, new_lv_path):
    """imgbased's os-upgraded hook: replay into the new layer (its LV
    unmounted). Returns the ReplayResult, or None when there is nothing to
    replay; raises HookError."""
    return replay_layer(layer, new_lv_path, path="os-upgraded")


def replay_layer(layer, source, path, boot_setup=False, again=False):
    """Mount the layer's LV (source), bind the host's /var over its /var,
    replay the store (persist_dir of the configuration), optionally run
    imgbased's boot set-up, unmount. Under the layer lock: a layer that
    already got its replay is "nothing to do" (ALREADY), unless again.
    Returns the ReplayResult, ALREADY, or None (no store); raises
    HookError."""
    try:
        settings = config.load()
        store = Store(settings.persist_dir)
        # No store, or the empty directory the package ships: nothing to do.
        if not store.exists() or not store.entries():
            return None
        with LayerLog(store.layout) as log:
            if log.replayed(layer) and not again:
                return ALREADY
            transaction = _transaction()
            try:
                result, lacks = _replay_source(source, store, settings.on_broken == "skip",
                                               boot_setup, _own_unpersisted(settings))
            except HookError as e:
                # Under an image-update %post (which exports this), imgbase's
                # output goes to its log: the trigger that follows says it.
                log.note(layer, "failed", str(e), path, told=path != "os-upgraded" or
                         "IMGBASED_IMAGE_UPDATE_RPM" not in os.environ,
                         transaction=transaction)
                raise
            log.note(layer, result.status, describe(result), path, transaction=transaction,
                     lacks=lacks)
            return result
    except HookError:
        raise
    except PersistError as e:
        raise HookError(str(e))
    except (OSError, IOError) as e:
        raise HookError(os_error_message(e))
    except Exception as e:  # imgbased would print a traceback and no reason
        raise HookError("unexpected %s: %s" % (type(e).__name__, e))


def _replay_source(source, store, skip_broken, boot_setup, unpersisted):
    """(result, the NEVRAs of unpersisted that the layer lacks after it)."""
    options = _source_options(source)
    target = tempfile.mkdtemp(prefix="persistrepo-layer-")
    try:
        return _mounted_replay(source, options, target, store, skip_broken, boot_setup,
                               unpersisted)
    finally:
        os.rmdir(target)


def _own_unpersisted(settings):
    """The NEVRAs of persistrepo's own packages installed here (the running
    layer) that the store lacks: a replay cannot put them into a layer."""
    from persistrepo.capture import capture
    try:
        return sorted(v for _, v in capture.own_unpersisted(settings, "/", _own_installed("/")))
    except Exception:  # only what status and the line say is at stake
        return []


def _own_installed(root):
    """(name, NEVRA) of persistrepo's own packages in root's rpmdb."""
    from persistrepo.capture import capture
    from persistrepo.compat import headers, rpmdb
    if not os.path.exists(rpmdb.rpmdb_dir(root)):
        return []
    return [(n, headers.header_nevra(h)) for n in capture.OWN_PACKAGES
            for h in rpmdb.rpmdb_headers(root, n)]


def _lacking(root, nevras):
    """Those of nevras that root's rpmdb does not have (its image may ship
    them); all of them if it cannot be read."""
    try:
        have = set(v for _, v in _own_installed(root)) if nevras else set()
    except Exception:  # only what status and the line say is at stake
        have = set()
    return [v for v in nevras if v not in have]


def _umount(path):
    """Unmount path; if it is busy, detach it lazily (as imgbased does)."""
    try:
        _run(["umount", path])
    except HookError:
        _run(["umount", "--lazy", path])


def _mounted_replay(source, options, target, store, skip_broken, boot_setup, unpersisted):
    _run(["mount"] + options + [source, target])
    try:
        # Nothing mounted below target propagates to other mount namespaces.
        _run(["mount", "--make-private", target])
        var = _real_dir(target, "var")
        _run(["mount", "--bind", "/var", var])
        try:
            os.environ[REPLAYING] = target
            try:
                result = replay_into(target, store, skip_broken)
            finally:
                del os.environ[REPLAYING]
            installed = [i for i in result.items if i.outcome == "done" and
                         i.action in ("install", "upgrade")]
            if installed:
                relabel(target, [i.nevra for i in installed])
                if boot_setup:
                    imgbased_boot_setup(target)
            return result, _lacking(target, unpersisted)
        finally:
            _umount(var)
    finally:
        _umount(target)


def relabel(root, nevras):
    """Give the files of the replayed packages the labels of the new layer's
    own SELinux policy (imgbased's relabel covers only some directories and,
    on the trigger path, ran before the replay). Nothing to do where
    SELinux is off."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        return
    from persistrepo.compat import headers, rpmdb, strings
    paths = set()
    for h in rpmdb.rpmdb_headers(root):
        if headers.header_nevra(h) in nevras:
            paths.update(strings.text(f) for f in h[headers.tag("FILENAMES")] or ())
    if not paths:
        return
    proc = subprocess.Popen(["chroot", root, "restorecon", "-F", "-i", "-f", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    out = proc.communicate("\n".join(sorted(paths)) + "\n")[0].strip()
    if proc.returncode != 0:
        raise HookError("restorecon in the new layer failed: %s" % out)


def imgbased_boot_setup(root):
    """imgbased's own boot set-up for the layer mounted at root
    (bootsetup.BootSetupHandler, as osupdater's adjust_mounts_and_boot runs
    it in update mode): a replayed kernel gets its boot entry and initrd;
    kernels that have one are left alone."""
    from imgbased.bootsetup import BootSetupHandler
    proc = os.path.join(root, "proc")
    _run(["mount", "--bind", "/proc", proc])
    try:
        BootSetupHandler(root=root, mkconfig=False, mkinitrd=True).setup()
    finally:
        _umount(proc)


class LayerLog(object):
    """Which layers got their replay: <store>/.persistrepo/imgbased-layers.json
    ({layer: {status, detail, path, at}}), changed under its own lock
    (imgbased-layers.lock; the store lock is taken by the replay itself)."""

    def __init__(self, layout):
        self.layout = layout
        self.path = os.path.join(layout.state, LAYERS_FILE)
        self._lock = StoreLock(self.path[:-len(".json")] + ".lock", timeout=3600)

    def __enter__(self):
        for d in (self.layout.root, self.layout.state, self.layout.tmp):
            fsutil.ensure_dir(d)
        self._lock.__enter__()
        return self

    def __exit__(self, *exc):
        self._lock.__exit__(*exc)

    def replayed(self, layer):
        return read_layer_log(self.layout).get(layer, {}).get("status") in REPLAYED

    def note(self, layer, status, detail, path, told=False, transaction=None, lacks=()):
        """Record a replay; told: its failure was said on the console;
        transaction: the one it ran in (_transaction()); lacks: the
        unpersisted NEVRAs the layer still lacks."""
        doc = read_layer_log(self.layout)
        doc[layer] = {"status": status, "detail": detail, "path": path, "told": told,
                      "transaction": transaction, "lacks": list(lacks),
                      "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
        fsutil.write_atomic(self.path, json.dumps(doc, indent=1, sort_keys=True).encode(),
                            self.layout.tmp)


def read_layer_log(layout):
    """The layer log ({} when absent or unusable: it only ever makes a
    replay run again)."""
    try:
        doc = fsutil.load_json(fsutil.read_store_file(os.path.join(layout.state, LAYERS_FILE)))
    except (OSError, IOError, ValueError, PersistError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return dict((k, v) for k, v in doc.items() if isinstance(v, dict))


def last_image_update(store_root):
    """{layer, status, detail, path, at} of the newest layer in the layer log,
    or None."""
    doc = read_layer_log(Layout(store_root))
    if not doc:
        return None
    layer = max(doc, key=lambda k: str(doc[k].get("at")))
    return dict(doc[layer], layer=layer)


def _imgbase(*args, **kw):
    """The last line imgbase prints for args (imgbased's own state); with
    answer=False only that it succeeded."""
    proc = subprocess.Popen(["imgbase"] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    out, err = proc.communicate()
    lines = out.strip().splitlines()
    if proc.returncode != 0 or (kw.get("answer", True) and not lines):
        why = (err.strip().splitlines() or ["no output"])[-1]
        raise HookError("'imgbase %s' failed: %s" % (" ".join(args), why))
    return lines[-1].strip() if lines else None


def _transaction():
    """(pid, start time) of the process that runs the rpm transaction: the
    nearest ancestor that is not a scriptlet (rpm runs each from a temporary
    file rpm-tmp.*), or None."""
    pid = os.getppid()
    for _ in range(8):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read(4096).split(b"\0")
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat_fields = f.read(4096).rsplit(b")", 1)[1].split()
        except (IOError, OSError, IndexError):
            return None
        if not any(os.path.basename(a).startswith(b"rpm-tmp.") for a in argv):
            # fields after "(comm)": state is field 3, so starttime (22) is [19]
            return [pid, int(stat_fields[19])]
        pid = int(stat_fields[1])  # ppid
        if pid <= 1:
            return None
    return None


def before_image_update():
    """persistrepo-imgbased's %triggerprein on an image-update package:
    record the newest layer and this transaction, so that the %triggerin
    that follows acts only on a layer this transaction made."""
    if os.environ.get(REPLAYING):
        return
    try:
        latest = _imgbase("layer", "--latest")
    except HookError:
        latest = None  # no layout yet: any layer afterwards is new
    store = Store(config.load().persist_dir)
    if not store.exists():
        return
    with LayerLog(store.layout):
        fsutil.write_atomic(os.path.join(store.layout.state, PENDING_FILE), json.dumps(
            {"latest": latest, "transaction": _transaction()}).encode(), store.layout.tmp)


def _take_pending():
    """What before_image_update() recorded in this transaction (dropped
    from the store either way): the newest layer then, as (layer,), or None
    when this transaction recorded nothing (persistrepo-imgbased itself
    is being installed, or the record is another transaction's)."""
    try:
        store = Store(config.load().persist_dir)
        if not store.exists():
            return None
        path = os.path.join(store.layout.state, PENDING_FILE)
        with LayerLog(store.layout):
            try:
                doc = fsutil.load_json(fsutil.read_store_file(path))
            except (OSError, IOError, ValueError, PersistError):
                return None
            finally:
                if os.path.lexists(path):
                    os.unlink(path)
    except PersistError:
        return None
    mine = _transaction()
    if not isinstance(doc, dict) or mine is None or doc.get("transaction") != mine:
        return None
    return (doc.get("latest"),)


def after_image_update(layer=None):
    """What persistrepo-imgbased's trigger runs once an image-update package's
    %post ran `imgbase update`: replay into the layer that this transaction
    made, unless it already got its replay. Returns (layer, result or
    None), or None when there is nothing to do. On failure the new layer
    is removed with `imgbase base --remove` (the host keeps booting the
    running layer) and HookError says so. A newest layer that this
    transaction did not make is left alone: NotThisUpdate says so.
    layer: the admin's request to replay into that layer (never removed)."""
    if os.environ.get(REPLAYING):
        return None  # the replay's own transaction, inside the new root
    if layer is not None:
        return _replay_named_layer(layer)
    _aborted_by_the_hook()
    before = _take_pending()
    told = os.environ.get(NEWEST_LAYER_BEFORE)
    if told and LAYER_NAME.match(told):
        before = (told,)
    elif _installed_together():
        before = (None,)
    try:
        current = _imgbase("layer", "--current")
        latest = _imgbase("layer", "--latest")
        if latest == current:
            return None
        if before is None or before[0] == latest:
            return _not_this_update(latest)
        source = _imgbase("layer", "--volume-path", latest)
    except HookError as e:
        _note("(unknown)", "not-found", str(e))
        raise HookError("cannot find the layer the image update made (%s); check "
                        "'imgbase layout' before rebooting" % e)
    return latest, _replay_new_layer(latest, source, TRIGGER_PATH)


def _replay_new_layer(layer, source, path, again=False):
    """Replay into the layer this transaction made; on failure remove it
    (the running layer boots next) and raise HookError saying so."""
    try:
        return replay_layer(layer, source, path=path, boot_setup=True, again=again)
    except HookError as e:
        failed = HookError("%s; %s" % (e, _remove_layer(layer)))
        _note(layer, "failed", str(failed))
        raise failed


def finish_image_update():
    """What a front end runs once its transaction ended and its capture
    persisted what the transaction installed: replay again into each layer
    that a replay of this same transaction went into (the trigger's, or
    the os-upgraded hook's under the image update's %post), so that it gets
    what the store gained since, such as persistrepo-imgbased installed
    with the image update. Same lock, policy and report as the trigger; a
    layer with everything is "nothing to do". Returns [(layer, result)];
    raises HookError (the layer removed, as by the trigger)."""
    if os.environ.get(REPLAYING):
        return []
    mine = _transaction()
    store = Store(config.load().persist_dir)
    if mine is None or not store.exists():
        return []
    log = read_layer_log(store.layout)
    layers = sorted(k for k, e in log.items()
                    if e.get("transaction") == mine and e.get("status") in REPLAYED)
    done = []
    for layer in layers:
        try:
            if layer == _imgbase("layer", "--current"):
                continue  # never the running layer
            source = _imgbase("layer", "--volume-path", layer)
        except HookError as e:
            _note(layer, "not-found", str(e))
            raise HookError("cannot find the layer %s that this transaction made (%s); "
                            "before booting it, run '%s'" % (layer, e, replay_command(layer)))
        done.append((layer, _replay_new_layer(layer, source, FINISH_PATH, again=True)))
    return done


def lacking_clause(layer):
    """A clause for the line on a replay into layer, or "": what of
    persistrepo's own packages the layer lacks because the store lacks
    them (installed in this same transaction, which is captured when it
    ends; or installed without a capture, by rpm), and what adds them: the
    front end that said it finishes the image update, or the admin."""
    lacks = read_layer_log(Layout(config.load().persist_dir)).get(layer, {}).get("lacks")
    if not lacks or not isinstance(lacks, list):
        return ""
    from persistrepo.capture.capture import FINISHING
    names = ", ".join(str(v) for v in lacks)
    if os.environ.get(FINISHING):
        return ("; %s, not persisted yet, goes into %s when this transaction ends (%s)"
                % (names, layer, os.environ[FINISHING]))
    return "; %s, not persisted, did not go into %s: %s" % (names, layer, lacking_fix(layer))


def lacking_fix(layer):
    from persistrepo.compat import dnfapi
    how = ("'dnf persist add NAME', or 'persistrepo add' its RPM file" if dnfapi.has_dnf()
           else "'persistrepo add' its RPM file")  # EL7: yum has no persist add
    return "persist it (%s), then run '%s'" % (how, replay_command(layer))


def newest_layer():
    """The newest layer imgbase names; None when it does not answer (no
    Node, or no layout yet). For capture.note_newest_layer()."""
    try:
        latest = _imgbase("layer", "--latest")
    except (HookError, OSError):
        return None
    return latest if LAYER_NAME.match(latest) else None


def _installed_together():
    """Without a front end's note (plain rpm): True when this transaction
    installs persistrepo-imgbased and an image-update package together:
    both have the transaction's id in the rpmdb, and any layer that is not
    the running one is new. (If the image update came first, its
    %triggerprein was not ours yet; persistrepo-imgbased's own
    %triggerprein then saw the new layer already.) The id is the second
    the transaction started: two transactions in one second, the first an
    image update, would look like one, but imgbase update alone takes
    longer than that on a Node."""
    from persistrepo.compat import headers, rpmdb
    tid = headers.tag("INSTALLTID")
    try:
        ours = [h[tid] for h in rpmdb.rpmdb_headers("/", "persistrepo-imgbased")]
        theirs = [h[tid] for n in IMAGE_UPDATE_PACKAGES for h in rpmdb.rpmdb_headers("/", n)]
    except Exception:  # no verdict: the safe answer is "not this transaction"
        return False
    return bool(ours and theirs and max(theirs) == max(ours))


YUM_IMGBASED_PERSIST_CONF = "/etc/yum/pluginconf.d/imgbased-persist.conf"
# imgbased-persist's configuration and the booleans of its front end: a
# dnf plugin (EL8 on), a yum plugin on EL7.
IMGBASED_PERSIST = {"dnf": (IMGBASED_PERSIST_CONF, ("1", "yes", "true", "on")),
                    "yum": (YUM_IMGBASED_PERSIST_CONF, ("1", "yes", "true"))}


def this_imgbased_persist_conf():
    """imgbased-persist's configuration on this host: its yum plugin's
    where there is no dnf (EL7), else its dnf plugin's."""
    from persistrepo.compat import dnfapi
    return IMGBASED_PERSIST["dnf" if dnfapi.has_dnf() else "yum"][0]


def imgbased_persist_on(front, installroot="/"):
    """True if imgbased-persist's configuration for front (dnf or yum) in
    installroot switches it on; None if it cannot be read."""
    conf, truthy = IMGBASED_PERSIST[front]
    text = _read_conf(os.path.join(installroot, conf.lstrip("/")))
    return None if text is None else _switched_on(text, truthy)


def yum_image_update_line(names, replays, installroot="/"):
    """The yum plugin's line (EL7) for a transaction that installed an
    image-update package, or None: none when persistrepo-imgbased is
    installed (replays), whose trigger replays and says so; else what
    carries the packages, imgbased-persist if it is on (docs/el7.md,
    "Image updates")."""
    if replays or not set(names) & set(IMAGE_UPDATE_PACKAGES):
        return None
    why = ("persistrepo-imgbased is not installed, so persistrepo did not replay into the "
           "new layer")
    if imgbased_persist_on("yum", installroot):
        return ("persist_rpm: note: %s; imgbased-persist (on) keeps what yum installs, and "
                "imgbased installs it into the new layer (docs/el7.md)" % why)
    return ("persist_rpm: warning: %s, and imgbased-persist is off or missing: the new "
            "layer lacks the packages installed on this one; before booting it, run 'yum "
            "install persistrepo-imgbased', then the command it prints (docs/el7.md)" % why)


class NotThisUpdate(Exception):
    """The newest layer lacks the packages, but this transaction did not
    make it, so it was left alone; the message is one line."""


def replay_command(layer):
    return "persistrepo imgbased-update --layer %s" % layer


def _not_this_update(latest):
    """The newest layer is not the running one and this transaction made
    no layer: persistrepo-imgbased itself was installed (maybe on a host
    rolled back to an older layer; rpm fires its %triggerprein then too),
    or imgbase made no new layer. Nothing to do if that layer got its
    replay; else say so, and record it for status."""
    store = Store(config.load().persist_dir)
    if not store.exists() or not store.entries():
        return None
    with LayerLog(store.layout) as log:
        if log.replayed(latest):
            return None
    text = ("the newest layer %s is not the running one and did not get the persisted "
            "packages; this transaction made no new layer, so it was left alone; before "
            "booting it, run '%s'" % (latest, replay_command(latest)))
    _note(latest, "not-replayed", text)
    raise NotThisUpdate(text)


def _replay_named_layer(layer):
    """`persistrepo imgbased-update --layer LAYER`: replay into a layer
    that is not the running one; on failure it is left as it was."""
    if not LAYER_NAME.match(layer):
        raise UsageError("--layer %r is no layer name" % layer)
    if layer == _imgbase("layer", "--current"):
        raise UsageError("%s is the running layer: 'persistrepo replay' does not go into "
                         "the running system" % layer)
    source = _imgbase("layer", "--volume-path", layer)
    try:
        return layer, replay_layer(layer, source, path="persistrepo imgbased-update --layer",
                                   boot_setup=True, again=True)
    except HookError as e:
        failed = HookError("%s; the layer %s was left as it was, without the packages"
                           % (e, layer))
        _note(layer, "failed", str(failed))
        raise failed


def _aborted_by_the_hook():
    """Raise HookError for a failure of the os-upgraded hook (which made
    imgbase abort the update, its output in imgbased's log) that nobody was
    told of on the console yet."""
    try:
        store = Store(config.load().persist_dir)
        if not store.exists():
            return
        with LayerLog(store.layout) as log:
            failed = [(layer, e) for layer, e in read_layer_log(store.layout).items()
                      if e.get("path") == "os-upgraded" and e.get("status") == "failed"
                      and not e.get("told")]
            for layer, e in failed:
                log.note(layer, "failed", e.get("detail"), "os-upgraded", told=True)
    except Exception:  # only a message is at stake
        return
    if failed:
        layer, e = max(failed, key=lambda f: str(f[1].get("at")))
        raise HookError("imgbased aborted the update to %s (%s; its log: "
                        "/var/log/imgbased.log); the running layer boots next"
                        % (layer, e.get("detail")))


def _remove_layer(layer):
    """Remove the new layer's base with imgbased's own command (its boot
    entries go with it); say what boots next."""
    try:
        base = _imgbase("base", "--of-layer", layer)
        _imgbase("base", "--remove", base, answer=False)
    except HookError as e:
        return ("the new layer %s could NOT be removed (%s): before rebooting, run "
                "'imgbase base --remove' on its base, or it boots without the packages"
                % (layer, e))
    return ("the new layer %s was removed, the running layer boots next; fix the cause, "
            "then reinstall the image-update package" % layer)


def _note(layer, status, detail):
    """Record in the layer log what `persistrepo status` is to say."""
    try:
        store = Store(config.load().persist_dir)
        if store.exists():
            with LayerLog(store.layout) as log:
                log.note(layer, status, detail, "image-update trigger", told=True)
    except Exception:  # the one line on the console is what matters
        pass


def boot_setup_after_capture(names, front="dnf"):
    """What imgbased-persist does on a transaction that installs one of its
    bootsetup_pkgs (kernel-core): imgbased's BootSetupHandler for the
    running layer. Only once persistrepo turned imgbased-persist (of the
    front end, dnf or yum) off, and only on an imgbased host. None, or a
    warning line if it failed."""
    text = _read_conf(IMGBASED_PERSIST[front][0])
    if text is None:
        return None
    if _switched_on(text, IMGBASED_PERSIST[front][1]):
        return None  # imgbased-persist does it itself
    wanted = re.search(r"(?im)^\s*bootsetup_pkgs\s*=(.*)$", text)
    wanted = set(n.strip() for n in (wanted.group(1) if wanted else "kernel-core").split(","))
    if not wanted & set(names):
        return None
    try:
        from imgbased.bootsetup import BootSetupHandler
        BootSetupHandler().setup()
    except Exception as e:  # the admin's transaction is done; say how to finish it
        return ("imgbased's boot set-up for %s failed (%s: %s); the running layer may not "
                "boot the new kernel; run imgbased's BootSetupHandler or reinstall the "
                "kernel" % (", ".join(sorted(wanted & set(names))), type(e).__name__, e))
    return None


def _read_conf(path):
    """imgbased-persist's configuration text, or None if it cannot be read."""
    try:
        with open(path) as f:
            return f.read(1 << 20)
    except (IOError, OSError):
        return None


def _switched_on(text, truthy):
    """True if an enabled= line of imgbased-persist's configuration says one
    of truthy (the front end's own booleans)."""
    return any(m.group(1).lower() in truthy
               for m in re.finditer(r"(?im)^\s*enabled\s*=\s*(\S+)\s*$", text))


_SECTION = re.compile(r"\s*\[([^\]]*)\]")
_ENABLED = re.compile(r"(?i)(\s*enabled\s*=\s*)(1|yes|true|on)([ \t]*)$")


def disable_imgbased_persist(conf=IMGBASED_PERSIST_CONF):
    """Set enabled=0 in imgbased-persist's configuration, in its [main]
    section only (where dnf reads a plugin's switch); every other byte
    stays. True if it was on. The file is read without following a link and
    replaced by a new file of a random name, made exclusively (never
    through whatever a user may have planted next to it)."""
    try:
        fd = fsutil.open_regular(conf)
    except PersistError as e:
        if not os.path.lexists(conf):
            return False
        raise UsageError("--imgbased-conf: %s" % e)
    with os.fdopen(fd, "rb") as f:
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
        text = f.read(1 << 20).decode("latin-1")
    lines, section, changed = text.splitlines(True), None, False
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        m = _SECTION.match(body)
        if m:
            section = m.group(1).strip()
            continue
        m = _ENABLED.match(body)
        if m and section == "main":
            lines[i] = m.group(1) + "0" + m.group(3) + line[len(body):]
            changed = True
    if not changed:
        return False
    fsutil.write_atomic(conf, "".join(lines).encode("latin-1"),
                        os.path.dirname(os.path.abspath(conf)))
    os.chmod(conf, mode)
    return True


def imgbased_store_has_rpms(source=IMGBASED_STORE):
    """True if imgbased-persist's store is a directory holding an RPM."""
    return (os.path.isdir(source) and not os.path.islink(source) and
            any(n.endswith(".rpm") for n in os.listdir(source)))


def import_imgbased(store, source=IMGBASED_STORE, installroot="/"):
    """Persist every RPM of imgbased-persist's store (reason user, method
    cli, origin imgbased-persist), keep the signing keys the rpmdb of
    installroot has, then delete the imported files from source so that
    imgbased's rpmpersistence does not install them a second time.
    Returns (AddResult, [key ids the rpmdb lacks])."""
    if not os.path.isdir(source) or os.path.islink(source):
        raise UsageError("%s is not a directory: imgbased-persist has no store here" % source)
    files = sorted(os.path.join(source, n) for n in os.listdir(source) if n.endswith(".rpm"))
    files = [f for f in files if os.path.isfile(f) and not os.path.islink(f)]
    if not files:
        return None, []
    # Each file is opened once, without following a link, and taken only if
    # root owns it and nobody else may write it (Candidate.root_owned).
    result = store.add([Candidate(f, method="cli", origin="imgbased-persist", root_owned=True)
                        for f in files])
    missing = keep_signing_keys(store, installroot, result.signers)
    for f in files:
        os.unlink(f)
    return result, missing
