"""persistrepo export for image mode: the Containerfile's build context built
offline by the real buildah on a locally made base image (tests/imagebed.py),
and compared NEVRA for NEVRA with what replay puts into the same base; the
kickstart and the JSON manifest.

The store is captured the way a host fills it: the real dnf with the plugin
installs a signed vendor agent (its library comes in as a dependency), a
package of module stream vtool:1, tool-1.0 (its libtool-dep a dependency)
and an unsigned local RPM. The base image ships tool-2.0 and libtool-dep.
"""

import json
import os
import shutil
import sqlite3

import pytest

from persistrepo import compat
from tests import bed, imagebed
from tests.storebed import cli
from tests.test_dnf_plugin import STORE, Dnf
from tests.test_modules import appstream

BASE = "localhost/persistrepo-test-base"
SIGNED = {"agent-1.0-1.noarch", "agent-lib-1.0-1.noarch"}


class Site(object):
    """The captured store, the base image and its builder, for a module's tests."""


@pytest.fixture(scope="module")
def site(tmp_path_factory, builder, gpg_key):
    tmp = tmp_path_factory.mktemp("export")
    s = Site()
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
    s.store = os.path.join(layer, STORE)
    s.key = gpg_key
    s.tmp = tmp
    s.buildah = imagebed.Buildah(imagebed.temporary_workdir())
    s.buildah.make_base(BASE, [builder.build("tool", "2.0", requires=["libtool-dep"]),
                               builder.build("libtool-dep")])
    yield s
    shutil.rmtree(s.buildah.workdir, ignore_errors=True)


def export(site, directory, *args):
    res = cli("--store", site.store, "export", "--from", BASE, *(args + (directory,)))
    assert res.returncode == 0, res.stderr
    return res


def rpmdb(root):
    """Every NEVRA in root's rpmdb, gpg-pubkeys included."""
    with bed.dbpath_macro():
        return set(compat.header_nevra(h) for h in compat.rpmdb_headers(root))


def history(root):
    """{name: (reason, repo)} of root's dnf history: reason 1 dependency, 2 user."""
    with sqlite3.connect(os.path.join(root, "var/lib/dnf/history.sqlite")) as db:
        rows = db.execute("select rpm.name, ti.reason, repo.repoid from trans_item ti "
                          "join rpm on rpm.item_id = ti.item_id "
                          "join repo on repo.id = ti.repo_id where ti.action = 1")
        return dict((name, (reason, repo)) for name, reason, repo in rows)


def module_state(root, name):
    path = os.path.join(root, "etc/dnf/modules.d/%s.module" % name)
    with open(path) as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l)


def test_built_image_equals_replay_on_the_same_base(site):
    """export --image-root: the image buildah builds from the context holds
    exactly what replay installs into the same base, NEVRA for NEVRA, with
    the vendor key imported, module stream vtool:1 enabled, the requested
    packages user-installed and their libraries dependencies, the unsigned
    local package from the unsigned repo only, and the base's newer tool-2.0
    kept."""
    context = str(site.tmp / "context")
    with site.buildah.mounted(BASE) as base_root:
        res = export(site, context, "--image-root", base_root)
    assert "podman build -t IMAGE %s" % context in res.stdout
    text = open(os.path.join(context, "Containerfile")).read()
    assert "\nFROM %s\n" % BASE in text
    assert "#   localtool-1.0-1.noarch: unsigned, captured from a local file" in text
    assert "Not installed: tool-1.0-1.noarch (the root already has tool-2.0-1.noarch" in text
    assert sorted(os.listdir(os.path.join(context, "unsigned"))) == [
        "localtool-1.0-1.noarch.rpm", "repodata", "vtool-1.0-1.noarch.rpm"]
    assert set(n[:-4] for n in os.listdir(os.path.join(context, "repo"))
               if n.endswith(".rpm")) == SIGNED

    with site.buildah.mounted(BASE) as replayed:
        res = cli("replay", "--installroot", replayed, "--store", site.store, tool=True)
        assert res.returncode == 0, res.stderr
        want, want_history = rpmdb(replayed), history(replayed)
    site.buildah.bud(context, "localhost/exported")
    with site.buildah.mounted("localhost/exported") as built:
        assert rpmdb(built) == want
        got = history(built)
        assert module_state(built, "vtool")["stream"] == "1"
        assert module_state(built, "vtool")["state"] == "enabled"
        assert bed.pubkeys(built) == {site.key.keyid}
    assert {"tool-2.0-1.noarch", "agent-1.0-1.noarch", "localtool-1.0-1.noarch",
            "vtool-1.0-1.noarch"} <= want
    assert "tool-1.0-1.noarch" not in want
    assert got["agent"] == (2, "persistrepo-export")
    assert got["agent-lib"] == (1, "persistrepo-export")
    assert got["localtool"] == (2, "persistrepo-unsigned")
    assert got["vtool"] == (2, "persistrepo-unsigned")
    assert dict((n, r) for n, (r, _) in got.items()) == \
        dict((n, r) for n, (r, _) in want_history.items())


