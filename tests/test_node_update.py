"""Two image updates end to end, as a Node admin lives them (tests/support/node.py):
layers are overlayfs mounts over image trees, /var is shared, /etc is
migrated, and each update is `imgbase update` through the imgbased mirror,
which runs the shipped plugin. Real dnf, rpm and createrepo_c throughout.
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest
import rpm

from persistrepo.compat import strings
from tests.support import bed
from tests.support import node as node_mod
from tests.support.node import Node
from tests.support.storebed import cli

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


# -- The real path: the admin installs the image-update package ------------------

STAND_INS = ("python3-rpm", "python3-dnf", "python3-imgbased", "python3-createrepo_c")


def host_python_provides(rpms):
    """What the spec's RPMs need of the host's Python (python(abi),
    /usr/bin/python3, pythonX.Ydist(...) where the generators add them):
    their requirements that neither they nor the stand-ins satisfy, by name
    (an unversioned Provides satisfies a versioned Requires)."""
    own = set(strings.text(n) for p in rpms for n in bed.rpm_header(p)[rpm.RPMTAG_PROVIDENAME])
    names = set()
    for path in rpms:
        for req in map(strings.text, bed.rpm_header(path)[rpm.RPMTAG_REQUIRENAME]):
            if not req.startswith("rpmlib(") and req not in own | set(STAND_INS) | {"/bin/sh"}:
                names.add(req)
    return sorted(names)


@pytest.fixture(scope="module")
def spec_rpms(tmp_path_factory):
    """persistrepo's RPMs, built from packaging/python-persistrepo.spec."""
    from tests.test_packaging import rpmbuild
    built = rpmbuild(tmp_path_factory.mktemp("spec"))
    return [built[n] for n in OWN]


@pytest.fixture
def hosted(tmp_path, builder, gpg_key, http_serve, spec_rpms):
    """A hosted Node on its own tmpfs (tests/support/node.py) and its repos: images
    1-3 (python3, rpm, dnf and imgbased stand-ins, node-core and a kernel;
    image 3 also ships persistrepo), persistrepo's own repo (the spec's RPMs
    and python3-createrepo_c, which no image has) and a signed vendor repo
    with a kernel-core, both over HTTP."""
    # Outside /tmp and /home: rpm's unshare plugin hides them from scriptlets.
    top = tempfile.mkdtemp(prefix="persistrepo-node-", dir="/run")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "node", top], check=True)
    node = None
    try:
        rpms = tmp_path / "rpms"
        base = [builder.build("python3", provides=host_python_provides(spec_rpms)),
                builder.build("python3-rpm"), builder.build("python3-dnf"),
                node_mod.imgbased_rpm(str(rpms))]
        createrepo = builder.build("python3-createrepo_c")
        images = base + [createrepo] + spec_rpms
        for n in (1, 2, 3):
            images += [builder.build("node-core", "%d.0" % n),
                       builder.build("node-kernel", "%d.0" % n, provides=["kernel"],
                                     files={"/boot/vmlinuz-%d.0" % n: "kernel %d\n" % n})]
        vendor = node_mod.vendor_rpms(builder, gpg_key)
        node = Node(top, hosted=True)
        repo = bed.make_repo(tmp_path / "images", images)
        ships = ["python3", "python3-rpm", "python3-dnf", "python3-imgbased"]
        trees = {}
        for n in (1, 2, 3):
            trees[n] = node.image("image-%d" % n, repo, ships + [
                "node-core-%d.0" % n, "node-kernel-%d.0" % n] + (
                    ["python3-createrepo_c"] + list(OWN) if n == 3 else []))
        updates = dict((n, node_mod.image_update_rpm(str(rpms), "%d.0" % n, trees[n],
                                                     "ovirt-node-ng-%d.0-0.0" % n))
                       for n in (2, 3))
        yield dict(
            node=node, trees=trees, updates=updates, update_repo=http_serve(
                bed.make_repo(tmp_path / "updates", [updates[2], updates[3]])).url,
            own=http_serve(bed.make_repo(tmp_path / "own", spec_rpms + [createrepo])).url,
            vendor={"baseurl": http_serve(bed.make_repo(tmp_path / "vendor", vendor)).url,
                    "gpgkey": gpg_key.pubkey},
            key=gpg_key, imgbased_rpm=spec_rpms[OWN.index("persistrepo-imgbased")])
    finally:
        # The layers' loop devices hold their image files on top's tmpfs.
        if node is not None:
            node.close()
        subprocess.run(["umount", "-R", top], check=True)
        os.rmdir(top)


