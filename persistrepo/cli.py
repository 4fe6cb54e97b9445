"""The persistrepo command (also `python3 -m persistrepo`).

Options and exit codes are documented in persistrepo(8), docs/man/persistrepo.8.rst.
"""

import argparse
import errno
import os
import signal
import sys

import persistrepo
from persistrepo import commands, compat, config, listing, pgp
from persistrepo.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PersistError, UsageError
from persistrepo.store import Candidate, Store


def _say(msg):
    """Print a line; a reader that went away (`| head`) is not an error."""
    try:
        compat.write_text(sys.stdout, msg + "\n")
        sys.stdout.flush()
    except (IOError, OSError) as e:
        if e.errno != errno.EPIPE:
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _warn(msg):
    compat.write_text(sys.stderr, "persistrepo: %s\n" % msg)


def _confirm(verb, entries, args):
    """Ask as dnf does when more than one package would go and stdin is a
    terminal (not with -y); True to go ahead."""
    if len(entries) < 2 or args.assumeyes or not sys.stdin.isatty():
        return True
    for e in entries:
        _say("  %s" % e["nevra"])
    compat.write_text(sys.stdout, commands.question(entries, verb))
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    _say("Operation aborted.")
    return False


def _emit(printed):
    """Print what a shared command (persistrepo.commands) says; its exit code."""
    for line in printed.lines:
        _say(line)
    for warning in printed.warnings:
        _warn("warning: " + warning)
    for error in printed.errors:
        _warn(error)
    return printed.exit_code


def cmd_add(store, args):
    key = _read_key(args.key) if args.key else None
    return _emit(commands.add(store.layout.root, "/", [
        Candidate(os.path.abspath(p), method="cli", origin=args.origin, reason=args.reason)
        for p in args.files], key))


