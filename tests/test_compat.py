"""persistrepo.compat and persistrepo.pgp on the real bindings of this stack,
and on EL7's rpm 4.11: the real one under Python 2.7 on the el7 stack
(scripts/old-stacks), elsewhere this stack's module with the newer tags hidden."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import rpm

from persistrepo import pgp
from persistrepo.compat import headers, signatures, strings
from persistrepo.store.keys import keep_signing_keys, key_files
from persistrepo.store.store import Candidate, Store
from tests.support import bed
from tests.support.storebed import REPO, cli

# rpm-4.11.3-release, lib/rpmtag.h: the last tags 4.11 knows are
# RPMTAG_LONGARCHIVESIZE = 271 (signature range) and RPMTAG_FILENLINKS = 5045;
# TransactionSet.setVfyLevel and RPMSIG_* came with 4.14.2.
EL7_RPM = textwrap.dedent("""
    import rpm
    for name in [n for n in dir(rpm) if n.startswith("RPMTAG_")]:
        value = getattr(rpm, name)
        if 271 < value < 1000 or value > 5045:
            delattr(rpm, name)
    for name in [n for n in dir(rpm) if n.startswith("RPMSIG_")]:
        delattr(rpm, name)

    class TransactionSet(rpm.TransactionSet):
        @property
        def setVfyLevel(self):
            raise AttributeError("setVfyLevel")
    rpm.TransactionSet = TransactionSet
