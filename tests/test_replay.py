"""persistrepo replay: real dnf and rpm against rpmfluff-built image roots."""

import json
import os
import sqlite3
import subprocess
import time

import pytest

from persistrepo.store.keys import add_key
from persistrepo.store.store import Candidate, Store
from tests.support import bed
from tests.support.storebed import cli, cli_command, cli_env, one_line_error

ITEM_FIELDS = {"nevra", "name", "epoch", "version", "release", "arch", "role", "action",
               "reason", "root_has", "needed_by", "repo", "outcome"}


def image(tmp_path, rpms, name="root"):
    """A new image root with rpms installed by the real dnf."""
    root = bed.make_root(tmp_path / name)
    if rpms:
        res = bed.run_dnf(root, ["install"] + [str(p) for p in rpms])
        assert res.returncode == 0, res
    return root


def store_of(tmp_path, *cands):
    """A store holding Candidate(...) or (path, reason) pairs."""
    store = Store(str(tmp_path / "store"))
    store.add([c if isinstance(c, Candidate) else Candidate(c[0], reason=c[1])
               for c in cands])
    return store


def replay(root, store, *args):
    return cli("replay", "--installroot", root, "--store", store.layout.root, *args)


def replay_json(root, store, *args):
    res = replay(root, store, "--json", *args)
    assert "Traceback" not in res.stderr, res.stderr
    return res, json.loads(res.stdout)


def actions(doc):
    return dict((p["nevra"], (p["role"], p["action"])) for p in doc["packages"])


def snapshot(root):
    """Every path under root with its size and mtime, but what every reader of
    the rpmdb touches: sqlite's -shm index, and the mtime of the rpmdb
    directory itself, where Berkeley DB (EL7, EL8, bullseye) makes and drops
    its environment on each open, even `rpm -qa`."""
    rpmdb = os.path.join(root, bed.DBPATH.lstrip("/"))
    state = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + [f for f in files if not f.endswith("-shm")]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            state[path] = (st.st_size, None if path == rpmdb else st.st_mtime)
    return state


def reports(root):
    directory = os.path.join(root, "var/log/persistrepo")
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, n) for n in os.listdir(directory))


