"""The rpm bindings as persistrepo uses them (header text and NEVRA, version
order, the rpmdb of a root, its gpg-pubkeys), and every difference between
the library versions persistrepo runs on, in one place.

rpm's Python bindings, from 4.11 (EL7) to 6.x:
- The payload digest is RPMTAG_PAYLOADDIGEST(ALGO) in 4.14 to 4.20 and
  RPMTAG_PAYLOADSHA256(ALGO) from 6.0 (same tag numbers); v6 packages carry
  no ALGO tag, the digest being SHA-256 by name, and add SHA-512 and
  SHA3-256 payload digests. 4.11 knows none of these tags: there only the
  MD5 over header and payload (RPMTAG_SIGMD5) covers the payload.
- v6 packages are signed only in RPMTAG_OPENPGP (6.0); older ones in
  RSAHEADER or DSAHEADER (header) or SIGGPG or SIGPGP (header and payload).
- 6.x names a gpg-pubkey by the full fingerprint, older releases by the
  short id, and an in-process rpm.keyring knows signing subkeys only on
  some releases. So key ids come from persistrepo.pgp, and Verifier lets rpm
  import the keys into a scratch database, which knows subkeys wherever
  that rpm can verify subkey signatures at all.
- %_pkgverify_level (4.14.2 on; `all` is 6.x's upstream default) can make
  rpm refuse what it cannot verify; headers read only to inspect a package
  ask for digests (TransactionSet.setVfyLevel, absent before 4.14.2).
createrepo_c: add_chunk takes a byte string under Python 2.
dnf: EL7 has none (has_dnf); replay then installs through rpm's own
transaction set, whose check() and problems() rpm 4.11 has as later ones.
libdnf: hawkey.IGNORE_REGULAR_EXCLUDES (a query that sees what only
excludepkgs hides) is absent from the oldest releases; there every exclusion
counts as a regular one. The module container is dnf.Base._moduleContainer
(dnf 4.0 on; None where a dnf has no module support); ModulePackage's
version is getVersionNum() where it exists, else getVersion().
Decompression: Python 3.14's compression.zstd reads zstd, older Pythons run
the zstd tool; Python 2.7 has no lzma.
Python 2.7: rpm's bindings give integer tags (the epoch) as long, and json
gives a long past 2**63 (names.is_whole takes both); text written to a pipe
must be encoded by hand; shell quoting is pipes.quote there (pipes is gone
from Python 3.13); os.posix_fadvise is absent.

Python 2.7 compatible.
"""

import binascii
import contextlib
import itertools
import os
import re
import shutil
import sys
import tempfile
from functools import cmp_to_key

from persistrepo import names, pgp
from persistrepo.errors import PersistError, UsageError

try:
    from shlex import quote as shell_quote  # novm
except ImportError:  # Python 2.7
    from pipes import quote as shell_quote  # noqa: F401

PY2 = sys.version_info[0] == 2
_KEY_ID = re.compile(r"Key ID ([0-9a-fA-F]{16,64})")
SIGNATURE_TAGS = ("OPENPGP", "RSAHEADER", "DSAHEADER", "SIGGPG", "SIGPGP")
# (digest tag, its algorithm tag, the algorithm when that tag is absent)
_PAYLOAD_DIGESTS = (("PAYLOADSHA256", "PAYLOADSHA256ALGO", "sha256"),
                    ("PAYLOADDIGEST", "PAYLOADDIGESTALGO", "sha256"),
                    ("PAYLOADSHA512", None, "sha512"),
                    ("PAYLOADSHA3_256", None, "sha3_256"))
# rpm's PGPHASHALGO values, as the ALGO tags give them.
_HASHES = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224",
           12: "sha3_256", 14: "sha3_512"}


