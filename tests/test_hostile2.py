"""Hostile input, round two (issue 26; docs/store-format.md, "Trust"): the
surfaces added after the first round (dnf5 capture, trash and restore,
import, adopt, replay's own writes), class by class. Real rpm, dnf, dnf5 and
createrepo_c throughout; hostile RPMs are real builds edited by tests/support/forge.py."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import bed, forge
from tests.support.storebed import REPO, cli, listed, one_line_error, repodata_packages
from tests.test_dnf_plugin import PLUGIN_DIR, Dnf  # noqa: F401 (Dnf for the fixture)
from tests.test_hostile import BASE, healthy, state, write_json
from tests.test_imgbased import node  # noqa: F401 (the fixture)

DEEP = 3000


@pytest.fixture
def store(std_set, tmp_path):
    """A store holding tool 1.0 and libtool-dep."""
    path = str(tmp_path / "store")
    assert cli("--store", path, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    return path


@pytest.fixture
def dnf(root, std_set, tmp_path):
    confdir = tmp_path / "pluginconf"
    confdir.mkdir()
    return Dnf(root, str(confdir), {"std": std_set.repo})


def no_traceback(res):
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    return res


def deep_json(depth=DEEP):
    return "[" * depth + "]" * depth


def write_text(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def failures_of(root):
    path = os.path.join(root, "var/lib/persistrepo/failures.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict((i["nevra"], i) for i in json.load(f))


# -- 1. Capture stores exactly the build rpm installed --------------------------

def swapping_package(builder, root, name="bar"):
    """bar-2.0-1, whose %pre replaces the local file it is installed from (in
    ROOT/tmp) by foo-1.0-1: the file rpm read and the file left at the path
    capture reads differ. Returns the host path dnf installs from."""
    foo = builder.build("foo", files={"/usr/share/foo.txt": "foo\n"})
    bar = builder.build(name, version="2.0", pre="mv -f /tmp/swap.rpm /tmp/%s.rpm" % name,
                        files={"/usr/share/%s.txt" % name: "bar\n"})
    shutil.copy(foo, os.path.join(root, "tmp", "swap.rpm"))
    local = os.path.join(root, "tmp", "%s.rpm" % name)
    shutil.copy(bar, local)
    return local


def test_a_file_swapped_after_rpm_read_it_is_never_stored(dnf, builder):
    local = swapping_package(builder, dnf.root)
    res = dnf("install", local, repos={})
    assert res.returncode == 0, res
    assert "bar-2.0-1.noarch" in bed.installed(dnf.root)
    assert "foo-1.0-1.noarch" not in bed.installed(dnf.root)
    with open(local, "rb") as f:  # the swap happened: the path holds foo now
        assert b"foo" in f.read(2000)
    # Neither foo (never installed) nor the file now at bar's path is stored.
    assert dnf.stored() == {}
    assert "bar-2.0-1.noarch was NOT persisted" in res.stderr + res.stdout
    assert "is not the bar-2.0-1.noarch that rpm installed" in res.stderr + res.stdout
    fix = failures_of(dnf.root)["bar-2.0-1.noarch"]["fix"]
    assert fix == "dnf --installroot=%s persist add bar" % dnf.root  # never the swapped file
    status = dnf.status()
    assert "bar-2.0-1.noarch" in [f["nevra"] for f in status["failures"]]


def test_another_build_of_the_same_nevra_is_never_stored(dnf, builder, tmp_path):
    """Same NEVRA, other content: only a header digest tells them apart."""
    first = builder.build("twin", pre="mv -f /tmp/swap.rpm /tmp/twin.rpm",
                          files={"/usr/share/twin.txt": "one\n"})
    other = builder.build("twin", files={"/usr/share/twin.txt": "other build\n"})
    assert bed.rpm_nevra(first) == bed.rpm_nevra(other)
    local = os.path.join(dnf.root, "tmp", "twin.rpm")
    shutil.copy(first, local)
    shutil.copy(other, os.path.join(dnf.root, "tmp", "swap.rpm"))
    res = dnf("install", local, repos={})
    assert res.returncode == 0, res
    with open(local, "rb") as f, open(other, "rb") as g:
        assert f.read() == g.read()  # the swap happened
    assert dnf.stored() == {}, res
    assert "twin-1.0-1.noarch was NOT persisted" in res.stderr + res.stdout
    assert "another build" in res.stderr + res.stdout


def test_persist_add_never_stores_another_build_from_a_repo(dnf, builder, tmp_path):
    """The repo was rebuilt: same NEVRA, other content than the installed build."""
    first = builder.build("twin", files={"/usr/share/twin.txt": "one\n"})
    other = builder.build("twin", files={"/usr/share/twin.txt": "other build\n"})
    assert dnf.plain("install", first, repos={}).returncode == 0
    repo = bed.make_repo(tmp_path / "rebuilt", [other])
    res = dnf("persist", "add", "twin", repos={"rebuilt": repo})
    assert res.returncode == 1, res
    assert "another build of twin-1.0-1.noarch" in res.stderr + res.stdout
    assert dnf.stored() == {}


# What runs as the yum plugin's ingest_command in the test below: it swaps the
# queued file of the request for NEVRA (argv[1]) in incoming/ for FILE
# (argv[2]), then runs the real `persistrepo ingest` with the plugin's arguments.
SWAP_THEN_INGEST = """import glob, json, os, shutil, sys
nevra, other, ingest, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
incoming = os.path.join(args[args.index("--store") + 1], ".persistrepo", "incoming")
for name in glob.glob(os.path.join(incoming, "*.json")):
    with open(name) as f:
        if json.load(f).get("nevra") == nevra:
            shutil.copy(other, name[:-len(".json")] + ".rpm")
            print("swapped %s" % name[:-len(".json")] + ".rpm")
