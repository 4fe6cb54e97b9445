"""Exceptions, mirroring the names used from yum 3.4.3 yum/Errors.py."""


class YumBaseError(Exception):
    """yum/Errors.py YumBaseError: value holds the message."""

    def __init__(self, value=None):
        Exception.__init__(self)
        self.value = value

    def __str__(self):
        return "%s" % (self.value,)


class ConfigError(YumBaseError):
    """yum/Errors.py ConfigError (raised by ConfigPluginConduit.registerCommand,
    plugins.py lines 504-508)."""


class MiscError(YumBaseError):
    """yum/Errors.py MiscError."""


class YumRPMTransError(YumBaseError):
    """yum/Errors.py YumRPMTransError(msg, errors), raised by
    YumBase.runTransaction (yum/__init__.py lines 1541-1542)."""

    def __init__(self, msg, errors):
        YumBaseError.__init__(self, msg)
        self.errors = errors
