"""Run a command on a hosted Node's running layer, as its host (tests/node.py):
node_host.py TOP VG LAYER ENV_JSON ARGV...

Runs in a private mount namespace (the caller starts it with unshare). The
layer's LV is mounted at TOP/VG/LAYER with "VG/LAYER" as its source (how
imgbased's current_layer() recognises the root, through findmnt), and a bind
of it becomes the root, with the shared /var over /var, TOP as /boot's
source (TOP/boot), /proc, /sys, /dev, and TOP itself at its own path (the
Node's volume group and images), with the host's root at TOP/.host. Then
ARGV is executed chrooted there with the environment ENV_JSON (and a PATH).
"""

import json
import os
import subprocess
import sys

ROOT = "/mnt"  # the running layer's root, in this namespace only
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def mount(*args):
    subprocess.check_call(["mount"] + list(args))


def main(top, vg, layer, env_json, argv):
    with open(os.path.join(top, "node.json")) as f:
        tree = json.load(f)["layers"][layer]
    lv = os.path.join(top, vg, layer)
    o = os.path.join(top, "overlay", layer)
    mount("-t", "overlay", "%s/%s" % (vg, layer), "-o",
          "lowerdir=%s:/,upperdir=%s/upper,workdir=%s/work" % (tree, o, o), lv)
    mount("--bind", lv, ROOT)
    mount("--bind", os.path.join(top, "var"), os.path.join(ROOT, "var"))
    for d in ("proc", "sys", "dev"):
        mount("--rbind", "/" + d, os.path.join(ROOT, d))
    os.makedirs(os.path.join(ROOT, "boot"), exist_ok=True)
    mount("--bind", os.path.join(top, "boot"), os.path.join(ROOT, "boot"))
    # The host's root for the layers that imgbase mounts inside the chroot,
    # where "/" is the running layer (overlayfs lower directories are paths).
    os.makedirs(os.path.join(top, ".host"), exist_ok=True)
    mount("--bind", "/", os.path.join(top, ".host"))
    inside = os.path.join(ROOT, top.lstrip("/"))
    os.makedirs(inside, exist_ok=True)
    mount("--rbind", top, inside)
    os.chroot(ROOT)
    os.chdir("/")
    env = dict(json.loads(env_json), PATH=PATH, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
