"""The yum plugin yum-plugins/persist_rpm.py, run by yum 3.4.3's hook path
under Python 2.7.

yum cannot run here, so the plugin is driven through tests/support/yum343, a harness
that mirrors yum 3.4.3's plugin API (each piece names the upstream lines it
mirrors; upstream commit 02a6d7ad "Bump version to 3.4.3"):
- yum/plugins.py: API_VERSION, TYPE_CORE/TYPE_INTERACTIVE, YumPlugins
  (plugins.py 119-361: conf lookup, enabled flag, requires_api_version,
  plugin_type filter, <slot>_hook, atexit 'close', 'config' at init) and the
  conduit classes (375-630: confString/confBool, registerCommand, getConf,
  getRpmDB, getTsInfo, getDownloadPackages);
- yum/transactioninfo.py: TransactionData.add*/getMembersWithState/makelists
  and TransactionMember (transactioninfo.py 73-790), so an update is
  TS_UPDATE + TS_UPDATED, a reinstall one install member with reinstall=True;
- yum/__init__.py: YumBase.downloadPkgs (1910-2046), runTransaction
  (1456-1571: pretrans, ts.run, YumRPMTransError without posttrans on a
  non-empty error list, cleanUsedHeadersPackages BEFORE posttrans when
  keepcache=0, posttrans, verifyTransaction), cleanUsedHeadersPackages
  (2183-2219) and the tsInfo calls of install/update/remove/downgrade/
  reinstall (3640-3667, 3713-3719, 4052, 4441-4444, 4217-4260);
- cli.py: YumBaseCli.registerCommand/doCommands and yummain's exit codes.

The py3 test process builds RPMs (rpmfluff), roots and repos; a Python 2.7
child (tests/support/yum343/run.py) runs the hooks; the rpm transaction is real (rpm's
TransactionSet.run in a child with rpm's bindings, tests/support/yum343/rpmts.py) and
the rpmdb the plugin queries is the root's real rpmdb (read with `rpm --root
-qa`). Without rpm bindings under 2.7 the plugin's capture queues the
packages and runs the py3 `persistrepo ingest`, which writes the repodata; on
the el7 stack (docs/testing.md) the 2.7 has EL7's rpm 4.11.3 and
createrepo_c 0.10.0 bindings, the plugin writes the store itself, and rpm
4.11.3 writes the roots' Berkeley DB rpmdbs. Nothing is mocked.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from persistrepo.store import failures, record
from tests.support import bed
from tests.support.storebed import cli, spoil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(REPO, "tests", "support", "yum343")
PLUGIN_DIR = os.path.join(REPO, "yum-plugins")
PLUGIN = os.path.join(PLUGIN_DIR, "persist_rpm.py")
STORE = "var/imgbased/persisted_packages"
DEFAULT_PY27 = "/root/.pyenv/versions/2.7.18/bin/python"
INGEST = os.path.join(os.path.dirname(sys.executable), "persistrepo")
# The interpreter whose rpm bindings run the harness's rpm transactions: the
# stack's (EL7's 2.7 with rpm 4.11.3, so the rpmdbs are EL7's Berkeley DB), else this one.
RPM_PYTHON = os.environ.get("PERSISTREPO_RPM_PYTHON") or sys.executable


def python27():
    """The Python 2.7 interpreter: $PERSISTREPO_PYTHON27, else the pyenv one,
    else python2.7 on PATH (Fedora's). A missing interpreter fails the test
    (under CI=true and everywhere else): the 2.7 run is the point of these
    tests, it is never skipped."""
    path = os.environ.get("PERSISTREPO_PYTHON27") or (
        DEFAULT_PY27 if os.path.exists(DEFAULT_PY27) else shutil.which("python2.7"))
    path = path or DEFAULT_PY27
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("no Python 2.7 interpreter at %s (set PERSISTREPO_PYTHON27)%s"
                    % (path, "; CI=true requires one" if os.environ.get("CI") == "true"
                       else ""))
    out = subprocess.check_output([path, "-c", "import sys; print(sys.version_info[:2])"])
    assert out.strip() == b"(2, 7)", out
    return path


class Result(object):
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.harness = None
        for line in proc.stdout.splitlines():
            if line.startswith("HARNESS "):
                self.harness = json.loads(line[len("HARNESS "):])

    def members(self):
        return [tuple(m) for m in self.harness["members"]]

    def __str__(self):
        return "exit %d\n--- stdout\n%s--- stderr\n%s" % (self.returncode, self.stdout,
                                                          self.stderr)

    __repr__ = __str__


class Yum(object):
    """One install root, a repo served over HTTP, the plugin and its conf."""

    def __init__(self, tmp_path, std, server, python):
        self.tmp = tmp_path
        self.std = std
        self.python = python
        self.root = bed.make_root(tmp_path / "root")
        self.store = os.path.join(self.root, STORE)
        self.confdir = str(tmp_path / "pluginconf")
        os.mkdir(self.confdir)
        self.repos = {"bedrepo": {"baseurl": server.url, "dir": std.repo}}
        self.cachedir = os.path.join(self.root, "var/cache/yum")
        self.conf()

    def conf(self, **keys):
        keys.setdefault("ingest_command", INGEST)
        with open(os.path.join(self.confdir, "persist_rpm.conf"), "w") as f:
            f.write("[main]\nenabled=1\n")
            for key, value in sorted(keys.items()):
                f.write("%s=%s\n" % (key, value))

    def _run(self, scenario, python=None):
        path = str(self.tmp / "scenario.json")
        scenario.update(pluginpath=[PLUGIN_DIR], pluginconfpath=[self.confdir], repos=self.repos,
                        conf=dict({"installroot": self.root, "cachedir": self.cachedir},
                                  **scenario.get("conf", {})))
        with open(path, "w") as f:
            json.dump(scenario, f)
        env = bed.tool_env({"PYTHONPATH": REPO, "YUM343_RPM_PYTHON": RPM_PYTHON})
        proc = subprocess.run([python or self.python, os.path.join(HARNESS, "run.py"), path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, timeout=300)
        return Result(proc)

    def ref(self, name, version=None):
        return {"repo": "bedrepo", "file": os.path.basename(self.std.path(name, version))}

    def transaction(self, ops, python=None, types=None, **conf):
        scenario = {"ops": ops, "conf": conf}
        if types is not None:
            scenario["plugin_types"] = types
        return self._run(scenario, python)

    def command(self, *argv):
        return self._run({"cli": list(argv)})

    def stored(self):
        index = os.path.join(self.store, ".persistrepo", "index.json")
        return dict((e["nevra"], e) for e in record.load_index(index).entries())

    def files(self):
        if not os.path.isdir(self.store):
            return set()
        return set(n for n in os.listdir(self.store) if n.endswith(".rpm"))

    def staged(self):
        """Files left in the plugin's staging area."""
        found = []
        for dirpath, _, names in os.walk(os.path.join(self.store, ".persistrepo",
                                                      "yum-staging")):
            found.extend(os.path.join(dirpath, n) for n in names)
        return found

    def downloaded(self):
        found = []
        for dirpath, _, names in os.walk(self.cachedir):
            found.extend(n for n in names if n.endswith(".rpm"))
        return found

    def repoquery(self):
        """NEVRAs of the store's repodata, as real dnf reads them."""
        fresh = bed.make_root(self.tmp / ("q%d" % len(os.listdir(str(self.tmp)))),
                              base=False)
        res = bed.run_dnf(fresh, ["--repofrompath=persisted," + self.store,
                                  "--repo=persisted", "repoquery", "-q",
                                  "--qf", "%{name}-%{evr}.%{arch}"], repos={})
        assert res.returncode == 0, res
        return set(res.stdout.split())


@pytest.fixture
def yum(tmp_path, std_set, http_serve):
    return Yum(tmp_path, std_set, http_serve(std_set.repo), python27())


def ok(res):
    assert res.returncode == 0, res
    assert "Traceback" not in res.stderr, res
    return res


def rpm_install(root, path):
    subprocess.run(["rpm", "--root", root, "-U", "--nodeps", path], check=True,
                   env=bed.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- capture ------------------------------------------------------------------

def test_install_persists_the_downloaded_file_after_yum_deleted_it(yum, gpg_key):
    subprocess.run(["rpm", "--root", yum.root, "--import", gpg_key.pubkey], check=True,
                   env=bed.tool_env())
    res = ok(yum.transaction([dict(op="install", **yum.ref("signed"))]))
    assert res.harness["python"] == [2, 7]
    assert res.members() == [("signed", "1.0", 20, "user", False)]  # TS_INSTALL
    assert "persist_rpm: persisted signed-1.0-1.noarch" in res.stdout, res
    assert bed.installed(yum.root) == {"signed-1.0-1.noarch"}
    # yum (keepcache=0) deleted its download before posttrans; the store has it
    assert yum.downloaded() == []
    assert yum.files() == {"signed-1.0-1.noarch.rpm"}
    entry = yum.stored()["signed-1.0-1.noarch"]
    assert (entry["method"], entry["origin"], entry["reason"]) == ("yum", "bedrepo", "user")
    assert entry["signed"] and entry["key_id"].endswith(gpg_key.keyid)
    keys = os.listdir(os.path.join(yum.store, ".persistrepo", "keys"))
    assert [k[-12:-4] for k in keys] == [gpg_key.keyid]
    assert yum.repoquery() == {"signed-1.0-1.noarch"}
    assert yum.staged() == []
    assert not os.listdir(os.path.join(yum.store, ".persistrepo", "incoming"))


def test_dependency_install_records_the_reason(yum):
    res = ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                              dict(op="dep", **yum.ref("libtool-dep"))]))
    assert res.members() == [("libtool-dep", "1.0", 20, "dep", False),
                             ("tool", "1.0", 20, "user", False)]
    stored = yum.stored()
    assert stored["tool-1.0-1.noarch"]["reason"] == "user"
    assert stored["libtool-dep-1.0-1.noarch"]["reason"] == "dependency"
    assert yum.repoquery() == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_update_of_a_user_package_is_captured_and_replaces_the_old(yum):
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    res = ok(yum.transaction([dict(op="update", old="tool", **yum.ref("tool", "2.0"))]))
    # the `yum update tool` shape: TS_UPDATE for the new, TS_UPDATED for the old
    assert res.members() == [("tool", "1.0", 90, "user", False),
                             ("tool", "2.0", 10, "user", False)]
    assert "persist_rpm: persisted tool-2.0-1.noarch" in res.stdout, res
    assert set(yum.stored()) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert yum.files() == {"tool-2.0-1.noarch.rpm", "libtool-dep-1.0-1.noarch.rpm"}
    assert yum.repoquery() == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_obsoleting_package_is_captured_and_the_obsoleted_dropped(yum, builder):
    old = builder.build("oldtool", files={"/usr/share/bed/oldtool.txt": "old\n"})
    new = builder.build("newtool", obsoletes=["oldtool"],
                        files={"/usr/share/bed/newtool.txt": "new\n"})
    local = [{"local": shutil.copy(p, str(yum.tmp))} for p in (old, new)]
    ok(yum.transaction([dict(op="install", **local[0])]))
    assert "oldtool-1.0-1.noarch" in yum.stored()
    res = ok(yum.transaction([dict(op="install", **local[1])]))
    assert res.members() == [("newtool", "1.0", 60, "user", False),   # TS_OBSOLETING
                             ("oldtool", "1.0", 50, "user", False)]   # TS_OBSOLETED
    assert bed.installed(yum.root) == {"newtool-1.0-1.noarch"}
    assert set(yum.stored()) == {"newtool-1.0-1.noarch"}
    assert "persist_rpm: dropped oldtool-1.0-1.noarch from the store" in res.stdout, res