sys.stdout.flush()  # exec discards what the buffer holds
os.execv(ingest, [ingest] + args)
"""


def test_a_queued_file_swapped_for_another_build_is_refused(tmp_path, std_set, http_serve,
                                                            builder):
    """yum's queued path (plain Python 2.7, no bindings: the plugin queues,
    `persistrepo ingest` takes in): the file queued for epochy is swapped in
    incoming/ for another build of the same NEVRA before ingest runs. Ingest
    refuses it in one line naming it, sets it aside, and status names the
    failure; the honest packages of the same and of an earlier transaction
    are stored."""
    from tests.test_yum_plugin import INGEST, Yum, ok, python27
    yum = Yum(tmp_path, std_set, http_serve(std_set.repo), python27())
    ok(yum.transaction([dict(op="install", **yum.ref("tool", "1.0")),
                        dict(op="dep", **yum.ref("libtool-dep"))]))
    assert set(yum.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}

    wanted = "epochy-1:1.0-1.noarch"
    other = builder.build("epochy", "1.0", epoch=1,
                          files={"/usr/share/bed/epochy.txt": "another build\n"})
    assert bed.rpm_nevra(other) == wanted
    script = tmp_path / "swap-then-ingest"
    script.write_text(SWAP_THEN_INGEST)
    wrapper = tmp_path / "ingest-command"
    wrapper.write_text("#!/bin/sh\nexec %s %s %s %s %s \"$@\"\n" % (
        sys.executable, script, wanted, other, INGEST))
    os.chmod(str(wrapper), 0o755)
    yum.conf(ingest_command=str(wrapper))
    res = ok(yum.transaction([dict(op="install", **yum.ref("epochy", "1.0")),
                              dict(op="install", **yum.ref("unsigned"))]))
    assert res.harness["python"] == [2, 7]
    assert "swapped " in res.stdout, res
    assert {wanted, "unsigned-1.0-1.noarch"} <= bed.installed(yum.root)

    refused = [l for l in res.stderr.splitlines() if l.startswith("persistrepo: error: ")]
    assert len(refused) == 1, res
    assert refused[0].startswith("persistrepo: error: refused queued %s: " % wanted), refused
    assert "is not the %s that rpm installed: it holds another build" % wanted in refused[0]
    assert "set aside as .persistrepo/quarantine/" in refused[0]
    assert "persist_rpm: error: %s was NOT persisted" % wanted in res.stderr, res
    assert set(yum.stored()) == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch",
                                 "unsigned-1.0-1.noarch"}
    assert yum.repoquery() == set(yum.stored())
    assert not os.listdir(os.path.join(yum.store, ".persistrepo", "incoming"))
    aside = os.listdir(os.path.join(yum.store, ".persistrepo", "quarantine"))
    assert len([n for n in aside if n.endswith(".rpm")]) == 1, aside

    assert "refused queued %s" % wanted in failures_of(yum.root)[wanted]["error"]
    res = no_traceback(cli("--store", yum.store, "status", "--installroot", yum.root))
    line = [l for l in res.stdout.splitlines() if l.startswith("  %s: " % wanted)]
    assert line and "refused queued" in line[0], res.stdout
    res = no_traceback(cli("--store", yum.store, "verify"))
    assert res.returncode == 0, res.stdout


def test_yum_stores_the_local_file_rpm_read_though_it_was_swapped_after(
        tmp_path, std_set, http_serve, builder):
    """The issue's first example on yum's queued path: bar-2.0-1 is installed
    from a local file that its %pre replaces by foo-1.0-1. yum's plugin stages
    its copy before rpm runs, so the store gets bar, the very build rpm
    installed (ingest proves it against the rpmdb), never foo."""
    import hashlib

    from tests.test_yum_plugin import Yum, ok, python27
    yum = Yum(tmp_path, std_set, http_serve(std_set.repo), python27())
    local = swapping_package(builder, yum.root)
    with open(local, "rb") as f:
        bar = hashlib.sha256(f.read()).hexdigest()
    res = ok(yum.transaction([{"op": "install", "local": local}]))
    assert res.harness["python"] == [2, 7]
    assert "bar-2.0-1.noarch" in bed.installed(yum.root)
    with open(local, "rb") as f:  # the swap happened: the path holds foo now
        assert hashlib.sha256(f.read()).hexdigest() != bar
    assert "persist_rpm: persisted bar-2.0-1.noarch" in res.stdout, res
    stored = yum.stored()
    assert list(stored) == ["bar-2.0-1.noarch"] and stored["bar-2.0-1.noarch"]["sha256"] == bar


# -- 2. Names are data, never patterns ------------------------------------------

def test_an_erased_package_named_like_a_glob_drops_only_itself(dnf, builder, tmp_path):
    assert dnf("install", "tool-1.0", "unsigned").returncode == 0
    before = set(dnf.stored())
    assert before == {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch", "unsigned-1.0-1.noarch"}
    # rpm accepts a package named "*****" (rpmbuild does not): the NEVRA
    # "*****-1.0-1.noarch" as a glob matches every 1.0-1 noarch package.
    star = forge.rewrite(builder.build("starz", provides=["starry-thing"]),
                         tmp_path / "star.rpm", [(b"starz", b"*****")])
    subprocess.run(["rpm", "--root", dnf.root, "-i", "--nodeps", star], check=True,
                   env=bed.tool_env())
    res = dnf("remove", "starry-thing")
    assert res.returncode == 0, res
    assert "*****-1.0-1.noarch" not in bed.installed(dnf.root)
    assert set(dnf.stored()) == before
    assert not os.path.exists(os.path.join(dnf.store, ".persistrepo", "removed"))


def test_status_names_no_other_package_s_file_for_a_glob_like_name(store, std_set, builder,
                                                                   tmp_path):
    root = bed.make_root(tmp_path / "root")
    star = forge.rewrite(builder.build("starz"), tmp_path / "star.rpm", [(b"starz", b"*****")])
    subprocess.run(["rpm", "--root", root, "-i", "--nodeps", star], check=True,
                   env=bed.tool_env())
    cache = os.path.join(root, "var/cache/dnf/std-0123456789abcdef/packages")
    os.makedirs(cache)
    shutil.copy(std_set.path("tool", "1.0"), cache)
    res = no_traceback(cli("--store", store, "status", "--installroot", root, "--json"))
    fix = json.loads(res.stdout)["fixes"]["*****-1.0-1.noarch"]
    assert "tool-1.0" not in fix and fix.endswith(" add '*****'"), fix


def test_a_queued_removal_is_literal_too(store, std_set):
    from persistrepo.store import incoming
    incoming.queue_remove(store, "*-1.0-1.noarch")
    res = no_traceback(cli("--store", store, "ingest"))
    assert res.returncode == 0, res.stderr
    assert set(listed(store)) == BASE


# -- 3. Provenance text cannot break the store ----------------------------------

@pytest.mark.parametrize("origin,shown", [
    ("a\nb", "a\\x0ab"), ("tab\there", "tab\\x09here"), ("x" * 600, "x" * 509 + "..."),
    ("repo\x7f\x1b[31m", "repo\\x7f\\x1b[31m"), ("Jürgen's repo", "Jürgen's repo"),
    # brackets in a string are no nesting, whatever quotes and backslashes come with them
    ('[' * 40 + '"\\' + '{' * 40 + '""\\', '[' * 40 + '"\\' + '{' * 40 + '""\\')])
def test_any_origin_text_round_trips(store, std_set, origin, shown):
    res = no_traceback(cli("--store", store, "add", "--origin", origin,
                           std_set.path("unsigned")))
    assert res.returncode == 0, res.stderr
    assert listed(store)["unsigned-1.0-1.noarch"]["origin"] == shown
    # Every reader and writer goes on: list, verify, another add, remove, restore.
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})
    assert cli("--store", store, "add", std_set.path("signed")).returncode == 0
    assert cli("--store", store, "remove", "unsigned").returncode == 0
    res = cli("--store", store, "restore", "unsigned")
    assert res.returncode == 0, res.stderr
    assert listed(store)["unsigned-1.0-1.noarch"]["origin"] == shown


def test_every_field_of_an_entry_round_trips(store, std_set):
    """What make_entry writes, the reader takes back: every field."""
    from persistrepo.store import record, rpmfile
    info = rpmfile.read_package(std_set.path("epochy", "1.0"))
    entry = record.make_entry(info, "dnf", "r\n" * 400, "dependency",
                              persisted_at="not a time")
    record.check_entry(entry)
    again = record.parse_index(record.Index(1, {entry["filename"]: entry}).to_bytes())
    assert again.packages[entry["filename"]] == entry
    assert entry["epoch"] == 1 and entry["persisted_at"][:2] == "20"


def test_a_queued_request_with_hostile_text_is_stored_readably(store, std_set, tmp_path):
    from persistrepo.store import incoming
    root = bed.make_root(tmp_path / "root")
    subprocess.run(["rpm", "--root", root, "-U", std_set.path("unsigned")], check=True,
                   env=bed.tool_env())
    incoming.queue_add(store, std_set.path("unsigned"), "unsigned-1.0-1.noarch", root, "yum",
                       "a\tb\n" * 200, "user")
    res = no_traceback(cli("--store", store, "ingest", "--installroot", root))
    assert res.returncode == 0, res.stderr
    origin = listed(store)["unsigned-1.0-1.noarch"]["origin"]
    assert len(origin) == 512 and origin.startswith("a\\x09b\\x0a")
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


# -- 4. Nothing is lost on the way to the trash, to the store or back ------------

def removed_dir(store):
    return os.path.join(state(store), "removed")


def test_trash_slots_dated_in_the_future_never_cost_a_fresh_removal(store):
    os.makedirs(removed_dir(store))
    for n in range(10):
        os.mkdir(os.path.join(removed_dir(store), "20991231T2359%02dZ-000" % n))
    res = cli("--store", store, "remove", "tool")
    assert "restore tool-1.0-1.noarch' puts it back" in res.stdout, res.stdout
    res = cli("--store", store, "restore", "tool")
    assert res.returncode == 0, res.stderr
    assert set(listed(store)) == BASE


def test_import_of_another_build_keeps_the_old_one_in_the_trash(store, builder, tmp_path):
    first = builder.build("twin", files={"/usr/share/twin.txt": "one\n"})
    other = builder.build("twin", files={"/usr/share/twin.txt": "other build\n"})
    assert cli("--store", store, "add", first).returncode == 0
    old = listed(store)["twin-1.0-1.noarch"]["sha256"]
    source = tmp_path / "persisted-rpms"
    source.mkdir()
    shutil.copy(other, str(source / "twin-1.0-1.noarch.rpm"))
    res = no_traceback(cli("--store", store, "import-imgbased", "--from", str(source),
                           "--imgbased-conf", str(tmp_path / "none.conf")))
    assert res.returncode == 0, res.stderr
    assert listed(store)["twin-1.0-1.noarch"]["sha256"] != old
    removed = json.loads(cli("--store", store, "list", "--removed", "--json").stdout)
    assert [e["sha256"] for e in removed] == [old]


def test_restore_never_overwrites_an_orphan(store, std_set):
    assert cli("--store", store, "remove", "tool").returncode == 0
    orphan = os.path.join(store, "tool-1.0-1.noarch.rpm")
    shutil.copy(std_set.path("unsigned"), orphan)  # not what the name says, and no entry
    res = no_traceback(cli("--store", store, "restore", "tool"))
    assert res.returncode == 1 and "refresh" in one_line_error(res)
    with open(orphan, "rb") as f, open(std_set.path("unsigned"), "rb") as g:
        assert f.read() == g.read()
    assert "tool-1.0-1.noarch" in [e["nevra"] for e in json.loads(
        cli("--store", store, "list", "--removed", "--json").stdout)]


def test_restore_over_a_different_build_says_so_and_keeps_both(store, builder):
    first = builder.build("twin", files={"/usr/share/twin.txt": "one\n"})
    other = builder.build("twin", files={"/usr/share/twin.txt": "other build\n"})
    assert cli("--store", store, "add", first).returncode == 0
    assert cli("--store", store, "remove", "twin").returncode == 0
    assert cli("--store", store, "add", other).returncode == 0
    stored = listed(store)["twin-1.0-1.noarch"]["sha256"]
    res = no_traceback(cli("--store", store, "restore", "twin"))
    assert res.returncode == 1 and "different build" in one_line_error(res)
    assert listed(store)["twin-1.0-1.noarch"]["sha256"] == stored
    assert len(json.loads(cli("--store", store, "list", "--removed", "--json").stdout)) == 1


def test_restore_checks_what_it_brings_back(store):
    assert cli("--store", store, "remove", "tool").returncode == 0
    slot = os.path.join(removed_dir(store), os.listdir(removed_dir(store))[0])
    kept = os.path.join(slot, "tool-1.0-1.noarch.rpm")
    with open(kept, "rb") as f:  # a new file: the kept one may be a hardlink of the build
        data = bytearray(f.read())
    data[-10] ^= 0xff
    os.unlink(kept)
    with open(kept, "wb") as f:
        f.write(bytes(data))
    res = no_traceback(cli("--store", store, "restore", "tool"))
    assert res.returncode == 1 and "corrupt" in one_line_error(res)
    assert os.path.exists(kept)  # it stays where it was
    healthy(store, BASE - {"tool-1.0-1.noarch"})


# -- 5. One bad item never wedges the store ---------------------------------------

def wedge(store, kind):
    if kind == "bad-slot-name":
        os.makedirs(os.path.join(removed_dir(store), "20261399T999999Z-000"))
    elif kind == "slot-file":
        os.makedirs(removed_dir(store))
        write_text(os.path.join(removed_dir(store), "20260101T000000Z-000"), "x")
    elif kind == "package-directory":  # where the next add puts its file
        os.mkdir(os.path.join(store, "unsigned-1.0-1.noarch.rpm"))
    elif kind in ("symlinked-repodata", "symlinked-chunks"):
        sub = os.path.join(store, "repodata") if kind == "symlinked-repodata" else \
            os.path.join(state(store), "chunks")
        shutil.copytree(sub, sub + ".real")
        shutil.rmtree(sub)
        os.symlink(sub + ".real", sub)
    elif kind == "removed-symlink":
        os.symlink("/tmp", removed_dir(store))
    elif kind in ("deep-index", "deep-journal"):
        name = "index.json" if kind == "deep-index" else "journal.json"
        write_text(os.path.join(state(store), name), deep_json())
    elif kind == "fifo-lock":
        os.unlink(os.path.join(state(store), "lock"))
        os.mkfifo(os.path.join(state(store), "lock"), 0o600)
    elif kind == "symlinked-repomd":
        repomd = os.path.join(store, "repodata", "repomd.xml")
        shutil.copy(repomd, repomd + ".outside")
        os.unlink(repomd)
        os.symlink(repomd + ".outside", repomd)
    elif kind == "deep-trash-entry":
        assert cli("--store", store, "remove", "tool").returncode == 0
        slot = os.path.join(removed_dir(store), os.listdir(removed_dir(store))[0])
        write_text(os.path.join(slot, "entry.json"), deep_json())


@pytest.mark.parametrize("kind", ["bad-slot-name", "slot-file", "package-directory",
                                  "removed-symlink", "deep-index", "deep-journal",
                                  "fifo-lock", "symlinked-repomd", "deep-trash-entry",
                                  "symlinked-repodata", "symlinked-chunks"])
def test_one_bad_item_never_wedges_the_store(store, std_set, kind):
    wedge(store, kind)
    res = no_traceback(cli("--store", store, "verify"))
    assert res.returncode in (1, 3), res.stdout
    for args in (["list"], ["list", "--removed"], ["restore", "nothing-like-this"],
                 ["remove", "nothing-like-this"], ["status"], ["add", std_set.path("unsigned")],
                 ["remove", "unsigned"]):
        no_traceback(cli("--store", store, *args))
    res = no_traceback(cli("--store", store, "refresh"))  # (a write may have repaired it)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    expected = BASE - {"tool-1.0-1.noarch"} if kind == "deep-trash-entry" else BASE
    # every write works again, removals included
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    assert cli("--store", store, "remove", "unsigned").returncode == 0, kind
    healthy(store, expected)


def test_a_symlinked_state_directory_is_an_unsafe_store(store, tmp_path):
    real = str(tmp_path / "elsewhere")
    os.rename(state(store), real)
    os.symlink(real, state(store))
    for args in (["list"], ["add", "x.rpm"], ["verify"], ["refresh"]):
        res = no_traceback(cli("--store", store, *args))
        assert res.returncode == 3, (args, res.stderr)
        assert "symlink" in one_line_error(res)


def test_a_huge_store_file_is_refused_not_read(store):
    with open(os.path.join(state(store), "index.json"), "ab") as f:
        f.truncate(300 << 20)  # sparse: larger than any index the store writes
    res = no_traceback(cli("--store", store, "list"))
    assert res.returncode == 3 and "larger than" in one_line_error(res)
    assert "set aside .persistrepo/index.json" in cli("--store", store, "refresh").stdout


# -- 9. Hostile files never crash the readers ------------------------------------

@pytest.mark.parametrize("doc", ['{"status": "ok", "packages": [1], "refused": []}',
                                 '{"status": 1, "packages": [], "refused": [[]]}',
                                 '[1]', deep_json()])
def test_status_reads_any_replay_report(store, tmp_path, doc):
    root = bed.make_root(tmp_path / "image")
    reports = os.path.join(root, "var/log/persistrepo")
    os.makedirs(reports)
    write_text(os.path.join(reports, "replay-20260101T000000.000000Z.json"), doc)
    res = no_traceback(cli("--store", store, "status", "--installroot", root, "--json"))
    assert res.returncode in (0, 100), res.stderr
    assert json.loads(res.stdout)["last_replay"]["status"] == "unreadable"


# -- 7. Import and adopt treat their sources as hostile ----------------------------

NOBODY = 65534


def imgbased_source(tmp_path, std_set, owner=0, mode=0o644, dir_mode=0o755):
    source = tmp_path / "persisted-rpms"
    source.mkdir()
    path = str(source / "unsigned-1.0-1.noarch.rpm")
    shutil.copy(std_set.path("unsigned"), path)
    os.chown(path, owner, owner)
    os.chmod(path, mode)
    os.chown(str(source), owner, owner)
    os.chmod(str(source), dir_mode)
    return str(source), path


def test_import_takes_only_root_s_own_files(store, std_set, tmp_path):
    source, path = imgbased_source(tmp_path, std_set, owner=NOBODY, mode=0o600,
                                   dir_mode=0o700)
    res = no_traceback(cli("--store", store, "import-imgbased", "--from", source,
                           "--imgbased-conf", str(tmp_path / "none.conf")))
    assert res.returncode == 1 and "owned by uid %d" % NOBODY in one_line_error(res)
    assert set(listed(store)) == BASE and os.path.exists(path)


def test_import_never_follows_a_link_swapped_in(store, std_set, tmp_path):
    """The swap after the listing, at the one open: the link is refused."""
    from persistrepo.errors import BadPackage
    from persistrepo.store.store import Candidate, Store
    link = str(tmp_path / "swapped.rpm")
    os.symlink(std_set.path("unsigned"), link)
    with pytest.raises(BadPackage, match="symlink"):
        Store(store).add([Candidate(link, origin="imgbased-persist", root_owned=True)])
    assert set(listed(store)) == BASE


CONF = "[main]\nenabled = 1\n# keep me\n\n[other]\nenabled=1\n"


def test_config_rewrite_touches_only_imgbased_persist_s_switch(store, tmp_path):
    conf = str(tmp_path / "imgbased-persist.conf")
    write_text(conf, CONF, 0o640)
    victim = str(tmp_path / "victim")
    write_text(victim, "precious\n")
    os.symlink(victim, conf + ".persistrepo-tmp")  # planted where the old code wrote
    res = no_traceback(cli("--store", store, "import-imgbased", "--no-import",
                           "--imgbased-conf", conf))
    assert res.returncode == 0, res.stderr
    with open(conf) as f:
        assert f.read() == CONF.replace("enabled = 1", "enabled = 0", 1)
    assert oct(os.stat(conf).st_mode & 0o777) == oct(0o640)
    with open(victim) as f:
        assert f.read() == "precious\n"


def test_a_refused_adopt_changes_nothing(std_set, tmp_path):
    repo = str(tmp_path / "repo")
    bed.make_repo(repo, [std_set.path("tool", "1.0"), std_set.path("libtool-dep")])
    os.chmod(os.path.join(repo, "repodata"), 0o775)  # group-writable: unsafe as root
    before = sorted(os.listdir(repo)) + sorted(os.listdir(os.path.join(repo, "repodata")))
    res = no_traceback(cli("--store", repo, "refresh", "--adopt"))
    assert res.returncode == 3, res.stdout + res.stderr
    assert sorted(os.listdir(repo)) + sorted(os.listdir(os.path.join(repo, "repodata"))) \
        == before
    os.chmod(os.path.join(repo, "repodata"), 0o755)
    assert cli("--store", repo, "refresh", "--adopt").returncode == 0
    assert set(listed(repo)) == BASE


# -- 6. Replay writes only inside the root -----------------------------------------

def replay_setup(tmp_path, builder, **kw):
    from tests.test_replay import image, store_of
    root = image(tmp_path, [builder.build("imgpkg")])
    store = store_of(tmp_path, (builder.build("good"), "user"), **kw)
    return root, store


def outside_dir(tmp_path, files=25):
    outside = tmp_path / "outside"
    outside.mkdir()
    for n in range(files):
        write_text(str(outside / ("replay-2026010%dT000000.000000Z.json" % n)
                       if n < 10 else outside / ("replay-2026-%02d.json" % n)), "{}")
    return str(outside), sorted(os.listdir(str(outside)))


def test_the_replay_report_never_leaves_the_root(tmp_path, builder):
    root, store = replay_setup(tmp_path, builder)
    outside, before = outside_dir(tmp_path)
    os.makedirs(os.path.join(root, "var/log"), exist_ok=True)
    os.symlink(outside, os.path.join(root, "var/log/persistrepo"))
    res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(os.listdir(outside)) == before
    # The absolute link is followed inside the root, as it reads from there.
    inside = os.path.join(root, outside.lstrip("/"))
    assert [n for n in os.listdir(inside) if n.startswith("replay-")]


def test_dnf_history_stays_inside_the_root_for_the_cli_too(tmp_path, builder):
    root, store = replay_setup(tmp_path, builder)
    outside = str(tmp_path / "outside-dnf")
    os.mkdir(outside)
    os.makedirs(os.path.join(root, "var/lib"), exist_ok=True)
    shutil.rmtree(os.path.join(root, "var/lib/dnf"), ignore_errors=True)
    os.symlink(outside, os.path.join(root, "var/lib/dnf"))
    res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert os.listdir(outside) == []
    assert os.path.exists(os.path.join(root, outside.lstrip("/"), "history.sqlite"))


@pytest.mark.parametrize("where", ["etc/dnf", "rpmdb", "var/log"])
def test_a_root_whose_write_paths_lead_out_is_refused_before_anything(tmp_path, builder,
                                                                      where):
    from tests.test_replay import snapshot
    root, store = replay_setup(tmp_path, builder)
    outside = str(tmp_path / "outside")
    if where == "rpmdb":
        shutil.move(os.path.join(root, bed.DBPATH.lstrip("/")), outside)
        os.symlink(outside, os.path.join(root, bed.DBPATH.lstrip("/")))
    else:
        os.mkdir(outside)
        shutil.rmtree(os.path.join(root, where), ignore_errors=True)
        os.makedirs(os.path.dirname(os.path.join(root, where)), exist_ok=True)
        os.symlink(outside, os.path.join(root, where))
    before, outside_before = snapshot(root), snapshot(outside)
    for args in ([], ["--dry-run"]):
        res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root,
                               *args))
        assert res.returncode == 3, res.stdout + res.stderr
        assert "leads out of the new root" in one_line_error(res)
    assert snapshot(root) == before and snapshot(outside) == outside_before


def test_a_failed_strict_replay_leaves_no_mount_points(tmp_path, builder):
    from tests.test_replay import image, store_of
    root = image(tmp_path, [builder.build("imgpkg")])
    store = store_of(tmp_path, (builder.build("needy", requires=["missingcap"]), "user"))
    for d in ("proc", "sys", "run"):
        assert not os.path.lexists(os.path.join(root, d))
    res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root))
    assert res.returncode == 1
    for d in ("proc", "sys", "run"):
        assert not os.path.lexists(os.path.join(root, d)), d


# -- 9 (modules). A YAML bomb never reaches libdnf ----------------------------------

BOMB = "".join(["---\ndocument: modulemd\nversion: 2\ndata:\n",
                "  a: &a [\"lol\",\"lol\",\"lol\"]\n"] +
               ["  %s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n" % ((chr(98 + i), chr(98 + i))
                                                                   + (chr(97 + i),) * 9)
                for i in range(9)] + ["...\n"])


def test_a_yaml_bomb_in_the_store_s_module_metadata(store, tmp_path):
    from tests.test_replay import image
    bomb = tmp_path / "modules.yaml"
    bomb.write_text(BOMB)
    subprocess.run(["modifyrepo_c", "--mdtype=modules", str(bomb),
                    os.path.join(store, "repodata")], check=True, stdout=subprocess.PIPE)
    res = no_traceback(cli("--store", store, "verify"))
    assert res.returncode == 1 and "modules: repodata" in res.stdout, res.stdout
    root = image(tmp_path, [])
    for args in (["--dry-run"], []):
        res = no_traceback(cli("replay", "--installroot", root, "--store", store, *args,
                               timeout=60))
        assert res.returncode == 3, res.stdout + res.stderr
        assert "module metadata cannot be replayed" in one_line_error(res)
    assert cli("--store", store, "refresh").returncode in (0, 1)  # it rewrites repodata
    healthy(store, BASE)
    res = cli("replay", "--installroot", root, "--store", store, "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_imgbased_hook_refuses_a_layer_whose_rpmdb_leads_out(node, std_set, tmp_path):
    """The hook replays through the same checks: the layer's usr/share/rpm
    pointing outside aborts the update with one line, and the outside
    rpmdb gets nothing."""
    from tests.test_imgbased import OLD, persist, update
    persist(node, std_set.path("tool", "1.0"), std_set.path("libtool-dep"))
    outside = str(tmp_path / "outside-rpmdb")
    shutil.move(os.path.join(node["image"], "usr/share/rpm"), outside)
    os.symlink(outside, os.path.join(node["image"], "usr/share/rpm"))
    before = dict((n, os.path.getsize(os.path.join(outside, n))) for n in os.listdir(outside))
    report, err = update(node)
    assert report == dict(report, ok=False, error="BootSetupError", layers=[OLD])
    assert "leads out of the new root" in err, err
    assert dict((n, os.path.getsize(os.path.join(outside, n)))
                for n in os.listdir(outside)) == before


def test_an_add_over_an_orphan_keeps_the_orphan(store, std_set):
    orphan = os.path.join(store, "unsigned-1.0-1.noarch.rpm")
    shutil.copy(std_set.path("tool", "1.0"), orphan)  # a file nobody recorded
    os.chmod(orphan, 0o644)
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    slots = os.listdir(removed_dir(store))
    kept = os.path.join(removed_dir(store), slots[0], "unsigned-1.0-1.noarch.rpm")
    with open(kept, "rb") as f, open(std_set.path("tool", "1.0"), "rb") as g:
        assert f.read() == g.read()
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


def test_with_removed_a_symlink_adds_go_on_and_removals_are_refused(store, std_set, tmp_path):
    os.symlink(str(tmp_path), removed_dir(store))
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    res = no_traceback(cli("--store", store, "remove", "unsigned"))
    assert res.returncode == 3 and "refresh" in one_line_error(res)
    assert "unsigned-1.0-1.noarch" in listed(store)
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "stray: .persistrepo/removed" in res.stdout, res.stdout
    assert cli("--store", store, "refresh").returncode == 1
    assert cli("--store", store, "remove", "unsigned").returncode == 0
    healthy(store, BASE)


# -- 6b. Replay installs only what the provenance record lists -----------------------

@pytest.mark.parametrize("name, version", [("libfoo", "2.0"), ("app", "1.0")],
                         ids=["newer-dependency", "another-build-of-a-requested-nevra"])
def test_a_package_smuggled_into_the_repodata_only_is_never_replayed(tmp_path, builder,
                                                                    name, version):
    """Repodata regenerated over the store with a newer build of a stored
    dependency (dnf would pick it), or another build of a requested NEVRA:
    replay leaves it out, says so in one line, and installs the recorded set.
    verify names it and the directory it came in, refresh repairs the
    repodata and sets the directory aside in the quarantine."""
    from tests.test_replay import image, store_of
    b = builder.build
    store = store_of(tmp_path, (b("app", requires=["libfoo"]), "user"),
                     (b("libfoo", "1.0"), "dependency"))
    smuggled = os.path.join(store.layout.root, "smuggled")
    os.mkdir(smuggled)
    shutil.copy(b(name, version, files={"/etc/evil": "x\n"}), smuggled)
    location = "smuggled/%s-%s-1.noarch.rpm" % (name, version)
    subprocess.run(["createrepo_c", "--quiet", store.layout.root], check=True)
    assert location in repodata_packages(store.layout.root)

    root = image(tmp_path, [b("imgpkg")])
    res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert bed.installed(root) == {"imgpkg-1.0-1.noarch", "app-1.0-1.noarch",
                                   "libfoo-1.0-1.noarch"}
    assert not os.path.lexists(os.path.join(root, "etc/evil"))
    [line] = [l for l in res.stdout.splitlines() if l.startswith("refused ")]
    assert line.startswith("refused %s: " % location)
    assert "not in the provenance record" in line and "verify" in line and "refresh" in line

    res = no_traceback(cli("--store", store.layout.root, "verify"))
    assert res.returncode != 0
    assert location in res.stdout + res.stderr
    assert "stray: smuggled: neither a package file nor a directory of the store" \
        in res.stdout
    res = no_traceback(cli("--store", store.layout.root, "refresh"))
    assert res.returncode == 1, res.stdout + res.stderr  # something was set aside
    [line] = [l for l in res.stdout.splitlines() if l.startswith("set aside smuggled ")]
    kept = line.split(" as ", 1)[1].split(":", 1)[0]
    assert kept.startswith(".persistrepo/quarantine/") and kept.endswith("-smuggled")
    assert not os.path.lexists(smuggled)  # out of the store's top directory, never deleted
    assert os.listdir(os.path.join(store.layout.root, kept)) == [os.path.basename(location)]
    assert location not in repodata_packages(store.layout.root)
    assert cli("--store", store.layout.root, "verify").returncode == 0
    clean = image(tmp_path, [b("imgpkg")], name="clean")
    res = no_traceback(cli("replay", "--installroot", clean, "--store", store.layout.root))
    assert res.returncode == 0 and "refused" not in res.stdout, res.stdout + res.stderr
    assert bed.installed(clean) == bed.installed(root)


def edit_primary(store_root, edit):
    """Rewrite the store's primary metadata as edit(packages) gives it (the
    createrepo_c packages the repodata lists), as a hand-made repodata would."""
    import createrepo_c as cr
    repodata = os.path.join(store_root, "repodata")
    repomd = cr.Repomd(os.path.join(repodata, "repomd.xml"))
    [record] = [r for r in repomd.records if r.type == "primary"]
    packages = []
    cr.xml_parse_primary(os.path.join(store_root, record.location_href),
                         pkgcb=packages.append, do_files=False)
    path = os.path.join(repodata, "edited-primary.xml.gz")
    packages = edit(packages)
    primary = cr.PrimaryXmlFile(path)
    primary.set_num_of_pkgs(len(packages))
    for pkg in packages:
        primary.add_pkg(pkg)
    primary.close()
    edited = cr.RepomdRecord("primary", path)
    edited.fill(cr.SHA256)
    repomd.set_record(edited)
    write_text(os.path.join(repodata, "repomd.xml"), repomd.xml_dump())


def relabelled(packages, name, version, keep):
    """packages with name's record also (keep) or only listed as version."""
    [pkg] = [p for p in packages if p.name == name]
    other = pkg.copy()
    other.version = version
    return [p for p in packages if keep or p is not pkg] + [other]


