# persist_rpm.py
# Keep the packages dnf installs on an image-based host in a local store, so
# that they can be installed again into the next image (see dnf-persist(8)).
#
# Copyright (C) 2024 The persistrepo authors
#
# This program is free software; you can redistribute it and/or modify it
# under the terms of the GNU General Public License as published by the Free
# Software Foundation; either version 2 of the License, or (at your option)
# any later version.

"""dnf plugin persist_rpm: transparent capture plus `dnf persist`.

The plugin is thin: it turns dnf's finished transaction into the
Installed/Erased facts of persistrepo.capture.capture and prints the outcome; the
store library does the work. Nothing of persistrepo beyond its small config
module is imported until a transaction or a `dnf persist` subcommand needs
it (createrepo_c in particular). Python 3.6 compatible, dnf 4.7 or later.
"""

from __future__ import absolute_import, unicode_literals

import hashlib
import logging
import os
import sys

import dnf
import dnf.cli
import dnf.exceptions
import hawkey
import libdnf.transaction

logger = logging.getLogger("dnf.plugin")

PLUGIN_NAME = "persist_rpm"
KEYS = ("persist_dir", "exclude", "remove_on_erase", "capture_installroot", "ingest_command",
        "on_broken")

_T = libdnf.transaction
# Items whose package is on the system once the transaction is done.
_ARRIVING = (_T.TransactionItemAction_INSTALL, _T.TransactionItemAction_DOWNGRADE,
             _T.TransactionItemAction_OBSOLETE, _T.TransactionItemAction_UPGRADE,
             _T.TransactionItemAction_REINSTALL)
# Items whose package left the system. UPGRADED/DOWNGRADED are not here: the
# store's supersede drops the old version when the new one is captured, and
# keeps it if that capture failed (it is then still the best copy there is).
_LEAVING = (_T.TransactionItemAction_REMOVE, _T.TransactionItemAction_OBSOLETED)
_REASONS = {
    _T.TransactionItemReason_USER: "user",
    _T.TransactionItemReason_GROUP: "user",
    _T.TransactionItemReason_DEPENDENCY: "dependency",
    _T.TransactionItemReason_WEAK_DEPENDENCY: "dependency",
}


def _reason(value):
    return _REASONS.get(value, "unknown")


def _origin(pkg):
    if pkg.reponame == hawkey.CMDLINE_REPO_NAME:
        return "@commandline"
    return pkg.reponame


def _nevra(pkg):
    from persistrepo.capture.capture import nevra
    return nevra(pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch)


def _root(conf):
    return conf.installroot or "/"


def _fix_command(installroot):
    from persistrepo.capture.capture import fix_template
    return fix_template("dnf", installroot)


def read_settings(plugin_cls, base, cli):
    """persistrepo Settings from the plugin's config file, overridden by
    --setopt=persist_rpm.KEY=VALUE (which replaces the file's value; several
    --setopt for exclude are joined)."""
    from persistrepo.config import Settings
    parser = plugin_cls.read_config(base.conf)
    overrides = {}
    opts = getattr(getattr(cli, "command", None), "opts", None)
    for key, values in (getattr(opts, "repo_setopts", None) or {}).get(PLUGIN_NAME, {}).items():
        if key not in KEYS:
            logger.warning("%s: unknown option --setopt=%s.%s ignored; known: %s",
                           PLUGIN_NAME, PLUGIN_NAME, key, ", ".join(KEYS))
            continue
        overrides[key] = ",".join(values) if key == "exclude" else values[-1]

    def get(key):
        if key in overrides:
            return overrides[key]
        if parser.has_section("main") and parser.has_option("main", key):
            return parser.get("main", key)
        return None
    return Settings.from_values(get)


