"""The dnf plugin persist_rpm, driven through the real dnf with --installroot.

Every test loads dnf-plugins/persist_rpm.py with a generated plugin conf dir
and checks what can be observed: files and provenance in the store, the
store's repodata read by real dnf, the rpmdb, exit codes and messages.
"""

import json
import os
import random
import shlex
import shutil
import subprocess

import pytest

from persistrepo.store.keys import key_files
from persistrepo.store.store import Store
from tests.support import bed
from tests.support.storebed import REPO, cli, spoil

PLUGIN_DIR = os.path.join(REPO, "dnf-plugins")
STORE = "var/imgbased/persisted_packages"


class Dnf(object):
    """dnf with the plugin enabled in one root, and a look at its store."""

    def __init__(self, root, confdir, repos):
        self.root = root
        self.confdir = confdir
        self.repos = repos
        self.store = os.path.join(root, STORE)
        self.conf()

    def conf(self, **keys):
        with open(os.path.join(self.confdir, "persist_rpm.conf"), "w") as f:
            f.write("[main]\nenabled=1\n")
            for key, value in sorted(keys.items()):
                f.write("%s=%s\n" % (key, value))

    def __call__(self, *args, **kw):
        kw.setdefault("repos", self.repos)
        return bed.run_dnf(self.root, list(args), plugin_dir=PLUGIN_DIR,
                           plugin_conf_dir=self.confdir, env={"PYTHONPATH": REPO}, **kw)

    def plain(self, *args, **kw):
        """dnf without any plugin (as before the plugin was installed)."""
        kw.setdefault("repos", self.repos)
        return bed.run_dnf(self.root, list(args), **kw)

    def stored(self):
        """{nevra: entry} of the store."""
        return dict((e["nevra"], e) for e in Store(self.store).entries()) \
            if os.path.exists(self.store) else {}

    def status(self, *args):
        res = self("persist", "status", "--json", *args)
        assert res.returncode in (0, 100), res
        return json.loads(res.stdout)


@pytest.fixture
def dnf(root, std_set, tmp_path):
    confdir = tmp_path / "pluginconf"
    confdir.mkdir()
    return Dnf(root, str(confdir), {"std": std_set.repo})


@pytest.fixture
def extra_repo(builder, tmp_path):
    """Factory: extra_repo(spec, ...) -> a createrepo_c repo of those builds."""
    def make(*specs):
        paths = [builder.build(**spec) for spec in specs]
        return bed.make_repo(tmp_path / ("repo%d" % random.randrange(1 << 30)), paths)
    return make


# -- capture -------------------------------------------------------------------

def test_install_with_dependency_records_provenance(dnf, std_set, tmp_path):
    res = dnf("install", "tool")
    assert res.returncode == 0, res
    assert "persist_rpm: persisted libtool-dep-1.0-1.noarch, tool-2.0-1.noarch" in res.stdout
    stored = dnf.stored()
    assert set(stored) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert stored["tool-2.0-1.noarch"]["reason"] == "user"
    assert stored["libtool-dep-1.0-1.noarch"]["reason"] == "dependency"
    assert {e["origin"] for e in stored.values()} == {"std"}
    assert {e["method"] for e in stored.values()} == {"dnf"}
    assert os.path.isfile(os.path.join(dnf.store, "tool-2.0-1.noarch.rpm"))

    # The store is a repository real dnf can install from, on its own.
    fresh = bed.make_root(tmp_path / "fresh")
    res = bed.run_dnf(fresh, ["--repofrompath=persisted," + dnf.store,
                              "--repo=persisted", "install", "tool"], repos={})
    assert res.returncode == 0, res
    assert bed.installed(fresh) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_capture_runs_in_a_process_started_before_rpm_and_says_so(dnf):
    """The plugin's capture process (loaded while dnf downloaded, files read
    ahead while rpm ran) captures; dnf -v says which process did. One that
    cannot answer leaves the capture to dnf's own process."""
    res = dnf("-v", "install", "tool")
    assert res.returncode == 0, res
    assert "persist_rpm: captured by its process" in res.output, res
    assert "persist_rpm: persisted libtool-dep-1.0-1.noarch, tool-2.0-1.noarch" in res.stdout
    assert set(dnf.stored()) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert cli("--store", dnf.store, "verify").returncode == 0

    from persistrepo.capture.process import CaptureProcess
    from persistrepo.config import Settings
    ended = CaptureProcess(subprocess.Popen(["true"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE))
    ended.read(["/nonexistent.rpm"])
    assert ended.capture(Settings(), dnf.root, [], [], "dnf", "dnf persist add {name}") is None


def test_upgrade_then_downgrade_keep_only_the_installed_version(dnf):
    assert dnf("install", "tool-1.0").returncode == 0
    assert "tool-1.0-1.noarch" in dnf.stored()

    res = dnf("upgrade", "tool")
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert dnf.stored()["tool-2.0-1.noarch"]["reason"] == "user"
    assert not os.path.exists(os.path.join(dnf.store, "tool-1.0-1.noarch.rpm"))

    res = dnf("downgrade", "tool")
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert bed.installed(dnf.root) == set(dnf.stored())


def test_distro_sync_and_epoch_upgrade(dnf):
    assert dnf("install", "epochy-2.0").returncode == 0
    assert set(dnf.stored()) == {"epochy-2.0-1.noarch"}
    res = dnf("distro-sync")
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"epochy-1:1.0-1.noarch"}
    assert bed.installed(dnf.root) == {"epochy-1:1.0-1.noarch"}


