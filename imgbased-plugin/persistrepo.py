"""imgbased plugin: replay persistrepo's store into each new layer.

Installed as imgbased/plugins/persistrepo.py, where imgbased imports every
module and calls its init(app). The work is persistrepo.imgbased's
(docs/replay.md, "imgbased"); a failure raises, imgbased turns it into
BootSetupError and the update is aborted.
"""

# Python 2 (EL7) would take "persistrepo" for this module.
from __future__ import absolute_import

import logging

log = logging.getLogger(__package__)


def init(app):
    app.imgbase.hooks.connect("os-upgraded", on_os_upgraded)


def on_os_upgraded(imgbase, previous_lv_name, new_lv_name):
    from imgbased import constants
    from persistrepo import imgbased

    if imgbase.mode != constants.IMGBASED_MODE_UPDATE:
        return
    layer = imgbase.image_from_lvm_name(new_lv_name)
    new_lv = imgbase.lv_from_layer(layer)
    try:
        result = imgbased.on_os_upgraded(str(layer), new_lv.path)
    except imgbased.HookError as e:
        log.error("persistrepo: replay into %s failed: %s", new_lv_name, e)
        raise
    if result is not None:
        log.info("persistrepo: %s: %s", new_lv_name, imgbased.describe(result))
