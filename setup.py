"""Installs the persistrepo library and the persistrepo command.

The version lives only in persistrepo/__init__.py; the RPM spec's Version:
is checked against it by the spec's %check and by tests/test_packaging.py.
The sdist (MANIFEST.in) carries everything packaging/python-persistrepo.spec
builds from.
"""

import re

from setuptools import find_packages, setup


def version():
    with open("persistrepo/__init__.py") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


setup(
    name="persistrepo",
    version=version(),
    description="Keep the RPMs installed on an image-based host across image upgrades",
    license="GPL-2.0-or-later",
    packages=find_packages(include=["persistrepo", "persistrepo.*"]),
    python_requires=">=2.7",
    scripts=["bin/persistrepo"],
)
