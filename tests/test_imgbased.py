"""The imgbased integration: imgbased-plugin/persistrepo.py driven through
tests/support/imgbased_mirror (imgbased's plugin loading, hooks, update and Node's
/var layout, see its README) with the real dnf, rpm and createrepo_c; and
`persistrepo import-imgbased`.

Each update runs in a private mount namespace (unshare), where the test's
host /var is bind-mounted over /var; every layer is a plain directory.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from persistrepo.store.keys import add_key, key_files
from persistrepo.store.store import Candidate, Store
from tests.support import bed
from tests.support.node import propagation
from tests.support.storebed import REPO, cli, listed, one_line_error

MIRROR = os.path.join(REPO, "tests", "support", "imgbased_mirror")
PLUGIN = os.path.join(REPO, "imgbased-plugin", "persistrepo.py")
VG = "onn"
OLD, NEW = "ovirt-node-ng-1.0-0.0+1", "ovirt-node-ng-2.0-0.0+1"


def node_image(path):
    """An image root as imgbased's build leaves it: the rpmdb moved to
    /usr/share/rpm, /var/lib/rpm a relative link to it (build.py,
    relocate_rpm_and_yum_dbs)."""
    root = bed.make_root(path)
    os.makedirs(os.path.join(root, "usr/share"), exist_ok=True)
    shutil.move(os.path.join(root, "var/lib/rpm"), os.path.join(root, "usr/share/rpm"))
    os.symlink("../../usr/share/rpm", os.path.join(root, "var/lib/rpm"))
    return root


@pytest.fixture
def node(tmp_path):
    """{vg, host_var, image, mirror, store}: the old layer, the new image,
    the host's shared /var (its own file system, a tmpfs here; rpm's
    relative link, /var/lib/dnf still a
    directory that osupdater relocates) and the mirror with the plugin
    installed as imgbased/plugins/persistrepo.py."""
    vg = tmp_path / VG
    vg.mkdir()
    node_image(vg / OLD)
    host_var = tmp_path / "hostvar"
    host_var.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "hostvar", str(host_var)],
                   check=True)
    try:
        (host_var / "lib/dnf").mkdir(parents=True)
        os.symlink("../../usr/share/rpm", str(host_var / "lib/rpm"))
        mirror = tmp_path / "mirror"
        shutil.copytree(os.path.join(MIRROR, "imgbased"), str(mirror / "imgbased"))
        shutil.copy(PLUGIN, str(mirror / "imgbased/plugins/persistrepo.py"))
        yield dict(vg=str(vg), host_var=str(host_var), mirror=str(mirror),
                   image=node_image(tmp_path / "image"),
                   store=str(host_var / "imgbased/persisted_packages"))
    finally:
        subprocess.run(["umount", str(host_var)], check=True)


def update(node, conf=None):
    """`imgbase update` to layer NEW through the mirror, with conf as the
    host's persist_rpm.conf; (report, stderr)."""
    scenario = os.path.join(os.path.dirname(node["vg"]), "scenario.json")
    with open(scenario, "w") as f:
        json.dump(dict(vg_dir=node["vg"], host_var=node["host_var"], previous=OLD,
                       new=NEW, new_source=node["image"], persist_rpm_conf=conf), f)
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", propagation(), sys.executable,
         os.path.join(MIRROR, "run.py"), node["mirror"], scenario],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), proc.stderr


def persist(node, *paths):
    Store(node["store"]).add([Candidate(p) for p in paths])


def test_update_replays_into_the_new_layer_with_history_inside_it(node, std_set):
    """The plugin is loaded from the plugins directory, mounts the unmounted
    new layer, installs the store there; /var/lib/dnf is an absolute link
    (relocate_update_manager), yet dnf's history lands in the new layer's
    /usr/share/dnf, not in the shared /var nor outside the layer."""
    persist(node, std_set.path("tool", "1.0"), std_set.path("libtool-dep"))
    outside = os.path.exists("/usr/share/dnf")
    report, err = update(node)
    assert report["ok"], err
    assert "imgbased.plugins.persistrepo" in report["plugins"]
    assert report["layers"] == [OLD, NEW]
    new = os.path.join(node["vg"], NEW)
    assert bed.installed(new) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert bed.installed(os.path.join(node["vg"], OLD)) == set()
    assert os.readlink(os.path.join(node["host_var"], "lib/dnf")) == "/usr/share/dnf"
    assert os.path.isfile(os.path.join(new, "usr/share/dnf/history.sqlite"))
    assert not os.path.exists(os.path.join(node["vg"], OLD, "usr/share/dnf"))
    assert os.path.exists("/usr/share/dnf") == outside
    assert os.listdir(os.path.join(node["host_var"], "log/persistrepo"))
    assert "persistrepo: %s/%s: installed 2 packages; report /var/log/persistrepo/" \
        % (VG, NEW) in err
    assert "persistrepo-layer-" not in open("/proc/self/mounts").read()


