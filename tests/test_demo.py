"""The README's main job: demo/run-demo tells the whole story end to end."""

import os
import re
import subprocess
import sys

from tests.support import bed
from tests.support.node import Node

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_end_to_end(tmp_path):
    sandbox = tmp_path / "sandbox"
    res = subprocess.run([sys.executable, os.path.join(REPO, "demo", "run-demo"), str(sandbox)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300)
    assert res.returncode == 0, res.stdout
    out = res.stdout
    assert "persist_rpm: persisted persistrepo-imgbased-1.0-1.noarch, " \
        "python3-dnf-plugin-persist-rpm-1.0-1.noarch, python3-persistrepo-1.0-1.noarch" in out
    assert "persist_rpm: persisted site-agent-1.0-1.noarch" in out
    summary = [l for l in out.splitlines() if "dry run: " in l][0]
    assert "dry run: 7 to install or upgrade" in summary and "broken" not in summary
    assert "persistrepo: onn/ovirt-node-ng-2.0-0.0+1: installed 7 packages; report " in out
    assert "(a second replay into layer 2: nothing to do, exit 0)" in out
    table = dict((l.split()[0], l) for l in out.splitlines() if l.startswith("  ") and
                 len(l.split()) > 4 and l.split()[0] in ("node-utils", "vendor-lib",
                                                         "vendor-tool", "vendor-cfg"))
    assert "upgraded" in table["node-utils"]
    assert "provided by image" in table["vendor-lib"]
    assert "installed (requested" in table["vendor-tool"]
    assert "installed (dependency" in table["vendor-cfg"]
    assert "imported into layer 2's rpmdb: yes" in out
    assert "persistrepo itself is on layer 2: yes" in out
    assert "BROKEN   vendor-kmod-1.0-1.noarch" in out
    assert "persistrepo: onn/ovirt-node-ng-3.0-0.0+1: installed 7 packages; left out " \
        "(on_broken = skip): vendor-kmod-1.0-1.noarch: nothing provides node-kernel = 2.0" in out
    assert "    vendor-kmod-1.0-1.noarch: nothing provides node-kernel = 2.0" in out
    with Node(str(sandbox / "node")) as node, node.booted(node.newest) as root:
        layer3 = bed.installed(root)
        assert layer3 == {
            "node-core-3.0-1.noarch", "node-kernel-3.0-1.noarch", "node-utils-1.2-1.noarch",
            "vendor-lib-2.0-1.noarch", "vendor-tool-1.1-1.noarch", "vendor-cfg-1.0-1.noarch",
            "site-agent-1.0-1.noarch", "persistrepo-imgbased-1.0-1.noarch",
            "python3-dnf-plugin-persist-rpm-1.0-1.noarch", "python3-persistrepo-1.0-1.noarch"}
    assert str(sandbox) not in open("/proc/self/mounts").read()

    # Image mode: the demo's own store exported onto image v3 as a container
    # image and built by buildah holds what replay put on layer 3, plus the
    # vendor key; vendor-kmod left out as there.
    image_step = out.split("\n== 5. image mode", 1)[1]
    containerfile = image_step.split("/image-mode/Containerfile\n", 1)[1].split("\n$ ", 1)[0]
    assert "\nFROM localhost/node-image-v3\n" in containerfile
    assert "# Left out with --exclude: vendor-kmod-1.0-1.noarch." in containerfile
    assert "#   site-agent-1.0-1.noarch: unsigned, captured from a local file" in containerfile
    qa = image_step.split("-- rpm -qa   (the built image)\n", 1)[1].split("\n(", 1)[0]
    keys = [p for p in qa.splitlines() if p.startswith("gpg-pubkey-")]
    assert set(qa.splitlines()) - set(keys) == layer3 | {"bed-base-1.0-1.noarch"}
    keyid = re.search(r"vendor key (\w+) imported into layer 2", out).group(1)
    assert len(keys) == 1 and keyid in keys[0], (keyid, keys)
    assert not os.path.exists(sandbox / "buildah")

    # The README's command to try `dnf persist list` in the sandbox.
    res = subprocess.run([sys.executable, os.path.join(REPO, "demo", "dnf-in-sandbox"),
                          "persist", "list", "site-agent"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PERSISTREPO_SANDBOX=str(sandbox)))
    assert res.returncode == 0, res.stderr
    assert [l.split()[0] for l in res.stdout.splitlines()] == ["PACKAGE",
                                                              "site-agent-1.0-1.noarch"]

    # One store path, and every command the demo prints works as printed.
    store = str(sandbox / "node/.var/upper/imgbased/persisted_packages")
    assert "the store: %s " % store in out
    assert not re.search(r"(/onn/[^ ]*|/node)/var/imgbased", out), out
    assert "persistrepo's own packages are persisted too" in out
    listed = [l for l in out.splitlines() if l.strip().startswith("node-utils-1.2")]
    assert listed and listed[0].split()[1] == "user", listed  # `dnf upgrade node-utils`
    # the transcript's persistrepo commands (but those on a layer or the base
    # image, mounted only while the demo ran them), and the ones it says to try
    printed = ["%s -m %s" % (sys.executable, l[2:]) for l in out.splitlines()
               if l.startswith("$ persistrepo ") and "/onn/" not in l and
               "/buildah/" not in l]
    printed += [l.strip() for l in out.split("\ntry (", 1)[1].splitlines()[1:]]
    assert any("--image-root" in c and "persist status" in c for c in printed), printed
    for command in printed:
        res = subprocess.run(command, shell=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True,
                             env=dict(os.environ, PYTHONPATH=REPO))
        # (1: the pre-flight against image v3 names the kmod, as in the demo)
        assert res.returncode in (0, 1, 100), (command, res.stdout, res.stderr)
        assert "no store at" not in res.stderr and "Traceback" not in res.stderr, command
    assert str(sandbox) not in open("/proc/self/mounts").read()

    # Run again over the same sandbox: it is wiped and rebuilt.
    res = subprocess.run([sys.executable, os.path.join(REPO, "demo", "run-demo"), str(sandbox)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300)
    assert res.returncode == 0, res.stdout


def test_demo_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "precious").write_text("keep me\n")
    res = subprocess.run([sys.executable, os.path.join(REPO, "demo", "run-demo"), str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert res.returncode != 0
    assert "not a demo sandbox" in res.stderr
    assert (tmp_path / "precious").read_text() == "keep me\n"