class PersistRpm(dnf.Plugin):
    """Capture every package a transaction really installed into the store."""

    name = PLUGIN_NAME

    def __init__(self, base, cli):
        super(PersistRpm, self).__init__(base, cli)
        self.base = base
        self.cli = cli
        self.settings = None
        self.process = None
        if cli is not None:
            cli.register_command(PersistCommand)

    def config(self):
        try:
            self.settings = read_settings(type(self), self.base, self.cli)
        except ImportError as e:
            logger.error("%s: error: cannot import persistrepo (%s); packages will not "
                         "be persisted", PLUGIN_NAME, e)
        except Exception as e:  # a bad value: say which, keep dnf working
            logger.error("%s: error: %s; packages will not be persisted", PLUGIN_NAME, e)

    def _capturing(self):
        if self.settings is None:
            return False
        if _root(self.base.conf) != "/" and not self.settings.capture_installroot:
            logger.debug("%s: capture_installroot=0, not capturing in %s",
                         PLUGIN_NAME, _root(self.base.conf))
            return False
        return True

    def pre_transaction(self):
        # Before rpm runs: an image update's scriptlet replays the store in it.
        if _root(self.base.conf) == "/":
            self._note_newest_layer()
        if self._capturing():
            self._persist_own()
            if self.process is not None:
                self.process.read(os.path.abspath(tsi.pkg.localPkg())
                                  for tsi in self._arriving()
                                  if not self.settings.excluded(tsi.pkg.name))
            if _root(self.base.conf) == "/":
                # The trigger's line: transaction() finishes an image update.
                from persistrepo.capture.capture import FINISHING
                os.environ[FINISHING] = PLUGIN_NAME

    def resolved(self):
        # Capture's process loads while dnf downloads (capture/process.py).
        if self._capturing() and self.process is None:
            try:
                from persistrepo.capture.capture import start_capture_process
                self.process = start_capture_process([tsi.pkg.name for tsi in self._arriving()])
            except Exception as e:  # transaction() then captures in dnf's process
                logger.debug("%s: no capture process: %s", PLUGIN_NAME, e)

    def _arriving(self):
        return [tsi for tsi in self.base.transaction or () if tsi.action in _ARRIVING]

    def _note_newest_layer(self):
        """Tell persistrepo-imgbased's trigger the newest layer before rpm runs."""
        try:
            from persistrepo.capture.capture import note_newest_layer
            note_newest_layer([tsi.pkg.name for tsi in self._arriving()])
        except Exception as e:  # the trigger then goes by its own record
            logger.debug("%s: newest layer not noted: %s", PLUGIN_NAME, e)

    def transaction(self):
        process, self.process = self.process, None
        if not self._capturing():
            return
        installroot = _root(self.base.conf)
        try:
            installed, erased = self._facts()
        except Exception as e:  # reading dnf's transaction must not break it
            logger.error("%s: error: cannot read the transaction (%s); nothing was "
                         "persisted; run 'dnf persist status'", PLUGIN_NAME, e)
            installed = erased = None
        if not installed and not erased:
            if process is not None:
                process.close()
            return
        from persistrepo.capture.capture import capture, finish_image_update
        out = None
        if process is not None:
            out = process.capture(self.settings, installroot, installed, erased, "dnf",
                                  _fix_command(installroot))
            logger.debug("%s: %s", PLUGIN_NAME, "its process did not answer: capturing here"
                         if out is None else "captured by its process")
        if out is None:
            out = capture(self.settings, installroot, installed, erased, method="dnf",
                          fix=_fix_command(installroot))
        self._report(out, installroot)
        if installroot == "/" and (out.persisted or out.failed):
            problem = finish_image_update([p.name for p in installed])
            if problem:
                logger.error("%s: error: %s", PLUGIN_NAME, problem)

    def _persist_own(self):
        """Persist persistrepo's own installed packages that the store lacks,
        and then what they need that not every image ships (installed with
        them before the plugin could capture), fetched from a repo like
        `dnf persist add`."""
        installroot = _root(self.base.conf)
        try:
            from persistrepo.capture.capture import (OWN_PACKAGES, SHIPPED_BY_EVERY_IMAGE,
                                                     Installed, capture, own_unpersisted)
            installed_q = self.base.sack.query().installed()
            own = installed_q.filter(name=list(OWN_PACKAGES)).run()
            own = dict((_nevra(p), p) for p in own)
            if not own_unpersisted(self.settings, installroot,
                                   [(p.name, v) for v, p in own.items()]):
                return
            shipped = requires_closure(installed_q, installed_q.filter(
                name=list(SHIPPED_BY_EVERY_IMAGE)).run())
            own.update((_nevra(p), p) for p in requires_closure(installed_q, own.values())
                       if p not in shipped)
            missing = [own[v] for _, v in own_unpersisted(
                self.settings, installroot, [(p.name, v) for v, p in own.items()])]
            found = [(p, available_build(self.base, p)) for p in missing]
            for p, avail in found:
                if avail is None:
                    logger.warning("%s: warning: %s %s is not persisted "
                                   "and no enabled repository has it; the next image will "
                                   "lack persistrepo; fix: persistrepo add FILE (its RPM)",
                                   PLUGIN_NAME, "persistrepo's own package" if p.name in
                                   OWN_PACKAGES else "persistrepo needs", _nevra(p))
            found = [(p, a) for p, a in found if a is not None]
            if not found:
                return
            paths = fetch(self.base, [a for _, a in found])
            installed = [Installed(path, p.name, _nevra(p), _origin(a),
                                   installed_reason(self.base, p))
                         for (p, a), path in zip(found, paths)]
        except Exception as e:  # never break the admin's transaction
            logger.error("%s: error: cannot persist persistrepo's own packages (%s); "
                         "'dnf persist status' names the fix", PLUGIN_NAME, e)
            return
        out = capture(self.settings, installroot, installed, [], method="dnf",
                      fix=_fix_command(installroot))
        self._report(out, installroot)

    def _named(self):
        """Names of the packages the admin named on dnf's command line."""
        import dnf.subject
        opts = getattr(getattr(self.cli, "command", None), "opts", None)
        names = set()
        for spec in getattr(opts, "pkg_specs", None) or []:
            q = dnf.subject.Subject(spec).get_best_query(self.base.sack, with_provides=False)
            names.update(p.name for p in q)
        return names

    def _facts(self):
        from persistrepo.capture.capture import Erased, Installed, dnf_module_lookup
        module_of = dnf_module_lookup(self.base)
        named = None
        installed, erased = [], []
        arriving = set()
        for tsi in self.base.transaction or ():
            if tsi.action == _T.TransactionItemAction_REASON_CHANGE:
                continue
            if tsi.state != _T.TransactionItemState_DONE:
                continue  # e.g. its %pre failed: not on the system
            try:
                pkg = tsi.pkg
            except KeyError:
                continue
            if tsi.action in _ARRIVING:
                arriving.add(pkg.name)
                path = pkg.localPkg()
                reason = _reason(tsi.reason)
                if reason == "unknown" and tsi.action == _T.TransactionItemAction_UPGRADE:
                    # dnf keeps the old build's reason, unknown for one the image
                    # shipped; `dnf upgrade NAME` says the admin wants it.
                    named = self._named() if named is None else named
                    reason = "user" if pkg.name in named else reason
                installed.append(Installed(os.path.abspath(path), pkg.name, _nevra(pkg),
                                           _origin(pkg), reason, module_of(pkg)))
            elif tsi.action in _LEAVING:
                erased.append(Erased(pkg.name, _nevra(pkg)))
        return installed, erased

    def _report(self, out, installroot):
        log = {"info": logger.info, "detail": logger.debug, "error": logger.error,
               "warning": logger.warning}
        for kind, line in out.lines(self.settings.store_path(installroot)):
            log[kind]("%s: %s", PLUGIN_NAME, line)


