"""The store and the persistrepo CLI on real RPMs, read back by real dnf."""

import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import zlib

import createrepo_c as cr
import pytest
import rpmfluff

from persistrepo import names
from persistrepo.store.keys import add_key
from persistrepo.store.store import Candidate, Store
from tests.support import bed
from tests.support.storebed import cli, cli_env, listed, one_line_error, repodata_packages


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


def copy_of(path, tmp_path, name=None):
    """A private copy (so tests may chmod, chown or corrupt it)."""
    dst = tmp_path / (name or os.path.basename(path))
    shutil.copy(path, dst)
    return str(dst)


# -- add -------------------------------------------------------------------

def test_add_makes_a_repository_dnf_installs_from(std_set, store, root):
    res = cli("--store", store, "add", std_set.path("tool", "2.0"),
              std_set.path("libtool-dep"))
    assert res.returncode == 0, res.stderr
    assert "persisted tool-2.0-1.noarch" in res.stdout
    assert sorted(os.listdir(store)) == [".persistrepo", "libtool-dep-1.0-1.noarch.rpm",
                                         "repodata", "tool-2.0-1.noarch.rpm"]
    assert set(repodata_packages(store)) == {"libtool-dep-1.0-1.noarch.rpm",
                                             "tool-2.0-1.noarch.rpm"}
    out = bed.run_dnf(root, ["install", "tool"], repos={"p": store})
    assert out.returncode == 0, out
    assert bed.installed(root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}


def test_provenance_record(std_set, store, gpg_key):
    res = cli("--store", store, "add", "--reason", "dependency", "--origin", "vendor",
              std_set.path("signed"), std_set.path("epochy", "1.0"))
    assert res.returncode == 0, res.stderr
    pkgs = listed(store)
    signed = pkgs["signed-1.0-1.noarch"]
    assert signed["signed"] is True
    assert signed["key_id"].endswith(gpg_key.keyid) and len(signed["key_id"]) == 16
    assert (signed["origin"], signed["reason"], signed["method"]) == \
        ("vendor", "dependency", "cli")
    epochy = pkgs["epochy-1:1.0-1.noarch"]
    assert (epochy["epoch"], epochy["version"], epochy["signed"], epochy["key_id"]) == \
        (1, "1.0", False, None)
    assert len(epochy["sha256"]) == 64 and epochy["size"] == os.path.getsize(
        std_set.path("epochy", "1.0"))
    assert epochy["persisted_at"].endswith("Z")
    for field in ("name", "epoch", "version", "release", "arch", "nevra", "sha256", "size",
                  "persisted_at", "origin", "reason", "signed"):
        assert field in epochy


@pytest.fixture(scope="module")
def srpm(tmp_path_factory):
    pkg = rpmfluff.SimpleRpmBuild("srcpkg", "1.0", "1", ["noarch"])
    pkg.make()
    dst = tmp_path_factory.mktemp("srpm") / "srcpkg-1.0-1.src.rpm"
    shutil.copy(pkg.get_built_srpm(), dst)
    pkg.clean()
    return str(dst)


def test_add_rejects_what_is_not_a_binary_rpm(std_set, store, tmp_path, srpm):
    good = std_set.path("unsigned")
    data = open(good, "rb").read()
    (tmp_path / "text.rpm").write_text("hello\n" * 100)
    (tmp_path / "short.rpm").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-20] ^= 0xFF
    (tmp_path / "flipped.rpm").write_bytes(bytes(flipped))
    os.mkfifo(str(tmp_path / "fifo.rpm"))
    cases = {
        str(tmp_path / "text.rpm"): "not a binary RPM",
        str(tmp_path / "short.rpm"): "corrupt",
        str(tmp_path / "flipped.rpm"): "payload digest mismatch",
        srpm: "source RPM",
        str(tmp_path): "not a regular file",
        str(tmp_path / "fifo.rpm"): "not a regular file",
        str(tmp_path / "missing.rpm"): "no such file",
    }
    for path, why in cases.items():
        res = cli("--store", store, "add", good, path)
        assert res.returncode == 1, (path, res.stderr)
        line = one_line_error(res)
        assert path in line and why in line, line
    assert listed(store) == {}, "one bad file must add nothing"


def test_same_nevra_same_checksum_is_a_noop(std_set, store):
    assert cli("--store", store, "add", std_set.path("tool", "1.0")).returncode == 0
    before = os.stat(os.path.join(store, "repodata", "repomd.xml")).st_mtime_ns
    res = cli("--store", store, "add", std_set.path("tool", "1.0"))
    assert res.returncode == 0 and "already persisted tool-1.0-1.noarch" in res.stdout
    assert os.stat(os.path.join(store, "repodata", "repomd.xml")).st_mtime_ns == before


def test_same_nevra_new_checksum_replaces_and_warns(std_set, store, tmp_path, gpg_key):
    plain = std_set.path("unsigned")
    resigned = copy_of(plain, tmp_path)
    gpg_key.sign(resigned)
    assert cli("--store", store, "add", plain).returncode == 0
    res = cli("--store", store, "add", resigned)
    assert res.returncode == 0
    assert "warning: unsigned-1.0-1.noarch was already stored with another checksum" \
        in res.stderr
    entry = listed(store)["unsigned-1.0-1.noarch"]
    assert entry["signed"] and list(repodata_packages(store).values()) == [entry["sha256"]]
    # the replaced build's chunk file goes with it
    assert os.listdir(os.path.join(store, ".persistrepo", "chunks")) == [entry["sha256"] + ".xml"]


# -- placement -------------------------------------------------------------