def test_plan_cases_dry_run_transaction_and_idempotence(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [b("up", "1.0"), b("same", "1.0"), b("newer", "3.0"),
                            b("epo", "2.0"), b("kernel", "5.0")])
    store = store_of(tmp_path, (b("up", "2.0"), "user"), (b("up", "1.5"), "user"),
                     (b("same", "1.0"), "user"), (b("newer", "2.0"), "user"),
                     (b("epo", "1.0", epoch=1), "user"), (b("fresh", "1.0"), "unknown"),
                     (b("kernel", "4.0"), "user"), (b("kernel", "6.0"), "user"),
                     (b("kernel", "6.1"), "user"))
    image_set = bed.installed(root)

    before = snapshot(root)
    res, doc = replay_json(root, store, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert snapshot(root) == before
    assert doc["status"] == "planned" and doc["report_file"] is None
    assert actions(doc) == {
        "up-2.0-1.noarch": ("requested", "upgrade"),
        "same-1.0-1.noarch": ("requested", "skip"),
        "newer-2.0-1.noarch": ("requested", "skip"),
        "epo-1:1.0-1.noarch": ("requested", "upgrade"),
        "fresh-1.0-1.noarch": ("requested", "install"),
        "kernel-4.0-1.noarch": ("requested", "skip"),
        "kernel-6.0-1.noarch": ("requested", "install"),
        "kernel-6.1-1.noarch": ("requested", "install"),
    }
    reasons = dict((p["nevra"], p["reason"]) for p in doc["packages"])
    assert reasons["newer-2.0-1.noarch"] == "the root already has newer-3.0-1.noarch (newer)"
    assert "same version" in reasons["same-1.0-1.noarch"]

    res = replay(root, store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "installed 5 packages (2 upgraded)" in res.stdout
    assert bed.installed(root) == {
        "up-2.0-1.noarch", "same-1.0-1.noarch", "newer-3.0-1.noarch", "epo-1:1.0-1.noarch",
        "fresh-1.0-1.noarch", "kernel-5.0-1.noarch", "kernel-6.0-1.noarch",
        "kernel-6.1-1.noarch"}
    # dnf's history inside the new root records the replay transaction.
    with sqlite3.connect(os.path.join(root, "var/lib/dnf/history.sqlite")) as db:
        cmdlines = [r[0] for r in db.execute("select cmdline from trans order by id")]
    assert cmdlines[-1].startswith("persistrepo replay")
    [first] = reports(root)
    with open(first) as f:
        report = json.load(f)
    assert report["status"] == "ok" and report["exit_code"] == 0
    assert report["report_file"] == "/var/log/persistrepo/" + os.path.basename(first)
    outcomes = dict((p["nevra"], p["outcome"]) for p in report["packages"])
    assert outcomes["up-2.0-1.noarch"] == "done"
    assert outcomes["same-1.0-1.noarch"] == "skipped"

    after = bed.installed(root)
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    assert doc["status"] == "nothing-to-do"
    assert set(a for _, a in actions(doc).values()) == {"skip"}
    assert bed.installed(root) == after != image_set
    assert reports(root) == [first]  # nothing to do leaves no new report


def test_an_empty_store_replays_nothing(tmp_path):
    """The empty directory the package ships is a store with nothing in it:
    nothing to do, exit 0, no report, the root untouched."""
    root = image(tmp_path, [])
    store = Store(str(tmp_path / "shipped"))
    os.makedirs(store.layout.root)
    before = snapshot(root)
    res = replay(root, store)
    assert res.returncode == 0, res.stderr
    assert "nothing to do: nothing to replay" in res.stdout
    res, doc = replay_json(root, store)
    assert res.returncode == 0 and doc["status"] == "nothing-to-do" and doc["packages"] == []
    assert snapshot(root) == before and reports(root) == []


def test_pre_flight_against_a_read_only_image(tmp_path, builder):
    """replay --dry-run against the new image mounted read-only (as its
    squashfs is) lists what would not replay and why, and writes nothing."""
    ok = builder.build("flight-ok")
    kmod = builder.build("flight-kmod", requires=["flight-kernel = 1.0"])
    root = image(tmp_path, [builder.build("flight-kernel", version="2.0")], "image")
    store = store_of(tmp_path, (ok, "user"), (kmod, "user"))
    ro = str(tmp_path / "ro")
    os.mkdir(ro)
    subprocess.run(["mount", "--bind", root, ro], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        res, doc = replay_json(ro, store, "--dry-run")
    finally:
        subprocess.run(["umount", ro], check=True)
    assert res.returncode == 1, res.stderr
    assert actions(doc) == {"flight-ok-1.0-1.noarch": ("requested", "install"),
                            "flight-kmod-1.0-1.noarch": ("requested", "broken")}
    [broken] = [p for p in doc["packages"] if p["action"] == "broken"]
    assert "flight-kernel = 1.0" in broken["reason"]
    assert doc["status"] == "failed" and reports(root) == []


def test_dependency_pool(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [b("imglib", "2.0"), b("oldlib", "1.0")])
    store = store_of(tmp_path,
                     (b("tool", "1.0", requires=["imglib", "toollib", "oldlib >= 2"]), "user"),
                     (b("imglib", "1.0"), "dependency"),
                     (b("toollib", "1.0"), "dependency"),
                     (b("oldlib", "2.0"), "dependency"),
                     (b("orphan", "1.0"), "dependency"))
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    got = dict((p["nevra"], p) for p in doc["packages"])
    assert got["toollib-1.0-1.noarch"]["action"] == "install"
    assert got["toollib-1.0-1.noarch"]["needed_by"] == ["tool-1.0-1.noarch"]
    assert "needed by tool-1.0-1.noarch (requires toollib)" in \
        got["toollib-1.0-1.noarch"]["reason"]
    assert got["oldlib-2.0-1.noarch"]["action"] == "upgrade"
    assert got["imglib-1.0-1.noarch"]["action"] == "skip"
    assert "the root already has imglib-2.0-1.noarch" in got["imglib-1.0-1.noarch"]["reason"]
    assert got["orphan-1.0-1.noarch"]["action"] == "skip"
    assert "no requested package requires it" in got["orphan-1.0-1.noarch"]["reason"]
    assert bed.installed(root) == {"tool-1.0-1.noarch", "toollib-1.0-1.noarch",
                                   "oldlib-2.0-1.noarch", "imglib-2.0-1.noarch"}


def test_json_schema(tmp_path, builder):
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("solo"), "user"))
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    assert set(doc) == {"format", "root", "store", "dry_run", "skip_broken", "enablerepos",
                        "started_at", "finished_at", "status", "exit_code", "packages",
                        "refused", "keys_imported", "transaction_error", "report_file",
                        "unsigned_by_policy", "dnf5_state", "excluded"}
    assert doc["format"] == 1 and doc["root"] == root and doc["store"] == store.layout.root
    assert doc["dry_run"] is False and doc["skip_broken"] is False
    assert doc["dnf5_state"] is None        # the root is not dnf5's (docs/dnf5.md)
    assert doc["started_at"].endswith("Z") and doc["finished_at"] >= doc["started_at"]
    [pkg] = doc["packages"]
    assert set(pkg) == ITEM_FIELDS
    assert pkg == {"nevra": "solo-1.0-1.noarch", "name": "solo", "epoch": 0,
                   "version": "1.0", "release": "1", "arch": "noarch", "role": "requested",
                   "action": "install", "reason": "absent from the root", "root_has": None,
                   "needed_by": [], "repo": "persistrepo-store", "outcome": "done"}
    [path] = reports(root)
    with open(path) as f:
        assert json.load(f) == doc


def test_strict_failure_then_skip_broken(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [b("imgpkg")])
    store = store_of(tmp_path, (b("good"), "user"),
                     (b("needy", requires=["missingcap"]), "user"),
                     (b("clash", conflicts=["imgpkg"]), "user"))
    before = bed.installed(root, base=True)
    res = replay(root, store)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    errors = res.stderr.splitlines()
    assert len(errors) == 2, res.stderr
    needy = [l for l in errors if "needy-1.0-1.noarch" in l][0]
    assert "missingcap" in needy
    clash = [l for l in errors if "clash-1.0-1.noarch" in l][0]
    assert "imgpkg" in clash
    assert "nothing was installed" in res.stdout and "--skip-broken" in res.stdout
    assert bed.installed(root, base=True) == before
    [path] = reports(root)
    with open(path) as f:
        assert json.load(f)["status"] == "failed"

    res, doc = replay_json(root, store, "--skip-broken")
    assert res.returncode == 4, res.stderr
    assert doc["status"] == "partial"
    assert actions(doc)["needy-1.0-1.noarch"] == ("requested", "broken")
    assert bed.installed(root) == {"imgpkg-1.0-1.noarch", "good-1.0-1.noarch"}


def test_corrupt_and_tampered_files_refused(tmp_path, builder):
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("fine"), "user"), (builder.build("rot"), "user"),
                     (builder.build("swap"), "user"),
                     (builder.build("needsrot", requires=["rotdep"]), "user"),
                     (builder.build("rotdep"), "dependency"))
    for name in ("rot", "rotdep"):
        path = store.layout.package("%s-1.0-1.noarch.rpm" % name)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) - 100)
            f.write(b"\0" * 50)
    other = builder.build("swap", files={"/etc/evil": "x\n"})
    with open(other, "rb") as src, open(store.layout.package("swap-1.0-1.noarch.rpm"),
                                        "wb") as dst:
        dst.write(src.read())
    res = replay(root, store)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rot-1.0-1.noarch.rpm" in res.stdout and "corrupt" in res.stdout
    assert "swap-1.0-1.noarch.rpm" in res.stdout and "tampered" in res.stdout
    assert bed.installed(root) == set()
    assert "needsrot-1.0-1.noarch" in res.stderr and "rotdep" in res.stderr
    res = replay(root, store, "--skip-broken")
    assert res.returncode == 4
    assert bed.installed(root) == {"fine-1.0-1.noarch"}