def test_reinstall_captures_a_package_installed_before_the_plugin(yum):
    rpm_install(yum.root, yum.std.path("unsigned"))
    assert yum.stored() == {}
    res = ok(yum.transaction([dict(op="reinstall", **yum.ref("unsigned"))]))
    assert res.members() == [("unsigned", "1.0", 20, "user", True)]
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert set(yum.stored()) == {"unsigned-1.0-1.noarch"}
    assert yum.stored()["unsigned-1.0-1.noarch"]["method"] == "yum"


def test_downgrade_replaces_the_newer_version(yum):
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "2.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    res = ok(yum.transaction([dict(op="downgrade", old="tool", **yum.ref("tool", "1.0"))]))
    assert res.members() == [("tool", "1.0", 20, "user", False),
                             ("tool", "2.0", 40, "user", False)]   # TS_ERASE of the old
    assert bed.installed(yum.root) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert set(yum.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert yum.repoquery() == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_erase_drops_the_package_unless_remove_on_erase_is_off(yum):
    ok(yum.transaction([dict(op="install", **yum.ref("unsigned")),
                        dict(op="install", **yum.ref("epochy", "1.0"))]))
    assert set(yum.stored()) == {"unsigned-1.0-1.noarch", "epochy-1:1.0-1.noarch"}
    res = ok(yum.transaction([dict(op="erase", name="unsigned")]))
    assert "persist_rpm: dropped unsigned-1.0-1.noarch from the store" in res.stdout, res
    assert set(yum.stored()) == {"epochy-1:1.0-1.noarch"}
    assert yum.repoquery() == {"epochy-1:1.0-1.noarch"}

    yum.conf(remove_on_erase="no")
    ok(yum.transaction([dict(op="erase", name="epochy")]))
    assert bed.installed(yum.root) == set()
    assert set(yum.stored()) == {"epochy-1:1.0-1.noarch"}


def test_local_install_records_commandline_origin_and_keeps_the_file(yum):
    local = shutil.copy(yum.std.path("unsigned"), str(yum.tmp / "unsigned.rpm"))
    res = ok(yum.transaction([{"op": "install", "local": local}]))
    assert "persist_rpm: persisted unsigned-1.0-1.noarch" in res.stdout, res
    entry = yum.stored()["unsigned-1.0-1.noarch"]
    assert (entry["origin"], entry["method"]) == ("@commandline", "yum")
    assert os.path.isfile(local)
    assert yum.staged() == []


def test_core_only_yum_loads_the_plugin_without_the_command(yum):
    """yum-cron and other API users load TYPE_CORE plugins only and have no
    registerCommand: capture works, config_hook does not raise."""
    res = ok(yum.transaction([dict(op="install", **yum.ref("unsigned"))], types=[0]))
    assert "Loaded plugins: persist_rpm" in res.stdout, res
    assert set(yum.stored()) == {"unsigned-1.0-1.noarch"}


def test_capture_installroot_off_captures_nothing_in_other_roots(yum):
    yum.conf(capture_installroot="false")
    ok(yum.transaction([dict(op="install", **yum.ref("unsigned"))]))
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert yum.files() == set()


def test_install_from_the_store_as_a_file_repo_is_not_captured_again(yum):
    ok(yum.transaction([dict(op="install", **yum.ref("unsigned"))]))
    before = yum.stored()["unsigned-1.0-1.noarch"]
    yum.conf(remove_on_erase=0)
    ok(yum.transaction([dict(op="erase", name="unsigned")]))
    # the replay shape: the store itself as a file: repo (yum uses the file in
    # place and cleanUsedHeadersPackages leaves it alone)
    yum.repos["persisted"] = {"baseurl": "file://" + yum.store, "dir": yum.store}
    res = ok(yum.transaction([{"op": "install", "repo": "persisted",
                               "file": "unsigned-1.0-1.noarch.rpm"}], debuglevel=3))
    assert "not persisting unsigned-1.0-1.noarch: installed from the store itself" \
        in res.stdout, res
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert yum.stored()["unsigned-1.0-1.noarch"] == before
    assert os.path.isfile(os.path.join(yum.store, "unsigned-1.0-1.noarch.rpm"))
    assert yum.staged() == []


def test_failed_transaction_persists_nothing_and_leaves_no_staging(yum, builder):
    ok(yum.transaction([dict(op="install", **yum.ref("unsigned"))]))
    clash = builder.build("clash", files={"/usr/share/bed/unsigned.txt": "other\n"})
    local = shutil.copy(clash, str(yum.tmp))
    res = yum.transaction([{"op": "install", "local": local},
                           dict(op="install", **yum.ref("tool", "1.0")),
                           dict(op="dep", **yum.ref("libtool-dep"))])
    # rpm refused to run it (file conflict): YumRPMTransError, no posttrans
    assert res.returncode == 1, res
    assert "Could not run transaction" in res.stderr, res
    assert "persist_rpm:" not in res.stdout + res.stderr, res
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert set(yum.stored()) == {"unsigned-1.0-1.noarch"}
    assert yum.staged() == []
    assert os.path.isdir(os.path.join(yum.store, ".persistrepo", "yum-staging"))


def test_scriptlet_failure_captures_only_what_rpm_installed(yum):
    res = ok(yum.transaction([dict(op="install", **yum.ref("badpre")),
                              dict(op="install", **yum.ref("unsigned"))]))
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert set(yum.stored()) == {"unsigned-1.0-1.noarch"}
    assert "badpre-1.0-1.noarch is not installed after the transaction" in res.stdout, res
    assert yum.staged() == []


def test_excluded_packages_are_not_captured(yum):
    yum.conf(exclude="unsig*, epochy")
    ok(yum.transaction([dict(op="install", **yum.ref("unsigned")),
                        dict(op="install", **yum.ref("epochy", "2.0")),
                        dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch", "epochy-2.0-1.noarch",
                                       "tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert set(yum.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


@pytest.fixture
def full_store(yum):
    """The store on a 64 KiB tmpfs, filled up."""
    with bed.tmpfs(yum.store, "64k"):
        fill(yum.store)
        yield yum


def test_full_disk_store_fails_capture_not_the_transaction(full_store):
    yum = full_store
    res = yum.transaction([dict(op="install", **yum.ref("unsigned"))])
    assert res.returncode == 0, res
    assert bed.installed(yum.root) == {"unsigned-1.0-1.noarch"}
    assert "persist_rpm: error: unsigned-1.0-1.noarch was NOT persisted" in res.stderr, res
    assert "No space left on device" in res.stderr, res
    assert "fix: yumdownloader --destdir=/var/tmp/persist unsigned-1.0-1.noarch && " \
        "persistrepo --store %s add /var/tmp/persist/*.rpm" % yum.store in res.stderr, res
    recorded = failures.load(failures.path_for(yum.root))
    assert [(f["nevra"], f["method"]) for f in recorded] == [("unsigned-1.0-1.noarch", "yum")]
    assert yum.staged() == []

    status = yum.command("persist", "status")
    assert status.returncode == 100, status
    assert "not persisted: unsigned-1.0-1.noarch (yum," in status.stdout, status
    assert "fix: yumdownloader" in status.stdout, status


def fill(directory):
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_failed_capture_of_an_update_keeps_the_old_version(yum):
    """As in the dnf plugin, the old side of an update is dropped only by
    the capture of the new one: when that fails (here its file cannot be
    staged), the store keeps the old version rather than neither."""
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    staging = os.path.join(yum.store, ".persistrepo", "yum-staging")
    shutil.rmtree(staging)
    open(staging, "w").close()
    res = ok(yum.transaction([dict(op="update", old="tool", **yum.ref("tool", "2.0"))]))
    assert bed.installed(yum.root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert "persist_rpm: error: tool-2.0-1.noarch was NOT persisted" in res.stderr, res
    assert set(yum.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert yum.repoquery() == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


# -- Python 2.7 and 3 -----------------------------------------------------------

def test_python27_capture_path_follows_the_bindings(yum):
    """Without the rpm and createrepo_c bindings (plain 2.7, the host stack)
    the plugin queues into incoming and the py3 `persistrepo ingest` persists;
    with EL7's own (rpm 4.11.3, createrepo_c 0.10.0: the el7 stack, as the
    packaged plugin runs) it writes the store itself and never runs ingest."""
    probe = subprocess.run([yum.python, "-c", "import rpm, createrepo_c"],
                           stderr=subprocess.PIPE)
    bindings = probe.returncode == 0
    assert bindings == (os.environ.get("PERSISTREPO_STACK") == "el7"), probe.stderr
    if bindings:
        yum.conf(ingest_command="/bin/false")
    res = ok(yum.transaction([dict(op="install", **yum.ref("epochy", "1.0"))]))
    assert res.harness["python"] == [2, 7]
    assert "persist_rpm: persisted epochy-1:1.0-1.noarch" in res.stdout, res
    assert yum.repoquery() == {"epochy-1:1.0-1.noarch"}
    assert yum.stored()["epochy-1:1.0-1.noarch"]["epoch"] == 1
    assert not os.listdir(os.path.join(yum.store, ".persistrepo", "incoming"))


def test_non_ascii_metadata_and_origin_through_python27(yum, builder):
    """EL7's path end to end with non-ASCII text: captured under 2.7, written
    by ingest, listed by 2.7 into a pipe, and later writes still work."""
    local = shutil.copy(builder.build("intl", summary="\u00dcberwachung f\u00fcr Kn\u00f6tchen",
                                      changelog_author="J\u00fcrgen M\u00fcller <jm@example.com>"),
                        str(yum.tmp / "intl.rpm"))
    ok(yum.transaction([{"op": "install", "local": local}]))
    assert yum.repoquery() == {"intl-1.0-1.noarch"}
    assert cli("--store", yum.store, "add", "--origin", "d\u00e9p\u00f4t",
               yum.std.path("unsigned")).returncode == 0
    res = ok(yum.command("persist", "list"))
    assert "d\u00e9p\u00f4t" in res.stdout and "intl-1.0-1.noarch" in res.stdout, res
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    assert yum.repoquery() == {"intl-1.0-1.noarch", "unsigned-1.0-1.noarch",
                               "tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_python3_run_writes_the_store_directly(yum):
    res = ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                              dict(op="dep", **yum.ref("libtool-dep"))],
                             python=sys.executable))
    assert res.harness["python"][0] == 3
    assert yum.repoquery() == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert {e["method"] for e in yum.stored().values()} == {"yum"}


def test_plugin_and_its_imports_are_python27_and_36_compatible(yum):
    """vermin over the plugin and every persistrepo module it imports under
    2.7 (the import graph, taken from sys.modules), plus the modules the
    direct capture path imports when the bindings exist (store and its
    imports, found the same way under py3)."""
    probe = ("import sys; sys.path[:0] = [%r, %r, %r]; import persist_rpm; %s"
             "print(' '.join(sorted(m for m, v in sys.modules.items() "
             "if v is not None and m.startswith('persistrepo'))))")
    mods = set()
    for python, extra in ((yum.python, ""),
                          (sys.executable, "import persistrepo.store.store; ")):
        out = subprocess.check_output([python, "-c", probe % (HARNESS, REPO, PLUGIN_DIR,
                                                              extra)],
                                      universal_newlines=True)
        mods.update(out.split())
    assert {"persistrepo.capture.capture", "persistrepo.store.incoming", "persistrepo.fsutil"} <= mods
    files = [PLUGIN] + sorted(
        os.path.join(REPO, *m.split(".")) + (".py" if m != "persistrepo" else "/__init__.py")
        for m in mods)
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    res = subprocess.run([vermin, "--target=2.7-", "--target=3.6-", "--no-tips",
                          "--violations", "--eval-annotations"] + files,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert res.returncode == 0, res.stdout


def test_plugin_api_declarations(yum):
    out = subprocess.check_output(
        [yum.python, "-c", "import sys; sys.path[:0] = [%r, %r, %r]; import persist_rpm as p; "
         "sys.stdout.write('%%s %%s' %% (p.requires_api_version, p.plugin_type))" % (HARNESS, REPO, PLUGIN_DIR)],
        universal_newlines=True)
    assert out.split() == ["2.6", "(0,)"]


# -- yum persist ------------------------------------------------------------------

def test_yum_persist_list_remove_status(yum):
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    res = ok(yum.command("persist", "list"))
    lines = res.stdout.splitlines()
    assert lines[1].split()[0] == "PACKAGE"
    assert {l.split()[0] for l in lines[2:] if not l.startswith("HARNESS")} == \
        {"libtool-dep-1.0-1.noarch", "tool-1.0-1.noarch"}
    res = ok(yum.command("persist", "list", "--json"))
    listed = json.loads(res.stdout[res.stdout.index("["):])
    assert {(e["nevra"], e["method"], e["origin"]) for e in listed} == \
        {("tool-1.0-1.noarch", "yum", "bedrepo"), ("libtool-dep-1.0-1.noarch", "yum", "bedrepo")}

    res = ok(yum.command("persist", "status"))
    assert "ok: " in res.stdout

    res = yum.command("persist", "remove", "nosuch")
    assert res.returncode == 1, res
    assert "Error: no persisted package matches 'nosuch'" in res.stderr, res
    assert len(yum.stored()) == 2

    res = ok(yum.command("persist", "remove", "libtool-dep"))
    assert "removed libtool-dep-1.0-1.noarch (it stays installed;" in res.stdout, res
    assert set(yum.stored()) == {"tool-1.0-1.noarch"}
    assert yum.repoquery() == {"tool-1.0-1.noarch"}
    assert "libtool-dep-1.0-1.noarch" in bed.installed(yum.root)

    yum.conf(remove_on_erase=0)
    ok(yum.transaction([dict(op="erase", name="tool")]))
    res = yum.command("persist", "status")
    assert res.returncode == 100, res
    assert "persisted but not installed: tool-1.0-1.noarch" in res.stdout, res

    res = yum.command("persist", "frobnicate")
    assert res.returncode == 1, res
    assert "invalid choice: 'frobnicate'" in res.stderr, res


def test_capture_and_yum_persist_say_what_the_repodata_leaves_out(yum):
    """A stored file gone bad is left out of the repodata each write makes;
    capture (directly or through ingest) and `yum persist remove` say so."""
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    left_out = spoil(yum.store, "libtool-dep-1.0-1.noarch")
    res = ok(yum.transaction([dict(op="install", **yum.ref("unsigned"))]))
    assert "warning: %s" % left_out in res.stdout + res.stderr, res
    assert "unsigned-1.0-1.noarch" in yum.stored()
    res = ok(yum.command("persist", "remove", "unsigned"))
    assert "warning: %s" % left_out in res.stdout + res.stderr, res
    assert "unsigned-1.0-1.noarch" not in yum.stored()


# -- an image update on EL7 -----------------------------------------------------

def test_image_update_on_el7_fires_the_triggers_or_says_what_carries_the_packages(
        yum, tmp_path):
    """yum installs an image-update package (a stand-in whose %post logs,
    where the real one runs imgbase update). Without persistrepo-imgbased
    the plugin says in one line what carries the packages: imgbased-persist
    when it is on, else nothing, with the way back. With it (a stand-in
    with its %triggerprein and %triggerin), rpm's triggers fire around that
    %post in the order of yum's runTransaction, and the trigger speaks
    (tests/test_el7_node_update.py runs the real one)."""
    import rpmfluff

    from tests.support.node import _make
    log = "echo %s >> /var/tmp/image-update-order"
    probe = rpmfluff.SimpleRpmBuild("persistrepo-imgbased", "1.0", "1", ["noarch"])
    probe.add_trigger(rpmfluff.Trigger("prein", "ovirt-node-ng-image-update", log % "triggerprein"))
    probe.add_trigger(rpmfluff.Trigger("in", "ovirt-node-ng-image-update", log % "triggerin"))
    update = rpmfluff.SimpleRpmBuild("ovirt-node-ng-image-update", "4.3", "1", ["noarch"])
    update.add_post(log % "post")
    rpms = [_make(p, str(tmp_path / "built")) for p in (probe, update)]
    local = [{"local": shutil.copy(p, str(yum.tmp))} for p in rpms]

    res = ok(yum.transaction([dict(op="install", **local[1])]))
    why = ("persistrepo-imgbased is not installed, so persistrepo did not replay into the new "
           "layer")
    assert ("persist_rpm: warning: %s, and imgbased-persist is off or missing: the new layer "
            "lacks the packages installed on this one; before booting it, run 'yum install "
            "persistrepo-imgbased', then the command it prints (docs/el7.md)" % why) \
        in res.stderr.splitlines(), res

    conf = os.path.join(yum.root, "etc/yum/pluginconf.d/imgbased-persist.conf")
    os.makedirs(os.path.dirname(conf))
    with open(conf, "w") as f:
        f.write("[main]\nenabled=1\n")
    res = ok(yum.transaction([dict(op="reinstall", **local[1])]))
    assert ("persist_rpm: note: %s; imgbased-persist (on) keeps what yum installs, and "
            "imgbased installs it into the new layer (docs/el7.md)" % why) \
        in res.stderr.splitlines(), res

    ok(yum.transaction([dict(op="install", **local[0])]))
    os.unlink(os.path.join(yum.root, "var/tmp/image-update-order"))
    res = ok(yum.transaction([dict(op="reinstall", **local[1])]))
    with open(os.path.join(yum.root, "var/tmp/image-update-order")) as f:
        assert f.read().split() == ["triggerprein", "post", "triggerin"]
    assert "persist_rpm: note" not in res.stderr and "persist_rpm: warning" not in res.stderr
