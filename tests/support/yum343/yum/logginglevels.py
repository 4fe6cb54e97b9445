"""Logging levels and console handlers, mirroring yum 3.4.3
yum/logginglevels.py lines 28-34 (levels), 81-110 (level conversion) and
121-158 (doLoggingSetup: "yum.verbose" to stdout, "yum" to stderr)."""

import logging
import sys

INFO_1 = 19
INFO_2 = 18
DEBUG_1 = 9
DEBUG_2 = 8
DEBUG_3 = 7
DEBUG_4 = 6
_NO_LOGGING = 100


def _convert(level, table):
    """__convertLevel, lines 95-110."""
    if level in table:
        return table[level]
    keys = sorted(table)
    if level < keys[0]:
        return table[keys[0]]
    return table[keys[-2]]


def logLevelFromErrorLevel(error_level):
    """Lines 81-86."""
    return _convert(error_level, {-1: _NO_LOGGING, 0: logging.CRITICAL,
                                  1: logging.ERROR, 2: logging.WARNING})


def logLevelFromDebugLevel(debug_level):
    """Lines 88-93."""
    return _convert(debug_level, {-1: _NO_LOGGING, 0: logging.INFO, 1: INFO_1, 2: INFO_2,
                                  3: logging.DEBUG, 4: DEBUG_1, 5: DEBUG_2, 6: DEBUG_3,
                                  7: DEBUG_4})


_added_handlers = False


def doLoggingSetup(debuglevel, errorlevel):
    """Lines 121-158 (console part) plus setDebugLevel/setErrorLevel, 112-118."""
    global _added_handlers
    if not _added_handlers:
        fmt = logging.Formatter("%(message)s")
        out = logging.StreamHandler(sys.stdout)
        out.setFormatter(fmt)
        verbose = logging.getLogger("yum.verbose")
        verbose.propagate = False
        verbose.addHandler(out)
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(fmt)
        logger = logging.getLogger("yum")
        logger.propagate = False
        logger.addHandler(err)
        _added_handlers = True
    logging.getLogger("yum.verbose").setLevel(logLevelFromDebugLevel(debuglevel))
    logging.getLogger("yum").setLevel(logLevelFromErrorLevel(errorlevel))
