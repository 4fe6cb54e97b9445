"""The plugin manager and conduits, mirroring yum 3.4.3 yum/plugins.py.

Names, signatures and behaviour follow the upstream file: API_VERSION (line
66), TYPE_CORE/TYPE_INTERACTIVE (74-77), SLOT_TO_CONDUIT (80-102),
PluginYumExit (107-117), YumPlugins (119-361), the conduit classes (375-630)
and apiverok (632-648).
"""

import atexit
import glob
import logging
import os

from yum import Errors, config, logginglevels

try:
    import imp
except ImportError:  # Python 3.12+: only for the py3 runs of the harness
    imp = None

API_VERSION = '2.6'


class DeprecatedInt(int):
    """Line 68."""


TYPE_CORE = 0
TYPE_INTERACTIVE = 1
TYPE_INTERFACE = DeprecatedInt(1)
ALL_TYPES = (TYPE_CORE, TYPE_INTERACTIVE)

SLOT_TO_CONDUIT = {
    'config': 'ConfigPluginConduit',
    'postconfig': 'PostConfigPluginConduit',
    'init': 'InitPluginConduit',
    'args': 'ArgsPluginConduit',
    'predownload': 'DownloadPluginConduit',
    'postdownload': 'DownloadPluginConduit',
    'prereposetup': 'PreRepoSetupPluginConduit',
    'postreposetup': 'PostRepoSetupPluginConduit',
    'close': 'PluginConduit',
    'clean': 'PluginConduit',
    'pretrans': 'MainPluginConduit',
    'posttrans': 'MainPluginConduit',
    'preverifytrans': 'MainPluginConduit',
    'postverifytrans': 'MainPluginConduit',
    'exclude': 'MainPluginConduit',
    'preresolve': 'DepsolvePluginConduit',
    'postresolve': 'DepsolvePluginConduit',
    'historybegin': 'HistoryPluginConduit',
    'historyend': 'HistoryPluginConduit',
    'compare_providers': 'CompareProvidersPluginConduit',
    'verify_package': 'VerifyPluginConduit',
}

SLOTS = sorted(SLOT_TO_CONDUIT.keys())


class PluginYumExit(Exception):
    """Lines 107-117 (without the gettext translation domain lookup)."""

    def __init__(self, value="", translation_domain=""):
        Exception.__init__(self)
        self.value = value
        self.translation_domain = translation_domain

    def __str__(self):
        return self.value


