"""Which stored packages replay may install: checksums, signatures and the
unsigned-package policy (docs/replay.md, "Integrity").

A package is trusted when its file matches both the provenance record and the
store's repodata byte for byte (sha256 and size), its header and payload
digests are intact, and either
- it is signed and the signature verifies with a key the store kept at
  capture time or a key the new root already has, or
- it is unsigned and its provenance says it came from a local file
  (origin "@commandline", or added by the admin with `persistrepo add`) or
  from a repo that did not require signatures (captured by dnf or yum with
  an origin repo id: a repo with gpgcheck on never delivers unsigned ones).
Unsigned packages whose provenance is unknown (adopted by `refresh`, or no
origin) are refused.
"""

import binascii
import os
import re

from persistrepo import pgp
from persistrepo.compat import rpmdb, signatures
from persistrepo.errors import BadPackage
from persistrepo.front.advice import Front
from persistrepo.store import rpmfile
from persistrepo.store.record import COMMANDLINE, nevra


def _persistrepo(store_root, words):
    """The persistrepo command that advice names, on store_root where known."""
    return Front.persistrepo(store_root, words) if store_root else "persistrepo " + words


def unsigned_allowed(entry, store_root=None):
    """(allowed, why) for an unsigned package, from its provenance alone; the
    advice names the store at store_root."""
    origin, method = entry.get("origin"), entry.get("method")
    if origin == COMMANDLINE:
        return True, "unsigned, captured from a local file"
    if method == "cli":
        return True, "unsigned, added by the admin with 'persistrepo add'"
    if method in ("dnf", "yum") and origin:
        return True, "unsigned, captured from repo %s, which did not require signatures" % origin
    return False, ("is unsigned and its provenance (method %s, origin %s) does not say it came "
                   "from a local file or an unsigned repo; if you trust it, persist it again "
                   "with '%s'" % (method, origin or "unknown", _persistrepo(store_root, "add FILE")))


class Keys(object):
    """The public keys replay may verify with: the store's ({key_id: armored},
    as Store.keys gives them) and the new root's (none when root is None)."""

    def __init__(self, store_keys, root):
        self.store_keys = store_keys
        root_keys = rpmdb.installed_pubkeys(root) if root else []
        self.root_ids = set()
        for armored in root_keys:
            try:
                self.root_ids.update(pgp.key_ids(armored))
            except pgp.BadKey:
                continue
        self.verifier = signatures.Verifier(list(self.store_keys.values()) + root_keys)

    def close(self):
        self.verifier.close()

    def in_root(self, key_id):
        return key_id in self.root_ids

    def available(self, key_id):
        return self.in_root(key_id) or key_id in self.store_keys

    def import_into(self, root, key_ids):
        """Import the store's keys for key_ids that the root lacks; return their ids."""
        import rpm
        wanted = sorted(k for k in set(key_ids) if not self.in_root(k))
        if not wanted:
            return []
        ts = rpm.TransactionSet(root)
        try:
            for key_id in wanted:
                armored = self.store_keys[key_id]
                if ts.pgpImportPubkey(pgp.dearmor(armored)) != 0:
                    raise BadPackage("cannot import key %s into %s" % (key_id, root))
                self.root_ids.update(pgp.key_ids(armored))
        finally:
            ts.closeDB()
        return wanted


def check_file(path, keys, expected_sha256=None, expected_size=None):
    """Check one RPM file: (info, None) if trusted so far, else (info or None, why).

    Signed files must verify with keys; whether an unsigned file is allowed is
    the caller's decision (see unsigned_allowed)."""
    try:  # one read of the file checks everything, the signature last
        info = rpmfile.read_package(path, verifier=keys.verifier, verify_if=keys.available)
    except BadPackage as e:
        return None, str(e)
    if expected_sha256 is not None and (info.sha256, info.size) != (expected_sha256,
                                                                     expected_size):
        return info, ("checksum mismatch (file sha256 %s, %d bytes; the store "
                      "recorded %s, %s bytes): the file is corrupt or was tampered with"
                      % (info.sha256, info.size, expected_sha256, expected_size))
    if info.key_id is None:
        return info, None
    if not keys.available(info.key_id):
        return info, ("signed with key %s, which neither the store nor the new root "
                      "has; import it with 'rpm --root ROOT --import KEYFILE' and rerun"
                      % info.key_id)
    return info, info.signature_error


def check_entry(path, entry, repodata_sha256, keys, store_root=None):
    """(why the stored package at path must not be installed or None, the
    signing key id or None); the advice names the store at store_root."""
    verify = _persistrepo(store_root, "verify")
    if repodata_sha256 is None:
        return ("not in the store's repodata; run '%s' and '%s'"
                % (verify, _persistrepo(store_root, "refresh"))), None
    if repodata_sha256 != entry["sha256"]:
        return ("the store's repodata says sha256 %s, the provenance record %s; "
                "run '%s'" % (repodata_sha256, entry["sha256"], verify)), None
    if not os.path.lexists(path):
        return "%s is missing; run '%s'" % (path, verify), None
    info, why = check_file(path, keys, entry["sha256"], entry["size"])
    key_id = info.key_id if info is not None else None
    if why is None and key_id is None:
        allowed, text = unsigned_allowed(entry, store_root)
        if not allowed:
            why = "%s %s" % (entry["nevra"], text)
    return why, key_id


def check_store(store, stored, sums, keys):
    """Check every stored package (stored: the store's entries, those left
    out by --exclude too) against sums ({filename: the repodata's sha256});
    return ({filename: why refused}, {filename: signing key id})."""
    refused, signers = {}, {}
    for e in stored:
        why, key_id = check_entry(store.layout.package(e["filename"]), e,
                                  sums.get(e["filename"]), keys, store.layout.root)
        if why:
            refused[e["filename"]] = why
        elif key_id:
            signers[e["filename"]] = key_id
    return refused, signers


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_entry(pkg, entry):
    """Whether the store repo's hawkey package pkg is exactly the index entry
    (location, NEVRA and sha256; None: no entry)."""
    return entry is not None and not pkg.baseurl and pkg.location == entry["filename"] \
        and hexsum(pkg.chksum) == entry["sha256"] and nevra(
            pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch) == entry["nevra"]


def unindexed(pkg, store_root):
    """(location, why) for a package of the store's repodata that no checked
    entry is (the repodata was tampered with or is stale), each on one line
    whatever the repodata says."""
    def shown(text):
        return repr(text) if _CONTROL.search(text) else text
    return shown(pkg.location), (
        "%s is in the store's repodata but not in the provenance record, so it was never "
        "checked and replay leaves it out; '%s' names it, '%s' repairs it"
        % (shown(nevra(pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch)),
           _persistrepo(store_root, "verify"), _persistrepo(store_root, "refresh")))


def hexsum(chksum):
    """A hawkey (type, bytes) checksum as hex, or None."""
    if not chksum:
        return None
    return binascii.hexlify(chksum[1]).decode("ascii")
