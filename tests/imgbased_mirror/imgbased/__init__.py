"""Application, mirroring src/imgbased/__init__.py lines 35-47: the
ImageLayers, the app's own hooks, then plugins.init(app)."""

from imgbased import plugins
from imgbased.hooks import Hooks
from imgbased.imgbase import ImageLayers


class Application(object):
    """Lines 35-47."""

    def __init__(self, vg_dir):
        self.imgbase = ImageLayers(vg_dir)
        self.hooks = Hooks(context=self)
        self.hooks.create("pre-arg-parse", ("parser", "subparser"))
        self.hooks.create("post-arg-parse", ("parser_args",))
        plugins.init(self)