def test_a_build_without_the_right_key_fails(site, tmp_path):
    """The signed repo is checked: with another key in its place the build fails."""
    context = str(tmp_path / "context")
    with site.buildah.mounted(BASE) as base_root:
        export(site, context, "--image-root", base_root)
    [key_file] = os.listdir(os.path.join(context, "keys"))
    other = bed.GpgKey(tmp_path / "other")
    other.close()
    shutil.copy(other.pubkey, os.path.join(context, "keys", key_file))
    res = site.buildah.bud(context, "localhost/wrong-key", check=False)
    assert res.returncode != 0
    assert "agent" in res.stdout + res.stderr
    assert "GPG" in res.stdout + res.stderr or "key" in res.stdout + res.stderr


def test_without_the_base_root_nothing_is_downgraded(site, tmp_path):
    """No --image-root: requested packages are asked for by name, so the
    base's newer tool-2.0 stays; the rest is installed and the warning says so."""
    context = str(tmp_path / "context")
    res = export(site, context)
    assert "no --image-root" in res.stderr
    site.buildah.bud(context, "localhost/no-root")
    with site.buildah.mounted("localhost/no-root") as built:
        have = rpmdb(built)
        assert module_state(built, "vtool")["stream"] == "1"
    assert {"tool-2.0-1.noarch", "agent-1.0-1.noarch", "agent-lib-1.0-1.noarch",
            "vtool-1.0-1.noarch", "localtool-1.0-1.noarch"} <= have
    assert "tool-1.0-1.noarch" not in have


def test_json_manifest_and_kickstart(site, tmp_path):
    """The manifest carries each package's NEVRA, checksum, reason, origin,
    signer and stream, and the repos and keys; the kickstart has the repo,
    module, %packages and key lines and writes the repos beside it."""
    res = cli("--store", site.store, "export", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["format"] == 1 and doc["planned_by"] == "no-downgrade"
    pkgs = dict((p["nevra"], p) for p in doc["packages"])
    agent, lib, local = (pkgs["agent-1.0-1.noarch"], pkgs["agent-lib-1.0-1.noarch"],
                         pkgs["localtool-1.0-1.noarch"])
    assert (agent["reason"], agent["role"], agent["origin"], agent["repo"]) == \
        ("user", "requested", "vendor", "persistrepo-export")
    assert agent["key_id"].endswith(site.key.keyid) and len(agent["sha256"]) == 64
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
    res = cli("--store", site.store, "export", "--format", "kickstart", out,
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
def test_usage_errors(site, tmp_path, args, words):
    args = [str(tmp_path / "ctx") if a == "DIR" else a for a in args]
    res = cli("--store", site.store, "export", *args)
    assert res.returncode == 2 and words in res.stderr, res.stderr
    assert not os.path.exists(str(tmp_path / "ctx"))
