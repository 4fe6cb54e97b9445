"""Capture under dnf5 (libdnf5's actions plugin runs `persistrepo dnf5-capture`),
driven through the real dnf5 with --installroot.

dnf5 exists only in the sid chroot: scripts/dev runs this file on the sid
stacks only. Every test writes an actions.d like conf/dnf5/persistrepo.actions
(with this checkout's interpreter) into a private libdnf5 plugin conf dir and
checks what can be observed: the store, its provenance, the rpmdb, dnf5's
exit code, messages and log.
"""

import glob
import json
import os
import random
import subprocess
import sys

import pytest

from persistrepo.store.store import Store
from tests.support import bed
from tests.support.storebed import REPO, cli, listed, spoil
from tests.test_modules import RECORD, repodata_modules, site
from tests.test_store import written_by_adds_and_removes

ACTIONS = os.path.join(REPO, "conf", "dnf5", "persistrepo.actions")
STORE = "var/imgbased/persisted_packages"


def actions_line(config, command=None):
    """The shipped action line, running this checkout with a test config (or
    command instead)."""
    with open(ACTIONS) as f:
        line = [l for l in f if l.strip() and not l.startswith("#")][0]
    return line.replace("/usr/bin/persistrepo dnf5-capture", command or (
        "%s -m persistrepo --config %s dnf5-capture" % (sys.executable, config)))


class Dnf5(object):
    """dnf5 with the capture action in one root, and a look at its store."""

    def __init__(self, root, plugconf, config, repos):
        self.root = root
        self.plugconf = plugconf
        self.repos = repos
        self.store = os.path.join(root, STORE)
        self.config = config       # outside plugconf: libdnf5 loads every *.conf there
        os.makedirs(os.path.join(plugconf, "actions.d"))
        with open(os.path.join(plugconf, "actions.conf"), "w") as f:
            f.write("[main]\nname = actions\nenabled = 1\n")
        with open(os.path.join(plugconf, "actions.d", "persistrepo.actions"), "w") as f:
            f.write(actions_line(self.config))
        self.conf()

    def conf(self, **keys):
        with open(self.config, "w") as f:
            f.write("[main]\nenabled=1\n")
            for key, value in sorted(keys.items()):
                f.write("%s=%s\n" % (key, value))

    def __call__(self, *args, **kw):
        kw.setdefault("repos", self.repos)
        return bed.run_dnf5(self.root, list(args), plugin_conf_dir=self.plugconf,
                            env={"PYTHONPATH": REPO}, **kw)

    def stored(self):
        """{nevra: entry} of the store."""
        return dict((e["nevra"], e) for e in Store(self.store).entries())

    def log(self):
        with open(os.path.join(self.root, "var/log/dnf5.log")) as f:
            return f.read()


@pytest.fixture
def dnf5(root, std_set, tmp_path):
    return Dnf5(root, str(tmp_path / "libdnf5-plugins"), str(tmp_path / "persist_rpm.conf"),
                {"std": std_set.repo})


@pytest.fixture
def extra_repo(builder, tmp_path):
    """Factory: extra_repo(spec, ...) -> a createrepo_c repo of those builds."""
    def make(*specs):
        paths = [builder.build(**spec) for spec in specs]
        return bed.make_repo(tmp_path / ("repo%d" % random.randrange(1 << 30)), paths)
    return make


def assert_clean(res, dnf5):
    """dnf5 succeeded and the action spoke the protocol without an error."""
    assert res.returncode == 0, res
    assert "Traceback" not in res.output
    assert "Actions plugin" not in dnf5.log()