class YumPlugins:
    """Lines 119-361. __init__ imports the plugins, registers run('close') with
    atexit and runs the 'config' slot (lines 159-167); run() builds one conduit
    per plugin function (169-184); _loadplugin() applies the enabled flag, the
    API version and the plugin_type filter in yum's order (246-331)."""

    def __init__(self, base, searchpath, optparser=None, types=None,
                 pluginconfpath=None, disabled=None, enabled=None):
        if not pluginconfpath:
            pluginconfpath = ['/etc/yum/pluginconf.d']
        self.searchpath = searchpath
        self.pluginconfpath = pluginconfpath
        self.base = base  # upstream keeps a weakref.proxy
        self.optparser = optparser
        self.cmdline = (None, None)
        self.verbose_logger = logging.getLogger("yum.verbose.YumPlugins")
        self.disabledPlugins = disabled
        self.enabledPlugins = enabled
        if types is None:
            types = ALL_TYPES
        if not isinstance(types, (list, tuple)):
            types = (types,)
        self._importplugins(types)
        self.cmdlines = {}
        atexit.register(self.run, 'close')
        self.run('config')

    def run(self, slotname, **kwargs):
        """Lines 169-184."""
        conduitcls = SLOT_TO_CONDUIT.get(slotname, None)
        if conduitcls is None:
            raise ValueError('unknown slot name "%s"' % slotname)
        conduitcls = globals()[conduitcls]
        for modname, func in self._pluginfuncs[slotname]:
            _, conf = self._plugins[modname]
            func(conduitcls(self, self.base, conf, **kwargs))

    def _importplugins(self, types):
        """Lines 186-203: every *.py of every searchpath directory, sorted."""
        self._plugins = {}
        self._pluginfuncs = {}
        for slot in SLOTS:
            self._pluginfuncs[slot] = []
        for dir in self.searchpath:
            if not os.path.isdir(dir):
                continue
            for modulefile in sorted(glob.glob('%s/*.py' % dir)):
                self._loadplugin(modulefile, types)
        if self._plugins:
            self.verbose_logger.log(logginglevels.INFO_2,
                                    "Loaded plugins: " + ", ".join(sorted(self._plugins)))

    def _loadplugin(self, modulefile, types):
        """Lines 246-331. One deliberate difference: a plugin that fails to
        import re-raises (upstream does so only at debuglevel DEBUG_4, else it
        logs "can't be imported" and goes on), so a test sees the traceback."""
        dir, modname = os.path.split(modulefile)
        modname = modname.split('.py')[0]
        conf = self._getpluginconf(modname)
        if not conf or not config.getOption(conf, 'main', 'enabled',
                                            config.BoolOption(False)):
            self.verbose_logger.debug('Not loading "%s" plugin, as it is disabled', modname)
            return
        try:
            module = _import(modname, dir)
        except Exception:
            self.verbose_logger.error('Plugin "%s" can\'t be imported' % modname)
            raise
        if not hasattr(module, 'requires_api_version'):
            self.verbose_logger.error('Plugin "%s" doesn\'t specify required API version'
                                      % modname)
            return
        if not apiverok(API_VERSION, module.requires_api_version):
            self.verbose_logger.error('Plugin "%s" requires API %s. Supported API is %s.'
                                      % (modname, module.requires_api_version, API_VERSION))
            return
        plugintypes = getattr(module, 'plugin_type', ALL_TYPES)
        if not isinstance(plugintypes, (list, tuple)):
            plugintypes = (plugintypes,)
        if len(plugintypes) < 1:
            return
        for plugintype in plugintypes:
            if plugintype not in types:
                return
        if modname in self._plugins:
            raise Errors.ConfigError('Two or more plugins with the name "%s" '
                                     'exist in the plugin search path' % modname)
        self._plugins[modname] = (module, conf)
        for slot in SLOTS:
            funcname = slot + '_hook'
            if hasattr(module, funcname):
                self._pluginfuncs[slot].append((modname, getattr(module, funcname)))

    def _getpluginconf(self, modname):
        """Lines 333-356: the first readable <dir>/<modname>.conf."""
        for dir in self.pluginconfpath:
            conffilename = os.path.join(dir, modname + ".conf")
            if os.access(conffilename, os.R_OK):
                break
        else:
            return None
        parser = config.ConfigParser()
        try:
            parser.read([conffilename])
        except config.ParsingError as e:
            raise Errors.ConfigError("Couldn't parse %s: %s" % (conffilename, str(e)))
        return parser

    def setCmdLine(self, opts, commands):
        """Lines 358-361."""
        self.cmdline = (opts, commands)


