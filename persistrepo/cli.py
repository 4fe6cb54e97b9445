"""The persistrepo command (also `python3 -m persistrepo`).

Options and exit codes are documented in persistrepo(8), docs/man/persistrepo.8.rst.
"""

import argparse
import errno
import os
import signal
import sys

import persistrepo
from persistrepo.errors import EXIT_FAILED, EXIT_OK, PersistError, UsageError, os_error_message
from persistrepo.front import subcommands

# The rest is imported where it is used: --version, --help and a usage
# error need neither the store nor rpm nor createrepo_c, and a subcommand
# loads only its own modules.


def _say(msg):
    """Print a line; a reader that went away (`| head`) is not an error."""
    from persistrepo.compat import stdlib
    try:
        stdlib.write_text(sys.stdout, msg + "\n")
        sys.stdout.flush()
    except (IOError, OSError) as e:
        if e.errno != errno.EPIPE:
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _warn(msg):
    from persistrepo.compat import stdlib
    stdlib.write_text(sys.stderr, "persistrepo: %s\n" % msg)


def _confirm(verb, entries, args):
    """Ask as dnf does when more than one package would go and stdin is a
    terminal (not with -y); True to go ahead."""
    from persistrepo.compat import stdlib
    from persistrepo.front import commands
    if len(entries) < 2 or args.assumeyes or not sys.stdin.isatty():
        return True
    for e in entries:
        _say("  %s" % e["nevra"])
    stdlib.write_text(sys.stdout, commands.question(entries, verb))
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    _say("Operation aborted.")
    return False


def _emit(printed):
    """Print what a shared command (persistrepo.front.commands) says; its exit code."""
    for line in printed.lines:
        _say(line)
    for warning in printed.warnings:
        _warn("warning: " + warning)
    for error in printed.errors:
        _warn(error)
    return printed.exit_code


def cmd_add(store, args):
    from persistrepo.front import commands
    from persistrepo.store.store import Candidate
    key = _read_key(args.key) if args.key else None
    return _emit(commands.add(store, "/", [
        Candidate(p, method="cli", origin=args.origin, reason=args.reason)
        for p in args.files], key))


def _read_key(path):
    """The armored public key block in path, or a UsageError naming it."""
    from persistrepo import pgp
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii")
        pgp.key_ids(text)
    except (IOError, OSError, UnicodeDecodeError, pgp.BadKey) as e:
        raise UsageError("--key %s: not a readable ASCII-armored public key (%s)"
                         % (path, getattr(e, "strerror", None) or e))
    return text


def _front(args):
    """persistrepo as run, for the commands its messages advise."""
    from persistrepo.front import commands
    return commands.Front("persistrepo", args.store)


def _drop(store, chosen, verb, args):
    """The end of remove and prune: dry run, question, removal."""
    from persistrepo.front import commands
    if args.dry_run:
        return _emit(commands.would_drop(chosen, verb))
    if not _confirm(verb, chosen, args):
        return EXIT_FAILED
    return _emit(commands.drop(store, chosen, verb=verb))


def cmd_remove(store, args):
    from persistrepo.front import commands
    return _drop(store, commands.dropping(store, args.specs, front=_front(args)),
                 "remove", args)


def cmd_prune(store, args):
    from persistrepo.front import commands
    return _drop(store, commands.dropping(store, prune=(
        args.keep, args.installonly_keep)), "prune", args)


def cmd_restore(store, args):
    restored = store.restore(args.specs)
    for e in restored.entries:
        _say("restored %s (%s, persisted %s)" % (e["nevra"], e["method"], e["persisted_at"]))
    for warning in restored.warnings:
        _warn("warning: " + warning)
    return EXIT_OK


def cmd_list(store, args):
    from persistrepo.front import commands
    return _emit(commands.list_packages(store, args.patterns, args.json,
                                        args.removed))


def cmd_verify(store, args):
    from persistrepo.front import commands
    return _emit(commands.verify(store, args.json))


def cmd_refresh(store, args):
    from persistrepo import words
    from persistrepo.store import repair
    report = repair.refresh(store, adopt=args.adopt)
    if report["repodata_kept"]:
        _say("kept the old repodata as %s" % report["repodata_kept"])
    for e in report["adopted"]:
        _say("adopted %s (provenance unknown)" % e["nevra"])
    aside = dict((name, (why, where)) for name, why, where in report["quarantined"])
    for e in report["dropped"]:
        if e["filename"] in aside:
            why, where = aside.pop(e["filename"])
            _say("forgot %s: its file is unusable, set aside as %s: %s"
                 % (e["nevra"], where, why))
        else:
            _say("forgot %s (its file is gone)" % e["nevra"])
    for name, why, where in report["quarantined"]:
        if name in aside:
            _say("set aside %s as %s: %s" % (name, where, why))
    for warning in report["warnings"]:
        _warn("warning: " + warning)
    _say("refreshed %s: %s" % (store.layout.root,
                                words.count(len(store.entries()), "package")))
    return EXIT_FAILED if report["quarantined"] or report["warnings"] else EXIT_OK


