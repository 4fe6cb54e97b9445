"""An EL7 Node (oVirt Node 4.3: yum 3.4.3, rpm 4.11.3, Python 2.7, no dnf) is
updated the way it really is: the admin's `yum install` of the image-update
package, whose %post runs imgbase update, after which persistrepo-imgbased's
%triggerin replays the store into the new layer through rpm's own
transaction set (docs/el7.md, "Image updates"). Runs on the el7 stack only
(scripts/dev): EL7's 2.7 with rpm 4.11.3's bindings is the Node's Python
and `rpm`, so every rpmdb is Berkeley DB, and what the layers hold is read
with those bindings.

The hosted Node of tests/support/node.py, with EL7's pieces:
- the images are installed by rpm 4.11.3, and their stand-ins are EL7's:
  `python` (/usr/bin/python2, EL7's 2.7 with python2_sitelib on its path),
  `imgbased` (a Python 2 package there: the mirror in python2.7's
  site-packages too, and imgbased-persist's yum configuration);
- persistrepo is installed from the spec's EL7 branch (python2-persistrepo,
  yum-plugin-persist-rpm, persistrepo-imgbased), built here by rpmbuild;
- `yum install` is tests/support/yum343 (the harness that mirrors yum 3.4.3's
  runTransaction and plugin API) run on the layer, whose rpm transaction
  is rpm 4.11.3's own, run by its bindings: scriptlets and triggers fire
  for real, persist_rpm (the installed yum plugin) captures.
What the mirror cannot show here: imgbase itself is the Python 3 mirror (it
uses Python 3 only calls), so an EL7 image that ships persistrepo-imgbased
(in python2.7's site-packages) does not get its os-upgraded hook loaded by
it; the layer log's "nothing to do" for a second path is shown with the
trigger firing again instead. imgbased-persist's yum plugin is not mirrored:
its copy is put where it keeps copies.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import rpmfluff

from tests.support import bed
from tests.support import node as node_mod
from tests.support.node import EL7_SITELIB, Node
from tests.test_node_update import host_python_provides

L1, L2 = ("ovirt-node-ng-%d.0-0.0+1" % n for n in (1, 2))
OWN = ("python2-persistrepo", "yum-plugin-persist-rpm", "persistrepo-imgbased")
HARNESS = os.path.join(node_mod.REPO, "tests", "support", "yum343")
DOCUTILS_RST2MAN = ('%s -c "from docutils.core import publish_cmdline; from '
                    'docutils.writers.manpage import Writer; publish_cmdline(writer=Writer())" '
                    '--exit-status=2' % sys.executable)


def el7_python():
    """EL7's 2.7 with rpm 4.11.3's bindings (the el7 stack's)."""
    path = os.environ.get("PERSISTREPO_RPM_PYTHON")
    if os.environ.get("PERSISTREPO_STACK") != "el7" or not path:
        pytest.fail("the EL7 Node runs on the el7 stack only (scripts/dev test, "
                    "PERSISTREPO_STACKS=el7)")
    return path


@pytest.fixture(scope="module")
def el7_spec_rpms(tmp_path_factory):
    """The spec's EL7 branch, built: Python 2 (EL7's 2.7 builds, the
    commands run /usr/bin/python2, as %py2_build's --executable makes them)."""
    from tests.test_packaging import rpmbuild
    install = ("%{__python2} setup.py build_scripts --executable=/usr/bin/python2 install -O1 "
               "--skip-build --root %{buildroot} --prefix %{_prefix} --install-lib "
               "%{python2_sitelib} --install-scripts %{_bindir}")
    built = rpmbuild(tmp_path_factory.mktemp("el7spec"), [
        "rhel 7", "__python2 %s" % el7_python(), "python2_sitelib %s" % EL7_SITELIB,
        "py2_build %{__python2} setup.py build --executable=/usr/bin/python2",
        "py2_install " + install, "rst2man " + DOCUTILS_RST2MAN])
    return [built[n] for n in OWN]


def stand_in(outdir, name, version, path, script, provides=()):
    """A package of EL7's whose one file, path, is a shell script."""
    pkg = rpmfluff.SimpleRpmBuild(name, version, "1", ["noarch"])
    for p in provides:
        pkg.add_provides(p)
    pkg.add_installed_file(path.lstrip("/"), rpmfluff.SourceFile(os.path.basename(path),
                                                                 "#!/bin/sh\n" + script),
                           mode="0755")
    return node_mod._make(pkg, outdir)


def el7_stand_ins(outdir, provides):
    """python: /usr/bin/python2 runs EL7's 2.7 (its bindings first on the
    path, then python2_sitelib); rpm: /usr/bin/rpm is rpm 4.11.3 (over the
    host's, for what imgbase runs: rpm gives scriptlets a PATH of its own)."""
    el7 = os.path.dirname(el7_python())
    return [stand_in(outdir, "python", "2.7.5", "/usr/bin/python2",
                     'PYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} exec %s "$@"\n'
                     % (EL7_SITELIB, el7_python()), provides),
            stand_in(outdir, "rpm", "4.11.3", "/usr/bin/rpm",
                     'exec %s/bin/rpm "$@"\n' % el7)]


@pytest.fixture
def el7_node(tmp_path, builder, gpg_key, http_serve, el7_spec_rpms):
    """A hosted EL7 Node on its own tmpfs: images 1 and 2 (python, rpm,
    rpm-python, python-createrepo_c, yum, imgbased, node-core and a kernel
    N.0; image 2 also vendor-lib 2.0),
    persistrepo's EL7 RPMs, a signed vendor repo with a kernel-core over
    HTTP, and the image-update package 2.0 in a repo over HTTP."""
    top = tempfile.mkdtemp(prefix="persistrepo-node-", dir="/run")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "node", top], check=True)
    node = None
    try:
        rpms = tmp_path / "rpms"
        ships = el7_stand_ins(str(rpms), host_python_provides(el7_spec_rpms)) + [
                 builder.build("rpm-python"), builder.build("python-createrepo_c"),
                 builder.build("yum"), node_mod.imgbased_rpm(str(rpms), el7=True)]
        node = Node(top, hosted=True)
        trees = {}
        for n in (1, 2):
            trees[n] = node.image("image-%d" % n, None, (), files=ships + [
                builder.build("node-core", "%d.0" % n),
                builder.build("node-kernel", "%d.0" % n, provides=["kernel"],
                              files={"/boot/vmlinuz-%d.0" % n: "kernel %d\n" % n})] + (
                    [builder.build("vendor-lib", "2.0")] if n == 2 else []))
        vendor = node_mod.vendor_rpms(builder, gpg_key)
        update = node_mod.image_update_rpm(str(rpms), "2.0", trees[2], "ovirt-node-ng-2.0-0.0")
        yield dict(node=node, trees=trees, own=el7_spec_rpms, key=gpg_key,
                   vendor=dict(baseurl=http_serve(bed.make_repo(tmp_path / "vendor", vendor)).url,
                               dir=str(tmp_path / "vendor")),
                   updates=dict(baseurl=http_serve(bed.make_repo(tmp_path / "updates",
                                                                 [update])).url,
                                dir=str(tmp_path / "updates")),
                   local=builder.build("site-tool"))
    finally:
        if node is not None:
            node.close()
        subprocess.run(["umount", "-R", top], check=True)
        os.rmdir(top)