def test_unsigned_policy(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [])
    store = store_of(tmp_path,
                     Candidate(b("localfile"), method="dnf", origin="@commandline"),
                     Candidate(b("plainrepo"), method="dnf", origin="vendor", reason="user"),
                     Candidate(b("byadmin"), method="cli", reason="user"),
                     Candidate(b("nowhere"), method="dnf", origin=None, reason="user"))
    adopted = b("adopted")
    subprocess.run(["cp", adopted, store.layout.root], check=True)
    assert cli("--store", store.layout.root, "refresh").returncode == 0
    res = replay(root, store)
    assert res.returncode == 1
    for name in ("nowhere", "adopted"):
        line = [l for l in res.stderr.splitlines() if "%s-1.0-1.noarch" % name in l][0]
        assert "unsigned" in line and "provenance" in line
    assert bed.installed(root) == set()
    res = replay(root, store, "--skip-broken")
    assert res.returncode == 4
    assert bed.installed(root) == {"localfile-1.0-1.noarch", "plainrepo-1.0-1.noarch",
                                   "byadmin-1.0-1.noarch"}


def test_signed_packages_need_the_right_key(tmp_path, builder, gpg_key):
    signed = builder.build("vendor", sign_with=gpg_key)
    root = image(tmp_path, [])
    store = store_of(tmp_path, (signed, "user"))
    [entry] = store.entries()
    res = replay(root, store)
    assert res.returncode == 1
    assert entry["key_id"] in res.stderr and "neither the store nor the new root" in res.stderr
    assert bed.installed(root) == set() and bed.pubkeys(root) == set()

    with open(gpg_key.pubkey, "rb") as f:
        add_key(store, entry["key_id"], f.read())
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    assert doc["keys_imported"] == [entry["key_id"]]
    assert bed.installed(root) == {"vendor-1.0-1.noarch"}
    assert bed.pubkeys(root) == {gpg_key.keyid}


