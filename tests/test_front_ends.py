"""Every front end takes each subcommand's options from the one definition,
persistrepo.front.subcommands: `persistrepo`, `dnf persist`, `dnf5 persist` and
`yum persist` cannot drift apart. The plugin front ends are run for real in
test_dnf_plugin, test_dnf5 and test_yum_plugin (`*_takes_the_options_*`);
here, the definition itself and the persistrepo command."""

import argparse

import pytest

from persistrepo import cli
from persistrepo.front import subcommands


def long_options(parser):
    return set(s for a in parser._actions for s in a.option_strings if s.startswith("--"))


def persistrepo_subparsers():
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


@pytest.mark.parametrize("sub", [s for s in subcommands.offered("persistrepo")
                                 if s.name != "dnf5-persist"], ids=lambda s: s.name)
def test_persistrepo_takes_each_subcommand_s_options_and_the_global_ones(sub):
    parser = persistrepo_subparsers()[sub.name]
    assert long_options(parser) == set(o.long for o in sub.options_for("persistrepo")) | \
        {"--store", "--config", "--help"}


def test_every_subcommand_has_its_handler():
    """A new subcommand is a table entry plus cmd_NAME in cli.py."""
    assert set(persistrepo_subparsers()) == set(s.name for s in subcommands.offered("persistrepo"))


@pytest.mark.parametrize("front", subcommands.PLUGINS)
def test_a_subcommand_takes_the_same_options_on_every_front_end_that_offers_it(front):
    """Where a plugin front end offers a subcommand, it takes persistrepo's
    options for it, but for those the table says persistrepo alone has
    (add's FILE options; the ones dnf and yum have of their own: -y,
    --installroot)."""
    own = {"--reason", "--origin", "--key", "--assumeyes", "--installroot"}
    for sub in subcommands.offered(front):
        ours = set(o.long for o in sub.options_for("persistrepo"))
        theirs = set(o.long for o in sub.options_for(front))
        if (front, sub.name) == ("yum", "status"):
            # yum's status is the cheap one (docs/el7.md): no image, no JSON
            assert theirs == set()
            continue
        assert theirs <= ours and ours - theirs <= own, (front, sub.name)
    # the store option, before or after the subcommand
    assert "--store" in subcommands.plugin_options(front)


def test_the_dnf5_plugin_header_lists_dnf5_s_options():
    header = subcommands.cpp_header()
    for long, option in subcommands.plugin_options("dnf5").items():
        assert '{"%s", %s,' % (long[2:], "true" if option.takes_value else "false") in header
    for sub in subcommands.offered("dnf5"):
        assert '    "%s",' % sub.name in header


def test_plugin_words_are_held_to_their_subcommand():
    args = subcommands.parse_plugin_words("yum", ["remove", "--dry-run", "tool"])
    assert (args.subcommand, args.specs, args.dry_run) == ("remove", ["tool"], True)
    with pytest.raises(subcommands.WordsError, match="--dry-run goes with remove"):
        subcommands.parse_plugin_words("yum", ["list", "--dry-run"])
    with pytest.raises(subcommands.WordsError, match="give at least one package spec"):
        subcommands.parse_plugin_words("yum", ["remove"])
    with pytest.raises(subcommands.WordsError, match="takes no package spec"):
        subcommands.parse_plugin_words("yum", ["status", "tool"])
