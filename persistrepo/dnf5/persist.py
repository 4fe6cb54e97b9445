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

from persistrepo import config
from persistrepo.dnf5 import state, stream_reader
from persistrepo.errors import PersistError, os_error_message
from persistrepo.front import commands, subcommands
from persistrepo.store import record, rpmfile
from persistrepo.store.store import Candidate, Store
from persistrepo.streams import artifact

EXIT_ERROR = 1


class Error(Exception):
    """An error dnf5 persist reports as 'Error: ...' with exit code 1."""


def check(args):
    """dnf persist's usage rules."""
    problem = subcommands.check_plugin_args("dnf5", args)
    if problem:
        raise Error(problem)
    if args.subcommand == "add" or (args.subcommand == "remove" and not args.dry_run):
        if os.geteuid() != 0:
            raise Error("This command has to be run with superuser privileges (under the root "
                        "user on most systems).")


def _emit(printed):
    """Print what a shared command (persistrepo.front.commands) says; an Error for
    its first error (dnf prints one)."""
    for line in printed.lines:
        sys.stdout.write(line + "\n")
    for warning in printed.warnings:
        sys.stderr.write("persist_rpm: warning: %s\n" % warning)
    if printed.errors:
        raise Error("; ".join(printed.errors))
    return printed.exit_code


def run_list(settings, args, store):
    return _emit(commands.list_packages(store, args.specs, args.json,
                                        args.removed))


def run_remove(settings, args, store):
    chosen = commands.dropping(store, args.specs, front=_front(args))
    if args.dry_run:
        return _emit(commands.would_drop(chosen))
    return _emit(commands.drop(store, chosen, args.installroot, settings=settings))


def run_verify(settings, args, store):
    return _emit(commands.verify(store, args.json))


def run_status(settings, args, store):
    return _emit(commands.status(settings, store, args.installroot, args.image_manifest,
                                 args.image_root, args.json, _front(args)))


def _front(args):
    return commands.Front("dnf5", getattr(args, "store", None), args.installroot)


def _nevra(info):
    return record.nevra(info.name, info.epoch, info.version, info.release, info.arch)


def run_add(settings, args, store):
    """Store the builds the plugin found for the specs, with dnf5's reasons;
    builds no repository has are fine if the store holds them already."""
    already = commands.stored_nevras(store)
    missing = [n for n in args.unavailable if n not in already]
    if missing:
        raise Error("the installed build of %s is in no enabled repository and not in the "
                    "cache; nothing added (add the exact RPM file with '%s')"
                    % (", ".join(missing), commands.Front.persistrepo(store.layout.root,
                                                                     "add FILE")))
    infos = [(rpmfile.read_package(path), path, repo) for path, repo in args.package]
    excluded = [_nevra(i) for i, _, _ in infos if settings.excluded(i.name)]
    if excluded:
        raise Error("%s excluded by the exclude setting of persist_rpm; nothing added"
                    % ", ".join(excluded))
    why = state.reasons(state.packages_toml(args.installroot, args.state_dir))
    streams = stream_reader.enabled_artifacts(args.installroot, args.cachedir,
                                             args.state_dir) if args.cachedir else {}
    out = commands.add(store, args.installroot, [
        Candidate(path, "dnf", repo, why.get("%s.%s" % (i.name, i.arch), "unknown"),
                  supersede=True,
                  module=streams.get(artifact(i.name, i.epoch, i.version, i.release, i.arch)),
                  installed_in=args.installroot)
        for i, path, repo in infos]) if infos else commands.Printed()
    out.lines.extend("already persisted %s" % n for n in args.unavailable)
    return _emit(out)


RUN = {"list": run_list, "add": run_add, "remove": run_remove, "status": run_status,
       "verify": run_verify}


def run(args):
    """Exit code of one dnf5 persist run."""
    try:
        check(args)
        settings = config.load(args.config)
        store = Store(getattr(args, "store", None) or settings.store_path(args.installroot))
        return RUN[args.subcommand](settings, args, store) or 0
    except Error as e:
        sys.stderr.write("Error: %s\n" % e)
    except PersistError as e:  # bad input is 2, an unsafe store 3, as for persistrepo
        sys.stderr.write("Error: %s\n" % e)
        return e.exit_code
    except (OSError, IOError) as e:
        sys.stderr.write("Error: %s\n" % os_error_message(e))
    return EXIT_ERROR