def cmd_status(store, args):
    from persistrepo import config
    from persistrepo.front import commands
    from persistrepo.store.store import Store
    settings = config.load(args.config)
    if not args.store and args.installroot != "/":
        store = Store(settings.store_path(args.installroot))
    # Advice carries the store where it is not the one persistrepo uses by default.
    front = commands.Front("persistrepo", None if os.path.realpath(store.layout.root) ==
                           os.path.realpath(settings.persist_dir) else store.layout.root)
    return _emit(commands.status(settings, store, args.installroot, args.image_manifest,
                                 args.image_root, args.json, front))


def cmd_ingest(store, args):
    from persistrepo.compat import stdlib
    from persistrepo.store import incoming
    from persistrepo.store.keys import keep_signing_keys
    if not os.path.isdir(args.installroot):
        raise UsageError("--installroot %s is not a directory; give the root whose rpm "
                         "database has the signing keys" % args.installroot)
    if not incoming.pending(store.layout):
        _say("nothing to ingest: no request waits in %s" % store.layout.incoming)
        return EXIT_OK
    result = store.ingest()
    for e in result.added:
        _say("persisted %s" % e["nevra"])
    for warning in result.warnings:
        _warn("warning: " + warning)
    for _, err in result.failed:
        stdlib.write_text(sys.stderr, "persistrepo: error: %s\n" % err)
    for key_id in keep_signing_keys(store, args.installroot):
        stdlib.write_text(sys.stderr, "persistrepo: warning: no public key %s in the rpmdb "
                          "of %s\n" % (key_id, args.installroot))
    return EXIT_FAILED if result.failed else EXIT_OK


def cmd_replay(store, args):
    from persistrepo.compat import stdlib
    from persistrepo.replay import replay, report
    result = replay(args.installroot, store, dry_run=args.dry_run,
                    skip_broken=args.skip_broken, enablerepos=args.enablerepo,
                    exclude=args.exclude, allow_running_root=args.allow_running_root)
    _say(report.to_json(result) if args.json else report.text(result))
    sys.stdout.flush()
    for warning in result.warnings:
        _warn("warning: " + warning)
    for item in result.broken:
        stdlib.write_text(sys.stderr, "persistrepo: error: cannot replay %s: %s\n"
                          % (item.nevra, item.reason))
    if result.transaction_error:
        where = "; report %s" % os.path.join(result.root, result.report_file.lstrip("/")) \
            if result.report_file else ""
        _warn("error: %s%s" % (" ".join(result.transaction_error.split()), where))
    return result.exit_code


def cmd_export(store, args):
    from persistrepo.export import command
    return _emit(command.run(store, args))


def cmd_import_imgbased(store, args):
    from persistrepo import imgbased, words
    conf = args.imgbased_conf or imgbased.this_imgbased_persist_conf()
    source = args.source or imgbased.IMGBASED_STORE
    if imgbased.disable_imgbased_persist(conf):
        _say("turned off imgbased-persist's capture in %s" % conf)
    if args.no_import:
        return EXIT_OK
    if args.if_present and not imgbased.imgbased_store_has_rpms(source):
        return EXIT_OK
    result, missing = imgbased.import_imgbased(store, source, args.installroot)
    if result is None:
        _say("nothing to import: no RPM in %s" % source)
        return EXIT_OK
    for e in result.added + result.replaced:
        _say("persisted %s" % e["nevra"])
    for e in result.unchanged:
        _say("already persisted %s" % e["nevra"])
    for warning in result.warnings:
        _warn("warning: " + warning)
    for key_id in missing:
        _warn("warning: no public key %s in the rpmdb of %s; replay will refuse the "
              "packages it signed" % (key_id, args.installroot))
    _say("imported %s from %s and removed them there"
         % (words.count(len(result.added + result.replaced + result.unchanged), "package"),
            source))
    return EXIT_OK


def cmd_imgbased_update(store, args):
    from persistrepo import imgbased
    if args.before:
        imgbased.before_image_update()
        return EXIT_OK
    try:
        if args.finish:
            done = imgbased.finish_image_update()
        else:
            done = [imgbased.after_image_update(args.layer)]
    except imgbased.NotThisUpdate as e:
        _warn("warning: %s" % e)
        return EXIT_OK
    except imgbased.HookError as e:
        _warn("error: the image update did not get the persisted packages: %s" % e)
        return EXIT_FAILED
    for layer, result in [d for d in done if d is not None and d[1] is not None]:
        _say("persistrepo: %s: %s%s" % (layer, imgbased.describe(result),
                                        imgbased.lacking_clause(layer)))
    return EXIT_OK


def cmd_push(store, args):
    from persistrepo.fleet import cli as fleet
    return fleet.cmd_push(store, args)


