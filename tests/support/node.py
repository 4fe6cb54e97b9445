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
  tests/support/imgbased_mirror with the shipped persistrepo plugin installed there,
  in a private mount namespace whose /var is the shared one and whose
  /etc/dnf/plugins is the running layer's (so the hook reads the admin's
  configuration, as on a host).

A **hosted** Node (`Node(top, hosted=True)`, top on its own file system,
e.g. a tmpfs, outside /tmp and /home, which rpm's unshare plugin hides
from scriptlets where it is on) is updated the way a Node really is: `host(layer, argv)`
runs argv *on* the running layer, chrooted into it in a private mount
namespace, so the admin's `dnf install ovirt-node-ng-image-update` runs
its %post and persistrepo-imgbased's triggers for real (see
image_update_rpm()). Each layer's LV is then a block device, a loop
device over an ext2 image file holding a copy of its image tree
(tests/support/imgbased_mirror/imgbased/lvm.py), which replay mounts as on a
Node. When the layer runs (tests/support/node_host.py), the host's root stands in
for the rest of the OS (Python, dnf, rpm and their bindings, mount, a
shell) beneath the layer's own files; the images carry only their
packages' files and rpmdb, plus their dnf.conf, so that Node's layout
(python3_sitelib, /usr/share/rpm) holds: the host's Python finds the
packages installed there through PYTHONPATH, and its dnf the plugins
through the image's pluginpath. The Node's /boot is top/boot, its volume
group's metadata top/node.json (IMGBASED_MIRROR_NODE tells imgbase).
close() detaches its loop devices.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import rpmfluff

from tests.support import bed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIRROR = os.path.join(REPO, "tests", "support", "imgbased_mirror")
PLUGIN = os.path.join(REPO, "imgbased-plugin", "persistrepo.py")
DNF_PLUGINS = os.path.join(REPO, "dnf-plugins")
STORE = "var/imgbased/persisted_packages"
NODE_HOST = os.path.join(REPO, "tests", "support", "node_host.py")
# Node's python3_sitelib, as the spec computes it where no macro defines it.
SITELIB = sysconfig.get_path("purelib", "posix_prefix", vars={"base": "/usr"})
IMAGE_FILE = "/usr/share/ovirt-node-ng/image/ovirt-node-ng-%s.squashfs.img"
# EL7's python2_sitelib.
EL7_SITELIB = "/usr/lib/python2.7/site-packages"


