"""The commands that messages advise, as the admin can run them: on the
front end they used, on the store and root they used. Python 2.7
compatible (yum persist).
"""

from persistrepo.compat import stdlib


class Front(object):
    """The front end the admin ran (persistrepo, dnf, dnf5 or yum), with
    the store and root it ran on: the commands its advice prints work as
    printed, on that same store."""

    def __init__(self, name="persistrepo", store=None, installroot="/"):
        self.name = name
        self.store = store          # given explicitly (--store), else None
        self.installroot = installroot or "/"

    def command(self, words):
        """This front end running words ("list", "add NAME")."""
        store = " --store %s" % stdlib.shell_quote(self.store) if self.store else ""
        if self.name == "persistrepo":
            return "persistrepo%s %s" % (store, words)
        root = "" if self.installroot == "/" else \
            " --installroot=%s" % stdlib.shell_quote(self.installroot)
        return "%s%s persist%s %s" % (self.name, root, store, words)

    @staticmethod
    def persistrepo(store_root, words):
        """persistrepo running words on the store at store_root: what only
        persistrepo does (ingest, refresh, restore, add FILE)."""
        return "persistrepo --store %s %s" % (stdlib.shell_quote(store_root), words)
