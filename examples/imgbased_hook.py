"""Example imgbased plugin: replay the persisted packages into the new layer.

imgbased's osupdater creates the hook "os-upgraded" with the arguments
(previous-lv_fullname, new-lv_fullname) and emits it once the new layer's
LV holds the new image, before that layer first boots. A plugin module
connects to it in init(app); imgbased calls the callback as
cb(imgbase, previous_lv_name, new_lv_name) and checks that it takes exactly
those arguments.

Install this file as imgbased/plugins/persistrepo_replay.py (and list it
where your imgbased build registers plugins). imgbased's own rpmpersistence
plugin reinstalls /var/imgbased/persisted-rpms with yum; it finds nothing
there once persistrepo owns persistence, so the two do not collide.

What it does, in the order imgbased's own rpmpersistence plugin uses:
mount the new LV, bind-mount the shared /var over the new layer's /var (so
the store and the layer's /var/lib/dnf history are the host's), then call
persistrepo.replay.replay() on the mounted root. (bindmounted's rbind
keyword is in the imgbased versions that ship rpmpersistence.)
"""

import logging

log = logging.getLogger(__package__)


class ReplayFailed(Exception):
    """Replay could not install every persisted package; the update stops so
    that the admin keeps booting the old layer with everything on it."""


def pre_init(app):
    """Nothing to create: "os-upgraded" belongs to osupdater."""


def init(app):
    app.imgbase.hooks.connect("os-upgraded", on_os_upgraded)


def on_os_upgraded(imgbase, previous_lv_name, new_lv_name):
    from imgbased import constants, utils

    if imgbase.mode != constants.IMGBASED_MODE_UPDATE:
        log.info("persistrepo: not an update, nothing to replay")
        return
    new_lv = imgbase.lv_from_layer(imgbase.image_from_lvm_name(new_lv_name))
    with utils.mounted(new_lv.path) as new_fs:
        with utils.bindmounted("/var", new_fs.path("/var"), rbind=True):
            replay_into(new_fs.target)


def replay_into(new_root):
    """Replay the host's store into new_root (strict: all or nothing); raise
    ReplayFailed if anything could not be installed."""
    from persistrepo import config, replay_report
    from persistrepo.replay import replay
    from persistrepo.store import Store

    store = Store(config.load().persist_dir)
    if not store.exists():
        log.info("persistrepo: no store at %s, nothing to replay", store.layout.root)
        return None
    result = replay(new_root, store)
    log.info("persistrepo: %s", replay_report.summary(result))
    for item in result.broken:
        log.error("persistrepo: cannot replay %s: %s", item.nevra, item.reason)
    if result.status == "failed":
        raise ReplayFailed(replay_report.summary(result))
    return result
