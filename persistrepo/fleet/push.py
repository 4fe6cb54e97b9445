"""persistrepo push: make the server's repository mirror the store.

Every byte goes up before anything changes: missing packages are uploaded
(or made from an artifact Pulp already has), then one `modify` call makes the
package repository's new version and a second one the manifest's. Until
then the server's repositories are as they were, so an interrupted push
leaves no new version and a rerun finds its uploads already there.
"""

import hashlib
import io
import os

from persistrepo import fsutil, names
from persistrepo.fleet import manifest, server
from persistrepo.fleet.errors import Conflict, Failed
from persistrepo.fleet.pulp import API
from persistrepo.store.keys import kept_keys


def _plan(entries, on_server):
    """(entries to add, units to remove); a Conflict when the server holds
    another build of a package's NEVRA (never replaced: overwrite false)."""
    by_sha = dict((u["sha256"], u) for u in on_server)
    by_nevra = dict((server.nevra_key(u), u) for u in on_server)
    wanted = set(e["sha256"] for e in entries)
    add = [e for e in entries if e["sha256"] not in by_sha]
    for e in add:
        other = by_nevra.get(server.nevra_key(e))
        if other is not None:
            raise Conflict("the server already has another build of %s (sha256 %s, the "
                           "store's is %s); push never replaces it. Remove it on the server "
                           "or remove it from this store, then push again"
                           % (e["nevra"], other["sha256"], e["sha256"]))
    remove = [u for u in on_server if u["sha256"] not in wanted]
    return add, remove


def _unit_for(client, entry, path, say):
    """The href of the package unit with entry's bytes, uploading only what
    Pulp does not have."""
    found = client.first(server.RPM.content, sha256=entry["sha256"], fields="pulp_href")
    if found is not None:
        say("already on the server: %s" % entry["nevra"])
        return found["pulp_href"]
    artifact = client.first("artifacts/", sha256=entry["sha256"])
    if artifact is not None:
        answer = client.call(API + server.RPM.content, "POST",
                             {"artifact": artifact["pulp_href"]})
        say("made from the server's copy: %s" % entry["nevra"])
    else:
        with os.fdopen(fsutil.open_store_file(path), "rb") as f:
            answer = client.upload(API + server.RPM.content, entry["filename"], f)
        say("uploaded %s" % entry["nevra"])
    task = client.wait(answer, "upload %s" % entry["nevra"])
    units = [h for h in task.get("created_resources") or [] if "/content/" in h]
    if not units:
        raise Failed("Pulp task %s made no package for %s" % (task["pulp_href"],
                                                              entry["nevra"]))
    unit = client.call(units[0] + "?fields=pulp_href,sha256")
    if unit["sha256"] != entry["sha256"]:
        raise Failed("%s changed in the store during the push (the server got sha256 %s, "
                     "the record says %s); push again" % (path, unit["sha256"],
                                                          entry["sha256"]))
    return unit["pulp_href"]


def _manifest_unit(client, data):
    """The href of a manifest.json unit with these bytes (uploaded if new)."""
    digest = hashlib.sha256(data).hexdigest()
    found = client.first(server.FILE.content, sha256=digest, relative_path=manifest.FILENAME)
    if found is not None:
        return found["pulp_href"]
    task = client.wait(client.upload(API + server.FILE.content, manifest.FILENAME,
                                     io.BytesIO(data), [("relative_path", manifest.FILENAME)]),
                       "upload the provenance manifest")
    units = [h for h in task.get("created_resources") or [] if "/content/" in h]
    if not units:
        raise Failed("Pulp task %s made no manifest unit" % task["pulp_href"])
    return units[0]


def push(store, client, name, dry_run, say):
    """Push store to the repository name; the lines go to say."""
    entries = store.entries()
    data = manifest.build(entries, kept_keys(store.layout, store.warnings))
    paths = dict((e["filename"], store.layout.package(e["filename"])) for e in entries)
    client.status()
    packages, provenance = server.places(client, name)
    add, remove = _plan(entries, packages.content(fields=server.PACKAGE_FIELDS))
    old_manifest = server.manifest_unit(provenance)
    manifest_changed = old_manifest is None or \
        old_manifest["sha256"] != hashlib.sha256(data).hexdigest()
    if not (add or remove or manifest_changed):
        say("%s on %s is up to date (version %d, %d packages); nothing pushed"
            % (name, client.server, packages.version, len(entries)))
        return
    if dry_run:
        if packages.href is None:
            say("would create the repositories %s and %s with their distributions"
                % (packages.name, provenance.name))
        for e in add:
            say("would add %s" % e["nevra"])
        for u in remove:
            say("would remove %s" % names.nevra(*server.nevra_key(u)))
        if manifest_changed:
            say("would update the provenance manifest")
        return
    packages.create()
    provenance.create()
    units = [_unit_for(client, e, paths[e["filename"]], say) for e in add]
    manifest_unit = _manifest_unit(client, data)
    if add or remove:
        packages.modify(units, [u["pulp_href"] for u in remove], overwrite=False)
    if manifest_changed:
        provenance.modify([manifest_unit], [old_manifest["pulp_href"]] if old_manifest else [],
                          overwrite=True)
    for u in remove:
        say("removed from the server: %s" % names.nevra(*server.nevra_key(u)))
    say("pushed %d packages to %s on %s: version %d (%d added, %d removed), provenance "
        "version %d" % (len(entries), name, client.server, packages.version, len(add),
                        len(remove), provenance.version))
