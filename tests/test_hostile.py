"""Hostile input, class by class (docs/store-format.md, "Trust"): paths that
leave the store, store files nobody should trust, users who would block root,
one bad item that would wedge every write, wrong --store paths, signatures rpm
calls BAD, and input that used to end in a traceback. Real rpm, dnf and
createrepo_c throughout; hostile RPMs are real builds edited by tests/support/forge.py."""

import atexit
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from persistrepo.store import repodata
from persistrepo.store.store import Candidate, Store
from tests.support import bed, forge
from tests.support.storebed import (REPO, cli, cli_command, cli_env, listed, one_line_error,
                                    repodata_packages)

NOBODY = 65534


@pytest.fixture
def store(std_set, tmp_path):
    """A store holding tool 1.0 and libtool-dep, and a victim file outside it."""
    path = str(tmp_path / "store")
    assert cli("--store", path, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    return path


def state(store):
    return os.path.join(store, ".persistrepo")


def victim_intact(store):
    victim = os.path.join(os.path.dirname(store), "victim")
    with open(victim) as f:
        return f.read() == "precious\n"


def healthy(store, expected):
    """The store lists exactly expected, its repodata agrees, verify is happy
    but for what replay's trust policy refuses: unsigned packages refresh
    adopted (provenance unknown)."""
    entries = listed(store)
    assert set(entries) == set(expected)
    assert set(repodata_packages(store)) == set(e["filename"] for e in entries.values())
    res = cli("--store", store, "verify", "--json")
    adopted = sorted(n for n, e in entries.items() if e["method"] == "refresh")
    problems = json.loads(res.stdout)["problems"]
    assert sorted((p["kind"], p["package"]) for p in problems) == \
        [("trust", n) for n in adopted], res.stdout + res.stderr
    assert res.returncode == (1 if adopted else 0)


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    os.chmod(path, 0o644)


def index_doc(store):
    with open(os.path.join(state(store), "index.json")) as f:
        return json.load(f)


def forged(builder, tmp_path, name, replacements, **kw):
    return forge.rewrite(builder.build(name, **kw), tmp_path / ("forged-%s.rpm" % name),
                         replacements)


BASE = {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch"}


# -- 1. Paths stay inside the store -----------------------------------------

@pytest.mark.parametrize("evil", [b"../victim/x", b"/tmp/vict/x", b"a\nb-victim1",
                                  b"a&lt;b>victi", b"..........."])
def test_header_names_that_leave_the_store_are_refused(store, builder, tmp_path, evil):
    evil = evil.ljust(11, b"x")[:11]
    path = forged(builder, tmp_path, "aaaaaaaaaaa", [(b"aaaaaaaaaaa", evil)])
    res = cli("--store", store, "add", path)
    assert res.returncode == 1 and "invalid name" in one_line_error(res)
    assert victim_intact(store) and set(listed(store)) == BASE
    assert not os.path.lexists(os.path.join(os.path.dirname(store), "victim", "x"))


@pytest.mark.parametrize("field,evil", [("version", b"1.0/..x"), ("release", b"1\n"),
                                        ("arch", b"no/rch")])
def test_header_versions_and_arches_are_checked(store, builder, tmp_path, field, evil):
    placeholders = {"version": b"9.9.9.9", "release": b"77", "arch": b"noarch"}
    kw = {"version": "9.9.9.9"} if field == "version" else \
        {"release": "77"} if field == "release" else {}
    path = forged(builder, tmp_path, "vtest", [(placeholders[field], evil)], **kw)
    res = cli("--store", store, "add", path)
    assert res.returncode == 1 and "invalid %s" % field in one_line_error(res)
    assert set(listed(store)) == BASE


@pytest.mark.parametrize("filename", ["../victim", "/etc/victim-abs.rpm",
                                      "../../victim.rpm", "sub/dir.rpm"])
def test_index_naming_paths_outside_is_never_acted_on(store, std_set, filename):
    doc = index_doc(store)
    doc["packages"][0]["filename"] = filename
    write_json(os.path.join(state(store), "index.json"), doc)
    for args in (["remove", "*"], ["add", std_set.path("unsigned")], ["verify"], ["list"]):
        res = cli("--store", store, *args)
        assert res.returncode in (1, 3), (args, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr
    assert victim_intact(store)
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and "set aside .persistrepo/index.json" in res.stdout
    assert res.stdout.count("adopted") == 1  # the sound entry keeps its provenance
    assert victim_intact(store)
    healthy(store, BASE)


@pytest.mark.parametrize("journal", [
    {"adds": [], "removes": ["../victim"]},
    {"adds": [], "removes": ["/etc/hostname"]},
    {"adds": [{"staged": "../../victim", "entry": {}}], "removes": []},
    {"adds": "nonsense", "removes": None},
    ["not", "an", "object"],
])
def test_journal_naming_paths_outside_is_set_aside(store, std_set, journal):
    write_json(os.path.join(state(store), "journal.json"), journal)
    res = cli("--store", store, "add", std_set.path("unsigned"))
    assert res.returncode == 3 and "journal" in one_line_error(res)
    assert victim_intact(store) and os.path.exists("/etc/hostname")
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "journal" in res.stdout
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and "set aside .persistrepo/journal.json" in res.stdout
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


@pytest.mark.parametrize("request_doc", [
    {"op": "add", "file": "../../victim", "method": "yum", "reason": "user",
     "supersede": False},
    {"op": "add", "file": "/etc/hostname", "method": "yum", "reason": "user",
     "supersede": False},
    {"op": "frobnicate"},
    "garbage",
])
def test_incoming_requests_outside_incoming_are_not_ingested(store, std_set, request_doc):
    incoming = os.path.join(state(store), "incoming")
    write_json(os.path.join(incoming, "00000000000000001-0000abcd.json"), request_doc)
    with open(os.path.join(incoming, "junk.json"), "w") as f:
        f.write("{not json")
    res = cli("--store", store, "add", std_set.path("unsigned"))
    assert res.returncode == 0, res.stderr
    assert victim_intact(store)
    assert set(listed(store)) == BASE | {"unsigned-1.0-1.noarch"}
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "incoming" in res.stdout
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and res.stdout.count("set aside .persistrepo/incoming/") >= 1
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


# -- 2. The store's own files are trusted only when they deserve it --------

@pytest.mark.parametrize("change", ["chown", "chmod-o+w", "chmod-g+w"])
def test_index_another_user_could_write_is_refused(store, std_set, change):
    index = os.path.join(state(store), "index.json")
    if change == "chown":
        os.chown(index, NOBODY, NOBODY)
    else:
        os.chmod(index, 0o646 if change == "chmod-o+w" else 0o664)
    for args in (["verify"], ["add", std_set.path("unsigned")], ["list"]):
        res = cli("--store", store, *args)
        assert res.returncode in (1, 3), (args, res.stdout, res.stderr)
        assert "refusing to trust" in res.stdout + res.stderr
        assert "Traceback" not in res.stderr
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and "set aside .persistrepo/index.json" in res.stdout
    healthy(store, BASE)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "garbage", "directory", "badname"])
def test_keys_directory_probes(store, std_set, tmp_path, kind):
    keys = os.path.join(state(store), "keys")
    target = os.path.join(keys, "0123456789abcdef.asc")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        os.symlink("/etc/shadow", target)
    elif kind == "garbage":
        with open(target, "w") as f:
            f.write("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n"
                    "-----END PGP PUBLIC KEY BLOCK-----\n")
    elif kind == "directory":
        os.mkdir(target)
    else:
        with open(os.path.join(keys, "../x.asc".replace("/", "_")), "w") as f:
            f.write("x")
    root = bed.make_root(tmp_path / "root")
    res = cli("replay", "--installroot", root, "--store", store, "--dry-run", timeout=60)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    res = cli("--store", store, "verify", timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stdout + res.stderr
    res = cli("--store", store, "refresh", timeout=60)
    assert res.returncode == 1 and "set aside .persistrepo/keys/" in res.stdout, res.stdout
    healthy(store, BASE)


# -- 3. No user can block root; reading needs no write access ---------------

def public_library():
    """A copy of persistrepo that any user can read, made once: the checkout
    may be where nobody can reach it (a clone under /root, mode 0700)."""
    if not PUBLIC:
        top = tempfile.mkdtemp(prefix="persistrepo-public-")
        shutil.copytree(os.path.join(REPO, "persistrepo"), os.path.join(top, "persistrepo"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path, dirs, files in os.walk(top):
            os.chmod(path, 0o755)
            for name in files:
                os.chmod(os.path.join(path, name), 0o644)
        atexit.register(shutil.rmtree, top, True)
        PUBLIC.append(top)
    return PUBLIC[0]


PUBLIC = []


def as_nobody(*args, **kw):
    """Run args as nobody; this interpreter is run as its real file (a venv's
    link may be where nobody can reach it), with public_library()."""
    args = [os.path.realpath(a) if a == sys.executable else a for a in args]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=cli_env({
                              "HOME": bed.rpm_home(), "PYTHONPATH": public_library()}),
                          timeout=kw.get("timeout", 60),
                          preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)))


def readable_by_all(path):
    """Let other users reach path (pytest's directories are 0700)."""
    while path not in ("/", "/tmp"):
        os.chmod(path, os.stat(path).st_mode | 0o755)
        path = os.path.dirname(path)


def test_no_user_can_hold_the_lock(store, std_set, tmp_path):
    lock = os.path.join(state(store), "lock")
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
    readable_by_all(str(tmp_path))
    grab = as_nobody(sys.executable, "-c", "import fcntl, os, sys; "
                     "fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX)",
                     lock)
    assert grab.returncode != 0 and "Permission denied" in grab.stderr
    assert cli("--store", store, "add", std_set.path("unsigned"), timeout=30).returncode == 0


def test_an_old_world_readable_lock_is_made_root_only(store, std_set):
    lock = os.path.join(state(store), "lock")
    os.chmod(lock, 0o644)
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600


def test_reads_work_for_any_user(store, tmp_path):
    root = bed.make_root(tmp_path / "root")
    readable_by_all(str(tmp_path))
    for args in (["verify"], ["list"], ["list", "--json"],
                 ["status", "--installroot", root],
                 ["replay", "--installroot", root, "--store", store, "--dry-run"]):
        res = as_nobody(*cli_command("--store", store, *args))
        assert res.returncode in (0, 100) and "Traceback" not in res.stderr, \
            (args, res.stdout, res.stderr)
    assert "ok: 2 packages verified" in as_nobody(
        *cli_command("--store", store, "verify")).stdout


def test_reads_work_on_a_read_only_store(store, tmp_path):
    os.unlink(os.path.join(state(store), "lock"))
    mnt = str(tmp_path / "ro")
    os.mkdir(mnt)
    subprocess.run(["mount", "--bind", "-o", "ro", store, mnt], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", mnt], check=True)
        for args in (["verify"], ["list"]):
            res = cli("--store", mnt, *args)
            assert res.returncode == 0, (args, res.stdout, res.stderr)
    finally:
        subprocess.run(["umount", mnt], check=True)


# -- 4. One bad thing never blocks every later write ------------------------

def chunk_of(store, nevra):
    return os.path.join(state(store), "chunks", listed(store)[nevra]["sha256"] + ".xml")


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "symlink", "other"])
def test_damaged_chunk_never_blocks_a_write(store, std_set, damage):
    chunk = chunk_of(store, "tool-1.0-1.noarch")
    other = chunk_of(store, "libtool-dep-1.0-1.noarch")
    if damage == "missing":
        os.unlink(chunk)
    elif damage == "garbage":
        with open(chunk, "wb") as f:
            f.write(b"\xff\x00garbage")
    elif damage == "truncated":
        with open(chunk, "r+b") as f:
            f.truncate(100)
    elif damage == "symlink":
        os.unlink(chunk)
        os.symlink("/etc/hostname", chunk)
    else:
        shutil.copy(other, chunk)
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "chunk" in res.stdout, res.stdout
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