def _same_inode(a, b):
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_placement_hardlinks_only_root_only_files(std_set, tmp_path):
    store = str(tmp_path / "store")
    safe = copy_of(std_set.path("tool", "1.0"), tmp_path)
    os.chmod(safe, 0o644)
    foreign = copy_of(std_set.path("libtool-dep"), tmp_path)
    os.chown(foreign, 65534, 65534)
    writable = copy_of(std_set.path("unsigned"), tmp_path)
    os.chmod(writable, 0o664)
    assert cli("--store", store, "add", safe, foreign, writable).returncode == 0
    assert _same_inode(safe, os.path.join(store, "tool-1.0-1.noarch.rpm"))
    for src, name in ((foreign, "libtool-dep-1.0-1.noarch.rpm"),
                      (writable, "unsigned-1.0-1.noarch.rpm")):
        dst = os.path.join(store, name)
        assert not _same_inode(src, dst)
        st = os.stat(dst)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)


# -- remove, list, prune ---------------------------------------------------

def test_remove_specs(std_set, store):
    paths = [std_set.path(n, v) for n, v in (("tool", "1.0"), ("tool", "2.0"),
                                             ("epochy", "1.0"), ("epochy", "2.0"),
                                             ("libtool-dep", None), ("unsigned", None))]
    paths += [std_set.path("multi", arch=a) for a in ("x86_64", "i686")]
    assert cli("--store", store, "add", *paths).returncode == 0
    cases = [("tool-1.0", {"tool-1.0-1.noarch"}),
             ("epochy-1:1.0-1.noarch", {"epochy-1:1.0-1.noarch"}),
             ("multi.i686", {"multi-1.0-1.i686"}),
             ("lib*", {"libtool-dep-1.0-1.noarch"}),
             ("unsigned", {"unsigned-1.0-1.noarch"})]
    for spec, gone in cases:
        before = set(listed(store))
        res = cli("--store", store, "remove", spec)
        assert res.returncode == 0, res.stderr
        assert before - set(listed(store)) == gone, spec
    assert set(listed(store)) == {"tool-2.0-1.noarch", "epochy-2.0-1.noarch",
                                  "multi-1.0-1.x86_64"}
    assert set(repodata_packages(store)) == {"tool-2.0-1.noarch.rpm",
                                             "epochy-2.0-1.noarch.rpm",
                                             "multi-1.0-1.x86_64.rpm"}
    assert not os.path.exists(os.path.join(store, "unsigned-1.0-1.noarch.rpm"))


def test_remove_unmatched_spec_removes_nothing(std_set, store):
    assert cli("--store", store, "add", std_set.path("tool", "2.0")).returncode == 0
    res = cli("--store", store, "remove", "tool", "no-such-thing")
    assert res.returncode == 1
    assert "'no-such-thing'" in one_line_error(res)
    assert set(listed(store)) == {"tool-2.0-1.noarch"}


def test_list_table_and_json(std_set, store):
    os.mkdir(store)  # as the package ships it: an empty directory is an empty store
    res = cli("--store", store, "list")
    assert res.returncode == 0 and res.stdout.split() == ["PACKAGE", "REASON", "ORIGIN",
                                                          "SIGNED", "PERSISTED"]
    assert cli("--store", store, "add", std_set.path("signed")).returncode == 0
    table = cli("--store", store, "list").stdout
    assert "signed-1.0-1.noarch" in table and "user" in table
    data = json.loads(cli("--store", store, "list", "--json").stdout)
    assert isinstance(data, list) and data[0]["nevra"] == "signed-1.0-1.noarch"


def test_prune_keeps_newest_by_rpm_order(std_set, builder, store):
    kernels = [builder.build("kernel-core", v, provides=["installonlypkg(kernel)"])
               for v in ("5.1", "5.2", "5.10", "5.9")]
    paths = [std_set.path("tool", "1.0"), std_set.path("tool", "2.0"),
             std_set.path("epochy", "1.0"), std_set.path("epochy", "2.0")]
    paths += [std_set.path("multi", arch=a) for a in ("x86_64", "i686")]
    assert cli("--store", store, "add", *(paths + kernels)).returncode == 0
    res = cli("--store", store, "prune")
    assert res.returncode == 0, res.stderr
    assert set(listed(store)) == {
        "tool-2.0-1.noarch", "epochy-1:1.0-1.noarch",  # the epoch wins over 2.0
        "multi-1.0-1.x86_64", "multi-1.0-1.i686",      # arches are separate
        "kernel-core-5.10-1.noarch", "kernel-core-5.9-1.noarch", "kernel-core-5.2-1.noarch"}
    res = cli("--store", store, "prune", "--installonly-keep", "1")
    assert "kernel-core-5.10-1.noarch" in listed(store)
    assert len([n for n in listed(store) if n.startswith("kernel")]) == 1
    res = cli("--store", store, "prune", "--keep", "0")
    assert res.returncode == 2 and "Traceback" not in res.stderr


# -- verify and refresh ----------------------------------------------------

def test_verify_names_each_problem(std_set, store, tmp_path):
    names = ("tool", "libtool-dep", "unsigned", "signed")
    # Private copies: the store hardlinks root-owned files, and this test
    # corrupts what it stored.
    assert cli("--store", store, "add", *[copy_of(std_set.path(n, "2.0" if n == "tool"
                                                               else None), tmp_path)
                                          for n in names]).returncode == 0
    add_key(Store(store), listed(store)["signed-1.0-1.noarch"]["key_id"],
            open(std_set.key.pubkey, "rb").read())
    res = cli("--store", store, "verify")
    assert res.returncode == 0 and res.stdout.startswith("ok: 4 packages verified"), res.stdout
    os.unlink(os.path.join(store, "libtool-dep-1.0-1.noarch.rpm"))
    with open(os.path.join(store, "tool-2.0-1.noarch.rpm"), "r+b") as f:
        f.seek(-10, os.SEEK_END)
        f.write(b"XXXXXXXXXX")
    shutil.copy(std_set.path("epochy", "2.0"), store)
    res = cli("--store", store, "verify")
    assert res.returncode == 1
    out = res.stdout
    assert "missing: libtool-dep-1.0-1.noarch.rpm" in out
    assert "corrupt: tool-2.0-1.noarch.rpm" in out
    assert "orphan: epochy-2.0-1.noarch.rpm" in out