def on_layer(world, layer, args, repos=None, ok=True):
    """The admin's dnf on the running layer; its output."""
    proc = world["node"].host_dnf(layer, args, repos=repos)
    assert ok is None or (proc.returncode == 0) == ok, proc.stdout + imgbased_log(world["node"])
    return proc.stdout


def imgbased_log(node):
    path = os.path.join(node.var, "log/imgbased.log")
    return open(path).read() if os.path.exists(path) else ""


def test_installing_the_image_update_package_replays_into_the_new_layer(hosted):
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    vendor = {"vendor": hosted["vendor"]}
    with node:
        # imgbased-persist (on, as shipped) keeps what the admin installs first.
        on_layer(hosted, L1, ["install", "vendor-agent"], repos=vendor)
        assert sorted(os.listdir(os.path.join(node.var, "imgbased/persisted-rpms"))) == [
            "vendor-agent-1.0-1.noarch.rpm", "vendor-lib-1.0-1.noarch.rpm"]
        out = on_layer(hosted, L1, ["install"] + list(OWN), repos={"own": hosted["own"]})
        # Now persistrepo captures; a kernel still gets its boot entry on layer 1.
        out = on_layer(hosted, L1, ["install", "kernel-core"], repos=dict(
            vendor, own=hosted["own"]))
        assert "persist_rpm: persisted kernel-core-9.9-1.noarch" in out, out
        entries, default = node.boot_entries()
        assert "/%s/vmlinuz-9.9" % L1 in entries[L1], entries

        # Its %post puts it into layer 2's rpmdb (rpm --justdb), so the replay's
        # persistrepo-imgbased fires the trigger again inside layer 2: a no-op.
        out = on_layer(hosted, L1, ["install", "ovirt-node-ng-image-update-2.0"],
                       repos={"updates": hosted["update_repo"]})
        assert "persistrepo: %s: installed" % L2 in out, out
        assert node.layers == {L1: hosted["trees"][1], L2: hosted["trees"][2]}
        # The LV the trigger mounted, as imgbase names it: a block device.
        volume = node.host(L1, ["imgbase", "layer", "--volume-path", L2]).stdout.strip()
        assert stat.S_ISBLK(os.stat(volume).st_mode), volume
        with open(os.path.join(node.var, "log/imgbased.log")) as f:
            log = f.read()
        assert "Reinstalling" not in log, log  # rpmpersistence found nothing
        with node.booted(L2) as root:
            assert "ovirt-node-ng-image-update-2.0-1.noarch" in bed.installed(root)
            assert {"vendor-agent-1.0-1.noarch", "vendor-lib-1.0-1.noarch",
                    "kernel-core-9.9-1.noarch", "python3-createrepo_c-1.0-1.noarch"} | set(
                        n + "-0.1.0-1.noarch" for n in OWN) <= bed.installed(root)
        entries, default = node.boot_entries()
        assert default == L2
        assert sorted(entries[L2]) == ["/%s/vmlinuz-2.0" % L2, "/%s/vmlinuz-9.9" % L2]

        # Image 3 ships persistrepo-imgbased: its imgbase runs our os-upgraded
        # hook, then the trigger fires too and finds nothing to do. Plain rpm.
        proc = node.host(L2, ["rpm", "-U", hosted["updates"][3]])
        assert proc.returncode == 0, proc.stdout + imgbased_log(node)
        assert "persistrepo: %s: nothing to do: this layer already got its replay" % L3 \
            in proc.stdout.splitlines(), proc.stdout
        assert "persistrepo: onn/%s: installed" % L3 in imgbased_log(node)
        with node.booted(L3) as root:
            assert "kernel-core-9.9-1.noarch" in bed.installed(root)
        assert sorted(node.boot_entries()[0][L3]) == ["/%s/vmlinuz-3.0" % L3,
                                                      "/%s/vmlinuz-9.9" % L3]


