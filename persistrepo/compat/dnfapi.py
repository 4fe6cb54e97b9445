"""dnf's and libdnf's Python API across releases.

- dnf: EL7 has none (has_dnf); replay then installs through rpm's own
  transaction set, whose check() and problems() rpm 4.11 has as later ones.
- hawkey.IGNORE_REGULAR_EXCLUDES (a query that sees what only excludepkgs
  hides) is absent from the oldest releases; there every exclusion counts
  as a regular one.
- The module container is dnf.Base._moduleContainer (dnf 4.0 on; None where
  a dnf has no module support); ModulePackage's version is getVersionNum()
  where it exists, else getVersion().

Python 2.7 compatible.
"""


def has_dnf():
    """True where dnf's Python API imports (EL8 on, Fedora, Debian); EL7's
    yum 3.4.3 hosts have none."""
    try:
        import dnf  # noqa: F401
    except ImportError:
        return False
    return True


def excluded_by_modules(sack, pkg):
    """True if dnf hides pkg (already known to be excluded) by modular filtering
    rather than by excludepkgs."""
    import hawkey
    flag = getattr(hawkey, "IGNORE_REGULAR_EXCLUDES", None)
    if flag is None:
        return False
    return not sack.query(flags=flag).filterm(pkg=[pkg])


def module_container(base):
    """libdnf's ModulePackageContainer of a filled dnf.Base, or None."""
    try:
        return getattr(base, "_moduleContainer", None)
    except Exception:  # a dnf without module support, or no sack yet
        return None


def module_version(module_package):
    """A libdnf ModulePackage's version as an int."""
    get = getattr(module_package, "getVersionNum", None) or module_package.getVersion
    return int(get())
