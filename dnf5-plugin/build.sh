#!/bin/sh
# Build the dnf5 command plugin (docs/dnf5.md):
#   dnf5-plugin/build.sh OUTPUT.so [PERSISTREPO_COMMAND]
# Needs g++ (C++20) and the dnf5, libdnf5 and libdnf5-cli headers (Fedora:
# dnf5-devel; Debian: dnf5-dev). PERSISTREPO_COMMAND, the command the plugin
# runs, defaults to /usr/bin/persistrepo. CXX, CXXFLAGS and LDFLAGS are used.
# The options it registers are generated from persistrepo/front/subcommands.py.
set -eu
out=$1
cmd=${2:-/usr/bin/persistrepo}
here=$(dirname "$0")
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
${PYTHON:-python3} "$here/../persistrepo/front/subcommands.py" --cpp-header >"$generated/persist_options.hpp"
# The dnf5 symbols (Command, Context) come from the dnf5 executable at load time.
# shellcheck disable=SC2086
${CXX:-g++} -std=c++20 -shared -fPIC -Wall -Wextra ${CXXFLAGS:--O2 -g} ${LDFLAGS:-} \
    -DPERSISTREPO_COMMAND="\"$cmd\"" -I"$generated" $(pkg-config --cflags libdnf5 libdnf5-cli) \
    -o "$out" "$here/persist_cmd_plugin.cpp" $(pkg-config --libs libdnf5 libdnf5-cli)
