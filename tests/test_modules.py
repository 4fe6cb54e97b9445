"""Modular packages (EL8/EL9 AppStream): replay with real module metadata on
the real dnf. An `appstream` repo holds module vtool with its artifacts (the
modules.yaml added by modifyrepo_c), a `base` repo a non-modular vtool-2.0."""

import gzip
import json
import os
import subprocess
import time

import createrepo_c as cr

from persistrepo.store.store import Candidate, Store
from tests.support import bed
from tests.support.storebed import cli, listed
from tests.test_dnf_plugin import STORE, Dnf
from tests.test_replay import image, replay, replay_json, store_of

MODULE = """---
document: modulemd
version: 2
data:
  name: vtool
  stream: "%(stream)s"
  version: 20240101000000
  context: c0ffee42
  arch: x86_64
  summary: vtool
  description: vtool, stream %(stream)s
  license:
    module: [MIT]
  artifacts:
    rpms:
    - vtool-0:%(version)s-1.noarch
...
"""

DEFAULTS = """---
document: modulemd-defaults
version: 1
data:
  module: vtool
  stream: "1"
...
"""

BROKEN = "excluded by modular filtering in the new root"

OTHER_MODULE = """---
document: modulemd
version: 2
data:
  name: %(name)s
  stream: "%(stream)s"
  version: %(version)d
  context: %(context)s
  arch: x86_64
  summary: %(name)s, one of the many modules of a big repo
  description: >-
    %(name)s stream %(stream)s, a module of realistic size and shape: its
    profiles, its components and the artifacts that a build made of them.
  license:
    module: [MIT]
    content: [GPLv2+, MIT]
  xmd:
    mbs:
      mse: TRUE
      scmurl: https://src.example.org/modules/%(name)s?#%(context)s
      commit: %(context)s%(context)s%(context)s
  dependencies:
  - buildrequires:
      platform: [f41]
    requires:
      platform: [f41]
  profiles:
    default:
      rpms:
%(profile)s
  components:
    rpms:
%(components)s
  artifacts:
    rpms:
%(artifacts)s
...
"""