def test_reinstall_captures_again_and_remove_keeps_it_installed(dnf):
    assert dnf("install", "unsigned").returncode == 0
    res = dnf("persist", "remove", "unsigned")
    assert res.returncode == 0, res
    assert "removed unsigned-1.0-1.noarch (it stays installed;" in res.stdout
    assert dnf.stored() == {}
    assert bed.installed(dnf.root) == {"unsigned-1.0-1.noarch"}

    res = dnf("reinstall", "unsigned")
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"unsigned-1.0-1.noarch"}


def test_erase_drops_from_store_unless_remove_on_erase_is_off(dnf):
    assert dnf("install", "tool", "unsigned").returncode == 0
    res = dnf("remove", "tool")
    assert res.returncode == 0, res
    assert "persist_rpm: dropped" in res.stdout
    # clean_requirements_on_remove took the dependency too
    assert set(dnf.stored()) == {"unsigned-1.0-1.noarch"}

    dnf.conf(remove_on_erase=0)
    assert dnf("remove", "unsigned").returncode == 0
    assert set(dnf.stored()) == {"unsigned-1.0-1.noarch"}
    assert bed.installed(dnf.root) == set()


def test_local_file_given_as_relative_path(dnf, std_set, monkeypatch):
    monkeypatch.chdir(os.path.dirname(std_set.path("unsigned")))
    res = dnf("install", "./" + os.path.basename(std_set.path("unsigned")), repos={})
    assert res.returncode == 0, res
    entry = dnf.stored()["unsigned-1.0-1.noarch"]
    assert entry["origin"] == "@commandline"
    assert entry["reason"] == "user"


def test_http_repo_with_keepcache_0(dnf, std_set, http_serve):
    server = http_serve(std_set.repo)
    res = dnf("install", "tool", repos={"web": server.url}, keepcache=False)
    assert res.returncode == 0, res
    assert any(path.endswith(".rpm") for path, _ in server.requests)
    assert bed.cached_rpms(dnf.root) == []          # dnf deleted its downloads
    stored = dnf.stored()
    assert set(stored) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert stored["tool-2.0-1.noarch"]["origin"] == "web"
    assert Store(dnf.store).verify() == []


def test_install_from_the_store_itself_is_not_copied_onto_itself(dnf, std_set):
    res = cli("--store", dnf.store, "add", std_set.path("unsigned"), tool=True)
    assert res.returncode == 0, res.stderr
    before = dnf.stored()["unsigned-1.0-1.noarch"]
    res = dnf("install", "unsigned", repos={"persisted": dnf.store})
    assert res.returncode == 0, res
    assert "error" not in res.output.lower()
    assert dnf.stored() == {"unsigned-1.0-1.noarch": before}   # method cli, same time
    assert bed.installed(dnf.root) == {"unsigned-1.0-1.noarch"}