@pytest.mark.parametrize("where", ["chunks", "repodata", "keys", "incoming"])
def test_a_directory_dropped_into_the_store(store, std_set, where):
    base = os.path.join(store, "repodata") if where == "repodata" else \
        os.path.join(state(store), where)
    os.mkdir(os.path.join(base, "intruder" + (".xml" if where == "chunks" else "")))
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    res = cli("--store", store, "verify")
    assert res.returncode == (0 if where == "incoming" else 1), res.stdout
    res = cli("--store", store, "refresh")
    assert "Traceback" not in res.stderr
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


@pytest.mark.parametrize("doc", [[], None, {}, {"format": 1}, 7, "text",
                                 {"format": 1, "generation": -1, "packages": []},
                                 {"format": 1, "generation": "1", "packages": []},
                                 {"format": 1, "generation": 1, "packages": {}},
                                 {"format": 1, "generation": 1, "packages": [None]},
                                 {"format": 1, "generation": 1, "packages": [{}]},
                                 {"format": 2, "generation": 1, "packages": []},
                                 {"format": 1, "generation": True, "packages": []},
                                 {"format": 1, "generation": 1, "packages": [[1, 2]]},
                                 {"format": 1, "generation": 1, "packages": "x"},
                                 {"format": 1, "generation": 1e9, "packages": []}])