def test_a_key_the_store_cannot_trust_is_a_warning_of_replay(tmp_path, builder, gpg_key):
    """A kept key that others may write is not used; replay, in a dry run
    and a real one, says why, as well as refusing what it signed."""
    signed = builder.build("vendor", sign_with=gpg_key)
    root = image(tmp_path, [])
    store = store_of(tmp_path, (signed, "user"))
    [entry] = store.entries()
    with open(gpg_key.pubkey, "rb") as f:
        add_key(store, entry["key_id"], f.read())
    key = store.layout.key(entry["key_id"])
    os.chmod(key, 0o666)
    warning = "persistrepo: warning: %s is owned by uid 0 or writable by others" % key
    for args in (["--dry-run"], []):
        res = replay(root, store, *args)
        assert res.returncode == 1
        assert warning in res.stderr, res.stderr
        assert "cannot replay vendor-1.0-1.noarch" in res.stderr
    assert bed.installed(root) == set()


def test_signed_package_verified_with_the_roots_key(tmp_path, builder, gpg_key):
    root = image(tmp_path, [])
    subprocess.run(["rpm", "--root", root, "--import", gpg_key.pubkey], check=True,
                   env=bed.tool_env())
    store = store_of(tmp_path, (builder.build("vendor", sign_with=gpg_key), "user"))
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    assert doc["keys_imported"] == []
    assert bed.installed(root) == {"vendor-1.0-1.noarch"}


def test_signature_by_another_key_refused(tmp_path, builder, gpg_key):
    other = bed.GpgKey(tmp_path / "other", uid="other@persistrepo.invalid")
    try:
        forged = builder.build("vendor", sign_with=other)
    finally:
        other.close()
    root = image(tmp_path, [])
    store = store_of(tmp_path, (forged, "user"))
    [entry] = store.entries()
    with open(gpg_key.pubkey, "rb") as f:
        add_key(store, entry["key_id"], f.read())
    res = replay(root, store)
    assert res.returncode == 1
    assert "signature" in res.stderr
    assert bed.installed(root) == set() and bed.pubkeys(root) == set()


