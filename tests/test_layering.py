"""The shape of the code: the plugins stay thin."""

import ast
import os

import pytest

from tests.storebed import REPO

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