def _read_key(path):
    """The armored public key block in path, or a UsageError naming it."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii")
        pgp.key_ids(text)
    except (IOError, OSError, UnicodeDecodeError, pgp.BadKey) as e:
        raise UsageError("--key %s: not a readable ASCII-armored public key (%s)"
                         % (path, getattr(e, "strerror", None) or e))
    return text


def _drop(store, chosen, verb, args):
    """The end of remove and prune: dry run, question, removal."""
    if args.dry_run:
        return _emit(commands.would_drop(chosen, verb))
    if not _confirm(verb, chosen, args):
        return EXIT_FAILED
    return _emit(commands.drop(store.layout.root, chosen, verb=verb))


def cmd_remove(store, args):
    return _drop(store, commands.dropping(store.layout.root, args.specs), "remove", args)


def cmd_prune(store, args):
    return _drop(store, commands.dropping(store.layout.root, prune=(
        args.keep, args.installonly_keep)), "prune", args)


def cmd_restore(store, args):
    for e in store.restore(args.specs):
        _say("restored %s (%s, persisted %s)" % (e["nevra"], e["method"], e["persisted_at"]))
    return EXIT_OK


def cmd_list(store, args):
    return _emit(commands.list_packages(store.layout.root, args.patterns, args.json,
                                        args.removed))


def cmd_verify(store, args):
    return _emit(commands.verify(store.layout.root, args.json))


def cmd_refresh(store, args):
    report = store.refresh(adopt=args.adopt)
    if report["repodata_kept"]:
        _say("kept the old repodata as %s" % report["repodata_kept"])
    for e in report["adopted"]:
        _say("adopted %s (provenance unknown)" % e["nevra"])
    for e in report["dropped"]:
        _say("forgot %s (file is gone)" % e["nevra"])
    for name, why, where in report["quarantined"]:
        _say("set aside %s as %s: %s" % (name, where, why))
    for warning in store.warnings:
        compat.write_text(sys.stderr, "persistrepo: warning: %s\n" % warning)
    _say("refreshed %s: %s" % (store.layout.root,
                                listing.count(len(store.entries()), "package")))
    return EXIT_FAILED if report["quarantined"] or store.warnings else EXIT_OK


def cmd_status(store, args):
    settings = config.load(args.config)
    store_path = settings.store_path(args.installroot) \
        if not args.store and args.installroot != "/" else store.layout.root
    return _emit(commands.status(settings, args.installroot, args.image_manifest,
                                 args.image_root, args.json, store_path=store_path))


def cmd_ingest(store, args):
    result = store.ingest()
    for e in result.added:
        _say("persisted %s" % e["nevra"])
    for _, err in result.failed:
        compat.write_text(sys.stderr, "persistrepo: error: %s\n" % err)
    for key_id in store.keep_signing_keys(args.installroot):
        compat.write_text(sys.stderr, "persistrepo: warning: no public key %s in the rpmdb "
                          "of %s\n" % (key_id, args.installroot))
    return EXIT_FAILED if result.failed else EXIT_OK


def cmd_replay(store, args):
    try:
        from persistrepo.replay import replay, report
    except ImportError as e:  # EL7's python2 build has no dnf
        raise PersistError("replay needs the dnf Python API (python3-dnf): %s" % e)
    if args.replay_store:
        store = Store(args.replay_store)
    result = replay(args.installroot, store, dry_run=args.dry_run,
                    skip_broken=args.skip_broken, enablerepos=args.enablerepo,
                    exclude=args.exclude, allow_running_root=args.allow_running_root)
    _say(report.to_json(result) if args.json else report.text(result))
    sys.stdout.flush()
    for item in result.broken:
        compat.write_text(sys.stderr, "persistrepo: error: cannot replay %s: %s\n"
                          % (item.nevra, item.reason))
    return result.exit_code


def cmd_export(store, args):
    from persistrepo.export import command
    return _emit(command.run(store, args))


def add_export_parser(sub):
    """The export subcommand (docs/image-mode.md)."""
    from persistrepo.export import command
    p = sub.add_parser("export", help="write the store as a Containerfile build context, a "
                       "kickstart or a JSON manifest, for image mode")
    command.add_arguments(p)
    p.set_defaults(func=cmd_export)


def cmd_import_imgbased(store, args):
    from persistrepo import imgbased
    if imgbased.disable_imgbased_persist(args.imgbased_conf):
        _say("turned off imgbased-persist's capture in %s" % args.imgbased_conf)
    if args.no_import:
        return EXIT_OK
    result, missing = imgbased.import_imgbased(store, args.source, args.installroot)
    if result is None:
        _say("nothing to import: no RPM in %s" % args.source)
        return EXIT_OK
    for e in result.added + result.replaced:
        _say("persisted %s" % e["nevra"])
    for e in result.unchanged:
        _say("already persisted %s" % e["nevra"])
    for key_id in missing:
        _warn("warning: no public key %s in the rpmdb of %s; replay will refuse the "
              "packages it signed" % (key_id, args.installroot))
    _say("imported %s from %s and removed them there"
         % (listing.count(len(result.added + result.replaced + result.unchanged), "package"),
            args.source))
    return EXIT_OK


def cmd_dnf5_capture(store, args):
    from persistrepo import dnf5_capture
    try:
        settings = config.load(args.config)
    except PersistError as e:  # say it as the dnf plugin does; dnf5 goes on
        compat.write_text(sys.stderr, "%s: error: %s; packages will not be persisted\n"
                          % (dnf5_capture.PREFIX, e))
        return EXIT_FAILED
    return dnf5_capture.run(settings)


def cmd_dnf5_persist(store, args):
    from persistrepo import dnf5_persist
    return dnf5_persist.run(args)


def count(text):
    """An argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _dropping_options(p):
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    p.add_argument("-y", "--assumeyes", action="store_true",
                   help="do not ask, even when several packages would go")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="persistrepo",
        description="Keep the RPMs installed on an image-based host across image upgrades.")
    parser.add_argument("--version", action="version", version=persistrepo.__version__)
    parser.add_argument("--store", metavar="DIR",
                        help="the store directory (default: persist_dir from the config)")
    parser.add_argument("--config", metavar="FILE",
                        help="read persist_dir from FILE instead of %s" % config.DNF_CONF)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("add", help="persist RPM files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--reason", choices=("user", "dependency"), default="user",
                   help="why it is persisted (default: user)")
    p.add_argument("--origin", metavar="REPO", help="record where the file came from")
    p.add_argument("--key", metavar="KEYFILE",
                   help="the signer's ASCII-armored public key, kept for replay")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="drop packages from the store")
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="name, name-version, NEVRA, name.arch or a glob")
    _dropping_options(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("restore", help="put back packages that were removed")
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="name, name-version, NEVRA, name.arch or a glob")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("list", help="show persisted packages")
    p.add_argument("patterns", nargs="*", metavar="PATTERN",
                   help="only these: name, name.arch, NEVRA or a glob")
    p.add_argument("--json", action="store_true", help="print the stable JSON array")
    p.add_argument("--removed", action="store_true",
                   help="show the removed packages 'restore' can put back")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("prune", help="drop older versions")
    p.add_argument("--keep", type=count, default=1, metavar="N",
                   help="versions to keep of each name.arch (default: 1)")
    p.add_argument("--installonly-keep", type=count, default=3, metavar="N",
                   help="versions to keep of installonly packages such as kernels (default: 3)")
    _dropping_options(p)
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("verify", help="check files, checksums, signatures and metadata")
    p.add_argument("--json", action="store_true", help="print the stable JSON document")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("refresh", help="rebuild metadata and provenance from the files")
    p.add_argument("--adopt", action="store_true",
                   help="turn a directory that is not a store yet into one")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("status", help="show what the next image upgrade would lose (exit 100)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--image-manifest", metavar="FILE",
                   help="the image's packages, one NEVRA per line (e.g. rpm -qa on the image)")
    p.add_argument("--image-root", metavar="DIR",
                   help="a mounted or unpacked image whose rpmdb lists its packages")
    p.add_argument("--installroot", metavar="DIR", default="/",
                   help="the root whose installed packages are checked (default: /)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("ingest", help="take in packages the yum plugin queued")
    p.add_argument("--installroot", metavar="DIR", default="/",
                   help="the root whose rpmdb has the signing keys (default: /)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("replay", help="install the persisted packages into a new image root")
    p.add_argument("--installroot", metavar="DIR", required=True,
                   help="the unpacked new image root")
    p.add_argument("--store", dest="replay_store", metavar="DIR",
                   help="the store to replay (default: the global --store or persist_dir)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--json", action="store_true", help="print the plan and result as JSON")
    p.add_argument("--skip-broken", action="store_true",
                   help="install what can be installed, report the rest (exit 4)")
    p.add_argument("--enablerepo", action="append", default=[], metavar="ID",
                   help="also resolve from this repo of the new root's own config")
    p.add_argument("--exclude", action="append", default=[], metavar="SPEC",
                   help="leave the persisted packages SPEC matches out of this run")
    p.add_argument("--allow-running-root", action="store_true",
                   help="allow --installroot / (the running system)")
    p.set_defaults(func=cmd_replay)

    add_export_parser(sub)

    p = sub.add_parser("import-imgbased", help="turn off imgbased-persist and take over "
                       "its store")
    from persistrepo.imgbased import IMGBASED_PERSIST_CONF, IMGBASED_STORE
    p.add_argument("--from", dest="source", metavar="DIR", default=IMGBASED_STORE,
                   help="imgbased-persist's store (default: %s)" % IMGBASED_STORE)
    p.add_argument("--imgbased-conf", metavar="FILE", default=IMGBASED_PERSIST_CONF,
                   help="imgbased-persist's configuration, where enabled=1 becomes enabled=0")
    p.add_argument("--installroot", metavar="DIR", default="/",
                   help="the root whose rpmdb has the signing keys (default: /)")
    p.add_argument("--no-import", action="store_true",
                   help="only turn off imgbased-persist's capture")
    p.set_defaults(func=cmd_import_imgbased)

    p = sub.add_parser("dnf5-capture", help="capture a dnf5 transaction (run by libdnf5's "
                       "actions plugin in mode=json, see docs/dnf5.md)")
    p.set_defaults(func=cmd_dnf5_capture, own_config=True)

    p = sub.add_parser("dnf5-persist", help="'dnf5 persist' (run by its dnf5 command "
                       "plugin, see docs/dnf5.md)")
    from persistrepo.dnf5_persist import add_arguments
    add_arguments(p)
    p.set_defaults(func=cmd_dnf5_persist, own_config=True)
    return parser


def store_from_args(args):
    path = config.load(args.config).persist_dir if args.store is None else args.store
    return Store(path)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import rpm
        rpm.setVerbosity(rpm.RPMLOG_CRIT)
        # dnf5-capture and dnf5-persist read the config and report its errors themselves
        store = None if getattr(args, "own_config", False) else store_from_args(args)
        return args.func(store, args)
    except PersistError as e:
        compat.write_text(sys.stderr, "persistrepo: error: %s\n" % e)
        return e.exit_code
    except (OSError, IOError) as e:
        where = getattr(e, "filename", None)
        hint = " (run as root)" if e.errno in (errno.EACCES, errno.EPERM) and \
            os.geteuid() != 0 else ""
        compat.write_text(sys.stderr, "persistrepo: error: %s%s%s; nothing persisted was "
                          "lost\n" % (where + ": " if where else "", e.strerror or e, hint))
        return EXIT_FAILED
    except KeyboardInterrupt:
        compat.write_text(sys.stderr, "persistrepo: interrupted\n")
        return 128 + signal.SIGINT
