"""`dnf5 persist`: what the dnf5 command plugin (dnf5-plugin/persist_cmd_plugin.cpp)
runs as `persistrepo dnf5-persist`, with the options, output and exit codes
of the dnf 4 `dnf persist` (dnf-persist(8)).

The plugin passes dnf5's --installroot and, for add, the exact builds it
found and downloaded with libdnf5 (--package FILE REPO), and dnf5's cachedir and
system state directory, where add finds the module streams. Errors are one
"Error: ..." line on stderr and exit 1, as dnf prints them; status exits 100
when something is at risk. Python 3.6 compatible.
"""

import os
import sys

from persistrepo import commands, config, dnf5_modules, dnf5_state, record, rpmfile
from persistrepo.errors import PersistError
from persistrepo.store import Candidate, Store

SUBCOMMANDS = ("list", "add", "remove", "status", "verify")
EXIT_ERROR = 1


class Error(Exception):
    """An error dnf5 persist reports as 'Error: ...' with exit code 1."""


def add_arguments(p):
    p.add_argument("subcommand", nargs="?", default="list", choices=SUBCOMMANDS,
                   metavar="{%s}" % ",".join(SUBCOMMANDS))
    p.add_argument("specs", nargs="*", metavar="SPEC")
    p.add_argument("--json", action="store_true")
    p.add_argument("--image-manifest", metavar="FILE")
    p.add_argument("--image-root", metavar="DIR")
    p.add_argument("--installroot", metavar="DIR", default="/")
    p.add_argument("--package", nargs=2, action="append", default=[],
                   metavar=("FILE", "REPO"))
    p.add_argument("--cachedir", metavar="DIR")
    p.add_argument("--state-dir", metavar="DIR", default=dnf5_state.SYSTEM_STATE_DIR)


def check(args):
    """dnf persist's usage rules."""
    sub = args.subcommand
    if sub in ("add", "remove") and not args.specs:
        raise Error("dnf5 persist %s: give at least one package spec" % sub)
    if sub not in ("add", "remove") and args.specs:
        raise Error("dnf5 persist %s takes no package spec" % sub)
    if args.json and sub not in ("list", "status"):
        raise Error("--json goes with list or status")
    if (args.image_manifest or args.image_root) and sub != "status":
        raise Error("--image-manifest and --image-root go with status")
    if sub in ("add", "remove") and os.geteuid() != 0:
        raise Error("This command has to be run with superuser privileges (under the root "
                    "user on most systems).")


def _emit(printed):
    """Print what a shared command (persistrepo.commands) says; an Error for
    its first error (dnf prints one)."""
    for line in printed.lines:
        sys.stdout.write(line + "\n")
    for warning in printed.warnings:
        sys.stderr.write("persist_rpm: warning: %s\n" % warning)
    if printed.errors:
        raise Error("; ".join(printed.errors))
    return printed.exit_code


def run_list(settings, args, store):
    return _emit(commands.list_packages(store.layout.root, as_json=args.json))


def run_remove(settings, args, store):
    return _emit(commands.drop(store.layout.root, commands.dropping(store.layout.root,
                                                                     args.specs),
                               args.installroot, settings=settings))


def run_verify(settings, args, store):
    return _emit(commands.verify(store.layout.root))


def run_status(settings, args, store):
    return _emit(commands.status(settings, args.installroot, args.image_manifest,
                                 args.image_root, args.json, "dnf5 persist", "dnf5"))


def _nevra(info):
    return record.nevra(info.name, info.epoch, info.version, info.release, info.arch)


def run_add(settings, args, store):
    """Store the builds the plugin found for the specs, with dnf5's reasons."""
    infos = [(rpmfile.read_package(path), path, repo) for path, repo in args.package]
    excluded = [_nevra(i) for i, _, _ in infos if settings.excluded(i.name)]
    if excluded:
        raise Error("%s excluded by the exclude setting of persist_rpm; nothing added"
                    % ", ".join(excluded))
    why = dnf5_state.reasons(dnf5_state.packages_toml(args.installroot, args.state_dir))
    streams = dnf5_modules.enabled_artifacts(args.installroot, args.cachedir,
                                             args.state_dir) if args.cachedir else {}
    return _emit(commands.add(store.layout.root, args.installroot, [
        Candidate(path, "dnf", repo, why.get("%s.%s" % (i.name, i.arch), "unknown"),
                  supersede=True, module=streams.get("%s-%d:%s-%s.%s" % (
                      i.name, i.epoch or 0, i.version, i.release, i.arch)),
                  installed_in=args.installroot)
        for i, path, repo in infos]))


RUN = {"list": run_list, "add": run_add, "remove": run_remove, "status": run_status,
       "verify": run_verify}


def run(args):
    """Exit code of one dnf5 persist run."""
    try:
        check(args)
        settings = config.load(args.config)
        store = Store(settings.store_path(args.installroot))
        return RUN[args.subcommand](settings, args, store) or 0
    except (Error, PersistError) as e:
        sys.stderr.write("Error: %s\n" % e)
    except (OSError, IOError) as e:
        where = getattr(e, "filename", None)
        sys.stderr.write("Error: %s%s\n" % (where + ": " if where else "", e.strerror or e))
    return EXIT_ERROR