def test_on_broken_fail_removes_the_new_layer_and_skip_keeps_it(hosted):
    """imgbased-persist off, so persistrepo alone carries its dependency
    python3-createrepo_c, which no image has. A kmod for kernel 1 cannot go
    into image 2: with on_broken = fail the new layer is removed and layer 1
    boots next; with on_broken = skip, reinstalling the image update makes
    layer 2 without the kmod."""
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    repos = {"vendor": hosted["vendor"], "own": hosted["own"]}
    with node:
        node.host(L1, ["sed", "-i", "s/^enabled=1/enabled=0/",
                       "/etc/dnf/plugins/imgbased-persist.conf"])
        on_layer(hosted, L1, ["install"] + list(OWN), repos={"own": hosted["own"]})
        out = on_layer(hosted, L1, ["install", "vendor-kmod"], repos=repos)
        assert "persist_rpm: persisted persistrepo-imgbased-0.1.0-1.noarch, " \
            "python3-createrepo_c-1.0-1.noarch, python3-dnf-plugin-persist-rpm" in out, out
        stored = json.loads(cli("--store", node.store, "list", "--json").stdout)
        assert [e["reason"] for e in stored if e["name"] == "python3-createrepo_c"] == \
            ["dependency"]

        updates = {"updates": hosted["update_repo"]}
        out = on_layer(hosted, L1, ["install", "ovirt-node-ng-image-update-2.0"], repos=updates)
        [line] = [x for x in out.splitlines() if "persistrepo" in x]
        assert line.startswith("persistrepo: error: the image update did not get the persisted "
                               "packages: vendor-kmod-1.0-1.noarch: nothing provides "
                               "node-kernel = 1.0"), out
        assert line.endswith("the new layer %s was removed, the running layer boots next; fix "
                             "the cause, then reinstall the image-update package" % L2), line
        assert "Traceback" not in out
        assert list(node.layers) == [L1]
        entries, default = node.boot_entries()
        assert default == L1 and L2 not in entries
        image1 = ["--image-root", hosted["trees"][1]]
        status = node.host(L1, ["persistrepo", "status"] + image1).stdout
        assert "the image update to %s (" % L2 in status and \
            ") did NOT get the persisted packages: vendor-kmod-1.0-1.noarch" in status, status

        node.host(L1, ["sh", "-c", "echo on_broken = skip >> /etc/dnf/plugins/persist_rpm.conf"])
        out = on_layer(hosted, L1, ["reinstall", "ovirt-node-ng-image-update-2.0"], repos=updates)
        assert "persistrepo: %s: installed 4 packages; left out (on_broken = skip): " \
            "vendor-kmod-1.0-1.noarch: nothing provides node-kernel = 1.0" % L2 in out, out
        assert list(node.layers) == [L1, L2]
        with node.booted(L2) as root:
            assert {"python3-createrepo_c-1.0-1.noarch"} | set(
                n + "-0.1.0-1.noarch" for n in OWN) <= bed.installed(root)
            assert "vendor-kmod-1.0-1.noarch" not in bed.installed(root)
        assert node.boot_entries()[1] == L2
        status = node.host(L1, ["persistrepo", "status"] + image1).stdout
        assert "did NOT get" not in status and "nothing at risk" in status, status

        # Image 3 ships the hook, which fails inside imgbase (on_broken =
        # fail again): imgbase aborts, its %post fails, and the trigger says why.
        node.host(L1, ["sed", "-i", "s/^on_broken = skip$//",
                       "/etc/dnf/plugins/persist_rpm.conf"])
        out = on_layer(hosted, L1, ["install", "ovirt-node-ng-image-update-3.0"],
                       repos=updates, ok=None)
        [line] = [x for x in out.splitlines() if x.startswith("persistrepo")]
        assert line.startswith("persistrepo: error: the image update did not get the persisted "
                               "packages: imgbased aborted the update to %s (vendor-kmod-1.0-1"
                               ".noarch: nothing provides node-kernel = 1.0" % L3), out
        assert line.endswith("its log: /var/log/imgbased.log); the running layer boots next")
        assert "Traceback" not in out and "Traceback" in imgbased_log(node)
        assert list(node.layers) == [L1, L2]

        # imgbase cannot tell the layers: one line, and status says so.
        proc = node.host(L1, ["persistrepo", "imgbased-update"],
                         env={"IMGBASED_MIRROR_NODE": "/nonexistent"})
        assert proc.returncode == 1
        assert proc.stdout.startswith(
            "persistrepo: error: the image update did not get the persisted packages: cannot "
            "find the layer the image update made ('imgbase layer --current' failed: "), proc.stdout
        assert len(proc.stdout.splitlines()) == 1, proc.stdout
        status = node.host(L1, ["persistrepo", "status"] + image1).stdout
        assert "the image update to (unknown) (" in status, status