def test_verify_checks_signatures_with_kept_keys(std_set, store, tmp_path, gpg_key):
    other = bed.GpgKey(tmp_path / "other", uid="other@persistrepo.invalid")
    try:
        forged = copy_of(std_set.path("unsigned"), tmp_path)
        other.sign(forged)
        assert cli("--store", store, "add", forged).returncode == 0
        key_id = listed(store)["unsigned-1.0-1.noarch"]["key_id"]
        # The store keeps the wrong public key under the signer's key id.
        add_key(Store(store), key_id, open(gpg_key.pubkey, "rb").read())
        res = cli("--store", store, "verify")
        assert res.returncode == 1 and "signature check failed" in res.stdout
    finally:
        other.close()


def test_verify_reports_metadata_drift(std_set, store):
    assert cli("--store", store, "add", std_set.path("tool", "2.0")).returncode == 0
    index = os.path.join(store, ".persistrepo", "index.json")
    doc = json.load(open(index))
    doc["generation"] += 5
    with open(index, "w") as f:
        json.dump(doc, f)
    res = cli("--store", store, "verify")
    assert res.returncode == 1 and "drift: repodata: revision" in res.stdout
    assert cli("--store", store, "refresh").returncode == 0
    assert cli("--store", store, "verify").returncode == 0


def test_refresh_rebuilds_from_files(std_set, store):
    assert cli("--store", store, "add", "--origin", "vendor",
               std_set.path("tool", "2.0")).returncode == 0
    shutil.copy(std_set.path("libtool-dep"), store)
    shutil.rmtree(os.path.join(store, "repodata"))
    res = cli("--store", store, "refresh")
    assert res.returncode == 0, res.stderr
    assert "adopted libtool-dep-1.0-1.noarch" in res.stdout
    pkgs = listed(store)
    assert pkgs["tool-2.0-1.noarch"]["origin"] == "vendor"  # known provenance is kept
    assert pkgs["libtool-dep-1.0-1.noarch"]["method"] == "refresh"
    assert set(repodata_packages(store)) == {"tool-2.0-1.noarch.rpm",
                                             "libtool-dep-1.0-1.noarch.rpm"}
    os.unlink(os.path.join(store, ".persistrepo", "index.json"))
    assert cli("--store", store, "refresh").returncode == 0
    assert set(listed(store)) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch"}
    # sound, but adopted unsigned packages are what replay refuses: verify says so
    res = cli("--store", store, "verify", "--json")
    assert res.returncode == 1
    assert [(p["kind"], p["package"]) for p in json.loads(res.stdout)["problems"]] == [
        ("trust", "libtool-dep-1.0-1.noarch"), ("trust", "tool-2.0-1.noarch")]


# -- the provenance record's layout ----------------------------------------

def index_text(store):
    with open(os.path.join(store, ".persistrepo", "index.json")) as f:
        return f.read()


def entry_lines(store):
    """{file name: its line in index.json}."""
    return dict((json.loads(line)["filename"], line)
                for line in (raw.strip().rstrip(",") for raw in index_text(store).split("\n"))
                if line.startswith("{\"arch\""))


def canonical_index(generation, entries):
    """index.json as docs/store-format.md lays it out: one entry per line."""
    return '{"format": 1,\n "generation": %d,\n "packages": [\n  %s\n ]\n}\n' % (
        generation, ",\n  ".join(json.dumps(e, sort_keys=True) for e in entries))


def test_an_add_keeps_the_other_entries_lines_and_gives_a_replaced_one_its_new_line(
        std_set, store, tmp_path, gpg_key):
    resigned = copy_of(std_set.path("unsigned"), tmp_path)
    gpg_key.sign(resigned)
    assert cli("--store", store, "add", std_set.path("unsigned"),
               std_set.path("tool", "1.0")).returncode == 0
    before = entry_lines(store)
    assert cli("--store", store, "add", std_set.path("libtool-dep")).returncode == 0
    after = entry_lines(store)
    assert after.pop("libtool-dep-1.0-1.noarch.rpm") and after == before
    assert cli("--store", store, "add", resigned).returncode == 0
    entry = listed(store)["unsigned-1.0-1.noarch"]
    assert entry["signed"] and entry["sha256"] != json.loads(
        before["unsigned-1.0-1.noarch.rpm"])["sha256"]
    lines = entry_lines(store)
    assert lines["unsigned-1.0-1.noarch.rpm"] == json.dumps(entry, sort_keys=True)
    assert lines["tool-1.0-1.noarch.rpm"] == before["tool-1.0-1.noarch.rpm"]
    assert index_text(store) == canonical_index(3, [
        listed(store)[n] for n in ("libtool-dep-1.0-1.noarch", "tool-1.0-1.noarch",
                                   "unsigned-1.0-1.noarch")])


