"""The shape of the code (README, "Layout"): folders in layers, imports
pointing down only, no cycles, and thin plugins."""

import ast
import os

import pytest

from tests.support.storebed import REPO

PLUGINS = ["dnf-plugins/persist_rpm.py", "yum-plugins/persist_rpm.py",
           "imgbased-plugin/persistrepo.py"]

# Lowest first; a folder may import any layer below and, one way only, the
# other folders of its own layer. The bottom is the package's loose modules
# (errors, names, config, fsutil, words, streams, compat/, ...); capture/ and
# front/ are the front ends' layer, what every plugin and command calls;
# cli, imgbased and __main__ are the entries.
LAYERS = [("bottom",), ("store",), ("capture", "front"),
          ("replay", "dnf5", "export", "fleet"), ("entries",)]
ENTRIES = ("persistrepo", "persistrepo.cli", "persistrepo.__main__", "persistrepo.imgbased")
RANK = dict((name, n) for n, layer in enumerate(LAYERS) for name in layer)


def is_module(name):
    path = os.path.join(REPO, *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def persistrepo_imports(path):
    """The persistrepo modules a file imports, wherever the import statement is."""
    with open(os.path.join(REPO, path)) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] == "persistrepo":
            subs = [node.module + "." + a.name for a in node.names
                    if is_module(node.module + "." + a.name)]
            found.update(subs or [node.module])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("persistrepo."))
    return found


def folder(module):
    """The layer folder a persistrepo module belongs to."""
    if module in ENTRIES:
        return "entries"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "bottom"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugin_reaches_into_at_most_three_library_modules(plugin):
    """Hooks translate events into calls; the logic is the library's."""
    found = persistrepo_imports(plugin)
    assert found and len(found) <= 3, sorted(found)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugin_reaches_only_the_front_ends_layer_and_config(plugin):
    """imgbased's plugin reaches its entry, persistrepo.imgbased."""
    found = persistrepo_imports(plugin)
    assert all(folder(m) in ("capture", "front") or m == "persistrepo.config"
               or (plugin.startswith("imgbased") and m == "persistrepo.imgbased")
               for m in found), sorted(found)


def import_graph():
    """{module: persistrepo modules it imports at load time}; a submodule's
    import of its own package (`from persistrepo.replay import plan`) counts
    as an import of that submodule only."""
    top = os.path.join(REPO, "persistrepo")
    files = {}
    for dirpath, _, names in os.walk(top):
        for n in names:
            if n.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, n), REPO)[:-3].replace(os.sep, ".")
                files[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = \
                    os.path.join(dirpath, n)
    graph = {}
    for mod, path in files.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in files:
                subs = [node.module + "." + a.name for a in node.names
                        if node.module + "." + a.name in files]
                deps.update(subs or [node.module])
        graph[mod] = deps - {mod}
    return graph


def test_the_library_has_no_import_cycles():
    graph = import_graph()
    done, path = set(), []

    def visit(mod):
        assert mod not in path, "import cycle: " + " -> ".join(path[path.index(mod):] + [mod])
        if mod in done:
            return
        path.append(mod)
        for dep in sorted(graph[mod]):
            visit(dep)
        path.pop()
        done.add(mod)
    for mod in sorted(graph):
        visit(mod)


def test_every_folder_is_a_known_layer():
    top = os.path.join(REPO, "persistrepo")
    folders = set(n for n in os.listdir(top)
                  if os.path.isfile(os.path.join(top, n, "__init__.py")))
    assert folders <= set(RANK) | {"compat"}, sorted(folders - set(RANK))


def test_imports_point_down_the_layers():
    upward = sorted("%s -> %s" % (mod, dep) for mod, deps in import_graph().items()
                    for dep in deps if RANK[folder(dep)] > RANK[folder(mod)])
    assert not upward, upward


def test_folders_of_one_layer_import_each_other_one_way():
    edges = set((folder(mod), folder(dep)) for mod, deps in import_graph().items()
                for dep in deps if folder(mod) != folder(dep))
    assert not [(a, b) for a, b in edges if (b, a) in edges], sorted(edges)
