"""persistrepo export without an image build: the JSON manifest, the
kickstart, usage errors, the booted image as FROM on a bootc host, and status
on an image-mode host. The builds are in test_export_build.py.

The store is captured the way a host fills it: the real dnf with the plugin
installs a signed vendor agent (its library comes in as a dependency), a
package of module stream vtool:1, tool-1.0 (its libtool-dep a dependency)
and an unsigned local RPM.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.support import bed, node
from tests.support.storebed import cli, cli_command, cli_env
from tests.test_dnf_plugin import STORE, Dnf
from tests.test_modules import appstream


class Captured(object):
    """A store captured by dnf with the plugin: store, key, tmp."""


@pytest.fixture(scope="module")
def captured(tmp_path_factory, builder, gpg_key):
    tmp = tmp_path_factory.mktemp("export")
    vendor = bed.make_repo(tmp / "vendor", [
        builder.build("agent", requires=["agent-lib"], sign_with=gpg_key),
        builder.build("agent-lib", sign_with=gpg_key)])
    repos = {"vendor": {"baseurl": vendor, "gpgcheck": 1, "gpgkey": gpg_key.pubkey},
             "appstream": appstream(tmp, builder),
             "site": bed.make_repo(tmp / "site", [
                 builder.build("tool", "1.0", requires=["libtool-dep"]),
                 builder.build("libtool-dep")])}
    layer = bed.make_root(tmp / "layer")
    confdir = tmp / "pluginconf"
    confdir.mkdir()
    dnf = Dnf(layer, str(confdir), repos)
    assert dnf("module", "enable", "vtool:1").returncode == 0
    res = dnf("install", "agent", "vtool", "tool", builder.build("localtool"))
    assert res.returncode == 0, res
    c = Captured()
    c.store, c.key, c.tmp, c.layer = os.path.join(layer, STORE), gpg_key, tmp, layer
    return c


def test_the_manifest_other_tools_build_is_the_one_export_prints(captured):
    """export.manifest.build, the API a Pulp push or an image pipeline calls
    with the Store it holds, gives the document `export --format json` prints."""
    from persistrepo.export import manifest
    from persistrepo.store.store import Store
    res = cli("--store", captured.store, "export", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert manifest.build(Store(captured.store)) == json.loads(res.stdout)


def test_json_manifest_and_kickstart(captured, tmp_path):
    """The manifest carries each package's NEVRA, checksum, reason, origin,
    signer and stream, and the repos and keys; the kickstart has the repo,
    module, %packages and key lines and writes the repos beside it."""
    res = cli("--store", captured.store, "export", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["format"] == 1 and doc["planned_by"] == "no-downgrade"
    pkgs = dict((p["nevra"], p) for p in doc["packages"])
    agent, lib, local = (pkgs["agent-1.0-1.noarch"], pkgs["agent-lib-1.0-1.noarch"],
                         pkgs["localtool-1.0-1.noarch"])
    assert (agent["reason"], agent["role"], agent["origin"], agent["repo"]) == \
        ("user", "requested", "vendor", "persistrepo-export")
    assert agent["key_id"].endswith(captured.key.keyid) and len(agent["sha256"]) == 64
    assert (lib["reason"], lib["role"]) == ("dependency", "dependency")
    assert (local["origin"], local["repo"], local["signed"]) == \
        ("@commandline", "persistrepo-unsigned", False)
    assert local["unsigned_by_provenance"] == "unsigned, captured from a local file"
    assert pkgs["vtool-1.0-1.noarch"]["module"]["stream"] == "1"
    assert doc["modules"] == [pkgs["vtool-1.0-1.noarch"]["module"]]
    assert pkgs["vtool-1.0-1.noarch"]["repo"] == "persistrepo-unsigned"
    assert [(r["id"], r["gpgcheck"]) for r in doc["repos"]] == [
        ("persistrepo-export", True), ("persistrepo-unsigned", False)]
    assert [k["key_id"] for k in doc["keys"]] == [agent["key_id"]]
    assert "BEGIN PGP PUBLIC KEY BLOCK" in doc["keys"][0]["armored"]

    out = str(tmp_path / "ks")
    res = cli("--store", captured.store, "export", "--format", "kickstart", out,
              "--baseurl", "http://192.0.2.1/ks")
    assert res.returncode == 0, res.stderr
    ks = res.stdout
    assert "repo --name=persistrepo-export --baseurl=http://192.0.2.1/ks/repo\n" in ks
    assert "repo --name=persistrepo-unsigned --baseurl=http://192.0.2.1/ks/unsigned\n" in ks
    assert "module --name=vtool --stream=1\n" in ks
    packages = ks.split("%packages\n")[1].split("%end")[0].split()
    assert sorted(packages) == ["agent.noarch", "localtool.noarch", "tool.noarch",
                                "vtool.noarch"]
    assert "rpm --import /etc/pki/rpm-gpg/RPM-GPG-KEY-persistrepo-" in ks
    assert open(os.path.join(out, "persistrepo.ks")).read() == ks
    assert os.path.isfile(os.path.join(out, "repo/repodata/repomd.xml"))


@pytest.mark.parametrize("args, words", [
    (("--format", "json", "DIR"), "prints to standard output"),
    (("--format", "containerfile"), "needs a DIR"),
    (("--from", "bad\nimage", "DIR"), "not an image reference"),
    (("DIR",), "not an image-mode host"),
])
def test_usage_errors(captured, tmp_path, args, words):
    args = [str(tmp_path / "ctx") if a == "DIR" else a for a in args]
    res = cli("--store", captured.store, "export", *args)
    assert res.returncode == 2 and words in res.stderr, res.stderr
    assert not os.path.exists(str(tmp_path / "ctx"))


DIGEST = "sha256:" + "ab" * 32

# What `bootc status --json` prints on a host booted from a registry image,
# shaped as bootc's own host schema has it (bootc docs/src/host-v1.schema.json:
# status.booted.image.image.{image,transport}, status.booted.image.imageDigest,
# status.usrOverlay). Debian packages no bootc, so this stand-in prints it.
BOOTC_STATUS = {
    "apiVersion": "org.containers.bootc/v1", "kind": "BootcHost",
    "spec": {"image": {"image": "quay.io/example/node:41", "transport": "registry"}},
    "status": {"booted": {"image": {
        "image": {"image": "quay.io/example/node:41", "transport": "registry"},
        "version": "41.20260101.0", "imageDigest": DIGEST}},
        "usrOverlay": {"accessMode": "readWrite", "persistence": "transient"}}}


def on_image_mode_host(tmp_path, *args):
    """Run persistrepo ARGS as on a bootc host: in a private mount namespace
    whose /run holds ostree's ostree-booted marker, with the stand-in bootc
    first on PATH."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "bootc").write_text("#!/bin/sh\n[ \"$*\" = \"status --json\" ] || exit 2\n"
                                "cat <<'EOF'\n%s\nEOF\n" % json.dumps(BOOTC_STATUS))
    os.chmod(str(stub / "bootc"), 0o755)
    script = ("mount -t tmpfs tmpfs /run && touch /run/ostree-booted && "
              "PATH=%s:$PATH exec \"$@\"" % stub)
    return subprocess.run(["unshare", "--mount", "--propagation", node.propagation(), "sh",
                           "-c", script, "sh"] + cli_command(*args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=cli_env())


def test_from_is_the_booted_image_by_digest(captured, tmp_path):
    """On a bootc host without --from, FROM is the booted image pinned by digest."""
    out = str(tmp_path / "ctx")
    res = on_image_mode_host(tmp_path, "--store", captured.store, "export", out)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(out, "Containerfile")) as f:
        assert "\nFROM quay.io/example/node@%s\n" % DIGEST in f.read()