def test_an_entry_newly_tagged_with_its_module_gets_its_new_line(std_set, store):
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    before = entry_lines(store)
    module = {"name": "tool", "stream": "1", "version": 1, "context": "c0ffee42",
              "arch": "x86_64", "modulemd": "document: modulemd\n"}
    Store(store).add([Candidate(std_set.path("tool", "1.0"), module=module)])
    tagged = entry_lines(store)
    assert json.loads(tagged["tool-1.0-1.noarch.rpm"]) == dict(
        json.loads(before["tool-1.0-1.noarch.rpm"]), module=module)
    assert tagged["libtool-dep-1.0-1.noarch.rpm"] == before["libtool-dep-1.0-1.noarch.rpm"]
    # read back line by line, the module's line is kept by the next add
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    after = entry_lines(store)
    assert after.pop("unsigned-1.0-1.noarch.rpm") and after == tagged


def _other_layouts(generation, entries):
    """index.json with the same content laid out otherwise, by hand or by
    another tool (the format is JSON: any layout is a valid index)."""
    canonical = canonical_index(generation, entries)
    doc = {"format": 1, "generation": generation, "packages": entries}
    first, second = (json.dumps(e, sort_keys=True) for e in entries[:2])
    return {
        "pretty": json.dumps(doc, indent=2),
        "one line": json.dumps(doc),
        "entry over two lines": canonical.replace(
            first, first.replace(', "name": ', ',\n  "name": ')),
        "two entries on a line": canonical.replace(first + ",\n  ", first + ", "),
        "a line holding one entry and the start of the next": canonical.replace(
            first + ",\n  " + second,
            first + ", " + second.replace(', "name": ', ',\n  "name": ')),
        "trailing blanks": canonical.replace(",\n", ", \n"),
        "blanks inside an entry": canonical.replace('"epoch": ', '"epoch":  ', 1),
        "escaped text": canonical.replace('"cli"', '"\\u0063li"', 1),
        "no final newline": canonical[:-1],
        "reordered keys": canonical.replace(first, json.dumps(entries[0])),
    }


@pytest.mark.parametrize("layout", sorted(_other_layouts(1, [{"a": 1}, {"b": 2}])))
def test_an_index_in_another_layout_is_read_and_written_anew(std_set, store, layout):
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    entries = sorted(listed(store).values(), key=lambda e: e["filename"])
    with open(os.path.join(store, ".persistrepo", "index.json"), "w") as f:
        f.write(_other_layouts(1, entries)[layout])
    assert sorted(listed(store).values(), key=lambda e: e["filename"]) == entries
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    now = sorted(listed(store).values(), key=lambda e: e["filename"])
    assert now[:2] == entries
    assert index_text(store) == canonical_index(2, now)


@pytest.mark.parametrize("damage, message", [
    (lambda e: dict(e, name="../tool"), "an entry has an invalid name '../tool'"),
    (lambda e: dict(e, origin="a\x1bb"), "origin holds control characters"),
    (lambda e: dict(e, size=True), "entry field 'size' is missing or of the wrong type"),
    (lambda e: dict(e, epoch=2 ** 32), "an entry has an invalid epoch 4294967296"),
    (lambda e: dict(e, key_id="0123456789abcdef"), "bad key id"),
    (lambda e: dict(e, filename="tool-9-1.noarch.rpm"), "its file name or NEVRA does not"),
    (lambda e: dict(e, module={"name": "x"}), "a module record is not an object with"),
    (lambda e: [e], "an entry is not an object"),
    (lambda e: dict((k, v) for k, v in e.items() if k != "origin"),
     "entry field 'origin' is missing or of the wrong type"),
    (lambda e: {"x": "[" * 40 + "]" * 40}, "entry field"),
    (lambda e: json.loads("[" * 40 + "]" * 40), "nested more than 32 levels deep"),
])
def test_a_hostile_line_is_refused_with_what_is_wrong(std_set, store, damage, message):
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    entries = sorted(listed(store).values(), key=lambda e: e["filename"])
    text = canonical_index(1, [entries[0], damage(entries[1])])
    with open(os.path.join(store, ".persistrepo", "index.json"), "w") as f:
        f.write(text)
    res = cli("--store", store, "add", std_set.path("unsigned"))
    line = one_line_error(res)
    assert res.returncode == 1 and "the provenance record" in line and message in line \
        and "run 'persistrepo refresh'" in line, line
    assert index_text(store) == text


