"""Capture under dnf5: `persistrepo dnf5-capture`, run once per transaction by
libdnf5's actions plugin (conf/dnf5/persistrepo.actions, docs/dnf5.md).

It asks the plugin for the transaction's packages, keeps those the rpmdb
shows as really installed or removed (the plugin runs actions after a failed
transaction too), finds each file where dnf5 left it (its package cache
before keepcache=0 cleans it, a local repository, or the command line's
path), takes the reasons from dnf5's packages.toml and the module stream of
each package from its modules.toml and the repos' cached module metadata
(persistrepo.dnf5.stream_reader), and hands the facts to
persistrepo.capture.capture, like the dnf 4 plugin. Messages go to stderr;
stdout belongs to the plugin's protocol. Python 3.6 compatible.
"""

import os
import sys

from persistrepo.capture import capture
from persistrepo.compat import rpmdb, stdlib
from persistrepo.dnf5 import state, stream_reader
from persistrepo.dnf5.actions import Channel
from persistrepo.store import failures, record
from persistrepo.streams import artifact

PREFIX = "persist_rpm"
_ARRIVING = ("I", "U", "D", "R")


def fix_command(installroot):
    return capture.fix_template("dnf5", installroot)


def _nevra(p):
    return record.nevra(p["name"], int(p.get("epoch") or 0), p["version"], p["release"],
                        p["arch"])


def _local_baseurl_path(channel, repo_id, location):
    try:
        urls = channel.conf("%s.baseurl" % repo_id)
    except Exception:
        return None
    for url in (urls or "").split(","):
        url = url.strip()
        if url.startswith("file://"):
            path = os.path.join(url[len("file://"):], location)
            if os.path.isfile(path):
                return path
    return None


def package_file(channel, cachedir, pkg):
    """Where dnf5 has pkg's file right now (a path that may not exist, so that
    capture reports it, when it is nowhere)."""
    location = pkg.get("location") or ""
    if os.path.isabs(location):
        return location
    base = os.path.basename(location)
    try:
        cached = sorted(os.listdir(cachedir))
    except OSError:
        cached = []
    prefix = pkg["repo_id"] + "-"
    for d in cached:  # <repo id>-<hash>: dnf5's cache directory of the repo
        path = os.path.join(cachedir, d, "packages", base)
        if d.startswith(prefix) and "-" not in d[len(prefix):] and os.path.isfile(path):
            return path
    return _local_baseurl_path(channel, pkg["repo_id"], location) or \
        os.path.join(cachedir, pkg["repo_id"], "packages", base)


def _artifact(p):
    return artifact(p["name"], p.get("epoch"), p["version"], p["release"], p["arch"])


def facts(channel, trans, installroot, cachedir, state_dir, notes=None):
    """Installed and Erased facts of a finished dnf5 transaction; what could
    not be known (a module stream) is said in notes."""
    notes = [] if notes is None else notes
    on_system = set(p["nevra"] for p in rpmdb.rpmdb_packages(installroot))
    why = state.reasons(state.packages_toml(installroot, state_dir))
    arriving = set(p["name"] for p in trans if p.get("action") in _ARRIVING)
    try:
        streams = stream_reader.enabled_artifacts(
            installroot, cachedir, state_dir, notes,
            wanted=set(_artifact(p) for p in trans if p.get("action") in _ARRIVING)) \
            if arriving else {}
    except Exception as e:  # the packages are stored all the same, without a stream
        notes.append("cannot read the module streams (%s); no module stream is recorded"
                     % capture.describe(e))
        streams = {}
    installed, erased = [], []
    for p in trans:
        nevra = _nevra(p)
        action = p.get("action")
        if action in _ARRIVING and nevra in on_system:
            origin = record.COMMANDLINE if p["repo_id"] == "@commandline" else p["repo_id"]
            installed.append(capture.Installed(
                package_file(channel, cachedir, p), p["name"], nevra, origin,
                why.get("%s.%s" % (p["name"], p["arch"]), "unknown"),
                streams.get(_artifact(p))))
        elif (action == "E" or (action == "O" and p["name"] not in arriving)) \
                and nevra not in on_system:
            # Removed, or obsoleted by another name; an upgraded or downgraded
            # version stays until its successor is stored (supersede).
            erased.append(capture.Erased(p["name"], nevra))
    return installed, erased


def report(out, store_path, stream):
    for kind, line in out.lines(store_path):
        if kind != "detail":
            stream.write("%s: %s\n" % (PREFIX, line))
    stream.flush()


def run(settings, channel=None, stream=None):
    """Capture the transaction the actions plugin reports; returns an exit code
    (0, or 1 when the transaction could not be read). Never raises."""
    stream = stream or sys.stderr
    trans, installroot, notes = None, "/", []
    try:
        channel = channel or Channel()
        installroot = channel.conf("installroot") or "/"
        if installroot != "/" and not settings.capture_installroot:
            return 0
        trans = channel.transaction()
        if not trans:
            return 0
        cachedir = channel.conf("cachedir")
        state_dir = channel.conf("system_state_dir")
        installed, erased = facts(channel, trans, installroot, cachedir, state_dir, notes)
        channel.close()
    except Exception as e:  # reading the transaction must not break dnf5
        why = "cannot read the transaction (%s)" % capture.describe(e)
        named = _record_unread(settings, installroot, trans, why)
        stream.write("%s: error: %s; nothing was persisted%s; run 'dnf5 persist status'\n"
                     % (PREFIX, why, " (%s)" % ", ".join(named) if named else ""))
        return 1
    if not installed and not erased:
        return 0
    out = capture.capture(settings, installroot, installed, erased, method="dnf",
                          fix=fix_command(installroot))
    out.notes.extend(notes)
    report(out, settings.store_path(installroot), stream)
    return 0


def _record_unread(settings, installroot, trans, why):
    """Record each arriving package of a transaction that could not be read
    as a capture failure, so that status names it; the NEVRAs recorded."""
    named = []
    for p in trans if isinstance(trans, list) else []:
        try:
            if p.get("action") in _ARRIVING:
                named.append(_nevra(p))
        except Exception:  # a package the channel describes wrongly cannot be named
            continue
    if named:
        fix = fix_command(installroot)
        failures.record(failures.path_for(installroot),
                        [(n, why, fix.format(name=stdlib.shell_quote(n.rsplit("-", 2)[0])))
                         for n in named],
                        "dnf", settings.store_path(installroot))
    return named
