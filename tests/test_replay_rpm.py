"""Replay where the host has no dnf (docs/replay.md, "Without dnf"): rpm's own
transaction set installs the plan (persistrepo/replay/rpm_engine.py).

On the el7 stack the command runs under EL7's Python 2.7 with rpm 4.11.3's
bindings, and the roots' rpmdbs are Berkeley DB (rpm on PATH is 4.11.3);
elsewhere it runs under this stack's Python with dnf hidden (an importable
dnf that raises ImportError), so every rpm the suite runs on drives the
engine. What the roots hold is read with the same interpreter and bindings.
"""

import json
import os
import subprocess

import pytest

from tests.support import bed
from tests.support.storebed import REPO, cli_command, cli_env

EL7 = os.environ.get("PERSISTREPO_STACK") == "el7"


@pytest.fixture
def no_dnf(tmp_path):
    """(argv prefix, environment) of a persistrepo that has no dnf."""
    if EL7:
        from tests.test_yum_plugin import python27
        return [python27(), "-m", "persistrepo"], dict(cli_env(), HOME=bed.rpm_home())
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "dnf.py").write_text("raise ImportError('No module named dnf')\n")
    return cli_command(), cli_env({"PYTHONPATH": "%s:%s" % (hide, REPO)})


def run(no_dnf, *args):
    argv, env = no_dnf
    return subprocess.run(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=300)


def installed(no_dnf, root):
    """NEVRAs in root's rpmdb, as the engine's own bindings read it."""
    argv, env = no_dnf
    script = ("import json, sys\nfrom persistrepo.compat import rpmdb\n"
              "sys.stdout.write(json.dumps([p['nevra'] for p in rpmdb.rpmdb_packages(sys.argv[1])"
              " if p['name'] != 'bed-base']))\n")
    out = subprocess.run(argv[:1] + ["-c", script, root], stdout=subprocess.PIPE, env=env,
                         check=True, universal_newlines=True).stdout
    return set(json.loads(out))


