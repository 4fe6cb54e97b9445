"""The plugin loader, mirroring src/imgbased/plugins/__init__.py lines 8-29:
every module of this package directory is imported (no plugin list), then
pre_init(app) is called on each, then init(app)."""

import pkgutil

plugins = []

for _importer, modname, _ispkg in pkgutil.iter_modules(__path__):
    plugins.append(__import__(str(__package__) + "." + modname, fromlist="dummy"))


def _on_all_plugins(funcname, *args):
    for p in plugins:
        if hasattr(p, funcname):
            getattr(p, funcname)(*args)


def init(app):
    _on_all_plugins("pre_init", app)
    _on_all_plugins("init", app)