# -- dnf persist ---------------------------------------------------------------

class PersistCommand(dnf.cli.Command):
    aliases = ("persist",)
    summary = "manage the packages kept across image upgrades (persist_rpm)"
    usage = "[list|add|remove|status|verify] [SPEC...] [OPTIONS] (dnf-persist(8))"

    @staticmethod
    def set_argparser(parser):
        from persistrepo.front import commands
        commands.subcommands.add_plugin_arguments(parser, "dnf")

    def configure(self):
        from persistrepo.front import commands
        demands = self.cli.demands
        sub = self.opts.subcommand
        problem = commands.subcommands.check_plugin_args("dnf", self.opts)
        if problem:
            raise dnf.cli.CliError(problem)
        if sub == "add":
            demands.sack_activation = True
            demands.available_repos = True
            demands.root_user = True
        elif sub == "remove" and not self.opts.dry_run:
            demands.root_user = True
        # list, status, verify read the store and the rpmdb themselves: no sack,
        # no repos, no root needed.

    def _settings(self):
        try:
            return read_settings(PersistRpm, self.base, self.cli)
        except ImportError as e:
            raise dnf.exceptions.Error("cannot import persistrepo: %s" % e)
        except Exception as e:
            raise dnf.exceptions.Error(str(e))

    def run(self):
        from persistrepo.front import commands
        settings = self._settings()
        installroot = _root(self.base.conf)
        try:
            import rpm
            rpm.setVerbosity(rpm.RPMLOG_CRIT)  # the store reports problems itself
            store = commands.Store(getattr(self.opts, "store", None) or
                                   settings.store_path(installroot))
            out = getattr(self, "_run_" + self.opts.subcommand)(settings, installroot, store)
        except commands.PersistError as e:
            if e.exit_code == commands.EXIT_FAILED:
                raise dnf.exceptions.Error(str(e))
            # Bad input (2) or an unsafe store (3): the exit code persistrepo gives it.
            logger.critical("Error: %s", e)
            self.cli.demands.success_exit_status = e.exit_code
            return
        except (OSError, IOError) as e:
            raise dnf.exceptions.Error(commands.os_error_message(e))
        for line in out.lines:
            print(line)
        for warning in out.warnings:
            logger.warning("%s: warning: %s", PLUGIN_NAME, warning)
        if out.errors:
            raise dnf.exceptions.Error("; ".join(out.errors))
        if out.at_risk:
            self.cli.demands.success_exit_status = commands.EXIT_AT_RISK

    def _run_list(self, settings, installroot, store):
        from persistrepo.front import commands
        return commands.list_packages(store, self.opts.specs, self.opts.json,
                                      self.opts.removed)

    def _run_remove(self, settings, installroot, store):
        from persistrepo.front import commands
        chosen = commands.dropping(store, self.opts.specs, front=self._front())
        if self.opts.dry_run:
            return commands.would_drop(chosen)
        conf = self.base.conf
        if len(chosen) > 1 and not (conf.assumeyes and not conf.assumeno) and \
                (conf.assumeno or sys.stdin.isatty()):
            print("\n".join("  " + e["nevra"] for e in chosen))
            if conf.assumeno or not self.base.output.userconfirm(commands.question(chosen)):
                raise dnf.exceptions.Error("Operation aborted.")
        return commands.drop(store, chosen, installroot, settings=settings)

    def _run_verify(self, settings, installroot, store):
        from persistrepo.front import commands
        return commands.verify(store, self.opts.json)

    def _run_status(self, settings, installroot, store):
        from persistrepo.front import commands
        return commands.status(settings, store, installroot, self.opts.image_manifest,
                               self.opts.image_root, self.opts.json, self._front())

    def _front(self):
        from persistrepo.front import commands
        return commands.Front("dnf", getattr(self.opts, "store", None),
                              _root(self.base.conf))

    def _run_add(self, settings, installroot, store):
        from persistrepo.capture import capture
        from persistrepo.front import commands
        chosen = self._installed_matching(self.opts.specs)
        excluded = [_nevra(p) for p in chosen if settings.excluded(p.name)]
        if excluded:
            raise dnf.exceptions.Error(
                "%s excluded by the exclude setting of %s; nothing added"
                % (", ".join(excluded), PLUGIN_NAME))
        # A build the store holds already needs no repository (one that has it
        # may still tell its module stream).
        stored = commands.stored_nevras(store)
        sources, already, missing = [], [], []
        for inst in chosen:
            found = available_build(self.base, inst)
            if found is not None:
                sources.append((inst, found))
            else:
                (already if _nevra(inst) in stored else missing).append(_nevra(inst))
        if missing:
            raise dnf.exceptions.Error(
                "the installed build of %s is in no enabled repository and not in the "
                "cache; nothing added (add the exact RPM file with '%s')"
                % (", ".join(missing), commands.Front.persistrepo(store.layout.root,
                                                                  "add FILE")))
        files = fetch(self.base, [avail for _, avail in sources])
        module_of = capture.dnf_module_lookup(self.base)
        out = commands.add(store, installroot, [
            commands.Candidate(path, "dnf", _origin(avail), installed_reason(self.base, inst),
                               supersede=True, module=module_of(inst), installed_in=installroot)
            for (inst, avail), path in zip(sources, files)]) if sources else commands.Printed()
        out.lines.extend("already persisted %s" % n for n in already)
        return out

    def _installed_matching(self, specs):
        import dnf.subject
        chosen = {}
        unmatched = []
        for spec in specs:
            q = dnf.subject.Subject(spec).get_best_query(self.base.sack, with_provides=False)
            hits = q.installed().run()
            if not hits:
                unmatched.append(spec)
            for p in hits:
                chosen[_nevra(p)] = p
        if unmatched:
            raise dnf.exceptions.Error("no installed package matches %s; nothing added"
                                       % ", ".join(repr(s) for s in unmatched))
        return [chosen[k] for k in sorted(chosen)]


