"""The subcommands and their options, defined once for every front end:
`persistrepo`, `dnf persist`, `dnf5 persist` and `yum persist`.

Each front end builds its parser from SUBCOMMANDS (add_options), so a
subcommand takes the same options wherever it is offered; FRONT_ENDS says
where. Path options are made absolute against the working directory once,
as they are parsed (`resolved_path`), so a relative path means the same
everywhere. The dnf5 command plugin (C++) registers the options that
`cpp_header` writes at build time and hands them all to
`persistrepo dnf5-persist`, which parses them here.

A new subcommand is one Subcommand entry below plus its `cmd_NAME`
function in persistrepo/cli.py.

Standard library only, Python 2.7 compatible (yum imports it; the plugin
build runs it as a script).
"""

import argparse
import os
import sys

FRONT_ENDS = ("persistrepo", "dnf", "dnf5", "yum")
# The front ends that are dnf (or yum) subcommands: `dnf persist ...`.
PLUGINS = ("dnf", "dnf5", "yum")


def resolved_path(text):
    """An argparse type: the path made absolute against the working
    directory (an empty one stays empty, for its consumer to refuse: it is
    not the working directory)."""
    return os.path.abspath(text) if text else text


def count(text):
    """An argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


class Option(object):
    """One option: its flags, argparse keywords, and the front ends that
    take it (default: all that offer the subcommand). path: a file or
    directory, resolved against the working directory at parse time."""

    def __init__(self, flags, help, path=False, fronts=FRONT_ENDS, **kwargs):
        self.flags = tuple(flags) if isinstance(flags, (tuple, list)) else (flags,)
        self.help = help
        self.path = path
        self.fronts = fronts
        self.kwargs = kwargs
        if path:
            kwargs["type"] = resolved_path

    @property
    def long(self):
        return [f for f in self.flags if f.startswith("--")][0]

    @property
    def dest(self):
        return self.kwargs.get("dest") or self.long[2:].replace("-", "_")

    @property
    def takes_value(self):
        return self.kwargs.get("action") not in ("store_true", "store_false")

    def add_to(self, parser, **override):
        kwargs = dict(self.kwargs, help=self.help)
        kwargs.update(override)
        parser.add_argument(*self.flags, **kwargs)


class Subcommand(object):
    """A subcommand: its help, its positional arguments per front end
    ((dest, nargs, metavar, help); a plugin front end has one list of
    words, SPEC), its options and the front ends that offer it."""

    def __init__(self, name, help, options=(), fronts=("persistrepo",), positional=None,
                 plugin_specs=None):
        self.name = name
        self.help = help
        self.options = list(options)
        self.fronts = fronts
        self.positional = positional
        # nargs of the SPEC words under `dnf persist NAME`: "+", "*" or None
        self.plugin_specs = plugin_specs

    def options_for(self, front):
        return [o for o in self.options if front in o.fronts]


STORE = Option("--store", "the store directory (default: persist_dir from the config)",
               path=True, metavar="DIR")
CONFIG = Option("--config", "read persist_dir from FILE instead of the dnf plugin's "
                "persist_rpm.conf", path=True, metavar="FILE", fronts=("persistrepo",))
# Global options: before or after the subcommand. The plugins' --config is
# dnf's own (its main config); their plugin config comes from pluginconfpath.
GLOBAL = (STORE, CONFIG)

SPEC_HELP = "name, name-version, NEVRA, name.arch or a glob"


def _json(fronts=FRONT_ENDS):
    return Option("--json", "print JSON (the stable documents of docs/store-format.md and "
                  "dnf-persist(8))", action="store_true", fronts=fronts)


def _dropping():
    return [Option("--dry-run", "say what would go, change nothing", action="store_true"),
            # dnf and yum have their own -y
            Option(("-y", "--assumeyes"), "do not ask, even when several packages would go",
                   action="store_true", fronts=("persistrepo",))]


def _installroot(help, **kwargs):
    # The plugins take dnf's (or yum's) own --installroot.
    return Option("--installroot", help, path=True, metavar="DIR", fronts=("persistrepo",),
                  **kwargs)


def _fleet_options(dry_run_help):
    return [Option("--server", "the Pulp server (default: server in [fleet] of the config)",
                   metavar="URL"),
            Option("--repository", "the repository (default: from [fleet], else "
                   "persistrepo-HOST)", metavar="NAME"),
            Option("--dry-run", dry_run_help, action="store_true")]


SUBCOMMANDS = [
    Subcommand("add", "persist RPM files (dnf persist: installed packages)", [
        Option("--reason", "why it is persisted (default: user)", choices=("user", "dependency"),
               default="user", fronts=("persistrepo",)),
        Option("--origin", "record where the file came from", metavar="REPO",
               fronts=("persistrepo",)),
        Option("--key", "the signer's ASCII-armored public key, kept for replay", path=True,
               metavar="KEYFILE", fronts=("persistrepo",)),
    ], fronts=("persistrepo", "dnf", "dnf5"),
        positional=("files", "+", "FILE", "RPM files"), plugin_specs="+"),
    Subcommand("remove", "drop packages from the store", _dropping(),
               fronts=FRONT_ENDS, positional=("specs", "+", "SPEC", SPEC_HELP),
               plugin_specs="+"),
    Subcommand("restore", "put back packages that were removed",
               positional=("specs", "+", "SPEC", SPEC_HELP)),
    Subcommand("list", "show persisted packages", [
        _json(),
        Option("--removed", "show the removed packages 'restore' can put back",
               action="store_true"),
    ], fronts=FRONT_ENDS, positional=("patterns", "*", "PATTERN",
                                      "only these: name, name.arch, NEVRA or a glob"),
        plugin_specs="*"),
    Subcommand("prune", "drop older versions", [
        Option("--keep", "versions to keep of each name.arch (default: 1)", type=count,
               default=1, metavar="N"),
        Option("--installonly-keep", "versions to keep of installonly packages such as "
               "kernels (default: 3)", type=count, default=3, metavar="N"),
    ] + _dropping()),
    Subcommand("verify", "check files, checksums, signatures, metadata and what replay "
               "would refuse", [_json()],
               fronts=("persistrepo", "dnf", "dnf5")),
    Subcommand("refresh", "rebuild metadata and provenance from the files", [
        Option("--adopt", "turn a directory that is not a store yet into one",
               action="store_true"),
    ]),
    Subcommand("status", "show what the next image upgrade would lose (exit 100)", [
        # yum persist status is the cheap one (commands.pending, docs/el7.md):
        # neither JSON nor an image.
        _json(fronts=("persistrepo", "dnf", "dnf5")),
        Option("--image-manifest", "the image's packages, one NEVRA per line (as rpm -qa or "
               "dnf repoquery print them)", path=True, metavar="FILE",
               fronts=("persistrepo", "dnf", "dnf5")),
        Option("--image-root", "a mounted or unpacked image whose rpmdb lists its packages",
               path=True, metavar="DIR", fronts=("persistrepo", "dnf", "dnf5")),
        _installroot("the root whose installed packages are checked (default: /)",
                     default="/"),
    ], fronts=FRONT_ENDS),
    Subcommand("ingest", "take in packages the yum plugin queued", [
        _installroot("the root whose rpmdb has the signing keys (default: /)", default="/"),
    ]),
    Subcommand("replay", "install the persisted packages into a new image root", [
        _installroot("the unpacked new image root", required=True),
        Option("--dry-run", "print the plan, change nothing", action="store_true"),
        _json(),
        Option("--skip-broken", "install what can be installed, report the rest (exit 4)",
               action="store_true"),
        Option("--enablerepo", "also resolve from this repo of the new root's own config",
               action="append", default=[], metavar="ID"),
        Option("--exclude", "leave the persisted packages SPEC matches out of this run",
               action="append", default=[], metavar="SPEC"),
        Option("--allow-running-root", "allow --installroot / (the running system)",
               action="store_true"),
    ]),
    Subcommand("import-imgbased", "turn off imgbased-persist and take over its store", [
        Option("--from", "imgbased-persist's store (default: its own)", path=True,
               dest="source", metavar="DIR"),
        Option("--imgbased-conf", "imgbased-persist's configuration, where enabled=1 becomes "
               "enabled=0 (default: its own)", path=True, metavar="FILE"),
        _installroot("the root whose rpmdb has the signing keys (default: /)", default="/"),
        Option("--no-import", "only turn off imgbased-persist's capture", action="store_true"),
        Option("--if-present", "say nothing when imgbased-persist's store has no RPM (run "
               "before each image update by persistrepo-imgbased)", action="store_true"),
    ]),
    Subcommand("imgbased-update", "replay into the layer an image-update package just made "
               "(run by persistrepo-imgbased's trigger)", [
                   Option("--before", "record the newest layer before the image-update "
                          "package is installed (run by persistrepo-imgbased's "
                          "%%triggerprein)", action="store_true"),
                   Option("--layer", "replay into this layer, which an image update made "
                          "but which did not get the packages (persistrepo status names it)"),
                   Option("--finish", "once the transaction ended, replay into the layer "
                          "its image update made what it persisted (run by the dnf plugin)",
                          action="store_true"),
               ]),
    Subcommand("export", "write the store as a Containerfile build context, a kickstart or "
               "a JSON manifest, for image mode", [
                   Option("--format", "what to write (default: containerfile)",
                          choices=("containerfile", "kickstart", "json"),
                          default="containerfile"),
                   Option("--from", "the base image (default on a bootc host: the booted "
                          "image, by digest)", dest="base_image", metavar="IMAGE"),
                   Option("--image-root", "the base image's root, mounted: install exactly "
                          "what replay would", path=True, metavar="DIR"),
                   Option("--enablerepo", "also let the build use this repo of the base image "
                          "(not offline)", action="append", default=[], metavar="ID"),
                   Option("--exclude", "leave the persisted packages SPEC matches out",
                          action="append", default=[], metavar="SPEC"),
                   Option("--baseurl", "kickstart: where DIR will be served (default: "
                          "file://DIR)", metavar="URL"),
               ], positional=("directory", "?", "DIR",
                              "the new build context (containerfile, kickstart)")),
    Subcommand("push", "make a Pulp repository mirror the store (docs/fleet.md)",
               _fleet_options("say what would be added and removed, change nothing")),
    Subcommand("pull", "fill the store from a Pulp repository (docs/fleet.md)",
               _fleet_options("say what would be added, change nothing")),
    Subcommand("dnf5-capture", "capture a dnf5 transaction (run by libdnf5's actions plugin "
               "in mode=json, see docs/dnf5.md)"),
    Subcommand("dnf5-persist", "'dnf5 persist' (run by its dnf5 command plugin, see "
               "docs/dnf5.md)"),
]

BY_NAME = dict((s.name, s) for s in SUBCOMMANDS)


def offered(front):
    """The subcommands front offers, in order."""
    return [s for s in SUBCOMMANDS if front in s.fronts]


def add_global_options(parser, after_subcommand=False):
    """--store and --config; after the subcommand they must not reset what
    was given before it."""
    for option in GLOBAL:
        if after_subcommand:
            option.add_to(parser, default=argparse.SUPPRESS)
        else:
            option.add_to(parser)


def add_subcommand_arguments(parser, sub, front="persistrepo"):
    """The positional arguments and options of sub under front."""
    if sub.positional:
        dest, nargs, metavar, help = sub.positional
        parser.add_argument(dest, nargs=nargs, metavar=metavar, help=help)
    for option in sub.options_for(front):
        option.add_to(parser)


def add_plugin_arguments(parser, front):
    """`dnf persist [SUBCOMMAND] [SPEC...] [OPTIONS]` of front ("dnf",
    "dnf5" or "yum"): one parser for all its subcommands (dnf commands have
    no subparsers); check_plugin_args then holds each option to its
    subcommands."""
    _plugin_words(parser, front)
    _plugin_options(parser, front)


def add_dnf5_persist_arguments(parser, state_dir):
    """`persistrepo dnf5-persist`: dnf5 persist's words and options, as its
    command plugin forwards them, and what the plugin adds itself (state_dir:
    libdnf5's default system state directory)."""
    add_plugin_arguments(parser, "dnf5")
    parser.add_argument("--installroot", metavar="DIR", default="/")
    parser.add_argument("--package", nargs=2, action="append", default=[],
                        metavar=("FILE", "REPO"))
    parser.add_argument("--unavailable", action="append", default=[], metavar="NEVRA")
    parser.add_argument("--cachedir", metavar="DIR")
    parser.add_argument("--state-dir", metavar="DIR", default=state_dir)


def _plugin_words(parser, front):
    names = [s.name for s in offered(front)]
    parser.add_argument("subcommand", nargs="?", default="list", choices=names,
                        metavar="{%s}" % ",".join(names), help="what to do (default: list)")
    parser.add_argument("specs", nargs="*", metavar="SPEC",
                        help="add: installed packages; remove, list: persisted packages")


def _plugin_options(parser, front):
    for long, option in sorted(plugin_options(front).items()):
        # --store: under `persistrepo dnf5-persist` it must not reset the global one
        option.add_to(parser, help=plugin_help(front, option),
                      default=argparse.SUPPRESS if option is STORE
                      else None if option.takes_value else False)


class WordsError(Exception):
    """Words a plugin front end cannot parse, as one line."""


class _QuietParser(argparse.ArgumentParser):
    def error(self, message):
        raise WordsError(message)


def parse_plugin_words(front, words):
    """The args of `yum persist WORDS` (a front end that hands over raw
    words); WordsError for words it does not take."""
    # As dnf parses a command's words: the options anywhere, then the rest.
    options = _QuietParser(prog="%s persist" % front, add_help=False)
    _plugin_options(options, front)
    args, rest = options.parse_known_args(words)
    positional = _QuietParser(prog="%s persist" % front, add_help=False)
    _plugin_words(positional, front)
    args = positional.parse_args(rest, args)
    problem = check_plugin_args(front, args)
    if problem:
        raise WordsError(problem)
    return args


def plugin_options(front):
    """{long flag: Option} of every option front's `persist` takes."""
    found = {STORE.long: STORE}
    for s in offered(front):
        for o in s.options_for(front):
            found.setdefault(o.long, o)
    return found


def _users(front, long):
    return [s.name for s in offered(front) if long in [o.long for o in s.options_for(front)]]


def plugin_help(front, option):
    """The option's help under front's `persist`, naming its subcommands."""
    users = _users(front, option.long)
    return "%s: %s" % (", ".join(users), option.help) if users else option.help


def check_plugin_args(front, args):
    """A one-line complaint when args (from add_plugin_arguments) give a
    subcommand what it does not take, else None."""
    sub = BY_NAME[args.subcommand]
    prog = "%s persist %s" % (front, sub.name)
    if sub.plugin_specs == "+" and not args.specs:
        return "%s: give at least one package spec" % prog
    if sub.plugin_specs is None and args.specs:
        return "%s takes no package spec" % prog
    takes = set(o.long for o in sub.options_for(front)) | set([STORE.long])
    for long, option in sorted(plugin_options(front).items()):
        value = getattr(args, option.dest, None)
        if long not in takes and value not in (None, False, []):
            return "%s goes with %s" % (long, " or ".join(_users(front, long)))
    return None


def cpp_header(front="dnf5"):
    """The C++ table the dnf5 command plugin registers (dnf5-plugin/build.sh)."""
    def quote(text):
        return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
    lines = ["// Generated by persistrepo/front/subcommands.py at build time; do not edit.",
             "#pragma once", "", "struct PersistOption {", "    const char * name;",
             "    bool has_value;", "    const char * metavar;", "    const char * help;",
             "};", "", "constexpr PersistOption PERSIST_OPTIONS[]{"]
    for long, option in sorted(plugin_options(front).items()):
        lines.append("    {%s, %s, %s, %s}," % (
            quote(long[2:]), "true" if option.takes_value else "false",
            quote(option.kwargs.get("metavar") or ""), quote(plugin_help(front, option))))
    lines += ["};", "", "constexpr const char * PERSIST_SUBCOMMANDS[]{"]
    lines += ["    %s," % quote(s.name) for s in offered(front)]
    lines += ["};", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] != ["--cpp-header"]:
        sys.exit("usage: subcommands.py --cpp-header")
    sys.stdout.write(cpp_header())
