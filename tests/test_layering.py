"""The shape of the code: the plugins stay thin."""

import ast
import os

import pytest

from tests.support.storebed import REPO

PLUGINS = ["dnf-plugins/persist_rpm.py", "yum-plugins/persist_rpm.py",
           "imgbased-plugin/persistrepo.py"]


def persistrepo_imports(path):
    """The persistrepo modules a file imports, wherever the import statement is."""
    with open(os.path.join(REPO, path)) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "persistrepo":
                found.update("persistrepo." + a.name for a in node.names)
            elif node.module.startswith("persistrepo."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("persistrepo."))
    return found


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugin_reaches_into_at_most_three_library_modules(plugin):
    """Hooks translate events into calls; the logic is the library's."""
    found = persistrepo_imports(plugin)
    assert found and len(found) <= 3, sorted(found)


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