def test_a_layer_no_image_update_of_this_transaction_made_is_left_alone(hosted):
    """Layer 2 was made before persistrepo-imgbased was there, and the admin
    rolled back to layer 1. Installing persistrepo-imgbased there (dnf),
    then reinstalling it (rpm -U), fires its trigger on the installed
    image-update package: with on_broken = fail and a kmod that image 2
    cannot take, acting would remove layer 2. It is left alone, one line
    says how to replay into it, status says so too, and that command then
    does it (on_broken = skip)."""
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    repos = {"vendor": hosted["vendor"], "own": hosted["own"]}
    updates = {"updates": hosted["update_repo"]}
    with node:
        node.host(L1, ["sed", "-i", "s/^enabled=1/enabled=0/",
                       "/etc/dnf/plugins/imgbased-persist.conf"])
        on_layer(hosted, L1, ["install", "python3-persistrepo",
                              "python3-dnf-plugin-persist-rpm"], repos=repos)
        on_layer(hosted, L1, ["install", "vendor-agent", "vendor-kmod"], repos=repos)
        out = on_layer(hosted, L1, ["install", "ovirt-node-ng-image-update-2.0"], repos=updates)
        assert "persistrepo" not in out, out
        assert list(node.layers) == [L1, L2]
        proc = node.host(L2, ["imgbase", "rollback"])
        assert proc.returncode == 0, proc.stdout
        assert node.boot_entries()[1] == L1
        with node.booted(L2) as root:
            before = bed.installed(root)
        assert "vendor-agent-1.0-1.noarch" not in before

        warning = ("persistrepo: warning: the newest layer %s is not the running one and did "
                   "not get the persisted packages; this transaction made no new layer, so "
                   "it was left alone; before booting it, run "
                   "'persistrepo imgbased-update --layer %s'" % (L2, L2))
        out = on_layer(hosted, L1, ["install", "persistrepo-imgbased"], repos=repos)
        assert [x for x in out.splitlines() if "persistrepo:" in x] == [warning], out
        # The admin's copy of the package, upgraded over itself with plain rpm.
        os.makedirs(os.path.join(node.var, "tmp"), exist_ok=True)
        shutil.copy(hosted["imgbased_rpm"], os.path.join(node.var, "tmp"))
        proc = node.host(L1, ["rpm", "-U", "--replacepkgs", "/var/tmp/" +
                              os.path.basename(hosted["imgbased_rpm"])])
        assert proc.returncode == 0, proc.stdout
        assert [x for x in proc.stdout.splitlines() if "persistrepo:" in x] == [warning]
        assert list(node.layers) == [L1, L2]
        with node.booted(L2) as root:
            assert bed.installed(root) == before
        # Both reinstalled in one transaction, in whatever second: both carry
        # its id, yet imgbase makes no layer (its lvcreate fails). dnf told
        # the trigger the newest layer before rpm ran: left alone again.
        out = on_layer(hosted, L1, ["reinstall", "persistrepo-imgbased",
                                    "ovirt-node-ng-image-update-2.0"],
                       repos=dict(repos, **updates), ok=None)
        said = set(x for x in out.splitlines() if "persistrepo:" in x)
        assert said == {warning}, out
        assert list(node.layers) == [L1, L2]
        with node.booted(L2) as root:
            assert bed.installed(root) == before
        entries, default = node.boot_entries()
        assert default == L1 and L2 in entries
        image1 = ["--image-root", hosted["trees"][1]]
        proc = node.host(L1, ["persistrepo", "status"] + image1)
        status = proc.stdout
        assert proc.returncode == 100, status
        assert ("the layer %s, newer than the running one, did NOT get the persisted packages "
                "(no image update replayed into it); before booting it, run 'persistrepo "
                "imgbased-update --layer %s'" % (L2, L2)) in status.splitlines(), status

        # The printed command, strict: the kmod cannot go; the layer stays as it was.
        proc = node.host(L1, ["persistrepo", "imgbased-update", "--layer", L2])
        assert proc.returncode == 1
        assert proc.stdout.startswith("persistrepo: error: the image update did not get the "
                                      "persisted packages: vendor-kmod-1.0-1.noarch"), proc.stdout
        assert proc.stdout.rstrip().endswith("the layer %s was left as it was, without the "
                                             "packages" % L2), proc.stdout
        assert list(node.layers) == [L1, L2] and node.boot_entries()[1] == L1
        node.host(L1, ["sh", "-c", "echo on_broken = skip >> /etc/dnf/plugins/persist_rpm.conf"])
        proc = node.host(L1, ["persistrepo", "imgbased-update", "--layer", L2])
        assert proc.returncode == 0, proc.stdout
        assert proc.stdout.startswith("persistrepo: %s: installed" % L2), proc.stdout
        with node.booted(L2) as root:
            assert "vendor-agent-1.0-1.noarch" in bed.installed(root)
        assert node.boot_entries()[1] == L2
        assert "did NOT get" not in node.host(L1, ["persistrepo", "status"] + image1).stdout

        # A reinstall of the image update where its layer exists: imgbase
        # makes none (its lvcreate fails), and the trigger changes nothing.
        out = on_layer(hosted, L1, ["reinstall", "ovirt-node-ng-image-update-2.0"],
                       repos=updates, ok=None)
        assert "persistrepo:" not in out, out
        assert list(node.layers) == [L1, L2]
        with node.booted(L2) as root:
            assert "vendor-agent-1.0-1.noarch" in bed.installed(root)