def test_index_of_the_wrong_shape_is_rebuilt(store, std_set, doc):
    write_json(os.path.join(state(store), "index.json"), doc)
    res = cli("--store", store, "add", std_set.path("unsigned"))
    assert res.returncode == 1 and "refresh" in one_line_error(res)
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and "set aside .persistrepo/index.json" in res.stdout
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})


def undumpable(builder, tmp_path):
    """A real RPM with a control character in a dependency (as in an openSUSE
    kernel-module package): rpm reads it, createrepo_c cannot write its XML."""
    return forged(builder, tmp_path, "ctlpkg", [(b"ctlreq-xx", b"ctl\x01req-x")],
                  requires=["ctlreq-xx"])


def test_undumpable_rpm_is_refused_and_never_blocks_refresh(store, builder, tmp_path, std_set):
    bad = undumpable(builder, tmp_path)
    res = cli("--store", store, "add", bad)
    assert res.returncode == 1 and "createrepo_c" in one_line_error(res)
    assert set(listed(store)) == BASE
    shutil.copy(bad, os.path.join(store, "ctlpkg-1.0-1.noarch.rpm"))
    res = cli("--store", store, "refresh")
    assert res.returncode == 1 and "set aside ctlpkg-1.0-1.noarch.rpm" in res.stdout
    assert os.listdir(os.path.join(state(store), "quarantine"))
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    healthy(store, BASE | {"unsigned-1.0-1.noarch"})