def _import(modname, dir):
    """imp.find_module + imp.load_module as in lines 262-267."""
    if imp is not None:
        fp, pathname, description = imp.find_module(modname, [dir])
        try:
            return imp.load_module(modname, fp, pathname, description)
        finally:
            fp.close()
    import importlib.util
    spec = importlib.util.spec_from_file_location(modname, os.path.join(dir, modname + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PluginConduit:
    """Lines 375-468: info/error through yum's loggers, confString/confInt/
    confFloat/confBool over config.getOption. No confList: it is not in 3.4.3."""

    def __init__(self, parent, base, conf):
        self._parent = parent
        self._base = base
        self._conf = conf
        self.logger = logging.getLogger("yum.plugin")
        self.verbose_logger = logging.getLogger("yum.verbose.plugin")

    def info(self, level, msg):
        self.verbose_logger.log(logginglevels.logLevelFromDebugLevel(level), msg)

    def error(self, level, msg):
        self.logger.log(logginglevels.logLevelFromErrorLevel(level), msg)

    def promptYN(self, msg):
        self.info(2, msg)
        if self._base.conf.assumeyes:
            return 1
        return self._base.userconfirm()

    def getYumVersion(self):
        import yum
        return yum.__version__

    def getOptParser(self):
        return self._parent.optparser

    def confString(self, section, opt, default=None):
        return config.getOption(self._conf, section, opt, config.Option(default))

    def confInt(self, section, opt, default=None):
        return config.getOption(self._conf, section, opt, config.IntOption(default))

    def confFloat(self, section, opt, default=None):
        return config.getOption(self._conf, section, opt, config.FloatOption(default))

    def confBool(self, section, opt, default=None):
        return config.getOption(self._conf, section, opt, config.BoolOption(default))

    def registerPackageName(self, name):
        self._base.run_with_package_names.add(name)


class ConfigPluginConduit(PluginConduit):
    """Lines 471-508 (registerOpt left out): registerCommand only where the
    base is the CLI (has registerCommand), else ConfigError."""

    def registerCommand(self, command):
        if hasattr(self._base, 'registerCommand'):
            self._base.registerCommand(command)
        else:
            raise Errors.ConfigError('registration of commands not supported')


class PostConfigPluginConduit(ConfigPluginConduit):
    """Lines 510-513."""

    def getConf(self):
        return self._base.conf


class InitPluginConduit(PluginConduit):
    """Lines 515-525."""

    def getConf(self):
        return self._base.conf

    def getRepos(self):
        return self._base.repos


class ArgsPluginConduit(InitPluginConduit):
    """Lines 527-534."""

    def __init__(self, parent, base, conf, args):
        InitPluginConduit.__init__(self, parent, base, conf)
        self._args = args

    def getArgs(self):
        return self._args


class PreRepoSetupPluginConduit(InitPluginConduit):
    """Lines 536-551."""

    def getCmdLine(self):
        return self._parent.cmdline

    def getRpmDB(self):
        return self._base.rpmdb


class PostRepoSetupPluginConduit(PreRepoSetupPluginConduit):
    """Lines 553-560."""

    def getGroups(self):
        return self._base.comps


class DownloadPluginConduit(PostRepoSetupPluginConduit):
    """Lines 562-583."""

    def __init__(self, parent, base, conf, pkglist, errors=None):
        PostRepoSetupPluginConduit.__init__(self, parent, base, conf)
        self._pkglist = pkglist
        self._errors = errors

    def getDownloadPackages(self):
        return self._pkglist

    def getErrors(self):
        if not self._errors:
            return {}
        return self._errors


class MainPluginConduit(PostRepoSetupPluginConduit):
    """Lines 585-608."""

    def getPackages(self, repo=None):
        if repo:
            arg = repo.id
        else:
            arg = None
        return self._base.pkgSack.returnPackages(arg)

    def getPackageByNevra(self, nevra):
        return self._base.getPackageObject(nevra)

    def delPackage(self, po):
        po.repo.sack.delPackage(po)

    def getTsInfo(self):
        return self._base.tsInfo


class DepsolvePluginConduit(MainPluginConduit):
    """Lines 610-614."""

    def __init__(self, parent, base, conf, rescode=None, restring=[]):
        MainPluginConduit.__init__(self, parent, base, conf)
        self.resultcode = rescode
        self.resultstring = restring


class CompareProvidersPluginConduit(MainPluginConduit):
    """Lines 616-620."""

    def __init__(self, parent, base, conf, providers_dict={}, reqpo=None):
        MainPluginConduit.__init__(self, parent, base, conf)
        self.packages = providers_dict
        self.reqpo = reqpo


class HistoryPluginConduit(MainPluginConduit):
    """Lines 622-625."""

    def __init__(self, parent, base, conf, rescode=None, restring=[]):
        MainPluginConduit.__init__(self, parent, base, conf)
        self.history = getattr(self._base, 'history', None)


class VerifyPluginConduit(MainPluginConduit):
    """Lines 627-630."""

    def __init__(self, parent, base, conf, verify_package):
        MainPluginConduit.__init__(self, parent, base, conf)
        self.verify_package = verify_package


def parsever(apiver):
    """Lines 632-634."""
    maj, min = apiver.split('.')
    return int(maj), int(min)


def apiverok(a, b):
    """Lines 636-648: same major, and a's minor >= b's."""
    a = parsever(a)
    b = parsever(b)
    if a[0] != b[0]:
        return 0
    if a[1] >= b[1]:
        return 1
    return 0