def _mutated_lines(seed=22, count=3000):
    """Lines of entries, sound and not: every field given hostile values, keys
    reordered, added and dropped, and characters deleted, inserted and doubled."""
    rand = random.Random(seed)
    base = {"arch": "x86_64", "epoch": 0, "filename": "a-b_c+d-1.2~rc1^g%{x}-3.el9.x86_64.rpm",
            "installonly": False, "key_id": None, "method": "dnf", "module": None,
            "name": "a-b_c+d", "nevra": "a-b_c+d-1.2~rc1^g%{x}-3.el9.x86_64", "origin": "baseos",
            "persisted_at": "2026-12-02T13:53:31Z", "reason": "user", "release": "3.el9",
            "sha256": "0" * 64, "signed": False, "size": 5525, "version": "1.2~rc1^g%{x}"}
    signed = dict(base, epoch=7, nevra="a-b_c+d-7:1.2~rc1^g%{x}-3.el9.x86_64",
                  key_id="0123456789abcdef", signed=True, origin=None, installonly=True)
    hostile = [None, True, False, 0, 1, -1, 2 ** 32, 2 ** 32 - 1, 2 ** 63, 10 ** 30, 1.0, "", ".",
               "..", "a..b", "a/b", "a\nb", "a\x00b", "a\x7fb", "\u00e9", "\u2028", "a\\b",
               'a"b', "A" * 256, "A" * 513, "A" * 512, "-", "x86_64", "0" * 64, "f" * 16, [], {},
               "dnf", "refresh", "dependency", "3.el9", "1.2~rc1^g%{x}", "a-b_c+d", "%{x}"]

    def named(entry):  # file name and NEVRA made from the (hostile) fields
        fields = [entry[k] for k in ("name", "epoch", "version", "release", "arch")]
        return dict(entry, filename="%s-%s-%s.%s.rpm" % tuple(fields[:1] + fields[2:]),
                    nevra=names.nevra(*fields))

    lines = [json.dumps(made(dict(entry, **{key: value})), sort_keys=True)
             for entry in (base, signed) for key in sorted(entry) for value in hostile
             for made in (dict, named)]
    for _ in range(count):
        entry = dict(rand.choice((base, signed)))
        for _ in range(rand.choice((0, 1, 1, 2))):
            entry[rand.choice(sorted(entry))] = rand.choice(hostile)
        if rand.random() < 0.5 and all(k in entry for k in base):
            entry = named(entry)
        if rand.random() < 0.05:
            entry[rand.choice(("extra", "Name", "arch "))] = "x"
        if rand.random() < 0.05:
            del entry[rand.choice(sorted(entry))]
        line = json.dumps(entry, sort_keys=rand.random() > 0.05)
        for _ in range(rand.choice((0, 0, 1, 2))):
            at = rand.randrange(len(line))
            line = rand.choice((line[:at] + line[at + 1:],
                                line[:at] + rand.choice('."\\-/ 0{}[],:\x01\u00e9') + line[at:],
                                line[:at] + line[at:at + 8] + line[at:]))
        lines.append(line)
    return lines


def test_an_index_read_line_by_line_is_the_index_read_whole():
    """The line by line reading of the canonical layout, with its one-pass
    check of plain entries, gives the Index, or the error, that reading the
    document whole and checking every entry gives."""
    from persistrepo import fsutil
    from persistrepo.store import record
    first = json.dumps({"arch": "noarch", "epoch": 0, "filename": "z-1-1.noarch.rpm",
                        "installonly": False, "key_id": None, "method": "cli", "module": None,
                        "name": "z", "nevra": "z-1-1.noarch", "origin": None,
                        "persisted_at": "x", "reason": "unknown", "release": "1",
                        "sha256": "a" * 64, "signed": False, "size": 0, "version": "1"},
                       sort_keys=True)
    fast = 0
    for line, layout in ((line, layout) for line in _mutated_lines()
                         for layout in ("%s,\n  %s" % (first, line), "%s,\n  %s" % (line, first),
                                        line)):
        data = canonical_index(5, []).replace("[\n  \n", "[\n  %s\n" % layout)
        try:
            doc = fsutil.load_json(data)
            for e in doc["packages"]:
                record.check_entry(e)
            if len(set(e["filename"] for e in doc["packages"])) < len(doc["packages"]):
                raise ValueError("%s is listed twice" % doc["packages"][0]["filename"])
            expected = dict((e["filename"], e) for e in doc["packages"])
        except ValueError as e:
            expected = str(e)
        try:
            index = record.parse_index(data.encode("utf-8"))
        except ValueError as e:
            got = str(e)
        else:
            got = index.packages
            fast += ".." not in line and re.match(record._PLAIN_ENTRY, line) is not None
            assert index.to_bytes() == record.Index(5, dict(got)).to_bytes(), line
        assert got == expected, line
    assert 200 < fast  # the one-pass check was put to the test


# -- incremental -----------------------------------------------------------

def test_add_never_rereads_other_packages(std_set, store, tmp_path):
    """The other N packages' metadata is reused: garble their files (same size)
    and an add still succeeds with their original checksums in the repodata."""
    first = [copy_of(std_set.path("tool", "2.0"), tmp_path),
             copy_of(std_set.path("libtool-dep"), tmp_path)]
    assert cli("--store", store, "add", *first).returncode == 0
    before = repodata_packages(store)
    for name in before:
        path = os.path.join(store, name)
        size = os.path.getsize(path)
        with open(path, "wb") as f:
            f.write(b"\0" * size)
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    after = repodata_packages(store)
    assert {k: after[k] for k in before} == before
    assert "unsigned-1.0-1.noarch.rpm" in after