def test_installonly_packages_keep_every_installed_version(dnf, extra_repo):
    repo = extra_repo(dict(name="kernel", version="1.0"), dict(name="kernel", version="2.0"))
    assert dnf("install", "kernel-1.0", repos={"k": repo}).returncode == 0
    res = dnf("upgrade", "kernel", repos={"k": repo})
    assert res.returncode == 0, res
    assert bed.installed(dnf.root) == {"kernel-1.0-1.noarch", "kernel-2.0-1.noarch"}
    stored = dnf.stored()
    assert set(stored) == {"kernel-1.0-1.noarch", "kernel-2.0-1.noarch"}
    assert all(e["installonly"] for e in stored.values())


def test_obsoleting_install_replaces_the_obsoleted_package(dnf, extra_repo):
    old = extra_repo(dict(name="oldtool"))
    new = extra_repo(dict(name="newtool", obsoletes=["oldtool"], provides=["oldtool = 2"]))
    assert dnf("install", "oldtool", repos={"o": old}).returncode == 0
    assert set(dnf.stored()) == {"oldtool-1.0-1.noarch"}
    res = dnf("install", "newtool", repos={"o": old, "n": new})
    assert res.returncode == 0, res
    assert bed.installed(dnf.root) == {"newtool-1.0-1.noarch"}
    assert set(dnf.stored()) == {"newtool-1.0-1.noarch"}


def test_obsoleting_upgrade(dnf, extra_repo):
    one = extra_repo(dict(name="suite"), dict(name="addon"))
    two = extra_repo(dict(name="suite", version="2.0", obsoletes=["addon"]))
    assert dnf("install", "suite", "addon", repos={"one": one}).returncode == 0
    res = dnf("upgrade", repos={"one": one, "two": two})
    assert res.returncode == 0, res
    assert bed.installed(dnf.root) == {"suite-2.0-1.noarch"}
    assert set(dnf.stored()) == {"suite-2.0-1.noarch"}
    assert dnf.stored()["suite-2.0-1.noarch"]["reason"] == "user"


def test_without_the_library_dnf_still_works(dnf, root, tmp_path):
    broken = tmp_path / "broken" / "persistrepo"      # shadows any installed copy
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    res = bed.run_dnf(root, ["install", "tool"], repos=dnf.repos, plugin_dir=PLUGIN_DIR,
                      plugin_conf_dir=dnf.confdir, env={"PYTHONPATH": str(broken.parent)})
    assert res.returncode == 0, res
    assert "persist_rpm: error: cannot import persistrepo (broken on purpose)" in res.stderr
    assert bed.installed(root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_excluded_packages_and_the_setopt_override(dnf):
    dnf.conf(exclude="libtool-*")
    res = dnf("install", "tool")
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"tool-2.0-1.noarch"}

    # --setopt replaces the configured list: libtool-* is no longer excluded
    res = dnf("install", "unsigned", "signed", setopts=["persist_rpm.exclude=sign*"])
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"tool-2.0-1.noarch", "unsigned-1.0-1.noarch"}

    # an empty override excludes nothing; reinstalling captures the dependency now
    res = dnf("reinstall", "libtool-dep", "signed", setopts=["persist_rpm.exclude="])
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"tool-2.0-1.noarch", "unsigned-1.0-1.noarch",
                                 "libtool-dep-1.0-1.noarch", "signed-1.0-1.noarch"}


def test_default_excludes(dnf, extra_repo):
    repo = extra_repo(dict(name="ovirt-node-ng-image-update", version="4.5"),
                      dict(name="rhvm-appliance"))
    res = dnf("install", "ovirt-node-ng-image-update", "rhvm-appliance", repos={"i": repo})
    assert res.returncode == 0, res
    assert dnf.stored() == {}
    assert "error" not in res.output.lower()


def test_failed_pre_is_not_captured_and_exit_code_is_unchanged(dnf, root, tmp_path):
    res = dnf("install", "badpre", "unsigned")
    plain_root = bed.make_root(tmp_path / "plain")
    plain = bed.run_dnf(plain_root, ["install", "badpre", "unsigned"], repos=dnf.repos)
    assert res.returncode == plain.returncode == 1, res
    assert bed.installed(root) == bed.installed(plain_root) == {"unsigned-1.0-1.noarch"}
    assert set(dnf.stored()) == {"unsigned-1.0-1.noarch"}
    assert "Traceback" not in res.output