def test_the_update_s_line_carries_replay_s_warnings(node, std_set):
    """A kept key others may write is not used: the layer's line says so,
    beside what was installed and what was refused."""
    persist(node, std_set.path("tool", "1.0"), std_set.path("libtool-dep"),
            std_set.path("signed"))
    store = Store(node["store"])
    [signed] = [e for e in store.entries() if e["name"] == "signed"]
    with open(std_set.key.pubkey, "rb") as f:
        add_key(store, signed["key_id"], f.read())
    key = store.layout.key(signed["key_id"])
    os.chmod(key, 0o666)
    report, err = update(node, "[main]\non_broken = skip\n")
    assert report["ok"], err
    assert "installed 2 packages; left out (on_broken = skip): signed-1.0-1.noarch" in err, err
    seen = key.replace(node["host_var"], "/var")  # as the hook's mount namespace has it
    assert "; warning: %s is owned by uid 0 or writable by others" % seen in err, err


def test_strict_failure_aborts_the_update(node, std_set):
    """tool without its dependency cannot be replayed: the hook error becomes
    BootSetupError, the update resets the new layer, one clear log line
    names the package and why, and nothing stays mounted."""
    persist(node, std_set.path("tool", "1.0"))
    report, err = update(node)
    assert report == dict(report, ok=False, error="BootSetupError", layers=[OLD])
    line = [l for l in err.splitlines() if "persistrepo: replay into" in l]
    assert len(line) == 1, err
    assert ("%s/%s failed: tool-1.0-1.noarch: nothing provides libtool-dep"
            % (VG, NEW)) in line[0]
    assert "Traceback" not in err
    assert "persistrepo-layer-" not in open("/proc/self/mounts").read()


def test_on_broken_skip_lets_the_update_go_on_and_status_says_what_was_left(node, std_set):
    """With on_broken = skip one broken package never blocks the OS update:
    the rest is installed, and status on the new layer names what was left."""
    persist(node, std_set.path("tool", "1.0"), std_set.path("unsigned"))
    report, err = update(node, "[main]\non_broken = skip\n")
    assert report["ok"] and report["layers"] == [OLD, NEW], err
    new = os.path.join(node["vg"], NEW)
    assert bed.installed(new) == {"unsigned-1.0-1.noarch"}
    assert "left out (on_broken = skip): tool-1.0-1.noarch: nothing provides libtool-dep" \
        in err
    reports = os.path.join(node["host_var"], "log/persistrepo")
    [name] = os.listdir(reports)
    with open(os.path.join(reports, name)) as f:
        assert json.load(f)["status"] == "partial"


def test_a_failed_transaction_aborts_the_update(node, std_set):
    """A %pre that fails inside the new layer: the update is aborted and the
    one log line says the transaction failed."""
    persist(node, std_set.path("badpre"))
    report, err = update(node)
    assert report == dict(report, ok=False, error="BootSetupError", layers=[OLD])
    line = [l for l in err.splitlines() if "persistrepo: replay into" in l]
    assert len(line) == 1 and "failed: the transaction failed: " in line[0], err


@pytest.mark.parametrize("shipped", [False, True], ids=["absent", "empty-dir"])
def test_no_store_leaves_the_update_alone(node, shipped):
    """Without a store, or with the empty directory the package ships, the
    plugin installs nothing and the update goes on."""
    if shipped:
        os.makedirs(node["store"])
    report, err = update(node)
    assert report["ok"] and report["layers"] == [OLD, NEW], err
    assert not os.path.exists(os.path.join(node["vg"], NEW, "usr/share/dnf"))