@pytest.mark.parametrize("damage", ["garbage", "another package's chunks", "symlink"])
def test_chunk_pack_that_is_not_sound_is_not_used(std_set, store, damage):
    """chunks.pack spares a write reading every chunk file; a pack that is
    damaged, or whose parts no longer match their chunk files, is not used:
    the next add reads the chunk files and the store stays sound."""
    assert cli("--store", store, "add", std_set.path("tool", "2.0"),
               std_set.path("libtool-dep")).returncode == 0
    pack = os.path.join(store, ".persistrepo", "chunks.pack")
    with open(pack, "rb") as f:
        packed = f.read()
    assert packed.count(b"</package>") == 6  # two packages, three chunks each
    chunks = os.path.join(store, ".persistrepo", "chunks")
    if damage == "garbage":
        with open(pack, "wb") as f:
            f.write(packed[:len(packed) // 2] + b"\xff\x00garbage")
    elif damage == "symlink":
        os.unlink(pack)
        os.symlink("/etc/hostname", pack)
        res = cli("--store", store, "verify")
        assert res.returncode == 1 and "stray" in res.stdout and "chunks.pack" in res.stdout
    else:  # each chunk file holds the other's chunks: the pack's identities no longer match
        a, b = sorted(os.path.join(chunks, n) for n in os.listdir(chunks))
        os.rename(a, a + ".tmp")
        shutil.copy(b, a)
        shutil.copy(a + ".tmp", b)
        os.unlink(a + ".tmp")
        assert cli("--store", store, "verify").returncode == 1
    before = repodata_packages(store)
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    after = repodata_packages(store)
    assert {k: after[k] for k in before} == before
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout
    if damage == "symlink":  # refresh sets a pack that is no regular file aside
        os.unlink(pack)
        os.symlink("/etc/hostname", pack)
        res = cli("--store", store, "refresh")
        assert res.returncode == 1 and "set aside .persistrepo/chunks.pack" in res.stdout, res
        assert os.path.isfile(pack) and not os.path.islink(pack)
        assert cli("--store", store, "verify").returncode == 0


def test_a_file_read_ahead_counts_only_as_the_inode_that_was_read(std_set, store, tmp_path):
    """What capture's process read ahead goes into a write only for the
    very inode it read, unchanged and staged as a hardlink. One rewritten
    in place since (its mtime put back) is read again; one that others may
    write is never read ahead."""
    from persistrepo.store.read_ahead import ReadAhead
    ahead = ReadAhead()
    kept = copy_of(std_set.path("libtool-dep"), tmp_path)
    swapped = copy_of(std_set.path("tool", "1.0"), tmp_path)
    shared = copy_of(std_set.path("unsigned"), tmp_path)
    os.chmod(shared, 0o664)
    for path in (kept, swapped, shared):
        ahead.read(path)
    read = dict((p, os.stat(p)) for p in (kept, swapped, shared))
    assert ahead.take(read[shared]) is None

    with open(std_set.path("tool", "2.0"), "rb") as f:
        other = f.read()
    with open(swapped, "r+b") as f:
        f.truncate(0)
        f.write(other)
    os.utime(swapped, ns=(read[swapped].st_atime_ns, read[swapped].st_mtime_ns))
    result = Store(store).add([Candidate(p) for p in (kept, swapped, shared)],
                              read_ahead=ahead)
    assert sorted(e["nevra"] for e in result.added) == [
        "libtool-dep-1.0-1.noarch", "tool-2.0-1.noarch", "unsigned-1.0-1.noarch"]
    assert ahead.take(read[kept]) is None  # taken by the write
    assert ahead.take(read[swapped]) is not None  # never taken: read again
    assert cli("--store", store, "verify").returncode == 0
    listed_ids = repodata_packages(store)
    assert set(listed_ids) == set(e["filename"] for e in result.added)
    assert listed_ids["tool-2.0-1.noarch.rpm"] == hashlib.sha256(other).hexdigest()


def test_a_write_vouches_only_for_the_files_as_it_made_them(std_set, store):
    """A write records the identities of the index and the pack it made in
    .persistrepo/checked, and the next write checks neither again while they
    are those files. Damaged in place afterwards, even to the same size and
    mtime, they are files it never made: the index is refused as unreadable,
    and the pack is not used."""
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    state = os.path.join(store, ".persistrepo")
    with open(os.path.join(state, "checked")) as f:
        assert [line.split()[0] for line in f] == ["checks", "index", "pack"]
    before = repodata_packages(store)

    def damage(path, old, new):
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
        assert len(old) == len(new) and old in data
        with open(path, "r+b") as f:
            f.write(data.replace(old, new, 1))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    damage(os.path.join(state, "chunks.pack"), b"<name>tool</name>", b"<name>tool</nam\0>")
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    after = repodata_packages(store)
    assert {k: after[k] for k in before} == before
    assert cli("--store", store, "verify").returncode == 0
    damage(os.path.join(state, "index.json"), b'"reason": "user"', b'"reason": "usex"')
    res = cli("--store", store, "add", std_set.path("signed"))
    line = one_line_error(res)
    assert res.returncode == 1 and "the provenance record" in line and \
        "unknown method or reason" in line, line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "not root's", "garbage"])
def test_a_checked_record_that_is_not_the_stores_vouches_for_nothing(std_set, store, kind):
    """.persistrepo/checked is root's like every store file: one that is no
    regular file, is not root's alone, or is not a record vouches for
    nothing, and writes go on. One that is no regular file is a stray for
    verify, which the next write replaces (a directory, which it cannot,
    refresh sets aside)."""
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    state = os.path.join(store, ".persistrepo")
    index, checked = os.path.join(state, "index.json"), os.path.join(state, "checked")
    with open(index, "rb") as f:
        text = f.read()
    with open(index, "wb") as f:
        f.write(text.replace(b'"reason": "user"', b'"reason": "usex"', 1))
    st = os.lstat(index)
    vouching = "checks 1\nindex %d.%d.%d.%d\n" % (st.st_ino, st.st_mtime_ns, st.st_ctime_ns,
                                                  st.st_size)
    os.unlink(checked)
    if kind == "symlink":
        with open(os.path.join(state, "elsewhere"), "w") as f:
            f.write(vouching)
        os.symlink("elsewhere", checked)
    elif kind == "fifo":
        os.mkfifo(checked)
    elif kind == "directory":
        os.mkdir(checked)
    else:
        with open(checked, "w") as f:
            f.write(vouching if kind == "not root's" else vouching + "\0garbage")
        if kind == "not root's":
            os.chown(checked, 65534, 65534)
    res = cli("--store", store, "add", std_set.path("unsigned"))
    assert res.returncode == 1 and "unknown method or reason" in one_line_error(res)
    with open(index, "wb") as f:
        f.write(text)
    if kind in ("symlink", "fifo", "directory"):
        res = cli("--store", store, "verify")
        assert res.returncode == 1 and ".persistrepo/checked" in res.stdout and \
            "not a regular file" in res.stdout, res.stdout
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    if kind == "symlink":
        os.unlink(os.path.join(state, "elsewhere"))
    if kind == "directory":
        assert os.path.isdir(checked)
        res = cli("--store", store, "refresh")
        assert res.returncode == 1 and "set aside .persistrepo/checked" in res.stdout, res
    assert os.path.isfile(checked) and not os.path.islink(checked)
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout


