"""The imgbased integration (docs/replay.md, "imgbased").

imgbased emits "os-upgraded" once /etc and /var are migrated, with the new
layer's LV unmounted. on_os_upgraded() mounts that LV, binds the host's
/var over the layer's /var (Node's /var is shared by all layers), runs a
strict replay with dnf's history resolved inside the layer, and unmounts
everything, also on failure. Every failure becomes one HookError, which
imgbased turns into BootSetupError: the update is aborted and the host
keeps booting the old layer.

import_imgbased() takes over the store of imgbased's own dnf plugin,
imgbased-persist; disable_imgbased_persist() turns that plugin's capture off.
"""

import os
import re
import stat
import subprocess
import tempfile

from persistrepo import config, fsutil, listing
from persistrepo.fsutil import resolve_in_root
from persistrepo.errors import PersistError, UsageError
from persistrepo.store import Candidate, Store

IMGBASED_STORE = "/var/imgbased/persisted-rpms"
IMGBASED_PERSIST_CONF = "/etc/dnf/plugins/imgbased-persist.conf"
DNF_PERSISTDIR = "/var/lib/dnf"


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
    if result.status == "failed":
        why = ["%s: %s" % (i.nevra, i.reason) for i in result.broken]
        if result.transaction_error:
            why.append("the transaction failed: %s" % result.transaction_error.strip())
        text = "; ".join(why)
    elif result.status == "nothing-to-do":
        text = "nothing to do: every persisted package is in the new layer"
    else:
        done = [i for i in result.items if i.outcome == "done" and i.action != "remove"]
        text = "installed %s" % listing.count(len(done), "package")
        if result.broken:
            text += "; left out (on_broken = skip): %s" % "; ".join(
                "%s: %s" % (i.nevra, i.reason) for i in result.broken)
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


def on_os_upgraded(new_lv_path):
    """Mount the new layer, bind the host's /var over its /var, replay the
    store (persist_dir of the configuration), unmount. Returns the
    ReplayResult, or None for an absent or empty store; raises HookError."""
    try:
        settings = config.load()
        store = Store(settings.persist_dir)
        # No store, or the empty directory the package ships: nothing to do.
        if not store.exists() or not store.entries():
            return None
        options = _source_options(new_lv_path)
        target = tempfile.mkdtemp(prefix="persistrepo-layer-")
        try:
            return _mounted_replay(new_lv_path, options, target, store,
                                   settings.on_broken == "skip")
        finally:
            os.rmdir(target)
    except HookError:
        raise
    except PersistError as e:
        raise HookError(str(e))
    except (OSError, IOError) as e:
        raise HookError("%s%s" % (e.filename + ": " if e.filename else "", e.strerror or e))
    except Exception as e:  # imgbased would print a traceback and no reason
        raise HookError("unexpected %s: %s" % (type(e).__name__, e))


def _umount(path):
    """Unmount path; if it is busy, detach it lazily (as imgbased does)."""
    try:
        _run(["umount", path])
    except HookError:
        _run(["umount", "--lazy", path])


def _mounted_replay(source, options, target, store, skip_broken):
    _run(["mount"] + options + [source, target])
    try:
        # Nothing mounted below target propagates to other mount namespaces.
        _run(["mount", "--make-private", target])
        var = _real_dir(target, "var")
        _run(["mount", "--bind", "/var", var])
        try:
            return replay_into(target, store, skip_broken)
        finally:
            _umount(var)
    finally:
        _umount(target)


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
    missing = store.keep_signing_keys(installroot)
    for f in files:
        os.unlink(f)
    return result, missing
