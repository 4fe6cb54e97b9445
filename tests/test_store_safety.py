"""Crash safety, one writer at a time, hostile stores, a full disk, and the
Python versions the library must run on."""

import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from persistrepo.store.repair import refresh
from persistrepo.store.store import Store
from tests.support import bed
from tests.support.storebed import REPO, cli, listed, one_line_error, repodata_packages

BASE = [("tool", "1.0"), ("libtool-dep", None), ("epochy", "1.0"), ("epochy", "2.0")]


def crash_run(target, *args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "tests", "support", "crashpoint.py"),
                           str(target)] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def pristine(std_set, tmp_path_factory):
    store = str(tmp_path_factory.mktemp("pristine") / "store")
    assert cli("--store", store, "add", *[std_set.path(n, v) for n, v in BASE]).returncode == 0
    return store


OPERATIONS = {
    "add": lambda s: ["add", s.path("tool", "2.0"), s.path("unsigned")],
    "remove": lambda s: ["remove", "libtool-dep"],
    "prune": lambda s: ["prune"],
    "refresh": lambda s: ["refresh"],
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_sigkill_anywhere_loses_nothing(op, std_set, pristine, tmp_path, root):
    """Kill the operation at many points; each time the store stays readable
    (repomd.xml and every file it names), keeps every package it had (but
    the one being removed), and verify passes or refresh repairs it."""
    store = str(tmp_path / "store")
    args = ["--store", store] + OPERATIONS[op](std_set)
    shutil.copytree(pristine, store)
    full = crash_run(0, *args)
    assert full.returncode == 0, full.stderr
    total = int(full.stderr.rsplit("lines: ", 1)[1])
    targets = sorted(set(range(1, total, max(1, total // 16))) | {total - 2, total - 1})
    before = set(listed(pristine))
    kept = before - ({"libtool-dep-1.0-1.noarch"} if op == "remove" else set())
    if op == "prune":
        kept -= {"epochy-2.0-1.noarch"}
    for i, target in enumerate(targets):
        shutil.rmtree(store)
        shutil.copytree(pristine, store)
        res = crash_run(target, *args)
        assert res.returncode == -signal.SIGKILL, (target, res.stderr)
        hrefs = set(repodata_packages(store))
        for href in hrefs:
            assert os.path.isfile(os.path.join(store, href)), (target, href)
        for nevra in kept:
            e = [x for x in Store(store).entries() if x["nevra"] == nevra]
            assert e or os.path.exists(os.path.join(store, "%s.rpm" % nevra)), (target, nevra)
        if Store(store).verify():
            refresh(Store(store))
            assert not Store(store).verify(), target
        assert kept <= set(listed(store)), target
        if i % 6 == 0:  # the real dnf reads it too
            out = bed.run_dnf(root, ["list", "--available"], repos={"p": store})
            assert out.returncode == 0 and "tool" in out.stdout, (target, out)
    # After a crash the next write finishes the job and leaves no temp files.
    assert crash_run(0, "--store", store, "list").returncode == 0
    assert cli("--store", store, "add", std_set.path("signed")).returncode == 0
    assert os.listdir(os.path.join(store, ".persistrepo", "tmp")) == []


def test_interrupted_operation_is_rolled_forward(std_set, pristine, tmp_path):
    """A kill between the journal and its application: verify says so, and
    the next write completes the operation."""
    store = str(tmp_path / "store")
    shutil.copytree(pristine, store)
    args = ["--store", store, "remove", "libtool-dep"]
    total = int(crash_run(0, *args).stderr.rsplit("lines: ", 1)[1])
    shutil.rmtree(store)
    for target in range(total // 2, total):
        shutil.copytree(pristine, store)
        crash_run(target, *args)
        if os.path.exists(os.path.join(store, ".persistrepo", "journal.json")):
            break
        shutil.rmtree(store)
    else:
        pytest.fail("no kill point left a journal behind")
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "interrupted:" in res.stdout
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    assert "libtool-dep-1.0-1.noarch" not in listed(store)
    assert not os.path.exists(os.path.join(store, "libtool-dep-1.0-1.noarch.rpm"))
    assert cli("--store", store, "verify").returncode == 0


def test_concurrent_adds_lose_nothing(builder, tmp_path):
    store = str(tmp_path / "store")
    paths = [builder.build("conc%d" % i) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: cli("--store", store, "add", p), paths))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert set(listed(store)) == {"conc%d-1.0-1.noarch" % i for i in range(8)}
    assert len(repodata_packages(store)) == 8
    assert cli("--store", store, "verify").returncode == 0


def test_readers_never_see_half_written_metadata(builder, tmp_path):
    """While packages are added one by one, a reader that loads repomd.xml and
    the primary it names (as dnf does) always gets a whole, consistent repo."""
    store = str(tmp_path / "store")
    paths = [builder.build("reader%d" % i) for i in range(10)]
    assert cli("--store", store, "add", paths[0]).returncode == 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        writer = pool.submit(lambda: [cli("--store", store, "add", p).returncode
                                      for p in paths[1:]])
        seen = set()
        while not writer.done():
            seen.add(len(repodata_packages(store)))
        assert writer.result() == [0] * 9
    assert len(repodata_packages(store)) == 10 and len(seen) > 1


# -- hostile stores --------------------------------------------------------

@pytest.fixture
def good_store(std_set, tmp_path):
    store = str(tmp_path / "store")
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    return store


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "foreign-owner"])
def test_refuses_untrusted_store(how, good_store, std_set):
    if how == "foreign-owner":
        os.chown(good_store, 65534, 65534)
    else:
        os.chmod(good_store, 0o777 if how == "world-writable" else 0o775)
    for args in (["add", std_set.path("tool", "1.0")], ["list"], ["verify"]):
        res = cli("--store", good_store, *args)
        assert res.returncode == 3, (args, res.stderr)
        line = one_line_error(res)
        assert good_store in line and ("chown" in line or "chmod" in line)
    os.chown(good_store, 0, 0)
    os.chmod(good_store, 0o755)
    assert set(listed(good_store)) == {"unsigned-1.0-1.noarch"}


def test_refuses_symlinks(good_store, tmp_path, std_set):
    link = str(tmp_path / "link")
    os.symlink(good_store, link)
    res = cli("--store", link, "list")
    assert res.returncode == 3 and "symlink" in one_line_error(res)
    stored = os.path.join(good_store, "unsigned-1.0-1.noarch.rpm")
    os.unlink(stored)
    os.symlink(std_set.path("unsigned"), stored)
    res = cli("--store", good_store, "verify")
    assert res.returncode == 1 and "is a symlink" in res.stdout
    res = cli("--store", good_store, "refresh")
    assert res.returncode == 1 and "not a regular package file" in res.stdout \
        and "set aside" in res.stdout
    index = os.path.join(good_store, ".persistrepo", "index.json")
    os.rename(index, index + ".real")
    os.symlink(index + ".real", index)
    res = cli("--store", good_store, "list")
    assert res.returncode == 1 and "index.json is a symlink" in one_line_error(res)


def test_store_modes(good_store):
    for dirpath, dirnames, filenames in os.walk(good_store):
        assert oct(os.stat(dirpath).st_mode & 0o7777) == oct(0o755), dirpath
        for name in filenames:
            if name == "lock":
                continue
            path = os.path.join(dirpath, name)
            assert oct(os.stat(path).st_mode & 0o7777) == oct(0o644), path


# -- full disk -------------------------------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    with bed.tmpfs(tmp_path / "tiny", "160k") as mnt:
        yield mnt


def test_full_disk_loses_nothing(tiny_fs, builder, std_set):
    store = os.path.join(tiny_fs, "store")
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    big = builder.build("bigpkg", files={"/usr/share/big.bin": os.urandom(300000).hex()})
    res = cli("--store", store, "add", big)
    assert res.returncode == 1
    assert "No space left on device" in one_line_error(res)
    assert set(listed(store)) == {"unsigned-1.0-1.noarch"}
    assert cli("--store", store, "verify").returncode == 0


# -- Python versions -------------------------------------------------------

def _vermin(targets, paths):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "vermin"),
                           "--no-tips", "--violations"] + targets + paths,
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)