def text(value):
    """A header or createrepo_c string as text (bytes are decoded as UTF-8)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def tag(name):
    """rpm.RPMTAG_<name>, or None where these bindings do not know it."""
    import rpm
    return getattr(rpm, "RPMTAG_" + name, None)


def payload_digest(hdr):
    """(hashlib name, hex digest) of the compressed payload as the header
    records it, or None where the bindings or the package have none."""
    for digest_name, algo_name, algo in _PAYLOAD_DIGESTS:
        digest_tag = tag(digest_name)
        if digest_tag is None:
            continue
        value = hdr[digest_tag]
        if isinstance(value, list):
            value = value[0] if value else None
        if not value:
            continue
        algo_tag = tag(algo_name) if algo_name else None
        number = hdr[algo_tag] if algo_tag is not None else None
        if number:
            algo = _HASHES.get(number)
            if algo is None:
                continue
        return algo, text(value).lower()
    return None


def signer_key_id(hdr):
    """The signing key's id as rpm prints it (16 hex digits, lower case), or
    None for an unsigned package."""
    for name in SIGNATURE_TAGS:
        if tag(name) is None:
            continue
        m = _KEY_ID.search(text(hdr.format("%%{%s:pgpsig}" % name)))
        if m:
            return m.group(1).lower()
    return None


def inspecting_ts():
    """A TransactionSet that reads headers checking digests, never signatures,
    whatever %_pkgverify_level says."""
    import rpm
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
    if hasattr(ts, "setVfyLevel"):
        ts.setVfyLevel(rpm.RPMSIG_DIGEST_TYPE)
    return ts


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


def header_fields(hdr):
    """(name, epoch, version, release, arch) of a header, as text and an int epoch
    (Python 2's bindings give a long)."""
    import rpm
    return (text(hdr[rpm.RPMTAG_NAME]), int(hdr[rpm.RPMTAG_EPOCH] or 0),
            text(hdr[rpm.RPMTAG_VERSION]), text(hdr[rpm.RPMTAG_RELEASE]),
            text(hdr[rpm.RPMTAG_ARCH]))


def header_nevra(hdr):
    return names.nevra(*header_fields(hdr))


# Digests a package file's header and the rpmdb's copy of it both carry
# (the rpmdb keeps the signature header's digests): whichever the rpm and
# the package have prove that a file is the build rpm installed.
_IDENTITY_TAGS = ("SHA3_256HEADER", "SHA256HEADER", "SHA1HEADER", "SIGMD5")


def header_identity(hdr):
    """{"nevra": ..., digest name: hex} of a header, for same_build()."""
    found = {"nevra": header_nevra(hdr)}
    for name in _IDENTITY_TAGS:
        number = tag(name)
        value = hdr[number] if number is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            found[name] = (binascii.hexlify(value).decode("ascii") if isinstance(value, bytes)
                           and name == "SIGMD5" else text(value).lower())
    payload = payload_digest(hdr)
    if payload:
        found["payload"] = "%s:%s" % payload
    return found


def same_build(a, b):
    """None if identities a and b (header_identity) are the same build, else
    why not: another NEVRA, or a digest that both have and that differs
    (at least one digest must be there to compare)."""
    if a["nevra"] != b["nevra"]:
        return "it holds %s" % a["nevra"]
    shared = [k for k in a if k != "nevra" and k in b]
    if not shared:
        return "no header digest to compare it by"
    for k in shared:
        if a[k] != b[k]:
            return "it holds another build of %s (%s differs)" % (a["nevra"], k)
    return None


def installed_identities(root, names_wanted):
    """{nevra: header_identity} of root's installed packages of these names
    (the rpmdb opened once for all of them)."""
    found = {}
    ts = _rpmdb_reader(root)
    try:
        for name in sorted(set(names_wanted)):
            for hdr in ts.dbMatch("name", name):
                identity = header_identity(hdr)
                found[identity["nevra"]] = identity
    finally:
        ts.closeDB()
    return found


def _evr(entry):
    return (str(entry["epoch"] or 0), entry["version"], entry["release"])


def compare_versions(a, b):
    """rpm.labelCompare over two entries (or dicts with their epoch, version and
    release): -1, 0 or 1."""
    import rpm
    return rpm.labelCompare(_evr(a), _evr(b))


def newest_first(entries):
    return sorted(entries, key=cmp_to_key(compare_versions), reverse=True)


def rpmdb_dir(root):
    """Where root's rpm database is (%_dbpath within root)."""
    import rpm
    return os.path.join(root, text(rpm.expandMacro("%{_dbpath}")).lstrip("/"))


def rpmdb_headers(root, name=None, limit=None):
    """The headers in root's rpm database (only those of package name if
    given; at most limit). Opening a root that has none creates an empty
    one: check rpmdb_dir first."""
    ts = _rpmdb_reader(root)
    try:
        found = ts.dbMatch("name", name) if name else ts.dbMatch()
        return list(itertools.islice(found, limit))
    finally:
        found = None  # the match iterator goes before its database
        ts.closeDB()


def rpmdb_headers_named(root, names):
    """The headers in root's rpm database of the packages called names: one
    index lookup each, rather than reading an image's every header."""
    ts = _rpmdb_reader(root)
    try:
        return [h for name in sorted(set(names)) for h in ts.dbMatch("name", name)]
    finally:
        ts.closeDB()


def _rpmdb_reader(root):
    import rpm
    ts = rpm.TransactionSet(root or "/")
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    return ts


def rpmdb_packages(root):
    """[{name, epoch, version, release, arch, nevra}] of root's rpmdb, without
    gpg-pubkey entries. A root without an rpmdb is a UsageError, as for
    replay (rpm would create an empty one)."""
    dbpath = rpmdb_dir(root)
    if not os.path.exists(dbpath):
        raise UsageError("%s has no rpm database at %s; point the option at an installed or "
                         "unpacked image root" % (root, dbpath))
    found = []
    for h in rpmdb_headers(root):
        fields = header_fields(h)
        if fields[0] == "gpg-pubkey":
            continue
        p = dict(zip(("name", "epoch", "version", "release", "arch"), fields))
        p["nevra"] = names.nevra(*fields)
        found.append(p)
    return sorted(found, key=lambda p: p["nevra"])


def installed_pubkeys(root="/"):
    """[armored key] of the gpg-pubkeys imported into root's rpm database."""
    import rpm
    return [text(h[rpm.RPMTAG_DESCRIPTION]) for h in rpmdb_headers(root, "gpg-pubkey")]


class Verifier(object):
    """Checks signatures against a set of armored public keys. rpm imports
    them into a scratch database, so subkeys count wherever rpm supports them."""

    def __init__(self, armored_keys):
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
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def has_dnf():
    """True where dnf's Python API imports (EL8 on, Fedora, Debian); EL7's
    yum 3.4.3 hosts have none."""
    try:
        import dnf  # noqa: F401
    except ImportError:
        return False
    return True


def excluded_by_modules(sack, pkg):
    """True if dnf hides pkg (already known to be excluded) by modular filtering
    rather than by excludepkgs."""
    import hawkey
    flag = getattr(hawkey, "IGNORE_REGULAR_EXCLUDES", None)
    if flag is None:
        return False
    return not sack.query(flags=flag).filterm(pkg=[pkg])


def module_container(base):
    """libdnf's ModulePackageContainer of a filled dnf.Base, or None."""
    try:
        return getattr(base, "_moduleContainer", None)
    except Exception:  # a dnf without module support, or no sack yet
        return None


def module_version(module_package):
    """A libdnf ModulePackage's version as an int."""
    get = getattr(module_package, "getVersionNum", None) or module_package.getVersion
    return int(get())


def start_writeback(fd):
    """Have the kernel start writing a file's dirty pages out without waiting
    (POSIX_FADV_DONTNEED does on Linux), so that fsyncs of many files that
    follow share journal commits; nothing where Python lacks it."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is not None:
        fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # novm


def write_text(stream, value):
    """Write text to a stream; Python 2 would encode it as ASCII on a pipe."""
    if PY2 and not isinstance(value, bytes):
        value = value.encode("utf-8")
    stream.write(value)


@contextlib.contextmanager
def decompressing(f, suffix):
    """Binary file f as a stream read(n) decompresses as its name's suffix
    (.gz, .bz2, .xz, .zst; anything else is read as it is) says, or None if
    zstd is neither in compression.zstd nor the zstd tool. A damaged stream
    raises its decompressor's own error (ValueError for the zstd tool)."""
    if suffix in (".gz", ".bz2", ".xz"):
        import bz2
        import gzip
        import lzma  # novm
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]  # novm
        with opener(f) as z:
            yield z
    elif suffix == ".zst":
        try:
            from compression import zstd  # novm
        except ImportError:
            zstd = None
        if zstd is not None:
            with zstd.ZstdFile(f) as z:
                yield z
        else:
            with _ZstdTool(f) as z:
                yield z if z.proc is not None else None
    else:
        yield f


class _ZstdTool(object):
    """`zstd -dc` as a stream; at its end, a failed decompression is a ValueError."""

    def __init__(self, f):
        import subprocess  # only here: every command imports this module
        try:
            with open(os.devnull, "wb") as null:
                self.proc = subprocess.Popen(["zstd", "-dcq"], stdin=f,
                                             stdout=subprocess.PIPE, stderr=null)
        except OSError:
            self.proc = None

    def read(self, n):
        data = self.proc.stdout.read(n)
        if len(data) < n and self.proc.wait() != 0:
            raise ValueError("zstd cannot decompress it")
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            if self.proc.poll() is None:  # the reader stopped early
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.wait()
