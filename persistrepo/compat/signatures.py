"""rpm's signature checks: its verdict on a package's signatures, the keys to
check them against, and the verify level.

- 6.x names a gpg-pubkey by the full fingerprint, older releases by the
  short id, and an in-process rpm.keyring knows signing subkeys only on
  some releases. So key ids come from persistrepo.pgp, and Verifier lets rpm
  import the keys into a scratch database, which knows subkeys wherever
  that rpm can verify subkey signatures at all.
- %_pkgverify_level (4.14.2 on; `all` is 6.x's upstream default) can make
  rpm refuse what it cannot verify (TransactionSet.setVfyLevel is absent
  before 4.14.2).

Python 2.7 compatible.
"""

import os

from persistrepo import pgp
from persistrepo.compat.strings import text


def _read_signed(fd):
    """(rpm's verdict, header) reading fd from its start, digests and
    signatures checked against an empty keyring: a signature rpm cannot
    check is NOKEY, a broken one (`rpm -K`: NOT OK) FAIL."""
    import rpm
    from rpm.transaction import TransactionSetCore
    ts = rpm.TransactionSet()
    ts.setVSFlags(0)
    ts.setKeyring(rpm.keyring())
    if hasattr(ts, "setVfyLevel"):
        ts.setVfyLevel(rpm.RPMSIG_DIGEST_TYPE)
    os.lseek(fd, 0, os.SEEK_SET)
    rc, hdr = TransactionSetCore.hdrFromFdno(ts, fd)
    return rc in (rpm.RPMRC_OK, rpm.RPMRC_NOKEY, rpm.RPMRC_NOTTRUSTED), hdr


def signature_is_bad(fd):
    """True when the package has a signature that rpm calls BAD (`rpm -K`: NOT
    OK), as opposed to one made by a key this host does not know."""
    return not _read_signed(fd)[0]


def sound_header(fd):
    """The header at fd's start when its digests are intact and no signature
    is BAD (what inspecting_ts and signature_is_bad check, in one read),
    else None; fd is left where the payload starts."""
    sound, hdr = _read_signed(fd)
    return hdr if sound else None


def signatures_enforced():
    """True when this rpm refuses to install packages it cannot verify
    (%_pkgverify_level signature or all)."""
    import rpm
    return text(rpm.expandMacro("%{?_pkgverify_level}")).strip() in ("signature", "all")


class digest_level_only(object):
    """While active (and if wanted), rpm transactions created in this process
    verify digests but do not require signatures (%_pkgverify_level digest)."""

    def __init__(self, wanted=True):
        self.wanted = wanted

    def __enter__(self):
        if self.wanted:
            import rpm
            rpm.addMacro("_pkgverify_level", "digest")
        return self

    def __exit__(self, *exc):
        if self.wanted:
            import rpm
            rpm.delMacro("_pkgverify_level")


class Verifier(object):
    """Checks signatures against a set of armored public keys. rpm imports
    them into a scratch database, so subkeys count wherever rpm supports them."""

    def __init__(self, armored_keys):
        import tempfile

        import rpm
        self._dir = tempfile.mkdtemp(prefix="persistrepo-keys-")
        try:
            importer = rpm.TransactionSet(self._dir)
            for armored in armored_keys:
                try:
                    importer.pgpImportPubkey(pgp.dearmor(armored))
                except pgp.BadKey:
                    continue
            importer.closeDB()
            # A fresh set loads the keyring from the database, subkeys included.
            self.ts = rpm.TransactionSet(self._dir)
            self.ts.setVSFlags(0)
        except BaseException:
            self.close()
            raise

    def read_header(self, fd):
        return self.ts.hdrFromFdno(fd)

    def close(self):
        ts = getattr(self, "ts", None)
        if ts is not None:
            ts.closeDB()
            self.ts = None
        import shutil
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