def test_signed_package_keeps_its_key(dnf, std_set, gpg_key):
    repos = {"std": {"baseurl": std_set.repo, "gpgcheck": 1, "gpgkey": gpg_key.pubkey}}
    res = dnf("install", "signed", repos=repos, gpgcheck=True)
    assert res.returncode == 0, res
    entry = dnf.stored()["signed-1.0-1.noarch"]
    assert entry["signed"] and entry["key_id"].endswith(gpg_key.keyid)
    keys = key_files(Store(dnf.store).layout)
    assert list(keys) == [entry["key_id"]]
    with open(keys[entry["key_id"]]) as f:
        assert "BEGIN PGP PUBLIC KEY BLOCK" in f.read()
    res = dnf("persist", "verify")         # checks the signature with the kept key
    assert res.returncode == 0, res
    assert "ok: 1 package verified" in res.stdout


@pytest.fixture
def full_store(dnf):
    """The root's store location is a 64 KiB tmpfs."""
    with bed.tmpfs(dnf.store, "64k") as store:
        yield store


def test_full_disk_store_never_breaks_dnf_and_status_reports_it(dnf, full_store,
                                                                 extra_repo):
    blob = "".join(random.choice("0123456789abcdef") for _ in range(400000))
    repo = extra_repo(dict(name="big", files={"/usr/share/big/blob": blob}))
    res = dnf("install", "big", "unsigned", repos={"b": repo, "std": dnf.repos["std"]})
    assert res.returncode == 0, res
    assert bed.installed(dnf.root) == {"big-1.0-1.noarch", "unsigned-1.0-1.noarch"}
    assert "persist_rpm: error: big-1.0-1.noarch was NOT persisted" in res.stderr
    assert "fix: dnf --installroot=%s persist add big" % dnf.root in res.stderr
    assert "Traceback" not in res.output
    [line] = [l for l in res.stderr.splitlines() if "was NOT persisted" in l]
    assert len(line) < 300 + len(dnf.root) and line.count("fix") == 1 and \
        "'persistrepo" not in line, line

    res = dnf("persist", "status")
    assert res.returncode == 100, res
    assert "capture failures (1):" in res.stdout
    assert "big-1.0-1.noarch: " in res.stdout
    report = dnf.status()
    assert [f["nevra"] for f in report["failures"]] == ["big-1.0-1.noarch"]
    assert report["at_risk"] is True
    assert "big-1.0-1.noarch" not in report["unpersisted"]     # listed once, as a failure

    # the fix command named in the error works once there is room
    subprocess.run(["umount", full_store], check=True)
    res = dnf("persist", "add", "big", repos={"b": repo})
    assert res.returncode == 0, res
    assert "persisted big-1.0-1.noarch" in res.stdout
    assert dnf.status()["failures"] == []


def test_capture_installroot_off(dnf):
    dnf.conf(capture_installroot=0)
    res = dnf("install", "tool")
    assert res.returncode == 0, res
    assert not os.path.exists(dnf.store)


def test_plugin_does_not_import_heavy_modules_at_start(dnf, root):
    probe = (
        "import json, sys, dnf\n"
        "base = dnf.Base()\n"
        "base.conf.installroot = %r\n"
        "base.conf.pluginpath = [%r]\n"
        "base.conf.pluginconfpath = [%r]\n"
        "base.init_plugins()\n"
        "base.pre_configure_plugins()\n"
        "base.configure_plugins()\n"
        "names = [p.name for p in base._plugins.plugins]\n"
        "mods = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('createrepo_c', 'persistrepo'))\n"
        "print(json.dumps([names, mods]))\n" % (root, PLUGIN_DIR, dnf.confdir))
    res = subprocess.run(["/usr/bin/python3", "-c", probe], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True,
                         env=bed.tool_env({"PYTHONPATH": REPO}))
    assert res.returncode == 0, res.stderr
    names, mods = json.loads(res.stdout)
    assert names == ["persist_rpm"]
    assert "persistrepo.config" in mods           # configured...
    assert "createrepo_c" not in mods              # ...but nothing heavy loaded
    assert "persistrepo.store.store" not in mods
    assert "persistrepo.capture.capture" not in mods


