"""The child process of tests/test_yum_plugin.py: python run.py SCENARIO.json

Runs under Python 2.7 (the point of the exercise) or 3. Builds a YumBase (or
YumBaseCli for a `yum persist ...` command) over the scenario's install root,
loads the plugins from the scenario's plugin path the way yum does, puts the
scenario's operations into tsInfo with yum's own calls, then follows
cli.doTransaction/YumBase.runTransaction: downloadPkgs, populateTs,
runTransaction. Exit codes are yum's: 0, 1 on a failed transaction or a
command error. The 'close' slot runs at exit (atexit, as in yum).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from yum import Errors, RPMTransaction, YumBase, YumRepository  # noqa: E402
from yum.constants import TS_INSTALL_STATES  # noqa: E402
from yum.plugins import TYPE_CORE, TYPE_INTERACTIVE, PluginYumExit  # noqa: E402


def setup(base, sc):
    for repoid, spec in sorted(sc.get('repos', {}).items()):
        repo = YumRepository(repoid, spec['baseurl'], base.conf.cachedir)
        repo.srcdir = spec['dir']
        base.repos.add(repo)
    # yummain/cli: doConfigSetup -> doPluginSetup (types CORE+INTERACTIVE for
    # the CLI, cli.py getOptionsConfig), then 'postconfig', 'init'
    base.doPluginSetup(searchpath=sc['pluginpath'], confpath=sc['pluginconfpath'],
                       plugin_types=tuple(sc.get('plugin_types') or
                                                 (TYPE_CORE, TYPE_INTERACTIVE)))
    base.plugins.run('postconfig')
    base.plugins.run('init')
    base.plugins.setCmdLine(None, sc.get('cmdline', []))
    base.plugins.run('prereposetup')
    base.plugins.run('postreposetup')


def pkg(base, ref):
    if 'local' in ref:
        return base.localPackage(ref['local'])
    return base.repoPackage(ref['repo'], ref['file'])


def installed(base, name):
    found = base.rpmdb.searchNevra(name=name)
    if not found:
        raise SystemExit('harness: %s is not installed' % name)
    return found[0]


def build(base, ops):
    """The tsInfo calls yum's install/update/erase/... commands end in."""
    last = None
    for op in ops:
        kind = op['op']
        if kind == 'install':
            last = base.install(pkg(base, op)).po
        elif kind == 'dep':
            base.installAsDep(pkg(base, op), last)
        elif kind == 'update':
            base.update(pkg(base, op), installed(base, op['old']))
        elif kind == 'erase':
            base.remove(installed(base, op['name']))
        elif kind == 'downgrade':
            base.downgrade(pkg(base, op), installed(base, op['old']))
        elif kind == 'reinstall':
            base.reinstall(pkg(base, op))
        else:
            raise SystemExit('harness: unknown op %r' % kind)


def transaction(sc):
    base = YumBase(sc['conf'])
    setup(base, sc)
    base.plugins.run('exclude')
    build(base, sc['ops'])
    base.plugins.run('preresolve')
    base.plugins.run('postresolve', rescode=2, restring=[])
    # cli.doTransaction lines 442-600
    downloadpkgs = [t.po for t in base.tsInfo.getMembers()
                    if t.output_state in TS_INSTALL_STATES]
    problems = base.downloadPkgs(downloadpkgs)
    if problems:
        sys.stderr.write('Error Downloading Packages: %r\n' % problems)
        return 1
    base.populateTs(keepold=0)
    try:
        result = base.runTransaction(RPMTransaction(base))
    except Errors.YumRPMTransError as e:
        # yummain.py lines 217-226: "Error: <msg>" and the errors, exit 1
        sys.stderr.write('Error: %s\n' % e)
        for err in e.errors:
            sys.stderr.write('  %s\n' % err[0])
        return 1
    except PluginYumExit as e:
        sys.stderr.write('%s\n' % e)
        return 1
    sys.stdout.write('Complete!\n')
    report(base)
    return 0


def report(base):
    """One last stdout line for the test: interpreter and the tsInfo states."""
    members = sorted([t.name, t.version, t.output_state, t.reason, bool(t.reinstall)]
                     for t in base.tsInfo.getMembers())
    sys.stdout.write('HARNESS %s\n' % json.dumps({'python': list(sys.version_info[:2]),
                                                   'members': members}))


def command(sc):
    from cli import CliError, YumBaseCli, yummain_result
    base = YumBaseCli(sc['conf'])
    setup(base, sc)
    try:
        base.parseCommands([str(a) for a in sc['cli']])  # argv is str, as in yum
    except CliError:
        return 1
    try:
        result, msgs = base.doCommands()
    except PluginYumExit as e:
        sys.stderr.write('%s\n' % e)
        return 1
    except Errors.YumBaseError as e:
        result, msgs = 1, [str(e)]
    return yummain_result(result, msgs)


def main():
    with open(sys.argv[1]) as f:
        sc = json.load(f)
    rc = command(sc) if sc.get('cli') else transaction(sc)
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


if __name__ == '__main__':
    sys.exit(main())