def repodata_by_kind(store):
    """{kind: sorted [(pkgid, name)]} of each of the store's primary,
    filelists and other files, as createrepo_c parses them."""
    repomd = cr.Repomd(os.path.join(store, "repodata", "repomd.xml"))
    parsers = {"primary": cr.xml_parse_primary, "filelists": cr.xml_parse_filelists,
               "other": cr.xml_parse_other}
    found = {}
    for record in repomd.records:
        got = found[record.type] = []
        parsers[record.type](os.path.join(store, record.location_href),
                             pkgcb=lambda pkg: got.append((pkg.pkgId, pkg.name)))
    return dict((kind, sorted(got)) for kind, got in found.items())


PACK_DAMAGES = {
    # The first record's three chunks are the second's: its package would be missing.
    "another package's chunks": lambda r: [r[0][:2] + r[1][2:]] + r[1:],
    "a torn end": lambda r: r[:-1] + [r[-1][:-1] + [r[-1][-1][:-30]]],
    "a missing part": lambda r: [r[0][:3] + r[0][4:]] + r[1:],
    "an extra NUL": lambda r: r[:-1] + [r[-1][:4] + [r[-1][4][:40], r[-1][4][40:]]],
    "non-UTF-8": lambda r: [r[0][:2] + [r[0][2].replace(b"</name>", b"\xff</name>", 1)] +
                            r[0][3:]] + r[1:],
}


@pytest.mark.parametrize("damage", sorted(PACK_DAMAGES))
def test_chunk_pack_record_that_is_not_sound_is_not_used(std_set, store, damage):
    """Each record of chunks.pack is a package's sha256, its chunk file's
    identity and that package's three chunks, in UTF-8; a record that is not
    (its chunk files unchanged, so their identities still match) makes the
    whole pack unused: the next add reads the chunk files, and every kind of
    the repodata names each package once."""
    assert cli("--store", store, "add", std_set.path("tool", "2.0"),
               std_set.path("libtool-dep")).returncode == 0
    pack = os.path.join(store, ".persistrepo", "chunks.pack")
    with open(pack, "rb") as f:
        parts = f.read().split(b"\0")
    records = [parts[at:at + 5] for at in range(0, len(parts), 5)]
    assert len(records) == 2 and all(len(r) == 5 for r in records)
    with open(pack, "wb") as f:
        f.write(b"\0".join(b"\0".join(r) for r in PACK_DAMAGES[damage](records)))
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    by_kind = repodata_by_kind(store)
    assert by_kind["primary"] == by_kind["filelists"] == by_kind["other"]
    assert sorted(name for _, name in by_kind["primary"]) == ["libtool-dep", "tool", "unsigned"]
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout


def test_chunk_files_go_with_their_packages(std_set, store):
    """A write that removes or replaces a package drops the chunk files no
    entry uses; one that only adds leaves chunks/ alone, so a chunk file a
    crash left waits for such a write (verify does not report it)."""
    chunks = os.path.join(store, ".persistrepo", "chunks")

    def used():
        return set(e["sha256"] + ".xml" for e in listed(store).values())
    assert cli("--store", store, "add", std_set.path("tool", "1.0"),
               std_set.path("libtool-dep")).returncode == 0
    assert set(os.listdir(chunks)) == used()
    leftover = "0" * 64 + ".xml"
    shutil.copy(os.path.join(chunks, sorted(used())[0]), os.path.join(chunks, leftover))
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    assert set(os.listdir(chunks)) == used() | {leftover}
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout
    gone = listed(store)["libtool-dep-1.0-1.noarch"]["sha256"] + ".xml"
    assert cli("--store", store, "remove", "libtool-dep").returncode == 0
    assert set(os.listdir(chunks)) == used() and gone not in used()


def test_chunk_pack_grows_by_appending_and_is_written_anew_when_mostly_unused(std_set, store):
    """An add appends its package's chunks to chunks.pack rather than writing
    the pack again; once most of the pack is chunks of packages no longer
    stored, the next write makes it anew. Either way the next add uses it
    and the repodata is the store's."""
    pack = os.path.join(store, ".persistrepo", "chunks.pack")

    def packed():
        with open(pack, "rb") as f:
            return f.read()

    assert cli("--store", store, "add", std_set.path("tool", "2.0"),
               std_set.path("libtool-dep")).returncode == 0
    first = packed()
    assert cli("--store", store, "add", std_set.path("unsigned")).returncode == 0
    second = packed()
    assert second.startswith(first + b"\0") and second.count(b"</package>") == 9
    assert cli("--store", store, "remove", "tool", "libtool-dep", "unsigned").returncode == 0
    assert cli("--store", store, "add", std_set.path("signed")).returncode == 0
    third = packed()
    assert third.count(b"</package>") == 3 and b"<name>signed</name>" in third
    assert cli("--store", store, "add", std_set.path("epochy", "2.0")).returncode == 0
    assert packed().startswith(third + b"\0")
    assert set(repodata_packages(store)) == {"signed-1.0-1.noarch.rpm",
                                             "epochy-2.0-1.noarch.rpm"}
    res = cli("--store", store, "verify", "--json")  # sound, if not trusted for replay
    assert set(p["kind"] for p in json.loads(res.stdout)["problems"]) == {"trust"}