def test_persistrepo_persists_itself_before_an_image_update_runs(dnf, builder, std_set,
                                                                  http_serve, tmp_path):
    """The transaction that installs persistrepo runs without its plugin. In
    the next one the plugin fetches its own packages from their repo and
    persists them before rpm runs: the %pre of a stand-in image update (whose
    scriptlet replays the store on a Node) already finds them in the store."""
    own = [builder.build(name, files={"/usr/share/own/%s" % name: "x\n"})
           for name in ("python3-persistrepo", "python3-dnf-plugin-persist-rpm")]
    check = "ls /%s/python3-persistrepo-1.0-1.noarch.rpm || exit 1" % STORE.strip("/")
    update = builder.build("fake-image-update", pre=check)
    server = http_serve(bed.make_repo(tmp_path / "own", own + [update]))
    repos = {"persistrepo-repo": server.url}
    assert dnf.plain("install", "python3-persistrepo", "python3-dnf-plugin-persist-rpm",
                     repos=repos).returncode == 0
    assert dnf.stored() == {}

    res = dnf("install", "fake-image-update", repos=repos, keepcache=False)
    assert res.returncode == 0, res
    assert "persist_rpm: persisted python3-dnf-plugin-persist-rpm-1.0-1.noarch, " \
        "python3-persistrepo-1.0-1.noarch" in res.stdout
    stored = dnf.stored()
    assert set(stored) == {"python3-persistrepo-1.0-1.noarch", "fake-image-update-1.0-1.noarch",
                           "python3-dnf-plugin-persist-rpm-1.0-1.noarch"}
    assert stored["python3-persistrepo-1.0-1.noarch"]["origin"] == "persistrepo-repo"
    assert stored["python3-persistrepo-1.0-1.noarch"]["reason"] == "user"
    assert bed.cached_rpms(dnf.root) == []
    assert Store(dnf.store).verify() == []

    fetched = [p for p, _ in server.requests if p.endswith(".rpm")]
    assert dnf("install", "unsigned", repos=dict(repos, std=std_set.repo)).returncode == 0
    # persisted once: no package fetched again
    assert [p for p, _ in server.requests if p.endswith(".rpm")] == fetched