def _mirror_lvm():
    """The mirror's LVs (tests/support/imgbased_mirror/imgbased/lvm.py), loaded
    under a name of its own: `imgbased` is the package under test."""
    spec = importlib.util.spec_from_file_location(
        "imgbased_mirror_lvm", os.path.join(MIRROR, "imgbased", "lvm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lvm = _mirror_lvm()


def _mount(*args):
    subprocess.run(["mount"] + list(args), check=True)


def _umount(path):
    subprocess.run(["umount", path], check=True)


class Node(object):
    """A Node host in directory top; vg is the volume group's name."""

    def __init__(self, top, vg="onn", hosted=False):
        """A new Node in top, or the one already there (its layers are
        recorded in top/node.json)."""
        self.top = str(top)
        self.vg_name = vg
        self.vg = os.path.join(self.top, vg)
        self.var = os.path.join(self.top, "var")
        self.boot = os.path.join(self.top, "boot")
        self.mirror = os.path.join(self.top, "mirror")
        self.state = os.path.join(self.top, "node.json")
        self.layers = {}  # layer name: image tree
        self.hosted = hosted
        if os.path.exists(self.state):
            self._load()
            return
        for d in (self.vg, self.var, self.boot, os.path.join(self.top, "images")):
            os.makedirs(d)
        shutil.copytree(os.path.join(MIRROR, "imgbased"), os.path.join(self.mirror, "imgbased"))
        shutil.copy(PLUGIN, os.path.join(self.mirror, "imgbased/plugins/persistrepo.py"))
        self._save()

    def _load(self):
        with open(self.state) as f:
            doc = json.load(f)
        self.layers, self.hosted = doc["layers"], doc["hosted"]

    def _save(self):
        doc = {}
        if os.path.exists(self.state):
            with open(self.state) as f:
                doc = json.load(f)  # the mirror's "devices" stay
        doc.update(layers=self.layers, hosted=self.hosted)
        with open(self.state, "w") as f:
            json.dump(doc, f)

    def close(self):
        """Detach the loop devices of a hosted Node's LVs (those still
        mounted somewhere go when they are unmounted)."""
        lvm.detach_all(self.top)

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
            os.makedirs(os.path.join(self.var, "lib"))
            os.symlink("../../usr/share/rpm", os.path.join(self.var, "lib/rpm"))
            if self.hosted:  # as the images have it (build.py lines 115-133)
                os.symlink("../..//usr/share/dnf", os.path.join(self.var, "lib/dnf"))
            else:  # osupdater's relocate_update_manager makes it a link
                os.makedirs(os.path.join(self.var, "lib/dnf"))
        return self

    def __exit__(self, *exc):
        _umount(self.var)

    @property
    def store(self):
        """The store as the shared /var holds it."""
        return os.path.join(self.var, STORE[len("var/"):])

    def image(self, name, repo, packages, files=None):
        """An image tree with packages installed from repo by the real dnf,
        or with files (RPMs) by rpm (EL7's on the el7 stack, so its rpmdb
        is Berkeley DB; tests/test_el7_node_update.py)."""
        path = os.path.join(self.top, "images", name)
        root = _image_root(path) if self.hosted else bed.make_root(path)
        if files is None:
            res = bed.run_dnf(root, ["install"] + list(packages), repos={"image": repo})
            assert res.returncode == 0, res
        else:
            subprocess.run(["rpm", "--root", root, "-i", "--nodeps"] + list(files),
                           env=bed.tool_env(), check=True)
        shutil.rmtree(os.path.join(root, "var/cache"), ignore_errors=True)
        os.makedirs(os.path.join(root, "usr/share"), exist_ok=True)
        shutil.move(os.path.join(root, "var/lib/rpm"), os.path.join(root, "usr/share/rpm"))
        os.symlink("../../usr/share/rpm", os.path.join(root, "var/lib/rpm"))
        if self.hosted:  # imgbased's build, relocate_rpm_and_yum_dbs (build.py lines 115-133)
            shutil.rmtree(os.path.join(root, "var/lib/dnf"), ignore_errors=True)
            os.makedirs(os.path.join(root, "usr/share/dnf"))
            os.symlink("../..//usr/share/dnf", os.path.join(root, "var/lib/dnf"))
        factory = os.path.join(root, "usr/share/factory/etc")
        if self.hosted:  # the host's /etc is the image's too
            shutil.copytree("/etc", factory, symlinks=True)
        shutil.copytree(os.path.join(root, "etc"), factory, symlinks=True, dirs_exist_ok=True)
        return root

    def install_layer(self, name, image):
        """The first layer (`imgbase layout --init`); on a hosted Node an LV
        with the boot entries of the image's kernels, as the installer
        leaves them."""
        if not self.hosted:
            self._layer_dirs(name, image)
            return
        self.layers[name] = image
        self._save()
        lvm.create_volume(self.top, name, image, busybox=bed.BUSYBOX)
        entries = os.path.join(self.boot, "loader/entries")
        os.makedirs(entries, exist_ok=True)
        for kernel in sorted(os.listdir(os.path.join(image, "boot"))):
            with open(os.path.join(entries, "%s-%s.conf" % (name, kernel[8:])), "w") as f:
                f.write("title %s\nlinux /%s/%s\n" % (name, name, kernel))
        with open(os.path.join(self.boot, "default"), "w") as f:
            f.write(name + "\n")

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
        if self.hosted:
            os.makedirs(root, exist_ok=True)
            _mount(lvm.devices(self.top)[name], root)
        else:
            _mount("-t", "overlay", "%s/%s" % (self.vg_name, name), "-o",
                   self.overlay_options(name), root)
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

    def host(self, layer, argv, env=None, timeout=600):
        """argv run on the running layer as its host (tests/support/node_host.py);
        the CompletedProcess. The Node's layers are re-read afterwards: an
        image update adds one."""
        # rpm's unshare plugin (sid, Fedora) gives scriptlets a private /tmp
        # and /home: the bed's HOME (its rpm macros) is copied into the Node.
        home = os.path.join(self.top, "home")
        if not os.path.isdir(home):
            shutil.copytree(bed.tool_home(), home)
        env = dict(dict(HOME=home, PYTHONPATH=SITELIB, IMGBASED_MIRROR_NODE=self.top),
                   **(env or {}))
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", propagation(), sys.executable, NODE_HOST,
             self.top, self.vg_name, layer, json.dumps(env)] + [str(a) for a in argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
            timeout=timeout)
        self._load()
        return proc

    def host_dnf(self, layer, args, repos=None):
        """The admin's `dnf -y ARGS` on the running layer, with repos
        ({id: baseurl or {"baseurl", "gpgkey"}}) given on the command line."""
        opts = []
        for repoid, spec in sorted((repos or {}).items()):
            spec = spec if isinstance(spec, dict) else {"baseurl": spec}
            opts += ["--repofrompath=%s,%s" % (repoid, spec["baseurl"]),
                     "--setopt=%s.gpgcheck=%d" % (repoid, "gpgkey" in spec)]
            if "gpgkey" in spec:
                opts.append("--setopt=%s.gpgkey=file://%s" % (repoid, spec["gpgkey"]))
        return self.host(layer, ["dnf", "-y", "--disablerepo=*"] +
                         ["--enablerepo=" + r for r in sorted(repos or {})] + opts + list(args))

    def boot_entries(self):
        """{layer: [kernel paths]} of the boot loader, and the default layer."""
        entries = {}
        directory = os.path.join(self.boot, "loader/entries")
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
            with open(os.path.join(directory, name)) as f:
                lines = dict(line.split(None, 1) for line in f.read().splitlines())
            entries.setdefault(lines["title"], []).append(lines["linux"])
        default = os.path.join(self.boot, "default")
        return entries, open(default).read().strip() if os.path.exists(default) else None


def _image_root(path):
    """An image root for a hosted Node: a static /bin/sh for the scriptlets
    run while the image is built, no other tool (the host's root is beneath
    every layer), a dnf.conf with Node's plugin path, and the stub that
    provides what the host's root has (bed.base_rpm)."""
    root = str(path)
    for sub in ("tmp", "var/tmp", "etc/dnf", "dev", "usr/bin"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy2(bed.BUSYBOX, os.path.join(root, "usr/bin/busybox"))
    os.symlink("busybox", os.path.join(root, "usr/bin/sh"))
    os.symlink("usr/bin", os.path.join(root, "bin"))
    with open(os.path.join(root, "etc/dnf/dnf.conf"), "w") as f:
        f.write("[main]\npluginpath=%s/dnf-plugins\ninstall_weak_deps=0\n" % SITELIB)
    subprocess.run(["rpm", "--root", root, "-i", bed.base_rpm()], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, env=bed.tool_env(), check=True)
    return root


def imgbased_rpm(outdir, version="1.0", el7=False):
    """python3-imgbased: the mirror (tests/support/imgbased_mirror) in Node's
    python3_sitelib, /usr/sbin/imgbase, and imgbased-persist's dnf plugin
    with its configuration as shipped. el7: imgbased, as EL7 names it, a
    Python 2 package there: the mirror in python2.7's site-packages too
    (where persistrepo-imgbased's trigger imports BootSetupHandler; imgbase
    stays the Python 3 mirror), and imgbased-persist's configuration as its
    yum plugin's (the plugin itself is not mirrored)."""
    pkg = rpmfluff.SimpleRpmBuild("imgbased" if el7 else "python3-imgbased", version, "1",
                                  ["noarch"])
    pkg.add_provides("imgbased = %s" % version)
    top = os.path.join(MIRROR, "imgbased")
    for dirpath, _, names in os.walk(top):
        for n in sorted(names):
            if n.endswith(".py"):
                src = os.path.join(dirpath, n)
                for sitelib in (SITELIB, EL7_SITELIB) if el7 else (SITELIB,):
                    dst = os.path.join(sitelib, "imgbased", os.path.relpath(src, top))
                    with open(src) as f:
                        pkg.add_installed_file(dst.lstrip("/"), rpmfluff.SourceFile(
                            "m%d-%s" % (len(pkg.sources), n), f.read()))
    if el7:
        pkg.add_installed_file("etc/yum/pluginconf.d/imgbased-persist.conf",
                               rpmfluff.SourceFile("imgbased-persist.conf",
                                                   IMGBASED_PERSIST_CONF), isConfig=True)
    else:
        with open(os.path.join(MIRROR, "dnf-plugins", "imgbased-persist.py")) as f:
            pkg.add_installed_file(os.path.join(SITELIB, "dnf-plugins/imgbased-persist.py")
                                   .lstrip("/"),
                                   rpmfluff.SourceFile("imgbased-persist.py", f.read()))
        pkg.add_installed_file("etc/dnf/plugins/imgbased-persist.conf", rpmfluff.SourceFile(
            "imgbased-persist.conf", IMGBASED_PERSIST_CONF), isConfig=True)
    pkg.add_installed_file("usr/sbin/imgbase", rpmfluff.SourceFile(
        "imgbase", "#!/usr/bin/python3\n%simport runpy\nrunpy.run_module('imgbased', "
        "run_name='__main__')\n" % (IMGBASE_EL7 if el7 else "")), mode="0755")
    return _make(pkg, outdir)


# The EL7 imgbase (the Python 3 mirror, where EL7's is Python 2) leaves out
# of its path, and its children's, what EL7's Python 2 processes that run it
# put there: python2.7's site-packages and a Python 2 build of rpm's bindings.
IMGBASE_EL7 = """import os, sys
def _py2(path):
    return "/python2." in path or os.path.exists(os.path.join(path, "rpm", "_rpm.so"))
sys.path[:] = [p for p in sys.path if not _py2(p)]
os.environ["PYTHONPATH"] = ":".join(
    p for p in os.environ.get("PYTHONPATH", "").split(":") if p and not _py2(p))
"""

IMGBASED_PERSIST_CONF = """[main]
enabled=1
excluded_pkgs=redhat-virtualization-host-image-update,ovirt-node-ng-image-update,rhvm-appliance,ovirt-engine-appliance
bootsetup_pkgs=kernel-core
"""

# The %post of ovirt-node-ng-image-update (ovirt-node-ng-image,
# ovirt-node-ng.spec.in lines 64-75). Stand-ins: IMGBASED_IMAGE_UPDATE_RPM,
# the package file being installed, is found in dnf's (or yum's) cache, not with `lsof
# -p $PPID` (line 68; none with rpm -U); the image file names the image
# tree, which is bind-mounted where the squashfs and its rootfs.img would be
# (lines 70-71, 74-75).
IMAGE_UPDATE_POST = """set -e
export IMGBASED_IMAGE_UPDATE_RPM=$(ls /var/cache/dnf/*/packages/ovirt-node-ng-image-update-*.rpm /var/cache/yum/*/packages/ovirt-node-ng-image-update-*.rpm 2>/dev/null | tail -1)
export MNTDIR="$(mktemp -d)"
mount --bind "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tree"])' %(image)s)" "$MNTDIR"
export PYTHONPATH=$(find $MNTDIR/usr/lib/python* -name imgbased -type d -exec dirname {} \\; | sort | tail -1):$PYTHONPATH
imgbase --debug update --format liveimg %(image)s >> /var/log/imgbased.log 2>&1
umount "$MNTDIR"
"""


def image_update_rpm(outdir, version, tree, nvr):
    """A stand-in ovirt-node-ng-image-update VERSION: its image file names
    the image tree and its NVR (the mirror's LiveimgExtractor reads it), and
    its %post runs imgbase update as the real one does."""
    pkg = rpmfluff.SimpleRpmBuild("ovirt-node-ng-image-update", version, "1", ["noarch"])
    pkg.add_requires("imgbased")
    image = IMAGE_FILE % version
    pkg.add_installed_file(image.lstrip("/"), rpmfluff.SourceFile(
        "image", json.dumps({"tree": tree, "nvr": nvr})))
    pkg.add_post(IMAGE_UPDATE_POST % {"image": image})
    return _make(pkg, outdir)


def vendor_rpms(builder, key):
    """The admin's vendor repo, signed with KEY: vendor-agent (which needs
    vendor-lib), vendor-lib, vendor-kmod (tied to node-kernel 1.0) and a
    kernel-core 9.9 with its /boot files."""
    return [builder.build("vendor-agent", requires=["vendor-lib"], sign_with=key),
            builder.build("vendor-lib", sign_with=key),
            builder.build("vendor-kmod", requires=["node-kernel = 1.0"], sign_with=key),
            builder.build("kernel-core", "9.9", provides=["kernel"], sign_with=key,
                          files={"/boot/vmlinuz-9.9": "kernel 9.9\n",
                                 "/boot/initramfs-9.9.img": "initrd 9.9\n"})]


def _make(pkg, outdir):
    os.makedirs(outdir, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(outdir)  # rpmfluff builds in the current directory
    try:
        pkg.make()
        path = os.path.join(outdir, os.path.basename(pkg.get_built_rpm("noarch")))
        shutil.copy2(pkg.get_built_rpm("noarch"), path)
        pkg.clean()
        return path
    finally:
        os.chdir(cwd)


def propagation():
    """unshare's --propagation: "private", but in a chroot, where "/" is no
    mount point and cannot be made private, "unchanged" (scripts/sid-chroot
    runs in a private mount namespace already)."""
    with open("/proc/self/mountinfo") as f:
        root_mounted = any(line.split()[4] == "/" for line in f)
    return "private" if root_mounted else "unchanged"
