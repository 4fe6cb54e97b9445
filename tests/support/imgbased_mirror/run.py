"""One `imgbase update` through the mirror: run.py MIRROR SCENARIO.json.

Runs in a private mount namespace (the test starts it with `unshare
--mount --propagation private`): the scenario's host_var is bind-mounted
over /var, as Node's separate /var file system; persist_rpm_conf, if given,
becomes /etc/dnf/plugins/persist_rpm.conf. The new layer is a copy of
new_source; or, with "overlays" ({layer: overlayfs options}, tests/support/node.py),
every layer is an overlayfs mount at its LV path, the new one made by the
update, and host_etc_from names the running layer whose /etc/dnf/plugins is
the host's. Prints {"ok", "error", "plugins", "layers"} on its last line.
"""

import json
import logging
import os
import shutil
import subprocess
import sys


def main(mirror, scenario_path):
    with open(scenario_path) as f:
        scenario = json.load(f)
    subprocess.check_call(["mount", "--bind", scenario["host_var"], "/var"])
    overlays = scenario.get("overlays")
    for name, options in sorted((overlays or {}).items()):
        if name != scenario["new"]:
            mount_overlay(options, os.path.join(scenario["vg_dir"], name))
    if scenario.get("host_etc_from"):
        subprocess.check_call(["mount", "--bind", os.path.join(
            scenario["vg_dir"], scenario["host_etc_from"], "etc/dnf/plugins"), "/etc/dnf/plugins"])
    if scenario.get("persist_rpm_conf") is not None:
        # The host's persistrepo configuration, for this namespace only.
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "mode=0755", "conf",
                               "/etc/dnf/plugins"])
        with open("/etc/dnf/plugins/persist_rpm.conf", "w") as f:
            f.write(scenario["persist_rpm_conf"])
    sys.path.insert(0, mirror)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from imgbased import Application, plugins
    from imgbased.plugins import update

    app = Application(scenario["vg_dir"])
    report = {"ok": True, "error": None,
              "plugins": sorted(p.__name__ for p in plugins.plugins)}
    if overlays:
        def populate(path):
            mount_overlay(overlays[scenario["new"]], path)
    else:
        def populate(path):
            shutil.copytree(scenario["new_source"], path, symlinks=True)
    try:
        update.update(app, scenario["previous"], scenario["new"], populate)
    except Exception as e:
        report.update(ok=False, error=type(e).__name__)
        logging.error("update failed: %s: %s", type(e).__name__, e)
    report["layers"] = sorted(os.listdir(scenario["vg_dir"]))
    print(json.dumps(report))


def mount_overlay(options, path):
    """A layer as an overlayfs mount (tests/support/node.py): the LV's snapshot."""
    subprocess.check_call(["mount", "-t", "overlay", "layer", "-o", options, path])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