def test_own_packages_in_no_repository_are_a_warning(dnf, builder):
    own = builder.build("persistrepo-imgbased")
    assert dnf.plain("install", own).returncode == 0
    res = dnf("install", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: persistrepo's own package persistrepo-imgbased-1.0-1.noarch " \
        "is not persisted and no enabled repository has it" in res.stderr
    assert set(dnf.stored()) == {"unsigned-1.0-1.noarch"}


# -- dnf persist -----------------------------------------------------------------

def test_list_matches_persistrepo_list(dnf):
    assert dnf("install", "tool", "signed").returncode == 0
    for extra in ([], ["--json"]):
        ours = dnf("persist", "list", *extra)
        theirs = cli("--store", dnf.store, "list", *extra, tool=True)
        assert ours.returncode == theirs.returncode == 0, ours
        assert ours.stdout == theirs.stdout
    doc = json.loads(dnf("persist", "list", "--json").stdout)
    assert [e["nevra"] for e in doc] == ["libtool-dep-1.0-1.noarch", "signed-1.0-1.noarch",
                                         "tool-2.0-1.noarch"]
    # list loads no repos: it works with a repo that cannot be reached
    res = dnf("persist", "list", repos={"gone": "http://127.0.0.1:9/nothing"})
    assert res.returncode == 0, res
    assert "tool-2.0-1.noarch" in res.stdout
    assert "gone" not in res.output


def test_add_already_installed_packages_from_an_http_repo(dnf, std_set, http_serve):
    server = http_serve(std_set.repo)
    repos = {"web": server.url}
    assert dnf.plain("install", "tool", repos=repos).returncode == 0
    assert not os.path.exists(dnf.store)

    res = dnf("persist", "add", "tool", "libtool-dep", repos=repos)
    assert res.returncode == 0, res
    stored = dnf.stored()
    assert set(stored) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert stored["tool-2.0-1.noarch"]["reason"] == "user"
    assert stored["libtool-dep-1.0-1.noarch"]["reason"] == "dependency"
    assert stored["tool-2.0-1.noarch"]["origin"] == "web"
    assert bed.cached_rpms(dnf.root) == []

    res = dnf("persist", "add", "tool", repos=repos)
    assert res.returncode == 0, res
    assert "already persisted tool-2.0-1.noarch" in res.stdout


def test_add_refuses_what_it_cannot_find(dnf, builder, std_set):
    orphan = builder.build("orphan")
    assert dnf.plain("install", orphan, "unsigned").returncode == 0

    res = dnf("persist", "add", "nosuch")
    assert res.returncode == 1
    assert "no installed package matches 'nosuch'; nothing added" in res.stderr

    res = dnf("persist", "add", "unsigned", "orphan")
    assert res.returncode == 1
    assert "orphan-1.0-1.noarch is in no enabled repository" in res.stderr
    assert not os.path.exists(dnf.store) or dnf.stored() == {}

    res = dnf("persist", "add")
    assert res.returncode != 0
    assert "give at least one package spec" in res.stderr


def test_add_of_a_build_the_store_holds_needs_no_repository(dnf):
    assert dnf("install", "tool").returncode == 0
    res = dnf("persist", "add", "tool", repos={})
    assert res.returncode == 0, res
    assert res.stdout.strip().splitlines()[-1] == "already persisted tool-2.0-1.noarch"


def test_remove_verify_and_their_exit_codes(dnf):
    assert dnf("install", "tool").returncode == 0
    res = dnf("persist", "remove", "nosuch")
    assert res.returncode == 1
    assert "no persisted package matches 'nosuch'" in res.stderr
    assert len(dnf.stored()) == 2

    assert dnf("persist", "verify").returncode == 0
    path = os.path.join(dnf.store, "tool-2.0-1.noarch.rpm")
    with open(path, "rb") as f:
        data = f.read()
    with open(path + ".new", "wb") as f:     # a new inode: the store may hardlink
        f.write(data[:-10] + b"x" * 10)      # the session's repo file
    os.rename(path + ".new", path)
    res = dnf("persist", "verify")
    assert res.returncode == 1, res
    assert "tool-2.0-1.noarch.rpm" in res.stdout
    assert "problem in %s" % dnf.store in res.stderr


def test_capture_and_dnf_persist_say_what_the_repodata_leaves_out(dnf):
    """A stored file gone bad is left out of the repodata each write makes;
    capture and `dnf persist` say so, and still do their work."""
    assert dnf("install", "tool").returncode == 0
    left_out = spoil(dnf.store, "libtool-dep-1.0-1.noarch")
    res = dnf("install", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res
    assert "unsigned-1.0-1.noarch" in dnf.stored()
    res = dnf("persist", "remove", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res
    assert "unsigned-1.0-1.noarch" not in dnf.stored()
    res = dnf("persist", "add", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res


def test_status_tells_image_packages_apart_with_a_manifest(dnf, std_set, tmp_path):
    assert dnf("install", "tool", "signed").returncode == 0
    # rpm -i bypasses dnf: not captured
    subprocess.run(["rpm", "--root", dnf.root, "-i", std_set.path("unsigned")],
                   check=True, env=bed.tool_env())
    # removed without the plugin: still persisted
    assert dnf.plain("remove", "signed", "tool").returncode == 0

    report = dnf.status()
    assert report["image"]["known"] is False
    assert report["unpersisted"] == ["bed-base-1.0-1.noarch", "unsigned-1.0-1.noarch"]
    # what replay's planner does: install tool again; refuse signed, whose key
    # neither the store nor the root has
    assert report["not_installed"] == ["tool-2.0-1.noarch"]
    [broken] = report["broken"]
    assert broken["nevra"] == "signed-1.0-1.noarch", broken
    assert "signed with key" in broken["reason"] and "neither the store" in broken["reason"]

    manifest = tmp_path / "image.txt"
    manifest.write_text("# rpm -qa of the image\nbed-base-1.0-1.noarch\n")
    res = dnf("persist", "status", "--image-manifest", str(manifest))
    assert res.returncode == 100, res
    assert "image: manifest %s (1 package)" % manifest in res.stdout
    assert "  unsigned-1.0-1.noarch" in res.stdout
    assert "  bed-base" not in res.stdout
    assert "  signed-1.0-1.noarch" in res.stdout

    # persistrepo status says the same
    theirs = cli("--store", dnf.store, "status", "--installroot", dnf.root,
                 "--image-manifest", str(manifest), "--json", tool=True)
    ours = dnf("persist", "status", "--image-manifest", str(manifest), "--json")
    assert theirs.returncode == ours.returncode == 100, theirs.stderr
    assert theirs.stdout == ours.stdout

    assert dnf("persist", "remove", "signed", "tool").returncode == 0
    assert dnf("persist", "add", "unsigned").returncode == 0
    res = dnf("persist", "status", "--image-manifest", str(manifest))
    assert res.returncode == 0, res
    assert "nothing at risk" in res.stdout


def test_status_with_an_image_root(dnf, tmp_path):
    image = bed.make_root(tmp_path / "image")       # holds bed-base only
    assert dnf("install", "unsigned").returncode == 0
    res = dnf("persist", "status", "--image-root", image)
    assert res.returncode == 0, res
    assert "image: image root %s (1 package)" % image in res.stdout
    assert "nothing at risk" in res.stdout
    res = dnf("persist", "status", "--image-root", str(tmp_path / "nope"))
    assert res.returncode == 2
    assert "no such directory" in res.stderr


def test_a_root_without_an_rpm_database_is_exit_2_everywhere(dnf, tmp_path):
    """Bad input, as persistrepo(8) says: replay, status, dnf persist status."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dnf("install", "tool").returncode == 0
    for res in (dnf("persist", "status", "--image-root", str(empty)),
                cli("--store", dnf.store, "status", "--image-root", empty, tool=True),
                cli("--store", dnf.store, "status", "--installroot", empty, tool=True),
                cli("--store", dnf.store, "replay", "--installroot", empty, "--dry-run",
                    tool=True)):
        assert res.returncode == 2, res
        assert "no rpm database" in res.stderr, res
        assert not os.path.exists(os.path.join(str(empty), "var")), res


def test_failed_capture_of_a_local_rpm_names_a_fix_that_works(dnf, full_store, builder,
                                                             tmp_path):
    """No repo has a local file: the fix is `persistrepo add` with its path."""
    blob = "".join(random.choice("0123456789abcdef") for _ in range(400000))
    local = builder.build("biglocal", files={"/usr/share/big/blob": blob})
    res = dnf("install", local, repos={})
    assert res.returncode == 0, res
    fix = "fix: persistrepo --store %s add %s" % (dnf.store, local)
    assert fix in res.stderr, res
    subprocess.run(["umount", full_store], check=True)
    command = res.stderr.split("fix: ", 1)[1].split()[1:]
    assert cli(*command, tool=True).returncode == 0
    assert set(dnf.stored()) == {"biglocal-1.0-1.noarch"}


def test_persist_list_patterns_verify_json_and_remove_dry_run(dnf):
    assert dnf("install", "tool").returncode == 0
    res = dnf("persist", "list", "tool", "nosuch")
    assert res.returncode == 1 and "package nosuch is not persisted" in res.stderr
    assert [l.split()[0] for l in res.stdout.splitlines()] == ["PACKAGE", "tool-2.0-1.noarch"]
    res = dnf("persist", "verify", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["checked"]["packages"] == 2
    res = dnf("persist", "remove", "--dry-run", "tool", "libtool-dep")
    assert res.returncode == 0, res
    assert res.stdout.splitlines() == ["would remove libtool-dep-1.0-1.noarch",
                                       "would remove tool-2.0-1.noarch"]
    assert set(dnf.stored()) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_status_names_a_fix_that_works_for_rpm_i_packages(dnf, std_set):
    """A package installed with plain rpm -i from a package cache: status
    names `persistrepo add` with that file, and the command works."""
    os.makedirs(dnf.store)  # as the package ships it: empty
    cache = os.path.join(dnf.root, "var/cache/dnf/local-0123/packages")
    os.makedirs(cache)
    path = shutil.copy(std_set.path("unsigned"), cache)
    subprocess.run(["rpm", "--root", dnf.root, "-i", path], check=True, env=bed.tool_env())
    report = dnf.status()
    fix = report["fixes"]["unsigned-1.0-1.noarch"]
    assert fix == "persistrepo --store %s add %s" % (dnf.store, path)
    assert report["fixes"]["bed-base-1.0-1.noarch"] == \
        "dnf --installroot=%s persist add bed-base" % dnf.root
    assert cli(*fix.split()[1:], tool=True).returncode == 0
    assert "unsigned-1.0-1.noarch" not in dnf.status()["unpersisted"]


def test_status_fix_for_a_local_file_works_where_the_file_is(dnf, builder, tmp_path):
    """Installed from a local file while the plugin did not capture: status
    names `persistrepo add` with the file's name, which works as printed in
    the directory holding the file."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    local = shutil.copy(builder.build("localfix"), str(downloads))
    os.makedirs(dnf.store)  # as the package ships it: empty
    assert dnf.plain("install", local, repos={}).returncode == 0
    fix = dnf.status()["fixes"]["localfix-1.0-1.noarch"]
    assert fix == "persistrepo --store %s add %s" % (dnf.store, os.path.basename(local))
    res = dnf("persist", "status")
    assert "  localfix-1.0-1.noarch  (fix: %s)" % fix in res.stdout, res
    words = shlex.split(fix)
    assert words[0] == "persistrepo", words
    res = cli(*words[1:], tool=True, cwd=str(downloads))
    assert res.returncode == 0, res
    assert set(dnf.stored()) == {"localfix-1.0-1.noarch"}
    assert "localfix-1.0-1.noarch" not in dnf.status()["unpersisted"]


def test_status_fix_with_another_store_adds_to_that_store(dnf, std_set, http_serve, tmp_path):
    """status --store OTHER: its `dnf persist add` fix carries --store and
    --installroot, and the real dnf, run as printed, adds to OTHER only."""
    repos = {"web": http_serve(std_set.repo).url}
    assert dnf.plain("install", "unsigned", repos=repos).returncode == 0
    other = str(tmp_path / "other")
    os.makedirs(other)
    fix = dnf.status("--store", other)["fixes"]["unsigned-1.0-1.noarch"]
    assert fix == "dnf --installroot=%s persist --store %s add unsigned" % (dnf.root, other)
    words = shlex.split(fix)
    assert words[:2] == ["dnf", "--installroot=%s" % dnf.root], words  # as bed.run_dnf runs it
    res = dnf(*words[2:], repos=repos)
    assert res.returncode == 0, res
    assert [e["nevra"] for e in Store(other).entries()] == ["unsigned-1.0-1.noarch"]
    assert dnf.stored() == {}
    assert "unsigned-1.0-1.noarch" not in dnf.status("--store", other)["unpersisted"]


def help_options(text, header):
    """The long options listed under header in a --help text."""
    section = text.split(header, 1)[1]
    found = set()
    for line in section.splitlines()[1:]:
        if line.strip() and not line.startswith(" "):
            break
        found.update(w.rstrip(",") for w in line.split() if w.startswith("--"))
    return found


def test_dnf_persist_takes_the_options_of_the_one_definition(dnf, tmp_path):
    from persistrepo.front import subcommands
    res = dnf("persist", "--help")
    assert res.returncode == 0, res
    assert help_options(res.stdout, "Persist command-specific options:") == \
        set(subcommands.plugin_options("dnf"))
    for long, option in sorted(subcommands.plugin_options("dnf").items()):
        if long == "--store":
            continue
        words = [long] + (["x"] if option.takes_value else [])
        res = dnf("persist", "add", "tool", *words)  # add takes none of them
        assert res.returncode == 1 and "%s goes with" % long in res.stderr, res

    assert dnf("install", "tool").returncode == 0
    other = str(tmp_path / "other")
    res = cli("--store", other, "add", os.path.join(dnf.store, "tool-2.0-1.noarch.rpm"))
    assert res.returncode == 0, res.stderr
    for words in (["--store", other, "list", "--json"], ["list", "--json", "--store", other]):
        res = dnf("persist", *words)
        assert res.returncode == 0, res
        assert [e["nevra"] for e in json.loads(res.stdout)] == ["tool-2.0-1.noarch"]


def test_fixes_dnf_persist_prints_work_as_printed(dnf, tmp_path):
    """remove of nothing names dnf's own list, with the store given."""
    assert dnf("install", "tool").returncode == 0
    res = dnf("persist", "remove", "nosuch")
    assert res.returncode == 1
    advice = res.stderr.split("see '", 1)[1].split("'", 1)[0]
    assert advice == "dnf --installroot=%s persist list" % dnf.root, res
    res = dnf(*advice.split()[2:])
    assert res.returncode == 0 and "tool-2.0-1.noarch" in res.stdout, res
