"""Two image updates end to end, as a Node admin lives them (tests/node.py):
layers are overlayfs mounts over image trees, /var is shared, /etc is
migrated, and each update is `imgbase update` through the imgbased mirror,
which runs the shipped plugin. Real dnf, rpm and createrepo_c throughout.
"""

import json
import os
import subprocess

import pytest

from tests import bed
from tests.node import Node
from tests.storebed import cli

L1, L2, L3 = ("ovirt-node-ng-%d.0-0.0+1" % n for n in (1, 2, 3))
OWN = ("python3-persistrepo", "python3-dnf-plugin-persist-rpm", "persistrepo-imgbased")


@pytest.fixture
def world(tmp_path, builder, gpg_key, http_serve):
    """Images 1-3 (node-core and node-kernel N.0, see image()), a signed vendor repo and
    persistrepo's own repo, both over HTTP, and a local RPM."""
    image_rpms = []
    for n in (1, 2, 3):
        image_rpms += [builder.build("node-core", "%d.0" % n,
                                     files={"/etc/node-release": "Node %d\n" % n}),
                       builder.build("node-kernel", "%d.0" % n)]
    image_rpms.append(builder.build("vendor-lib", "2.0"))
    vendor = [builder.build("vendor-agent", requires=["vendor-lib"], sign_with=gpg_key),
              builder.build("vendor-lib", sign_with=gpg_key),
              builder.build("vendor-kmod", requires=["node-kernel = 2.0"], sign_with=gpg_key)]
    own = [builder.build(name) for name in OWN]
    return dict(
        images=bed.make_repo(tmp_path / "images", image_rpms),
        vendor={"baseurl": http_serve(bed.make_repo(tmp_path / "vendor", vendor)).url,
                "gpgkey": gpg_key.pubkey},
        own=http_serve(bed.make_repo(tmp_path / "own", own)).url,
        local=builder.build("site-tool", pre="echo ran > /etc/site-tool-pre"),
        key=gpg_key)


def image(node, world, n):
    """Image n; the third one ships vendor-lib 2.0."""
    return node.image("image-%d" % n, world["images"], ["node-core-%d.0" % n,
                      "node-kernel-%d.0" % n] + (["vendor-lib-2.0"] if n == 3 else []))


def status(root, image_root):
    res = cli("status", "--installroot", root, "--image-root", image_root, "--json")
    assert res.returncode in (0, 100), res.stderr
    return json.loads(res.stdout)


def test_two_image_updates_keep_the_admins_packages(tmp_path, world):
    with Node(tmp_path / "node") as node:
        story(node, world)
    assert str(tmp_path) not in open("/proc/self/mounts").read()


def story(node, world):
    node.install_layer(L1, image(node, world, 1))
    vendor = {"vendor": world["vendor"]}
    with node.booted(L1) as root:
        os.makedirs(os.path.join(root, "etc/dnf/plugins"))
        with open(os.path.join(root, "etc/dnf/plugins/persist_rpm.conf"), "w") as f:
            f.write("[main]\nenabled=1\n")
        # persistrepo itself arrives first, before dnf can load its plugin.
        res = node.dnf(root, ["install"] + list(OWN), repos={"own": world["own"]},
                       plugin=False)
        assert res.returncode == 0, res
        subprocess.run(["rpm", "--root", root, "--import", world["key"].pubkey],
                       env=bed.tool_env(), check=True)
        res = node.dnf(root, ["install", "vendor-agent"], repos=dict(vendor, own=world["own"]),
                       gpgcheck=True)
        assert res.returncode == 0, res
        assert node.dnf(root, ["install", world["local"]]).returncode == 0
    stored = set(e["nevra"] for e in json.loads(
        cli("--store", node.store, "list", "--json").stdout))
    assert stored == {"vendor-agent-1.0-1.noarch", "vendor-lib-1.0-1.noarch",
                      "site-tool-1.0-1.noarch"} | set(n + "-1.0-1.noarch" for n in OWN)

    report, err = node.update(L1, L2, image(node, world, 2))
    assert report["ok"] and report["layers"] == [L1, L2], err
    assert "persistrepo: onn/%s: installed 6 packages" % L2 in err
    with node.booted(L2) as root:
        assert bed.installed(root) == stored | {"node-core-2.0-1.noarch",
                                                "node-kernel-2.0-1.noarch"}
        assert world["key"].keyid in bed.pubkeys(root)
        assert open(os.path.join(root, "etc/node-release")).read() == "Node 2\n"
        assert open(os.path.join(root, "etc/site-tool-pre")).read() == "ran\n"
        # /etc was migrated: the admin's plugin configuration came along.
        conf = os.path.join(root, "etc/dnf/plugins/persist_rpm.conf")
        assert open(conf).read() == "[main]\nenabled=1\n"
        with open(conf, "a") as f:
            f.write("on_broken = skip\n")
        res = node.dnf(root, ["install", "vendor-kmod"], repos=vendor, gpgcheck=True)
        assert res.returncode == 0, res
        assert "persist_rpm: persisted vendor-kmod-1.0-1.noarch" in res.stdout
    assert "persistrepo-layer-" not in open("/proc/self/mounts").read()

    # The pre-flight against the next image, before updating.
    image3 = image(node, world, 3)
    res = cli("replay", "--dry-run", "--installroot", image3, "--store", node.store)
    assert res.returncode == 1
    assert "vendor-kmod-1.0-1.noarch" in res.stdout and "node-kernel = 2.0" in res.stdout

    report, err = node.update(L2, L3, image3)
    assert report["ok"] and report["layers"] == [L1, L2, L3], err
    assert "left out (on_broken = skip): vendor-kmod-1.0-1.noarch: nothing provides " \
        "node-kernel = 2.0" in err
    with node.booted(L3) as root:
        assert bed.installed(root) == stored - {"vendor-lib-1.0-1.noarch"} | {
            "node-core-3.0-1.noarch", "node-kernel-3.0-1.noarch", "vendor-lib-2.0-1.noarch"}
        doc = status(root, image3)
        assert doc["unpersisted"] == []
        # Left out: the kmod, which replay's planner says the image cannot
        # take, and why. vendor-lib 1.0, a dependency the image's 2.0 stands
        # in for, is not at risk.
        assert doc["not_installed"] == []
        [broken] = doc["broken"]
        assert broken["nevra"] == "vendor-kmod-1.0-1.noarch"
        assert "node-kernel = 2.0" in broken["reason"]
        assert doc["last_replay"]["status"] == "partial"
        [left] = doc["last_replay"]["left_out"]
        assert left["nevra"] == "vendor-kmod-1.0-1.noarch"
        assert "node-kernel = 2.0" in left["reason"]
        res = cli("status", "--installroot", root)
        assert "the last replay (partial" in res.stdout
        assert "  vendor-kmod-1.0-1.noarch: nothing provides node-kernel = 2.0" in res.stdout
