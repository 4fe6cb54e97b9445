"""How messages of every layer say a number of things. Python 2.7 compatible."""


def count(n, word, plural=None):
    """'1 package', '2 packages'."""
    return "%d %s" % (n, word if n == 1 else plural or word + "s")