def gzip_members(path):
    """The text of each gzip member of the file at path, in order."""
    with open(path, "rb") as f:
        data = f.read()
    texts = []
    while data:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        texts.append(member.decompress(data) + member.flush())
        assert member.eof, path
        data = member.unused_data
    return texts


def assert_data_files_are_what_repomd_names(store):
    """Each gzipped data file is one gzip member, of the size and checksum
    repomd.xml names, whose text is of the size and checksum it names."""
    repomd = cr.Repomd(os.path.join(store, "repodata", "repomd.xml"))
    gzipped = [r for r in repomd.records if r.location_href.endswith(".gz")]
    assert sorted(r.type for r in gzipped) == ["filelists", "other", "primary"]
    for record in gzipped:
        path = os.path.join(store, record.location_href)
        with open(path, "rb") as f:
            data = f.read()
        assert len(data) == record.size and hashlib.sha256(data).hexdigest() == record.checksum
        texts = gzip_members(path)
        assert len(texts) == 1 and len(texts[0]) == record.size_open
        assert hashlib.sha256(texts[0]).hexdigest() == record.checksum_open


def test_repodata_is_written_where_no_thread_can_be_started(std_set, store):
    """The data files are compressed in threads; where none can be started
    (here: every new thread asks for a stack larger than the address space),
    the command compresses them itself and the repodata is the same."""
    no_threads = ("import sys, threading\n"
                  "threading.stack_size(2 ** 46)\n"
                  "try:\n"
                  "    threading.Thread(target=len, args=((),)).start()\n"
                  "except threading.ThreadError:\n"
                  "    pass\n"
                  "else:\n"
                  "    sys.exit('a thread was started')\n"
                  "import runpy\n"
                  "runpy.run_module('persistrepo', run_name='__main__', alter_sys=True)\n")
    for packages in ([std_set.path("tool", "2.0"), std_set.path("libtool-dep")],
                     [std_set.path("unsigned")]):
        res = subprocess.run([sys.executable, "-c", no_threads, "--store", store, "add"]
                             + packages, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, env=cli_env())
        assert res.returncode == 0 and not res.stderr, res
    assert_data_files_are_what_repomd_names(store)
    assert set(repodata_packages(store)) == {"tool-2.0-1.noarch.rpm",
                                             "libtool-dep-1.0-1.noarch.rpm",
                                             "unsigned-1.0-1.noarch.rpm"}
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res


def written_by_adds_and_removes(std_set, store):
    """A store several adds and removes wrote; its repodata's packages
    ({location_href: pkgid})."""
    steps = [("add", std_set.path("tool", "2.0"), std_set.path("libtool-dep")),
             ("add", std_set.path("unsigned")),
             ("add", std_set.path("signed"), std_set.path("epochy", "2.0")),
             ("remove", "unsigned"), ("add", std_set.path("badpre")), ("remove", "epochy")]
    for step in steps:
        res = cli("--store", store, *step)
        assert res.returncode == 0, res.stderr
    stored = repodata_packages(store)
    assert set(stored) == {"tool-2.0-1.noarch.rpm", "libtool-dep-1.0-1.noarch.rpm",
                           "signed-1.0-1.noarch.rpm", "badpre-1.0-1.noarch.rpm"}
    return stored


def test_repodata_after_adds_and_removes_is_what_readers_read(std_set, store, tmp_path, root):
    """Each data file (compressed beside the index's encoding) is one gzip
    member whose text is the one repomd.xml names; createrepo_c --update
    takes every package's metadata from it (their files garbled, same size
    and mtime, leave it nothing else to read), and dnf installs from it
    (dnf5: test_dnf5.py)."""
    stored = written_by_adds_and_removes(std_set, store)
    assert_data_files_are_what_repomd_names(store)

    plain = tmp_path / "plain"
    shutil.copytree(os.path.join(store, "repodata"), str(plain / "repodata"))
    for name in stored:
        copied = shutil.copy2(os.path.join(store, name), str(plain))
        st = os.stat(copied)
        with open(copied, "r+b") as f:
            f.write(b"\0" * st.st_size)
        os.utime(copied, ns=(st.st_atime_ns, st.st_mtime_ns))
    subprocess.run(["createrepo_c", "--quiet", "--update", str(plain)], check=True)
    assert repodata_packages(str(plain)) == stored

    out = bed.run_dnf(root, ["install", "tool", "signed"], repos={"p": store})
    assert out.returncode == 0, out
    assert bed.installed(root) == {"tool-2.0-1.noarch", "libtool-dep-1.0-1.noarch",
                                   "signed-1.0-1.noarch"}


# -- configuration ---------------------------------------------------------

def test_cli_reads_persist_dir_from_config(std_set, tmp_path):
    conf = tmp_path / "persist_rpm.conf"
    conf.write_text("[main]\nenabled=1\npersist_dir=%s\n" % (tmp_path / "confstore"))
    assert cli("--config", conf, "add", std_set.path("unsigned")).returncode == 0
    assert os.path.exists(str(tmp_path / "confstore" / "unsigned-1.0-1.noarch.rpm"))
    res = cli("--config", tmp_path / "nope.conf", "list")
    assert res.returncode == 2 and "nope.conf: no such config file" in one_line_error(res)


def test_library_add_keeps_going_past_bad_files(std_set, store, tmp_path):
    bad = tmp_path / "bad.rpm"
    bad.write_text("junk")
    result = Store(store).add([Candidate(std_set.path("unsigned"), method="dnf"),
                               Candidate(str(bad), method="dnf")], all_or_nothing=False)
    assert [e["nevra"] for e in result.added] == ["unsigned-1.0-1.noarch"]
    assert len(result.failed) == 1 and "bad.rpm" in str(result.failed[0][1])