@pytest.mark.parametrize("keep", [True, False], ids=["listed-twice", "relabelled"])
def test_a_stored_file_listed_as_another_nevra_is_named_and_never_replayed_as_such(
        tmp_path, builder, keep):
    """The repodata lists a stored file (same location and sha256) as a newer
    NEVRA, beside its own record or instead of it: verify names the file,
    replay never takes the other NEVRA, refresh repairs."""
    from tests.test_replay import image, store_of
    b = builder.build
    store = store_of(tmp_path, (b("app", requires=["libfoo"]), "user"),
                     (b("libfoo", "1.0"), "dependency"))
    edit_primary(store.layout.root, lambda pkgs: relabelled(pkgs, "libfoo", "2.0", keep))
    res = no_traceback(cli("--store", store.layout.root, "verify"))
    assert res.returncode != 0
    assert "drift: libfoo-1.0-1.noarch.rpm: " in res.stdout, res.stdout + res.stderr

    root = image(tmp_path, [b("imgpkg")])
    res = no_traceback(cli("replay", "--installroot", root, "--store", store.layout.root))
    [line] = [l for l in res.stdout.splitlines() if l.startswith("refused ")]
    assert line.startswith("refused libfoo-1.0-1.noarch.rpm: libfoo-2.0-1.noarch is in the "
                           "store's repodata but not in the provenance record"), line
    if keep:
        assert res.returncode == 0, res.stdout + res.stderr
        assert bed.installed(root) == {"imgpkg-1.0-1.noarch", "app-1.0-1.noarch",
                                       "libfoo-1.0-1.noarch"}
    else:  # what app needs is in the repodata only as what was never recorded
        assert res.returncode == 1, res.stdout + res.stderr
        assert bed.installed(root) == {"imgpkg-1.0-1.noarch"}

    assert cli("--store", store.layout.root, "refresh").returncode == 0
    assert cli("--store", store.layout.root, "verify").returncode == 0
    clean = image(tmp_path, [b("imgpkg")], name="clean")
    res = no_traceback(cli("replay", "--installroot", clean, "--store", store.layout.root))
    assert res.returncode == 0 and "refused" not in res.stdout, res.stdout + res.stderr
    assert bed.installed(clean) == {"imgpkg-1.0-1.noarch", "app-1.0-1.noarch",
                                    "libfoo-1.0-1.noarch"}


def test_lost_and_found_is_the_store_s_own_only_where_the_store_is_a_file_system(
        tmp_path, std_set):
    """mkfs makes lost+found at a file system's root, and fsck needs it there:
    a store mounted on its own keeps it; anywhere else it is a stray."""
    root = str(tmp_path / "store")
    with bed.tmpfs(root, "16m"):
        os.mkdir(os.path.join(root, "lost+found"), 0o700)
        assert cli("--store", root, "add", std_set.path("tool", "1.0")).returncode == 0
        assert no_traceback(cli("--store", root, "verify")).returncode == 0
        assert no_traceback(cli("--store", root, "refresh")).returncode == 0
        assert os.path.isdir(os.path.join(root, "lost+found"))
    assert cli("--store", root, "add", std_set.path("tool", "1.0")).returncode == 0
    os.mkdir(os.path.join(root, "lost+found"))
    res = no_traceback(cli("--store", root, "verify"))
    assert res.returncode != 0 and "stray: lost+found: " in res.stdout, res.stdout