def on_layer(node, layer, argv):
    """argv on the running layer, with EL7's rpm and bindings (under the
    host's /var, which the Node's /var hides) first on its PATH; the yum
    harness's rpm transaction runs under the layer's /usr/bin/python2."""
    el7 = os.path.dirname(el7_python())
    return node.host(layer, argv, env={
        "NODE_HOST_BINDS": el7, "YUM343_RPM_PYTHON": "/usr/bin/python2",
        "PATH": os.path.join(el7, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                "/usr/bin:/sbin:/bin"})


def yum(world, layer, ops, repos=()):
    """The admin's `yum -y install ...` on the running layer: tests/support/yum343
    with the plugins and configuration the layer has; the output."""
    node = world["node"]
    scenario = {"ops": ops, "pluginpath": ["/usr/lib/yum-plugins"],
                "pluginconfpath": ["/etc/yum/pluginconf.d"],
                "repos": dict((r, world[r]) for r in repos),
                "conf": {"installroot": "/", "cachedir": "/var/cache/yum"}}
    os.makedirs(os.path.join(node.var, "tmp"), exist_ok=True)
    with open(os.path.join(node.var, "tmp/yum-scenario.json"), "w") as f:
        json.dump(scenario, f)
    proc = on_layer(node, layer, ["/usr/bin/python2", os.path.join(HARNESS, "run.py"),
                                  "/var/tmp/yum-scenario.json"])
    assert proc.returncode == 0, proc.stdout + imgbased_log(node)
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc.stdout


def local(world, path):
    """A local RPM as the layer sees it (in the shared /var)."""
    node = world["node"]
    os.makedirs(os.path.join(node.var, "tmp"), exist_ok=True)
    shutil.copy(path, os.path.join(node.var, "tmp"))
    return {"local": "/var/tmp/" + os.path.basename(path)}


def ref(world, repo, name):
    found = [n for n in os.listdir(world[repo]["dir"]) if n.startswith(name + "-")
             and n.endswith(".rpm") and n[len(name) + 1].isdigit()]
    return {"repo": repo, "file": found[0]}


def installed(world, layer):
    """NEVRAs of the layer's rpmdb, read with rpm 4.11.3's bindings."""
    node = world["node"]
    script = ("import json, sys\nfrom persistrepo.compat import rpmdb\n"
              "sys.stdout.write(json.dumps([p['nevra'] for p in rpmdb.rpmdb_packages("
              "sys.argv[1])]))\n")
    with node.booted(layer) as root:
        out = subprocess.run([el7_python(), "-c", script, root], stdout=subprocess.PIPE,
                             check=True, universal_newlines=True,
                             env=dict(os.environ, PYTHONPATH=node_mod.REPO)).stdout
    return set(json.loads(out))


def imgbased_log(node):
    path = os.path.join(node.var, "log/imgbased.log")
    return open(path).read() if os.path.exists(path) else ""


def test_yum_installing_the_image_update_replays_into_the_new_layer(el7_node):
    world, node = el7_node, el7_node["node"]
    node.install_layer(L1, world["trees"][1])
    with node:
        # What imgbased-persist (on, as shipped) kept of an earlier install.
        yum(world, L1, [dict(op="install", **local(world, world["local"]))])
        os.makedirs(os.path.join(node.var, "log"), exist_ok=True)  # yum's own log is there
        kept = os.path.join(node.var, "imgbased/persisted-rpms")
        os.makedirs(kept)
        shutil.copy(world["local"], kept)
        out = yum(world, L1, [dict(op="install", **local(world, p)) for p in world["own"]])
        conf = on_layer(node, L1, ["cat", "/etc/yum/pluginconf.d/imgbased-persist.conf"]).stdout
        assert "\nenabled=0\n" in conf, out + conf

        assert on_layer(node, L1, ["rpm", "--import", world["key"].pubkey]).returncode == 0
        out = yum(world, L1, [dict(op="install", **ref(world, "vendor", "vendor-agent")),
                              dict(op="dep", **ref(world, "vendor", "vendor-lib")),
                              dict(op="install", **ref(world, "vendor", "kernel-core"))],
                  repos=["vendor"])
        assert "persist_rpm: persisted kernel-core-9.9-1.noarch" in out, out
        # yum's plugin was not loaded when persistrepo was installed, and yum
        # deleted the files: the admin adds them, as the warning's persistrepo add does
        # (yumdownloader, its download half, is not here: no yum repos to fetch from).
        assert sorted(x for x in out.splitlines() if "persist_rpm: warning" in x) == [
            "persist_rpm: warning: persistrepo's own package {0}-0.1.0-1.noarch is not "
            "persisted; the next image will lack persistrepo; fix: yumdownloader "
            "--destdir=/var/tmp/persist {0}-0.1.0-1.noarch && persistrepo add "
            "/var/tmp/persist/*.rpm".format(name) for name in sorted(OWN)], out
        proc = on_layer(node, L1, ["persistrepo", "add"] + [local(world, p)["local"]
                                                            for p in world["own"]])
        assert proc.returncode == 0, proc.stdout
        # imgbased-persist is off: persistrepo gave the kernel its boot entry.
        entries, default = node.boot_entries()
        assert "/%s/vmlinuz-9.9" % L1 in entries[L1], (entries, out)

        out = yum(world, L1, [dict(op="install", **ref(world, "updates",
                                                       "ovirt-node-ng-image-update"))],
                  repos=["updates"])
        assert "persistrepo: %s: installed" % L2 in out, out + imgbased_log(node)
        assert "persist_rpm: warning" not in out and "persist_rpm: note" not in out, out
        assert list(node.layers) == [L1, L2]
        assert os.listdir(kept) == []  # taken over before imgbase ran
        assert "Reinstalling" not in imgbased_log(node)
        layer2 = installed(world, L2)
        assert {"vendor-agent-1.0-1.noarch", "kernel-core-9.9-1.noarch",
                "site-tool-1.0-1.noarch", "ovirt-node-ng-image-update-2.0-1.noarch"} | set(
                    n + "-0.1.0-1.noarch" for n in OWN) <= layer2
        # The image's newer vendor-lib stays: never a downgrade.
        assert "vendor-lib-2.0-1.noarch" in layer2 and "vendor-lib-1.0-1.noarch" not in layer2
        entries, default = node.boot_entries()
        assert default == L2
        assert sorted(entries[L2]) == ["/%s/vmlinuz-2.0" % L2, "/%s/vmlinuz-9.9" % L2]


def install_vendor_agent_and_kmod(world):
    """yum install, on layer 1, of the signed vendor-agent (with vendor-lib)
    and vendor-kmod, which needs kernel 1: image 2 cannot take it."""
    assert on_layer(world["node"], L1, ["rpm", "--import", world["key"].pubkey]).returncode == 0
    yum(world, L1, [dict(op="install", **ref(world, "vendor", "vendor-agent")),
                    dict(op="dep", **ref(world, "vendor", "vendor-lib")),
                    dict(op="install", **ref(world, "vendor", "vendor-kmod"))],
        repos=["vendor"])


def test_on_broken_fail_removes_the_new_layer_and_skip_keeps_it(el7_node):
    """A kmod for kernel 1 cannot go into image 2: with on_broken = fail the
    trigger removes the new layer with imgbased's own command and layer 1
    boots next; with on_broken = skip, reinstalling the image update makes
    layer 2 without the kmod. The trigger firing
    again (persistrepo-imgbased reinstalled) changes nothing."""
    world, node = el7_node, el7_node["node"]
    node.install_layer(L1, world["trees"][1])
    with node:
        os.makedirs(os.path.join(node.var, "log"), exist_ok=True)
        yum(world, L1, [dict(op="install", **local(world, p)) for p in world["own"]])
        install_vendor_agent_and_kmod(world)

        update = ref(world, "updates", "ovirt-node-ng-image-update")
        out = yum(world, L1, [dict(op="install", **update)], repos=["updates"])
        [line] = [x for x in out.splitlines() if x.startswith("persistrepo")]
        assert line.startswith("persistrepo: error: the image update did not get the persisted "
                               "packages: vendor-kmod-1.0-1.noarch: nothing provides "
                               "node-kernel = 1.0 needed by vendor-kmod-1.0-1.noarch"), out
        assert line.endswith("the new layer %s was removed, the running layer boots next; fix "
                             "the cause, then reinstall the image-update package" % L2), line
        assert list(node.layers) == [L1]
        entries, default = node.boot_entries()
        assert default == L1 and L2 not in entries

        on_layer(node, L1, ["sh", "-c", "echo on_broken = skip >> "
                                        "/etc/yum/pluginconf.d/persist_rpm.conf"])
        out = yum(world, L1, [dict(op="reinstall", **update)], repos=["updates"])
        assert "persistrepo: %s: installed 1 package; left out (on_broken = skip): " \
            "vendor-kmod-1.0-1.noarch: nothing provides node-kernel = 1.0 needed by " \
            "vendor-kmod-1.0-1.noarch; report " % L2 in out, out
        assert list(node.layers) == [L1, L2] and node.boot_entries()[1] == L2
        layer2 = installed(world, L2)
        assert "vendor-agent-1.0-1.noarch" in layer2 and "vendor-lib-2.0-1.noarch" in layer2
        assert not [n for n in layer2 if n.startswith(("vendor-kmod-", "vendor-lib-1.0"))]

        img = [p for p in world["own"] if "persistrepo-imgbased" in p][0]
        proc = on_layer(node, L1, ["rpm", "-U", "--replacepkgs", local(world, img)["local"]])
        assert proc.returncode == 0 and "persistrepo:" not in proc.stdout, proc.stdout
        assert installed(world, L2) == layer2


def test_a_layer_made_before_persistrepo_imgbased_is_left_alone(el7_node):
    """Image 2 went in before persistrepo-imgbased was installed. One yum
    transaction then installs persistrepo-imgbased and reinstalls the image
    update: both carry its id, and imgbase makes no layer (its lvcreate
    fails). The yum plugin told the trigger the newest layer before rpm
    ran, so layer 2 is left as it was, and one line says how to replay."""
    world, node = el7_node, el7_node["node"]
    node.install_layer(L1, world["trees"][1])
    with node:
        os.makedirs(os.path.join(node.var, "log"), exist_ok=True)
        [img] = [p for p in world["own"] if "persistrepo-imgbased" in p]
        yum(world, L1, [dict(op="install", **local(world, p)) for p in world["own"] if p != img])
        install_vendor_agent_and_kmod(world)
        update = ref(world, "updates", "ovirt-node-ng-image-update")
        yum(world, L1, [dict(op="install", **update)], repos=["updates"])
        assert list(node.layers) == [L1, L2]
        before = installed(world, L2)
        assert "vendor-agent-1.0-1.noarch" not in before

        out = yum(world, L1, [dict(op="install", **local(world, img)),
                              dict(op="reinstall", **update)], repos=["updates"])
        warning = ("persistrepo: warning: the newest layer %s is not the running one and did "
                   "not get the persisted packages; this transaction made no new layer, so "
                   "it was left alone; before booting it, run "
                   "'persistrepo imgbased-update --layer %s'" % (L2, L2))
        assert set(x for x in out.splitlines() if "persistrepo:" in x) == {warning}, out
        assert list(node.layers) == [L1, L2]
        assert installed(world, L2) == before