def test_status_on_an_image_mode_host_names_what_goes_and_the_fix(captured, tmp_path):
    """status on a bootc host: everything not in the image goes at the next
    upgrade or reboot, persisted or not, and the export command keeps it."""
    manifest = tmp_path / "image.txt"
    manifest.write_text("bed-base-1.0-1.noarch\ntool-1.0-1.noarch\n")
    args = ("--store", captured.store, "status", "--installroot", captured.layer,
            "--image-manifest", str(manifest))
    res = cli(*args)
    assert res.returncode == 0 and "image mode" not in res.stdout, res.stdout + res.stderr
    os.makedirs(os.path.join(captured.layer, "run"))
    open(os.path.join(captured.layer, "run/ostree-booted"), "w").close()
    try:
        res = cli(*args)
        doc = json.loads(cli(*(args + ("--json",))).stdout)
    finally:
        os.unlink(os.path.join(captured.layer, "run/ostree-booted"))
    assert res.returncode == 100, res.stdout + res.stderr
    gone = ["agent-1.0-1.noarch", "agent-lib-1.0-1.noarch", "libtool-dep-1.0-1.noarch",
            "localtool-1.0-1.noarch", "vtool-1.0-1.noarch"]
    assert doc["image_mode"]["drops"] == gone
    assert "the next 'bootc upgrade' or reboot drops the 5 packages not in the image:\n" \
        + "".join("  %s\n" % n for n in gone) in res.stdout
    assert "keep them in a new image: persistrepo --store %s export --format containerfile " \
        "--from IMAGE DIR" % captured.store in res.stdout


