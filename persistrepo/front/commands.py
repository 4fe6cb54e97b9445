"""list, remove and verify as every front end runs them: the `persistrepo`
command, `dnf persist`, `dnf5 persist` and `yum persist`. Each returns a
Printed; the front end writes its lines and turns its errors into its own
error output and exit status. Python 2.7 compatible (`yum persist`).
"""

import sys

from persistrepo import specs, words
from persistrepo.compat import stdlib
from persistrepo.errors import (EXIT_AT_RISK, EXIT_FAILED, EXIT_OK,  # noqa: F401 (front ends)
                                NoMatch, PersistError, UsageError, os_error_message)
from persistrepo.front import subcommands  # noqa: F401 (front ends: their options)
from persistrepo.front import listing
from persistrepo.front.advice import Front
from persistrepo.store import failures, incoming
from persistrepo.store.keys import add_key, keep_signing_keys
from persistrepo.store.store import Candidate, Store  # noqa: F401 (front ends)


def say(line, stream=None):
    """Write one line (text, also on Python 2 into a pipe) and flush."""
    stream = stream or sys.stdout
    stdlib.write_text(stream, line + "\n")
    stream.flush()


class Printed(object):
    """Lines for standard output, warnings, and one-line errors (the command
    failed)."""

    def __init__(self):
        self.lines = []
        self.warnings = []
        self.errors = []
        self.at_risk = False  # status: something to act on

    @property
    def exit_code(self):
        if self.errors:
            return EXIT_FAILED
        return EXIT_AT_RISK if self.at_risk else EXIT_OK


def add(store, installroot, candidates, key=None):
    """Persist candidates in store (a Store); keep the public keys of their
    signers from the rpmdb of installroot, or key (an armored block) where
    it holds them."""
    from persistrepo import pgp
    result = store.add(candidates)
    out = Printed()
    out.warnings.extend(result.warnings)
    out.lines.extend("persisted %s" % e["nevra"] for e in result.added)
    out.warnings.extend("%s was already stored with another checksum; replaced it with %s "
                        "(the other build is kept with the removed packages: 'list --removed')"
                        % (e["nevra"], e["sha256"]) for e in result.replaced)
    out.lines.extend("already persisted %s" % e["nevra"] for e in result.unchanged)
    stored = result.added + result.replaced + result.unchanged
    signers = set(e["key_id"] for e in stored if e["signed"])
    for key_id in sorted(signers):
        if key is not None and pgp.covers(key, key_id):
            add_key(store, key_id, key.encode("ascii"))
    for key_id in sorted(signers & set(keep_signing_keys(store, installroot, result.signers))):
        files = " ".join(stdlib.shell_quote(store.layout.package(e["filename"]))
                         for e in stored if e["key_id"] == key_id)
        out.warnings.append(
            "no public key %s for the packages signed with it, in the rpmdb of %s or --key; "
            "replay will refuse them; fix: persistrepo --store %s add --key KEYFILE %s"
            % (key_id, installroot, stdlib.shell_quote(store.layout.root), files))
    failures.forget(failures.path_for(installroot), [e["nevra"] for e in stored])
    return out


def _waiting(store, prefix=""):
    """What waits in incoming, and the command that clears it: ingest takes
    in the requests, refresh sets aside the ones that are not requests."""
    waiting = incoming.pending(store.layout)
    bad = [r for r in waiting if r["op"] == "invalid"]
    lines = []
    if len(waiting) > len(bad):
        lines.append("%s%s waiting in %s; run '%s'" % (
            prefix, words.count(len(waiting) - len(bad), "request"), store.layout.incoming,
            Front.persistrepo(store.layout.root, "ingest")))
    if bad:
        lines.append("%s%s in %s that %s no request; run '%s', which sets %s aside" % (
            prefix, words.count(len(bad), "file"), store.layout.incoming,
            "is" if len(bad) == 1 else "are", Front.persistrepo(store.layout.root, "refresh"),
            "it" if len(bad) == 1 else "them"))
    return lines


def stored_nevras(store):
    """The NEVRAs the store holds (none if there is no store yet)."""
    return set(e["nevra"] for e in store.entries()) if store.exists() else set()


def list_packages(store, patterns=(), as_json=False, removed=False):
    """The store's packages (with removed, those kept for restore) that the
    patterns select: a table as wide as the terminal, or JSON; and what waits
    in incoming."""
    entries = store.removed() if removed else store.entries()
    chosen, unmatched = specs.select(patterns, entries) if patterns else (entries, [])
    out = Printed()
    out.lines.append(listing.to_json(chosen) if as_json
                     else listing.table(chosen, listing.terminal_width()))
    if not as_json and not removed:
        out.lines.extend(_waiting(store))
    out.errors.extend("package %s is not %s" % (p, "among the removed ones" if removed
                                                else "persisted") for p in unmatched)
    return out