def test_enforcing_rpm_installs_what_the_trust_policy_accepts(tmp_path, builder, gpg_key):
    """Under %_pkgverify_level all, rpm itself refuses unsigned packages;
    replay installs the unsigned ones its policy trusts by provenance, says
    so, still verifies the signed ones and still refuses unknown provenance."""
    home = tmp_path / "enforcing-home"
    home.mkdir()
    (home / ".rpmmacros").write_text("%%_dbpath %s\n%%_pkgverify_level all\n" % bed.DBPATH)
    enforcing = {"HOME": str(home)}
    local = builder.build("localonly")
    probe = bed.make_root(tmp_path / "probe")
    res = subprocess.run(["rpm", "--root", probe, "-i", local], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True,
                         env=bed.tool_env(enforcing))
    assert res.returncode != 0, res.stdout

    root = image(tmp_path, [])
    store = store_of(tmp_path, Candidate(local, method="dnf", origin="@commandline"),
                     Candidate(builder.build("vendor", sign_with=gpg_key), reason="user"),
                     Candidate(builder.build("nowhere"), method="dnf", origin=None))
    with open(gpg_key.pubkey, "rb") as f:
        add_key(store, [e for e in store.entries() if e["signed"]][0]["key_id"], f.read())
    res = cli("replay", "--installroot", root, "--store", store.layout.root, "--json",
              "--skip-broken", env=enforcing)
    doc = json.loads(res.stdout)
    assert doc["unsigned_by_policy"] == ["localonly-1.0-1.noarch"]
    assert [r["filename"] for r in doc["refused"]] == ["nowhere-1.0-1.noarch.rpm"]
    assert bed.installed(root) == {"localonly-1.0-1.noarch", "vendor-1.0-1.noarch"}, \
        (doc["status"], doc["transaction_error"])
    assert bed.pubkeys(root) == {gpg_key.keyid}
    res = cli("replay", "--installroot", root, "--store", store.layout.root, "--dry-run",
              env=enforcing)
    assert "rpm enforces signatures" in res.stdout and "localonly" in res.stdout


def test_offline_and_enablerepo(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [])
    extra = bed.make_repo(tmp_path / "extra", [b("extralib")])
    repos_d = os.path.join(root, "etc/yum.repos.d")
    os.makedirs(repos_d)
    with open(os.path.join(repos_d, "site.repo"), "w") as f:
        f.write("[extra]\nname=extra\nbaseurl=file://%s\ngpgcheck=0\nenabled=0\n"
                "[dead]\nname=dead\nbaseurl=http://127.0.0.1:9/\nenabled=1\n" % extra)
    store = store_of(tmp_path, (b("standalone"), "user"),
                     (b("wantsextra", requires=["extralib"]), "user"))
    res = replay(root, store, "--skip-broken")
    assert res.returncode == 4, res.stderr
    assert "nothing provides extralib" in res.stderr
    assert bed.installed(root) == {"standalone-1.0-1.noarch"}

    res = replay(root, store, "--enablerepo", "nosuch")
    assert "nosuch" in one_line_error(res) and res.returncode == 2

    res, doc = replay_json(root, store, "--enablerepo", "extra")
    assert res.returncode == 0, res.stderr
    dep = [p for p in doc["packages"] if p["name"] == "extralib"][0]
    assert (dep["role"], dep["action"], dep["repo"]) == ("dependency", "install", "extra")
    assert bed.installed(root) == {"standalone-1.0-1.noarch", "wantsextra-1.0-1.noarch",
                                   "extralib-1.0-1.noarch"}


def test_scriptlets_run_inside_the_root(tmp_path, builder):
    root = image(tmp_path, [])
    pkg = builder.build("hooked", pre="mkdir -p /var/tmp/hooked && echo ran > /var/tmp/hooked/pre")
    store = store_of(tmp_path, (pkg, "user"))
    res = replay(root, store)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(root, "var/tmp/hooked/pre")) as f:
        assert f.read() == "ran\n"
    assert not os.path.exists("/var/tmp/hooked")


@pytest.mark.parametrize("args, words", [
    (["--installroot", "/nonexistent/root"], "not a directory"),
    (["--installroot", "/tmp"], "no rpm database"),
])
def test_bad_root(tmp_path, builder, args, words):
    store = store_of(tmp_path, (builder.build("solo"), "user"))
    res = cli("replay", "--store", store.layout.root, *args)
    assert res.returncode == 2
    assert words in one_line_error(res)


def test_missing_store(tmp_path):
    root = image(tmp_path, [])
    res = cli("replay", "--installroot", root, "--store", tmp_path / "nostore")
    assert res.returncode == 2
    assert "no store at" in one_line_error(res)


def test_failing_scriptlet_is_reported(tmp_path, builder):
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("okpkg"), "user"),
                     (builder.build("badpre", pre="exit 1"), "user"))
    res, doc = replay_json(root, store)
    assert res.returncode == 1
    assert doc["status"] == "failed" and doc["transaction_error"]
    outcomes = dict((p["nevra"], p["outcome"]) for p in doc["packages"])
    assert outcomes["badpre-1.0-1.noarch"] == "failed"
    assert bed.installed(root) == {"okpkg-1.0-1.noarch"}
    assert outcomes["okpkg-1.0-1.noarch"] == "done"


