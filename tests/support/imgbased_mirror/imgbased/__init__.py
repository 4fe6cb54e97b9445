"""Application, mirroring src/imgbased/__init__.py lines 35-47: the
ImageLayers, the app's own hooks, then plugins.init(app); and
CliApplication (lines 50-80), which `imgbase` runs."""

import argparse

from imgbased import plugins
from imgbased.hooks import Hooks
from imgbased.imgbase import ImageLayers


class Application(object):
    """Lines 35-47."""

    def __init__(self, vg_dir=None):
        self.imgbase = ImageLayers(vg_dir)
        self.hooks = Hooks(context=self)
        self.hooks.create("pre-arg-parse", ("parser", "subparser"))
        self.hooks.create("post-arg-parse", ("parser_args",))
        plugins.init(self)


def CliApplication(args=None):
    """Lines 50-80: the plugins add their sub-commands on "pre-arg-parse"
    and act on "post-arg-parse"."""
    app = Application()
    parser = argparse.ArgumentParser(prog="imgbase")
    subparsers = parser.add_subparsers(title="Sub-commands", dest="command")
    parser.add_argument("--debug", action="store_true")
    app.hooks.emit("pre-arg-parse", parser, subparsers)
    args = parser.parse_args(args)
    app.hooks.emit("post-arg-parse", args)