def dropping(store, spec_list=None, prune=None, front=None):
    """The entries remove (the specs) or prune ((keep, installonly_keep))
    would drop, for a dry run or a question; NoMatch for a spec that
    matches nothing, naming front's (a Front) list."""
    if prune is not None:
        return store.prune(keep=prune[0], installonly_keep=prune[1], dry_run=True).entries
    try:
        return store.remove(spec_list, dry_run=True).entries
    except NoMatch as e:
        raise NoMatch("%s; see '%s'" % (e, (front or Front()).command("list")))


def question(entries, verb="remove"):
    """What to ask before remove or prune drops more than one package."""
    return "%s %s? Is this ok [y/N]: " % (verb.capitalize(),
                                         words.count(len(entries), "package"))


def would_drop(entries, verb="remove"):
    out = Printed()
    out.lines.extend("would %s %s" % (verb, e["nevra"]) for e in entries)
    return out


def drop(store, entries, installroot="/", verb="remove", settings=None):
    """Drop entries from the store (their files are kept for restore) and
    forget their recorded capture failures. Without the rpm and createrepo_c
    bindings (yum's Python) the removal is queued and settings' (default:
    the configuration's) `ingest_command` runs it."""
    from persistrepo.capture import capture  # the plugins' module: only a removal needs it here
    out = Printed()
    if capture.bindings_available():
        removed = store.remove([e["filename"] for e in entries], missing_ok=True, literal=True)
        gone = removed.entries
        out.warnings.extend(removed.warnings)
    else:
        from persistrepo import config
        gone = capture.queued_remove(settings or config.load(), store.layout.root, installroot,
                                     entries)
        done = set(e["nevra"] for e in gone)
        left = [e["nevra"] for e in entries if e["nevra"] not in done]
        if left:
            out.errors.append("%s still in the store; the request waits in %s until "
                              "'persistrepo ingest' runs"
                              % (", ".join(left), store.layout.incoming))
    failures.forget(failures.path_for(installroot), [e["nevra"] for e in gone])
    done = {"remove": "removed %s (it stays installed; '%s' puts it back)",
            "prune": "pruned %s ('%s' puts it back)"}[verb]
    out.lines.extend(done % (e["nevra"], Front.persistrepo(store.layout.root,
                                                           "restore %s" % e["nevra"]))
                     for e in gone)
    return out


def verify(store, as_json=False):
    """Every problem of the store, or one line saying all is well."""
    problems = store.verify()
    entries = store.entries()
    out = Printed()
    if as_json:
        out.lines.append(listing.verify_json(store.layout.root, entries, problems, True))
    else:
        out.lines.extend(str(p) for p in problems)
        if not problems:
            out.lines.append("ok: %s verified in %s" % (words.count(len(entries), "package"),
                                                         store.layout.root))
    if problems:
        out.errors.append("%s in %s" % (words.count(len(problems), "problem"),
                                        store.layout.root))
    return out


def status(settings, store, installroot="/", image_manifest=None, image_root=None,
           as_json=False, front=None):
    """What the next image update would lose (persistrepo.front.status); front
    (a Front) is the front end that shows it, whose commands it advises."""
    from persistrepo.front import status as report
    image = report.image_packages(image_manifest, image_root, installroot)
    rep = report.report(settings, store, installroot, image, front)
    out = Printed()
    out.lines.append(report.to_json(rep) if as_json else report.text(rep, front))
    out.warnings.extend(rep.warnings)
    out.at_risk = rep.at_risk()
    return out


def pending(store, installroot, is_installed, front):
    """The cheap status: recorded capture failures, requests waiting in
    incoming, persisted packages that is_installed(entry) says are gone."""
    failed = failures.load(failures.path_for(installroot))
    waiting = incoming.pending(store.layout)
    gone = [e for e in store.entries() if not is_installed(e)]
    out = Printed()
    out.lines.extend("not persisted: %s (%s, %s): %s\n  fix: %s"
                     % (f.get("nevra"), f.get("method"), f.get("when"), f.get("error"),
                        f.get("fix")) for f in failed)
    out.lines.extend(_waiting(store, "waiting: "))
    out.lines.extend("persisted but not installed: %s (a replay would install it again; "
                     "'%s' drops it)" % (e["nevra"], front.command("remove %s" % e["nevra"]))
                     for e in gone)
    if failed or waiting or gone:
        out.lines.append("%s, %d waiting, %d persisted but not installed"
                         % (words.count(len(failed), "capture failure"), len(waiting),
                            len(gone)))
        out.at_risk = True
    else:
        out.lines.append("ok: %s holds every captured package" % store.layout.root)
    return out


def image_update_line(names, replays, installroot):
    """yum's line after a transaction that installed an image-update
    package when persistrepo-imgbased (replays) is not there, or None."""
    from persistrepo import imgbased  # only then: it brings replay in
    return imgbased.yum_image_update_line(names, replays, installroot)