# Each folder's minimum Python: 2.7 for what EL7 ships (the library, the
# command and what yum imports, replay through rpm's transaction set
# included; dnf5/ too, whose state `status` reads on every host),
# 3.6 for what only dnf hosts run (EL8's python3).
MINIMUM = {"": "2.7", "compat/": "2.7", "store/": "2.7", "capture/": "2.7",
           "front/": "2.7", "replay/": "2.7", "dnf5/": "2.7", "export/": "3.6",
           "fleet/": "3.6"}
# What only dnf hosts run in a 2.7 folder: module streams, dnf5's record of
# the replay, dnf's history moved into the root, and the dnf plugin's
# capture process.
DNF_ONLY = ("replay/module_plan.py", "replay/dnf5.py", "replay/history.py",
            "capture/process.py")


def test_every_folder_states_its_minimum_python():
    top = os.path.join(REPO, "persistrepo")
    folders = set(n + "/" for n in os.listdir(top) if os.path.isdir(os.path.join(top, n))
                  and n != "__pycache__")
    assert folders | {""} == set(MINIMUM)


@pytest.mark.parametrize("sub", sorted(MINIMUM))
def test_each_folder_runs_on_its_minimum_python(sub):
    pkg = os.path.join(REPO, "persistrepo", sub)
    paths = sorted(os.path.join("persistrepo", sub + n) for n in os.listdir(pkg)
                   if n.endswith(".py") and sub + n not in DNF_ONLY)
    dnf_only = [os.path.join("persistrepo", p) for p in DNF_ONLY if p.startswith(sub) and sub]
    targets = ["--target=2.7-", "--target=3.6-"] if MINIMUM[sub] == "2.7" else ["--target=3.6-"]
    res = _vermin(targets, paths)
    assert res.returncode == 0, res.stdout
    if dnf_only:
        res = _vermin(["--target=3.6-"], dnf_only)
        assert res.returncode == 0, res.stdout
