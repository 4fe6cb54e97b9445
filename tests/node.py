"""A simulated oVirt Node host, for the end-to-end update test and the demo.

- **Images** are root trees built with the real dnf, laid out as imgbased's
  build leaves them: the rpmdb in /usr/share/rpm with /var/lib/rpm a
  relative link to it, and /usr/share/factory/etc the pristine /etc that
  imgbased's /etc migration compares against.
- **Layers** are overlayfs mounts over an image tree (imgbased takes thin
  LV snapshots of the base LV): VG/LAYER is the layer's mount point, its
  changes live in overlay/LAYER/upper.
- **/var** is one file system shared by every layer, as on Node: an
  overlayfs mount at var/ while the Node is open (with `Node(...) as
  node`), its content kept in .var/upper.
- `booted(layer)` mounts a layer with the shared /var, as when it runs.
- `update(previous, new, image)` is `imgbase update` through
  tests/imgbased_mirror with the shipped persistrepo plugin installed there,
  in a private mount namespace whose /var is the shared one and whose
  /etc/dnf/plugins is the running layer's (so the hook reads the admin's
  configuration, as on a host).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys

from tests import bed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIRROR = os.path.join(REPO, "tests", "imgbased_mirror")
PLUGIN = os.path.join(REPO, "imgbased-plugin", "persistrepo.py")
DNF_PLUGINS = os.path.join(REPO, "dnf-plugins")
STORE = "var/imgbased/persisted_packages"


def _mount(*args):
    subprocess.run(["mount"] + list(args), check=True)


def _umount(path):
    subprocess.run(["umount", path], check=True)


class Node(object):
    """A Node host in directory top; vg is the volume group's name."""

    def __init__(self, top, vg="onn"):
        """A new Node in top, or the one already there (its layers are
        recorded in top/node.json)."""
        self.top = str(top)
        self.vg = os.path.join(self.top, vg)
        self.var = os.path.join(self.top, "var")
        self.mirror = os.path.join(self.top, "mirror")
        self.state = os.path.join(self.top, "node.json")
        self.layers = {}  # layer name: image tree
        if os.path.exists(self.state):
            with open(self.state) as f:
                self.layers = json.load(f)
            return
        for d in (self.vg, self.var, os.path.join(self.top, "images")):
            os.makedirs(d)
        shutil.copytree(os.path.join(MIRROR, "imgbased"), os.path.join(self.mirror, "imgbased"))
        shutil.copy(PLUGIN, os.path.join(self.mirror, "imgbased/plugins/persistrepo.py"))
        self._save()

    def _save(self):
        with open(self.state, "w") as f:
            json.dump(self.layers, f)

    @property
    def newest(self):
        return list(self.layers)[-1]

    def __enter__(self):
        data = os.path.join(self.top, ".var")
        for d in ("lower", "upper", "work"):
            os.makedirs(os.path.join(data, d), exist_ok=True)
        _mount("-t", "overlay", "node-var", "-o", "lowerdir={0}/lower,upperdir={0}/upper,"
               "workdir={0}/work".format(data), self.var)
        if not os.path.lexists(os.path.join(self.var, "lib/rpm")):
            os.makedirs(os.path.join(self.var, "lib/dnf"))
            os.symlink("../../usr/share/rpm", os.path.join(self.var, "lib/rpm"))
        return self

    def __exit__(self, *exc):
        _umount(self.var)

    @property
    def store(self):
        """The store as the shared /var holds it."""
        return os.path.join(self.var, STORE[len("var/"):])

    def image(self, name, repo, packages):
        """An image tree with packages installed from repo by the real dnf."""
        root = bed.make_root(os.path.join(self.top, "images", name))
        res = bed.run_dnf(root, ["install"] + list(packages), repos={"image": repo})
        assert res.returncode == 0, res
        shutil.rmtree(os.path.join(root, "var/cache"), ignore_errors=True)
        os.makedirs(os.path.join(root, "usr/share"), exist_ok=True)
        shutil.move(os.path.join(root, "var/lib/rpm"), os.path.join(root, "usr/share/rpm"))
        os.symlink("../../usr/share/rpm", os.path.join(root, "var/lib/rpm"))
        shutil.copytree(os.path.join(root, "etc"), os.path.join(root, "usr/share/factory/etc"),
                        symlinks=True)
        return root

    def install_layer(self, name, image):
        """The first layer (`imgbase layout --init`)."""
        self._layer_dirs(name, image)

    def _layer_dirs(self, name, image):
        self.layers[name] = image
        self._save()
        for d in ("upper", "work"):
            os.makedirs(os.path.join(self.top, "overlay", name, d))
        os.makedirs(os.path.join(self.vg, name), exist_ok=True)

    def overlay_options(self, name):
        o = os.path.join(self.top, "overlay", name)
        return "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (self.layers[name], o, o)

    @contextlib.contextmanager
    def booted(self, name):
        """The layer mounted with the shared /var over its /var; yields its root."""
        root = os.path.join(self.vg, name)
        _mount("-t", "overlay", "node-" + name, "-o", self.overlay_options(name), root)
        try:
            _mount("--bind", self.var, os.path.join(root, "var"))
            try:
                yield root
            finally:
                _umount(os.path.join(root, "var"))
        finally:
            _umount(root)

    def dnf(self, root, args, repos=None, gpgcheck=False, plugin=True, **kw):
        """The real dnf on a booted layer: dnf's history where the booted
        layer keeps it (imgbased links /var/lib/dnf to /usr/share/dnf), the
        persist_rpm plugin configured by the layer's /etc/dnf/plugins."""
        from persistrepo.imgbased import resolve_in_root
        persistdir = "/" + os.path.relpath(resolve_in_root(root, "/var/lib/dnf"), root)
        setopts = ["persistdir=" + persistdir] + list(kw.pop("setopts", []))
        if plugin:
            kw.update(plugin_dir=DNF_PLUGINS, env={"PYTHONPATH": REPO},
                      plugin_conf_dir=os.path.join(root, "etc/dnf/plugins"))
        return bed.run_dnf(root, args, repos=repos, gpgcheck=gpgcheck, setopts=setopts, **kw)

    def update(self, previous, new, image):
        """`imgbase update` from layer previous to a new layer over image;
        (the mirror's report, its stderr)."""
        self._layer_dirs(new, image)
        scenario = os.path.join(self.top, "scenario-%s.json" % new)
        with open(scenario, "w") as f:
            json.dump(dict(vg_dir=self.vg, host_var=self.var, previous=previous, new=new,
                           overlays=dict((n, self.overlay_options(n)) for n in self.layers),
                           host_etc_from=previous), f)
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", propagation(), sys.executable,
             os.path.join(MIRROR, "run.py"), self.mirror, scenario],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.splitlines()[-1])
        if not report["ok"]:
            del self.layers[new]
            self._save()
        return report, proc.stderr


def propagation():
    """unshare's --propagation: "private", but in a chroot, where "/" is no
    mount point and cannot be made private, "unchanged" (scripts/sid-chroot
    runs in a private mount namespace already)."""
    with open("/proc/self/mountinfo") as f:
        root_mounted = any(line.split()[4] == "/" for line in f)
    return "private" if root_mounted else "unchanged"