def dnf_plugin_without_persistrepo_imgbased(hosted):
    """On layer 1, imgbased-persist off: persistrepo and its dnf plugin
    (not persistrepo-imgbased), then vendor-agent, persisted with what
    persistrepo needs. The repos of both."""
    repos = {"vendor": hosted["vendor"], "own": hosted["own"]}
    hosted["node"].host(L1, ["sed", "-i", "s/^enabled=1/enabled=0/",
                             "/etc/dnf/plugins/imgbased-persist.conf"])
    on_layer(hosted, L1, ["install", "python3-persistrepo", "python3-dnf-plugin-persist-rpm"],
             repos=repos)
    on_layer(hosted, L1, ["install", "vendor-agent"], repos=repos)
    return repos


def test_persistrepo_imgbased_and_the_image_update_in_one_transaction(hosted):
    """The admin installs persistrepo-imgbased and the image update in one
    dnf transaction: the trigger replays before the plugin captured
    persistrepo-imgbased, and the plugin, once the transaction ended, puts
    it into the layer the trigger made, with nothing run by hand. What
    persistrepo needs that no image ships (python3-createrepo_c) is there
    too; the images ship the rest (python3-rpm, python3-dnf)."""
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    with node:
        repos = dnf_plugin_without_persistrepo_imgbased(hosted)
        out = on_layer(hosted, L1, ["install", "persistrepo-imgbased",
                                    "ovirt-node-ng-image-update-2.0"],
                       repos=dict(repos, updates=hosted["update_repo"]))
        trigger, finish = [x for x in out.splitlines() if "persistrepo:" in x]
        assert trigger.startswith("persistrepo: %s: installed 5 packages; report " % L2), out
        assert trigger.endswith("; persistrepo-imgbased-0.1.0-1.noarch, not persisted yet, "
                                "goes into %s when this transaction ends (persist_rpm)" % L2)
        assert finish.startswith("persistrepo: %s: installed 1 package; report " % L2), out
        assert out.index("persist_rpm: persisted persistrepo-imgbased-0.1.0-1.noarch") < \
            out.index(finish)
        with node.booted(L2) as root:
            assert {"vendor-agent-1.0-1.noarch", "vendor-lib-1.0-1.noarch",
                    "python3-createrepo_c-1.0-1.noarch", "python3-rpm-1.0-1.noarch",
                    "python3-dnf-1.0-1.noarch"} | set(
                        n + "-0.1.0-1.noarch" for n in OWN) <= bed.installed(root)
        assert node.boot_entries()[1] == L2
        status = node.host(L1, ["persistrepo", "status", "--image-root", hosted["trees"][1]])
        assert "nothing at risk" in status.stdout, status.stdout
        # A second replay of the rest finds nothing to do.
        proc = node.host(L1, ["persistrepo", "imgbased-update", "--layer", L2])
        assert proc.stdout.startswith("persistrepo: %s: nothing to do: every persisted "
                                      "package is in the new layer" % L2), proc.stdout


