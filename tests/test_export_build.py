"""persistrepo export --format containerfile, built: the build context goes
through the real buildah, offline, on a base image made locally
(tests/support/imagebed.py), and the image is compared NEVRA for NEVRA with what
replay installs into the same base. The base ships tool-2.0 and libtool-dep;
the store (test_export.captured) holds tool-1.0.
"""

import os
import shutil
import sqlite3

import pytest

from persistrepo.compat import headers, rpmdb
from tests.support import bed, imagebed
from tests.support.storebed import cli
from tests.test_export import captured  # noqa: F401 (a fixture)

BASE = "localhost/persistrepo-test-base"
SIGNED = {"agent-1.0-1.noarch", "agent-lib-1.0-1.noarch"}


@pytest.fixture(scope="module")
def site(captured, builder):  # noqa: F811
    """The captured store plus the base image in a private buildah storage."""
    captured.buildah = imagebed.Buildah(imagebed.temporary_workdir())
    try:
        captured.buildah.make_base(BASE, [
            builder.build("tool", "2.0", requires=["libtool-dep"]),
            builder.build("libtool-dep")])
        yield captured
    finally:
        shutil.rmtree(captured.buildah.workdir, ignore_errors=True)


def export(site, directory, *args):
    res = cli("--store", site.store, "export", "--from", BASE, *(args + (directory,)))
    assert res.returncode == 0, res.stderr
    return res


def installed_nevras(root):
    """Every NEVRA in root's rpmdb, gpg-pubkeys included."""
    with bed.dbpath_macro():
        return set(headers.header_nevra(h) for h in rpmdb.rpmdb_headers(root))


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
        want, want_history = installed_nevras(replayed), history(replayed)
    site.buildah.bud(context, "localhost/exported")
    with site.buildah.mounted("localhost/exported") as built:
        assert installed_nevras(built) == want
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
        have = installed_nevras(built)
        assert module_state(built, "vtool")["stream"] == "1"
    assert {"tool-2.0-1.noarch", "agent-1.0-1.noarch", "agent-lib-1.0-1.noarch",
            "vtool-1.0-1.noarch", "localtool-1.0-1.noarch"} <= have
    assert "tool-1.0-1.noarch" not in have