def cmd_pull(store, args):
    from persistrepo.fleet import cli as fleet
    return fleet.cmd_pull(store, args)


def cmd_dnf5_capture(store, args):
    from persistrepo import config
    from persistrepo.compat import stdlib
    from persistrepo.dnf5 import capture
    try:
        settings = config.load(args.config)
    except PersistError as e:  # say it as the dnf plugin does; dnf5 goes on
        stdlib.write_text(sys.stderr, "%s: error: %s; packages will not be persisted\n"
                          % (capture.PREFIX, e))
        return EXIT_FAILED
    return capture.run(settings)


def cmd_dnf5_persist(store, args):
    from persistrepo.dnf5 import persist
    return persist.run(args)


class _FullParserNeeded(Exception):
    """A usage error met by a parser made for some subcommands only."""


class _TrimmedParser(argparse.ArgumentParser):
    """The parser of the subcommands a command line names, and of no other:
    making them all took longer than the rest of the command's own start-up.
    Its usage errors are the full parser's to say, which lists every
    subcommand."""

    def __init__(self, **kwargs):
        # It prints no help, so its formatters need not find the terminal's
        # width (argparse makes one for each option, and imports shutil for it).
        kwargs.setdefault("formatter_class", _FixedWidth)
        argparse.ArgumentParser.__init__(self, **kwargs)

    def error(self, message):
        raise _FullParserNeeded()


class _FixedWidth(argparse.HelpFormatter):

    def __init__(self, prog):
        argparse.HelpFormatter.__init__(self, prog, width=80)


def build_parser(argv=None):
    """persistrepo's parser, from the one definition of the subcommands
    (persistrepo.front.subcommands); --store and --config go before or after
    the subcommand. Given argv, only the subcommands it names (a
    _TrimmedParser, unless it asks for help)."""
    offered = subcommands.offered("persistrepo")
    named = None if argv is None or "-h" in argv or "--help" in argv else \
        set(argv) & set(c.name for c in offered)
    parser = (_TrimmedParser if named else argparse.ArgumentParser)(
        prog="persistrepo",
        description="Keep the RPMs installed on an image-based host across image upgrades.")
    parser.add_argument("--version", action="version",
                        version="persistrepo %s" % persistrepo.__version__)
    subcommands.add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in offered:
        if named and command.name not in named:
            continue
        p = sub.add_parser(command.name, help=command.help)
        p.set_defaults(func=globals()["cmd_" + command.name.replace("-", "_")])
        if command.name == "dnf5-persist":
            # dnf5 persist's own options, --store among them
            from persistrepo.dnf5 import state
            subcommands.add_dnf5_persist_arguments(p, state.SYSTEM_STATE_DIR)
        else:
            subcommands.add_subcommand_arguments(p, command)
            subcommands.add_global_options(p, after_subcommand=True)
    return parser


OWN_CONFIG = ("imgbased-update", "dnf5-capture", "dnf5-persist")
# The subcommands that start createrepo_c's helper process first
# (persistrepo.store.createrepo_process): it loads createrepo_c meanwhile.
CREATEREPO_HELPED = ("add",)


def store_from_args(args):
    from persistrepo.store.store import Store
    if args.store is not None:
        return Store(args.store)
    from persistrepo import config
    return Store(config.load(args.config).persist_dir)


def run():
    """The command's process (bin/persistrepo, python -m persistrepo): main,
    then an end without Python's teardown, which freed the index and the
    chunks object by object and took as long as a write's fsyncs (8 ms at
    1,000 packages). By then every file the command wrote is closed and its
    rpm databases too; only its own output waits in a buffer."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (IOError, OSError):
        sys.exit(code)  # the usual end, which reports what was lost
    os._exit(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except _FullParserNeeded:
        args = build_parser().parse_args(argv)
    from persistrepo.compat import stdlib
    stdlib.open_missing_standard_streams()
    from persistrepo.store import createrepo_process
    try:
        with createrepo_process.helping(args.command in CREATEREPO_HELPED):
            import rpm
            rpm.setVerbosity(rpm.RPMLOG_CRIT)
            # these read the config and report its errors themselves
            store = None if args.command in OWN_CONFIG else store_from_args(args)
            return args.func(store, args)
    except PersistError as e:
        stdlib.write_text(sys.stderr, "persistrepo: error: %s\n" % e)
        return e.exit_code
    except (OSError, IOError) as e:
        hint = " (run as root)" if e.errno in (errno.EACCES, errno.EPERM) and \
            os.geteuid() != 0 else ""
        stdlib.write_text(sys.stderr, "persistrepo: error: %s%s; nothing persisted was "
                          "lost\n" % (os_error_message(e), hint))
        return EXIT_FAILED
    except KeyboardInterrupt:
        stdlib.write_text(sys.stderr, "persistrepo: interrupted\n")
        return 128 + signal.SIGINT
