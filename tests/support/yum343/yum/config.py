"""Plugin config parsing, mirroring yum 3.4.3 yum/config.py: the ConfigParser
choice (lines 31-39: iniparse's RawConfigParser, i.e. no %-interpolation),
Option/IntOption/FloatOption/BoolOption.parse (lines 49-370) and getOption
(lines 972-988)."""

try:
    from ConfigParser import NoOptionError, NoSectionError, ParsingError
    from ConfigParser import RawConfigParser as ConfigParser
except ImportError:  # Python 3 runs of the harness
    from configparser import NoOptionError, NoSectionError, ParsingError
    from configparser import RawConfigParser as ConfigParser  # noqa: F401


class Option(object):
    """Lines 49-130: a string option; parse() returns the text unchanged."""

    def __init__(self, default=None):
        self.default = default

    def parse(self, s):
        return s


class IntOption(Option):
    """Lines 190-215 (range checks left out)."""

    def parse(self, s):
        try:
            return int(s)
        except (ValueError, TypeError):
            raise ValueError('invalid integer value')


class FloatOption(Option):
    """Lines 360-370."""

    def parse(self, s):
        try:
            return float(s.strip())
        except (ValueError, TypeError):
            raise ValueError('invalid float value')


class BoolOption(Option):
    """Lines 337-358: only 0/1, yes/no, true/false (not on/off)."""

    def parse(self, s):
        s = s.lower()
        if s in ('0', 'no', 'false'):
            return False
        elif s in ('1', 'yes', 'true'):
            return True
        raise ValueError('invalid boolean value')


def getOption(conf, section, name, option):
    """Lines 972-988: the default when section or option is missing, else
    option.parse(value), which may raise ValueError."""
    try:
        val = conf.get(section, name)
    except (NoSectionError, NoOptionError):
        return option.default
    return option.parse(val)