def test_what_the_image_update_transaction_persisted_that_the_new_layer_cannot_take(hosted):
    """The same transaction also installs a kmod for kernel 1, which image 2
    lacks. The trigger's replay went well (the kmod was not persisted yet);
    the plugin's, once the transaction ended, follows on_broken = fail as
    the trigger does: the new layer is removed, one line says so, and status
    too. With on_broken = skip, reinstalling the image update makes the
    layer with persistrepo-imgbased and without the kmod."""
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    updates = {"updates": hosted["update_repo"]}
    with node:
        repos = dnf_plugin_without_persistrepo_imgbased(hosted)
        out = on_layer(hosted, L1, ["install", "persistrepo-imgbased", "vendor-kmod",
                                    "ovirt-node-ng-image-update-2.0"],
                       repos=dict(repos, **updates))
        trigger, finish = [x for x in out.splitlines() if x.startswith("persistrepo")]
        assert trigger.startswith("persistrepo: %s: installed 5 packages; " % L2), out
        assert finish.startswith("persistrepo: error: the image update did not get the "
                                 "persisted packages: vendor-kmod-1.0-1.noarch: nothing "
                                 "provides node-kernel = 1.0"), out
        assert finish.endswith("; the new layer %s was removed, the running layer boots next; "
                               "fix the cause, then reinstall the image-update package" % L2)
        assert "Traceback" not in out
        assert list(node.layers) == [L1]
        entries, default = node.boot_entries()
        assert default == L1 and L2 not in entries
        status = node.host(L1, ["persistrepo", "status", "--image-root", hosted["trees"][1]])
        assert status.returncode == 100
        assert "the image update to %s (" % L2 in status.stdout and ") did NOT get the " \
            "persisted packages: vendor-kmod-1.0-1.noarch" in status.stdout, status.stdout

        node.host(L1, ["sh", "-c", "echo on_broken = skip >> /etc/dnf/plugins/persist_rpm.conf"])
        out = on_layer(hosted, L1, ["reinstall", "ovirt-node-ng-image-update-2.0"], repos=updates)
        [line] = [x for x in out.splitlines() if x.startswith("persistrepo")]
        assert line.startswith("persistrepo: %s: installed 6 packages; left out (on_broken = "
                               "skip): vendor-kmod-1.0-1.noarch: nothing provides node-kernel = "
                               "1.0" % L2), out
        with node.booted(L2) as root:
            assert set(n + "-0.1.0-1.noarch" for n in OWN) <= bed.installed(root)
            assert "vendor-kmod-1.0-1.noarch" not in bed.installed(root)