SCRIPTLET_NEEDS = (
    "test -c /dev/null && echo x >/dev/null && test -c /dev/urandom && "
    "test -d /proc/self && test -e /proc/mounts && test -d /sys/kernel && "
    "test -d /dev/pts && test -d /dev/shm && touch /dev/shm/probe && test -d /run && "
    "touch /run/probe && echo 'scriptlet chatter' && mkdir -p /var/tmp/m && "
    "echo ok > /var/tmp/m/pre")


def mounts_under(root):
    with open("/proc/mounts") as f:
        return [l.split()[1] for l in f if l.split()[1].startswith(root)]


def test_scriptlets_get_proc_sys_dev_and_run_which_vanish_after(tmp_path, builder):
    root = image(tmp_path, [])
    os.rmdir(os.path.join(root, "dev"))  # a bare image: no /dev at all
    store = store_of(tmp_path, (builder.build("needy", pre=SCRIPTLET_NEEDS), "user"))
    res, doc = replay_json(root, store)
    assert res.returncode == 0, res.stderr
    assert doc["status"] == "ok"  # stdout was only the JSON, the chatter went elsewhere
    with open(os.path.join(root, "var/tmp/m/pre")) as f:
        assert f.read() == "ok\n"
    assert mounts_under(root) == []
    assert os.listdir(os.path.join(root, "dev")) == []  # /dev/null was never a plain file
    assert bed.installed(root) == {"needy-1.0-1.noarch"}


def test_a_symlinked_mount_point_is_refused_and_reported(tmp_path, builder):
    root = image(tmp_path, [])
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(root, "run"))
    store = store_of(tmp_path, (builder.build("solo"), "user"))
    res = replay(root, store)
    assert res.returncode == 1
    line = one_line_error(res)
    assert "is not a directory" in line and "report %s" % root in line
    assert os.listdir(str(outside)) == [] and mounts_under(str(tmp_path)) == []
    [report] = reports(root)
    with open(report) as f:
        assert json.load(f)["status"] == "failed"


def test_exclude_and_the_running_system_guard(tmp_path, builder):
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("keepme"), "user"), (builder.build("dropme"), "user"))
    res, doc = replay_json(root, store, "--exclude", "dropme")
    assert res.returncode == 0, res.stderr
    assert doc["excluded"] == ["dropme-1.0-1.noarch"]
    assert bed.installed(root) == {"keepme-1.0-1.noarch"}
    res = cli("replay", "--installroot", "/", "--store", store.layout.root, "--dry-run")
    assert res.returncode == 2 and "running system" in one_line_error(res)


def test_an_exclude_that_matches_nothing_is_refused(tmp_path, builder):
    """A typo in --exclude would install what the admin meant to leave out."""
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("keepme"), "user"))
    res = cli("replay", "--installroot", root, "--store", store.layout.root,
              "--exclude", "keepme", "--exclude", "nosuch")
    assert res.returncode == 2
    assert "--exclude nosuch matches no persisted package" in one_line_error(res)
    assert bed.installed(root) == set()