def run_printed(command, **subst):
    """Run a persistrepo command as printed (placeholders replaced by subst)."""
    import shlex
    words = [subst.get(w, w) for w in shlex.split(command)]
    assert words[0] == "persistrepo", words
    return cli(*words[1:])


def test_the_export_command_status_names_works_on_that_store(captured, tmp_path):
    """status on a bootc host whose store is not persistrepo's default names
    the export command with --store (and --from, there being no booted
    image to build on): run as printed, it exports that store."""
    os.makedirs(os.path.join(captured.layer, "run"), exist_ok=True)
    open(os.path.join(captured.layer, "run/ostree-booted"), "w").close()
    try:
        res = cli("--store", captured.store, "status", "--installroot", captured.layer)
        doc = json.loads(cli("--store", captured.store, "status", "--installroot",
                             captured.layer, "--json").stdout)
    finally:
        os.unlink(os.path.join(captured.layer, "run/ostree-booted"))
    command = res.stdout.split("keep them in a new image: ", 1)[1].split(", then ", 1)[0]
    assert command == doc["image_mode"]["keep_with"] == \
        "persistrepo --store %s export --format containerfile --from IMAGE DIR" % captured.store
    out = str(tmp_path / "ctx")
    res = run_printed(command, IMAGE="localhost/base", DIR=out)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(out, "Containerfile")) as f:
        text = f.read()
    assert "persisted packages of %s\n" % captured.store in text
    assert "agent-0:1.0-1.noarch" not in text and "agent.noarch" in text


def test_what_export_refuses_names_a_fix_for_that_store(tmp_path, builder):
    """An unsigned package of unknown provenance (adopted by refresh) is
    refused by export; the fix names the store, and run as printed it lets
    the export go on."""
    store = str(tmp_path / "store")
    adopted = builder.build("adoptedx")
    assert cli("--store", store, "add", builder.build("addedx")).returncode == 0
    shutil.copy(adopted, store)
    assert cli("--store", store, "refresh").returncode == 0
    res = cli("--store", store, "export", "--format", "json")
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert "adoptedx-1.0-1.noarch is unsigned and its provenance" in res.stderr
    fix = "persistrepo --store %s add FILE" % store
    assert "'%s'" % fix in res.stderr, res.stderr
    assert run_printed(fix, FILE=adopted).returncode == 0
    res = cli("--store", store, "export", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert sorted(p["nevra"] for p in json.loads(res.stdout)["packages"]) == [
        "addedx-1.0-1.noarch", "adoptedx-1.0-1.noarch"]