@pytest.fixture
def world(tmp_path, builder, no_dnf):
    """An image root (node-kernel 2.0, vendor-lib 2.0, node-utils 1.5) and a
    store: requested vendor-agent (needs agent-helper, a stored dependency,
    and vendor-lib, whose stored 1.0 the image's 2.0 stands in for),
    site-tool 1.0 and 2.0, node-utils 1.0 (older than the image's),
    vendor-kmod (needs kernel 1.0 and kmod-helper) and vendor-tool (needs
    kmod-common, a stored dependency that needs kernel 1.0)."""
    b = builder.build
    image = [b("node-kernel", "2.0"), b("vendor-lib", "2.0"), b("node-utils", "1.5")]
    user = [b("vendor-agent", requires=["agent-helper", "vendor-lib >= 1.0"]),
            b("site-tool", "1.0"), b("site-tool", "2.0"), b("node-utils", "1.0"),
            b("vendor-kmod", requires=["node-kernel = 1.0", "kmod-helper"]),
            b("vendor-tool", requires=["kmod-common"])]
    deps = [b("agent-helper", provides=["agent-helper-api = 2"]), b("vendor-lib", "1.0"),
            b("kmod-helper"), b("kmod-common", requires=["node-kernel = 1.0"])]
    root = bed.make_root(tmp_path / "root")
    subprocess.run(["rpm", "--root", root, "-i", "--nodeps"] + image, check=True,
                   env=bed.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = str(tmp_path / "store")
    for reason, files in (("user", user), ("dependency", deps)):
        res = run(no_dnf, "--store", store, "add", "--reason", reason, *files)
        assert res.returncode == 0, res.stderr
    return dict(root=root, store=store, image=installed(no_dnf, root))


def plan_of(res):
    assert res.stdout, res.stderr
    doc = json.loads(res.stdout)
    return dict((i["nevra"], (i["action"], i["reason"])) for i in doc["packages"]), doc


KMOD_WHY = "nothing provides node-kernel = 1.0 needed by vendor-kmod-1.0-1.noarch"
TOOL_WHY = ("needs kmod-common-1.0-1.noarch, which cannot be installed: nothing provides "
            "node-kernel = 1.0 needed by kmod-common-1.0-1.noarch")


def test_the_plan_without_dnf(world, no_dnf):
    """Newest per name.arch, never a downgrade, dependencies only where
    needed, and the broken ones (and what needs them) named with why."""
    res = run(no_dnf, "--store", world["store"], "replay", "--dry-run", "--json",
              "--installroot", world["root"])
    assert res.returncode == 1, res.stderr
    plan, doc = plan_of(res)
    assert doc["status"] == "failed"
    assert plan == {
        "vendor-agent-1.0-1.noarch": ("install", "absent from the root"),
        "agent-helper-1.0-1.noarch": ("install", "needed by vendor-agent-1.0-1.noarch "
                                                 "(requires agent-helper)"),
        "site-tool-2.0-1.noarch": ("install", "absent from the root"),
        "node-utils-1.0-1.noarch": ("skip", "the root already has node-utils-1.5-1.noarch "
                                            "(newer)"),
        "vendor-kmod-1.0-1.noarch": ("broken", KMOD_WHY),
        "vendor-tool-1.0-1.noarch": ("broken", TOOL_WHY),
        "vendor-lib-1.0-1.noarch": ("skip", "dependency not needed: the root already has "
                                            "vendor-lib-2.0-1.noarch"),
        "kmod-helper-1.0-1.noarch": ("skip", "dependency not needed: no requested package "
                                             "requires it"),
        "kmod-common-1.0-1.noarch": ("skip", "dependency not needed: no requested package "
                                             "requires it")}, plan


def test_on_broken_fail_skip_exclude_and_again(world, no_dnf):
    """Strict: nothing is installed. --skip-broken: the rest is, in one
    transaction. --exclude leaves the broken out; then nothing is to do."""
    store, root = world["store"], world["root"]
    res = run(no_dnf, "--store", store, "replay", "--installroot", root)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "persistrepo: error: cannot replay vendor-kmod-1.0-1.noarch: %s" % KMOD_WHY \
        in res.stderr.splitlines(), res.stderr
    assert "nothing was installed" in res.stdout
    assert installed(no_dnf, root) == world["image"]

    res = run(no_dnf, "--store", store, "replay", "--skip-broken", "--installroot", root)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "installed 3 packages (0 upgraded); 2 broken, cannot be installed; report " \
        in res.stdout, res.stdout
    assert installed(no_dnf, root) == world["image"] | {
        "vendor-agent-1.0-1.noarch", "agent-helper-1.0-1.noarch", "site-tool-2.0-1.noarch"}

    res = run(no_dnf, "--store", store, "replay", "--installroot", root,
              "--exclude", "vendor-kmod", "--exclude", "vendor-tool")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == \
        "nothing to do: every requested package is already in the root", res.stdout


def test_only_recorded_files_are_installed_whatever_the_repodata_lists(tmp_path, builder,
                                                                       no_dnf):
    """Repodata regenerated over the store with a newer build of a stored
    dependency and another build of a requested NEVRA, in a subdirectory:
    the engine installs the recorded files, checked against the repodata's
    records at their own locations only."""
    b = builder.build
    store = str(tmp_path / "store")
    res = run(no_dnf, "--store", store, "add", "--reason", "user", b("app", requires=["libfoo"]))
    assert res.returncode == 0, res.stderr
    res = run(no_dnf, "--store", store, "add", "--reason", "dependency", b("libfoo", "1.0"))
    assert res.returncode == 0, res.stderr
    smuggled = os.path.join(store, "smuggled")
    os.mkdir(smuggled)
    for name, version in (("libfoo", "2.0"), ("app", "1.0")):
        subprocess.run(["cp", b(name, version, files={"/etc/evil": "x\n"}), smuggled],
                       check=True)
    subprocess.run(["createrepo_c", "--quiet", store], check=True)
    root = bed.make_root(tmp_path / "root")
    subprocess.run(["rpm", "--root", root, "-i", b("imgpkg")], check=True,
                   env=bed.tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res = run(no_dnf, "--store", store, "replay", "--installroot", root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert installed(no_dnf, root) == {"imgpkg-1.0-1.noarch", "app-1.0-1.noarch",
                                       "libfoo-1.0-1.noarch"}
    assert not os.path.lexists(os.path.join(root, "etc/evil"))