def test_replay_holds_the_store_lock(tmp_path, builder):
    """A writer that comes while replay's transaction runs finishes after it."""
    root = image(tmp_path, [])
    pkg = builder.build("slow", pre="mkdir -p /var/tmp && touch /var/tmp/started && sleep 2")
    store = store_of(tmp_path, (pkg, "user"))
    proc = subprocess.Popen(cli_command("replay", "--installroot", root, "--store",
                                        store.layout.root),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    started = os.path.join(root, "var/tmp/started")
    while not os.path.exists(started) and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    assert cli("--store", store.layout.root, "remove", "slow").returncode == 0
    # The remove had to wait for the transaction to end: slow's %pre was still
    # sleeping when it started. (The replay process may still be writing its
    # report after it let go of the lock.)
    assert bed.installed(root) == {"slow-1.0-1.noarch"}
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_add_with_key_then_replay_trusts_it_as_captured(tmp_path, builder, gpg_key):
    signed = builder.build("vendorx", sign_with=gpg_key)
    store = str(tmp_path / "store")
    res = cli("--store", store, "add", signed)
    assert res.returncode == 0 and "no public key" in res.stderr and "--key" in res.stderr
    res = run_fix(res.stderr, KEYFILE=gpg_key.pubkey)  # the fix it printed
    assert res.returncode == 0 and "no public key" not in res.stderr, res.stderr
    root = image(tmp_path, [])
    res, doc = replay_json(root, Store(store))
    assert res.returncode == 0, res.stderr
    assert bed.installed(root) == {"vendorx-1.0-1.noarch"} and doc["keys_imported"]
    res = cli("--store", store, "add", "--key", signed, signed)
    assert res.returncode == 2 and "--key" in one_line_error(res)


def test_status_shows_what_the_last_replay_left_out(tmp_path, builder):
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("fine"), "user"),
                     (builder.build("needsgone", requires=["nothing-provides-this"]), "user"))
    res = replay(root, store, "--skip-broken")
    assert res.returncode == 4
    res = cli("--store", store.layout.root, "status", "--installroot", root, "--json")
    last = json.loads(res.stdout)["last_replay"]
    assert last["status"] == "partial"
    assert [p["nevra"] for p in last["left_out"]] == ["needsgone-1.0-1.noarch"]
    assert "nothing-provides-this" in last["left_out"][0]["reason"]
    res = cli("--store", store.layout.root, "status", "--installroot", root)
    assert "the last replay (partial" in res.stdout and "needsgone-1.0-1.noarch:" in res.stdout


def test_only_the_newest_reports_are_kept(tmp_path, builder):
    root = image(tmp_path, [])
    directory = os.path.join(root, "var/log/persistrepo")
    os.makedirs(directory)
    for n in range(25):
        with open(os.path.join(directory, "replay-2020010%dT000000.%06dZ.json" % (n % 9, n)),
                  "w") as f:
            f.write("{}\n")
    store = store_of(tmp_path, (builder.build("solo"), "user"))
    assert replay(root, store).returncode == 0
    kept = reports(root)
    assert len(kept) == 20 and kept[-1].endswith(".json") and "2020" not in kept[-1]


def run_fix(line, **subst):
    """Run the command after 'fix: ' in line, as printed (placeholders
    replaced by subst), and return the CompletedProcess."""
    import shlex
    words = shlex.split(line.split("fix: ", 1)[1])
    words = [subst.get(w, w) for w in words]
    assert words[0] == "persistrepo", words
    return cli(*words[1:])


def test_verify_names_what_replay_refuses_and_its_fix_works(tmp_path, builder, gpg_key):
    """verify applies replay's trust policy: a signed package whose key the
    store lacks, an adopted unsigned one; each fix it prints works."""
    signed = builder.build("vendorv", sign_with=gpg_key)
    store = str(tmp_path / "store")
    assert cli("--store", store, "add", signed).returncode == 0
    subprocess.run(["cp", builder.build("adoptedv"), store], check=True)
    assert cli("--store", store, "refresh").returncode == 0

    res = cli("--store", store, "verify", "--json")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    assert sorted((p["kind"], p["package"]) for p in doc["problems"]) == [
        ("trust", "adoptedv-1.0-1.noarch"), ("trust", "vendorv-1.0-1.noarch")]
    root = image(tmp_path, [])
    res = replay(root, Store(store), "--dry-run")
    assert res.returncode == 1
    assert "vendorv" in res.stderr and "adoptedv" in res.stderr

    res = cli("--store", store, "verify")
    assert res.returncode == 1
    fixes = [l for l in res.stdout.splitlines() if l.startswith("trust: ")]
    assert len(fixes) == 2, res.stdout
    for line in fixes:
        assert run_fix(line, KEYFILE=gpg_key.pubkey).returncode == 0
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout
    res = replay(root, Store(store))
    assert res.returncode == 0, res.stderr
    assert bed.installed(root) == {"vendorv-1.0-1.noarch", "adoptedv-1.0-1.noarch"}


def test_json_is_printed_when_the_disk_fills_during_the_transaction(tmp_path, builder):
    import random
    blob = "".join(random.choice("0123456789abcdef") for _ in range(400000))
    root = image(tmp_path, [])
    store = store_of(tmp_path, (builder.build("bigfile", files={"/opt/big/blob": blob}),
                                "user"))
    with bed.tmpfs(os.path.join(root, "opt"), "64k"):
        res, doc = replay_json(root, store)
    assert res.returncode == 1
    assert doc["status"] == "failed" and doc["transaction_error"], doc
    assert doc["report_file"] and os.path.isfile(os.path.join(root, doc["report_file"][1:]))
    errors = [l for l in res.stderr.splitlines() if l.startswith("persistrepo: error: ")]
    assert errors and "report %s" % os.path.join(root, doc["report_file"][1:]) in errors[-1]
    assert bed.installed(root) == set()