def test_http_install_keepcache_0_with_dependency(dnf5, std_set, http_serve):
    server = http_serve(std_set.repo)
    res = dnf5("install", "tool", repos={"web": server.url})
    assert_clean(res, dnf5)
    assert "persist_rpm: persisted libtool-dep-1.0-1.noarch, tool-2.0-1.noarch" in res.stderr
    assert any(path.endswith(".rpm") for path, _ in server.requests)
    cache = os.path.join(dnf5.root, "var/cache/libdnf5")
    assert not [n for _, _, names in os.walk(cache) for n in names if n.endswith(".rpm")]
    stored = dnf5.stored()
    assert set(stored) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert stored["tool-2.0-1.noarch"]["reason"] == "user"
    assert stored["libtool-dep-1.0-1.noarch"]["reason"] == "dependency"
    assert {e["origin"] for e in stored.values()} == {"web"}
    assert {e["method"] for e in stored.values()} == {"dnf"}
    assert Store(dnf5.store).verify() == []


def test_one_capture_run_per_transaction(dnf5, tmp_path):
    counter, wrapper = tmp_path / "runs", tmp_path / "capture"
    wrapper.write_text("#!/bin/sh\necho run >> %s\nexec %s -m persistrepo --config %s "
                       "dnf5-capture\n" % (counter, sys.executable, dnf5.config))
    wrapper.chmod(0o755)
    with open(os.path.join(dnf5.plugconf, "actions.d", "persistrepo.actions"), "w") as f:
        f.write(actions_line(dnf5.config, str(wrapper)))
    assert_clean(dnf5("install", "tool", "unsigned", "epochy"), dnf5)
    assert len(dnf5.stored()) == 4
    assert counter.read_text() == "run\n"


def test_local_repo_and_local_file(dnf5, std_set):
    assert_clean(dnf5("install", "unsigned"), dnf5)          # file:// repo, no cache copy
    assert dnf5.stored()["unsigned-1.0-1.noarch"]["origin"] == "std"
    res = dnf5("install", std_set.path("multi", arch="x86_64"), repos={})
    assert_clean(res, dnf5)
    entry = dnf5.stored()["multi-1.0-1.x86_64"]
    assert entry["origin"] == "@commandline"
    assert entry["reason"] == "user"


def test_dnf5_installs_from_a_store_after_adds_and_removes(std_set, tmp_path, root):
    """The repodata that adds and removes wrote (test_store.py checks how)."""
    store = str(tmp_path / "store")
    written_by_adds_and_removes(std_set, store)
    res = bed.run_dnf5(root, ["install", "tool", "signed"], repos={"p": store})
    assert res.returncode == 0, res
    assert bed.installed(root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch",
                                   "signed-1.0-1.noarch"}