def test_rpm_installing_persistrepo_imgbased_with_the_image_update_says_what_the_layer_lacks(
        hosted):
    """Plain rpm -U of persistrepo-imgbased and the image update at once: no
    hook runs after the transaction and nothing captures persistrepo-
    imgbased, so the new layer lacks it. The trigger's line and status say
    so and what adds it, and that works as said."""
    node = hosted["node"]
    node.install_layer(L1, hosted["trees"][1])
    with node:
        dnf_plugin_without_persistrepo_imgbased(hosted)
        os.makedirs(os.path.join(node.var, "tmp"), exist_ok=True)
        files = ["/var/tmp/" + os.path.basename(p) for p in (hosted["imgbased_rpm"],
                                                              hosted["updates"][2])]
        for path in (hosted["imgbased_rpm"], hosted["updates"][2]):
            shutil.copy(path, os.path.join(node.var, "tmp"))
        proc = node.host(L1, ["rpm", "-U"] + files)
        assert proc.returncode == 0, proc.stdout + imgbased_log(node)
        command = "persistrepo imgbased-update --layer %s" % L2
        fix = ("persist it ('dnf persist add NAME', or 'persistrepo add' its RPM file), then "
               "run '%s'" % command)
        [line] = [x for x in proc.stdout.splitlines() if "persistrepo:" in x]
        assert line.startswith("persistrepo: %s: installed 5 packages; report " % L2), line
        assert line.endswith("; persistrepo-imgbased-0.1.0-1.noarch, not persisted, did not go "
                             "into %s: %s" % (L2, fix)), line
        image1 = ["--image-root", hosted["trees"][1]]
        proc = node.host(L1, ["persistrepo", "status"] + image1)
        assert proc.returncode == 100, proc.stdout
        said = ("the layer %s lacks persistrepo-imgbased-0.1.0-1.noarch, which the store did "
                "not have when the image update replayed into it; before booting it, %s"
                % (L2, fix))
        assert said in proc.stdout.splitlines(), proc.stdout
        doc = json.loads(node.host(L1, ["persistrepo", "status", "--json"] + image1).stdout)
        assert doc["failed_image_update"]["lacks"] == ["persistrepo-imgbased-0.1.0-1.noarch"]

        # As said: persist it, then the command.
        assert node.host(L1, ["persistrepo", "add", files[0]]).returncode == 0
        proc = node.host(L1, command.split())
        assert proc.stdout.startswith("persistrepo: %s: installed 1 package; " % L2), proc.stdout
        with node.booted(L2) as root:
            assert set(n + "-0.1.0-1.noarch" for n in OWN) | {
                "vendor-agent-1.0-1.noarch"} <= bed.installed(root)
        status = node.host(L1, ["persistrepo", "status"] + image1).stdout
        assert "lacks" not in status and "nothing at risk" in status, status
