"""persistrepo: keep the RPMs an admin installed across image-based upgrades."""

__version__ = "0.1.0"