def test_upgrade_downgrade_reinstall(dnf5):
    assert_clean(dnf5("install", "tool-1.0"), dnf5)
    assert "tool-1.0-1.noarch" in dnf5.stored()
    assert_clean(dnf5("upgrade", "tool"), dnf5)
    assert set(dnf5.stored()) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert dnf5.stored()["tool-2.0-1.noarch"]["reason"] == "user"
    assert not os.path.exists(os.path.join(dnf5.store, "tool-1.0-1.noarch.rpm"))
    assert_clean(dnf5("downgrade", "tool"), dnf5)
    assert set(dnf5.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    assert bed.installed(dnf5.root) == set(dnf5.stored())

    cli("--store", dnf5.store, "remove", "tool", tool=True, check=True)
    assert_clean(dnf5("reinstall", "tool"), dnf5)
    assert set(dnf5.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_erase_drops_unless_remove_on_erase_is_off(dnf5):
    assert_clean(dnf5("install", "tool", "unsigned"), dnf5)
    res = dnf5("remove", "tool", "libtool-dep")
    assert_clean(res, dnf5)
    assert "persist_rpm: dropped libtool-dep-1.0-1.noarch, tool-2.0-1.noarch" in res.stderr
    assert set(dnf5.stored()) == {"unsigned-1.0-1.noarch"}
    dnf5.conf(remove_on_erase=0)
    assert_clean(dnf5("remove", "unsigned"), dnf5)
    assert set(dnf5.stored()) == {"unsigned-1.0-1.noarch"}
    assert bed.installed(dnf5.root) == set()


def test_obsoleting_install_replaces_the_obsoleted_package(dnf5, extra_repo):
    old = extra_repo(dict(name="oldtool"))
    new = extra_repo(dict(name="newtool", obsoletes=["oldtool"], provides=["oldtool = 2"]))
    assert_clean(dnf5("install", "oldtool", repos={"o": old}), dnf5)
    assert_clean(dnf5("install", "newtool", repos={"o": old, "n": new}), dnf5)
    assert bed.installed(dnf5.root) == {"newtool-1.0-1.noarch"}
    assert set(dnf5.stored()) == {"newtool-1.0-1.noarch"}


def test_exclude_and_default_excludes(dnf5, extra_repo):
    dnf5.conf(exclude="libtool-*")
    assert_clean(dnf5("install", "tool"), dnf5)
    assert set(dnf5.stored()) == {"tool-2.0-1.noarch"}
    dnf5.conf()
    repo = extra_repo(dict(name="ovirt-node-ng-image-update", version="4.5"))
    res = dnf5("install", "ovirt-node-ng-image-update", repos={"i": repo})
    assert_clean(res, dnf5)
    assert set(dnf5.stored()) == {"tool-2.0-1.noarch"}


def test_failed_pre_is_not_captured_and_exit_code_is_unchanged(dnf5, tmp_path):
    res = dnf5("install", "badpre", "unsigned")
    plain_root = bed.make_root(tmp_path / "plain")
    plain = bed.run_dnf5(plain_root, ["install", "badpre", "unsigned"], repos=dnf5.repos)
    assert res.returncode == plain.returncode != 0, res
    assert bed.installed(dnf5.root) == bed.installed(plain_root)
    assert "badpre-1.0-1.noarch" not in bed.installed(dnf5.root)
    assert set(dnf5.stored()) <= bed.installed(dnf5.root)
    assert "badpre-1.0-1.noarch" not in dnf5.stored()
    assert "Traceback" not in res.output


@pytest.fixture
def full_store(dnf5):
    """The root's store location is a 64 KiB tmpfs."""
    with bed.tmpfs(dnf5.store, "64k") as store:
        yield store


def test_full_store_never_breaks_dnf5_and_the_named_fix_works(dnf5, full_store, extra_repo,
                                                              persist):
    blob = "".join(random.choice("0123456789abcdef") for _ in range(400000))
    repo = extra_repo(dict(name="big", files={"/usr/share/big/blob": blob}))
    res = dnf5("install", "big", "unsigned", repos={"b": repo, "std": dnf5.repos["std"]})
    assert res.returncode == 0, res
    assert bed.installed(dnf5.root) == {"big-1.0-1.noarch", "unsigned-1.0-1.noarch"}
    assert "persist_rpm: error: big-1.0-1.noarch was NOT persisted" in res.stderr
    assert "fix: dnf5 --installroot=%s persist add big" % dnf5.root in res.stderr
    assert "Traceback" not in res.output
    status = cli("--config", dnf5.config, "status", "--installroot", dnf5.root, tool=True)
    assert status.returncode == 100
    assert "big-1.0-1.noarch: " in status.stdout

    # the fix the error names works once there is room
    subprocess.run(["umount", full_store], check=True)
    res = persist("add", "big", repos={"b": repo})
    assert res.returncode == 0, res
    assert "persisted big-1.0-1.noarch" in res.stdout
    res = persist("status", "--json")
    assert json.loads(res.stdout)["failures"] == []


def test_module_stream_is_recorded(root, tmp_path, builder):
    """dnf5 module enable vtool:1, then an install with the capture action:
    the store records the stream of vtool (none for a plain package), lists
    it and writes it into its repodata's modules.yaml."""
    dnf5 = Dnf5(root, str(tmp_path / "libdnf5-plugins"), str(tmp_path / "persist_rpm.conf"),
                site(tmp_path, builder))
    assert_clean(dnf5("module", "enable", "vtool:1"), dnf5)
    assert_clean(dnf5("install", "vtool", builder.build("plain")), dnf5)
    entries = listed(dnf5.store)
    assert entries["vtool-1.0-1.noarch"]["module"] == RECORD
    assert entries["plain-1.0-1.noarch"]["module"] is None
    modulemd = dnf5.stored()["vtool-1.0-1.noarch"]["module"]["modulemd"]
    assert modulemd.startswith("---\n") and "- vtool-0:1.0-1.noarch" in modulemd
    assert "vtool-0:1.0-1.noarch" in repodata_modules(dnf5.store)
    assert "[vtool:1]" in cli("--store", dnf5.store, "list").stdout
    assert cli("--store", dnf5.store, "verify").returncode == 0


def test_module_stream_from_huge_module_metadata(root, tmp_path, builder):
    """The appstream repo's module metadata is 62 MiB, as a big distribution's
    is: capture reads it within its bound (docs/dnf5.md) and still records
    vtool's stream, or, past the bound, stores vtool all the same and says
    why it has no stream."""
    dnf5 = Dnf5(root, str(tmp_path / "libdnf5-plugins"), str(tmp_path / "persist_rpm.conf"),
                site(tmp_path, builder, big=62 << 20))
    assert_clean(dnf5("module", "enable", "vtool:1"), dnf5)
    res = dnf5("install", "vtool")
    assert_clean(res, dnf5)
    module = listed(dnf5.store)["vtool-1.0-1.noarch"]["module"]
    if module is None:
        assert "no module stream is recorded from it" in res.stderr, res
    else:
        assert module == RECORD


def test_persist_add_records_the_module_stream(root, tmp_path, builder, cmd_plugin_dir):
    """vtool installed from stream vtool:1 while nothing captured, then
    `dnf5 persist add vtool`: the stream is recorded as capture records it."""
    dnf5 = Dnf5(root, str(tmp_path / "libdnf5-plugins"), str(tmp_path / "persist_rpm.conf"),
                site(tmp_path, builder))
    dnf5.conf(capture_installroot=0)
    assert_clean(dnf5("module", "enable", "vtool:1"), dnf5)
    assert_clean(dnf5("install", "vtool"), dnf5)
    assert not os.path.exists(dnf5.store)
    res = bed.run_dnf5(root, ["persist", "add", "vtool"], repos=dnf5.repos,
                       env={"DNF5_PLUGINS_DIR": cmd_plugin_dir})
    assert res.returncode == 0, res
    assert listed(dnf5.store)["vtool-1.0-1.noarch"]["module"] == RECORD
    assert "vtool-0:1.0-1.noarch" in repodata_modules(dnf5.store)


def test_capture_installroot_off(dnf5):
    dnf5.conf(capture_installroot=0)
    assert_clean(dnf5("install", "tool"), dnf5)
    assert not os.path.exists(dnf5.store)


def test_bad_config_never_breaks_dnf5(dnf5):
    with open(dnf5.config, "w") as f:
        f.write("[main]\nremove_on_erase=maybe\n")
    res = dnf5("install", "tool")
    assert res.returncode == 0, res
    assert "persist_rpm: error: remove_on_erase = maybe is not a boolean; use 1 or 0; " \
        "packages will not be persisted" in res.stderr
    assert "Traceback" not in res.output
    assert bed.installed(dnf5.root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


# -- dnf5 persist --------------------------------------------------------------

@pytest.fixture(scope="module")
def cmd_plugin_dir(tmp_path_factory):
    """The dnf5 command plugin, built from dnf5-plugin/ to run this checkout's
    persistrepo; dnf5 loads it, with the platform's own command plugins (its
    aliases name their commands), from DNF5_PLUGINS_DIR."""
    out = tmp_path_factory.mktemp("dnf5-plugins")
    system = glob.glob("/usr/lib/*/dnf5/plugins/*.so")
    assert system, "no dnf5 command plugins found"
    for path in system:
        os.symlink(path, str(out / os.path.basename(path)))
    subprocess.run([os.path.join(REPO, "dnf5-plugin", "build.sh"),
                    str(out / "persist_cmd_plugin.so"),
                    os.path.join(os.path.dirname(sys.executable), "persistrepo")],
                   check=True)
    return str(out)


@pytest.fixture
def persist(dnf5, cmd_plugin_dir):
    """persist(*args, **kw) -> DnfResult of `dnf5 persist ARGS` in dnf5's root."""
    def run(*args, **kw):
        kw.setdefault("repos", dnf5.repos)
        return bed.run_dnf5(dnf5.root, ["persist"] + list(args),
                            env={"DNF5_PLUGINS_DIR": cmd_plugin_dir}, **kw)
    return run


def test_persist_list_json_verify(dnf5, persist):
    assert_clean(dnf5("install", "tool"), dnf5)
    res = persist()
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["PACKAGE", "REASON", "ORIGIN", "SIGNED", "PERSISTED"]
    assert [l.split()[:3] for l in lines[1:]] == [["libtool-dep-1.0-1.noarch", "dependency", "std"],
                                                  ["tool-2.0-1.noarch", "user", "std"]]
    res = persist("list", "--json")
    assert res.returncode == 0, res
    assert sorted(e["nevra"] for e in json.loads(res.stdout)) == [
        "libtool-dep-1.0-1.noarch", "tool-2.0-1.noarch"]
    res = persist("verify")
    assert res.returncode == 0, res
    assert res.stderr == ""
    assert "ok: 2 packages verified in %s" % dnf5.store in res.stdout


def test_persist_remove_then_add_back(dnf5, persist):
    assert_clean(dnf5("install", "tool"), dnf5)
    res = persist("remove", "tool")
    assert res.returncode == 0, res
    assert "removed tool-2.0-1.noarch (it stays installed;" in res.stdout
    assert set(dnf5.stored()) == {"libtool-dep-1.0-1.noarch"}
    res = persist("add", "tool", "libtool-dep")
    assert res.returncode == 0, res
    assert "persisted tool-2.0-1.noarch" in res.stdout
    assert "already persisted libtool-dep-1.0-1.noarch" in res.stdout
    entry = dnf5.stored()["tool-2.0-1.noarch"]
    assert (entry["reason"], entry["origin"], entry["method"]) == ("user", "std", "dnf")


def test_capture_and_persist_say_what_the_repodata_leaves_out(dnf5, persist):
    """A stored file gone bad is left out of the repodata each write makes;
    dnf5's capture and `dnf5 persist` say so, and still do their work."""
    assert_clean(dnf5("install", "tool"), dnf5)
    left_out = spoil(dnf5.store, "libtool-dep-1.0-1.noarch")
    res = dnf5("install", "unsigned")
    assert_clean(res, dnf5)
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res
    assert "unsigned-1.0-1.noarch" in dnf5.stored()
    res = persist("remove", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res
    assert "unsigned-1.0-1.noarch" not in dnf5.stored()
    res = persist("add", "unsigned")
    assert res.returncode == 0, res
    assert "persist_rpm: warning: %s" % left_out in res.stderr, res


def test_persist_errors_and_exit_codes(dnf5, persist, std_set):
    assert_clean(dnf5("install", "tool"), dnf5)
    for args, message in ((["add"], "dnf5 persist add: give at least one package spec"),
                          (["status", "x"], "dnf5 persist status takes no package spec"),
                          (["list", "x"], "package x is not persisted"),
                          (["verify", "--dry-run"], "--dry-run goes with remove"),
                          (["add", "nosuch"], "no installed package matches 'nosuch'; "
                                              "nothing added"),
                          (["remove", "nosuch"], "see 'dnf5 --installroot=%s persist list'"
                                                 % dnf5.root)):
        res = persist(*args)
        assert res.returncode == 1, res
        assert "Error: " in res.stderr and message in res.stderr, res
        assert "Traceback" not in res.output
    # a build the store holds needs no repository; one it lacks does
    res = persist("add", "tool", repos={})
    assert res.returncode == 0, res
    assert "already persisted tool-2.0-1.noarch" in res.stdout
    assert persist("remove", "tool").returncode == 0
    res = persist("add", "tool", repos={})
    assert res.returncode == 1, res
    assert "the installed build of tool-2.0-1.noarch is in no enabled repository" in res.stderr
    assert set(dnf5.stored()) == {"libtool-dep-1.0-1.noarch"}


def test_persist_takes_the_options_of_the_one_definition(dnf5, persist, tmp_path):
    """The plugin registers what persistrepo/front/subcommands.py defines, and
    dnf5-persist holds each option to its subcommands, as under dnf 4."""
    from persistrepo.front import subcommands
    res = persist("--help")
    assert res.returncode == 0, res
    found = set(w.split("=")[0].rstrip(",") for l in res.stdout.splitlines()
                for w in l.split() if w.startswith("--"))
    expected = set(subcommands.plugin_options("dnf5"))
    assert expected <= found and found - expected <= {"--help"}, found
    assert_clean(dnf5("install", "tool"), dnf5)
    # (dnf5's parser takes a command's words together: options before or after them)
    res = persist("remove", "tool", "--dry-run")
    assert res.returncode == 0 and res.stdout == "would remove tool-2.0-1.noarch\n", res
    res = persist("verify", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["ok"] is True, res
    res = persist("list", "--removed")
    assert res.returncode == 0, res
    other = str(tmp_path / "other")
    assert cli("--store", other, "add", os.path.join(dnf5.store, "tool-2.0-1.noarch.rpm"),
               tool=True).returncode == 0
    for words in (["--store", other, "list", "--json"], ["list", "--json", "--store", other]):
        res = persist(*words)
        assert res.returncode == 0, res
        assert [e["nevra"] for e in json.loads(res.stdout)] == ["tool-2.0-1.noarch"]


@pytest.fixture
def host_config():
    """Writes the platform's /etc/dnf/plugins/persist_rpm.conf (the file dnf5
    persist reads, docs/dnf5.md) for one test; there is none on the sid bed."""
    path = "/etc/dnf/plugins/persist_rpm.conf"
    assert not os.path.exists(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)

    def write(text):
        with open(path, "w") as f:
            f.write(text)
    yield write
    os.unlink(path)


def test_persist_add_refuses_excluded_packages(dnf5, persist, host_config):
    assert_clean(dnf5("install", "tool"), dnf5)
    persist("remove", "tool")
    host_config("[main]\nexclude=tool\n")
    res = persist("add", "tool")
    assert res.returncode == 1, res
    assert "Error: tool-2.0-1.noarch excluded by the exclude setting of persist_rpm; " \
        "nothing added" in res.stderr
    assert set(dnf5.stored()) == {"libtool-dep-1.0-1.noarch"}


def test_persist_status_exit_100_when_at_risk(dnf5, persist, tmp_path):
    assert_clean(dnf5("install", "tool"), dnf5)
    manifest = tmp_path / "manifest"
    manifest.write_text("%s\n" % bed.rpm_nevra(bed.base_rpm()))
    res = persist("status", "--image-manifest", str(manifest))
    assert res.returncode == 0, res
    assert res.stderr == ""
    subprocess.run(["rpm", "--root", dnf5.root, "-e", "--nodeps", "tool"], check=True,
                   env=bed.tool_env())
    res = persist("status", "--json", "--image-manifest", str(manifest))
    assert res.returncode == 100, res
    assert json.loads(res.stdout)["at_risk"] is True


def test_bash_completion_of_persist(cmd_plugin_dir):
    """dnf5's bash completion script runs `dnf5 --complete=N WORDS...`."""
    def complete(*words):
        res = subprocess.run(["dnf5", "--complete=%d" % (len(words) - 1)] + list(words),
                             stdout=subprocess.PIPE, universal_newlines=True,
                             env=bed.tool_env({"DNF5_PLUGINS_DIR": cmd_plugin_dir}))
        return res.stdout.split()
    assert "persist" in complete("dnf5", "pers")
    assert complete("dnf5", "persist", "ver") == ["verify"]
    assert "--image-manifest" in complete("dnf5", "persist", "--image")


# -- packaging -----------------------------------------------------------------

SUBPACKAGES = ("python3-persistrepo", "dnf5-plugin-persistrepo")


@pytest.fixture(scope="module")
def fedora_rpms(tmp_path_factory):
    """The spec built as on Fedora 41+, with this platform's paths: Debian's
    python3 reads dist-packages, dnf5 loads command plugins from its libdir."""
    from tests.test_packaging import rpmbuild
    libdir = os.path.dirname(os.path.dirname(glob.glob("/usr/lib/*/dnf5/plugins")[0]))
    return rpmbuild(tmp_path_factory.mktemp("rpmbuild-f41"), [
        "fedora 41", "__python3 /usr/bin/python3",
        "python3_sitelib /usr/lib/python3/dist-packages", "_libdir " + libdir,
        "debug_package %{nil}"])


@pytest.fixture
def rpm_installed(fedora_rpms):
    """The built library and dnf5 subpackage installed on this test bed
    (rpm -i --nodeps), erased afterwards."""
    def erase():
        subprocess.run(["rpm", "-e", "--nodeps"] + list(SUBPACKAGES), env=bed.tool_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    erase()   # what a killed run may have left
    subprocess.run(["rpm", "-i", "--nodeps"] + [fedora_rpms[n] for n in SUBPACKAGES],
                   check=True, env=bed.tool_env())
    yield
    erase()


def test_spec_builds_the_dnf5_subpackage_on_fedora_41(fedora_rpms):
    assert set(SUBPACKAGES) | {"python3-dnf-plugin-persist-rpm"} <= set(fedora_rpms)
    files = subprocess.run(["rpm", "-qlp", fedora_rpms["dnf5-plugin-persistrepo"]],
                           stdout=subprocess.PIPE, universal_newlines=True,
                           env=bed.tool_env(), check=True).stdout.split()
    assert "/etc/dnf/libdnf5-plugins/actions.d/persistrepo.actions" in files
    assert any(f.endswith("/dnf5/plugins/persist_cmd_plugin.so") for f in files)
    for name in ("python3-persistrepo", "python3-dnf-plugin-persist-rpm"):
        assert fedora_rpms[name].endswith(".noarch.rpm")


def test_installed_rpms_capture_with_plain_dnf5_and_persist_list(rpm_installed, std_set,
                                                                 tmp_path):
    root = bed.make_root(tmp_path / "root")
    res = bed.run_dnf5(root, ["install", "tool"], repos={"std": std_set.repo},
                       platform_plugins=True)
    assert res.returncode == 0, res
    assert "persist_rpm: persisted libtool-dep-1.0-1.noarch, tool-2.0-1.noarch" in res.stderr
    res = bed.run_dnf5(root, ["persist", "list"], repos={}, platform_plugins=True)
    assert res.returncode == 0, res
    assert [l.split()[:2] for l in res.stdout.splitlines()[1:]] == [
        ["libtool-dep-1.0-1.noarch", "dependency"], ["tool-2.0-1.noarch", "user"]]


# -- replay into a root dnf5 manages ---------------------------------------------

def dnf5_view(root):
    """{name: (reason, from_repo)} of the installed packages, as dnf5 sees them."""
    res = bed.run_dnf5(root, ["repoquery", "--installed", "--queryformat",
                              "%{name} %{reason} %{from_repo}\\n"], repos={})
    assert res.returncode == 0, res
    view = {}
    for line in res.stdout.splitlines():
        name, rest = line.split(" ", 1)
        reason, _, repo = rest.rpartition(" ")
        view[name] = (reason, repo)
    return view


def test_replay_into_a_dnf5_root_records_the_reasons_for_dnf5(std_set, tmp_path):
    store = str(tmp_path / "store")
    for reason, name, version in (("user", "tool", "2.0"), ("dependency", "libtool-dep", None)):
        cli("--store", store, "add", "--reason", reason, std_set.path(name, version),
            tool=True, check=True)
    root = bed.make_root(tmp_path / "new")
    # the new image's own packages were installed by dnf5: it keeps its state there
    assert bed.run_dnf5(root, ["install", "unsigned"], repos={"std": std_set.repo}).returncode == 0
    res = cli("replay", "--installroot", root, "--store", store, tool=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "dnf5: recorded the reasons in its state (dnf5 mark)" in res.stdout
    view = dnf5_view(root)
    assert view["tool"][0] == "User"      # from_repo stays <unknown> (docs/dnf5.md)
    assert view["libtool-dep"][0] == "Dependency"
    assert view["unsigned"] == ("User", "std")


# -- Hostile state around a dnf5 transaction (issue 26; tests/test_hostile2.py) ------

def before_capture(dnf5, tmp_path, script):
    """An action that runs just before capture's (actions.d is read in name
    order): what a local user or a buggy tool may leave at that moment."""
    path = str(tmp_path / "hostile.sh")
    with open(path, "w") as f:
        f.write(script)
    with open(os.path.join(dnf5.plugconf, "actions.d", "00-hostile.actions"), "w") as f:
        f.write("post_transaction::::/bin/sh %s\n" % path)


def failures_of(dnf5):
    res = cli("--config", dnf5.config, "status", "--installroot", dnf5.root, "--json",
              tool=True)
    assert res.returncode in (0, 100) and "Traceback" not in res.stderr, res.stderr
    return dict((f["nevra"], f) for f in json.loads(res.stdout)["failures"])


@pytest.mark.parametrize("toml", ['[packages."unsigned.noarch"]\nreason = ["User"]\n',
                                  "packages = [1]\n", "[packages]\nx = 1\n",
                                  "a = " + "[" * 3000 + "]" * 3000 + "\n"])
def test_state_files_of_any_shape_cost_only_the_reason(dnf5, tmp_path, toml):
    state = os.path.join(dnf5.root, "usr/lib/sysimage/libdnf5")
    with open(str(tmp_path / "packages.toml"), "w") as f:
        f.write(toml)
    before_capture(dnf5, tmp_path, "cp %s %s/packages.toml\n" % (tmp_path / "packages.toml",
                                                                   state))
    res = dnf5("install", "unsigned")
    assert_clean(res, dnf5)
    assert dnf5.stored()["unsigned-1.0-1.noarch"]["reason"] == "unknown"


def test_a_file_swapped_under_dnf5_is_recorded_not_stored(root, std_set, tmp_path, builder):
    """Capture proves the file is the build rpm installed, under dnf5 too; an
    installroot with braces in its name, and a failure record nested deep,
    still give the one-line error and a record status names."""
    from tests.test_hostile2 import swapping_package
    braced = bed.make_root(tmp_path / "root{name}")
    dnf5 = Dnf5(braced, str(tmp_path / "libdnf5-plugins"), str(tmp_path / "persist_rpm.conf"),
                {"std": std_set.repo})
    record = os.path.join(braced, "var/lib/persistrepo/failures.json")
    os.makedirs(os.path.dirname(record))
    with open(record, "w") as f:
        f.write("[" * 3000 + "]" * 3000)
    local = swapping_package(builder, braced)
    res = dnf5("install", local, "unsigned")
    assert res.returncode == 0, res
    assert "Traceback" not in res.output and "Actions plugin" not in dnf5.log()
    assert set(dnf5.stored()) == {"unsigned-1.0-1.noarch"}
    assert "bar-2.0-1.noarch was NOT persisted" in res.stderr
    assert "is not the bar-2.0-1.noarch that rpm installed" in res.stderr
    assert "bar-2.0-1.noarch" in failures_of(dnf5)