# -- finding and fetching the file of an installed package ------------------------

def requires_closure(installed_q, pkgs):
    """pkgs and every installed package they need, directly or not."""
    found, todo = set(pkgs), list(pkgs)
    while todo:
        for req in todo.pop().requires:
            for p in installed_q.filter(provides=req).run():
                if p not in found:
                    found.add(p)
                    todo.append(p)
    return found


def available_build(base, inst):
    """The installed package inst as a repo offers it (same NEVRA), its own
    repo first; None when no enabled repo has it."""
    q = base.sack.query().available().filterm(
        name=inst.name, epoch=inst.epoch, version=inst.version, release=inst.release,
        arch=inst.arch)
    candidates = [p for p in q.run() if p.reponame != hawkey.CMDLINE_REPO_NAME]
    if not candidates:
        return None
    from_repo = getattr(inst, "from_repo", None)
    candidates.sort(key=lambda p: (p.reponame != from_repo, p.reponame))
    return candidates[0]


def fetch(base, pkgs):
    """Paths of the files of pkgs, downloading those not in the cache, each
    checked against its repo's checksum."""
    remote = [p for p in pkgs if not os.path.isfile(p.localPkg())]
    if remote:
        base.download_packages(remote)
    paths = [os.path.abspath(p.localPkg()) for p in pkgs]
    for pkg, path in zip(pkgs, paths):
        _check_checksum(pkg, path)
    return paths


def _check_checksum(pkg, path):
    try:
        kind, value = pkg.chksum
        algo = hawkey.chksum_name(kind)
    except Exception:
        return  # no checksum in the metadata; the store still checks the digests
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != value.hex():
        raise dnf.exceptions.Error(
            "%s: %s checksum does not match the metadata of repository %s; "
            "nothing added" % (path, algo, pkg.reponame))


def installed_reason(base, pkg):
    """Why dnf's history says pkg is installed: user, dependency or unknown."""
    try:
        value = base.history.swdb.resolveRPMTransactionItemReason(pkg.name, pkg.arch, -1)
    except Exception:
        return "unknown"
    return _reason(value)
