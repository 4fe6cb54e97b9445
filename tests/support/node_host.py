"""Run a command on a hosted Node's running layer, as its host (tests/support/node.py):
node_host.py TOP VG LAYER ENV_JSON ARGV...

Runs in a private mount namespace (the caller starts it with unshare). The
layer's LV, a block device (node.json's "devices"), is mounted as the
root, as on a Node (imgbased's current_layer() finds the layer from that
device, through findmnt). Beneath the layer's own files the host's root
stands in for the rest of the OS: each directory of the host's root
(/usr, /etc, ...) is an overlayfs whose lower layer is the host's and
whose upper layer is the layer's own directory, on the LV (its work
directory beside it, in .overlay-work), so what runs on the layer writes
into the LV; the host's top-level links (lib64 -> usr/lib64) are made in
the layer where it has none. Then the shared /var over /var, TOP/boot as /boot, /proc,
/sys, /dev, and TOP itself at its own path (the Node's volume group and
images), and the host directories ENV_JSON's NODE_HOST_BINDS names
(colon-separated) at their own paths (EL7's bindings, under the host's
/var, which the Node's /var hides). ARGV is executed chrooted there with the
environment ENV_JSON (and a PATH, unless it has one).
"""

import json
import os
import subprocess
import sys

ROOT = "/mnt"  # the running layer's root, in this namespace only
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Not from the host: what is mounted over them, and the per-boot ones. /tmp
# and /home are (the test keeps a repo key in /tmp; rpm's unshare plugin
# mounts private ones over both, so they must exist).
OWN = ("proc", "sys", "dev", "var", "boot", "run", "mnt", "media", "lost+found")
WORK = ".overlay-work"


def mount(*args):
    subprocess.check_call(["mount"] + list(args))


def main(top, vg, layer, env_json, argv):
    with open(os.path.join(top, "node.json")) as f:
        device = json.load(f)["devices"][layer]
    mount(device, ROOT)
    for name in sorted(os.listdir("/")):
        host_dir = "/" + name
        upper, work = os.path.join(ROOT, name), os.path.join(ROOT, WORK, name)
        if os.path.islink(host_dir):  # merged /usr: lib64 -> usr/lib64 ...
            if not os.path.lexists(upper):
                os.symlink(os.readlink(host_dir), upper)
            continue
        if name in OWN or not os.path.isdir(host_dir) or os.path.islink(upper):
            continue  # the image's own link (bin -> usr/bin) wins
        for d in (upper, work):
            os.makedirs(d, exist_ok=True)
        mount("-t", "overlay", "host-" + name, "-o",
              "lowerdir=%s,upperdir=%s,workdir=%s" % (host_dir, upper, work), upper)
    mount("--bind", os.path.join(top, "var"), os.path.join(ROOT, "var"))
    env = json.loads(env_json)
    for path in filter(None, env.pop("NODE_HOST_BINDS", "").split(":")):
        inside = os.path.join(ROOT, path.lstrip("/"))
        os.makedirs(inside, exist_ok=True)
        mount("--bind", path, inside)
    for d in ("proc", "sys", "dev"):
        os.makedirs(os.path.join(ROOT, d), exist_ok=True)
        mount("--rbind", "/" + d, os.path.join(ROOT, d))
    os.makedirs(os.path.join(ROOT, "boot"), exist_ok=True)
    mount("--bind", os.path.join(top, "boot"), os.path.join(ROOT, "boot"))
    inside = os.path.join(ROOT, top.lstrip("/"))
    os.makedirs(inside, exist_ok=True)
    mount("--rbind", top, inside)
    os.chroot(ROOT)
    os.chdir("/")
    env = dict(dict(PATH=PATH), **env)
    env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
