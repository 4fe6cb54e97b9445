"""`imgbase update`, mirroring src/imgbased/plugins/update.py lines 60-73:
update mode, the new layer, and on any failure the new LVs are reset and
the exception is raised again."""

import json
import logging
import os
import sys

from imgbased import bootsetup, constants

log = logging.getLogger(__package__)


def init(app):
    """Lines 29-33."""
    app.hooks.connect("pre-arg-parse", add_argparse)
    app.hooks.connect("post-arg-parse", post_argparse)


def add_argparse(app, parser, subparsers):
    """Lines 36-49."""
    u = subparsers.add_parser("update", help="Update handling")
    u.add_argument("--format", default="liveimg")
    u.add_argument("FILENAME")
    r = subparsers.add_parser("rollback", help="Rollback layer operation")
    r.add_argument("--to", nargs="?")


def post_argparse(app, args):
    """Lines 52-76 with LiveimgExtractor.extract (lines 130-150): the
    image's NVR comes from the image (here the stand-in image file names
    the tree, tests/support/node.py), the new layer "NVR+1" is made over it on top
    of the running layer, and /var/imgbased/.image-updated names the image
    file. On failure the new LVs are reset and the error raised again
    (imgbase exits non-zero, so the image-update %post fails)."""
    if args.command == "rollback":
        rollback(app, args.to)
    if args.command != "update":
        return
    app.imgbase.set_mode(constants.IMGBASED_MODE_UPDATE)
    try:
        os.unlink(constants.IMGBASED_IMAGE_UPDATED)
    except OSError:
        pass
    with open(args.FILENAME) as f:
        image = json.load(f)
    previous = str(app.imgbase.current_layer())
    new = image["nvr"] + "+1"

    def populate(path):
        app.imgbase.add_node_layer(new, image["tree"])
    try:
        update(app, previous, new, populate)
        log.info("Update was pulled successfully")
    except Exception:
        log.error("Update failed, resetting registered LVs")
        raise sys.exc_info()[1]
    with open(constants.IMGBASED_IMAGE_UPDATED, "w") as f:
        f.write(os.path.basename(args.FILENAME))


def update(app, previous, new, populate):
    app.imgbase.set_mode("update")
    try:
        return app.imgbase.add_layer(previous, new, populate)
    except Exception:
        app.imgbase.reset_registered_volumes()
        raise


def rollback(app, specific_nvr):
    """Lines 153-190: the layer before the running one (or --to) becomes the
    boot default; it runs after a reboot."""
    layers = app.imgbase.layers()
    current = app.imgbase.current_layer()
    if len(layers) <= 1:
        raise RuntimeError("It's required to have at least two layers available")
    dst = specific_nvr or layers[layers.index(current) - 1]
    if dst == current:
        raise RuntimeError("Can't roll back to %s" % dst)
    bootsetup.set_default(dst, app.imgbase.boot_dir)
    log.info("Rollback to %s was successful", dst)
