"""Which packages keep several versions side by side, as dnf decides it.

Python 2.7 compatible.
"""

# dnf's default conf.installonlypkgs (names and provides).
DEFAULT = ("kernel", "kernel-PAE", "installonlypkg(kernel)", "installonlypkg(kernel-module)",
           "installonlypkg(vm)", "multiversion(kernel)")


def is_installonly(name, provides, installonlypkgs=DEFAULT):
    return name in installonlypkgs or any(p in installonlypkgs for p in provides)