def big_module_metadata(size, inner=""):
    """A repo's modules.yaml of at least size bytes, in the shape of a big
    distribution's: modules with several streams and versions, each listing
    40 packages with their source and debuginfo builds; inner (a document)
    is placed in the middle."""
    docs, total, i = [], 0, 0
    while total < size:
        name, stream = "mod%03d" % (i // 12), "s%d" % (i % 12 // 4)
        pkgs = ["%s-part%02d" % (name, k) for k in range(40)]
        doc = OTHER_MODULE % {
            "name": name, "stream": stream, "version": 20240101000000 + i,
            "context": "%08x" % (i * 2654435761 % 2 ** 32),
            "profile": "".join("      - %s\n" % p for p in pkgs[:5]).rstrip("\n"),
            "components": "".join("      %s:\n        rationale: part of %s\n"
                                  "        ref: %s\n        buildorder: %d\n"
                                  % (p, name, stream, k % 3)
                                  for k, p in enumerate(pkgs)).rstrip("\n"),
            "artifacts": "".join("    - %s%s-0:1.%d-1.module_f41+%d+%08x.%s\n"
                                 % (p, suffix, i, i, i, arch) for p in pkgs
                                 for suffix, arch in (("", "x86_64"), ("", "src"),
                                                      ("-debuginfo", "x86_64"))).rstrip("\n")}
        docs.append(doc)
        total += len(doc)
        i += 1
    docs.insert(len(docs) // 2, inner)
    return "".join(docs)


def appstream(tmp_path, builder, streams=(("1", "1.0"),), defaults=False, big=0):
    """The appstream repo: module vtool with one artifact per stream; with
    big, among other modules' documents up to that many bytes."""
    repo = bed.make_repo(tmp_path / "appstream",
                         [builder.build("vtool", version) for _, version in streams])
    yaml = "".join(MODULE % {"stream": s, "version": v} for s, v in streams)
    if defaults:
        yaml += DEFAULTS
    if big:
        yaml = big_module_metadata(big, yaml)
    path = tmp_path / "modules.yaml"
    path.write_text(yaml)
    subprocess.run(["modifyrepo_c", "--mdtype=modules", str(path),
                    os.path.join(repo, "repodata")], check=True, stdout=subprocess.PIPE)
    return repo


def site(tmp_path, builder, streams=(("1", "1.0"),), defaults=False, big=0):
    """{repo id: path}: appstream and base (non-modular vtool-2.0)."""
    return {"appstream": appstream(tmp_path, builder, streams, defaults, big),
            "base": bed.make_repo(tmp_path / "base", [builder.build("vtool", "2.0")])}


def new_root(tmp_path, repos, name="layer-2"):
    """A new image root that knows the repos (disabled, as --enablerepo wants)."""
    root = image(tmp_path, [], name)
    repos_d = os.path.join(root, "etc/yum.repos.d")
    os.makedirs(repos_d)
    with open(os.path.join(repos_d, "site.repo"), "w") as f:
        for repoid, path in sorted(repos.items()):
            f.write("[%s]\nname=%s\nbaseurl=file://%s\ngpgcheck=0\nenabled=0\n"
                    % (repoid, repoid, path))
    return root


def module_state(tmp_path, repos, stream):
    """etc/dnf/modules.d of a layer where `dnf module enable vtool:STREAM` ran."""
    layer = image(tmp_path, [], "layer-1")
    res = bed.run_dnf(layer, ["module", "enable", "vtool:%s" % stream], repos=repos)
    assert res.returncode == 0, res
    return os.path.join(layer, "etc/dnf/modules.d")


def copy_state(state, root):
    target = os.path.join(root, "etc/dnf/modules.d")
    os.makedirs(target)
    for name in os.listdir(state):
        with open(os.path.join(state, name)) as src, \
                open(os.path.join(target, name), "w") as dst:
            dst.write(src.read())


def the_item(doc, name="vtool"):
    return [p for p in doc["packages"] if p["name"] == name][0]


def test_stream_state_copied_from_the_old_layer(tmp_path, builder):
    """Table cases (a) offline and (b) --enablerepo appstream: the stream the
    old layer enabled is enabled in the new root, so vtool-1.0 installs."""
    repos = site(tmp_path, builder)
    state = module_state(tmp_path, repos, "1")
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"))
    for n, args in enumerate(([], ["--enablerepo", "appstream"])):
        root = new_root(tmp_path, repos, "layer-2-%d" % n)
        copy_state(state, root)
        res, doc = replay_json(root, store, *args)
        assert res.returncode == 0, res.stderr
        assert the_item(doc)["action"] == "install"
        assert bed.installed(root) == {"vtool-1.0-1.noarch"}


def test_no_stream_state_offline_installs_the_package(tmp_path, builder):
    """Table case (c): without module metadata dnf filters nothing."""
    repos = site(tmp_path, builder)
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"))
    root = new_root(tmp_path, repos)
    res = replay(root, store)
    assert res.returncode == 0, res.stderr
    assert bed.installed(root) == {"vtool-1.0-1.noarch"}


def test_modular_filtering_is_a_broken_item_not_a_traceback(tmp_path, builder):
    """Table case (d): the stream has no state in the new root and appstream's
    metadata hides its artifact: strict, --skip-broken, --dry-run and --json
    all report a broken item with the reason, and nothing is installed."""
    repos = site(tmp_path, builder)
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"),
                     (builder.build("plain"), "user"))
    root = new_root(tmp_path, repos)
    enable = ["--enablerepo", "appstream"]
    res, doc = replay_json(root, store, "--dry-run", *enable)
    assert res.returncode == 1, res.stderr
    item = the_item(doc)
    assert item["action"] == "broken" and BROKEN in item["reason"], item
    res = replay(root, store, *enable)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "cannot replay vtool-1.0-1.noarch: " + BROKEN in res.stderr
    assert bed.installed(root) == set()
    res, doc = replay_json(root, store, "--skip-broken", *enable)
    assert res.returncode == 4, res.stderr
    assert doc["status"] == "partial" and the_item(doc)["outcome"] == "not-installed"
    assert bed.installed(root) == {"plain-1.0-1.noarch"}


def test_default_stream_lets_the_artifact_through(tmp_path, builder):
    """A modulemd-defaults document makes stream 1 the default: with no state
    in the new root its artifact is not filtered and installs."""
    repos = site(tmp_path, builder, defaults=True)
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"))
    root = new_root(tmp_path, repos)
    res, doc = replay_json(root, store, "--enablerepo", "appstream")
    assert res.returncode == 0, res.stderr
    assert bed.installed(root) == {"vtool-1.0-1.noarch"}


def test_image_enables_the_other_stream(tmp_path, builder):
    """Module vtool has streams 1 and 2; the new image enabled stream 2, so
    the persisted stream-1 artifact is broken, never switched silently."""
    repos = site(tmp_path, builder, streams=(("1", "1.0"), ("2", "2.1")))
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"))
    root = new_root(tmp_path, repos)
    copy_state(module_state(tmp_path, repos, "2"), root)
    res, doc = replay_json(root, store, "--enablerepo", "appstream")
    assert res.returncode == 1, res.stderr
    item = the_item(doc)
    assert item["action"] == "broken" and BROKEN in item["reason"], item
    assert bed.installed(root) == set()
    with open(os.path.join(root, "etc/dnf/modules.d/vtool.module")) as f:
        assert "stream=2" in f.read()


def test_excludepkgs_is_a_broken_item(tmp_path, builder):
    """A persisted package the new root's dnf.conf excludes is broken, with why."""
    root = image(tmp_path, [])
    os.makedirs(os.path.join(root, "etc/dnf"), exist_ok=True)
    with open(os.path.join(root, "etc/dnf/dnf.conf"), "w") as f:
        f.write("[main]\nexcludepkgs=vtool\n")
    store = store_of(tmp_path, (builder.build("vtool", "1.0"), "user"))
    res, doc = replay_json(root, store, "--skip-broken")
    assert res.returncode == 4, res.stderr
    item = the_item(doc)
    assert item["action"] == "broken" and "excludepkgs" in item["reason"], item
    assert bed.installed(root) == set()



RECORD = {"name": "vtool", "stream": "1", "version": 20240101000000, "context": "c0ffee42",
          "arch": "x86_64"}


def repodata_modules(store_root):
    """The modules.yaml that the store's repomd.xml names (None if none)."""
    repomd = cr.Repomd(os.path.join(store_root, "repodata", "repomd.xml"))
    found = [r for r in repomd.records if r.type == "modules"]
    if not found:
        return None
    with open(os.path.join(store_root, found[0].location_href)) as f:
        return f.read()


def test_capture_records_the_stream_and_the_store_keeps_it(tmp_path, builder):
    """dnf module enable vtool:1, dnf install vtool with the plugin: the store
    records the stream with its modulemd, writes modules.yaml into its
    repodata, keeps it across later writes, and lists the stream."""
    repos = site(tmp_path, builder)
    layer = image(tmp_path, [], "layer-1")
    confdir = tmp_path / "pluginconf"
    confdir.mkdir()
    dnf = Dnf(layer, str(confdir), repos)
    assert dnf("module", "enable", "vtool:1").returncode == 0
    res = dnf("install", "vtool", builder.build("plain"))
    assert res.returncode == 0, res
    store = os.path.join(layer, STORE)
    entries = listed(store)
    assert entries["vtool-1.0-1.noarch"]["module"] == RECORD
    assert entries["plain-1.0-1.noarch"]["module"] is None
    kept = dict((e["nevra"], e) for e in Store(store).entries())
    assert "name: vtool" in kept["vtool-1.0-1.noarch"]["module"]["modulemd"]
    assert "vtool-0:1.0-1.noarch" in repodata_modules(store)
    table = cli("--store", store, "list").stdout
    assert "[vtool:1]" in [l for l in table.splitlines() if "vtool" in l][0]

    res = cli("--store", store, "add", builder.build("later"))
    assert res.returncode == 0, res.stderr
    assert "vtool-0:1.0-1.noarch" in repodata_modules(store)
    res = cli("--store", store, "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    # The store's modules.yaml is module metadata the real dnf reads.
    res = bed.run_dnf(image(tmp_path, [], "reader"), ["module", "list"],
                      repos={"p": store})
    assert res.returncode == 0 and "vtool" in res.stdout, res


def test_a_bad_module_record_is_found_and_repaired(tmp_path, builder):
    store = Store(str(tmp_path / "store"))
    store.add([Candidate(builder.build("vtool", "1.0"), module=dict(RECORD, modulemd="x"))])
    index = store.layout.index
    with open(index) as f:
        doc = json.load(f)
    doc["packages"][0]["module"]["stream"] = "../evil\nstream"
    with open(index, "w") as f:
        json.dump(doc, f)
    res = cli("--store", store.layout.root, "verify")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    res = cli("--store", store.layout.root, "refresh")
    assert res.returncode == 1 and "quarantine" in res.stdout + res.stderr, res
    assert cli("--store", store.layout.root, "verify").returncode == 0
    entry = listed(store.layout.root)["vtool-1.0-1.noarch"]
    assert entry["module"] is None and entry["reason"] == "user"
    assert repodata_modules(store.layout.root) is None


def recorded_store(tmp_path, builder, *extra):
    """A store holding vtool-1.0 with its recorded stream vtool:1, as capture makes it."""
    module = dict(RECORD, modulemd=MODULE % {"stream": "1", "version": "1.0"})
    store = Store(str(tmp_path / "store"))
    store.add([Candidate(builder.build("vtool", "1.0"), module=module)] +
              [Candidate(p) for p in extra])
    return store


def state_of(root):
    path = os.path.join(root, "etc/dnf/modules.d/vtool.module")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l)


def test_recorded_stream_is_enabled_in_a_root_without_state(tmp_path, builder):
    """Offline and with --enablerepo appstream: the plan enables vtool:1 as its
    own action before installing vtool-1.0, so the new layer stays in the
    stream (dnf no longer offers the non-modular vtool-2.0)."""
    repos = site(tmp_path, builder)
    store = recorded_store(tmp_path, builder)
    for n, args in enumerate(([], ["--enablerepo", "appstream"])):
        root = new_root(tmp_path, repos, "layer-2-%d" % n)
        res, doc = replay_json(root, store, "--dry-run", *args)
        assert res.returncode == 0, res.stderr
        module = [p for p in doc["packages"] if p["role"] == "module"]
        assert [(p["nevra"], p["action"]) for p in module] == [("vtool:1", "enable")]
        assert state_of(root) is None
        res = replay(root, store, *args)
        assert res.returncode == 0, res.stderr
        assert "enabled module stream vtool:1" in res.stdout
        assert bed.installed(root) == {"vtool-1.0-1.noarch"}
        state = state_of(root)
        assert (state["stream"], state["state"]) == ("1", "enabled"), state
        res = bed.run_dnf(root, ["check-update"], repos=repos)
        assert res.returncode == 0 and "vtool" not in res.stdout, res


def test_recorded_stream_already_enabled_needs_no_action(tmp_path, builder):
    repos = site(tmp_path, builder)
    store = recorded_store(tmp_path, builder)
    root = new_root(tmp_path, repos)
    copy_state(module_state(tmp_path, repos, "1"), root)
    res, doc = replay_json(root, store, "--enablerepo", "appstream")
    assert res.returncode == 0, res.stderr
    assert not [p for p in doc["packages"] if p["role"] == "module"]
    assert bed.installed(root) == {"vtool-1.0-1.noarch"}


def test_default_stream_with_record_is_enabled(tmp_path, builder):
    repos = site(tmp_path, builder, defaults=True)
    store = recorded_store(tmp_path, builder)
    root = new_root(tmp_path, repos)
    res = replay(root, store, "--enablerepo", "appstream")
    assert res.returncode == 0, res.stderr
    assert bed.installed(root) == {"vtool-1.0-1.noarch"}
    assert state_of(root)["stream"] == "1"


def test_other_stream_or_disabled_module_is_broken(tmp_path, builder):
    """The image enabled vtool:2, or disabled vtool: the recorded stream's
    package is broken with that reason under strict, --skip-broken and
    --json, and the image's module state is never changed."""
    repos = site(tmp_path, builder, streams=(("1", "1.0"), ("2", "2.1")))
    store = recorded_store(tmp_path, builder, builder.build("plain"))
    other = new_root(tmp_path, repos, "other")
    copy_state(module_state(tmp_path, repos, "2"), other)
    disabled = new_root(tmp_path, repos, "disabled")
    res = bed.run_dnf(disabled, ["module", "disable", "vtool"], repos=repos)
    assert res.returncode == 0, res
    for root, words in ((other, "stream 2 is enabled in the new root"),
                        (disabled, "module vtool is disabled in the new root")):
        before = state_of(root)
        for args in ([], ["--enablerepo", "appstream"]):
            res = replay(root, store, *args)
            assert res.returncode == 1 and "Traceback" not in res.stderr
            assert "cannot replay vtool-1.0-1.noarch: module vtool" in res.stderr
            assert words in res.stderr
            res, doc = replay_json(root, store, "--dry-run", *args)
            assert res.returncode == 1 and words in the_item(doc)["reason"]
        res, doc = replay_json(root, store, "--skip-broken")
        assert res.returncode == 4 and the_item(doc)["action"] == "broken"
        assert bed.installed(root) == {"plain-1.0-1.noarch"}
        assert state_of(root) == before


def test_dnf_persist_add_records_the_stream_of_a_stored_package(tmp_path, builder):
    """A package stored before its stream was known (persistrepo add) gets the
    record from `dnf persist add`, its provenance otherwise kept."""
    repos = site(tmp_path, builder)
    layer = image(tmp_path, [], "layer-1")
    confdir = tmp_path / "pluginconf"
    confdir.mkdir()
    dnf = Dnf(layer, str(confdir), repos)
    assert dnf.plain("module", "enable", "vtool:1").returncode == 0
    assert dnf.plain("install", "vtool").returncode == 0
    store = os.path.join(layer, STORE)
    res = cli("--store", store, "add", builder.build("vtool", "1.0"))
    assert res.returncode == 0, res.stderr
    assert listed(store)["vtool-1.0-1.noarch"]["module"] is None
    res = dnf("persist", "add", "vtool")
    assert res.returncode == 0, res
    entry = listed(store)["vtool-1.0-1.noarch"]
    assert entry["module"] == RECORD and entry["method"] == "cli"
    assert "vtool-0:1.0-1.noarch" in repodata_modules(store)


def modules_drift(store_root):
    """verify's `modules` lines (asserting it exits 1 when there are some)."""
    res = cli("--store", store_root, "verify")
    assert "Traceback" not in res.stderr
    found = [l for l in res.stdout.splitlines() if l.startswith("modules: repodata: ")]
    assert res.returncode == (1 if found else 0), res.stdout + res.stderr
    return found


def modules_href(store_root):
    repomd = cr.Repomd(os.path.join(store_root, "repodata", "repomd.xml"))
    return [r.location_href for r in repomd.records if r.type == "modules"][0]


def test_verify_reports_modules_yaml_drift_and_refresh_repairs_it(tmp_path, builder):
    """The repodata's modules.yaml must be the one the records make: verify
    names each way it is not (kind `modules`), refresh rewrites it."""
    root = recorded_store(tmp_path, builder).layout.root
    plain = Store(str(tmp_path / "plain"))
    plain.add([Candidate(builder.build("plain"))])
    assert modules_drift(root) == [] and modules_drift(plain.layout.root) == []
    repodata = os.path.join(root, "repodata")
    path = os.path.join(root, modules_href(root))
    good = repodata_modules(root)

    def damaged(store_root, words, set_aside=False):
        found = modules_drift(store_root)
        assert len(found) == 1 and words in found[0], found
        assert "run 'persistrepo refresh'" in found[0]
        res = cli("--store", store_root, "refresh")
        # What is not a regular file goes to quarantine, which refresh reports (exit 1).
        assert res.returncode == (1 if set_aside else 0), res.stdout + res.stderr
        assert ("set aside repodata/" in res.stdout) == set_aside, res.stdout
        assert modules_drift(store_root) == []

    subprocess.run(["modifyrepo_c", "--remove", "modules", repodata], check=True,
                   stdout=subprocess.PIPE)
    assert repodata_modules(root) is None
    damaged(root, "repodata has no modules.yaml but packages record module streams")
    assert repodata_modules(root) == good

    path = os.path.join(root, modules_href(root))
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        f.write(good.replace('stream: "1"', 'stream: "2"'))
    damaged(root, "does not match its checksum in repomd.xml")

    path = os.path.join(root, modules_href(root))
    with open(path, "ab") as f:
        f.truncate(1 << 30)  # sparse: verify reads no more than the right size
    damaged(root, "is larger than the records' modules.yaml")

    path = os.path.join(root, modules_href(root))
    os.unlink(path)
    os.symlink("/etc/passwd", path)
    damaged(root, "is a symlink; the store never follows symlinks", set_aside=True)

    path = os.path.join(root, modules_href(root))
    os.unlink(path)
    os.mkfifo(path)
    damaged(root, "is not a regular file", set_aside=True)

    # A right checksum over other streams: modifyrepo_c writes them properly.
    other = tmp_path / "modules.yaml"
    other.write_text(good.replace("vtool", "xtool"))
    for store_root, words in ((root, "is not the one the module records make"),
                              (plain.layout.root, "repodata has module streams but no "
                                                  "package records one")):
        subprocess.run(["modifyrepo_c", "--no-compress", "--mdtype=modules", str(other),
                        os.path.join(store_root, "repodata")], check=True,
                       stdout=subprocess.PIPE)
        damaged(store_root, words)
    assert repodata_modules(root) == good and repodata_modules(plain.layout.root) is None


def dnf5_cache(tmp_path, builder, compress, yaml):
    """(installroot, cachedir) as dnf5 leaves them after `module enable
    vtool:1`: modules.toml, and the appstream repo's metadata in its cache
    with a modules record of that text and compression."""
    root = tmp_path / ("root-" + compress)
    state = root / "usr/lib/sysimage/libdnf5"
    state.mkdir(parents=True)
    (state / "modules.toml").write_text(
        'version = "1.0"\n[modules]\n[modules.vtool]\nenabled_stream = "1"\n'
        'installed_profiles = []\nstate = "Enabled"\n[modules.xtool]\n'
        'enabled_stream = "1"\ninstalled_profiles = []\nstate = "Disabled"\n')
    cache = root / "var/cache/libdnf5"
    repo = bed.make_repo(tmp_path / ("appstream-" + compress), [builder.build("vtool", "1.0")])
    path = tmp_path / ("modules-%s.yaml" % compress)
    path.write_text(yaml)
    # Debian 12's createrepo_c knows no zstd: the zstd tool compresses it.
    how = "--no-compress" if compress in ("none", "zstd") else "--compress-type=" + compress
    subprocess.run(["modifyrepo_c", how, "--mdtype=modules",
                    str(path), os.path.join(repo, "repodata")], check=True,
                   stdout=subprocess.PIPE)
    if compress == "zstd":
        repomd = os.path.join(repo, "repodata", "repomd.xml")
        name = [r.location_href for r in cr.Repomd(repomd).records if r.type == "modules"][0]
        subprocess.run(["zstd", "-q", "--rm", os.path.join(repo, name)], check=True)
        with open(repomd) as f:
            xml = f.read().replace(name + '"', name + '.zst"')
        with open(repomd, "w") as f:
            f.write(xml)
    cache.mkdir(parents=True)
    os.rename(repo, str(cache / "appstream-0123456789abcdef"))
    return str(root), str(cache)


def dnf5_found(root, cache):
    from persistrepo.dnf5 import stream_reader
    return stream_reader.enabled_artifacts(root, cache, "/usr/lib/sysimage/libdnf5")


def test_dnf5_module_metadata_in_each_compression(tmp_path, builder):
    """What dnf5 capture finds: the artifacts of enabled streams only, the
    newest version of a stream listing a package winning, from module
    metadata compressed each way (zstd by compression.zstd or the zstd tool)
    and written in each YAML style the parser knows."""
    other = (MODULE % {"stream": "1", "version": "1.0"}).replace(
        "20240101000000", "20230101000000").replace("- vtool-0:1.0-1.noarch",
                                                    "- 'vtool-0:0.9-1.noarch'  # old\n"
                                                    "    - vtool-0:1.0-1.noarch")
    flow = (MODULE % {"stream": "1", "version": "2.0"}).replace(
        "stream: \"1\"", "stream: '1'").replace("version: 20240101000000",
                                                 "version: 20250101000000").replace(
        "rpms:\n    - vtool-0:2.0-1.noarch", "rpms: [vtool-0:2.0-1.noarch, \"x-0:1-1.noarch\"]")
    yaml = other + MODULE % {"stream": "1", "version": "1.0"} + DEFAULTS + \
        MODULE % {"stream": "2", "version": "3.0"} + \
        (MODULE % {"stream": "1", "version": "1.0"}).replace("vtool", "xtool") + flow
    want = dict(RECORD, modulemd=MODULE % {"stream": "1", "version": "1.0"})
    for compress in ("gz", "bz2", "xz", "zstd", "none"):
        found = dnf5_found(*dnf5_cache(tmp_path, builder, compress, yaml))
        assert sorted(found) == ["vtool-0:0.9-1.noarch", "vtool-0:1.0-1.noarch",
                                 "vtool-0:2.0-1.noarch", "x-0:1-1.noarch"], compress
        assert found["vtool-0:1.0-1.noarch"] == want, compress
        assert found["vtool-0:0.9-1.noarch"]["version"] == 20230101000000
        assert found["vtool-0:2.0-1.noarch"]["version"] == 20250101000000


def test_dnf5_state_that_is_hostile_is_no_state(tmp_path, builder):
    """modules.toml (and packages.toml, read the same way) as a symlink, a
    FIFO (which would block root), an oversized or non-TOML file: no stream
    is enabled, nothing hangs."""
    from persistrepo.dnf5 import state as dnf5_state
    root, cache = dnf5_cache(tmp_path, builder, "gz", MODULE % {"stream": "1", "version": "1.0"})
    assert dnf5_found(root, cache)
    toml = os.path.join(root, "usr/lib/sysimage/libdnf5/modules.toml")
    with open(toml) as f:
        good = f.read()
    os.unlink(toml)
    for make in (lambda: os.symlink("/dev/zero", toml), lambda: os.mkfifo(toml)):
        make()
        assert dnf5_found(root, cache) == {}
        assert dnf5_state.reasons(toml) == {}
        os.unlink(toml)
    for text in (good + "#" * dnf5_state.MAX_TOML, "\xff\xfe" + good, "[[["):
        with open(toml, "w", encoding="latin-1") as f:
            f.write(text)
        assert dnf5_found(root, cache) == {}, text[:20]


def test_dnf5_module_metadata_past_the_bound_is_said(tmp_path, builder):
    """Module metadata that capture cannot read within its bound (beyond
    MAX_YAML, or past the transaction's deadline) gives no record, and the
    note says which file and why."""
    from persistrepo.dnf5 import stream_reader
    good = MODULE % {"stream": "1", "version": "1.0"}
    root, cache = dnf5_cache(tmp_path, builder, "gz", big_module_metadata(1 << 20, good))
    assert dnf5_found(root, cache)["vtool-0:1.0-1.noarch"]["name"] == "vtool"
    path = stream_reader.metadata_files(cache)[0]
    notes = []
    assert stream_reader.enabled_artifacts(root, cache, "/usr/lib/sysimage/libdnf5", notes,
                                          deadline=time.monotonic()) == {}
    assert notes == ["the module metadata %s is not read within 1 s, capture's bound for "
                     "module metadata; no module stream is recorded from it" % path]
    with gzip.open(path, "wb") as f:
        f.write(good.encode() + b"#" * stream_reader.MAX_YAML)
    notes = []  # a deadline far off: the size is the bound met, however slow the machine
    assert stream_reader.enabled_artifacts(root, cache, "/usr/lib/sysimage/libdnf5", notes,
                                          deadline=time.monotonic() + 3600) == {}
    assert notes == ["the module metadata %s is larger than 64 MiB; no module stream is "
                     "recorded from it" % path]


def test_dnf5_module_metadata_that_is_hostile_gives_no_record(tmp_path, builder):
    """Root reads dnf5's cache: a symlink, a FIFO, garbage, a decompression
    bomb or YAML beyond the parser's subset yield no record, never an error."""
    from persistrepo.dnf5 import stream_reader
    good = MODULE % {"stream": "1", "version": "1.0"}
    root, cache = dnf5_cache(tmp_path, builder, "gz", good)
    assert dnf5_found(root, cache)
    path = stream_reader.metadata_files(cache)[0]
    os.unlink(path)
    for make in (lambda: os.symlink("/etc/passwd", path), lambda: os.mkfifo(path)):
        make()
        assert dnf5_found(root, cache) == {}
        os.unlink(path)
    with gzip.open(path, "wb") as f:  # a valid document, then too much
        f.write(good.encode() + b"#" * stream_reader.MAX_YAML)
    assert dnf5_found(root, cache) == {}
    with open(path, "wb") as f:
        f.write(os.urandom(4096))
    assert dnf5_found(root, cache) == {}
    for bad in ("---\ndocument: modulemd\nversion: 2\ndata: {name: vtool}\n",
                good.replace("version: 2", "version: 3"),
                good.replace('stream: "1"', 'stream: "1\\x41"'),
                good.replace("name: vtool", "name: ../vtool"),
                good.replace("\n  name: vtool", "\n\tname: vtool"),
                good.replace("c0ffee42", "c0ffee42\x01"),
                good.replace("version: 20240101000000", "version: -1"),
                good.replace("version: 20240101000000", "version: \u00b2"),
                good.replace("version: 20240101000000", "version: " + "9" * 5000),
                "\n".join(["---", "data:", "  artifacts:"] + ["    rpms:"] * 5000)):
        with gzip.open(path, "wb") as f:
            f.write(bad.encode())
        assert dnf5_found(root, cache) == {}, bad
