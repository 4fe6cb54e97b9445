"""persistrepo pull: fill the local store from the server's repository.

The manifest says what belongs to the set and where each package came
from; the package repository's published metadata says where its bytes are.
Every file is downloaded into a private directory, checked against the
manifest (size, sha256, then NEVRA and signer read from its header as `add`
reads a file) and only then added, with the manifest's provenance, in one
commit after the keys. Packages already in the store are left as they are; a
different build of one of them is a conflict, and nothing changes.
"""

import hashlib
import os
import shutil
import tempfile

from persistrepo.errors import BadPackage, PersistError
from persistrepo.fleet import manifest, server
from persistrepo.fleet.errors import Conflict, Failed
from persistrepo.store import rpmfile
from persistrepo.store.keys import add_key
from persistrepo.store.store import Candidate


def _published(client, base_url, workdir):
    """{sha256: location_href} of the packages in the published repodata."""
    import createrepo_c as cr
    repodata = os.path.join(workdir, "repodata")
    os.mkdir(repodata)
    repomd_path = os.path.join(repodata, "repomd.xml")
    with open(repomd_path, "wb") as f:
        f.write(client.fetch(base_url + "repodata/repomd.xml"))
    try:
        repomd = cr.Repomd(repomd_path)
    except Exception as e:  # createrepo_c raises its own error types
        raise Failed("%srepodata/repomd.xml is not repository metadata (%s)" % (base_url, e))
    primary = [r for r in repomd.records if r.type == "primary"]
    if not primary or not primary[0].location_href.startswith("repodata/") or \
            "/" in primary[0].location_href[len("repodata/"):]:
        raise Failed("%srepodata/repomd.xml names no primary metadata in repodata/" % base_url)
    href = primary[0].location_href
    fd = os.open(os.path.join(workdir, href), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        client.download(base_url + href, fd, manifest.MAX_SIZE)
    finally:
        os.close(fd)
    found = {}

    def take(pkg):
        if pkg.checksum_type == "sha256":
            found[pkg.pkgId] = pkg.location_href
    try:
        cr.xml_parse_primary(os.path.join(workdir, href), pkgcb=take, do_files=False)
    except Exception as e:
        raise Failed("%s%s cannot be read (%s)" % (base_url, href, e))
    return found


def _fetch_package(client, url, entry, workdir):
    """Download one package and prove it is the manifest's entry; its path."""
    path = os.path.join(workdir, entry["filename"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        size = client.download(url, fd, entry["size"])
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise Failed("%s does not have the size and sha256 the manifest gives for %s"
                     % (url, entry["nevra"]))
    try:
        info = rpmfile.read_package(path)
    except BadPackage as e:
        raise Failed("%s: %s" % (url, e))
    if (info.name, info.epoch, info.version, info.release, info.arch, info.key_id) != \
            (entry["name"], entry["epoch"], entry["version"], entry["release"], entry["arch"],
             entry["key_id"]):
        raise Failed("%s is not the %s (signer %s) the manifest describes"
                     % (url, entry["nevra"], entry["key_id"] or "none"))
    return path


def pull(store, client, name, dry_run, say):
    """Pull the repository name into store; the lines go to say."""
    client.status()
    packages, provenance = server.places(client, name)
    if packages.href is None or server.manifest_unit(provenance) is None:
        raise PersistError("%s has no repository %s with a provenance manifest; check "
                           "--repository, or push from a host first" % (client.server, name))
    source = "the manifest of %s" % name
    try:
        entries, keys = manifest.parse(client.fetch(provenance.base_url() + manifest.FILENAME),
                                       source)
    except ValueError as e:
        raise Failed(str(e))
    if store.exists():
        store.require()
    local = dict((e["filename"], e) for e in (store.entries() if store.is_store() else []))
    wanted = []
    for e in entries:
        mine = local.get(e["filename"])
        if mine is None:
            wanted.append(e)
        elif mine["sha256"] != e["sha256"]:
            raise Conflict("this store already has another build of %s (sha256 %s, the "
                           "server's is %s); pull never replaces it. Remove it here "
                           "('persistrepo remove %s') or on the server, then pull again"
                           % (e["nevra"], mine["sha256"], e["sha256"], e["nevra"]))
    if dry_run:
        for e in wanted:
            say("would add %s" % e["nevra"])
        say("would pull %d of the %d packages of %s version %d"
            % (len(wanted), len(entries), name, packages.version))
        return
    workdir = tempfile.mkdtemp(prefix="persistrepo-pull-")
    try:
        paths = {}
        if wanted:
            base_url = packages.base_url()
            published = _published(client, base_url, workdir)
            for e in wanted:
                href = published.get(e["sha256"])
                if href is None:
                    raise Failed("%s (in the manifest) is not in the published repository "
                                 "%s; a push was interrupted: push again from the host that "
                                 "pushed it" % (e["nevra"], name))
                paths[e["filename"]] = _fetch_package(client, base_url + href, e, workdir)
        for key_id in sorted(keys):
            add_key(store, key_id, keys[key_id].encode("ascii"))
        if wanted:
            store.add([Candidate(paths[e["filename"]], method=e["method"], origin=e["origin"],
                                 reason=e["reason"], module=e.get("module"),
                                 persisted_at=e["persisted_at"]) for e in wanted])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for e in wanted:
        say("pulled %s" % e["nevra"])
    say("pulled %d of the %d packages of %s version %d (%d were here already), %d keys"
        % (len(wanted), len(entries), name, packages.version, len(entries) - len(wanted),
           len(keys)))