def test_a_layer_whose_var_leaves_it_aborts_the_update(node, std_set, tmp_path):
    """A new layer whose /var is a symlink out of it: nothing is mounted
    there, the update is aborted with one line saying why."""
    persist(node, std_set.path("tool", "1.0"), std_set.path("libtool-dep"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(os.path.join(node["image"], "var"))
    os.symlink(str(elsewhere), os.path.join(node["image"], "var"))
    report, err = update(node)
    assert report == dict(report, ok=False, error="BootSetupError", layers=[OLD])
    assert "is not a directory inside the new layer; refusing to mount /var there" in err
    assert os.listdir(str(elsewhere)) == []


def test_resolve_in_root_never_leaves_the_root(tmp_path):
    """Absolute links start at the root, ".." stops there, as after boot."""
    from persistrepo.imgbased import resolve_in_root
    root = tmp_path / "root"
    (root / "var/lib").mkdir(parents=True)
    (root / "usr/share").mkdir(parents=True)
    os.symlink("/usr/share/dnf", str(root / "var/lib/dnf"))
    assert resolve_in_root(str(root), "/var/lib/dnf") == str(root / "usr/share/dnf")
    os.remove(str(root / "var/lib/dnf"))
    os.symlink("../../../../../../etc", str(root / "var/lib/dnf"))
    assert resolve_in_root(str(root), "/var/lib/dnf") == str(root / "etc")
    os.remove(str(root / "var/lib/dnf"))
    os.symlink("dnf", str(root / "var/lib/dnf"))
    with pytest.raises(Exception, match="too many levels of symbolic links"):
        resolve_in_root(str(root), "/var/lib/dnf")


def imgbased_persist(tmp_path, *rpms):
    """imgbased-persist's store and its configuration as imgbased ships it."""
    src = tmp_path / "persisted-rpms"
    src.mkdir()
    for path in rpms:
        shutil.copy2(path, str(src))
    conf = tmp_path / "imgbased-persist.conf"
    conf.write_text("[main]\nenabled=1\nexcluded_pkgs=ovirt-node-ng-image-update\n")
    return str(src), str(conf)


def test_import_imgbased_takes_over_its_store(tmp_path, std_set):
    """Capture off, every RPM persisted with its key, the files gone from
    imgbased's store so imgbased's rpmpersistence installs nothing twice;
    a replay of the result installs them."""
    src, conf = imgbased_persist(tmp_path, std_set.path("signed"), std_set.path("unsigned"))
    root = bed.make_root(tmp_path / "root")
    subprocess.run(["rpm", "--root", root, "--import", std_set.key.pubkey],
                   env=bed.tool_env(), check=True)
    store = str(tmp_path / "store")
    res = cli("--store", store, "import-imgbased", "--from", src, "--imgbased-conf", conf,
              "--installroot", root)
    assert res.returncode == 0, res.stderr
    assert "enabled=0\n" in open(conf).read()
    assert set(listed(store)) == {"signed-1.0-1.noarch", "unsigned-1.0-1.noarch"}
    assert listed(store)["unsigned-1.0-1.noarch"]["origin"] == "imgbased-persist"
    assert os.listdir(src) == []
    assert key_files(Store(store).layout)
    new = bed.make_root(tmp_path / "new")
    res = cli("replay", "--installroot", new, "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert bed.installed(new) == {"signed-1.0-1.noarch", "unsigned-1.0-1.noarch"}


def test_import_imgbased_no_import_only_turns_capture_off(tmp_path, std_set):
    src, conf = imgbased_persist(tmp_path, std_set.path("unsigned"))
    store = str(tmp_path / "store")
    res = cli("--store", store, "import-imgbased", "--from", src, "--imgbased-conf", conf,
              "--no-import")
    assert res.returncode == 0, res.stderr
    assert "enabled=0\n" in open(conf).read()
    assert os.listdir(src) == [os.path.basename(std_set.path("unsigned"))]
    assert not os.path.exists(store)


def test_import_imgbased_bad_input_is_one_line_and_keeps_files(tmp_path, std_set):
    """A missing source is a usage error; a bad RPM adds nothing and deletes
    nothing."""
    res = cli("--store", str(tmp_path / "s"), "import-imgbased", "--from",
              str(tmp_path / "nope"), "--imgbased-conf", str(tmp_path / "none.conf"))
    assert res.returncode == 2
    assert "is not a directory" in one_line_error(res)
    src, conf = imgbased_persist(tmp_path, std_set.path("unsigned"))
    with open(os.path.join(src, "broken-1-1.noarch.rpm"), "w") as f:
        f.write("not an rpm")
    res = cli("--store", str(tmp_path / "s"), "import-imgbased", "--from", src,
              "--imgbased-conf", conf)
    assert res.returncode == 1
    one_line_error(res)
    assert len(os.listdir(src)) == 2