""")


def el7_rpm():
    """(interpreter, script prefix) that give EL7's rpm bindings: rpm 4.11.3's
    own under 2.7 on the el7 stack, else this stack's with 4.11's tag set."""
    if os.environ.get("PERSISTREPO_STACK") == "el7":
        from tests.test_yum_plugin import python27
        return python27(), "import rpm\nassert rpm.__version__ == '4.11.3', rpm.__version__\n"
    return sys.executable, EL7_RPM


def v4_build(tmp_path, monkeypatch, name, **kw):
    """A v4 package, what EL7 receives (rpm 6 would build v6 on sid)."""
    home = tmp_path / "v4-home"
    home.mkdir(exist_ok=True)
    (home / ".rpmmacros").write_text("%%_dbpath %s\n%%_rpmformat 4\n" % bed.DBPATH)
    monkeypatch.setenv("HOME", str(home))
    try:
        return bed.Builder(tmp_path / "v4").build(name, **kw)
    finally:
        monkeypatch.undo()


def flipped(path, dest):
    """A copy of the RPM with its last byte (in the payload) changed."""
    shutil.copy(path, dest)
    with open(dest, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    return str(dest)


def test_el7_tag_set_writes_and_checks_the_store(tmp_path, monkeypatch):
    """With only rpm 4.11's tags the store's write path works, and the MD5
    over header and payload still catches a flipped payload byte."""
    good = v4_build(tmp_path, monkeypatch, "el7tool", files={"/usr/share/el7": "x\n"})
    bad = flipped(good, tmp_path / "el7tool-bad.rpm")
    store = str(tmp_path / "store")
    python, prefix = el7_rpm()
    script = prefix + textwrap.dedent("""
        import sys
        from persistrepo.store import rpmfile
        from persistrepo.compat import headers
        assert not hasattr(rpm, "RPMTAG_PAYLOADDIGEST") and not hasattr(rpm, "RPMTAG_OPENPGP")
        with open(sys.argv[1], "rb") as f:
            assert headers.payload_digest(headers.inspecting_ts().hdrFromFdno(f.fileno())) is None
        from persistrepo.cli import main
        sys.exit(main(sys.argv[2:]))
    """)

    def el7(*args):
        return subprocess.run([python, "-c", script, good] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=dict(os.environ, PYTHONPATH=REPO))

    res = el7("--store", store, "add", good)
    assert res.returncode == 0, res.stderr
    assert "persisted el7tool-1.0-1.noarch" in res.stdout
    res = el7("--store", store, "add", bad)
    assert res.returncode == 1 and "payload digest mismatch" in res.stderr, res.stderr
    res = el7("--store", store, "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert cli("--store", store, "verify").returncode == 0


def test_header_fields_are_text_and_an_int_epoch_on_this_stack(builder):
    """rpm 4.14's bindings under Python 3.6 (the el8 stack) give header strings
    as bytes; compat hands out text and an int epoch on every stack."""
    hdr = bed.rpm_header(builder.build("epochy", epoch=3))
    raw = hdr[rpm.RPMTAG_NAME]
    assert isinstance(raw, bytes) == (os.environ.get("PERSISTREPO_STACK") == "el8"), raw
    assert headers.header_fields(hdr) == ("epochy", 3, "1.0", "1", "noarch")
    assert headers.header_nevra(hdr) == "epochy-3:1.0-1.noarch"
    assert strings.text(rpm.expandMacro("%{_dbpath}")) == bed.DBPATH


def test_this_stacks_payload_digest_catches_a_flipped_byte(tmp_path, builder):
    """v4 and v6 packages alike: the payload digest rpm recorded is checked."""
    good = builder.build("payloadcheck", files={"/usr/share/pc": "payload\n"})
    assert headers.payload_digest(bed.rpm_header(good)) is not None
    bad = flipped(good, tmp_path / "payloadcheck-1.0-1.noarch.rpm")
    res = cli("--store", tmp_path / "store", "add", bad)
    assert res.returncode == 1 and "payload digest mismatch" in res.stderr, res.stderr
    assert cli("--store", tmp_path / "store", "add", good).returncode == 0


def gpg_ids(key):
    """Key ids and fingerprints of the key and its subkeys, as gpg lists them."""
    out = key._gpg("--list-keys", "--with-colons", "--with-subkey-fingerprint", key.uid)
    ids = set()
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            ids.add(fields[4].lower())
        elif fields[0] == "fpr":
            ids.add(fields[9].lower())
    return ids


def test_pgp_key_ids_match_gpg_and_reject_garbage(tmp_path):
    key = bed.GpgKey(tmp_path / "k")
    try:
        key.add_signing_subkey()
        with open(key.pubkey) as f:
            armored = f.read()
        assert pgp.key_ids(armored) == gpg_ids(key)
    finally:
        key.close()
    for junk in ("", "hello", pgp.BEGIN + "\n\n!!!\n" + pgp.END,
                 pgp.BEGIN + "\n\nAAAA\n" + pgp.END):
        try:
            pgp.key_ids(junk)
        except pgp.BadKey:
            continue
        raise AssertionError("accepted %r" % junk)


def test_subkey_signed_package_keeps_its_key_and_replays(tmp_path, builder):
    """Vendors sign with subkeys: capture keeps the key from the rpmdb, verify
    checks the signature, replay installs it into a root with or without the
    key (rpm -K agrees throughout)."""
    key = bed.GpgKey(tmp_path / "vendor", uid="vendor@persistrepo.invalid")
    try:
        subkey = key.add_signing_subkey()
        path = shutil.copy(builder.build("subsigned"), str(tmp_path / "subsigned.rpm"))
        key.sign(path, subkey=subkey)
    finally:
        key.close()
    assert headers.signer_key_id(bed.rpm_header(path)) == subkey

    layer1 = bed.make_root(tmp_path / "layer1")
    subprocess.run(["rpm", "--root", layer1, "--import", key.pubkey], check=True,
                   env=bed.tool_env())
    store = Store(str(tmp_path / "store"))
    store.add([Candidate(path, method="dnf", origin="vendor", reason="user")])
    assert keep_signing_keys(store, layer1) == []
    assert set(key_files(store.layout)) == {subkey}
    res = cli("--store", store.layout.root, "verify")
    assert res.returncode == 0, res.stdout + res.stderr

    bare = bed.make_root(tmp_path / "bare")
    res = cli("replay", "--installroot", bare, "--store", store.layout.root, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["keys_imported"] == [subkey]
    check = subprocess.run(["rpm", "--root", bare, "-K", path], stdout=subprocess.PIPE,
                           universal_newlines=True, env=bed.tool_env())
    assert check.returncode == 0, check.stdout

    keyed = bed.make_root(tmp_path / "keyed")
    subprocess.run(["rpm", "--root", keyed, "--import", key.pubkey], check=True,
                   env=bed.tool_env())
    res = cli("replay", "--installroot", keyed, "--store", store.layout.root, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["keys_imported"] == []
    assert bed.installed(bare) == bed.installed(keyed) == {"subsigned-1.0-1.noarch"}


def test_signatures_enforced_follows_the_macro():
    rpm.addMacro("_pkgverify_level", "all")
    try:
        assert signatures.signatures_enforced()
        with signatures.digest_level_only():
            assert not signatures.signatures_enforced()
        assert signatures.signatures_enforced()
    finally:
        rpm.delMacro("_pkgverify_level")


def test_python2_text_helpers(tmp_path):
    """Under the real Python 2.7, pipes get UTF-8."""
    from tests.test_yum_plugin import python27
    script = ("# -*- coding: utf-8 -*-\n"
              "import sys\n"
              "from persistrepo.compat import stdlib\n"
              "stdlib.write_text(sys.stdout, u'J\\u00fcrgen\\n')\n")
    res = subprocess.run([python27(), "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=REPO))
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode("utf-8") == "J\u00fcrgen\n"


def test_python2_whole_numbers_may_be_long(tmp_path):
    """Under the real Python 2.7, rpm's bindings give an epoch as a long and
    json gives one for a module version past 2**63: both are whole numbers."""
    from tests.test_yum_plugin import python27
    script = ("import json\n"
              "from persistrepo import names\n"
              "names.check_nevra('a', 1L, '1', '1', 'noarch', 'a.rpm')\n"
              "module = json.loads('{\"version\": 9223372036854775808}')\n"
              "assert isinstance(module['version'], long)\n"
              "module.update(name='m', stream='s', context='c', arch='x86_64', modulemd='')\n"
              "names.check_module(module)\n"
              "for bad in (True, -1L, 2L ** 32, '1'):\n"
              "    try:\n"
              "        names.check_nevra('a', bad, '1', '1', 'noarch', 'a.rpm')\n"
              "    except names.BadPackage:\n"
              "        continue\n"
              "    raise AssertionError(bad)\n")
    res = subprocess.run([python27(), "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=REPO))
    assert res.returncode == 0, res.stderr