def test_status_s_verdicts_are_replay_s_plan(tmp_path, builder):
    """status asks replay's planner, against the image root it is given:
    an image with a newer alpha is no risk; a kmod the image cannot take is
    named with replay's own reason."""
    b = builder.build
    installed = image(tmp_path, [b("kern", "2.0")], name="installed")
    store = store_of(tmp_path, (b("alpha", "1.0"), "user"),
                     (b("kmod", requires=["kern = 2.0"]), "user"))
    img = image(tmp_path, [b("alpha", "2.0"), b("kern", "3.0")], name="img")

    def status(*args):
        res = cli("--store", store.layout.root, "status", "--installroot", installed,
                  "--json", *args)
        assert res.returncode in (0, 100), res.stderr
        return res.returncode, json.loads(res.stdout)

    code, doc = status()  # against the installed root: both would be installed again
    assert code == 100 and doc["not_installed"] == ["alpha-1.0-1.noarch", "kmod-1.0-1.noarch"]
    assert doc["broken"] == []
    code, doc = status("--image-root", img)
    assert code == 100
    assert doc["not_installed"] == []
    assert [s["nevra"] for s in doc["skipped"]] == ["alpha-1.0-1.noarch"]
    assert "newer" in doc["skipped"][0]["reason"]
    [broken] = doc["broken"]
    plan = replay(img, store, "--dry-run")
    assert broken["nevra"] == "kmod-1.0-1.noarch" and "kern = 2.0" in broken["reason"]
    assert "cannot replay kmod-1.0-1.noarch: %s" % broken["reason"] in plan.stderr


def history_rows(root):
    """dnf's transactions in root's history, as dnf itself lists them."""
    res = bed.run_dnf(root, ["history", "list"])
    assert res.returncode == 0, res
    return [l for l in res.stdout.splitlines() if l.split("|")[0].strip().isdigit()]


def test_dnf_history_of_the_root_keeps_its_past_and_shows_the_replay(tmp_path, builder):
    b = builder.build
    root = image(tmp_path, [b("imaged")])
    [shipped] = history_rows(root)
    database = os.path.join(root, "var/lib/dnf/history.sqlite")
    os.chmod(database, 0o600)
    os.setxattr(database, "user.label", b"kept")  # as an SELinux label would be
    store = store_of(tmp_path, (b("first"), "user"), (b("second", requires=["first"]), "user"))
    res = replay(root, store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert os.stat(database).st_mode & 0o777 == 0o600
    assert os.getxattr(database, "user.label") == b"kept"
    rows = history_rows(root)
    assert rows[1:] == [shipped] and "persistrepo replay" in rows[0], rows
    res = bed.run_dnf(root, ["history", "info", rows[0].split("|")[0].strip()])
    assert "Install first-1.0-1.noarch" in res.stdout and "second-1.0-1.noarch" in res.stdout
    assert not [n for n in os.listdir(os.path.join(root, "var/lib/dnf")) if ".part" in n]
    assert mounts_under(root) == [] and mounts_under(tempfile_dir()) == []


def tempfile_dir():
    import tempfile
    return tempfile.gettempdir() + "/persistrepo-replay-"


def test_a_replay_killed_mid_transaction_leaves_the_roots_history_as_it_was(tmp_path,
                                                                             builder):
    b = builder.build
    root = image(tmp_path, [b("imaged")])
    before = history_rows(root)
    # The scriptlet's parent is the process running the transaction.
    store = store_of(tmp_path, (b("first"), "user"),
                     (b("killer", requires=["first"], pre="kill -KILL $PPID"), "user"))
    res, doc = replay_json(root, store)
    assert res.returncode == 1 and doc["status"] == "failed"
    assert "killed by signal 9" in doc["transaction_error"]
    assert history_rows(root) == before
    assert "first-1.0-1.noarch" in bed.installed(root)  # rpm's database is whole
    assert not [n for n in os.listdir(os.path.join(root, "var/lib/dnf")) if ".part" in n]