def helper_of(pid):
    """The pid of `add`'s createrepo_c helper process (a child of pid), once
    it has loaded createrepo_c."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for child in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % child) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/maps" % child) as f:
                    loaded = "createrepo_c" in f.read()
            except (IOError, OSError, ValueError):
                continue
            if ppid == pid and loaded:
                return int(child)
        time.sleep(0.05)
    pytest.fail("no helper process of %d loaded createrepo_c" % pid)


def test_a_crash_of_createrepo_c_ends_its_helper_not_the_store(store, std_set):
    """`add` runs createrepo_c in a helper process: killed while the command
    waits for the lock (as a crash on a hostile header would end it), the
    package it was to read fails with one line naming it, nothing else."""
    lock = os.open(os.path.join(state(store), "lock"), os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        proc = subprocess.Popen(cli_command("--store", store, "add", std_set.path("unsigned")),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, env=cli_env())
        os.kill(helper_of(proc.pid), signal.SIGKILL)
    finally:
        os.close(lock)
    out, err = proc.communicate(timeout=60)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert res.returncode == 1
    assert one_line_error(res) == (
        "persistrepo: error: %s: createrepo_c cannot write repository metadata for it "
        "(createrepo_c was killed by signal %d)" % (std_set.path("unsigned"), signal.SIGKILL))
    healthy(store, BASE)
    assert os.listdir(os.path.join(state(store), "tmp")) == []

# -- 5. A wrong --store never damages or fakes a store ----------------------

def test_existing_repository_is_not_taken_over_silently(std_set, tmp_path):
    repo = str(tmp_path / "repo")
    bed.make_repo(repo, [std_set.path("tool", "1.0"), std_set.path("libtool-dep")])
    with open(os.path.join(repo, "repodata", "comps.xml"), "w") as f:
        f.write("<comps/>\n")
    before = sorted(os.listdir(repo)) + sorted(os.listdir(os.path.join(repo, "repodata")))
    for args in (["add", std_set.path("unsigned")], ["list"], ["verify"], ["prune"],
                 ["remove", "tool"], ["status"], ["refresh"]):
        res = cli("--store", repo, *args)
        assert res.returncode == 2 and repo in one_line_error(res), (args, res.stderr)
    assert sorted(os.listdir(repo)) + sorted(os.listdir(os.path.join(repo, "repodata"))) \
        == before
    root = bed.make_root(tmp_path / "root")
    res = cli("replay", "--installroot", root, "--store", repo, "--dry-run")
    assert res.returncode == 2 and "not a persistrepo store" in one_line_error(res)

    res = cli("--store", repo, "refresh", "--adopt")
    assert res.returncode == 0, res.stdout + res.stderr
    assert os.path.isfile(os.path.join(repo, "repodata.before-persistrepo", "comps.xml"))
    assert set(listed(repo)) == BASE
    assert cli("--store", repo, "add", std_set.path("unsigned")).returncode == 0
    healthy(repo, BASE | {"unsigned-1.0-1.noarch"})


@pytest.mark.parametrize("path", ["/", "/etc", ""])
def test_system_directories_and_empty_paths_are_refused(std_set, path):
    res = cli("--store", path, "add", std_set.path("unsigned"))
    assert res.returncode == 2, res.stderr
    one_line_error(res)
    assert not os.path.exists("/unsigned-1.0-1.noarch.rpm")
    assert not os.path.exists("/.persistrepo") and not os.path.exists("/etc/.persistrepo")


@pytest.mark.parametrize("args", [["list"], ["status"], ["prune"], ["remove", "x"],
                                  ["verify"], ["refresh"]])
def test_a_mistyped_path_is_an_error_and_creates_nothing(tmp_path, args):
    missing = str(tmp_path / "no" / "such" / "store")
    res = cli("--store", missing, *args)
    assert res.returncode == 2 and missing in one_line_error(res)
    assert not os.path.exists(os.path.join(str(tmp_path), "no"))


# -- 6. What rpm rejects, the store rejects ---------------------------------

def test_bad_signature_is_refused_everywhere(store, builder, gpg_key, tmp_path):
    good = builder.build("badsig", sign_with=gpg_key)
    bad = forge.break_signature(good, tmp_path / "badsig-1.0-1.noarch.rpm")
    assert subprocess.run(["rpm", "-K", bad], stdout=subprocess.PIPE,
                          env=bed.tool_env()).returncode != 0
    res = cli("--store", store, "add", bad)
    assert res.returncode == 1 and "BAD signature" in one_line_error(res)
    assert set(listed(store)) == BASE

    # A store written before this check existed may hold one already.
    other = Store(str(tmp_path / "other"))
    other.add([Candidate(good)])
    entry = other.entries()[0]
    entry.update(sha256=hashlib.sha256(open(bad, "rb").read()).hexdigest(),
                 size=os.path.getsize(bad))
    planted = Store(store)
    with planted.writing() as txn:
        staged = shutil.copy(bad, planted.layout.tmp)
        repodata.save_chunks(planted.layout, entry["sha256"],
                             repodata.make_chunks(staged, entry["filename"]))
        txn.commit([(staged, entry)], [])
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "corrupt: badsig-1.0-1.noarch.rpm" in res.stdout, res.stdout
    root = bed.make_root(tmp_path / "root")
    res = cli("replay", "--installroot", root, "--store", store, "--json", "--skip-broken")
    doc = json.loads(res.stdout)
    assert [r["filename"] for r in doc["refused"]] == ["badsig-1.0-1.noarch.rpm"], doc
    assert "BAD signature" in doc["refused"][0]["reason"]
    assert bed.installed(root) == BASE


# -- 7. No traceback, and the capture message is never lost ------------------

def test_non_utf8_config_and_binary_manifest(store, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_bytes(b"[main]\npersist_dir = /var/\xff\xfe\n")
    res = cli("--config", conf, "list")
    assert res.returncode == 2 and "UTF-8" in one_line_error(res)
    manifest = tmp_path / "manifest"
    manifest.write_bytes(os.urandom(64) + b"\xff\xfe")
    res = cli("--store", store, "status", "--image-manifest", manifest)
    assert res.returncode == 2 and "not text" in one_line_error(res)


@pytest.mark.parametrize("damage", ["{}", "null", "[1,2]", "symlink", "directory",
                                    "parent-symlink"])
def test_failure_record_of_any_shape_keeps_the_capture_message(damage, std_set, tmp_path):
    root = bed.make_root(tmp_path / "root")
    lib = os.path.join(root, "var/lib/persistrepo")
    record = os.path.join(lib, "failures.json")
    if damage == "parent-symlink":
        os.makedirs(os.path.dirname(lib), exist_ok=True)
        os.symlink(str(tmp_path), lib)
    else:
        os.makedirs(lib)
        if damage == "symlink":
            os.symlink("/etc/hostname", record)
        elif damage == "directory":
            os.mkdir(record)
        else:
            with open(record, "w") as f:
                f.write(damage)
    store = os.path.join(root, "var/imgbased/persisted_packages")
    os.makedirs(os.path.join(store, "junk"))  # not a store: capture must fail
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "persist_rpm.conf").write_text("[main]\nenabled=1\n")
    res = bed.run_dnf(root, ["install", "unsigned"], repos={"std": std_set.repo},
                      plugin_dir=os.path.join(REPO, "dnf-plugins"), plugin_conf_dir=str(conf),
                      env={"PYTHONPATH": REPO})
    assert res.returncode == 0, res
    assert "unsigned-1.0-1.noarch was NOT persisted" in res.output, res
    assert "Traceback" not in res.output
    status = bed.run_dnf(root, ["persist", "status"], repos={},
                         plugin_dir=os.path.join(REPO, "dnf-plugins"),
                         plugin_conf_dir=str(conf), env={"PYTHONPATH": REPO})
    assert "Traceback" not in status.output, status
    with open("/etc/hostname") as f:
        assert "NOT persisted" not in f.read()


def test_replay_refuses_a_corrupt_rpmdb_and_an_unprivileged_run(store, tmp_path):
    root = bed.make_root(tmp_path / "root")
    db = os.path.join(root, "var/lib/rpm")
    for name in os.listdir(db):
        path = os.path.join(db, name)
        if os.path.isfile(path):
            with open(path, "r+b") as f:
                f.write(b"\0garbage" * 512)
    res = cli("replay", "--installroot", root, "--store", store, "--dry-run")
    assert res.returncode == 2 and "rpm database" in one_line_error(res)
    good = bed.make_root(tmp_path / "good")
    readable_by_all(str(tmp_path))
    res = as_nobody(*cli_command("replay", "--installroot", good, "--store", store))
    assert res.returncode == 1 and "run it as root" in one_line_error(res)


def test_a_disk_filling_up_at_any_point_loses_nothing(tmp_path, std_set, builder):
    """Sweep the free space left on a small file system across everything one
    add writes: each time one line or success, and nothing persisted lost."""
    with bed.tmpfs(tmp_path / "small", "1m") as mnt:
        store = os.path.join(mnt, "store")
        assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
        pkg = builder.build("midpkg", files={"/usr/share/mid.bin": os.urandom(20000).hex()})
        need = 3 * os.path.getsize(pkg)
        outcomes = set()
        for leave in range(0, need, max(4096, need // 16)):
            filler = os.path.join(mnt, "filler")
            st = os.statvfs(mnt)
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
            res = cli("--store", store, "add", pkg)
            os.unlink(filler)
            assert res.returncode in (0, 1) and "Traceback" not in res.stderr, res.stderr
            if res.returncode:
                one_line_error(res)
            outcomes.add(res.returncode)
            if cli("--store", store, "verify").returncode:
                assert cli("--store", store, "refresh").returncode in (0, 1)
            assert "unsigned-1.0-1.noarch" in listed(store)
            res = cli("--store", store, "verify")
            assert res.returncode == 0, (leave, res.stdout)
            if "midpkg-1.0-1.noarch" in listed(store):
                assert cli("--store", store, "remove", "midpkg").returncode == 0
        assert outcomes == {0, 1}


@pytest.mark.parametrize("value", ["", "relative/store", "."])
def test_persist_dir_must_be_absolute(tmp_path, value):
    conf = tmp_path / "persist_rpm.conf"
    conf.write_text("[main]\npersist_dir = %s\n" % value)
    res = cli("--config", conf, "list")
    assert res.returncode == 2 and "persist_dir" in one_line_error(res)
